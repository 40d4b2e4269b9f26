// Argon2id password hashing on libsodium's crypto_pwhash_argon2id family, run on the libuv
// thread pool as Node-API async work, so that the event loop keeps serving while a hash
// spends its milliseconds and megabytes.
//
// The password never leaves guarded memory. On the JS thread it is copied natively from
// the caller's region into a private region that the work owns, 'noaccess' at rest and
// never seen by JS; the worker raises it to 'readonly' only around the hash; it is wiped
// and freed when the work settles, and by the work's destructor on every other path. So
// a caller may free or destroy its own region as soon as the call has returned.
//
// Hashing draws the 16-byte salt from getrandom (random.h: crypto_pwhash_argon2id_str
// would draw it with randombytes_buf, which aborts the process when getrandom fails),
// derives 32 bytes with crypto_pwhash_argon2id and writes them in the exact format of
// crypto_pwhash_argon2id_str: $argon2id$v=19$m=<KiB>,t=<passes>,p=1$<salt>$<hash>, both in
// unpadded standard base64.
//
// Verifying parses the string strictly first (ParseEncoded, on the JS thread), so that an
// argon2i or argon2d string, another version, p > 1 or a malformed string is a typed error,
// never a plain false. A string with a 16-byte salt (what libsodium, the argon2 package and
// most others write) is recomputed with crypto_pwhash_argon2id and compared with
// sodium_memcmp, so that a failed allocation is ERR_NO_MEMORY. Any other salt length goes to
// crypto_pwhash_argon2id_str_verify, which in 1.0.18 reports a failed allocation of Argon2's
// memory as a mismatch (false, never a match).
//
// libsodium wipes the BLAKE2b state that absorbed the password (Argon2's H0), but not the
// locals of its compress step (the message words: the password's own bytes on a
// little-endian machine): the worker scrubs its stack after every hash, so nothing of the
// password waits on a pool thread's stack for Argon2's later frames to overwrite it.
#include "password.h"

#include <errno.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "binding.h"
#include "random.h"

