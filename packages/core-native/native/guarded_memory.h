// Guarded memory: the only code that maps, protects, locks and unmaps secret pages.
//
// Layout of one region (P = page size, n = data pages):
//
//   base            base+P                                   base+P+n*P        base+(n+2)*P
//   | guard (NONE) |  slack ... | canary(16) | data(size) | guard (NONE) |
//                                                         ^ data ends flush against the guard
//
// n = ceil((size + kCanarySize) / P), so an exact page multiple gets the extra page the
// canary needs. A freed region whose data pages hold at most 1 MiB of data
// (MaxSpareBytes() = 1 MiB + one page for the canary) is wiped, made PROT_NONE and kept
// mapped (and locked) for the next allocation of its shape, which then costs one
// mprotect instead of mmap, madvise and mlock. A one-byte overflow faults on the
// trailing guard at once; a short underflow corrupts the canary, which Release()
// verifies and aborts on.
// No N-API in here: the JS binding (region.cc) owns a shared_ptr to this object.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace strongroom {

enum class Backend : int { kMmap = 0, kSecretmem = 1 };
enum class Protection : int { kNoAccess = 0, kReadOnly = 1, kReadWrite = 2 };
enum class MlockPolicy : int { kRequire = 0, kBestEffort = 1 };
// Where a region's bytes live: a dedicated mapping of its own (kIsolated), or a slot of a
// shared slab when it is small enough (kShared; see slab.h).
enum class Placement : int { kIsolated = 0, kShared = 1 };

constexpr size_t kCanarySize = 16;
// 1 GiB: far above any secret, below every runtime's ArrayBuffer limit.
constexpr size_t kMaxRegionSize = size_t{1} << 30;
// Spare regions: those of up to 1 MiB of data (MaxSpareBytes(): data pages of 1 MiB plus
// one page for the canary, whatever the page size), at most 64 of them and 8 MiB of data
// pages in the process.
constexpr size_t kMaxSpareData = size_t{1} << 20;
constexpr size_t kMaxSpares = 64;
constexpr size_t kMaxSpareTotal = size_t{8} << 20;

// Why an operation without N-API access failed (an allocation, a read into a region); the
// binding turns it into a StrongroomError. Fail() fills it and returns false, so a step
// can `return Fail(failure, code, message);`.
struct Failure {
  const char* code = nullptr;  // ERR_NO_MEMORY, ERR_MLOCK_LIMIT, ERR_MAPPING_LIMIT, ERR_BACKEND_UNAVAILABLE, ERR_SYSTEM, ...
  std::string message;
};
bool Fail(Failure* failure, const char* code, std::string message);

// The pages of one region: the whole mapping (guards included) and its data pages.
struct Pages {
  uint8_t* base = nullptr;   // start of the leading guard page
  size_t total = 0;          // whole mapping, guards included
  uint8_t* inner = nullptr;  // first data page
  size_t inner_len = 0;      // data pages only
  int64_t mappings = 0;      // what was taken from the mapping budget for it (mappings.h)
};

class Slab;

