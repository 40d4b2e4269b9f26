// Entry point of the @strongroom/core-native addon: initialises libsodium, creates
// the per-environment data (each worker thread gets its own) and registers the
// functions of every concern. Loading has no side effect on the process: hardening
// is an explicit harden() call.
#include <sodium.h>

#include <cstdlib>
#include <cstring>

#include "binding.h"

namespace strongroom {
namespace {

Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) Throw(info.Env(), "ERR_INVALID_ARG", "expected the StrongroomError class");
  Data(info.Env()).error_class = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  if (sodium_init() < 0) {
    Napi::Error::New(env, "libsodium could not initialise").ThrowAsJavaScriptException();
    return exports;
  }
  auto* data = new AddonData();
  const char* forced = std::getenv("STRONGROOM_NO_EXTERNAL_BUFFERS");
  data->external_buffers_disallowed = forced != nullptr && std::strcmp(forced, "1") == 0;
  env.SetInstanceData<AddonData>(data);

  exports.Set("setErrorClass", Napi::Function::New<SetErrorClass>(env, "setErrorClass"));
  InitRegion(env, exports);
  InitOps(env, exports);
  InitSealing(env, exports);
  InitHashing(env, exports);
  InitHardening(env, exports);
  InitIo(env, exports);
  InitCoffer(env, exports);
  return exports;
}

}  // namespace strongroom

static Napi::Object InitStrongroom(Napi::Env env, Napi::Object exports) { return strongroom::Init(env, exports); }

NODE_API_MODULE(strongroom, InitStrongroom)
