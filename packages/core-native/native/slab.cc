// Slabs of small secrets: see slab.h for the layout, the per-page protection count and the
// dead pages a moved view leaves. Every syscall's result is checked: raising a page's
// protection may fail (an error for the caller, nothing changed); lowering it or wiping a
// slot may not (the address space is corrupt, or a secret would stay exposed): abort.
#include "slab.h"

#include <errno.h>
#include <sodium.h>
#include <sys/mman.h>

#include <cstring>
#include <mutex>
#include <new>
#include <vector>

namespace strongroom {

namespace {

struct PageState {
  uint32_t readers = 0;  // slots on this page open read-only
  uint32_t writers = 0;  // slots on this page open read-write
  bool dead = false;     // a moved view points into this page (slab.h)
  Protection actual = Protection::kNoAccess;
};

Protection Wanted(const PageState& page) {
  if (page.dead || page.writers > 0) return Protection::kReadWrite;
  return page.readers > 0 ? Protection::kReadOnly : Protection::kNoAccess;
}

void CountScope(PageState& page, Protection protection, int sign) {
  if (protection == Protection::kReadOnly) page.readers += sign;
  if (protection == Protection::kReadWrite) page.writers += sign;
}

size_t ClassIndex(size_t size) {
  size_t k = 0;
  while (kSlabClasses[k] < size) k++;
  return k;
}

}  // namespace

class Slab {
 public:
  Pages pages;
  Backend backend = Backend::kMmap;  // the pages' backend (mmap when a secretmem slab fell back)
  Backend asked = Backend::kMmap;    // the backend it was made for: FindSlab and the reserve match on it
  bool locked = false;
  size_t klass = 0;    // index into kSlabClasses
  size_t stride = 0;   // kSlabClasses[klass] + kCanarySize
  uint32_t slots = 0;
  PageState page[kSlabDataPages];
  std::unique_ptr<uint32_t[]> free_list;  // free slot indices; the last is handed out next
  uint32_t free_count = 0;
  std::unique_ptr<GuardedMemory*[]> owner;  // the region holding each slot, or null
  // The size of an orphaned slot's moved view (0 for any other slot): its bytes may be
  // written through that view; the bytes before them stay zeros.
  std::unique_ptr<uint16_t[]> orphan_size;
  uint32_t live = 0;        // slots holding a secret
  uint32_t orphans = 0;     // wiped slots a moved view still points into
  uint32_t dead_slots = 0;  // slots on dead pages that will never be handed out again
  bool reserved = false;    // empty and kept: counted as a spare, not as locked bytes
  bool has_dead = false;

