// N-API face of the Coffer (coffer.h): sealing and opening under the process-wide key,
// HMAC under a sealed key (opened into a temporary guarded region for one call), rekey,
// purge, the rekey interval and stats. The JS layer (src/coffer.ts) creates
// the coffer with the process defaults before the first call.
//
//   sealed = nonce(24) || mac(16) || ciphertext      (sealing.h: the one format)
#include <errno.h>
#include <sodium.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <optional>

#include "binding.h"
#include "coffer.h"
#include "hashing.h"
#include "region.h"
#include "sealing.h"

namespace strongroom {
namespace {

constexpr const char* kAuthMessage =
    "the sealed bytes failed authentication: they were altered or truncated, come from another process, "
    "or were sealed before a purge()";

Coffer& CofferOrThrow(Napi::Env env) {
  Coffer* coffer = Coffer::Existing();
  if (coffer == nullptr) Throw(env, "ERR_INVALID_ARG", "the coffer is not created yet; call cofferInit first");
  return *coffer;
}

void CheckErrno(Napi::Env env, int err, const char* what) {
  if (err != 0) Throw(env, "ERR_SYSTEM", std::string(what) + ": " + strerror(err));
}

// The key source of the coffer: the whole key in its work slot, under its lock, for one use.
auto CofferKey(Coffer& coffer) {
  return [&coffer](auto&& use) -> int { return coffer.WithKey(use); };
}

// (backend, mlockPolicy, intervalMs): creates the process-wide coffer on the first call.
Napi::Value Init(const Napi::CallbackInfo& info) {
  AllocationChoice choice = AllocationArgs(info, 0);
  size_t interval = SizeArg(info, 2, "interval");
  if (interval > kMaxInterval) Throw(info.Env(), "ERR_INVALID_ARG", "interval is too large");
  Failure failure;
  if (Coffer::Get(choice.backend, choice.policy, static_cast<uint32_t>(interval), &failure) == nullptr) {
    Throw(info.Env(), failure.code, failure.message);
  }
  return info.Env().Undefined();
}

// (source: Region | Uint8Array, length): seals the first `length` bytes of source.
// The sealed Buffer is allocated before any region is raised; errors are thrown after.
Napi::Value Seal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Coffer& coffer = CofferOrThrow(env);
  size_t length = SizeArg(info, 1, "length");
  GuardedMemory* plain = IsRegion(env, info[0]) ? &RegionArg(info, 0, "plaintext") : nullptr;
  Napi::Uint8Array bytes = plain == nullptr ? BytesArg(info, 0, "plaintext") : Napi::Uint8Array();
  size_t available = plain != nullptr ? plain->size() : bytes.ByteLength();
  if (length < 1 || length > available) Throw(env, "ERR_INVALID_ARG", "length must be within the plaintext");
  Napi::Buffer<uint8_t> sealed = Napi::Buffer<uint8_t>::New(env, length + kSealOverhead);
  int err = 0;
  if (plain == nullptr) {
    err = SealInto(sealed.Data(), bytes.Data(), length, CofferKey(coffer));
  } else {
    AccessScope read(*plain, Protection::kReadOnly);
    err = read.error() != 0 ? read.error() : SealInto(sealed.Data(), plain->data(), length, CofferKey(coffer));
  }
  ThrowIfFailed(env, err == 0 ? SealStatus::kOk : SealStatus::kSystem, err, kAuthMessage);
  return sealed;
}

// (sealed, target): target.size must be sealed.length - 40 (no target for 40 bytes, which
// are only authenticated: ERR_EMPTY or ERR_AUTH). ERR_AUTH wipes the target.
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Coffer& coffer = CofferOrThrow(env);
  Napi::Uint8Array sealed = SealedArg(info, 0);
  const size_t size = sealed.ByteLength() - kSealOverhead;
  GuardedMemory* target = size == 0 ? nullptr : &RegionArg(info, 1, "target");
  if (target != nullptr && target->size() != size) {
    Throw(env, "ERR_INVALID_ARG", "the target region must be exactly the sealed length minus 40 bytes");
  }
  int err = 0;
  SealStatus status = OpenIntoRegion(target, sealed.Data(), sealed.ByteLength(), CofferKey(coffer), &err);
  ThrowIfFailed(env, status, err, kAuthMessage);  // after the target's scope has closed
  return env.Undefined();
}