namespace strongroom {
namespace {

constexpr int kBase64 = sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
constexpr const char* kUnsupported = "ERR_UNSUPPORTED_HASH";
constexpr const char* kForm = "$argon2id$v=19$m=<KiB>,t=<passes>,p=1$<salt>$<hash>";
constexpr const char* kRehash =
    "Verify it with the library that wrote it, then rehash the password with hashPassword()";

// The longest prefix hashPassword() writes: every field at its largest.
constexpr size_t kMaxPrefix = sizeof "$argon2id$v=19$m=4294967295,t=4294967295,p=1$" - 1;
static_assert(kArgon2MaxMemoryCost <= 4294967295U && kArgon2MaxTimeCost <= 4294967295U, "costs fit in u32");
static_assert(kMaxPrefix + sodium_base64_ENCODED_LEN(kArgon2SaltBytes, kBase64) +
                      sodium_base64_ENCODED_LEN(kArgon2HashBytes, kBase64) <=
                  kArgon2MaxEncodedLength + 1,
              "an encoded hash fits in crypto_pwhash_argon2id_STRBYTES");

// ---- the encoded string ----

struct EncodedHash {
  uint64_t memory_kib = 0;
  uint64_t time_cost = 0;
  uint8_t salt[kArgon2MaxEncodedLength] = {};
  size_t salt_len = 0;
  uint8_t hash[kArgon2MaxEncodedLength] = {};
  size_t hash_len = 0;
};

bool Malformed(Failure* failure, const std::string& why) {
  return Fail(failure, "ERR_INVALID_ARG",
              "the encoded hash is malformed: " + why + ". An argon2id hash string reads " + kForm);
}

bool Literal(const char*& p, const char* text) {
  size_t length = strlen(text);
  if (strncmp(p, text, length) != 0) return false;
  p += length;
  return true;
}

// A decimal as Argon2 writes it: digits only, no leading zero, at most 2^32 - 1.
bool Decimal(const char*& p, uint64_t* value) {
  const char* start = p;
  uint64_t n = 0;
  while (*p >= '0' && *p <= '9') {
    n = n * 10 + static_cast<uint64_t>(*p - '0');
    if (n > 4294967295U) return false;
    p++;
  }
  if (p == start || (*start == '0' && p - start > 1)) return false;
  *value = n;
  return true;
}

// Unpadded standard base64 up to the next `stop` (or the end of the string), nothing else.
bool Base64Field(const char*& p, char stop, uint8_t* out, size_t capacity, size_t* length) {
  const char* end = stop == '\0' ? nullptr : strchr(p, stop);
  if (end == nullptr) end = p + strlen(p);
  const char* parsed_end = nullptr;
  if (sodium_base642bin(out, capacity, p, static_cast<size_t>(end - p), nullptr, length, &parsed_end, kBase64) != 0 ||
      parsed_end != end) {
    return false;
  }
  p = end;
  return true;
}

// The one parser of encoded hashes (verifyPassword and needsRehash). Accepts exactly what
// libsodium 1.0.18 verifies: $argon2id$v=19$m=<KiB>,t=<passes>,p=1$<salt>$<hash>, minimal
// decimals, unpadded base64, a salt of 8 bytes or more and a hash of 16 or more.
bool ParseEncoded(const std::string& text, EncodedHash* out, Failure* failure) {
  if (text.size() > kArgon2MaxEncodedLength) {
    return Malformed(failure, "it is " + std::to_string(text.size()) + " characters long, and an argon2id hash is at most " +
                                  std::to_string(kArgon2MaxEncodedLength));
  }
  if (text.find('\0') != std::string::npos) return Malformed(failure, "it contains a NUL character");
  const char* p = text.c_str();
  if (!Literal(p, "$argon2id$")) {
    for (const char* variant : {"argon2i", "argon2d"}) {
      if (text.compare(0, strlen(variant) + 2, std::string("$") + variant + "$") == 0) {
        return Fail(failure, kUnsupported,
                    std::string("this is an ") + variant + " hash, and libsodium 1.0.18, which strongroom uses, " +
                        "verifies argon2id only. " + kRehash);
      }
    }
    return Malformed(failure, "it does not start with $argon2id$");
  }
  uint64_t version = 0;
  if (strncmp(p, "m=", 2) == 0) {
    return Fail(failure, kUnsupported,
                std::string("this hash has no v= field, so it is Argon2 version 16 (1.0), and libsodium 1.0.18, which ") +
                    "strongroom uses, verifies version 19 (1.3) only. " + kRehash);
  }
  if (!Literal(p, "v=") || !Decimal(p, &version) || !Literal(p, "$")) {
    return Malformed(failure, "expected v=<version> after $argon2id$");
  }
  if (version != kArgon2Version) {
    return Fail(failure, kUnsupported,
                "this hash is Argon2 version " + std::to_string(version) +
                    ", and libsodium 1.0.18, which strongroom uses, verifies version 19 (1.3) only. " + kRehash);
  }
  uint64_t lanes = 0;
  if (!Literal(p, "m=") || !Decimal(p, &out->memory_kib) || !Literal(p, ",t=") || !Decimal(p, &out->time_cost) ||
      !Literal(p, ",p=") || !Decimal(p, &lanes)) {
    return Malformed(failure, "expected m=<KiB>,t=<passes>,p=<lanes>, in that order, after the version");
  }
  if (lanes == 0) return Malformed(failure, "p=0 (Argon2 needs at least one lane)");
  if (lanes != kArgon2Parallelism) {
    return Fail(failure, kUnsupported,
                "this hash was computed with p=" + std::to_string(lanes) +
                    " lanes, and libsodium 1.0.18, which strongroom uses, computes Argon2id with one lane (p=1) only. " +
                    kRehash);
  }
  if (*p == ',') {
    return Fail(failure, kUnsupported,
                std::string("this hash has parameters after p= (keyid or data), which libsodium 1.0.18 does not "
                            "verify. ") + kRehash);
  }
  if (!Literal(p, "$")) return Malformed(failure, "expected $ and the salt after p=1");
  if (out->memory_kib < kArgon2MinMemoryCost) {
    return Malformed(failure, "m=" + std::to_string(out->memory_kib) + " is below Argon2's minimum of " +
                                  std::to_string(kArgon2MinMemoryCost) + " KiB");
  }
  if (out->time_cost < kArgon2MinTimeCost) return Malformed(failure, "t=0 (Argon2 needs at least one pass)");
  if (!Base64Field(p, '$', out->salt, sizeof out->salt, &out->salt_len) || !Literal(p, "$")) {
    return Malformed(failure, "the salt is not unpadded base64 followed by $");
  }
  if (out->salt_len < kArgon2MinSaltBytes) {
    return Malformed(failure, "the salt is " + std::to_string(out->salt_len) + " bytes, and Argon2 needs at least " +
                                  std::to_string(kArgon2MinSaltBytes));
  }
  if (!Base64Field(p, '\0', out->hash, sizeof out->hash, &out->hash_len)) {
    return Malformed(failure, "the hash is not unpadded base64 up to the end of the string");
  }
  if (out->hash_len < kArgon2MinHashBytes) {
    return Malformed(failure, "the hash is " + std::to_string(out->hash_len) + " bytes, and Argon2 writes at least " +
                                  std::to_string(kArgon2MinHashBytes));
  }
  return true;
}

// ---- the work ----

// kOk: hashed, or the password matches.
enum class Outcome { kOk, kMismatch, kNoMemory, kProtect, kRandom, kUndecodable, kUnexpected };

// One hash or verification: owns the private copy of the password and the promise.
class PasswordWork : public Napi::AsyncWorker {
 public:
  PasswordWork(Napi::Env env, const char* name, std::shared_ptr<GuardedMemory> password, uint64_t memory_kib)
      : Napi::AsyncWorker(env, name),
        promise_(env),
        password_(std::move(password)),
        memory_kib_(memory_kib) {}
  // On the JS thread, on every path (settled, or never queued): the copy is wiped and freed.
  ~PasswordWork() override { password_->Release(); }
  Napi::Promise Promise() const { return promise_.Promise(); }

