// The JS object for one guarded region: protection changes, views, free.
// A view is a Uint8Array over an external ArrayBuffer on the region's own pages.
// Every ArrayBuffer holds a shared_ptr to the memory, so pages are never unmapped
// under a live view; protect('noaccess') and free() detach the current ArrayBuffer,
// leaving every view over it with length 0.
#pragma once

#include <napi.h>

#include <memory>

#include "guarded_memory.h"

namespace strongroom {

class RegionWrap : public Napi::ObjectWrap<RegionWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  // nullptr unless value is a Region of this addon.
  static RegionWrap* FromValue(Napi::Env env, Napi::Value value);

  explicit RegionWrap(const Napi::CallbackInfo& info);
  // The memory, or ERR_FREED.
  GuardedMemory& Live(const char* what);

 private:
  Napi::Value Protect(const Napi::CallbackInfo& info);
  Napi::Value View(const Napi::CallbackInfo& info);
  Napi::Value Free(const Napi::CallbackInfo& info);
  Napi::Value State(const Napi::CallbackInfo& info);
  void DetachViews();

  std::shared_ptr<GuardedMemory> memory_;
  Napi::Reference<Napi::ArrayBuffer> buffer_;  // weak: the current view's ArrayBuffer
};

}  // namespace strongroom
