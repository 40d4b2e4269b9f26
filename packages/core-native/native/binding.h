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
// Every entry point runs through Guarded: node-addon-api turns a Napi::Error into a JS
// exception, and any other C++ exception (std::bad_alloc, std::system_error, ...) would
// terminate the process; Guarded turns those into a StrongroomError (ERR_NO_MEMORY,
// ERR_SYSTEM), so none crosses a native entry point (ARCHITECTURE.md invariant 9).
template <Callback F>
Napi::Value Guarded(const Napi::CallbackInfo& info) {
  try {
    return F(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw MakeError(info.Env(), "ERR_NO_MEMORY", "native code ran out of memory; free secrets or raise the process's memory limit");
  } catch (const std::exception& error) {
    throw MakeError(info.Env(), "ERR_SYSTEM", std::string("unexpected failure in native code: ") + error.what());
  } catch (...) {
    throw MakeError(info.Env(), "ERR_SYSTEM", "unexpected failure in native code");
  }
}

template <Callback F>
Napi::Function Fn(Napi::Env env, const char* name) {
  return Napi::Function::New<Guarded<F>>(env, name);
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
