// The mapping budget (see mappings.h). Every figure in a refusal's message is measured at
// the refusal: vm.max_map_count as read, the headroom, what strongroom holds and what the
// process holds.
#include "mappings.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>

namespace strongroom {
namespace {

std::atomic<int64_t> g_held{0};
// The process's mappings at the last count (-1: not counted yet, or /proc was not readable),
// what strongroom held then, and what it took since (reservations only, so that
// allocating and freeing in turn still leads to a fresh count).
std::mutex g_mutex;
int64_t g_counted = -1;
int64_t g_held_at_count = 0;
int64_t g_taken_since_count = 0;

// A whole small /proc file into `buffer` (NUL-terminated); false when it cannot be read.
bool ReadSmallFile(const char* path, char* buffer, size_t size) {
  int fd;
  do {
    fd = open(path, O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return false;
  size_t used = 0;
  bool ok = true;
  while (used + 1 < size) {
    ssize_t n = read(fd, buffer + used, size - 1 - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ok = false;
    if (n <= 0) break;
    used += static_cast<size_t>(n);
  }
  if (close(fd) != 0 && errno != EINTR) ok = false;
  buffer[used] = '\0';
  return ok && used > 0;
}

MappingLimits ReadLimits() {
  int64_t max = kDefaultMaxMapCount;
  char text[32];
  if (ReadSmallFile("/proc/sys/vm/max_map_count", text, sizeof text)) {
    char* end = nullptr;
    long long value = std::strtoll(text, &end, 10);
    if (end != text && value > 0) max = value;
  }
  int64_t headroom = std::max(std::min(kMinMappingHeadroom, max / 2), max / kMappingHeadroomDivisor);
  return MappingLimits{max, headroom, max - headroom};
}

// Counts the process's mappings again (under g_mutex); `held` is strongroom's count now.
void Recount(int64_t held) {
  g_counted = CountProcessMappings();  // -1 when unreadable: the budget alone decides
  g_held_at_count = held;
  g_taken_since_count = 0;
}

std::string Figure(int64_t n) { return std::to_string(n); }

const char* kWhatToDo =
    ". Destroy secrets you no longer need (each dedicated region holds up to 3 mappings: two guard pages and its "
    "data), or raise the limit as root (`sysctl -w vm.max_map_count=262144`, and in /etc/sysctl.d/ to keep it); "
    "strongroom reads vm.max_map_count once per process";

bool RefuseBudget(Failure* failure, const MappingLimits& limits, int64_t held, int64_t count) {
  int64_t process = CountProcessMappings();
  return Fail(failure, "ERR_MAPPING_LIMIT",
              "strongroom's guarded pages hold " + Figure(held) + " memory mappings and " + Figure(count) +
                  " more would pass their budget of " + Figure(limits.budget) + ": vm.max_map_count is " +
                  Figure(limits.max_map_count) + ", and strongroom leaves " + Figure(limits.headroom) +
                  " of them to V8, libc and the rest of the process (which cannot work without them)" +
                  (process >= 0 ? "; the process has " + Figure(process) + " mappings in all" : std::string()) +
                  kWhatToDo);
}

bool RefuseProcess(Failure* failure, const MappingLimits& limits, int64_t held, int64_t process) {
  return Fail(failure, "ERR_MAPPING_LIMIT",
              "the process has " + Figure(process) + " memory mappings (strongroom's guarded pages hold at most " +
                  Figure(held) + " of them), and more would leave fewer than " + Figure(limits.headroom) +
                  " of vm.max_map_count = " + Figure(limits.max_map_count) +
                  " free for V8, libc and the rest of the process (which cannot work without them)" + kWhatToDo);
}

}  // namespace

const MappingLimits& Mappings() {
  static const MappingLimits limits = ReadLimits();
  return limits;
}

bool ReserveMappings(int64_t count, Failure* failure) {
  const MappingLimits& limits = Mappings();
  const int64_t cap = limits.max_map_count - limits.headroom;  // the process's mappings never pass it
  std::lock_guard<std::mutex> lock(g_mutex);
  const int64_t held = g_held.load();
  if (held + count > limits.budget) return RefuseBudget(failure, limits, held, count);
  // Counting is not cheap (here about 16 ms at 38,000 mappings, 50 ms when they are
  // memfd_secret ones, whose file names the kernel writes out): count again once strongroom
  // has taken half of the room the last count left (at least kRecountInterval), so far from
  // the limit counts are rare and close to it they are frequent.
  g_taken_since_count += count;
  const int64_t room = g_counted < 0 ? 0 : cap - (g_counted + (held - g_held_at_count));
  if (g_counted < 0 || g_taken_since_count >= std::max(kRecountInterval, room / 2)) Recount(held);
  if (g_counted >= 0 && g_counted + (held - g_held_at_count) + count > cap) {
    Recount(held);  // the estimate says no: count exactly before refusing
    if (g_counted >= 0 && g_counted + count > cap) return RefuseProcess(failure, limits, held, g_counted);
  }
  g_held.fetch_add(count);
  return true;
}

void ReturnMappings(int64_t count) { g_held.fetch_sub(count); }

int64_t MappingsHeld() { return g_held.load(); }

int64_t CountProcessMappings() {
  int fd;
  do {
    fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return -1;
  char buffer[16384];
  int64_t lines = 0;
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) lines = -1;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; i++) lines += buffer[i] == '\n';
  }
  if (close(fd) != 0 && errno != EINTR) return -1;
  return lines;
}

}  // namespace strongroom