  uint8_t* Start(uint32_t i) const { return pages.inner + pages.inner_len - (static_cast<size_t>(i) + 1) * stride; }
  size_t PageOf(const uint8_t* p) const { return static_cast<size_t>(p - pages.inner) / PageSize(); }
  size_t FirstPage(uint32_t i) const { return PageOf(Start(i)); }
  size_t LastPage(uint32_t i) const { return PageOf(Start(i) + stride - 1); }
  bool OnDeadPage(uint32_t i) const { return page[FirstPage(i)].dead || page[LastPage(i)].dead; }
  bool Busy() const { return live + orphans > 0; }
};

namespace {

// One lock for every slab. Recursive: moving a slot off a dead page (under the lock) may
// need a new slab, whose mapping may give back empty slabs under memlock pressure.
std::recursive_mutex g_slab_mutex;
std::vector<Slab*>* g_slabs = new std::vector<Slab*>[kSlabClassCount];  // never freed: used until exit

// Counts a slab's data pages as locked (busy) or as a spare (empty, in reserve).
void Account(const Slab& slab, bool spare, int64_t sign) {
  MemoryCounters& c = Counters();
  const int64_t bytes = sign * static_cast<int64_t>(slab.pages.inner_len);
  if (spare) {
    c.spare_regions.fetch_add(sign);
    c.spare_bytes.fetch_add(bytes);
  } else {
    (slab.locked ? c.bytes_locked : c.bytes_unlocked).fetch_add(bytes);
  }
}

// Moves slot i's scope from `from` to `to` on its pages, and re-protects the pages whose
// protection that changes. Returns 0, or the errno of an mprotect that failed; then nothing
// has changed, unless `settle`: a slot that was wiped or moved away settles its count even
// so, and a page whose protection could not be lowered stays as open as it was (it holds
// other slots' secrets, so this is the one exposure left at a resource limit) until the next
// change on it succeeds.
int Recount(Slab& slab, uint32_t i, Protection from, Protection to, bool settle = false) {
  const size_t first = slab.FirstPage(i), last = slab.LastPage(i);
  for (size_t p = first; p <= last; p++) {
    CountScope(slab.page[p], from, -1);
    CountScope(slab.page[p], to, +1);
  }
  const size_t page_size = PageSize();
  int err = 0;
  for (size_t p = first; p <= last; p++) {
    PageState& page = slab.page[p];
    const Protection wanted = Wanted(page);
    if (wanted == page.actual) continue;
    if (mprotect(slab.pages.inner + p * page_size, page_size, ProtFlags(wanted)) == 0) {
      page.actual = wanted;
      continue;
    }
    err = errno;
    if (settle) continue;
    // Undo: the counts, and the pages already re-protected.
    for (size_t q = first; q <= last; q++) {
      CountScope(slab.page[q], to, -1);
      CountScope(slab.page[q], from, +1);
    }
    for (size_t q = first; q < p; q++) {
      PageState& done = slab.page[q];
      const Protection back = Wanted(done);
      if (back != done.actual && mprotect(slab.pages.inner + q * page_size, page_size, ProtFlags(back)) == 0) {
        done.actual = back;
      }
    }
    return err;
  }
  return err;
}

bool AllZero(const uint8_t* p, size_t n) {
  uint8_t any = 0;
  for (size_t k = 0; k < n; k++) any |= p[k];
  return any == 0;
}

bool Readable(const Slab& slab, const uint8_t* from, size_t n) {
  for (size_t p = slab.PageOf(from); p <= slab.PageOf(from + n - 1); p++) {
    if (slab.page[p].actual == Protection::kNoAccess) return false;
  }
  return true;
}

// Slot i's zeros and canary, for a slot holding `size` bytes; `size` 0 for a free slot
// (all zeros). Only the bytes that are readable now: a header on a noaccess page is checked
// when its own slot is freed.
void VerifyHeader(const Slab& slab, uint32_t i, size_t size, bool must_be_readable) {
  const uint8_t* start = slab.Start(i);
  const size_t zeros = size == 0 ? slab.stride : slab.stride - size - kCanarySize;
  const size_t header = size == 0 ? slab.stride : zeros + kCanarySize;
  if (!must_be_readable && !Readable(slab, start, header)) return;
  if (!AllZero(start, zeros)) {
    errno = 0;
    Die("the zeros before a slot's canary were written (a stray write, or an overflow from the slot below)");
  }
  if (size != 0 && sodium_memcmp(start + zeros, Canary(), kCanarySize) != 0) {
    errno = 0;
    Die("the canary of a slab slot was overwritten (an overflow from the slot below, or an underflow)");
  }
}

// The bytes of orphaned slot i before its moved view's (wiped when it was orphaned; the view
// itself may have been written since, as a moved view may be).
void VerifyOrphanZeros(const Slab& slab, uint32_t i) {
  const uint8_t* start = slab.Start(i);
  const size_t zeros = slab.stride - slab.orphan_size[i];
  if (Readable(slab, start, zeros) && !AllZero(start, zeros)) {
    errno = 0;
    Die("the zeros before a slot's canary were written (a stray write, or an overflow from the slot below)");
  }
}

// Before slot i (read-write now) is wiped: its own header, and the header of the slot its
// data ends against (slot i - 1), which a one-byte overflow would have hit.
void VerifySlot(const Slab& slab, uint32_t i, size_t size) {
  VerifyHeader(slab, i, size, true);
  if (i == 0) return;  // slot 0 ends against the guard page: an overflow faults there
  const GuardedMemory* next = slab.owner[i - 1];
  if (next == nullptr && slab.orphan_size[i - 1] != 0) return VerifyOrphanZeros(slab, i - 1);
  VerifyHeader(slab, i - 1, next != nullptr ? next->size() : 0, false);
}

// Slot i, holding `size` bytes at protection `current`, made read-write (its count moves
// there), verified (abort on a bad canary or written zeros) and wiped; the caller closes it.
// A slot that cannot be made writable to be wiped must not be handed back: abort.
void VerifyAndWipe(Slab& slab, uint32_t i, size_t size, Protection current) {
  if (current != Protection::kReadWrite && Recount(slab, i, current, Protection::kReadWrite) != 0) {
    Die("could not make a slab slot writable to wipe it");
  }
  VerifySlot(slab, i, size);
  sodium_memzero(slab.Start(i), slab.stride);
}

// A new, empty slab of class k: its data pages noaccess, every slot free and zero.
Slab* NewSlab(size_t k, Backend backend, MlockPolicy policy, Failure* failure) {
  const size_t page_size = PageSize();
  std::unique_ptr<Slab> slab(new (std::nothrow) Slab());
  if (slab) {
    slab->klass = k;
    slab->stride = kSlabClasses[k] + kCanarySize;
    slab->slots = static_cast<uint32_t>(kSlabDataPages * page_size / slab->stride);
    slab->free_list.reset(new (std::nothrow) uint32_t[slab->slots]);
    slab->owner.reset(new (std::nothrow) GuardedMemory*[slab->slots]());
    slab->orphan_size.reset(new (std::nothrow) uint16_t[slab->slots]());
  }
  if (!slab || !slab->free_list || !slab->owner || !slab->orphan_size) {
    Fail(failure, "ERR_NO_MEMORY", "out of memory for the bookkeeping of a slab");
    return nullptr;
  }
  Backend used = backend;
  if (!MapGuardedSpan(kSlabDataPages * page_size, kSlabMappings, &used, policy, &slab->pages, &slab->locked, failure)) {
    return nullptr;
  }
  slab->backend = used;
  slab->asked = backend;
  // Every data page its own kernel mapping (VMA) for good: odd pages are MADV_RANDOM, so the
  // kernel never merges neighbours, and changing one page's protection never splits or
  // merges a mapping (which costs several times the mprotect itself).
  bool apart = true;
  for (size_t p = 1; p < kSlabDataPages && apart; p += 2) {
    apart = madvise(slab->pages.inner + p * page_size, page_size, MADV_RANDOM) == 0;
  }
  // Nothing is open on a new slab: its data pages start noaccess.
  if (!apart || mprotect(slab->pages.inner, slab->pages.inner_len, PROT_NONE) != 0) {
    const int err = errno;
    UnmapGuardedSpan(slab->pages, slab->backend, slab->locked);  // before the message, which allocates
    Fail(failure, "ERR_NO_MEMORY", std::string("could not prepare the pages of a new slab: ") + strerror(err));
    return nullptr;
  }
  // Slot 0 (flush against the trailing guard) is handed out first.
  for (uint32_t i = 0; i < slab->slots; i++) slab->free_list[i] = slab->slots - 1 - i;
  slab->free_count = slab->slots;
  return slab.release();
}

Slab* FindSlab(size_t k, Backend backend, MlockPolicy policy) {
  std::vector<Slab*>& slabs = g_slabs[k];
  for (auto it = slabs.rbegin(); it != slabs.rend(); ++it) {
    Slab* slab = *it;
    if (slab->free_count > 0 && slab->asked == backend && (slab->locked || policy == MlockPolicy::kBestEffort)) {
      return slab;
    }
  }
  return nullptr;
}

// Takes a free slot of `slab` for `size` bytes, read-write, canary written. False with
// *failure set (nothing changed) if its pages cannot be made writable.
bool TakeFrom(Slab& slab, size_t size, uint32_t* slot, Failure* failure) {
  const uint32_t i = slab.free_list[slab.free_count - 1];
  if (int err = Recount(slab, i, Protection::kNoAccess, Protection::kReadWrite)) {
    return Fail(failure, "ERR_NO_MEMORY", std::string("could not open a slab page: ") + strerror(err));
  }
  slab.free_count--;
  memcpy(slab.Start(i) + slab.stride - size - kCanarySize, Canary(), kCanarySize);
  if (!slab.Busy()) {
    if (slab.reserved) Account(slab, true, -1);
    slab.reserved = false;
    Account(slab, false, +1);
  }
  slab.live++;
  *slot = i;
  return true;
}

void Unlist(Slab* slab) {
  std::vector<Slab*>& slabs = g_slabs[slab->klass];
  for (auto it = slabs.begin(); it != slabs.end(); ++it) {
    if (*it == slab) {
      slabs.erase(it);
      return;
    }
  }
}

// Empty slabs kept for the same class, backend and lock state as `like` (FindSlab hands out
// only those): a reserve of one kind never stands in for another.
size_t Reserved(const Slab& like) {
  size_t n = 0;
  for (const Slab* slab : g_slabs[like.klass]) {
    n += slab->reserved && slab->asked == like.asked && slab->locked == like.locked ? 1 : 0;
  }
  return n;
}

// After a slot left `slab`: an empty slab is kept in reserve or unmapped (returned, for the
// caller to unmap outside the lock; null when nothing is to be unmapped).
Slab* Retire(Slab& slab) {
  if (slab.Busy()) return nullptr;
  Account(slab, false, -1);
  if (!slab.has_dead && Reserved(slab) < kSlabReserve) {
    slab.reserved = true;
    Account(slab, true, +1);
    return nullptr;
  }
  Unlist(&slab);
  return &slab;
}

void Unmap(Slab* slab) {
  if (slab == nullptr) return;
  UnmapGuardedSpan(slab->pages, slab->backend, slab->locked);
  delete slab;
}

// Slot i of `slab`, holding `size` bytes at protection `current`, verified, wiped, closed and
// given back (to the free list, or counted dead on a dead page). Returns the slab when it is
// to be unmapped now (Retire), else null.
Slab* ReturnSlot(Slab& slab, uint32_t i, size_t size, Protection current) {
  VerifyAndWipe(slab, i, size, current);
  Recount(slab, i, Protection::kReadWrite, Protection::kNoAccess, true);
  slab.owner[i] = nullptr;
  slab.live--;
  if (slab.OnDeadPage(i)) slab.dead_slots++;
  else slab.free_list[slab.free_count++] = i;
  return Retire(slab);
}

// Lists a new slab under its class; false (the slab unmapped) when the list cannot grow.
bool List(Slab* slab) {
  try {
    g_slabs[slab->klass].push_back(slab);
    return true;
  } catch (const std::bad_alloc&) {
    Unmap(slab);
    return false;
  }
}

}  // namespace

void SlabHeap::Bind(GuardedMemory& memory, Slab& slab, uint32_t i, size_t size, MlockPolicy policy) {
  slab.owner[i] = &memory;
  memory.slab_ = &slab;
  memory.slot_ = i;
  memory.data_ = slab.Start(i) + slab.stride - size;
  memory.size_ = size;
  memory.backend_ = slab.backend;
  memory.policy_ = policy;
  memory.locked_ = slab.locked;
  memory.protection_ = Protection::kReadWrite;
  memory.Count(+1);
}

std::shared_ptr<GuardedMemory> SlabHeap::Take(size_t size, Backend backend, MlockPolicy policy, Failure* failure) {
  std::shared_ptr<GuardedMemory> memory;
  try {
    memory.reset(new GuardedMemory());
  } catch (const std::bad_alloc&) {
    Fail(failure, "ERR_NO_MEMORY", "out of memory for a region's bookkeeping");
    return nullptr;
  }
  const size_t k = ClassIndex(size);
  {
    std::lock_guard<std::recursive_mutex> lock(g_slab_mutex);
    if (Slab* slab = FindSlab(k, backend, policy)) {
      uint32_t i = 0;
      if (!TakeFrom(*slab, size, &i, failure)) return nullptr;
      Bind(*memory, *slab, i, size, policy);
      return memory;
    }
  }
  // No free slot: a new slab, mapped outside the lock.
  Slab* slab = NewSlab(k, backend, policy, failure);
  if (slab == nullptr) return nullptr;
  std::lock_guard<std::recursive_mutex> lock(g_slab_mutex);
  if (!List(slab)) {
    Fail(failure, "ERR_NO_MEMORY", "out of memory for the list of slabs");
    return nullptr;
  }
  uint32_t i = 0;
  if (!TakeFrom(*slab, size, &i, failure)) {
    Unlist(slab);
    Unmap(slab);
    return nullptr;
  }
  Bind(*memory, *slab, i, size, policy);
  return memory;
}

// Moves a live, noaccess slot off a dead page (under the lock): to a fresh slot, or, when
// none can be had (a new slab refused at the memlock limit or the mapping budget), to pages
// of its own, as { isolated: true } would have placed it. False only when neither can be
// had (no memory left even for that): the secret then stays on the dead page, read-write,
// until its next scope closes and this is tried again (README, "Small secrets: slabs").
bool SlabHeap::Relocate(GuardedMemory& memory) {
  return RelocateToSlot(memory) || MoveToOwnPages(memory);
}

// Nothing here may throw: it runs inside ~AccessScope, and a std::bad_alloc (a message, a
// list that grows) is a slot that could not be had.
bool SlabHeap::RelocateToSlot(GuardedMemory& memory) {
  Slab& old = *memory.slab_;
  const uint32_t i = memory.slot_;
  const size_t size = memory.size_;
  Slab* slab = nullptr;
  bool made = false;
  uint32_t j = 0;
  try {
    Failure failure;
    slab = FindSlab(old.klass, old.asked, memory.policy_);
    if (slab == nullptr) {
      slab = NewSlab(old.klass, old.asked, memory.policy_, &failure);
      if (slab == nullptr || !List(slab)) return false;
      made = true;
    }
    if (!TakeFrom(*slab, size, &j, &failure)) {
      if (made) {
        Unlist(slab);
        Unmap(slab);
      }
      return false;
    }
  } catch (const std::bad_alloc&) {
    return false;  // a new slab stays listed, empty: FindSlab hands it out next time
  }
  // Only one page of a slot that spans two may be dead: the other is noaccess. Open both to
  // copy the secret out and wipe it.
  if (Recount(old, i, Protection::kNoAccess, Protection::kReadWrite) != 0) {
    Unmap(ReturnSlot(*slab, j, size, Protection::kReadWrite));
    return false;
  }
  memcpy(slab->Start(j) + slab->stride - size, memory.data_, size);
  Recount(*slab, j, Protection::kReadWrite, Protection::kNoAccess, true);
  VerifyAndWipe(old, i, size, Protection::kReadWrite);
  Recount(old, i, Protection::kReadWrite, Protection::kNoAccess, true);
  old.owner[i] = nullptr;
  old.live--;
  old.dead_slots++;
  memory.Count(-1);
  Bind(memory, *slab, j, size, memory.policy_);
  memory.protection_ = Protection::kNoAccess;
  Unmap(Retire(old));
  return true;
}

bool SlabHeap::MoveToOwnPages(GuardedMemory& memory) {
  Slab& old = *memory.slab_;
  const uint32_t i = memory.slot_;
  const size_t size = memory.size_;
  std::shared_ptr<GuardedMemory> fresh;
  try {
    Failure failure;
    fresh = GuardedMemory::Allocate(size, old.asked, memory.policy_, &failure, Placement::kIsolated);
  } catch (const std::bad_alloc&) {
    return false;
  }
  // (Allocate may have given back empty slabs under memlock pressure; `old` holds this
  // live slot, so it is not one of them.)
  if (!fresh || Recount(old, i, Protection::kNoAccess, Protection::kReadWrite) != 0) return false;
  memcpy(fresh->data_, memory.data_, size);
  VerifyAndWipe(old, i, size, Protection::kReadWrite);
  Recount(old, i, Protection::kReadWrite, Protection::kNoAccess, true);
  old.owner[i] = nullptr;
  old.live--;
  old.dead_slots++;
  memory.Count(-1);  // as a slot
  // The fresh region's pages, and its count, become this region's; `fresh` is left empty.
  memory.pages_ = fresh->pages_;
  memory.data_ = fresh->data_;
  memory.backend_ = fresh->backend_;
  memory.locked_ = fresh->locked_;
  memory.protection_ = fresh->protection_;
  memory.slab_ = nullptr;
  memory.slot_ = 0;
  fresh->data_ = nullptr;
  fresh->pages_ = Pages{};
  if (memory.Protect(Protection::kNoAccess) != 0) Die("could not close the pages a secret was moved to");
  Unmap(Retire(old));
  return true;
}

int SlabHeap::Protect(GuardedMemory& memory, Protection protection) {
  std::lock_guard<std::recursive_mutex> lock(g_slab_mutex);
  Slab& slab = *memory.slab_;
  if (int err = Recount(slab, memory.slot_, memory.protection_, protection)) return err;
  memory.protection_ = protection;
  // A slot left on a dead page by a moved view's neighbour leaves it as its scope closes.
  if (protection == Protection::kNoAccess && slab.OnDeadPage(memory.slot_)) Relocate(memory);
  return 0;
}

void SlabHeap::Release(GuardedMemory& memory) {
  Slab* unmap = nullptr;
  {
    std::lock_guard<std::recursive_mutex> lock(g_slab_mutex);
    Slab& slab = *memory.slab_;
    // The slot's bytes are gone, and its counters, before the slab may be retired.
    memory.Count(-1);
    unmap = ReturnSlot(slab, memory.slot_, memory.size_, memory.protection_);
    memory.data_ = nullptr;
    memory.slab_ = nullptr;
  }
  Unmap(unmap);
}

void SlabHeap::Orphan(GuardedMemory& memory) {
  std::lock_guard<std::recursive_mutex> lock(g_slab_mutex);
  Slab& slab = *memory.slab_;
  const uint32_t i = memory.slot_;
  VerifyAndWipe(slab, i, memory.size_, memory.protection_);
  // Its pages become dead: read-write for good (they are now), no free slot on them
  // handed out again.
  for (size_t p = slab.FirstPage(i); p <= slab.LastPage(i); p++) slab.page[p].dead = true;
  slab.has_dead = true;
  uint32_t kept = 0;
  for (uint32_t f = 0; f < slab.free_count; f++) {
    const uint32_t s = slab.free_list[f];
    if (slab.OnDeadPage(s)) slab.dead_slots++;
    else slab.free_list[kept++] = s;
  }
  slab.free_count = kept;
  Recount(slab, i, Protection::kReadWrite, Protection::kNoAccess, true);
  slab.owner[i] = nullptr;
  slab.orphan_size[i] = static_cast<uint16_t>(memory.size_);
  slab.live--;
  slab.orphans++;
  memory.Count(-1);
  Counters().orphaned_regions.fetch_add(1);
  memory.orphaned_ = true;
  memory.data_ = nullptr;
  // Every other live slot on those pages that is not open moves now; an open one moves
  // when its scope closes (Protect).
  for (uint32_t s = 0; s < slab.slots; s++) {
    GuardedMemory* neighbour = slab.owner[s];
    if (neighbour != nullptr && neighbour->protection_ == Protection::kNoAccess && slab.OnDeadPage(s)) {
      Relocate(*neighbour);
    }
  }
}

void SlabHeap::Forget(GuardedMemory& memory) {
  Slab* unmap = nullptr;
  {
    std::lock_guard<std::recursive_mutex> lock(g_slab_mutex);
    Slab& slab = *memory.slab_;
    // Whatever was written through the moved view goes too (the page is read-write).
    sodium_memzero(slab.Start(memory.slot_), slab.stride);
    slab.orphan_size[memory.slot_] = 0;
    slab.orphans--;
    slab.dead_slots++;
    Counters().orphaned_regions.fetch_sub(1);
    memory.slab_ = nullptr;
    unmap = Retire(slab);
  }
  Unmap(unmap);
}

SlabStats SlabHeap::Stats() {
  SlabStats stats;
  std::lock_guard<std::recursive_mutex> lock(g_slab_mutex);
  for (size_t k = 0; k < kSlabClassCount; k++) {
    SlabClassStats& c = stats.classes[k];
    c.size = kSlabClasses[k];
    for (const Slab* slab : g_slabs[k]) {
      c.slabs++;
      c.slots += slab->slots;
      c.slots_in_use += slab->live;
      c.dead_slots += slab->dead_slots + slab->orphans;
      stats.bytes += slab->pages.inner_len;
      stats.empty_slabs += slab->reserved ? 1 : 0;
    }
    stats.slabs += c.slabs;
  }
  return stats;
}

size_t ReleaseEmptySlabs() {
  std::vector<Slab*> dropped;
  {
    std::lock_guard<std::recursive_mutex> lock(g_slab_mutex);
    for (size_t k = 0; k < kSlabClassCount; k++) {
      std::vector<Slab*>& slabs = g_slabs[k];
      for (auto it = slabs.begin(); it != slabs.end();) {
        if ((*it)->reserved) {
          dropped.push_back(*it);  // first: if it throws, nothing has moved
          Account(**it, true, -1);
          it = slabs.erase(it);
        } else {
          ++it;
        }
      }
    }
    // Unmapped under the lock: a slab in reserve must not be handed out while it goes.
    for (Slab* slab : dropped) Unmap(slab);
  }
  return dropped.size();
}

}  // namespace strongroom
