// The JS object for one guarded region (see region.h).
#include "region.h"

#include <cstring>

#include "binding.h"

namespace strongroom {
namespace {

// Marks objects built by this addon, so a look-alike object is never unwrapped.
const napi_type_tag kRegionTag = {0x9f3c6a1e52d74b08ULL, 0xb41d7e2c86a9f053ULL};

void FinalizeView(napi_env /*env*/, void* /*data*/, void* hint) {
  // Drops this view's share of the memory; the last share wipes and unmaps it.
  delete static_cast<std::shared_ptr<GuardedMemory>*>(hint);
}

}  // namespace

Napi::Function RegionWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeRegion",
                     {InstanceMethod<&RegionWrap::Protect>("protect"),
                      InstanceMethod<&RegionWrap::View>("view"),
                      InstanceMethod<&RegionWrap::Free>("free"),
                      InstanceMethod<&RegionWrap::State>("state")});
}

RegionWrap* RegionWrap::FromValue(Napi::Env env, Napi::Value value) {
  if (!value.IsObject()) return nullptr;
  bool tagged = false;
  if (napi_check_object_type_tag(env, value, &kRegionTag, &tagged) != napi_ok || !tagged) return nullptr;
  return Unwrap(value.As<Napi::Object>());
}

RegionWrap::RegionWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RegionWrap>(info) {
  Napi::Env env = info.Env();
  size_t size = SizeArg(info, 0, "size");
  size_t backend = SizeArg(info, 1, "backend");
  size_t policy = SizeArg(info, 2, "mlock policy");
  if (size < 1 || size > kMaxRegionSize) {
    Throw(env, "ERR_INVALID_ARG", "size must be between 1 and " + std::to_string(kMaxRegionSize));
  }
  if (backend > 1 || policy > 1) Throw(env, "ERR_INVALID_ARG", "unknown backend or mlock policy");
  if (napi_type_tag_object(env, info.This(), &kRegionTag) != napi_ok) {
    Throw(env, "ERR_SYSTEM", "could not tag a Region object");
  }
  AllocFailure failure;
  memory_ = GuardedMemory::Allocate(size, static_cast<Backend>(backend), static_cast<MlockPolicy>(policy), &failure);
  if (!memory_) Throw(env, failure.code, failure.message);
}

GuardedMemory& RegionWrap::Live(const char* what) {
  if (memory_->released()) {
    Throw(Env(), "ERR_FREED", std::string(what) + " was freed; allocate a new region");
  }
  return *memory_;
}

void RegionWrap::DetachViews() {
  if (buffer_.IsEmpty()) return;
  Napi::ArrayBuffer buffer = buffer_.Value();
  if (!buffer.IsEmpty() && !buffer.IsDetached()) buffer.Detach();
  buffer_.Reset();
}

Napi::Value RegionWrap::Protect(const Napi::CallbackInfo& info) {
  GuardedMemory& memory = Live("region");
  size_t mode = SizeArg(info, 0, "protection");
  if (mode > 2) Throw(info.Env(), "ERR_INVALID_ARG", "unknown protection");
  if (mode == static_cast<size_t>(Protection::kNoAccess)) DetachViews();
  int err = memory.Protect(static_cast<Protection>(mode));
  if (err != 0) Throw(info.Env(), "ERR_SYSTEM", std::string("mprotect failed: ") + strerror(err));
  return info.Env().Undefined();
}

Napi::Value RegionWrap::View(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GuardedMemory& memory = Live("region");
  if (memory.protection() == Protection::kNoAccess) {
    Throw(env, "ERR_NOACCESS", "the region is 'noaccess'; call protect('readonly') or protect('readwrite') first");
  }
  if (Data(env).external_buffers_disallowed) {
    Throw(env, "ERR_EXTERNAL_BUFFERS_DISALLOWED",
          "this runtime refuses external ArrayBuffers (V8 sandbox), so a region cannot be viewed from JS; "
          "use the native operations, or copy out through a scope that wipes its copy");
  }
  Napi::ArrayBuffer buffer;
  if (!buffer_.IsEmpty()) buffer = buffer_.Value();
  if (buffer.IsEmpty() || buffer.IsDetached()) {
    auto* share = new std::shared_ptr<GuardedMemory>(memory_);
    napi_value raw = nullptr;
    napi_status status = napi_create_external_arraybuffer(env, memory.data(), memory.size(), FinalizeView, share, &raw);
    if (status != napi_ok) {
      delete share;
      if (status == napi_no_external_buffers_allowed) {
        Data(env).external_buffers_disallowed = true;
        return View(info);
      }
      Throw(env, "ERR_SYSTEM", "could not create an ArrayBuffer over a region");
    }
    buffer = Napi::ArrayBuffer(env, raw);
    buffer_ = Napi::Weak(buffer);
  }
  return Napi::Uint8Array::New(env, memory.size(), buffer, 0);
}

Napi::Value RegionWrap::Free(const Napi::CallbackInfo& info) {
  if (!memory_->released()) {
    DetachViews();
    memory_->Release();
  }
  return info.Env().Undefined();
}

Napi::Value RegionWrap::State(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object state = Napi::Object::New(env);
  bool freed = memory_->released();
  state.Set("freed", freed);
  state.Set("protection", freed ? -1 : static_cast<int>(memory_->protection()));
  state.Set("backend", static_cast<int>(memory_->backend()));
  state.Set("locked", !freed && memory_->locked());
  return state;
}

Napi::Function InitRegion(Napi::Env env) {
  Napi::Function region = RegionWrap::Define(env);
  Data(env).region_class = Napi::Persistent(region);
  return region;
}

}  // namespace strongroom
