// Constant-time comparison.
//
//   diff = OR over i of (a[i] XOR b[i]);   equal  <=>  diff == 0
//
// Two rules, both checked on the compiled addon by test/constant-time.test.ts:
// - no branch and no early exit depends on the bytes: the loops run over n only, and only
//   the final, aggregated result is branched on;
// - no byte of either operand is ever stored to memory (the stack is ordinary memory that
//   root can read through /proc/PID/mem, which secretmem regions exist to prevent): the
//   operands go from the regions straight into registers, 32 bytes at a time with AVX2
//   where the CPU has it (chosen once), else 16 with SSE2, else 8 (other architectures).
// sodium_memcmp is the same idea one byte at a time through a volatile pointer.
#include "constant_time.h"

#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace strongroom {
namespace {

// 8 bytes into a register (memcpy of a fixed 8 bytes compiles to one load).
inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

// The bytes after the last whole block, one at a time.
inline uint64_t TailDiff(const uint8_t* a, const uint8_t* b, size_t from, size_t n) {
  uint64_t tail = 0;
  for (size_t i = from; i < n; i++) tail |= static_cast<uint64_t>(a[i] ^ b[i]);
  return tail;
}

// The portable loop (other architectures; on x86-64, SSE2 is the floor).
[[maybe_unused]] __attribute__((noinline)) uint64_t DiffWords(const uint8_t* a, const uint8_t* b, size_t n) {
  uint64_t acc = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) acc |= Load64(a + i) ^ Load64(b + i);
  return acc | TailDiff(a, b, i, n);
}

#if defined(__x86_64__)
__attribute__((noinline)) uint64_t DiffSse2(const uint8_t* a, const uint8_t* b, size_t n) {
  __m128i acc = _mm_setzero_si128();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i));
    __m128i y = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i));
    acc = _mm_or_si128(acc, _mm_xor_si128(x, y));
  }
  uint64_t folded = static_cast<uint64_t>(_mm_cvtsi128_si64(acc)) |
                    static_cast<uint64_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(acc, acc)));
  return folded | TailDiff(a, b, i, n);
}

__attribute__((noinline, target("avx2"))) uint64_t DiffAvx2(const uint8_t* a, const uint8_t* b, size_t n) {
  __m256i acc = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i));
    __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i));
    acc = _mm256_or_si256(acc, _mm256_xor_si256(x, y));
  }
  __m128i half = _mm_or_si128(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
  uint64_t folded = static_cast<uint64_t>(_mm_cvtsi128_si64(half)) |
                    static_cast<uint64_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(half, half)));
  _mm256_zeroupper();
  return folded | TailDiff(a, b, i, n);
}

using DiffFunction = uint64_t (*)(const uint8_t*, const uint8_t*, size_t);

DiffFunction Pick() { return __builtin_cpu_supports("avx2") ? DiffAvx2 : DiffSse2; }
#endif

uint64_t DiffBits(const uint8_t* a, const uint8_t* b, size_t n) {
#if defined(__x86_64__)
  static const DiffFunction diff = Pick();
  return diff(a, b, n);
#else
  return DiffWords(a, b, n);
#endif
}

}  // namespace

bool ConstantTimeEqual(const uint8_t* a, const uint8_t* b, size_t n) {
  volatile uint64_t diff = DiffBits(a, b, n);
  return diff == 0;
}

}  // namespace strongroom