 protected:
  // On the worker, with the password readable: sets outcome_ (and err_). Nothing in it throws.
  virtual void Compute(const uint8_t* password, size_t length) = 0;
  // On the JS thread, for kOk and kMismatch.
  virtual Napi::Value Result(Napi::Env env) = 0;

  uint64_t memory_kib() const { return memory_kib_; }
  Outcome outcome_ = Outcome::kUnexpected;
  int err_ = 0;

 private:
  void Execute() final {
    Run();
    ScrubWorkerStack();  // binding.h: deeper than crypto_pwhash_argon2id's frames
  }

  __attribute__((noinline)) void Run() {
    try {
      AccessScope read(*password_, Protection::kReadOnly);
      if (read.error() != 0) {
        outcome_ = Outcome::kProtect;
        err_ = read.error();
        return;
      }
      Compute(password_->data(), password_->size());
    } catch (...) {
      outcome_ = Outcome::kUnexpected;
    }
  }

  // No C++ exception may leave a completion (invariant 9): one thrown while settling (a
  // message that cannot be allocated) rejects the promise instead (WorkPromise); when the
  // environment is being torn down nothing can be settled, and the destructor still frees
  // the copy.
  void OnOK() final {
    promise_.Settle(Env(), [this] { Settle(); });
  }
  void OnError(const Napi::Error&) final { OnOK(); }

  void Settle() {
    Napi::Env env = Env();
    password_->Release();
    const char* code = "ERR_SYSTEM";
    std::string message;
    switch (outcome_) {
      case Outcome::kOk:
      case Outcome::kMismatch:
        try {
          promise_.Resolve(Result(env));
        } catch (const Napi::Error& error) {
          promise_.Reject(error.Value());
        }
        return;
      case Outcome::kNoMemory:
        code = "ERR_NO_MEMORY";
        message = "Argon2id could not allocate its " + std::to_string(memory_kib_) + " KiB of working memory (" +
                  strerror(err_ != 0 ? err_ : ENOMEM) + "); lower memoryCost, run fewer hashes at once, or free memory";
        break;
      case Outcome::kProtect:
        message = std::string("could not make the private copy of the password readable: ") + strerror(err_);
        break;
      case Outcome::kRandom:
        message = std::string("getrandom failed while drawing the salt: ") + strerror(err_);
        break;
      case Outcome::kUndecodable:
        code = "ERR_INVALID_ARG";
        message = std::string("libsodium could not decode the encoded hash. An argon2id hash string reads ") + kForm;
        break;
      case Outcome::kUnexpected:
        message = "unexpected failure while hashing a password";
        break;
    }
    promise_.Reject(MakeError(env, code, message).Value());
  }

