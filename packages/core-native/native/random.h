// System randomness whose failure is reported, not fatal. libsodium's randombytes_buf
// aborts the process (sodium_misuse) when getrandom(2) fails; every random byte strongroom
// draws (canary, nonces, key halves, randomFill) comes from here instead, so a failure is
// a typed error (ERR_SYSTEM) like any other system call's (ARCHITECTURE.md invariant 9).
#pragma once

#include <cstddef>

namespace strongroom {

// Fills `size` bytes from getrandom(2), retrying EINTR and short reads. Returns 0, or the
// errno of the failure (the bytes are then wiped).
int SystemRandom(void* buffer, size_t size);

}  // namespace strongroom
