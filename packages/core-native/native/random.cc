// getrandom(2) with its failures reported, and hashing that scrubs (see random.h). No N-API here.
#include "random.h"

#include <errno.h>
#include <sodium.h>
#include <sys/random.h>

#include <cstdint>

namespace strongroom {

int SystemRandom(void* buffer, size_t size) {
  auto* out = static_cast<uint8_t*>(buffer);
  size_t filled = 0;
  while (filled < size) {
    ssize_t n = getrandom(out + filled, size - filled, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      sodium_memzero(buffer, size);
      return err;
    }
    filled += static_cast<size_t>(n);
  }
  return 0;
}

__attribute__((noinline)) void ScrubStack() {
  // Deeper than blake2b_final and blake2b_compress's locals (a few hundred bytes).
  uint8_t pad[4096];
  sodium_memzero(pad, sizeof pad);
  __asm__ __volatile__("" : : "r"(pad) : "memory");
}

void HashAndScrub(uint8_t* out, size_t out_len, const uint8_t* in, size_t in_len, const uint8_t* key, size_t key_len) {
  crypto_generichash_state state;
  crypto_generichash_init(&state, key, key_len, out_len);
  crypto_generichash_update(&state, in, in_len);
  crypto_generichash_final(&state, out, out_len);
  sodium_memzero(&state, sizeof state);
  ScrubStack();
}

}  // namespace strongroom
