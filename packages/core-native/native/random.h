// System randomness whose failure is reported, not fatal, and hashing that leaves no
// digest behind on the stack. libsodium's randombytes_buf
// aborts the process (sodium_misuse) when getrandom(2) fails; every random byte strongroom
// draws (canary, nonces, key halves, randomFill) comes from here instead, so a failure is
// a typed error (ERR_SYSTEM) like any other system call's (ARCHITECTURE.md invariant 9).
#pragma once

#include <cstddef>
#include <cstdint>

namespace strongroom {

// Fills `size` bytes from getrandom(2), retrying EINTR and short reads. Returns 0, or the
// errno of the failure (the bytes are then wiped).
int SystemRandom(void* buffer, size_t size);

// BLAKE2b of `in` into `out` (out_len bytes, 16-64) through a state strongroom wipes, then a
// scrub of the stack below the caller: libsodium 1.0.18 wipes neither its one-shot state
// nor the locals of its final and compress steps, which would keep a digest of a secret
// on the stack (of the rekey thread, while it sleeps). key may be null.
void HashAndScrub(uint8_t* out, size_t out_len, const uint8_t* in, size_t in_len, const uint8_t* key, size_t key_len);

// Overwrites the stack below the caller's frame (as deep as libsodium's hashing goes).
void ScrubStack();

}  // namespace strongroom
