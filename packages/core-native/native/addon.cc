// Entry point of the @strongroom/core-native addon: initialises libsodium, creates
// the per-environment data (each worker thread gets its own) and registers the
// functions of every concern. Loading has no side effect on the process: hardening
// is an explicit harden() call.
#include <sodium.h>

#include <cstdlib>
#include <cstring>

#include "age.h"
#include "binding.h"
#include "slab.h"
#include "coffer.h"
#include "mappings.h"
#include "password.h"
#include "pkcs11.h"
#include "sealing.h"

namespace strongroom {
namespace {

Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) Throw(info.Env(), "ERR_INVALID_ARG", "expected the StrongroomError class");
  Data(info.Env()).error_class = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Object Codes(Napi::Env env, std::initializer_list<std::pair<const char*, int>> codes) {
  Napi::Object out = Napi::Object::New(env);
  for (const auto& [name, code] : codes) out.Set(name, Napi::Number::New(env, code));
  return out;
}

Napi::Array SlabClasses(Napi::Env env) {
  Napi::Array out = Napi::Array::New(env, kSlabClassCount);
  for (uint32_t k = 0; k < kSlabClassCount; k++) out.Set(k, Napi::Number::New(env, static_cast<double>(kSlabClasses[k])));
  return out;
}

}  // namespace

