// XSalsa20-Poly1305 sealing under a key region (sealing.h defines the format and the
// two steps; the coffer, coffer_binding.cc, uses the same steps with its split key).
// The key and the plaintext are read from regions; only the ciphertext lands in ordinary
// memory. Opening verifies the MAC before it decrypts, so a forged blob writes no
// plaintext anywhere.
#include "sealing.h"

#include <cstring>
#include <string>

#include "binding.h"

namespace strongroom {

void ThrowIfFailed(Napi::Env env, SealStatus status, int err, const char* auth_message) {
  switch (status) {
    case SealStatus::kOk:
      return;
    case SealStatus::kAuth:
      Throw(env, "ERR_AUTH", auth_message);
    case SealStatus::kEmpty:
      Throw(env, "ERR_EMPTY",
            "the sealed bytes are authentic but hold an empty message (nonce and MAC only, 40 bytes): there is "
            "nothing to open, since a region holds at least one byte. strongroom never seals an empty secret, so "
            "these bytes were sealed elsewhere");
    case SealStatus::kSystem:
      Throw(env, "ERR_SYSTEM", std::string("could not reach the sealing key: ") + strerror(err));
  }
}

Napi::Uint8Array SealedArg(const Napi::CallbackInfo& info, size_t index) {
  Napi::Uint8Array sealed = BytesArg(info, index, "sealed");
  if (sealed.ByteLength() < kSealOverhead) {
    Throw(info.Env(), "ERR_AUTH",
          "sealed bytes are at least 40 bytes long (nonce and MAC); these " + std::to_string(sealed.ByteLength()) +
              " were truncated or are not sealed bytes");
  }
  return sealed;
}

namespace {

constexpr const char* kAuthMessage =
    "the sealed bytes failed authentication: they were altered or truncated, or sealed under another key";

GuardedMemory& KeyArg(const Napi::CallbackInfo& info, size_t index) {
  GuardedMemory& key = RegionArg(info, index, "key");
  if (key.size() != kKeyBytes) Throw(info.Env(), "ERR_INVALID_ARG", "the key region must be exactly 32 bytes");
  return key;
}

// The key source of a key region: readable for the length of one use.
auto RegionKey(GuardedMemory& key) {
  return [&key](auto&& use) -> int {
    AccessScope read(key, Protection::kReadOnly);
    if (read.error() != 0) return read.error();
    use(static_cast<const uint8_t*>(key.data()));
    return 0;
  };
}

// (key, plaintext) -> Buffer sealed. Node allocates the Buffer without zero-filling it;
// every byte is written before it is returned.
Napi::Value Seal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GuardedMemory& key = KeyArg(info, 0);
  GuardedMemory& plain = RegionArg(info, 1, "plaintext");
  Napi::Buffer<uint8_t> sealed = Napi::Buffer<uint8_t>::New(env, plain.size() + kSealOverhead);
  int err = 0;
  {
    AccessScope read(plain, Protection::kReadOnly);
    err = read.error() != 0 ? read.error() : SealInto(sealed.Data(), plain.data(), plain.size(), RegionKey(key));
  }
  ThrowIfFailed(env, err == 0 ? SealStatus::kOk : SealStatus::kSystem, err, kAuthMessage);
  return sealed;
}

// (key, sealed, target): target.size must be sealed.length - 40; no target (undefined)
// for 40 bytes, which are only authenticated (ERR_EMPTY or ERR_AUTH). Throws ERR_AUTH.
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GuardedMemory& key = KeyArg(info, 0);
  Napi::Uint8Array sealed = SealedArg(info, 1);
  const size_t size = sealed.ByteLength() - kSealOverhead;
  GuardedMemory* target = size == 0 ? nullptr : &RegionArg(info, 2, "target");
  if (target != nullptr && target->size() != size) {
    Throw(env, "ERR_INVALID_ARG", "the target region must be exactly the sealed length minus 40 bytes");
  }
  int err = 0;
  SealStatus status = OpenIntoRegion(target, sealed.Data(), sealed.ByteLength(), RegionKey(key), &err);
  ThrowIfFailed(env, status, err, kAuthMessage);  // after the target's scope has closed
  return env.Undefined();
}

}  // namespace

void InitSealing(Napi::Env env, Napi::Object exports) {
  Register(env, exports, {
      {"seal", Fn<Seal>},
      {"open", Fn<Open>},
  });
}

}  // namespace strongroom
