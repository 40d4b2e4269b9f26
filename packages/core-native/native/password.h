// The facts of Argon2id password hashing (password.cc): libsodium 1.0.18's bounds for
// crypto_pwhash_argon2id and the shape of the strings strongroom writes. addon.cc exports
// them in `constants`; the TypeScript layer reads them from there. No N-API here.
#pragma once

#include <sodium.h>

#include <cstddef>
#include <cstdint>

namespace strongroom {

// timeCost (passes, libsodium's opslimit).
constexpr uint64_t kArgon2MinTimeCost = crypto_pwhash_argon2id_OPSLIMIT_MIN;
constexpr uint64_t kArgon2MaxTimeCost = crypto_pwhash_argon2id_OPSLIMIT_MAX;
// memoryCost in KiB (libsodium's memlimit is in bytes; the encoded string's m= is KiB).
constexpr uint64_t kArgon2MinMemoryCost = crypto_pwhash_argon2id_MEMLIMIT_MIN / 1024U;
constexpr uint64_t kArgon2MaxMemoryCost = crypto_pwhash_argon2id_MEMLIMIT_MAX / 1024U;
// libsodium 1.0.18 computes Argon2id with one lane only.
constexpr uint32_t kArgon2Parallelism = 1;
// Argon2 1.3, the v=19 of an encoded string.
constexpr uint32_t kArgon2Version = 19;
// What hashPassword() writes: a 16-byte salt and a 32-byte hash, as crypto_pwhash_argon2id_str does.
constexpr size_t kArgon2SaltBytes = crypto_pwhash_argon2id_SALTBYTES;
constexpr size_t kArgon2HashBytes = 32;
// What verifyPassword() accepts besides: Argon2's smallest salt and hash.
constexpr size_t kArgon2MinSaltBytes = 8;
constexpr size_t kArgon2MinHashBytes = crypto_pwhash_argon2id_BYTES_MIN;
// The longest encoded string, without its NUL (libsodium's needs_rehash refuses longer ones).
constexpr size_t kArgon2MaxEncodedLength = crypto_pwhash_argon2id_STRBYTES - 1;

}  // namespace strongroom
