// Envelope decryption on a PKCS#11 token (pkcs11.cc): a minimal Cryptoki caller that loads a
// module with dlopen, logs in with a PIN read straight from a guarded region, finds the key
// encryption key by label and/or id, and lets the token decrypt a wrapped data key
// (CKM_AES_GCM or CKM_RSA_PKCS_OAEP) straight into a new guarded region. The key encryption
// key never leaves the token; the PIN and the plaintext never touch a JS value, a
// std::string or a std::vector. No N-API in here: pkcs11_binding.cc runs it on the libuv
// pool and turns a Failure into a StrongroomError.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "guarded_memory.h"

namespace strongroom {

enum class Pkcs11Mechanism : int { kAesGcm = 0, kRsaOaep = 1 };
// The OAEP hash, used for the label hash and for MGF1 alike.
enum class OaepHash : int { kSha256 = 0, kSha1 = 1 };

// AES-GCM as strongroom asks the token for it: a 128-bit tag after the ciphertext.
constexpr size_t kGcmTagBytes = 16;
// The IV length of the combined form iv || ciphertext || tag (NIST SP 800-38D's 96 bits).
constexpr size_t kGcmIvBytes = 12;
// PKCS#11 v2.40 allows IVs of 1 to 256 bytes.
constexpr size_t kGcmMaxIvBytes = 256;
// A token label: 32 bytes, padded with spaces.
constexpr size_t kTokenLabelBytes = 32;
// The longest ciphertext accepted (a wrapped data key is tens or hundreds of bytes).
constexpr size_t kPkcs11MaxCiphertext = 64 * 1024;

// What to decrypt, where. Nothing in it is secret: the ciphertext is a wrapped key, the
// labels and the id name objects.
struct Pkcs11Request {
  std::string module;              // path given to dlopen
  bool by_slot = false;            // slot, else the token whose label is token_label
  unsigned long slot = 0;
  std::string token_label;
  bool has_key_label = false;
  std::string key_label;
  bool has_key_id = false;
  std::vector<uint8_t> key_id;
  Pkcs11Mechanism mechanism = Pkcs11Mechanism::kAesGcm;
  OaepHash oaep_hash = OaepHash::kSha256;
  std::vector<uint8_t> ciphertext;  // AES-GCM: ciphertext || tag; RSA-OAEP: the RSA block
  std::vector<uint8_t> iv;          // AES-GCM only
  std::vector<uint8_t> aad;         // AES-GCM only (may be empty)
  Backend backend = Backend::kMmap;
  MlockPolicy policy = MlockPolicy::kRequire;
};

// The whole exchange: load, C_Initialize, find the token, open a session, log in with the
// PIN (raised to readonly only around C_Login), find the key, decrypt into a new region of
// exactly the plaintext's length (readwrite, as the readers of io.cc leave theirs), then
// C_Logout, C_CloseSession, C_Finalize and dlclose on every path. Calls are serialised
// process-wide (C_Initialize and C_Finalize are per process and module): a call made while
// another runs waits on this thread (a libuv pool thread) for its turn. Returns the region,
// or nullptr with *failure filled; on failure no plaintext byte is left in any region.
// Runs on any thread; blocks for as long as the token takes.
std::shared_ptr<GuardedMemory> Pkcs11Decrypt(const Pkcs11Request& request, GuardedMemory& pin, Failure* failure);

}  // namespace strongroom
