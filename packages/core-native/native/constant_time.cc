// Constant-time comparison.
//
//   diff = OR over i of (a[i] XOR b[i]);   equal  <=>  diff == 0
//
// The loop has no data-dependent branch, so the compiler vectorises it (SSE2 by
// default, AVX2 where the CPU has it, chosen once at load time by target_clones).
// Only the final, aggregated result is branched on. sodium_memcmp is the same idea
// one byte at a time through a volatile pointer, which stops vectorisation.
#include "constant_time.h"

#include <cstring>

namespace strongroom {
namespace {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
uint64_t DiffBits(const uint8_t* a, const uint8_t* b, size_t n) {
  uint64_t acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    uint64_t x[4], y[4];
    memcpy(x, a + i, 32);
    memcpy(y, b + i, 32);
    acc0 |= x[0] ^ y[0];
    acc1 |= x[1] ^ y[1];
    acc2 |= x[2] ^ y[2];
    acc3 |= x[3] ^ y[3];
  }
  uint64_t tail = 0;
  for (; i < n; i++) tail |= static_cast<uint64_t>(a[i] ^ b[i]);
  return acc0 | acc1 | acc2 | acc3 | tail;
}

}  // namespace

bool ConstantTimeEqual(const uint8_t* a, const uint8_t* b, size_t n) {
  volatile uint64_t diff = DiffBits(a, b, n);
  return diff == 0;
}

}  // namespace strongroom
