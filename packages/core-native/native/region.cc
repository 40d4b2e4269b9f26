// Region handles: allocation, protection, views, free (see region.h).
#include "region.h"

#include <sys/resource.h>

#include <cstring>

#include "binding.h"
#include "slab.h"
#include "mappings.h"

namespace strongroom {
namespace {

// Marks handles made by this addon, so no other External is ever read as one.
const napi_type_tag kRegionTag = {0x9f3c6a1e52d74b08ULL, 0xb41d7e2c86a9f053ULL};

void FinalizeView(napi_env /*env*/, void* /*data*/, void* hint) {
  // Drops this view's share of the memory; the last share wipes and unmaps it.
  delete static_cast<std::shared_ptr<GuardedMemory>*>(hint);
}

void FinalizeHandle(Napi::Env /*env*/, RegionHandle* handle) { delete handle; }

RegionHandle& HandleArg(const Napi::CallbackInfo& info) {
  RegionHandle* handle = HandleOf(info.Env(), info[0]);
  if (handle == nullptr) Throw(info.Env(), "ERR_INVALID_ARG", "expected a region handle");
  return *handle;
}

// The handle of a live region (ERR_FREED after free()), looked up once per call.
RegionHandle& LiveHandleArg(const Napi::CallbackInfo& info) {
  RegionHandle& handle = HandleArg(info);
  if (handle.memory->released()) Throw(info.Env(), "ERR_FREED", "region was freed; allocate a new region");
  return handle;
}

// The current ArrayBuffer, if it is still attached. One found detached was moved by
// someone else (strongroom detaches only in DetachViews, which forgets it): `escaped`.
Napi::ArrayBuffer AttachedBuffer(RegionHandle& handle) {
  if (handle.buffer.IsEmpty()) return Napi::ArrayBuffer();
  Napi::ArrayBuffer buffer = handle.buffer.Value();
  if (buffer.IsEmpty() || buffer.IsDetached()) {
    handle.escaped = true;
    handle.buffer.Reset();
    return Napi::ArrayBuffer();
  }
  return buffer;
}

void DetachViews(RegionHandle& handle) {
  Napi::ArrayBuffer buffer = AttachedBuffer(handle);
  if (!buffer.IsEmpty()) buffer.Detach();
  handle.buffer.Reset();
}

constexpr const char* kEscaped =
    "a view of this region left its scope: ArrayBuffer.prototype.transfer(), a byte stream's enqueue() or a "
    "BYOB read moved its memory into an ArrayBuffer that strongroom cannot detach. ";

// After a view escaped: the secret moves to fresh pages (same size, backend and mlock
// policy) and the old pages are orphaned, so the moved ArrayBuffer shows zeros from now on.
// Throws ERR_VIEW_ESCAPED once the region is consistent again (moved and protected as
// asked, or, if no fresh pages could be had, wiped and freed).
[[noreturn]] void RelocateAndThrow(Napi::Env env, RegionHandle& handle, Protection protection) {
  handle.escaped = false;
  std::shared_ptr<GuardedMemory> old = handle.memory;
  Failure failure;
  std::shared_ptr<GuardedMemory> fresh;
  try {
    fresh = GuardedMemory::Allocate(old->size(), old->backend(), old->policy(), &failure,
                                    old->shared() ? Placement::kShared : Placement::kIsolated);
    if (fresh) {
      int err = 0;
      {
        AccessScope read(*old, Protection::kReadOnly);
        err = read.error();
        if (err == 0) memcpy(fresh->data(), old->data(), old->size());
      }
      if (err != 0) {
        fresh.reset();
        failure.message = strerror(err);
      }
    }
  } catch (const std::bad_alloc&) {
    fresh.reset();  // no fresh pages: the secret is wiped below, as when none could be mapped
  }
  // On every way out: the old pages are orphaned, so the moved ArrayBuffer never sees them
  // handed to another secret (as a spare, or a slot).
  old->Orphan();
  if (!fresh) {
    Throw(env, "ERR_VIEW_ESCAPED",
          std::string(kEscaped) + "No fresh pages could be had to move the secret to (" + failure.message +
              "), so it was wiped and the region freed. Copy bytes out of a view instead of moving it.");
  }
  handle.memory = fresh;
  int err = fresh->Protect(protection);
  Throw(env, "ERR_VIEW_ESCAPED",
        std::string(kEscaped) +
            "The secret was moved to new pages and the old ones wiped, so the moved view shows zeros; nothing "
            "was lost" + (err == 0 ? "" : std::string(" (but the new pages could not be protected: ") + strerror(err) + ")") +
            ". Copy bytes out of a view (Buffer.from(view), copyOut) instead of moving it.");
}

// (size, backend, mlockPolicy, placement) -> handle
Napi::Value RegionNew(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t size = RegionSizeArg(info, 0, "size");
  AllocationChoice choice = AllocationArgs(info, 1);
  size_t placement = SizeArg(info, 3, "placement");
  if (placement > 1) Throw(env, "ERR_INVALID_ARG", "unknown placement");
  Failure failure;
  auto memory = GuardedMemory::Allocate(size, choice.backend, choice.policy, &failure, static_cast<Placement>(placement));
  if (!memory) Throw(env, failure.code, failure.message);
  return NewRegionHandle(env, std::move(memory));
}

// (handle, protection)
Napi::Value RegionProtect(const Napi::CallbackInfo& info) {
  RegionHandle& handle = LiveHandleArg(info);
  GuardedMemory& memory = *handle.memory;
  size_t mode = SizeArg(info, 1, "protection");
  if (mode > 2) Throw(info.Env(), "ERR_INVALID_ARG", "unknown protection");
  if (mode == static_cast<size_t>(Protection::kNoAccess)) {
    DetachViews(handle);
    if (handle.escaped) RelocateAndThrow(info.Env(), handle, Protection::kNoAccess);
  }
  int err = memory.Protect(static_cast<Protection>(mode));
  if (err != 0) Throw(info.Env(), "ERR_SYSTEM", std::string("mprotect failed: ") + strerror(err));
  return info.Env().Undefined();
}

// (handle) -> Uint8Array over the region
Napi::Value RegionView(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RegionHandle& handle = LiveHandleArg(info);
  GuardedMemory& memory = *handle.memory;
  if (memory.protection() == Protection::kNoAccess) {
    Throw(env, "ERR_NOACCESS", "the region is 'noaccess'; call protect('readonly') or protect('readwrite') first");
  }
  if (Data(env).external_buffers_disallowed) {
    Throw(env, "ERR_EXTERNAL_BUFFERS_DISALLOWED",
          "this runtime refuses external ArrayBuffers (V8 sandbox), so a region cannot be viewed from JS; "
          "use the native operations, or copy out through a scope that wipes its copy");
  }
  Napi::ArrayBuffer buffer = AttachedBuffer(handle);
  if (buffer.IsEmpty()) {
    auto* share = new std::shared_ptr<GuardedMemory>(handle.memory);
    napi_value raw = nullptr;
    napi_status status = napi_create_external_arraybuffer(env, memory.data(), memory.size(), FinalizeView, share, &raw);
    if (status != napi_ok) {
      delete share;
      if (status == napi_no_external_buffers_allowed) {
        Data(env).external_buffers_disallowed = true;
        return RegionView(info);
      }
      Throw(env, "ERR_SYSTEM", "could not create an ArrayBuffer over a region");
    }
    buffer = Napi::ArrayBuffer(env, raw);
    handle.buffer = Napi::Persistent(buffer);
  }
  return Napi::Uint8Array::New(env, memory.size(), buffer, 0);
}

// (handle): idempotent. Pages an escaped view may still reference are orphaned, not
// released (the scope that let the view escape has reported it already, or the region is
// being freed inside that scope).
Napi::Value RegionFree(const Napi::CallbackInfo& info) {
  RegionHandle& handle = HandleArg(info);
  if (!handle.memory->released()) {
    DetachViews(handle);
    if (handle.escaped) handle.memory->Orphan();
    else handle.memory->Release();
    handle.escaped = false;
  }
  return info.Env().Undefined();
}

// (handle) -> usable bytes (also after free())
Napi::Value RegionSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(HandleArg(info).memory->size()));
}