Napi::Object Constants(Napi::Env env) {
  auto number = [env](size_t n) { return Napi::Number::New(env, static_cast<double>(n)); };
  Napi::Object out = Napi::Object::New(env);
  out.Set("backends", Codes(env, {{"mmap", static_cast<int>(Backend::kMmap)},
                                  {"secretmem", static_cast<int>(Backend::kSecretmem)}}));
  out.Set("protections", Codes(env, {{"noaccess", static_cast<int>(Protection::kNoAccess)},
                                     {"readonly", static_cast<int>(Protection::kReadOnly)},
                                     {"readwrite", static_cast<int>(Protection::kReadWrite)}}));
  out.Set("mlockPolicies", Codes(env, {{"require", static_cast<int>(MlockPolicy::kRequire)},
                                       {"best-effort", static_cast<int>(MlockPolicy::kBestEffort)}}));
  out.Set("placements", Codes(env, {{"isolated", static_cast<int>(Placement::kIsolated)},
                                    {"shared", static_cast<int>(Placement::kShared)}}));
  out.Set("slabClasses", SlabClasses(env));
  out.Set("slabDataPages", number(kSlabDataPages));
  // regionState() = protection | freed | locked | backend << backendShift
  out.Set("state", Codes(env, {{"protectionMask", kStateProtectionMask},
                               {"freed", kStateFreed},
                               {"locked", kStateLocked},
                               {"backendShift", kStateBackendShift}}));
  out.Set("hmacAlgorithms", Codes(env, {{"sha256", kHmacSha256}, {"sha512", kHmacSha512}}));
  out.Set("hmacMinTagBytes", number(kHmacMinTagBytes));
  out.Set("maxFd", number(kMaxFd));
  out.Set("maxRegionSize", number(kMaxRegionSize));
  out.Set("maxRekeyInterval", number(kMaxInterval));
  out.Set("canaryBytes", number(kCanarySize));
  // The mapping budget (mappings.h): vm.max_map_count as read when the addon loaded, the
  // mappings left to the rest of the process, and strongroom's share.
  const MappingLimits& mappings = Mappings();
  out.Set("mappingsPerRegion", number(static_cast<size_t>(kRegionMappings)));
  out.Set("maxMapCount", number(static_cast<size_t>(mappings.max_map_count)));
  out.Set("mappingHeadroom", number(static_cast<size_t>(mappings.headroom)));
  out.Set("mappingBudget", number(static_cast<size_t>(mappings.budget)));
  out.Set("keyBytes", number(kKeyBytes));
  out.Set("nonceBytes", number(kNonceBytes));
  out.Set("macBytes", number(kMacBytes));
  out.Set("sealOverhead", number(kSealOverhead));
  out.Set("blake2bMinBytes", number(crypto_generichash_BYTES_MIN));
  out.Set("blake2bMaxBytes", number(crypto_generichash_BYTES_MAX));
  out.Set("blake2bMinKeyBytes", number(crypto_generichash_KEYBYTES_MIN));
  out.Set("blake2bMaxKeyBytes", number(crypto_generichash_KEYBYTES_MAX));
  out.Set("argon2idMinTimeCost", number(kArgon2MinTimeCost));
  out.Set("argon2idMaxTimeCost", number(kArgon2MaxTimeCost));
  out.Set("argon2idMinMemoryCost", number(kArgon2MinMemoryCost));
  out.Set("argon2idMaxMemoryCost", number(kArgon2MaxMemoryCost));
  out.Set("argon2idParallelism", number(kArgon2Parallelism));
  out.Set("argon2idSaltBytes", number(kArgon2SaltBytes));
  out.Set("argon2idHashBytes", number(kArgon2HashBytes));
  out.Set("argon2idMaxEncodedLength", number(kArgon2MaxEncodedLength));
  out.Set("ageKeyKinds", Codes(env, {{"identity", static_cast<int>(AgeKeyKind::kIdentity)},
                                     {"passphrase", static_cast<int>(AgeKeyKind::kPassphrase)}}));
  out.Set("ageMaxWorkFactor", number(kAgeMaxScryptLogN));
  out.Set("ageDefaultWorkFactor", number(kAgeDefaultScryptLogN));
  out.Set("ageMaxIdentities", number(kAgeMaxIdentities));
  out.Set("pkcs11Mechanisms", Codes(env, {{"aes-gcm", static_cast<int>(Pkcs11Mechanism::kAesGcm)},
                                          {"rsa-oaep", static_cast<int>(Pkcs11Mechanism::kRsaOaep)}}));
  out.Set("oaepHashes", Codes(env, {{"sha256", static_cast<int>(OaepHash::kSha256)},
                                    {"sha1", static_cast<int>(OaepHash::kSha1)}}));
  out.Set("gcmTagBytes", number(kGcmTagBytes));
  out.Set("gcmIvBytes", number(kGcmIvBytes));
  out.Set("gcmMaxIvBytes", number(kGcmMaxIvBytes));
  out.Set("tokenLabelBytes", number(kTokenLabelBytes));
  out.Set("pkcs11MaxCiphertext", number(kPkcs11MaxCiphertext));
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  if (sodium_init() < 0) {
    Napi::Error::New(env, "libsodium could not initialise").ThrowAsJavaScriptException();
    return exports;
  }
  auto* data = new AddonData();
  const char* forced = std::getenv("STRONGROOM_NO_EXTERNAL_BUFFERS");
  data->external_buffers_disallowed = forced != nullptr && std::strcmp(forced, "1") == 0;
  env.SetInstanceData<AddonData>(data);

  Register(env, exports, {{"setErrorClass", Fn<SetErrorClass>}});
  exports.Set("constants", Constants(env));
  InitRegion(env, exports);
  InitOps(env, exports);
  InitSealing(env, exports);
  InitHashing(env, exports);
  InitHardening(env, exports);
  InitIo(env, exports);
  InitCoffer(env, exports);
  InitPassword(env, exports);
  InitAge(env, exports);
  InitPkcs11(env, exports);
  return exports;
}

}  // namespace strongroom

// node-addon-api's module wrapper lets only a Napi::Error through: loading must not end the
// process either (a std::bad_alloc becomes ERR_NO_MEMORY, thrown by require/import).
static Napi::Object InitStrongroom(Napi::Env env, Napi::Object exports) {
  try {
    return strongroom::Init(env, exports);
  } catch (...) {
    napi_value error = strongroom::CaughtError(env);
    if (error != nullptr) napi_throw(env, error);
    return exports;
  }
}

NODE_API_MODULE(strongroom, InitStrongroom)
