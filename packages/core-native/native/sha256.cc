// SHA-256 on the x86 SHA extensions: four message words and two rounds per instruction.
//
//   state0 = ABEF, state1 = CDGH (the register layout SHA256RNDS2 takes)
//   per 4 rounds:  wk = W[4t..4t+3] + K[4t..4t+3]
//                  state1 = rnds2(state1, state0, wk)        rounds 4t, 4t+1
//                  state0 = rnds2(state0, state1, wk >> 64)  rounds 4t+2, 4t+3
//   schedule:      W[4t+16..] = msg2(msg1(W[4t..], W[4t+4..]) + W[4t+9..4t+12], W[4t+12..])
//
// The rounds are FIPS 180-4's; the instructions only change how they are computed.
#include "sha256.h"

#include <sodium.h>

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace strongroom {
namespace {

constexpr uint32_t kInitial[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                  0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

#if defined(__x86_64__)
alignas(16) constexpr uint32_t kRound[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

// Absorbs `blocks` 64-byte blocks into h. Message words stay in registers.
__attribute__((target("sha,sse4.1,ssse3"))) void Compress(uint32_t h[8], const uint8_t* data, size_t blocks) {
  const __m128i byteswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h)), 0xB1);      // b a d c
  __m128i state1 = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + 4)), 0x1B);  // h g f e
  __m128i state0 = _mm_alignr_epi8(tmp, state1, 8);  // f e b a: ABEF
  state1 = _mm_blend_epi16(state1, tmp, 0xF0);       // h g d c: CDGH
  for (; blocks > 0; blocks--, data += 64) {
    const __m128i abef = state0;
    const __m128i cdgh = state1;
    __m128i w[4];
    for (int i = 0; i < 4; i++) {
      w[i] = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(data + 16 * i)), byteswap);
    }
    for (int t = 0; t < 16; t++) {
      __m128i wk = _mm_add_epi32(w[t & 3], _mm_load_si128(reinterpret_cast<const __m128i*>(kRound + 4 * t)));
      state1 = _mm_sha256rnds2_epu32(state1, state0, wk);
      state0 = _mm_sha256rnds2_epu32(state0, state1, _mm_shuffle_epi32(wk, 0x0E));
      if (t < 12) {
        __m128i sum = _mm_add_epi32(_mm_sha256msg1_epu32(w[t & 3], w[(t + 1) & 3]),
                                    _mm_alignr_epi8(w[(t + 3) & 3], w[(t + 2) & 3], 4));
        w[t & 3] = _mm_sha256msg2_epu32(sum, w[(t + 3) & 3]);
      }
    }
    state0 = _mm_add_epi32(state0, abef);
    state1 = _mm_add_epi32(state1, cdgh);
  }
  tmp = _mm_shuffle_epi32(state0, 0x1B);      // a b e f
  state1 = _mm_shuffle_epi32(state1, 0xB1);   // g h c d
  state0 = _mm_blend_epi16(tmp, state1, 0xF0);  // a b c d
  state1 = _mm_alignr_epi8(state1, tmp, 8);     // e f g h
  _mm_storeu_si128(reinterpret_cast<__m128i*>(h), state0);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(h + 4), state1);
}

bool DetectShaNi() {
  unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
  const bool ssse3 = (ecx & bit_SSSE3) != 0;
  const bool sse41 = (ecx & bit_SSE4_1) != 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  return ssse3 && sse41 && (ebx & bit_SHA) != 0;
}
#else
// Never called: ShaNiAvailable() is false here, so hashing.cc never builds an HmacSha256NiState.
[[noreturn]] void Compress(uint32_t*, const uint8_t*, size_t) { std::abort(); }
bool DetectShaNi() { return false; }
#endif

void ShaInit(Sha256State& s) {
  memcpy(s.h, kInitial, sizeof s.h);
  s.length = 0;
  s.used = 0;
}

void ShaUpdate(Sha256State& s, const uint8_t* in, size_t n) {
  if (n == 0) return;  // an empty message's data pointer may be null
  s.length += n;
  if (s.used > 0) {
    size_t take = n < 64 - s.used ? n : 64 - s.used;
    memcpy(s.block + s.used, in, take);
    s.used += take;
    in += take;
    n -= take;
    if (s.used < 64) return;
    Compress(s.h, s.block, 1);
    s.used = 0;
  }
  if (n >= 64) {
    Compress(s.h, in, n / 64);
    in += n - n % 64;
    n %= 64;
  }
  memcpy(s.block, in, n);
  s.used = n;
}

void StoreBigEndian32(uint8_t* out, uint32_t v) {
  out[0] = static_cast<uint8_t>(v >> 24);
  out[1] = static_cast<uint8_t>(v >> 16);
  out[2] = static_cast<uint8_t>(v >> 8);
  out[3] = static_cast<uint8_t>(v);
}

// Pads, writes the 32-byte digest and wipes the state.
void ShaFinal(Sha256State& s, uint8_t* out) {
  const uint64_t bits = s.length * 8;
  s.block[s.used++] = 0x80;
  if (s.used > 56) {
    memset(s.block + s.used, 0, 64 - s.used);
    Compress(s.h, s.block, 1);
    s.used = 0;
  }
  memset(s.block + s.used, 0, 56 - s.used);
  StoreBigEndian32(s.block + 56, static_cast<uint32_t>(bits >> 32));
  StoreBigEndian32(s.block + 60, static_cast<uint32_t>(bits));
  Compress(s.h, s.block, 1);
  for (int i = 0; i < 8; i++) StoreBigEndian32(out + 4 * i, s.h[i]);
  sodium_memzero(&s, sizeof s);
}

}  // namespace

bool ShaNiAvailable() {
  static const bool available = DetectShaNi();
  return available;
}

// RFC 2104: K0 = key (hashed first when longer than a block), zero-padded to 64 bytes;
// inner absorbs K0 ^ 0x36.., outer absorbs K0 ^ 0x5c..
void HmacSha256NiInit(HmacSha256NiState& state, const uint8_t* key, size_t key_length) {
  uint8_t k0[64] = {0};
  uint8_t pad[64];
  if (key_length > sizeof k0) {
    Sha256State hashed;
    ShaInit(hashed);
    ShaUpdate(hashed, key, key_length);
    ShaFinal(hashed, k0);  // wipes `hashed`
  } else {
    memcpy(k0, key, key_length);
  }
  for (size_t i = 0; i < sizeof pad; i++) pad[i] = static_cast<uint8_t>(k0[i] ^ 0x36);
  ShaInit(state.inner);
  ShaUpdate(state.inner, pad, sizeof pad);
  for (size_t i = 0; i < sizeof pad; i++) pad[i] = static_cast<uint8_t>(k0[i] ^ 0x5c);
  ShaInit(state.outer);
  ShaUpdate(state.outer, pad, sizeof pad);
  sodium_memzero(k0, sizeof k0);
  sodium_memzero(pad, sizeof pad);
}

void HmacSha256NiUpdate(HmacSha256NiState& state, const uint8_t* message, size_t length) {
  ShaUpdate(state.inner, message, length);
}

void HmacSha256NiFinal(HmacSha256NiState& state, uint8_t* out) {
  uint8_t inner_digest[32];
  ShaFinal(state.inner, inner_digest);
  ShaUpdate(state.outer, inner_digest, sizeof inner_digest);
  ShaFinal(state.outer, out);
  sodium_memzero(inner_digest, sizeof inner_digest);
}

}  // namespace strongroom
