// age v1 decryption (see age.h for what is secret and where it lives, and the order of the
// checks). HKDF-SHA-256 (RFC 5869) is built on libsodium's HMAC-SHA-256; X25519 is
// crypto_scalarmult; scrypt is crypto_pwhash_scryptsalsa208sha256_ll; the stanza bodies
// and the payload are ChaCha20-Poly1305 IETF.
#include "age.h"

#include <errno.h>
#include <sodium.h>

#include <cstring>
#include <string>

#include "age_format.h"
#include "constant_time.h"
#include "random.h"

namespace strongroom {
namespace {

constexpr size_t kKeyBytes32 = 32;
constexpr size_t kChunkCipherBytes = kAgeChunkBytes + kAgeTagBytes;
constexpr char kScryptLabel[] = "age-encryption.org/v1/scrypt";
constexpr char kX25519Info[] = "age-encryption.org/v1/X25519";

static_assert(crypto_aead_chacha20poly1305_ietf_KEYBYTES == kKeyBytes32, "ChaCha20-Poly1305 takes 32-byte keys");
static_assert(crypto_aead_chacha20poly1305_ietf_ABYTES == kAgeTagBytes, "Poly1305 tags are 16 bytes");
static_assert(crypto_aead_chacha20poly1305_ietf_NPUBBYTES == 12, "IETF nonces are 12 bytes");

// Every derived secret of one decryption, in one private guarded region.
struct AgeSecrets {
  uint8_t prk[kKeyBytes32];          // HKDF-Extract's output
  uint8_t shared[kKeyBytes32];       // X25519 shared secret
  uint8_t wrap_key[kKeyBytes32];     // a stanza's wrap key
  uint8_t file_key[kAgeFileKeyBytes];
  uint8_t mac_key[kKeyBytes32];
  uint8_t mac[kAgeMacBytes];         // the header MAC computed here
  uint8_t payload_key[kKeyBytes32];
  uint8_t scalars[kAgeMaxIdentities][kAgeX25519Bytes];
};

// HKDF-SHA-256 with a 32-byte output: PRK = HMAC(salt, ikm); OKM = HMAC(PRK, info || 0x01).
// An empty salt is HMAC's zero-padded key, which RFC 5869's default (32 zero bytes) equals.
void Hkdf(uint8_t* out, const uint8_t* ikm, size_t ikm_length, const uint8_t* salt, size_t salt_length,
          const char* info, uint8_t* prk) {
  static const uint8_t kNoSalt[1] = {0};
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, salt_length == 0 ? kNoSalt : salt, salt_length);
  crypto_auth_hmacsha256_update(&state, ikm, ikm_length);
  crypto_auth_hmacsha256_final(&state, prk);
  const uint8_t counter = 1;
  crypto_auth_hmacsha256_init(&state, prk, kKeyBytes32);
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const uint8_t*>(info), strlen(info));
  crypto_auth_hmacsha256_update(&state, &counter, 1);
  crypto_auth_hmacsha256_final(&state, out);
  sodium_memzero(&state, sizeof state);
  sodium_memzero(prk, kKeyBytes32);
}

// A stanza body (32 bytes) opened under wrap_key with the all-zero nonce into file_key.
bool OpenBody(AgeSecrets& s, const uint8_t* body) {
  static const uint8_t kZeroNonce[12] = {};
  unsigned long long length = 0;
  return crypto_aead_chacha20poly1305_ietf_decrypt(s.file_key, &length, nullptr, body, kAgeBodyBytes, nullptr, 0,
                                                   kZeroNonce, s.wrap_key) == 0 &&
         length == kAgeFileKeyBytes;
}

bool Auth(Failure* failure, const std::string& message) { return Fail(failure, "ERR_AUTH", message); }

