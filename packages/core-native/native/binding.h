// Shared pieces of the N-API binding: per-environment data, typed errors and
// argument readers. Validation with good messages lives in the TypeScript layer;
// these checks are the second line, and they guard memory safety on their own.
#pragma once

#include <napi.h>

#include <exception>
#include <initializer_list>
#include <memory>
#include <new>
#include <string>

#include "guarded_memory.h"

namespace strongroom {

// One per Node environment (main thread and each worker).
struct AddonData {
  Napi::FunctionReference error_class;  // StrongroomError, registered by the JS layer
  bool external_buffers_disallowed = false;  // forced by STRONGROOM_NO_EXTERNAL_BUFFERS=1
};

AddonData& Data(Napi::Env env);

// A StrongroomError(code, message); the message must never contain a secret byte.
Napi::Error MakeError(Napi::Env env, const char* code, const std::string& message);
[[noreturn]] void Throw(Napi::Env env, const char* code, const std::string& message);

size_t SizeArg(const Napi::CallbackInfo& info, size_t index, const char* what);
// The bits of regionState() (region.cc).
constexpr int kStateProtectionMask = 3;
constexpr int kStateFreed = 4;
constexpr int kStateLocked = 8;
constexpr int kStateBackendShift = 4;
// The HMAC algorithm ids hashing.cc takes.
constexpr int kHmacSha256 = 0;
constexpr int kHmacSha512 = 1;
// The shortest truncated HMAC tag hmacVerify accepts, for both algorithms: 128 bits, the
// length of RFC 4231 test case 5 (RFC 2104 section 5 allows no less than 80 bits and
// recommends at least half the hash output).
constexpr size_t kHmacMinTagBytes = 16;

// A file descriptor: 0 to kMaxFd.
constexpr size_t kMaxFd = 0x7fffffff;
int FdArg(const Napi::CallbackInfo& info, size_t index);
// A region size: 1 to kMaxRegionSize.
size_t RegionSizeArg(const Napi::CallbackInfo& info, size_t index, const char* what);
// The (backend, mlockPolicy) pair at info[index] and info[index + 1], as regionNew takes it.
struct AllocationChoice {
  Backend backend;
  MlockPolicy policy;
};
AllocationChoice AllocationArgs(const Napi::CallbackInfo& info, size_t index);
Napi::Uint8Array BytesArg(const Napi::CallbackInfo& info, size_t index, const char* what);
// The live memory of a Region argument (ERR_FREED after free()).
GuardedMemory& RegionArg(const Napi::CallbackInfo& info, size_t index, const char* what);
bool IsRegion(Napi::Env env, Napi::Value value);

// A copy of `source` (the caller's region) in a fresh region of the same backend and mlock
// policy, left 'noaccess', for async work to own: the caller may free its own region as soon
// as the call returns. The source is raised to 'readonly' for the copy only. `what` names it
// in an error ("the password", "the PIN").
std::shared_ptr<GuardedMemory> PrivateCopy(Napi::Env env, GuardedMemory& source, const char* what);

// Wipes 64 KiB of the calling thread's stack below the caller's frame: deeper than the frames
// of crypto_pwhash_argon2id (Argon2's fill steps keep 1 KiB blocks on the stack; H0's BLAKE2b
// compress runs several frames down) and of a PKCS#11 module's decryption, so that nothing
// of a secret waits on a libuv pool thread's stack (8 MiB) for later work to overwrite it.
void ScrubWorkerStack();

// ---- No C++ exception crosses a native boundary (ARCHITECTURE.md invariant 9) ----
// node-addon-api is built with NAPI_CPP_EXCEPTIONS (binding.gyp): a Napi::Error is a C++
// exception, which its callback wrappers turn into a JS exception, but any other exception
// (std::bad_alloc from any std::string, std::vector or new) that reaches one of its
// wrappers, an async completion or a finalizer ends the process with std::terminate.

// A StrongroomError(code, message) made through the C API alone: no C++ allocation and no
// exception, for failure paths where the C++ heap may be exhausted. An Error with `code`
// when the StrongroomError class cannot be used; nullptr if even that cannot be made.
napi_value QuietError(napi_env env, const char* code, const char* message) noexcept;
// Inside a catch handler: the JS error for the exception being handled. A Napi::Error's own
// value; std::bad_alloc is ERR_NO_MEMORY (its message, formatted on the stack, gives the
// process's mapping figures: a process at vm.max_map_count cannot grow its heap); anything
// else is ERR_SYSTEM. Never throws; nullptr only if no error could be made.
napi_value CaughtError(napi_env env) noexcept;
// Fail() for a catch handler of async work off the JS thread: never throws (a message that
// cannot be stored stays empty; the code is always set).
void FailQuietly(Failure* failure, const char* code, const char* message) noexcept;

// The promise of async work. Its completion (OnOK/OnError) runs on the JS thread outside any
// entry point, where an exception other than Napi::Error ends the process and a swallowed one
// would leave the promise pending for ever. Settle(env, fn) runs fn, which settles through
// Resolve/Reject; if fn throws before it did, the promise is rejected with CaughtError (a
// std::bad_alloc building a message or a handle is ERR_NO_MEMORY). A deferred is handed a
// value at most once: napi frees it when it settles.
class WorkPromise {
 public:
  explicit WorkPromise(Napi::Env env) : deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }
  void Resolve(napi_value value) {
    if (settled_) return;
    settled_ = true;
    deferred_.Resolve(value);
  }
  void Reject(napi_value value) {
    if (settled_) return;
    settled_ = true;
    deferred_.Reject(value);
  }
  template <typename Fn>
  void Settle(napi_env env, Fn&& fn) noexcept {
    try {
      fn();
    } catch (...) {
      napi_value error = CaughtError(env);
      if (error == nullptr) return;
      try {
        Reject(error);
      } catch (...) {
        // napi could not settle it: the environment is being torn down, nothing waits
      }
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  bool settled_ = false;
};

// Queues async work that owns `copy` (a private guarded copy) and returns its promise:
// when the work cannot be made the copy is released; when it cannot be queued the work
// is deleted (its destructor releases the copy). `make` returns a new Work.
template <typename Work, typename Make>
Napi::Value QueueOwning(const std::shared_ptr<GuardedMemory>& copy, Make make) {
  Work* work;
  try {
    work = make();
  } catch (...) {
    copy->Release();
    throw;
  }
  Napi::Promise promise = work->Promise();
  try {
    work->Queue();
  } catch (...) {
    delete work;
    throw;
  }
  return promise;
}

// Process facts for harden() and stats() (hardening.cc): a resource limit as
// { soft, hard } (Infinity for unlimited), and PR_GET_DUMPABLE.
Napi::Object LimitObject(Napi::Env env, int resource);
bool Dumpable(Napi::Env env);

// Throws ERR_SYSTEM when an AccessScope could not raise protection.
void CheckAccess(Napi::Env env, const AccessScope& scope);

// The export table of a concern: one line per function, the JS name once.
//   Register(env, exports, {{"regionNew", Fn<RegionNew>}, {"regionFree", Fn<RegionFree>}});
using Callback = Napi::Value (*)(const Napi::CallbackInfo&);
struct Export {
  const char* name;
  Napi::Function (*make)(Napi::Env env, const char* name);
};
// Every entry point is Guarded<F>, a plain napi_callback: node-addon-api's own wrapper
// builds its CallbackInfo (which allocates for more than 6 arguments) outside any try and
// lets anything but a Napi::Error end the process. Here everything F does, and the
// CallbackInfo, is inside the try; whatever is thrown becomes a JS exception through
// CaughtError (std::bad_alloc: ERR_NO_MEMORY; anything else: ERR_SYSTEM), built without
// allocating on the C++ heap, so no C++ exception crosses a native entry point.
template <Callback F>
napi_value Guarded(napi_env env, napi_callback_info raw) noexcept {
  try {
    Napi::CallbackInfo info(env, raw);
    return F(info);
  } catch (...) {
    napi_value error = CaughtError(env);
    if (error != nullptr) napi_throw(env, error);
    return nullptr;
  }
}

// The JS function of one export (throws a Napi::Error if napi cannot make it).
Napi::Function NewGuardedFunction(Napi::Env env, const char* name, napi_callback callback);

template <Callback F>
Napi::Function Fn(Napi::Env env, const char* name) {
  return NewGuardedFunction(env, name, Guarded<F>);
}
void Register(Napi::Env env, Napi::Object exports, std::initializer_list<Export> table);

// The addon's own numbers (backend and protection codes, state bits, HMAC algorithm ids,
// bounds, sealed-format sizes, Argon2id bounds), exported as `constants`: the TypeScript layer maps them to
// names in one place (src/constants.ts) instead of restating them.
Napi::Object Constants(Napi::Env env);

// Registration of each concern's functions on the exports object.
void InitRegion(Napi::Env env, Napi::Object exports);
void InitOps(Napi::Env env, Napi::Object exports);
void InitSealing(Napi::Env env, Napi::Object exports);
void InitHashing(Napi::Env env, Napi::Object exports);
void InitHardening(Napi::Env env, Napi::Object exports);
void InitIo(Napi::Env env, Napi::Object exports);
void InitCoffer(Napi::Env env, Napi::Object exports);
void InitPassword(Napi::Env env, Napi::Object exports);
void InitAge(Napi::Env env, Napi::Object exports);
void InitPkcs11(Napi::Env env, Napi::Object exports);

}  // namespace strongroom
