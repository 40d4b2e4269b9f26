// XSalsa20-Poly1305 (NaCl crypto_secretbox) between guarded regions and sealed bytes.
//
//   blob = nonce(24) || crypto_secretbox_easy(plaintext, nonce, key)
//        = nonce(24) || mac(16) || ciphertext
//
// exactly NaCl's secretbox with the nonce in front (tweetnacl:
// nacl.secretbox(m, blob[0..24), key) === blob[24..)). The key and the plaintext are
// read from regions; only the ciphertext lands in ordinary memory. Opening verifies
// the MAC before it decrypts, so a forged blob writes no plaintext anywhere.
#include <sodium.h>

#include "binding.h"

namespace strongroom {
namespace {

constexpr size_t kOverhead = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES;

GuardedMemory& KeyArg(const Napi::CallbackInfo& info, size_t index) {
  GuardedMemory& key = RegionArg(info, index, "key");
  if (key.size() != crypto_secretbox_KEYBYTES) {
    Throw(info.Env(), "ERR_INVALID_ARG", "the key region must be exactly 32 bytes");
  }
  return key;
}

// (key, plaintext) -> Buffer blob. Node allocates a Buffer without zero-filling it;
// every byte is written below before it is returned.
Napi::Value Seal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GuardedMemory& key = KeyArg(info, 0);
  GuardedMemory& plain = RegionArg(info, 1, "plaintext");
  Napi::Buffer<uint8_t> blob = Napi::Buffer<uint8_t>::New(env, plain.size() + kOverhead);
  uint8_t* nonce = blob.Data();
  randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
  AccessScope read_key(key, Protection::kReadOnly);
  CheckAccess(env, read_key);
  AccessScope read_plain(plain, Protection::kReadOnly);
  CheckAccess(env, read_plain);
  crypto_secretbox_easy(nonce + crypto_secretbox_NONCEBYTES, plain.data(), plain.size(), nonce, key.data());
  return blob;
}

// (key, blob, target): target.size must be blob.length - 40. Throws ERR_AUTH.
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GuardedMemory& key = KeyArg(info, 0);
  Napi::Uint8Array blob = BytesArg(info, 1, "sealed");
  GuardedMemory& target = RegionArg(info, 2, "target");
  size_t length = blob.ByteLength();
  if (length <= kOverhead || target.size() != length - kOverhead) {
    Throw(env, "ERR_INVALID_ARG", "the target region must be exactly the sealed length minus 40 bytes");
  }
  const uint8_t* nonce = blob.Data();
  AccessScope read_key(key, Protection::kReadOnly);
  CheckAccess(env, read_key);
  AccessScope write(target, Protection::kReadWrite);
  CheckAccess(env, write);
  if (crypto_secretbox_open_easy(target.data(), nonce + crypto_secretbox_NONCEBYTES,
                                 length - crypto_secretbox_NONCEBYTES, nonce, key.data()) != 0) {
    sodium_memzero(target.data(), target.size());
    Throw(env, "ERR_AUTH",
          "the sealed bytes failed authentication: they were altered or truncated, or sealed under another key");
  }
  return env.Undefined();
}

}  // namespace

void InitSealing(Napi::Env env, Napi::Object exports) {
  exports.Set("seal", Napi::Function::New<Seal>(env, "seal"));
  exports.Set("open", Napi::Function::New<Open>(env, "open"));
}

}  // namespace strongroom