// The file key from the first X25519 stanza one of the identities opens.
bool UnwrapX25519(const AgeHeader& header, AgeSecrets& s, size_t identities, Failure* failure) {
  bool any = false;
  for (const AgeStanza& stanza : header.stanzas) {
    if (stanza.type != AgeStanzaType::kX25519) continue;
    any = true;
    for (size_t i = 0; i < identities; i++) {
      uint8_t salt[2 * kAgeX25519Bytes];
      memcpy(salt, stanza.share, kAgeX25519Bytes);
      crypto_scalarmult_base(salt + kAgeX25519Bytes, s.scalars[i]);  // the recipient: public
      // -1 when the result is all zeros (a low-order share): the spec says abort.
      if (crypto_scalarmult(s.shared, s.scalars[i], stanza.share) != 0) {
        return Fail(failure, kAgeFormat,
                    "the file is not a well-formed age v1 file: an X25519 stanza's share is a low-order point");
      }
      Hkdf(s.wrap_key, s.shared, kKeyBytes32, salt, sizeof salt, kX25519Info, s.prk);
      sodium_memzero(s.shared, sizeof s.shared);
      bool opened = OpenBody(s, stanza.body);
      sodium_memzero(s.wrap_key, sizeof s.wrap_key);
      if (opened) return true;
    }
  }
  if (!any) {
    for (const AgeStanza& stanza : header.stanzas) {
      if (stanza.type == AgeStanzaType::kScrypt) {
        return Fail(failure, "ERR_INVALID_ARG",
                    "the file is encrypted with a passphrase (an scrypt stanza): pass { passphrase } instead of "
                    "{ identity }");
      }
    }
    return Auth(failure, "the file has no X25519 recipient stanza, so no X25519 identity can decrypt it");
  }
  return Auth(failure, "no identity given opens any of the file's X25519 recipient stanzas: wrong identity");
}

// The file key from the header's one scrypt stanza, under the passphrase.
bool UnwrapScrypt(const AgeHeader& header, AgeSecrets& s, const uint8_t* passphrase, size_t length,
                  unsigned max_log_n, Failure* failure) {
  if (header.stanzas.empty() || header.stanzas[0].type != AgeStanzaType::kScrypt) {
    return Fail(failure, "ERR_INVALID_ARG",
                "the file is encrypted to recipients, not with a passphrase: pass { identity } instead of "
                "{ passphrase }");
  }
  const AgeStanza& stanza = header.stanzas[0];  // alone in its header (AgeParseHeader)
  if (stanza.log_n > max_log_n) {
    return Fail(failure, "ERR_TOO_LARGE",
                "the file's scrypt work factor is " + std::to_string(stanza.log_n) + ", above maxWorkFactor (" +
                    std::to_string(max_log_n) + "): scrypt needs 2^(work factor + 10) bytes of memory, so a file "
                    "from an untrusted source could exhaust it. Raise maxWorkFactor (at most " +
                    std::to_string(kAgeMaxScryptLogN) + ") only for a file you trust");
  }
  uint8_t salt[sizeof kScryptLabel - 1 + kAgeScryptSaltBytes];
  memcpy(salt, kScryptLabel, sizeof kScryptLabel - 1);
  memcpy(salt + sizeof kScryptLabel - 1, stanza.salt, kAgeScryptSaltBytes);
  errno = 0;
  int derived = crypto_pwhash_scryptsalsa208sha256_ll(passphrase, length, salt, sizeof salt, uint64_t{1} << stanza.log_n,
                                                      8, 1, s.wrap_key, kKeyBytes32);
  if (derived != 0) {
    int err = errno;
    sodium_memzero(s.wrap_key, sizeof s.wrap_key);
    return Fail(failure, "ERR_NO_MEMORY",
                "scrypt could not allocate its " + std::to_string((uint64_t{1024} << stanza.log_n) >> 20) +
                    " MiB of working memory (" + strerror(err != 0 ? err : ENOMEM) + ")");
  }
  bool opened = OpenBody(s, stanza.body);
  sodium_memzero(s.wrap_key, sizeof s.wrap_key);
  return opened || Auth(failure, "the passphrase does not open the file's scrypt stanza: wrong passphrase");
}

// The chunk nonce: an 11-byte big-endian counter and the last-chunk flag.
void ChunkNonce(uint8_t nonce[12], uint64_t counter, bool last) {
  memset(nonce, 0, 12);
  for (int i = 10; i >= 3 && counter != 0; i--) {
    nonce[i] = static_cast<uint8_t>(counter & 0xff);
    counter >>= 8;
  }
  nonce[11] = last ? 1 : 0;
}

