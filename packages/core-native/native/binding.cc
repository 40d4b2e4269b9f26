// Per-environment data, typed errors and argument readers for the binding.
#include "binding.h"

#include <sodium.h>

#include <cmath>
#include <cstring>

#include "region.h"

namespace strongroom {

AddonData& Data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

Napi::Error MakeError(Napi::Env env, const char* code, const std::string& message) {
  AddonData& data = Data(env);
  if (!data.error_class.IsEmpty()) {
    Napi::Object error = data.error_class.New({Napi::String::New(env, code), Napi::String::New(env, message)});
    return Napi::Error(env, error);
  }
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

void Throw(Napi::Env env, const char* code, const std::string& message) { throw MakeError(env, code, message); }

size_t SizeArg(const Napi::CallbackInfo& info, size_t index, const char* what) {
  Napi::Value value = info[index];
  if (!value.IsNumber()) Throw(info.Env(), "ERR_INVALID_ARG", std::string(what) + " must be a number");
  double n = value.As<Napi::Number>().DoubleValue();
  if (!(n >= 0) || n > 9007199254740991.0 || std::floor(n) != n) {
    Throw(info.Env(), "ERR_INVALID_ARG", std::string(what) + " must be a non-negative integer");
  }
  return static_cast<size_t>(n);
}

int FdArg(const Napi::CallbackInfo& info, size_t index) {
  size_t fd = SizeArg(info, index, "fd");
  if (fd > kMaxFd) Throw(info.Env(), "ERR_INVALID_ARG", "fd is not an open file descriptor");
  return static_cast<int>(fd);
}

size_t RegionSizeArg(const Napi::CallbackInfo& info, size_t index, const char* what) {
  size_t size = SizeArg(info, index, what);
  if (size < 1 || size > kMaxRegionSize) {
    Throw(info.Env(), "ERR_INVALID_ARG", std::string(what) + " must be between 1 and " + std::to_string(kMaxRegionSize));
  }
  return size;
}

AllocationChoice AllocationArgs(const Napi::CallbackInfo& info, size_t index) {
  size_t backend = SizeArg(info, index, "backend");
  size_t policy = SizeArg(info, index + 1, "mlock policy");
  if (backend > 1 || policy > 1) Throw(info.Env(), "ERR_INVALID_ARG", "unknown backend or mlock policy");
  return {static_cast<Backend>(backend), static_cast<MlockPolicy>(policy)};
}

Napi::Uint8Array BytesArg(const Napi::CallbackInfo& info, size_t index, const char* what) {
  Napi::Value value = info[index];
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    Throw(info.Env(), "ERR_INVALID_ARG", std::string(what) + " must be a Uint8Array");
  }
  return value.As<Napi::Uint8Array>();
}

bool IsRegion(Napi::Env env, Napi::Value value) { return HandleOf(env, value) != nullptr; }

GuardedMemory& RegionArg(const Napi::CallbackInfo& info, size_t index, const char* what) {
  RegionHandle* handle = HandleOf(info.Env(), info[index]);
  if (handle == nullptr) Throw(info.Env(), "ERR_INVALID_ARG", std::string(what) + " must be a Region");
  if (handle->memory->released()) {
    Throw(info.Env(), "ERR_FREED", std::string(what) + " was freed; allocate a new region");
  }
  return *handle->memory;
}

std::shared_ptr<GuardedMemory> PrivateCopy(Napi::Env env, GuardedMemory& source, const char* what) {
  Failure failure;
  auto copy = GuardedMemory::Allocate(source.size(), source.backend(), source.policy(), &failure);
  if (!copy) Throw(env, failure.code, failure.message);
  int err = 0;
  {
    AccessScope read(source, Protection::kReadOnly);
    err = read.error();
    if (err == 0) memcpy(copy->data(), source.data(), source.size());
  }
  if (err == 0) err = copy->Protect(Protection::kNoAccess);
  if (err != 0) {
    copy->Release();
    Throw(env, "ERR_SYSTEM", std::string("could not copy ") + what + " into guarded memory: " + strerror(err));
  }
  return copy;
}

__attribute__((noinline)) void ScrubWorkerStack() {
  uint8_t pad[64 * 1024];
  sodium_memzero(pad, sizeof pad);
  __asm__ __volatile__("" : : "r"(pad) : "memory");
}

void Register(Napi::Env env, Napi::Object exports, std::initializer_list<Export> table) {
  for (const Export& entry : table) exports.Set(entry.name, entry.make(env, entry.name));
}

void CheckAccess(Napi::Env env, const AccessScope& scope) {
  if (scope.error() != 0) {
    Throw(env, "ERR_SYSTEM", std::string("could not change a region's protection: ") + strerror(scope.error()));
  }
}

}  // namespace strongroom