  WorkPromise promise_;
  std::shared_ptr<GuardedMemory> password_;
  uint64_t memory_kib_;
};

class HashWork final : public PasswordWork {
 public:
  HashWork(Napi::Env env, std::shared_ptr<GuardedMemory> password, uint64_t time_cost, uint64_t memory_kib)
      : PasswordWork(env, "strongroom.hashPassword", std::move(password), memory_kib), time_cost_(time_cost) {}

 private:
  void Compute(const uint8_t* password, size_t length) override {
    uint8_t salt[kArgon2SaltBytes];
    uint8_t hash[kArgon2HashBytes];
    if (int err = SystemRandom(salt, sizeof salt)) {
      outcome_ = Outcome::kRandom;
      err_ = err;
      return;
    }
    errno = 0;
    if (crypto_pwhash_argon2id(hash, sizeof hash, reinterpret_cast<const char*>(password), length, salt, time_cost_,
                               memory_kib() * 1024U, crypto_pwhash_argon2id_ALG_ARGON2ID13) != 0) {
      // The costs were checked, so what can fail is the allocation of Argon2's memory.
      outcome_ = Outcome::kNoMemory;
      err_ = errno;
      sodium_memzero(hash, sizeof hash);
      return;
    }
    outcome_ = Encode(salt, hash) ? Outcome::kOk : Outcome::kUnexpected;
    sodium_memzero(hash, sizeof hash);
  }

  // crypto_pwhash_argon2id_str's format (libsodium's encode_string).
  bool Encode(const uint8_t* salt, const uint8_t* hash) {
    int n = snprintf(encoded_, sizeof encoded_, "$argon2id$v=%u$m=%llu,t=%llu,p=%u$", kArgon2Version,
                     static_cast<unsigned long long>(memory_kib()), static_cast<unsigned long long>(time_cost_),
                     kArgon2Parallelism);
    if (n < 0 || static_cast<size_t>(n) > kMaxPrefix) return false;
    size_t at = static_cast<size_t>(n);
    // Fits: the static_assert above (sodium_bin2base64 aborts on a short buffer).
    sodium_bin2base64(encoded_ + at, sizeof encoded_ - at, salt, kArgon2SaltBytes, kBase64);
    at += strlen(encoded_ + at);
    encoded_[at++] = '$';
    sodium_bin2base64(encoded_ + at, sizeof encoded_ - at, hash, kArgon2HashBytes, kBase64);
    return true;
  }

  Napi::Value Result(Napi::Env env) override { return Napi::String::New(env, encoded_); }

  uint64_t time_cost_;
  char encoded_[kArgon2MaxEncodedLength + 1] = {};
};

class VerifyWork final : public PasswordWork {
 public:
  VerifyWork(Napi::Env env, std::shared_ptr<GuardedMemory> password, std::string encoded,
             std::unique_ptr<EncodedHash> parsed)
      : PasswordWork(env, "strongroom.verifyPassword", std::move(password), parsed->memory_kib),
        encoded_(std::move(encoded)),
        parsed_(std::move(parsed)) {}

 private:
  void Compute(const uint8_t* password, size_t length) override {
    const char* pwd = reinterpret_cast<const char*>(password);
    const EncodedHash& h = *parsed_;
    if (h.salt_len == crypto_pwhash_argon2id_SALTBYTES) {
      uint8_t computed[sizeof h.hash];
      errno = 0;
      if (crypto_pwhash_argon2id(computed, h.hash_len, pwd, length, h.salt, h.time_cost, h.memory_kib * 1024U,
                                 crypto_pwhash_argon2id_ALG_ARGON2ID13) != 0) {
        outcome_ = Outcome::kNoMemory;
        err_ = errno;
      } else {
        outcome_ = sodium_memcmp(computed, h.hash, h.hash_len) == 0 ? Outcome::kOk : Outcome::kMismatch;
      }
      sodium_memzero(computed, sizeof computed);
      return;
    }
    errno = 0;
    if (crypto_pwhash_argon2id_str_verify(encoded_.c_str(), pwd, length) == 0) {
      outcome_ = Outcome::kOk;
      return;
    }
    int err = errno;
    if (err == EINVAL) {
      outcome_ = Outcome::kMismatch;
    } else if (err == 0) {
      outcome_ = Outcome::kUndecodable;
    } else {
      outcome_ = Outcome::kNoMemory;
      err_ = err;
    }
  }