bool OpenChunk(uint8_t* out, const uint8_t* chunk, size_t plain_length, uint64_t counter, bool last,
               const uint8_t* key) {
  uint8_t nonce[12];
  ChunkNonce(nonce, counter, last);
  return crypto_aead_chacha20poly1305_ietf_decrypt_detached(out, nullptr, chunk, plain_length, chunk + plain_length,
                                                            nullptr, 0, nonce, key) == 0;
}

// The payload (nonce and chunks) into a fresh region. Every chunk is authenticated before
// its bytes are written; any failure leaves *out empty, the region wiped and freed.
bool DecryptPayload(const uint8_t* payload, size_t length, AgeSecrets& s, const AgeRequest& request,
                    std::shared_ptr<GuardedMemory>* out, Failure* failure) {
  if (length < kAgeNonceBytes + kAgeTagBytes) {
    return Auth(failure, "the payload is truncated: it is shorter than its nonce and one authenticated chunk");
  }
  Hkdf(s.payload_key, s.file_key, kAgeFileKeyBytes, payload, kAgeNonceBytes, "payload", s.prk);
  const uint8_t* chunks = payload + kAgeNonceBytes;
  const size_t cipher = length - kAgeNonceBytes;
  const size_t full = cipher / kChunkCipherBytes;
  const size_t rest = cipher % kChunkCipherBytes;
  if (rest != 0 && rest < kAgeTagBytes) {
    return Auth(failure, "the payload is truncated or extended: its last chunk is shorter than a Poly1305 tag");
  }
  const size_t count = full + (rest != 0 ? 1 : 0);
  const size_t plain = full * kAgeChunkBytes + (rest != 0 ? rest - kAgeTagBytes : 0);
  std::shared_ptr<GuardedMemory> region;
  if (plain > 0) {
    region = GuardedMemory::Allocate(plain, request.backend, request.policy, failure);
    if (!region) return false;
  }
  uint8_t nothing[1];
  bool ok = true;
  for (size_t i = 0; i < count && ok; i++) {
    const bool last = i + 1 == count;
    const uint8_t* chunk = chunks + i * kChunkCipherBytes;
    const size_t chunk_plain = (last ? cipher - i * kChunkCipherBytes : kChunkCipherBytes) - kAgeTagBytes;
    uint8_t* into = chunk_plain == 0 ? nothing : region->data() + i * kAgeChunkBytes;
    if (OpenChunk(into, chunk, chunk_plain, i, last, s.payload_key)) {
      if (last && chunk_plain == 0 && i > 0) {
        ok = Fail(failure, kAgeFormat,
                  "the file is not a well-formed age v1 file: its final chunk is empty, which the spec allows only "
                  "for an empty payload");
      }
      continue;
    }
    // Which way the file was altered, for the message (both are ERR_AUTH): a full final
    // chunk that opens without the last-chunk flag means the real final chunk was cut off;
    // a chunk that opens as the final one with more data after it means data was appended.
    if (last && chunk_plain == kAgeChunkBytes && OpenChunk(into, chunk, chunk_plain, i, false, s.payload_key)) {
      ok = Auth(failure, "the payload is truncated: it ends at a chunk boundary without its final chunk");
    } else if (!last && OpenChunk(into, chunk, chunk_plain, i, true, s.payload_key)) {
      ok = Auth(failure, "the payload has data after its final chunk (chunk " + std::to_string(i + 1) + " of " +
                             std::to_string(count) + ")");
    } else {
      ok = Auth(failure, "payload chunk " + std::to_string(i + 1) + " of " + std::to_string(count) +
                             " failed authentication: the file was truncated or altered");
    }
  }
  sodium_memzero(s.payload_key, sizeof s.payload_key);
  nothing[0] = 0;
  if (!ok) {
    if (region) region->Release();
    return false;
  }
  if (!region) {
    return Fail(failure, "ERR_EMPTY",
                "the age file is authentic but its plaintext is empty, and a region cannot be empty");
  }
  *out = std::move(region);
  return true;
}

