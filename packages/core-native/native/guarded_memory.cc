// Guarded memory: mapping, protection, locking and wiping of secret pages.
// See guarded_memory.h for the layout. Every syscall's result is checked: a failure
// while building a region unmaps what was built and reports why; a failure while
// tearing one down (which can only mean memory corruption) aborts.
#include "guarded_memory.h"
#include "mappings.h"
#include "random.h"
#include "slab.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#ifndef SYS_memfd_secret
#if defined(__x86_64__) || defined(__aarch64__) || defined(__riscv)
#define SYS_memfd_secret 447
#endif
#endif

#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif

namespace strongroom {
namespace {

uint8_t g_canary[kCanarySize];
std::atomic<bool> g_canary_ready{false};
std::mutex g_canary_mutex;

}  // namespace

// Draws the process-wide canary on the first allocation; false (with *failure set) when
// getrandom fails, and the next allocation tries again.
bool CanaryReady(Failure* failure) {
  if (g_canary_ready.load(std::memory_order_acquire)) return true;
  std::lock_guard<std::mutex> lock(g_canary_mutex);
  if (g_canary_ready.load(std::memory_order_relaxed)) return true;
  if (int err = SystemRandom(g_canary, sizeof g_canary)) {
    return Fail(failure, "ERR_SYSTEM", std::string("could not draw the canary: ") + strerror(err));
  }
  g_canary_ready.store(true, std::memory_order_release);
  return true;
}

// Only after CanaryReady() succeeded (every region exists after it did).
const uint8_t* Canary() { return g_canary; }

[[noreturn]] void Die(const char* reason) {
  // One line, no allocation, no secret byte.
  char line[256];
  int n = snprintf(line, sizeof line, "strongroom: %s (errno %d); aborting\n", reason, errno);
  if (n > 0) {
    ssize_t ignored = write(STDERR_FILENO, line, static_cast<size_t>(n) < sizeof line ? n : sizeof line - 1);
    (void)ignored;
  }
  abort();
}

int ProtFlags(Protection p) {
  switch (p) {
    case Protection::kNoAccess: return PROT_NONE;
    case Protection::kReadOnly: return PROT_READ;
    case Protection::kReadWrite: return PROT_READ | PROT_WRITE;
  }
  return PROT_NONE;
}

namespace {

size_t RoundUp(size_t n, size_t page) { return (n + page - 1) / page * page; }

std::string Describe(size_t bytes) { return std::to_string(bytes) + " bytes"; }

std::string LimitText(rlim_t value) {
  return value == RLIM_INFINITY ? std::string("unlimited") : Describe(static_cast<size_t>(value));
}

std::string MlockMessage(size_t bytes, int err) {
  struct rlimit lim {};
  std::string soft = "unknown", hard = "unknown";
  if (getrlimit(RLIMIT_MEMLOCK, &lim) == 0) {
    soft = LimitText(lim.rlim_cur);
    hard = LimitText(lim.rlim_max);
  }
  return "could not lock " + Describe(bytes) + " of secret memory into RAM (" + strerror(err) +
         "); RLIMIT_MEMLOCK is soft " + soft + ", hard " + hard + ", and strongroom already holds " +
         std::to_string(Counters().bytes_locked.load()) +
         " bytes locked. Raise the limit (`ulimit -l`, LimitMEMLOCK= in a systemd unit, "
         "`--ulimit memlock=-1` for docker run) or choose the 'best-effort' mlock policy, which "
         "continues with unlocked (swappable) pages";
}

// Maps memfd_secret pages over [inner, inner+len). Returns false with *failure set.
bool MapSecretmem(uint8_t* inner, size_t len, Failure* failure) {
#ifdef SYS_memfd_secret
  int fd = static_cast<int>(syscall(SYS_memfd_secret, O_CLOEXEC));
  if (fd < 0) {
    int err = errno;
    if (err == ENOSYS || err == EINVAL || err == EPERM) {
      return Fail(failure, "ERR_BACKEND_UNAVAILABLE",
                        "the 'secretmem' backend needs memfd_secret (Linux 5.14+, enabled with "
                        "secretmem.enable=1 on some kernels), and this kernel refused it; use "
                        "backend 'auto' or 'mmap'");
    }
    return Fail(failure, "ERR_SYSTEM", std::string("memfd_secret failed: ") + strerror(err));
  }
  // Which step failed and its errno; the descriptor is closed before any message is built
  // (building one allocates, and a std::bad_alloc must not leak the descriptor).
  enum class Step { kNone, kSize, kMap } failed = Step::kNone;
  int err = 0;
  if (ftruncate(fd, static_cast<off_t>(len)) != 0) {
    failed = Step::kSize;
    err = errno;
  } else if (mmap(inner, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
    failed = Step::kMap;
    err = errno;
  }
  // The mapping keeps the memory alive; the descriptor is not needed any more.
  const int closed = close(fd) == 0 || errno == EINTR ? 0 : errno;
  if (failed == Step::kSize) {
    return Fail(failure, "ERR_NO_MEMORY", std::string("could not size a memfd_secret region: ") + strerror(err));
  }
  if (failed == Step::kMap) {
    return err == EAGAIN ? Fail(failure, "ERR_MLOCK_LIMIT", MlockMessage(len, err))
                         : Fail(failure, "ERR_NO_MEMORY", std::string("could not map memfd_secret pages: ") + strerror(err));
  }
  if (closed != 0) return Fail(failure, "ERR_SYSTEM", std::string("close(memfd_secret) failed: ") + strerror(closed));
  return true;
#else
  (void)inner;
  (void)len;
  return Fail(failure, "ERR_BACKEND_UNAVAILABLE",
                    "the 'secretmem' backend is not built for this architecture; use 'auto' or 'mmap'");
#endif
}

// The span was mapped read-write (so the data pages are accounted like any private
// memory, the cheapest kind to re-protect); the guards become PROT_NONE here.
bool PrepareAnonymous(uint8_t* base, uint8_t* inner, size_t len, Failure* failure) {
  const size_t page = PageSize();
  if (mprotect(base, page, PROT_NONE) != 0 || mprotect(inner + len, page, PROT_NONE) != 0) {
    return Fail(failure, "ERR_NO_MEMORY", std::string("mprotect of a guard page failed: ") + strerror(errno));
  }
  // Children of fork() see zeros; kernels before 4.14 lack WIPEONFORK: leave it out of them.
  if (madvise(inner, len, MADV_WIPEONFORK) != 0 &&
      (errno != EINVAL || madvise(inner, len, MADV_DONTFORK) != 0)) {
    return Fail(failure, "ERR_SYSTEM", std::string("madvise(WIPEONFORK) failed: ") + strerror(errno));
  }
  return true;
}

// Spare regions: freed, wiped, PROT_NONE, still mapped with their guards, DONTDUMP,
// WIPEONFORK/DONTFORK and lock. Their pages hold only zeros.
struct Spare {
  Pages pages;
  Backend backend;
  bool locked;
};

std::mutex g_spares_mutex;
// Made on first use, not while the addon loads (a std::bad_alloc in a static initializer
// would end the process inside dlopen); never freed: used until exit.
std::vector<Spare>& Spares() {
  static std::vector<Spare>* spares = new std::vector<Spare>();
  return *spares;
}

void CountSpare(const Spare& spare, int64_t sign) {
  MemoryCounters& c = Counters();
  c.spare_regions.fetch_add(sign);
  c.spare_bytes.fetch_add(sign * static_cast<int64_t>(spare.pages.inner_len));
}

}  // namespace

// Gives a region's pages back: unlock (mmap pages that were locked), unmap. Only after a
// wipe, or before anything was written. A failure means a corrupt address space: abort.
void UnmapGuardedSpan(const Pages& pages, Backend backend, bool locked) {
  if (locked && backend == Backend::kMmap && munlock(pages.inner, pages.inner_len) != 0) {
    Die("munlock of a region failed");
  }
  if (munmap(pages.base, pages.total) != 0) Die("munmap of a region failed");
  ReturnMappings(pages.mappings);
}

namespace {

// The span of a region being built, until Adopt() owns it: unmapped, with its mappings
// given back to the budget, on every way out before that, including an exception (a
// std::bad_alloc while a failure message or the region object is built).
class PendingSpan {
 public:
  PendingSpan(uint8_t* base, size_t total, int64_t mappings) : base_(base), total_(total), mappings_(mappings) {}
  ~PendingSpan() { Drop(); }
  PendingSpan(const PendingSpan&) = delete;
  PendingSpan& operator=(const PendingSpan&) = delete;
  // Nothing secret was written yet: every page goes back, and leaves no trace.
  void Drop() {
    if (base_ == nullptr) return;
    if (munmap(base_, total_) != 0) Die("munmap of a half-built region failed");
    ReturnMappings(mappings_);
    base_ = nullptr;
  }
  void Adopted() { base_ = nullptr; }