  Napi::Value Result(Napi::Env env) override { return Napi::Boolean::New(env, outcome_ == Outcome::kOk); }

  std::string encoded_;
  std::unique_ptr<EncodedHash> parsed_;
};

// ---- entry points ----

uint64_t CostArg(const Napi::CallbackInfo& info, size_t index, const char* what, uint64_t min, uint64_t max) {
  uint64_t n = SizeArg(info, index, what);
  if (n < min || n > max) {
    Throw(info.Env(), "ERR_INVALID_ARG",
          std::string(what) + " must be from " + std::to_string(min) + " to " + std::to_string(max));
  }
  return n;
}

std::string EncodedArg(const Napi::CallbackInfo& info, size_t index) {
  if (!info[index].IsString()) Throw(info.Env(), "ERR_INVALID_ARG", "the encoded hash must be a string");
  return info[index].As<Napi::String>().Utf8Value();
}

std::unique_ptr<EncodedHash> Parse(Napi::Env env, const std::string& encoded) {
  auto parsed = std::make_unique<EncodedHash>();
  Failure failure;
  if (!ParseEncoded(encoded, parsed.get(), &failure)) Throw(env, failure.code, failure.message);
  return parsed;
}

// Queues the work; whatever fails on the way, the copy is freed (by the work's destructor
// once the work exists).
template <typename Work, typename... Args>
Napi::Value Start(Napi::Env env, std::shared_ptr<GuardedMemory> copy, Args&&... args) {
  return QueueOwning<Work>(copy, [&] { return new Work(env, copy, std::forward<Args>(args)...); });
}

// (password, timeCost, memoryCost KiB) -> Promise<string>
Napi::Value HashPassword(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GuardedMemory& source = RegionArg(info, 0, "password");
  uint64_t time_cost = CostArg(info, 1, "timeCost", kArgon2MinTimeCost, kArgon2MaxTimeCost);
  uint64_t memory_kib = CostArg(info, 2, "memoryCost", kArgon2MinMemoryCost, kArgon2MaxMemoryCost);
  return Start<HashWork>(env, PrivateCopy(env, source, "the password"), time_cost, memory_kib);
}

// (password, encoded) -> Promise<boolean>; a string that cannot be verified throws first.
Napi::Value VerifyPassword(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GuardedMemory& source = RegionArg(info, 0, "password");
  std::string encoded = EncodedArg(info, 1);
  std::unique_ptr<EncodedHash> parsed = Parse(env, encoded);
  return Start<VerifyWork>(env, PrivateCopy(env, source, "the password"), std::move(encoded), std::move(parsed));
}

// (encoded, timeCost, memoryCost KiB) -> boolean: whether the string differs from what
// hashPassword() with these costs writes (costs, salt or hash length).
Napi::Value NeedsRehash(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string encoded = EncodedArg(info, 0);
  uint64_t time_cost = CostArg(info, 1, "timeCost", kArgon2MinTimeCost, kArgon2MaxTimeCost);
  uint64_t memory_kib = CostArg(info, 2, "memoryCost", kArgon2MinMemoryCost, kArgon2MaxMemoryCost);
  std::unique_ptr<EncodedHash> parsed = Parse(env, encoded);
  int differs = crypto_pwhash_argon2id_str_needs_rehash(encoded.c_str(), time_cost, memory_kib * 1024U);
  if (differs < 0) {
    Throw(env, "ERR_INVALID_ARG", std::string("libsodium could not decode the encoded hash. An argon2id hash string reads ") + kForm);
  }
  return Napi::Boolean::New(env, differs == 1 || parsed->salt_len != kArgon2SaltBytes ||
                                     parsed->hash_len != kArgon2HashBytes);
}

}  // namespace

void InitPassword(Napi::Env env, Napi::Object exports) {
  Register(env, exports, {
      {"hashPassword", Fn<HashPassword>},
      {"verifyPassword", Fn<VerifyPassword>},
      {"needsRehash", Fn<NeedsRehash>},
  });
}

}  // namespace strongroom
