// The sealed format, defined once for the whole addon (memguard keeps one Overhead, one
// Encrypt, one Decrypt): XSalsa20-Poly1305, NaCl crypto_secretbox, nonce in front.
//
//   sealed = nonce(24) || mac(16) || ciphertext          kSealOverhead = 40
//
// byte-for-byte what tweetnacl makes: nacl.secretbox(m, sealed[0..24), key) === sealed[24..).
// SealInto and OpenFrom differ from caller to caller only in where the key comes from:
// a key source is a callable `int source(use)` that runs `use(const uint8_t* key)` with
// the whole key readable and returns 0, or returns an errno without running it. The two
// sources are a key region (RegionKey, sealing.cc) and the coffer (Coffer::WithKey).
//
// Neither function runs JS or throws: the bindings turn a SealStatus into a
// StrongroomError (ThrowIfFailed) only after every AccessScope of the call has closed, so
// no JS ever runs while a region's protection is raised.
#pragma once

#include <napi.h>
#include <sodium.h>

#include <cstddef>
#include <cstdint>
#include <optional>

#include "guarded_memory.h"
#include "random.h"

namespace strongroom {

constexpr size_t kKeyBytes = crypto_secretbox_KEYBYTES;
constexpr size_t kNonceBytes = crypto_secretbox_NONCEBYTES;
constexpr size_t kMacBytes = crypto_secretbox_MACBYTES;
constexpr size_t kSealOverhead = kNonceBytes + kMacBytes;

// How a seal or an open ended.
enum class SealStatus {
  kOk,
  kAuth,    // the MAC did not verify: nothing was written (ERR_AUTH)
  kEmpty,   // the MAC verified over an empty message: there is nothing to open (ERR_EMPTY)
  kSystem,  // the key could not be reached (a failed mprotect; errno kept beside it)
};

// Writes nonce || mac || ciphertext of `size` bytes at `plain` into `sealed`, which holds
// size + kSealOverhead bytes. Returns 0, or the errno of drawing the nonce or of the key source.
//
// Both scrub the stack below them afterwards: libsodium 1.0.18's secretbox keeps the first
// 32 bytes of the message (and the one-time key) in stack locals it does not wipe
// (`block0`), which would leave up to 32 plaintext bytes in ordinary memory after an open.
template <typename KeySource>
int SealInto(uint8_t* sealed, const uint8_t* plain, size_t size, KeySource&& source) {
  if (int err = SystemRandom(sealed, kNonceBytes)) return err;
  int err = source([&](const uint8_t* key) { crypto_secretbox_easy(sealed + kNonceBytes, plain, size, sealed, key); });
  ScrubStack();
  return err;
}

// Opens `length` (>= kSealOverhead) sealed bytes into `target`, which holds exactly
// length - kSealOverhead bytes (nullptr when that is 0). The MAC is verified before a
// byte is decrypted; on kAuth the target is wiped. *err is set on kSystem.
//
// The sealed bytes are read once: nonce and MAC onto the stack (public), the ciphertext into
// the target, which is then opened in place. libsodium reads its input twice (the MAC check,
// then the decryption), so sealed bytes another thread can change meanwhile (a view of a
// SharedArrayBuffer) would otherwise decrypt bytes that were never authenticated.
template <typename KeySource>
SealStatus OpenFrom(uint8_t* target, const uint8_t* sealed, size_t length, KeySource&& source, int* err) {
  const size_t size = length - kSealOverhead;
  uint8_t header[kSealOverhead];  // nonce || mac
  memcpy(header, sealed, kSealOverhead);
  uint8_t nothing[1];  // where libsodium writes the zero bytes of an empty message
  uint8_t* out = size == 0 ? nothing : target;
  if (size > 0) memcpy(target, sealed + kSealOverhead, size);
  int verified = -1;
  *err = source([&](const uint8_t* key) {
    verified = crypto_secretbox_open_detached(out, out, header + kNonceBytes, size, header, key);
  });
  ScrubStack();
  if (*err != 0) return SealStatus::kSystem;
  if (verified != 0) {
    if (size > 0) sodium_memzero(target, size);
    return SealStatus::kAuth;
  }
  return size == 0 ? SealStatus::kEmpty : SealStatus::kOk;
}

// OpenFrom into a region: raises `target` (nullptr for a sealed empty message) to
// read-write for the length of the open only. Returns kSystem with *err set when the
// protection cannot be raised.
template <typename KeySource>
SealStatus OpenIntoRegion(GuardedMemory* target, const uint8_t* sealed, size_t length, KeySource&& source, int* err) {
  std::optional<AccessScope> write;
  if (target != nullptr) {
    write.emplace(*target, Protection::kReadWrite);
    if ((*err = write->error()) != 0) return SealStatus::kSystem;
  }
  return OpenFrom(target == nullptr ? nullptr : target->data(), sealed, length, source, err);
}

// Throws the StrongroomError of a status other than kOk; `auth_message` says why sealed
// bytes may fail authentication in this caller's context. Call it after the scopes close.
void ThrowIfFailed(Napi::Env env, SealStatus status, int err, const char* auth_message);

// The sealed-bytes argument at info[index]: a Uint8Array of at least kSealOverhead bytes
// (shorter is ERR_AUTH: truncated, or not sealed bytes at all).
Napi::Uint8Array SealedArg(const Napi::CallbackInfo& info, size_t index);

}  // namespace strongroom
