// BLAKE2b of a region into a region, and HMAC-SHA-256/512 keyed by a region.
// Hash states derived from a key are wiped on every path before returning.
#include <sodium.h>

#include <cstring>

#include "binding.h"
#include "random.h"

namespace strongroom {
namespace {

// (target, source, key | undefined): target.size in [16, 64], key.size in [16, 64]
Napi::Value Blake2b(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GuardedMemory& target = RegionArg(info, 0, "target");
  GuardedMemory& source = RegionArg(info, 1, "source");
  GuardedMemory* key = info[2].IsUndefined() ? nullptr : &RegionArg(info, 2, "key");
  if (target.size() < crypto_generichash_BYTES_MIN || target.size() > crypto_generichash_BYTES_MAX) {
    Throw(env, "ERR_INVALID_ARG", "the BLAKE2b target region must be 16 to 64 bytes");
  }
  if (key && (key->size() < crypto_generichash_KEYBYTES_MIN || key->size() > crypto_generichash_KEYBYTES_MAX)) {
    Throw(env, "ERR_INVALID_ARG", "a BLAKE2b key region must be 16 to 64 bytes");
  }
  AccessScope read_source(source, Protection::kReadOnly);
  CheckAccess(env, read_source);
  // Scopes on an absent key raise nothing; the source region stands in.
  AccessScope read_key(key ? *key : source, Protection::kReadOnly);
  CheckAccess(env, read_key);
  AccessScope write(target, Protection::kReadWrite);
  CheckAccess(env, write);
  // Hash into a stack buffer first (target may be the source itself); nothing can
  // throw between here and the wipe.
  uint8_t out[crypto_generichash_BYTES_MAX];
  HashAndScrub(out, target.size(), source.data(), source.size(), key ? key->data() : nullptr, key ? key->size() : 0);
  memcpy(target.data(), out, target.size());
  sodium_memzero(out, sizeof out);
  return env.Undefined();
}

enum class Algorithm { kSha256 = kHmacSha256, kSha512 = kHmacSha512 };

Algorithm AlgorithmArg(const Napi::CallbackInfo& info) {
  size_t n = SizeArg(info, 0, "algorithm");
  if (n != kHmacSha256 && n != kHmacSha512) Throw(info.Env(), "ERR_INVALID_ARG", "unknown HMAC algorithm");
  return static_cast<Algorithm>(n);
}

// Writes the tag (32 or 64 bytes) of message under key into out.
void ComputeHmac(Napi::Env env, Algorithm algorithm, GuardedMemory& key, const uint8_t* message, size_t length,
                 uint8_t* out) {
  AccessScope read_key(key, Protection::kReadOnly);
  CheckAccess(env, read_key);
  if (algorithm == Algorithm::kSha256) {
    crypto_auth_hmacsha256_state state;
    crypto_auth_hmacsha256_init(&state, key.data(), key.size());
    crypto_auth_hmacsha256_update(&state, message, length);
    crypto_auth_hmacsha256_final(&state, out);
    sodium_memzero(&state, sizeof state);
  } else {
    crypto_auth_hmacsha512_state state;
    crypto_auth_hmacsha512_init(&state, key.data(), key.size());
    crypto_auth_hmacsha512_update(&state, message, length);
    crypto_auth_hmacsha512_final(&state, out);
    sodium_memzero(&state, sizeof state);
  }
  ScrubStack();  // libsodium's SHA-2 steps leave their locals (key-derived) on the stack
}

size_t TagLength(Algorithm algorithm) {
  return algorithm == Algorithm::kSha256 ? crypto_auth_hmacsha256_BYTES : crypto_auth_hmacsha512_BYTES;
}

// (algorithm, key, message) -> Uint8Array tag
Napi::Value Hmac(const Napi::CallbackInfo& info) {
  Algorithm algorithm = AlgorithmArg(info);
  GuardedMemory& key = RegionArg(info, 1, "key");
  Napi::Uint8Array message = BytesArg(info, 2, "message");
  Napi::Uint8Array tag = Napi::Uint8Array::New(info.Env(), TagLength(algorithm));
  ComputeHmac(info.Env(), algorithm, key, message.Data(), message.ByteLength(), tag.Data());
  return tag;
}

// (algorithm, key, message, tag) -> boolean, compared in constant time
Napi::Value HmacVerify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Algorithm algorithm = AlgorithmArg(info);
  GuardedMemory& key = RegionArg(info, 1, "key");
  Napi::Uint8Array message = BytesArg(info, 2, "message");
  Napi::Uint8Array tag = BytesArg(info, 3, "tag");
  if (tag.ByteLength() != TagLength(algorithm)) return Napi::Boolean::New(env, false);
  uint8_t expected[crypto_auth_hmacsha512_BYTES];
  ComputeHmac(env, algorithm, key, message.Data(), message.ByteLength(), expected);
  bool ok = algorithm == Algorithm::kSha256 ? crypto_verify_32(expected, tag.Data()) == 0
                                            : crypto_verify_64(expected, tag.Data()) == 0;
  sodium_memzero(expected, sizeof expected);
  return Napi::Boolean::New(env, ok);
}

}  // namespace

void InitHashing(Napi::Env env, Napi::Object exports) {
  Register(env, exports, {
      {"blake2b", Fn<Blake2b>},
      {"hmac", Fn<Hmac>},
      {"hmacVerify", Fn<HmacVerify>},
  });
}

}  // namespace strongroom
