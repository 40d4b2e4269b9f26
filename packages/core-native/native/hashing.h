// HMAC-SHA-256/512 steps shared by hashing.cc (a key region) and coffer_binding.cc (a key
// opened from sealed bytes into a temporary region). No N-API state is kept here.
#pragma once

#include <napi.h>
#include <sodium.h>

#include <cstddef>
#include <cstdint>

#include "binding.h"
#include "sha256.h"

namespace strongroom {

enum class HmacAlgorithm { kSha256 = kHmacSha256, kSha512 = kHmacSha512 };

// The algorithm id at info[index] (ERR_INVALID_ARG for an unknown one).
HmacAlgorithm HmacAlgorithmArg(const Napi::CallbackInfo& info, size_t index);

// The full tag length: 32 (SHA-256) or 64 (SHA-512) bytes.
size_t HmacTagLength(HmacAlgorithm algorithm);

// One keyed HMAC computation, on SHA-NI (sha256.h) where the CPU has it, else libsodium.
// The constructor is the only step that reads the key, so a caller can key it inside a
// short critical section and hash the message afterwards. The state is key-derived: it is
// wiped by Final() and by the destructor, on every path. Callers scrub the stack after.
class HmacState {
 public:
  HmacState(HmacAlgorithm algorithm, const uint8_t* key, size_t key_length);
  ~HmacState();
  HmacState(const HmacState&) = delete;
  HmacState& operator=(const HmacState&) = delete;
  void Update(const uint8_t* message, size_t length);
  // Writes HmacTagLength(algorithm) bytes and wipes the state.
  void Final(uint8_t* out);

 private:
  HmacAlgorithm algorithm_;
  bool sha_ni_;
  union {
    crypto_auth_hmacsha256_state sodium256;
    crypto_auth_hmacsha512_state sodium512;
    HmacSha256NiState sha_ni;
  } state_;
};

// Writes the full tag of message under key[0..key_length) into out (HmacTagLength bytes).
// The caller makes the key readable. The hash state is wiped and the stack below scrubbed.
void HmacBytes(HmacAlgorithm algorithm, const uint8_t* key, size_t key_length, const uint8_t* message,
               size_t length, uint8_t* out);

// Whether a received tag of tag_length bytes matches the first tag_length bytes of the full
// computed tag (RFC 2104 section 5 truncation): tag_length from kHmacMinTagBytes up to the
// full length, compared in constant time (the time depends on tag_length only, which is
// public). Any other length is false, never an error: tags come from the network.
bool HmacTagMatches(HmacAlgorithm algorithm, const uint8_t* expected, const uint8_t* tag, size_t tag_length);

}  // namespace strongroom