bool Decrypt(uint8_t* file, size_t length, const AgeRequest& request, AgeSecrets& s, const uint8_t* key,
             std::shared_ptr<GuardedMemory>* out, Failure* failure) {
  if (AgeIsArmored(file, length) && !AgeDearmor(file, length, &length, failure)) return false;
  AgeHeader header;
  if (!AgeParseHeader(file, length, &header, failure)) return false;
  bool unwrapped = false;
  if (request.kind == AgeKeyKind::kIdentity) {
    size_t identities = AgeCountIdentityLines(key, request.key->size());
    if (identities == 0) {
      return Fail(failure, "ERR_INVALID_ARG",
                  "the identity holds no AGE-SECRET-KEY-1… line (only empty lines and # comments)");
    }
    if (identities > kAgeMaxIdentities) {
      return Fail(failure, "ERR_INVALID_ARG",
                  "the identity holds " + std::to_string(identities) + " keys, more than the " +
                      std::to_string(kAgeMaxIdentities) + " accepted at once");
    }
    unwrapped = AgeDecodeIdentities(key, request.key->size(), &s.scalars[0][0], identities, failure) &&
                UnwrapX25519(header, s, identities, failure);
  } else {
    unwrapped = UnwrapScrypt(header, s, key, request.key->size(), request.max_log_n, failure);
  }
  if (!unwrapped) return false;
  // The header MAC, before a byte of the payload is looked at.
  Hkdf(s.mac_key, s.file_key, kAgeFileKeyBytes, nullptr, 0, "header", s.prk);  // an empty salt
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, s.mac_key, sizeof s.mac_key);
  crypto_auth_hmacsha256_update(&state, file, header.mac_input_length);
  crypto_auth_hmacsha256_final(&state, s.mac);
  sodium_memzero(&state, sizeof state);
  if (!ConstantTimeEqual(s.mac, header.mac, kAgeMacBytes)) {
    return Auth(failure, "the header MAC does not verify: the header was altered");
  }
  return DecryptPayload(file + header.payload_offset, length - header.payload_offset, s, request, out, failure);
}

constexpr size_t kStanzaLineBytes = sizeof "-> X25519 " - 1 + 43 + 1 + 43 + 1;
constexpr size_t kVersionLineBytes = sizeof "age-encryption.org/v1\n" - 1;
constexpr size_t kMacLineBytes = sizeof "--- " - 1 + 43 + 1;

size_t ChunkCount(size_t length) { return length == 0 ? 1 : (length + kAgeChunkBytes - 1) / kAgeChunkBytes; }

size_t HeaderBytes(size_t recipients) { return kVersionLineBytes + recipients * kStanzaLineBytes + kMacLineBytes; }

