// BLAKE2b of a region into a region, and HMAC-SHA-256/512 keyed by a region.
// Hash states derived from a key are wiped on every path before returning. A tag to
// verify may be truncated (RFC 2104 section 5), down to kHmacMinTagBytes.
#include <sodium.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "binding.h"
#include "constant_time.h"
#include "hashing.h"
#include "random.h"
#include "sha256.h"

namespace strongroom {

HmacAlgorithm HmacAlgorithmArg(const Napi::CallbackInfo& info, size_t index) {
  size_t n = SizeArg(info, index, "algorithm");
  if (n != kHmacSha256 && n != kHmacSha512) Throw(info.Env(), "ERR_INVALID_ARG", "unknown HMAC algorithm");
  return static_cast<HmacAlgorithm>(n);
}

size_t HmacTagLength(HmacAlgorithm algorithm) {
  return algorithm == HmacAlgorithm::kSha256 ? crypto_auth_hmacsha256_BYTES : crypto_auth_hmacsha512_BYTES;
}

namespace {
// Test hook (STRONGROOM_TEST_HOOKS=1): libsodium's SHA-256 even where SHA-NI is available,
// so that the tests check both implementations on one machine.
std::atomic<bool> g_portable_sha256{false};

bool UseShaNi() { return ShaNiAvailable() && !g_portable_sha256.load(std::memory_order_relaxed); }
}  // namespace

HmacState::HmacState(HmacAlgorithm algorithm, const uint8_t* key, size_t key_length)
    : algorithm_(algorithm), sha_ni_(algorithm == HmacAlgorithm::kSha256 && UseShaNi()) {
  if (sha_ni_) {
    HmacSha256NiInit(state_.sha_ni, key, key_length);
  } else if (algorithm == HmacAlgorithm::kSha256) {
    crypto_auth_hmacsha256_init(&state_.sodium256, key, key_length);
  } else {
    crypto_auth_hmacsha512_init(&state_.sodium512, key, key_length);
  }
}

HmacState::~HmacState() { sodium_memzero(&state_, sizeof state_); }

void HmacState::Update(const uint8_t* message, size_t length) {
  if (sha_ni_) {
    HmacSha256NiUpdate(state_.sha_ni, message, length);
  } else if (algorithm_ == HmacAlgorithm::kSha256) {
    crypto_auth_hmacsha256_update(&state_.sodium256, message, length);
  } else {
    crypto_auth_hmacsha512_update(&state_.sodium512, message, length);
  }
}

void HmacState::Final(uint8_t* out) {
  if (sha_ni_) {
    HmacSha256NiFinal(state_.sha_ni, out);
  } else if (algorithm_ == HmacAlgorithm::kSha256) {
    crypto_auth_hmacsha256_final(&state_.sodium256, out);
  } else {
    crypto_auth_hmacsha512_final(&state_.sodium512, out);
  }
  sodium_memzero(&state_, sizeof state_);
}

void HmacBytes(HmacAlgorithm algorithm, const uint8_t* key, size_t key_length, const uint8_t* message,
               size_t length, uint8_t* out) {
  {
    HmacState state(algorithm, key, key_length);
    state.Update(message, length);
    state.Final(out);
  }
  ScrubStack();  // the SHA-2 steps leave their locals (key-derived) on the stack
}

bool HmacTagMatches(HmacAlgorithm algorithm, const uint8_t* expected, const uint8_t* tag, size_t tag_length) {
  if (tag_length < kHmacMinTagBytes || tag_length > HmacTagLength(algorithm)) return false;
  return ConstantTimeEqual(expected, tag, tag_length);
}

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

// (algorithm, key, message) -> Uint8Array tag (32 or 64 bytes). The tag is allocated
// before the key is raised.
Napi::Value Hmac(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  HmacAlgorithm algorithm = HmacAlgorithmArg(info, 0);
  GuardedMemory& key = RegionArg(info, 1, "key");
  Napi::Uint8Array message = BytesArg(info, 2, "message");
  Napi::Uint8Array tag = Napi::Uint8Array::New(env, HmacTagLength(algorithm));
  {
    AccessScope read_key(key, Protection::kReadOnly);
    CheckAccess(env, read_key);
    HmacBytes(algorithm, key.data(), key.size(), message.Data(), message.ByteLength(), tag.Data());
  }
  return tag;
}

// (algorithm, key, message, tag) -> boolean: tag may be truncated (kHmacMinTagBytes up to
// the full length; any other length is false), compared in constant time.
Napi::Value HmacVerify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  HmacAlgorithm algorithm = HmacAlgorithmArg(info, 0);
  GuardedMemory& key = RegionArg(info, 1, "key");
  Napi::Uint8Array message = BytesArg(info, 2, "message");
  Napi::Uint8Array tag = BytesArg(info, 3, "tag");
  uint8_t expected[crypto_auth_hmacsha512_BYTES];
  bool ok = false;
  {
    AccessScope read_key(key, Protection::kReadOnly);
    CheckAccess(env, read_key);
    HmacBytes(algorithm, key.data(), key.size(), message.Data(), message.ByteLength(), expected);
    ok = HmacTagMatches(algorithm, expected, tag.Data(), tag.ByteLength());
    sodium_memzero(expected, sizeof expected);
  }
  return Napi::Boolean::New(env, ok);
}

// Test hook: (portable: boolean) -> the SHA-256 implementation HMAC uses from now on,
// 'sha-ni' or 'libsodium'. true forces libsodium; false restores the default.
Napi::Value HmacSha256Implementation(const Napi::CallbackInfo& info) {
  if (info[0].IsBoolean()) g_portable_sha256.store(info[0].As<Napi::Boolean>().Value());
  return Napi::String::New(info.Env(), UseShaNi() ? "sha-ni" : "libsodium");
}

}  // namespace

void InitHashing(Napi::Env env, Napi::Object exports) {
  Register(env, exports, {
      {"blake2b", Fn<Blake2b>},
      {"hmac", Fn<Hmac>},
      {"hmacVerify", Fn<HmacVerify>},
  });
  const char* hooks = std::getenv("STRONGROOM_TEST_HOOKS");
  if (hooks != nullptr && std::strcmp(hooks, "1") == 0) {
    Register(env, exports, {{"hmacSha256Implementation", Fn<HmacSha256Implementation>}});
  }
}

}  // namespace strongroom
