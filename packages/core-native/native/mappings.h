// The mapping budget: how many memory mappings (VMAs) strongroom's pages may hold.
//
// Linux gives a process at most vm.max_map_count mappings (65530 by default). Once the
// process is at that limit every mmap, mprotect that would split a mapping, and brk fails,
// so malloc fails too, and V8 (which cannot handle that: its garbage collector's
// std::vector growth throws std::bad_alloc) ends the process with
// "terminate called after throwing an instance of 'std::bad_alloc'". A dedicated region
// holds up to three mappings (guard, data, guard), so about 32,000 live regions would reach
// the limit. strongroom therefore takes mappings from a budget before it maps anything, and
// refuses with ERR_MAPPING_LIMIT while enough mappings remain free for V8, libc and the rest
// of the process.
//
// The figures, read once per process (when the addon loads; exported in `constants`):
//   max_map_count  /proc/sys/vm/max_map_count (kDefaultMaxMapCount if it cannot be read)
//   headroom       max(min(kMinMappingHeadroom, max_map_count / 2), max_map_count / 8):
//                  what strongroom never takes; 8191 of 65530
//   budget         max_map_count - headroom: what strongroom's pages may hold; 57339 of 65530
// A reservation is refused when strongroom's mappings would pass the budget, or when the
// whole process would be left fewer than `headroom` free mappings. The process's own count
// (lines of /proc/self/maps) is read at the first reservation, again whenever strongroom
// has taken half of the room the last count left (at least kRecountInterval mappings), and
// before any refusal, so a refusal and its message are exact; in between, what strongroom
// took since the last count is added to it.
//
// No N-API here. Anything that maps secret pages (regions; the slab allocator) reserves
// before mmap and returns after munmap, whatever happens in between.
#pragma once

#include <cstdint>

#include "guarded_memory.h"

namespace strongroom {

// Mappings one dedicated region holds: its leading guard page, its data pages and its
// trailing guard page are three VMAs. The kernel merges a guard page with a neighbouring
// region's guard page when their flags agree, so /proc/self/maps may show fewer: the count
// is an upper bound, never an underestimate.
constexpr int64_t kRegionMappings = 3;
constexpr int64_t kDefaultMaxMapCount = 65530;
constexpr int64_t kMinMappingHeadroom = 4096;
constexpr int64_t kMappingHeadroomDivisor = 8;
constexpr int64_t kRecountInterval = 1024;

struct MappingLimits {
  int64_t max_map_count;
  int64_t headroom;
  int64_t budget;
};
// Read once, then the same for the life of the process.
const MappingLimits& Mappings();

// Takes `count` mappings from the budget, before they are mapped. False, with *failure
// set to ERR_MAPPING_LIMIT, when the budget or the process's headroom does not allow them.
bool ReserveMappings(int64_t count, Failure* failure);
// Gives back mappings taken with ReserveMappings (after munmap, or when mapping failed).
void ReturnMappings(int64_t count);
// The mappings strongroom's pages hold now (an upper bound, see kRegionMappings).
int64_t MappingsHeld();
// The process's mappings now (lines of /proc/self/maps), counted without allocating
// (safe on a failure path); -1 when they cannot be read.
int64_t CountProcessMappings();

}  // namespace strongroom
