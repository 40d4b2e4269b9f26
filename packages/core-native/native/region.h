// The JS handle of one guarded region: a type-tagged napi External (cheap to check and
// to read on every call, unlike an ObjectWrap's unwrap) owning a RegionHandle.
//
// A view is a Uint8Array over an external ArrayBuffer on the region's own pages. Every
// such ArrayBuffer holds a shared_ptr to the memory, so pages are never unmapped under
// a live view; protect(noaccess) and free() detach the current ArrayBuffer, leaving
// every view over it with length 0. When the handle is collected, its share goes; the
// last share wipes and unmaps.
//
// A view can leave its scope without strongroom's knowing: transfer(), a byte stream's
// enqueue() and a BYOB read move the memory into a new ArrayBuffer and detach the one
// strongroom handed out. The handle holds its current ArrayBuffer strongly, so finding it
// detached by someone else is certain proof of such a move (`escaped`). The moved
// ArrayBuffer keeps its share of the memory; so that it can never show this secret after
// the scope, nor another secret, nor fault, the region moves to fresh pages when the
// scope ends and the old pages are wiped and orphaned (GuardedMemory::Orphan): mapped,
// zero, never reused, unmapped when the moved ArrayBuffer is collected. The call that
// ends the scope then throws ERR_VIEW_ESCAPED.
#pragma once

#include <napi.h>

#include <memory>

#include "guarded_memory.h"

namespace strongroom {

struct RegionHandle {
  std::shared_ptr<GuardedMemory> memory;
  Napi::Reference<Napi::ArrayBuffer> buffer;  // strong: the current views' ArrayBuffer, until detached
  bool escaped = false;                       // an ArrayBuffer of this region was moved by someone else
};

// A new region handle owning `memory` (a fresh region that JS has not seen yet): how
// regionNew and the readers of io.cc hand a region to JS. Throws ERR_SYSTEM, with the
// memory released, if the handle cannot be tagged.
Napi::Value NewRegionHandle(Napi::Env env, std::shared_ptr<GuardedMemory> memory);

// nullptr unless value is a region handle made by this addon.
RegionHandle* HandleOf(Napi::Env env, Napi::Value value);

}  // namespace strongroom