// (handle) -> bits: protection (0-2) | kStateFreed | kStateLocked | backend << kStateBackendShift
Napi::Value RegionState(const Napi::CallbackInfo& info) {
  const GuardedMemory& memory = *HandleArg(info).memory;
  bool freed = memory.released();
  int bits = (freed ? 0 : static_cast<int>(memory.protection())) | (freed ? kStateFreed : 0) |
             (!freed && memory.locked() ? kStateLocked : 0) | (static_cast<int>(memory.backend()) << kStateBackendShift);
  return Napi::Number::New(info.Env(), bits);
}

// Guarded memory in use, process-wide (stats() in src/stats.ts adds the JS defaults),
// and the spare pool.
Napi::Value ReleaseSpares(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(ReleaseSpareRegions()));
}

// { count, empty, bytes, classes: [{ size, slabs, slots, slotsInUse, deadSlots }] }
Napi::Object SlabStatsObject(Napi::Env env) {
  const SlabStats stats = SlabHeap::Stats();
  auto number = [env](size_t n) { return Napi::Number::New(env, static_cast<double>(n)); };
  Napi::Array classes = Napi::Array::New(env, kSlabClassCount);
  for (uint32_t k = 0; k < kSlabClassCount; k++) {
    const SlabClassStats& c = stats.classes[k];
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("size", number(c.size));
    entry.Set("slabs", number(c.slabs));
    entry.Set("slots", number(c.slots));
    entry.Set("slotsInUse", number(c.slots_in_use));
    entry.Set("deadSlots", number(c.dead_slots));
    classes.Set(k, entry);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("count", number(stats.slabs));
  out.Set("empty", number(stats.empty_slabs));
  out.Set("bytes", number(stats.bytes));
  out.Set("classes", classes);
  return out;
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MemoryCounters& c = Counters();
  Napi::Object out = Napi::Object::New(env);
  out.Set("regions", Napi::Number::New(env, static_cast<double>(c.regions.load())));
  out.Set("mmapRegions", Napi::Number::New(env, static_cast<double>(c.mmap_regions.load())));
  out.Set("secretmemRegions", Napi::Number::New(env, static_cast<double>(c.secretmem_regions.load())));
  out.Set("bytesLocked", Napi::Number::New(env, static_cast<double>(c.bytes_locked.load())));
  out.Set("bytesUnlocked", Napi::Number::New(env, static_cast<double>(c.bytes_unlocked.load())));
  out.Set("mlockFailures", Napi::Number::New(env, static_cast<double>(c.mlock_failures.load())));
  out.Set("spareRegions", Napi::Number::New(env, static_cast<double>(c.spare_regions.load())));
  out.Set("spareBytes", Napi::Number::New(env, static_cast<double>(c.spare_bytes.load())));
  out.Set("orphanedRegions", Napi::Number::New(env, static_cast<double>(c.orphaned_regions.load())));
  out.Set("slabs", SlabStatsObject(env));
  out.Set("mappings", Napi::Number::New(env, static_cast<double>(MappingsHeld())));
  out.Set("mappingBudget", Napi::Number::New(env, static_cast<double>(Mappings().budget)));
  out.Set("secretmemAvailable", SecretmemAvailable());
  out.Set("memlockLimit", LimitObject(env, RLIMIT_MEMLOCK));
  out.Set("coreLimit", LimitObject(env, RLIMIT_CORE));
  out.Set("dumpable", Dumpable(env));
  out.Set("pageSize", Napi::Number::New(env, static_cast<double>(PageSize())));
  return out;
}

Napi::Value SecretmemAvailableJs(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), SecretmemAvailable());
}