class GuardedMemory {
 public:
  // Returns nullptr and fills *failure when the region cannot be built (ERR_MAPPING_LIMIT
  // when the mapping budget of mappings.h says no); in that case nothing is left mapped and
  // no counter has moved. kShared puts a region of at most kLargestSlabClass bytes in a slab
  // slot (slab.h); larger ones are always isolated. Every caller inside the addon keeps the
  // isolated default: only regions JS asks for (regionNew) share slabs.
  static std::shared_ptr<GuardedMemory> Allocate(size_t size, Backend backend, MlockPolicy policy,
                                                 Failure* failure, Placement placement = Placement::kIsolated);
  ~GuardedMemory();
  GuardedMemory(const GuardedMemory&) = delete;
  GuardedMemory& operator=(const GuardedMemory&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  Backend backend() const { return backend_; }
  Protection protection() const { return protection_; }
  bool locked() const { return locked_; }
  bool released() const { return data_ == nullptr; }

  // mprotect of the data pages; returns 0 or an errno.
  int Protect(Protection protection);
  // Verifies the canary (abort with one line on stderr on mismatch), wipes, unlocks
  // and unmaps. Idempotent.
  void Release();
  // For a region whose memory an ArrayBuffer that strongroom no longer controls may still
  // reference (a view moved out of its scope by transfer(), a byte stream or a BYOB read):
  // verifies the canary and wipes like Release(), then leaves the pages mapped read-write
  // (the moved view reads zeros, and a write through it lands in pages no secret will ever
  // use again). The pages are unmapped, never reused, when the last share of this object
  // (the moved ArrayBuffer's) goes. released() is true afterwards. Idempotent.
  void Orphan();
  bool orphaned() const { return orphaned_; }
  MlockPolicy policy() const { return policy_; }
  // Whether this region is a slot of a shared slab (its protection is counted per page).
  bool shared() const { return slab_ != nullptr; }

 private:
  friend class SlabHeap;
  GuardedMemory() = default;
  void VerifyCanaryOrAbort() const;
  static std::shared_ptr<GuardedMemory> Build(size_t size, Backend backend, MlockPolicy policy,
                                              Failure* failure);
  // Takes a spare region of this shape, made read-write; nullptr when there is none.
  static std::shared_ptr<GuardedMemory> FromSpare(size_t size, size_t inner_len, Backend backend,
                                                  MlockPolicy policy);
  // The one constructor: a region over pages that are mapped, guarded and (if `locked`)
  // locked, fresh or from the spares. Fills every field, writes the canary and counts the
  // region; Release() is its inverse.
  static std::shared_ptr<GuardedMemory> Adopt(const Pages& pages, size_t size, Backend backend,
                                              MlockPolicy policy, bool locked);
  // Wipes the data pages after verifying the canary (the first steps of Release and Orphan).
  void VerifyAndWipe();
  // Moves this region's counters by `sign` (+1 when adopted, -1 when released).
  void Count(int64_t sign) const;
  // Keeps this (wiped) region as a spare; false when it cannot be kept.
  bool KeepAsSpare();

  Pages pages_;
  uint8_t* data_ = nullptr;    // first secret byte (null once released)
  size_t size_ = 0;
  Backend backend_ = Backend::kMmap;
  MlockPolicy policy_ = MlockPolicy::kRequire;
  Protection protection_ = Protection::kReadWrite;
  bool locked_ = false;
  bool orphaned_ = false;
  // A slot of a shared slab (slab.h): the slab and the slot's index; pages_ is then empty.
  Slab* slab_ = nullptr;
  uint32_t slot_ = 0;
};

// Raises a region's protection for the length of one native call and restores it.
// Nested guards on the same region restore in reverse order.
class AccessScope {
 public:
  AccessScope(GuardedMemory& memory, Protection needed);
  ~AccessScope();
  int error() const { return error_; }

 private:
  GuardedMemory& memory_;
  Protection previous_;
  int error_ = 0;
};

// Process-wide counters, reported by stats() (all worker threads together).
struct MemoryCounters {
  std::atomic<int64_t> regions{0};
  std::atomic<int64_t> mmap_regions{0};
  std::atomic<int64_t> secretmem_regions{0};
  std::atomic<int64_t> bytes_locked{0};
  std::atomic<int64_t> bytes_unlocked{0};
  std::atomic<int64_t> mlock_failures{0};
  // Freed regions kept for reuse (see "Spare regions" in guarded_memory.cc).
  std::atomic<int64_t> spare_regions{0};
  std::atomic<int64_t> spare_bytes{0};
  // Wiped regions kept mapped for an ArrayBuffer that a view moved out of its scope
  // (GuardedMemory::Orphan), until that ArrayBuffer is collected.
  std::atomic<int64_t> orphaned_regions{0};
};
MemoryCounters& Counters();

size_t PageSize();
// The largest data span (data pages) a spare region may have: 1 MiB of data plus the
// page the canary needs.
size_t MaxSpareBytes();
bool SecretmemAvailable();
// Whether SecretmemAvailable()'s answer is final (a transient failure of the probe is not).
bool SecretmemAnswerKnown();
// Unmaps every spare region and every empty slab kept in reserve (their pages are
// zeros); returns how many there were.
size_t ReleaseSpareRegions();

// For slab.cc, the other owner of secret pages.
// Draws the process-wide canary on first use; false with *failure set if it cannot.
bool CanaryReady(Failure* failure);
// The canary (only after CanaryReady() succeeded).
const uint8_t* Canary();
// Maps [guard | inner_len data pages | guard]: guards PROT_NONE, MADV_DONTDUMP, data pages
// WIPEONFORK (mmap) or DONTFORK (secretmem), locked as `policy` allows, read-write. Under a
// full RLIMIT_MEMLOCK it gives back spare pages (ReleaseSpareRegions) and tries once more;
// a secretmem span under 'best-effort' then falls back to unlocked mmap pages (*backend says
// which was used). False with *failure set, nothing mapped, when it cannot.
// `mappings` is taken from the mapping budget first (mappings.h; ERR_MAPPING_LIMIT) and
// recorded in pages->mappings, which UnmapGuardedSpan gives back.
bool MapGuardedSpan(size_t inner_len, int64_t mappings, Backend* backend, MlockPolicy policy, Pages* pages,
                    bool* locked, Failure* failure);
// Unlocks and unmaps a span MapGuardedSpan made (after its secrets were wiped); aborts on
// failure, which can only mean a corrupt address space.
void UnmapGuardedSpan(const Pages& pages, Backend backend, bool locked);
// One line on stderr, no allocation, no secret byte; then abort().
[[noreturn]] void Die(const char* reason);
int ProtFlags(Protection protection);

}  // namespace strongroom