 private:
  uint8_t* base_;
  size_t total_;
  int64_t mappings_;
};

}  // namespace

bool Fail(Failure* failure, const char* code, std::string message) {
  failure->code = code;
  failure->message = std::move(message);
  return false;
}

MemoryCounters& Counters() {
  static MemoryCounters counters;
  return counters;
}

size_t PageSize() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

size_t MaxSpareBytes() { return kMaxSpareData + PageSize(); }

// Probes once for good: maps one memfd_secret page and touches it (the first touch is
// where the kernel can refuse). A probe that only met a full RLIMIT_MEMLOCK (memfd_secret
// itself worked) answers yes without remembering it, so that a full limit at the first
// allocation never downgrades the process's default backend for good; the next call probes
// again.
namespace {
std::atomic<int> g_secretmem_known{-1};  // -1 not known yet, else 0 or 1
}  // namespace

bool SecretmemAnswerKnown() { return g_secretmem_known.load(std::memory_order_acquire) >= 0; }

bool SecretmemAvailable() {
  std::atomic<int>& known = g_secretmem_known;
  int answer = known.load(std::memory_order_acquire);
  if (answer >= 0) return answer == 1;
  Failure failure;
  size_t page = PageSize();
  void* probe = mmap(nullptr, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (probe == MAP_FAILED) return false;  // no address space now: no answer to keep
  bool ok = false;
  try {
    ok = MapSecretmem(static_cast<uint8_t*>(probe), page, &failure);
  } catch (...) {  // std::bad_alloc in a message: the probe page goes first
    if (munmap(probe, page) != 0) Die("munmap of the memfd_secret probe failed");
    throw;
  }
  if (ok) static_cast<volatile uint8_t*>(probe)[0] = 1;
  if (munmap(probe, page) != 0) Die("munmap of the memfd_secret probe failed");
  if (!ok && std::strcmp(failure.code, "ERR_MLOCK_LIMIT") == 0) return true;
  if (!ok && std::strcmp(failure.code, "ERR_BACKEND_UNAVAILABLE") != 0) return false;  // transient: probe again
  known.store(ok ? 1 : 0, std::memory_order_release);
  return ok;
}

std::shared_ptr<GuardedMemory> GuardedMemory::Allocate(size_t size, Backend backend, MlockPolicy policy,
                                                       Failure* failure, Placement placement) {
  if (size == 0 || size > kMaxRegionSize) {
    Fail(failure, "ERR_INVALID_ARG", "region size out of range");
    return nullptr;
  }
  if (!CanaryReady(failure)) return nullptr;
  if (placement == Placement::kShared && size <= kLargestSlabClass) {
    auto slot = SlabHeap::Take(size, backend, policy, failure);
    // A slab locks kSlabDataPages pages at once: under a RLIMIT_MEMLOCK too small for one
    // more, a secret that fits in a page of its own gets one.
    if (slot || std::strcmp(failure->code, "ERR_MLOCK_LIMIT") != 0) return slot;
  }
  const size_t inner_len = RoundUp(size + kCanarySize, PageSize());
  if (inner_len <= MaxSpareBytes()) {
    if (auto spare = FromSpare(size, inner_len, backend, policy)) return spare;
  }
  return Build(size, backend, policy, failure);
}

namespace {

// One attempt at MapGuardedSpan's layout.
bool MapSpanOnce(size_t inner_len, int64_t mappings, Backend backend, MlockPolicy policy, Pages* pages,
                 bool* locked, Failure* failure) {
  const size_t page = PageSize();
  const size_t total = inner_len + 2 * page;

  // The mapping budget (mappings.h) first: ERR_MAPPING_LIMIT while V8 and libc still have room.
  if (!ReserveMappings(mappings, failure)) return false;
  // secretmem: reserve the span inaccessible, then map the secret pages over its middle.
  const bool anonymous = backend == Backend::kMmap;
  void* mapped = mmap(nullptr, total, anonymous ? PROT_READ | PROT_WRITE : PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | (anonymous ? 0 : MAP_NORESERVE), -1, 0);
  if (mapped == MAP_FAILED) {
    int err = errno;
    ReturnMappings(mappings);
    return Fail(failure, "ERR_NO_MEMORY", "could not map " + Describe(total) + ": " + strerror(err));
  }
  uint8_t* base = static_cast<uint8_t*>(mapped);
  PendingSpan span(base, total, mappings);
  uint8_t* inner = base + page;

  bool ok = anonymous ? PrepareAnonymous(base, inner, inner_len, failure) : MapSecretmem(inner, inner_len, failure);
  if (ok && madvise(base, total, MADV_DONTDUMP) != 0) {
    ok = Fail(failure, "ERR_SYSTEM", std::string("madvise(DONTDUMP) failed: ") + strerror(errno));
  }
  if (ok && !anonymous && madvise(inner, inner_len, MADV_DONTFORK) != 0) {
    ok = Fail(failure, "ERR_SYSTEM", std::string("madvise(DONTFORK) failed: ") + strerror(errno));
  }
  // memfd_secret pages are unevictable already (mlock on them fails with ENOMEM).
  *locked = !anonymous;
  if (ok && anonymous) {
    if (mlock(inner, inner_len) == 0) {
      *locked = true;
    } else if (policy == MlockPolicy::kRequire) {
      ok = Fail(failure, "ERR_MLOCK_LIMIT", MlockMessage(inner_len, errno));
    } else {
      Counters().mlock_failures.fetch_add(1);
    }
  }
  if (!ok) {
    span.Drop();
    return false;
  }
  *pages = Pages{base, total, inner, inner_len, mappings};
  span.Adopted();
  return true;
}

}  // namespace

bool MapGuardedSpan(size_t inner_len, int64_t mappings, Backend* backend, MlockPolicy policy, Pages* pages,
                    bool* locked, Failure* failure) {
  if (MapSpanOnce(inner_len, mappings, *backend, policy, pages, locked, failure)) return true;
  if (std::strcmp(failure->code, "ERR_MLOCK_LIMIT") != 0) return false;
  // Spare regions and empty slabs hold locked pages of RLIMIT_MEMLOCK: give them back, try once more.
  if (ReleaseSpareRegions() > 0 && MapSpanOnce(inner_len, mappings, *backend, policy, pages, locked, failure)) return true;
  // secretmem pages are always locked, so under 'best-effort' a full RLIMIT_MEMLOCK falls
  // back to unlocked mmap pages (the region and stats() say so) instead of failing.
  if (*backend == Backend::kSecretmem && policy == MlockPolicy::kBestEffort &&
      std::strcmp(failure->code, "ERR_MLOCK_LIMIT") == 0) {
    *backend = Backend::kMmap;
    return MapSpanOnce(inner_len, mappings, *backend, policy, pages, locked, failure);
  }
  return false;
}

// A new dedicated mapping.
std::shared_ptr<GuardedMemory> GuardedMemory::Build(size_t size, Backend backend, MlockPolicy policy,
                                                    Failure* failure) {
  const size_t inner_len = RoundUp(size + kCanarySize, PageSize());
  Pages pages;
  bool locked = false;
  if (!MapGuardedSpan(inner_len, kRegionMappings, &backend, policy, &pages, &locked, failure)) return nullptr;
  try {
    return Adopt(pages, size, backend, policy, locked);
  } catch (...) {
    UnmapGuardedSpan(pages, backend, locked);  // nothing written yet (std::bad_alloc)
    throw;
  }
}

std::shared_ptr<GuardedMemory> GuardedMemory::Adopt(const Pages& pages, size_t size, Backend backend,
                                                    MlockPolicy policy, bool locked) {
  std::shared_ptr<GuardedMemory> memory(new GuardedMemory());
  memory->pages_ = pages;
  memory->size_ = size;
  memory->data_ = pages.inner + pages.inner_len - size;  // flush against the trailing guard
  memory->backend_ = backend;
  memory->policy_ = policy;
  memory->locked_ = locked;
  memcpy(memory->data_ - kCanarySize, Canary(), kCanarySize);
  memory->Count(+1);
  return memory;
}

void GuardedMemory::Count(int64_t sign) const {
  MemoryCounters& c = Counters();
  c.regions.fetch_add(sign);
  (backend_ == Backend::kSecretmem ? c.secretmem_regions : c.mmap_regions).fetch_add(sign);
  (locked_ ? c.bytes_locked : c.bytes_unlocked).fetch_add(sign * static_cast<int64_t>(pages_.inner_len));
}

GuardedMemory::~GuardedMemory() {
  if (orphaned_ && shared()) {
    SlabHeap::Forget(*this);  // the slot was wiped when orphaned; it may now be reclaimed
    return;
  }
  if (orphaned_) {
    // The last share (a moved ArrayBuffer's) is gone: wipe whatever was written through
    // it, and give the pages back (never to the spares: nothing of this region is reused).
    sodium_memzero(pages_.inner, pages_.inner_len);
    UnmapGuardedSpan(pages_, backend_, locked_);
    Counters().orphaned_regions.fetch_sub(1);
    return;
  }
  Release();
}

int GuardedMemory::Protect(Protection protection) {
  if (released()) return EFAULT;
  if (protection == protection_) return 0;
  if (shared()) return SlabHeap::Protect(*this, protection);
  if (mprotect(pages_.inner, pages_.inner_len, ProtFlags(protection)) != 0) return errno;
  protection_ = protection;
  return 0;
}

// The canary catches a contiguous underflow; the slack below it (zero since the pages
// were mapped or wiped) catches a stray write that skipped the canary (a bad negative
// index rather than a running copy). Both are checked before the wipe.
void GuardedMemory::VerifyCanaryOrAbort() const {
  if (sodium_memcmp(data_ - kCanarySize, Canary(), kCanarySize) != 0) {
    errno = 0;
    Die("canary before a region was overwritten (buffer underflow into guarded memory)");
  }
  // The slack holds no secret, so a plain (fast) OR over it will do.
  const uint8_t* slack = pages_.inner;
  const size_t slack_len = static_cast<size_t>(data_ - kCanarySize - pages_.inner);
  uint8_t any = 0;
  for (size_t i = 0; i < slack_len; i++) any |= slack[i];
  if (any != 0) {
    errno = 0;
    Die("the slack below a region's canary was written (a stray write below the data)");
  }
}

void GuardedMemory::VerifyAndWipe() {
  // The data pages are their own mapping, so this cannot split a VMA: failure means
  // the address space is corrupt, and an unwiped secret must not be handed back.
  if (protection_ != Protection::kReadWrite && mprotect(pages_.inner, pages_.inner_len, PROT_READ | PROT_WRITE) != 0) {
    Die("could not make a region writable to wipe it");
  }
  protection_ = Protection::kReadWrite;
  VerifyCanaryOrAbort();
  sodium_memzero(pages_.inner, pages_.inner_len);
}

void GuardedMemory::Orphan() {
  if (released()) return;
  if (shared()) return SlabHeap::Orphan(*this);
  VerifyAndWipe();  // leaves the pages read-write: a moved view reads zeros, never faults
  Count(-1);
  Counters().orphaned_regions.fetch_add(1);
  orphaned_ = true;
  data_ = nullptr;
}

// The inverse of Adopt(): verify, wipe, then keep as a spare or give the pages back.
void GuardedMemory::Release() {
  if (released()) return;
  if (shared()) return SlabHeap::Release(*this);
  VerifyAndWipe();
  if (!KeepAsSpare()) UnmapGuardedSpan(pages_, backend_, locked_);
  Count(-1);
  data_ = nullptr;
  pages_ = Pages{};
}

std::shared_ptr<GuardedMemory> GuardedMemory::FromSpare(size_t size, size_t inner_len, Backend backend,
                                                       MlockPolicy policy) {
  Spare spare{};
  {
    std::lock_guard<std::mutex> lock(g_spares_mutex);
    auto& spares = Spares();
    auto found = std::find_if(spares.rbegin(), spares.rend(), [&](const Spare& s) {
      return s.pages.inner_len == inner_len && s.backend == backend && (s.locked || policy == MlockPolicy::kBestEffort);
    });
    if (found == spares.rend()) return nullptr;
    spare = *found;
    spares.erase(std::next(found).base());
  }
  CountSpare(spare, -1);
  if (mprotect(spare.pages.inner, spare.pages.inner_len, PROT_READ | PROT_WRITE) != 0) {
    UnmapGuardedSpan(spare.pages, spare.backend, spare.locked);
    return nullptr;
  }
  try {
    return Adopt(spare.pages, size, backend, policy, spare.locked);
  } catch (...) {
    UnmapGuardedSpan(spare.pages, spare.backend, spare.locked);  // zeros: nothing to keep (std::bad_alloc)
    throw;
  }
}

// Called by Release() after the wipe.
bool GuardedMemory::KeepAsSpare() {
  if (pages_.inner_len > MaxSpareBytes()) return false;
  std::lock_guard<std::mutex> lock(g_spares_mutex);
  // Release() runs in destructors and finalizers, where an exception ends the process: the
  // list's room is taken once, and without it the region is simply not kept.
  try {
    Spares().reserve(kMaxSpares);
  } catch (const std::bad_alloc&) {
    return false;
  }
  if (Spares().size() >= kMaxSpares ||
      static_cast<size_t>(Counters().spare_bytes.load()) + pages_.inner_len > kMaxSpareTotal) {
    return false;
  }
  if (mprotect(pages_.inner, pages_.inner_len, PROT_NONE) != 0) return false;
  Spare spare{pages_, backend_, locked_};
  Spares().push_back(spare);
  CountSpare(spare, +1);
  return true;
}

size_t ReleaseSpareRegions() {
  const size_t slabs = ReleaseEmptySlabs();
  std::vector<Spare> dropped;
  {
    std::lock_guard<std::mutex> lock(g_spares_mutex);
    dropped.swap(Spares());
  }
  for (const Spare& spare : dropped) {
    CountSpare(spare, -1);
    UnmapGuardedSpan(spare.pages, spare.backend, spare.locked);
  }
  return dropped.size() + slabs;
}

AccessScope::AccessScope(GuardedMemory& memory, Protection needed)
    : memory_(memory), previous_(memory.protection()) {
  if (static_cast<int>(previous_) < static_cast<int>(needed)) error_ = memory_.Protect(needed);
}

AccessScope::~AccessScope() {
  if (error_ == 0 && memory_.protection() != previous_ && memory_.Protect(previous_) != 0) {
    Die("could not restore a region's protection");
  }
}

}  // namespace strongroom