Napi::Value SecretmemAnswerKnownJs(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), SecretmemAnswerKnown());
}

}  // namespace

Napi::Value NewRegionHandle(Napi::Env env, std::shared_ptr<GuardedMemory> memory) {
  // From here the handle owns the memory: if anything below throws, the External's
  // finalizer (or the unique_ptr) releases it.
  auto owned = std::make_unique<RegionHandle>();
  owned->memory = std::move(memory);
  auto external = Napi::External<RegionHandle>::New(env, owned.get(), FinalizeHandle);
  RegionHandle* handle = owned.release();
  if (napi_type_tag_object(env, external, &kRegionTag) != napi_ok) {
    handle->memory->Release();
    Throw(env, "ERR_SYSTEM", "could not tag a region handle");
  }
  return external;
}

RegionHandle* HandleOf(Napi::Env env, Napi::Value value) {
  if (!value.IsExternal()) return nullptr;
  bool tagged = false;
  if (napi_check_object_type_tag(env, value, &kRegionTag, &tagged) != napi_ok || !tagged) return nullptr;
  return value.As<Napi::External<RegionHandle>>().Data();
}

void InitRegion(Napi::Env env, Napi::Object exports) {
  Register(env, exports, {
      {"regionNew", Fn<RegionNew>},
      {"regionProtect", Fn<RegionProtect>},
      {"regionView", Fn<RegionView>},
      {"regionFree", Fn<RegionFree>},
      {"regionState", Fn<RegionState>},
      {"regionSize", Fn<RegionSize>},
      {"stats", Fn<Stats>},
      {"releaseSpareRegions", Fn<ReleaseSpares>},
      {"secretmemAvailable", Fn<SecretmemAvailableJs>},
      {"secretmemAnswerKnown", Fn<SecretmemAnswerKnownJs>},
  });
}

}  // namespace strongroom
