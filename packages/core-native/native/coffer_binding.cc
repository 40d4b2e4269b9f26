// N-API face of the Coffer (coffer.h): sealing and opening under the process-wide key,
// rekey, purge, the rekey interval and figures. The JS layer (src/coffer.ts) creates
// the coffer with the process defaults before the first call.
//
//   sealed = nonce(24) || mac(16) || ciphertext      (NaCl secretbox, as sealing.cc)
#include <errno.h>
#include <sodium.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "binding.h"
#include "coffer.h"
#include "region.h"

namespace strongroom {
namespace {

constexpr size_t kOverhead = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES;

Coffer& CofferOrThrow(Napi::Env env) {
  Coffer* coffer = Coffer::Existing();
  if (coffer == nullptr) Throw(env, "ERR_INVALID_ARG", "the coffer is not created yet; call cofferInit first");
  return *coffer;
}

void CheckErrno(Napi::Env env, int err, const char* what) {
  if (err != 0) Throw(env, "ERR_SYSTEM", std::string(what) + ": " + strerror(err));
}

// A Buffer of plaintext_size + 40 bytes, sealed from `plain`. Node hands out the
// Buffer uninitialised; every byte is written here before it is returned.
Napi::Value SealBytes(Napi::Env env, const uint8_t* plain, size_t size) {
  Napi::Buffer<uint8_t> blob = Napi::Buffer<uint8_t>::New(env, size + kOverhead);
  uint8_t* nonce = blob.Data();
  randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
  int err = CofferOrThrow(env).WithKey([&](const uint8_t* key) {
    crypto_secretbox_easy(nonce + crypto_secretbox_NONCEBYTES, plain, size, nonce, key);
  });
  CheckErrno(env, err, "could not reach the coffer's key");
  return blob;
}

// (backend, mlockPolicy): creates the process-wide coffer on the first call.
Napi::Value Init(const Napi::CallbackInfo& info) {
  AllocationChoice choice = AllocationArgs(info, 0);
  AllocFailure failure;
  if (Coffer::Get(choice.backend, choice.policy, &failure) == nullptr) {
    Throw(info.Env(), failure.code, failure.message);
  }
  return info.Env().Undefined();
}

// (source: Region | Uint8Array, length): seals the first `length` bytes of source.
Napi::Value Seal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t length = SizeArg(info, 1, "length");
  if (IsRegion(env, info[0])) {
    GuardedMemory& plain = RegionArg(info, 0, "plaintext");
    if (length < 1 || length > plain.size()) Throw(env, "ERR_INVALID_ARG", "length must be within the region");
    AccessScope read(plain, Protection::kReadOnly);
    CheckAccess(env, read);
    return SealBytes(env, plain.data(), length);
  }
  Napi::Uint8Array bytes = BytesArg(info, 0, "plaintext");
  if (length < 1 || length > bytes.ByteLength()) Throw(env, "ERR_INVALID_ARG", "length must be within the bytes");
  return SealBytes(env, bytes.Data(), length);
}

// (sealed, target): target.size must be sealed.length - 40. ERR_AUTH wipes the target.
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array blob = BytesArg(info, 0, "sealed");
  GuardedMemory& target = RegionArg(info, 1, "target");
  size_t length = blob.ByteLength();
  if (length <= kOverhead || target.size() != length - kOverhead) {
    Throw(env, "ERR_INVALID_ARG", "the target region must be exactly the sealed length minus 40 bytes");
  }
  const uint8_t* nonce = blob.Data();
  AccessScope write(target, Protection::kReadWrite);
  CheckAccess(env, write);
  int result = -1;
  int err = CofferOrThrow(env).WithKey([&](const uint8_t* key) {
    result = crypto_secretbox_open_easy(target.data(), nonce + crypto_secretbox_NONCEBYTES,
                                        length - crypto_secretbox_NONCEBYTES, nonce, key);
  });
  CheckErrno(env, err, "could not reach the coffer's key");
  if (result != 0) {
    sodium_memzero(target.data(), target.size());
    Throw(env, "ERR_AUTH",
          "the sealed bytes failed authentication: they were altered or truncated, come from another process, "
          "or were sealed before a purge()");
  }
  return env.Undefined();
}

