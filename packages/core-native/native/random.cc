// getrandom(2) with its failures reported (see random.h). No N-API here.
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

}  // namespace strongroom