// Reads from fd into staging[from, size) until it is full or at end of file. Returns the
// count read, or -1 with *err set (the bytes read so far wiped).
ssize_t FillFrom(int fd, GuardedMemory& staging, size_t from, int* err) {
  size_t filled = 0;
  uint8_t* start = staging.data() + from;
  size_t room = staging.size() - from;
  while (filled < room) {
    ssize_t n = read(fd, start + filled, room - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *err = errno;
      sodium_memzero(start, filled);
      return -1;
    }
    if (n == 0) break;
    filled += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(filled);
}

// (fd, staging Region, header Uint8Array): sealed = seal(header || next file bytes). The
// header (public bytes, shorter than the staging region) is copied to the front of the
// guarded staging region and the file is read into the rest (fewer bytes at the end);
// the whole is sealed and the staging region wiped. Returns the sealed chunk, or null at
// end of file (nothing read). The sealed Buffer is allocated before the staging region
// is raised.
Napi::Value SealFromFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Coffer& coffer = CofferOrThrow(env);
  int fd = FdArg(info, 0);
  GuardedMemory& staging = RegionArg(info, 1, "staging");
  Napi::Uint8Array header = BytesArg(info, 2, "header");
  size_t prefix = header.ByteLength();
  if (prefix >= staging.size()) Throw(env, "ERR_INVALID_ARG", "the header must be shorter than the staging region");
  Napi::Buffer<uint8_t> sealed = Napi::Buffer<uint8_t>::New(env, staging.size() + kSealOverhead);
  int read_err = 0;
  int seal_err = 0;
  ssize_t filled = 0;
  {
    AccessScope write(staging, Protection::kReadWrite);
    seal_err = write.error();
    if (seal_err == 0) filled = FillFrom(fd, staging, prefix, &read_err);
    if (seal_err == 0 && filled > 0) {
      size_t length = prefix + static_cast<size_t>(filled);
      std::memcpy(staging.data(), header.Data(), prefix);
      seal_err = SealInto(sealed.Data(), staging.data(), length, CofferKey(coffer));
      sodium_memzero(staging.data(), length);
    }
  }
  if (read_err != 0) Throw(env, "ERR_IO", std::string("could not read the file: ") + strerror(read_err));
  ThrowIfFailed(env, seal_err == 0 ? SealStatus::kOk : SealStatus::kSystem, seal_err, kAuthMessage);
  if (filled == 0) return env.Null();
  size_t length = prefix + static_cast<size_t>(filled) + kSealOverhead;
  // The last chunk is shorter: its sealed bytes (not secret) move to a Buffer of their size.
  return length == sealed.Length() ? sealed : Napi::Buffer<uint8_t>::Copy(env, sealed.Data(), length);
}

// The HMAC of a message under the secret sealed in `sealed`, for cofferHmac and
// cofferHmacVerify, into `out` (HmacTagLength bytes). The secret is opened for this call only:
// - up to Coffer::kScratchBytes, into the scratch slot of the coffer's own region, under its
//   lock, where only the HMAC state is keyed (a few compressions); the slot is wiped before
//   the lock is released, and the message is hashed afterwards from the state alone;
// - longer, into a temporary guarded region of the given allocation choice, wiped and
//   released before this returns.
// On every path the plaintext is nowhere else, and the key-derived state (on the stack, as
// for every HMAC here) is wiped and the stack scrubbed. Errors are thrown after every scope
// has closed: ERR_AUTH, ERR_EMPTY, an allocation error or ERR_SYSTEM.
void HmacUnderSealed(Napi::Env env, Coffer& coffer, const Napi::Uint8Array& sealed, AllocationChoice choice,
                     HmacAlgorithm algorithm, const Napi::Uint8Array& message, uint8_t* out) {
  const size_t size = sealed.ByteLength() - kSealOverhead;
  int err = 0;
  SealStatus status = SealStatus::kOk;
  if (size == 0) {
    // A sealed empty message holds no key: authenticate it for the right error (ERR_EMPTY or ERR_AUTH).
    status = OpenIntoRegion(nullptr, sealed.Data(), sealed.ByteLength(), CofferKey(coffer), &err);
  } else if (size <= Coffer::kScratchBytes) {
    std::optional<HmacState> state;
    status = coffer.WithOpened(
        sealed.Data(), sealed.ByteLength(),
        [&](const uint8_t* key, size_t key_length) { state.emplace(algorithm, key, key_length); }, &err);
    if (state) {
      state->Update(message.Data(), message.ByteLength());
      state->Final(out);
      state.reset();
    }
    ScrubStack();
  } else {
    Failure failure;
    std::shared_ptr<GuardedMemory> key = GuardedMemory::Allocate(size, choice.backend, choice.policy, &failure);
    if (!key) Throw(env, failure.code, failure.message);
    {
      AccessScope write(*key, Protection::kReadWrite);
      err = write.error();
      if (err != 0) {
        status = SealStatus::kSystem;
      } else {
        status = OpenFrom(key->data(), sealed.Data(), sealed.ByteLength(), CofferKey(coffer), &err);
        if (status == SealStatus::kOk) {
          HmacBytes(algorithm, key->data(), key->size(), message.Data(), message.ByteLength(), out);
        }
      }
    }
    key->Release();  // verifies the canary, wipes, and keeps the pages as a spare or unmaps them
  }
  ThrowIfFailed(env, status, err, kAuthMessage);
}