// Reads from fd until `staging` is full or end of file; returns the count.
size_t FillFrom(Napi::Env env, int fd, GuardedMemory& staging) {
  size_t filled = 0;
  while (filled < staging.size()) {
    ssize_t n = read(fd, staging.data() + filled, staging.size() - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      sodium_memzero(staging.data(), filled);
      Throw(env, "ERR_IO", std::string("could not read the file: ") + strerror(err));
    }
    if (n == 0) break;
    filled += static_cast<size_t>(n);
  }
  return filled;
}

// (fd, staging Region): reads the next chunk (staging.size bytes, fewer at the end)
// into the guarded staging region, seals it and wipes the staging region. Returns the
// sealed chunk, or null at end of file.
Napi::Value SealFromFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t fd = SizeArg(info, 0, "fd");
  if (fd > 0x7fffffff) Throw(env, "ERR_INVALID_ARG", "fd must be a file descriptor");
  GuardedMemory& staging = RegionArg(info, 1, "staging");
  AccessScope write(staging, Protection::kReadWrite);
  CheckAccess(env, write);
  size_t filled = FillFrom(env, static_cast<int>(fd), staging);
  if (filled == 0) return env.Null();
  try {
    Napi::Value sealed = SealBytes(env, staging.data(), filled);
    sodium_memzero(staging.data(), filled);
    return sealed;
  } catch (...) {
    sodium_memzero(staging.data(), filled);
    throw;
  }
}

Napi::Value Rekey(const Napi::CallbackInfo& info) {
  CheckErrno(info.Env(), CofferOrThrow(info.Env()).Rekey(), "could not rekey the coffer");
  return info.Env().Undefined();
}

Napi::Value Purge(const Napi::CallbackInfo& info) {
  CheckErrno(info.Env(), CofferOrThrow(info.Env()).Purge(), "could not purge the coffer");
  return info.Env().Undefined();
}

// (intervalMs): 0 stops automatic rekeying.
Napi::Value SetInterval(const Napi::CallbackInfo& info) {
  size_t ms = SizeArg(info, 0, "interval");
  if (ms > 0x7fffffff) Throw(info.Env(), "ERR_INVALID_ARG", "interval is too large");
  CofferOrThrow(info.Env()).SetInterval(static_cast<uint32_t>(ms));
  return info.Env().Undefined();
}

Napi::Value Figures(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CofferFigures figures = CofferOrThrow(env).Figures();
  Napi::Object out = Napi::Object::New(env);
  out.Set("rekeys", Napi::Number::New(env, static_cast<double>(figures.rekeys)));
  out.Set("purges", Napi::Number::New(env, static_cast<double>(figures.purges)));
  out.Set("intervalMs", Napi::Number::New(env, figures.interval_ms));
  out.Set("backend", Napi::Number::New(env, static_cast<int>(figures.backend)));
  out.Set("locked", Napi::Boolean::New(env, figures.locked));
  return out;
}

// Test hook, registered only when STRONGROOM_TEST_HOOKS=1 at load: the address of the
// halves, so that a test can read them through /proc/PID/mem. Never their bytes.
Napi::Value HalvesAddress(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(CofferOrThrow(info.Env()).HalvesAddress()));
}

}  // namespace

void InitCoffer(Napi::Env env, Napi::Object exports) {
  exports.Set("cofferInit", Napi::Function::New<Init>(env, "cofferInit"));
  exports.Set("cofferSeal", Napi::Function::New<Seal>(env, "cofferSeal"));
  exports.Set("cofferOpen", Napi::Function::New<Open>(env, "cofferOpen"));
  exports.Set("cofferSealFromFd", Napi::Function::New<SealFromFd>(env, "cofferSealFromFd"));
  exports.Set("cofferRekey", Napi::Function::New<Rekey>(env, "cofferRekey"));
  exports.Set("cofferPurge", Napi::Function::New<Purge>(env, "cofferPurge"));
  exports.Set("cofferSetInterval", Napi::Function::New<SetInterval>(env, "cofferSetInterval"));
  exports.Set("cofferFigures", Napi::Function::New<Figures>(env, "cofferFigures"));
  const char* hooks = std::getenv("STRONGROOM_TEST_HOOKS");
  if (hooks != nullptr && std::strcmp(hooks, "1") == 0) {
    exports.Set("cofferHalvesAddress", Napi::Function::New<HalvesAddress>(env, "cofferHalvesAddress"));
  }
}

}  // namespace strongroom
