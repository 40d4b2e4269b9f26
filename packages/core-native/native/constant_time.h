// Constant-time comparison: no branch and no early exit depends on the bytes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace strongroom {

// True when a[0..n) == b[0..n). Time depends on n only.
bool ConstantTimeEqual(const uint8_t* a, const uint8_t* b, size_t n);

}  // namespace strongroom
