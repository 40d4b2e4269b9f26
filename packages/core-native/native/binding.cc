// Per-environment data, typed errors and argument readers for the binding.
#include "binding.h"

#include <sodium.h>

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "mappings.h"
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

namespace {

void ClearPendingException(napi_env env) noexcept {
  bool pending = false;
  napi_value ignored = nullptr;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &ignored);
}

// ERR_NO_MEMORY's message, into `out` (snprintf on the stack: nothing allocated).
void NoMemoryMessage(char* out, size_t size) noexcept {
  const MappingLimits& limits = Mappings();
  const int64_t process = CountProcessMappings();
  char mappings[32] = "an unknown number of";
  if (process >= 0) snprintf(mappings, sizeof mappings, "%" PRId64, process);
  snprintf(out, size,
           "native code could not allocate memory: the process is out of memory or at one of its limits "
           "(RLIMIT_AS; vm.max_map_count = %" PRId64 ", and the process has %s mappings, strongroom's guarded pages "
           "at most %" PRId64 " of them). Destroy secrets and other objects you no longer need, or raise the limit "
           "that was met",
           limits.max_map_count, mappings, MappingsHeld());
}

}  // namespace

napi_value QuietError(napi_env env, const char* code, const char* message) noexcept {
  napi_value code_value = nullptr;
  napi_value message_value = nullptr;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_value) != napi_ok ||
      napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &message_value) != napi_ok) {
    return nullptr;
  }
  napi_value error = nullptr;
  void* raw = nullptr;
  if (napi_get_instance_data(env, &raw) == napi_ok && raw != nullptr) {
    const Napi::FunctionReference& error_class = static_cast<AddonData*>(raw)->error_class;
    napi_value constructor = nullptr;
    napi_value args[2] = {code_value, message_value};
    if (!error_class.IsEmpty() && napi_get_reference_value(env, error_class, &constructor) == napi_ok &&
        constructor != nullptr && napi_new_instance(env, constructor, 2, args, &error) == napi_ok) {
      return error;
    }
    ClearPendingException(env);  // the constructor threw: a plain Error with the code instead
  }
  return napi_create_error(env, code_value, message_value, &error) == napi_ok ? error : nullptr;
}

napi_value CaughtError(napi_env env) noexcept {
  char message[640];
  try {
    throw;
  } catch (const Napi::Error& error) {
    try {
      napi_value value = error.Value();
      if (value != nullptr) return value;
    } catch (...) {
      // the error object cannot be reached: reported as an unexpected failure below
    }
    return QuietError(env, "ERR_SYSTEM", "unexpected failure in native code: a JavaScript error was lost");
  } catch (const std::bad_alloc&) {
    NoMemoryMessage(message, sizeof message);
    return QuietError(env, "ERR_NO_MEMORY", message);
  } catch (const std::exception& error) {
    snprintf(message, sizeof message, "unexpected failure in native code: %s", error.what());
    return QuietError(env, "ERR_SYSTEM", message);
  } catch (...) {
    return QuietError(env, "ERR_SYSTEM", "unexpected failure in native code");
  }
}

void FailQuietly(Failure* failure, const char* code, const char* message) noexcept {
  failure->code = code;
  try {
    failure->message = message;
  } catch (...) {
    failure->message.clear();
  }
}

Napi::Function NewGuardedFunction(Napi::Env env, const char* name, napi_callback callback) {
  napi_value function = nullptr;
  napi_status status = napi_create_function(env, name, NAPI_AUTO_LENGTH, callback, nullptr, &function);
  NAPI_THROW_IF_FAILED(env, status, Napi::Function());
  return Napi::Function(env, function);
}

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
