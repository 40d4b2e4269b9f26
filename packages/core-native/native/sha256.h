// SHA-256 and HMAC-SHA-256 on the x86 SHA extensions (SHA-NI), where the CPU has them.
// libsodium 1.0.18's SHA-256 is portable C, about five times slower than these
// instructions on 1 KiB; HMAC keyed by guarded memory is on the request path of webhook
// and JWT middleware, so hashing.cc uses this where ShaNiAvailable() and libsodium
// elsewhere. Both give the same bytes (tests check RFC 4231 and node:crypto on either).
//
// No N-API, no allocation. Every state that held key-derived bytes is wiped by Final();
// callers wipe a state they abandon, and scrub the stack afterwards as for libsodium.
#pragma once

#include <cstddef>
#include <cstdint>

namespace strongroom {

// True on x86-64 CPUs with SHA, SSSE3 and SSE4.1 (checked once); false elsewhere.
bool ShaNiAvailable();

struct Sha256State {
  uint32_t h[8];
  uint8_t block[64];
  uint64_t length;  // bytes absorbed
  size_t used;      // bytes waiting in block
};

// HMAC-SHA-256 (RFC 2104) over Compress; only when ShaNiAvailable(). Init is the only step
// that reads the key; Final writes the 32-byte tag and wipes the state.
struct HmacSha256NiState {
  Sha256State inner;
  Sha256State outer;
};
void HmacSha256NiInit(HmacSha256NiState& state, const uint8_t* key, size_t key_length);
void HmacSha256NiUpdate(HmacSha256NiState& state, const uint8_t* message, size_t length);
void HmacSha256NiFinal(HmacSha256NiState& state, uint8_t* out);

}  // namespace strongroom
