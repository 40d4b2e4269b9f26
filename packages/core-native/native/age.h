// age v1 decryption (age-encryption.org/v1, c2sp.org/age) into guarded memory. No N-API in
// here: age_binding.cc reads the file and the arguments, runs AgeDecrypt and turns its
// Failure into a StrongroomError after every access scope has closed.
//
// What is secret, and where it lives:
//   - the identity text (AGE-SECRET-KEY-1…) or the passphrase: the caller's region, raised
//     to 'readonly' for the length of the call;
//   - the X25519 scalars decoded from the identity text (bech32, decoded bit by bit straight
//     into guarded memory), the shared secrets, the wrap keys, the file key, the header MAC
//     key and the payload key: one private guarded region (AgeSecrets), wiped and freed on
//     every path;
//   - the plaintext: a fresh region of exactly its size, written chunk by chunk, each chunk
//     authenticated before it is written; on any failure it is wiped and freed;
//   - libsodium's HMAC-SHA-256 states (HKDF) are wiped; the stack below each primitive is
//     scrubbed (ScrubStack) after it.
// The file itself (header and ciphertext, nothing secret) is read natively into a guarded
// region by reader.cc's steps and de-armored in place.
//
// Order of checks: the whole header is parsed strictly first (a malformed header, an scrypt
// stanza beside another stanza, a work factor above the bound: ERR_AGE_FORMAT or
// ERR_TOO_LARGE, before any key is used); then the file key is unwrapped (no stanza
// unwraps: ERR_AUTH); then the header MAC is verified (ERR_AUTH); only then is the payload
// touched, and a chunk that fails authentication, a truncated payload, a final chunk
// without the last-chunk flag, or data after the final chunk is ERR_AUTH with no region
// left behind.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "guarded_memory.h"

namespace strongroom {

constexpr const char* kAgeFormat = "ERR_AGE_FORMAT";

// The payload is cut into chunks of 64 KiB of plaintext, each with a 16-byte Poly1305 tag.
constexpr size_t kAgeChunkBytes = 64 * 1024;
constexpr size_t kAgeTagBytes = 16;
constexpr size_t kAgeNonceBytes = 16;
constexpr size_t kAgeFileKeyBytes = 16;
// scrypt work factors (log2 N) accepted: 1 to kAgeMaxScryptLogN, the ceiling of the
// maxWorkFactor option. 2^22 is age's own default limit: scrypt then needs 128 * r * N =
// 4 GiB. The default (kAgeDefaultScryptLogN, 256 MiB) is what `age -p` writes.
constexpr unsigned kAgeMaxScryptLogN = 22;
constexpr unsigned kAgeDefaultScryptLogN = 18;
// The most identities one identity text may hold (an identity file of age-keygen holds one).
constexpr size_t kAgeMaxIdentities = 64;

enum class AgeKeyKind { kIdentity = 0, kPassphrase = 1 };

struct AgeRequest {
  GuardedMemory* key = nullptr;  // the identity text or the passphrase (any protection)
  AgeKeyKind kind = AgeKeyKind::kIdentity;
  unsigned max_log_n = kAgeDefaultScryptLogN;
  Backend backend = Backend::kMmap;  // of the plaintext and of the private secrets
  MlockPolicy policy = MlockPolicy::kRequire;
};

// Decrypts the age file in file[0..length) (binary, or armored: de-armored in place, so
// `file` must be writable). On success *out holds a fresh 'readwrite' region of the
// plaintext; on failure *out is empty and nothing is left behind. An authentic file whose
// plaintext is empty is ERR_EMPTY (a region cannot be empty).
bool AgeDecrypt(uint8_t* file, size_t length, const AgeRequest& request, std::shared_ptr<GuardedMemory>* out,
                Failure* failure);

// The binary size of an age file of `length` plaintext bytes for `recipients` X25519
// recipients, as AgeEncrypt writes it.
size_t AgeEncryptedSize(size_t length, size_t recipients);

// Encrypts plain[0..length) (readable) to X25519 recipients (32-byte public keys) into
// out[0..AgeEncryptedSize(length, count)): a fresh file key, an ephemeral key per stanza
// and the payload nonce from getrandom; the file key, ephemeral secrets and derived keys in
// a private guarded region (backend/policy), wiped and freed on every path. Only the
// ciphertext lands in `out`. False (ERR_SYSTEM, ERR_INVALID_ARG for a low-order recipient,
// or an allocation's code) with `out` wiped.
bool AgeEncrypt(const uint8_t* plain, size_t length, const uint8_t (*recipients)[32], size_t count, Backend backend,
                MlockPolicy policy, uint8_t* out, Failure* failure);

}  // namespace strongroom