void PutBase64(uint8_t* out, size_t* at, const uint8_t* bytes, size_t length) {
  char text[64];
  sodium_bin2base64(text, sizeof text, bytes, length, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
  size_t n = strlen(text);
  memcpy(out + *at, text, n);
  *at += n;
}

void PutText(uint8_t* out, size_t* at, const char* text) {
  size_t n = strlen(text);
  memcpy(out + *at, text, n);
  *at += n;
}

// Everything AgeEncrypt does with the private region.
bool Encrypt(const uint8_t* plain, size_t length, const uint8_t (*recipients)[32], size_t count, AgeSecrets& s,
             uint8_t* out, Failure* failure) {
  if (int err = SystemRandom(s.file_key, sizeof s.file_key)) {
    return Fail(failure, "ERR_SYSTEM", std::string("getrandom failed: ") + strerror(err));
  }
  size_t at = 0;
  PutText(out, &at, "age-encryption.org/v1\n");
  for (size_t i = 0; i < count; i++) {
    uint8_t* ephemeral = s.scalars[0];
    if (int err = SystemRandom(ephemeral, kAgeX25519Bytes)) {
      return Fail(failure, "ERR_SYSTEM", std::string("getrandom failed: ") + strerror(err));
    }
    uint8_t salt[2 * kAgeX25519Bytes];
    crypto_scalarmult_base(salt, ephemeral);  // the share: public
    memcpy(salt + kAgeX25519Bytes, recipients[i], kAgeX25519Bytes);
    if (crypto_scalarmult(s.shared, ephemeral, recipients[i]) != 0) {
      return Fail(failure, "ERR_INVALID_ARG", "recipient " + std::to_string(i + 1) + " is a low-order point, not a public key");
    }
    sodium_memzero(ephemeral, kAgeX25519Bytes);
    Hkdf(s.wrap_key, s.shared, kKeyBytes32, salt, sizeof salt, kX25519Info, s.prk);
    sodium_memzero(s.shared, sizeof s.shared);
    static const uint8_t kZeroNonce[12] = {};
    uint8_t body[kAgeBodyBytes];
    crypto_aead_chacha20poly1305_ietf_encrypt(body, nullptr, s.file_key, kAgeFileKeyBytes, nullptr, 0, nullptr,
                                              kZeroNonce, s.wrap_key);
    sodium_memzero(s.wrap_key, sizeof s.wrap_key);
    PutText(out, &at, "-> X25519 ");
    PutBase64(out, &at, salt, kAgeX25519Bytes);
    PutText(out, &at, "\n");
    PutBase64(out, &at, body, sizeof body);
    PutText(out, &at, "\n");
  }
  PutText(out, &at, "---");
  Hkdf(s.mac_key, s.file_key, kAgeFileKeyBytes, nullptr, 0, "header", s.prk);  // an empty salt
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, s.mac_key, sizeof s.mac_key);
  crypto_auth_hmacsha256_update(&state, out, at);
  crypto_auth_hmacsha256_final(&state, s.mac);
  sodium_memzero(&state, sizeof state);
  PutText(out, &at, " ");
  PutBase64(out, &at, s.mac, sizeof s.mac);
  PutText(out, &at, "\n");
  uint8_t* nonce = out + at;
  if (int err = SystemRandom(nonce, kAgeNonceBytes)) {
    return Fail(failure, "ERR_SYSTEM", std::string("getrandom failed: ") + strerror(err));
  }
  at += kAgeNonceBytes;
  Hkdf(s.payload_key, s.file_key, kAgeFileKeyBytes, nonce, kAgeNonceBytes, "payload", s.prk);
  const size_t chunks = ChunkCount(length);
  for (size_t i = 0; i < chunks; i++) {
    const size_t n = i + 1 == chunks ? length - i * kAgeChunkBytes : kAgeChunkBytes;
    uint8_t chunk_nonce[12];
    ChunkNonce(chunk_nonce, i, i + 1 == chunks);
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(out + at, out + at + n, nullptr, plain + i * kAgeChunkBytes, n,
                                                       nullptr, 0, nullptr, chunk_nonce, s.payload_key);
    at += n + kAgeTagBytes;
  }
  sodium_memzero(s.payload_key, sizeof s.payload_key);
  return true;
}

}  // namespace

size_t AgeEncryptedSize(size_t length, size_t recipients) {
  return HeaderBytes(recipients) + kAgeNonceBytes + length + ChunkCount(length) * kAgeTagBytes;
}

bool AgeEncrypt(const uint8_t* plain, size_t length, const uint8_t (*recipients)[32], size_t count, Backend backend,
                MlockPolicy policy, uint8_t* out, Failure* failure) {
  auto secrets = GuardedMemory::Allocate(sizeof(AgeSecrets), backend, policy, failure);
  if (!secrets) return false;
  bool ok = Encrypt(plain, length, recipients, count, *reinterpret_cast<AgeSecrets*>(secrets->data()), out, failure);
  ScrubStack();  // the primitives' frames: keys, keystream, the partial block of plaintext
  secrets->Release();
  if (!ok) sodium_memzero(out, AgeEncryptedSize(length, count));
  return ok;
}

bool AgeDecrypt(uint8_t* file, size_t length, const AgeRequest& request, std::shared_ptr<GuardedMemory>* out,
                Failure* failure) {
  out->reset();
  auto secrets = GuardedMemory::Allocate(sizeof(AgeSecrets), request.backend, request.policy, failure);
  if (!secrets) return false;
  bool ok = false;
  {
    AccessScope read(*request.key, Protection::kReadOnly);
    if (read.error() != 0) {
      ok = Fail(failure, "ERR_SYSTEM", std::string("could not make the key region readable: ") + strerror(read.error()));
    } else {
      ok = Decrypt(file, length, request, *reinterpret_cast<AgeSecrets*>(secrets->data()), request.key->data(), out,
                   failure);
    }
  }
  // The scalars, shared secrets, keys and HMAC states of the primitives' own frames.
  ScrubStack();
  secrets->Release();
  if (!ok && *out) {
    (*out)->Release();
    out->reset();
  }
  return ok;
}

}  // namespace strongroom
