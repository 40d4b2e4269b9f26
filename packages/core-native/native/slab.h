// Slabs: small secrets share guarded pages, so a process can hold 100,000 of them under an
// 8 MiB RLIMIT_MEMLOCK and far below vm.max_map_count.
//
// A dedicated region costs a locked page, two guard pages and two kernel mappings for
// every secret, however small. A slab is one guarded span (MapGuardedSpan: a guard page
// each side, locked, DONTDUMP, WIPEONFORK, secretmem when asked) of kSlabDataPages pages,
// cut into slots of one size class. Slot i is counted from the trailing guard down:
//
//   inner                                                     inner + inner_len
//   | slack | ... | slot 2 | slot 1 | slot 0 | guard (NONE) |
//   slot = | zeros (class - size) | canary(16) | data(size) |   stride = class + 16
//
// so slot 0's data ends flush against the guard page, and every other slot's data ends
// flush against the next slot's first byte: a one-byte overflow lands in the neighbour's
// zeros or canary (checked when either slot is freed, and a mismatch aborts), or faults on
// the guard. A free slot is all zeros; its canary is written when it is taken.
//
// Protection is counted per page. A data page is
//   readwrite  while any slot on it is readwrite (or the page is dead, below),
//   readonly   while any slot on it is readonly and none readwrite,
//   noaccess   otherwise,
// and only a change of a page's protection makes a system call: taking and returning a
// slot is a free-list operation plus the mprotect pairs its scopes need. The trade: while
// one slot is open, the other slots sharing its page(s) are as readable (or writable) as it
// is. Placement::kIsolated keeps a secret on pages of its own.
//
// A view that left its scope (GuardedMemory::Orphan) keeps pointing into a slab page, so
// that page becomes dead: readwrite for good (the moved view reads zeros, never faults), no
// free slot on it is handed out again, and every other live slot on it is moved to a fresh
// slot at once if it is not open, or as soon as its scope closes. A slab with dead pages is
// unmapped when its last slot goes.
//
// Empty slabs beyond kSlabReserve per class, backend and lock state are unmapped; those kept
// are wiped, noaccess, and counted like spare regions (ReleaseSpareRegions drops them under
// memlock pressure). One mutex guards every slab; new slabs are mapped outside it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "guarded_memory.h"

namespace strongroom {

// Size classes (usable bytes); a region up to kLargestSlabClass bytes takes a slot of the
// smallest class that holds it.
constexpr size_t kSlabClasses[] = {16, 32, 64, 128, 256};
constexpr size_t kSlabClassCount = sizeof kSlabClasses / sizeof kSlabClasses[0];
constexpr size_t kLargestSlabClass = kSlabClasses[kSlabClassCount - 1];
// Data pages per slab (32 KiB with 4 KiB pages): 682 slots of 32 bytes.
constexpr size_t kSlabDataPages = 8;
// Mappings (VMAs) one slab holds: a guard page each side and each data page on its own
// (slab.cc keeps neighbouring data pages from merging); taken from the mapping budget.
constexpr int64_t kSlabMappings = static_cast<int64_t>(kSlabDataPages) + 2;
// Empty slabs kept mapped per size class, backend and lock state for the next allocation.
constexpr size_t kSlabReserve = 1;

struct SlabClassStats {
  size_t size = 0;         // the class: usable bytes per slot
  size_t slabs = 0;        // slabs of this class (empty ones in reserve included)
  size_t slots = 0;        // slots of those slabs
  size_t slots_in_use = 0; // slots holding a live secret
  size_t dead_slots = 0;   // slots never handed out again (on pages a moved view made dead)
};

struct SlabStats {
  SlabClassStats classes[kSlabClassCount];
  size_t slabs = 0;
  size_t empty_slabs = 0;  // kept in reserve, counted as spare bytes
  size_t bytes = 0;        // data pages of every slab
};

class SlabHeap {
 public:
  // A slot for `size` (1..kLargestSlabClass) bytes, read-write (one write scope counted on
  // its pages), canary written; nullptr with *failure set when it cannot be had.
  static std::shared_ptr<GuardedMemory> Take(size_t size, Backend backend, MlockPolicy policy, Failure* failure);
  // Counts the slot's new protection on its pages; returns 0 or an errno (nothing changed).
  static int Protect(GuardedMemory& memory, Protection protection);
  // Verifies the slot's canary and the zeros around it (abort on mismatch), wipes it and
  // returns it to its slab.
  static void Release(GuardedMemory& memory);
  // Wipes the slot and makes its pages dead (see above); the slot stays out of use until
  // Forget().
  static void Orphan(GuardedMemory& memory);
  // The last share of an orphaned slot went.
  static void Forget(GuardedMemory& memory);
  static SlabStats Stats();

 private:
  static void Bind(GuardedMemory& memory, Slab& slab, uint32_t i, size_t size, MlockPolicy policy);
  // Moves a noaccess slot off a dead page: to a fresh slot, else to pages of its own.
  static bool Relocate(GuardedMemory& memory);
  static bool RelocateToSlot(GuardedMemory& memory);
  static bool MoveToOwnPages(GuardedMemory& memory);
};

// Unmaps the empty slabs kept in reserve; returns how many.
size_t ReleaseEmptySlabs();

}  // namespace strongroom
