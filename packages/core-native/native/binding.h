// Shared pieces of the N-API binding: per-environment data, typed errors and
// argument readers. Validation with good messages lives in the TypeScript layer;
// these checks are the second line, and they guard memory safety on their own.
#pragma once

#include <napi.h>

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

// Throws ERR_SYSTEM when an AccessScope could not raise protection.
void CheckAccess(Napi::Env env, const AccessScope& scope);

// Registration of each concern's functions on the exports object.
void InitRegion(Napi::Env env, Napi::Object exports);
void InitOps(Napi::Env env, Napi::Object exports);
void InitSealing(Napi::Env env, Napi::Object exports);
void InitHashing(Napi::Env env, Napi::Object exports);
void InitHardening(Napi::Env env, Napi::Object exports);
void InitIo(Napi::Env env, Napi::Object exports);
void InitCoffer(Napi::Env env, Napi::Object exports);

}  // namespace strongroom