// (sealed, algorithm, message, backend, mlockPolicy) -> Uint8Array tag (32 or 64 bytes).
// The tag is allocated before anything is opened.
Napi::Value Hmac(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Coffer& coffer = CofferOrThrow(env);
  Napi::Uint8Array sealed = SealedArg(info, 0);
  HmacAlgorithm algorithm = HmacAlgorithmArg(info, 1);
  Napi::Uint8Array message = BytesArg(info, 2, "message");
  AllocationChoice choice = AllocationArgs(info, 3);
  Napi::Uint8Array tag = Napi::Uint8Array::New(env, HmacTagLength(algorithm));
  HmacUnderSealed(env, coffer, sealed, choice, algorithm, message, tag.Data());
  return tag;
}

// (sealed, algorithm, message, tag, backend, mlockPolicy) -> boolean: as hashing.cc's
// hmacVerify (truncated tags from kHmacMinTagBytes; any other length is false).
Napi::Value HmacVerify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Coffer& coffer = CofferOrThrow(env);
  Napi::Uint8Array sealed = SealedArg(info, 0);
  HmacAlgorithm algorithm = HmacAlgorithmArg(info, 1);
  Napi::Uint8Array message = BytesArg(info, 2, "message");
  Napi::Uint8Array tag = BytesArg(info, 3, "tag");
  AllocationChoice choice = AllocationArgs(info, 4);
  uint8_t expected[crypto_auth_hmacsha512_BYTES];
  try {
    HmacUnderSealed(env, coffer, sealed, choice, algorithm, message, expected);
  } catch (...) {
    sodium_memzero(expected, sizeof expected);
    throw;
  }
  bool ok = HmacTagMatches(algorithm, expected, tag.Data(), tag.ByteLength());
  sodium_memzero(expected, sizeof expected);
  return Napi::Boolean::New(env, ok);
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
  if (ms > kMaxInterval) Throw(info.Env(), "ERR_INVALID_ARG", "interval is too large");
  CofferOrThrow(info.Env()).SetInterval(static_cast<uint32_t>(ms));
  return info.Env().Undefined();
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CofferStats stats = CofferOrThrow(env).Stats();
  Napi::Object out = Napi::Object::New(env);
  out.Set("rekeys", Napi::Number::New(env, static_cast<double>(stats.rekeys)));
  out.Set("purges", Napi::Number::New(env, static_cast<double>(stats.purges)));
  out.Set("rekeyInterval", Napi::Number::New(env, stats.interval_ms));
  out.Set("backend", Napi::Number::New(env, static_cast<int>(stats.backend)));
  out.Set("locked", Napi::Boolean::New(env, stats.locked));
  return out;
}

// Test hook, registered only when STRONGROOM_TEST_HOOKS=1 at load: the address of the
// halves, so that a test can read them through /proc/PID/mem. Never their bytes.
Napi::Value HalvesAddress(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(CofferOrThrow(info.Env()).HalvesAddress()));
}

// Test hook: forks, as a program calling fork() without exec would; the child tries to
// use the key and exits 0 when the coffer refused (poisoned), 1 when a key was used, 2
// when it failed otherwise. Returns the child's exit status.
Napi::Value ForkProbe(const Napi::CallbackInfo& info) {
  Coffer& coffer = CofferOrThrow(info.Env());
  pid_t pid = fork();
  if (pid < 0) Throw(info.Env(), "ERR_SYSTEM", std::string("fork failed: ") + strerror(errno));
  if (pid == 0) {
    int err = coffer.WithKey([](const uint8_t*) {});
    _exit(err == ENOTRECOVERABLE ? 0 : err == 0 ? 1 : 2);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return Napi::Number::New(info.Env(), WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

}  // namespace

void InitCoffer(Napi::Env env, Napi::Object exports) {
  Register(env, exports, {
      {"cofferInit", Fn<Init>},
      {"cofferSeal", Fn<Seal>},
      {"cofferOpen", Fn<Open>},
      {"cofferSealFromFd", Fn<SealFromFd>},
      {"cofferHmac", Fn<Hmac>},
      {"cofferHmacVerify", Fn<HmacVerify>},
      {"cofferRekey", Fn<Rekey>},
      {"cofferPurge", Fn<Purge>},
      {"cofferSetInterval", Fn<SetInterval>},
      {"cofferStats", Fn<Stats>},
  });
  const char* hooks = std::getenv("STRONGROOM_TEST_HOOKS");
  if (hooks != nullptr && std::strcmp(hooks, "1") == 0) {
    Register(env, exports, {{"cofferHalvesAddress", Fn<HalvesAddress>}, {"cofferForkProbe", Fn<ForkProbe>}});
  }
}

}  // namespace strongroom
