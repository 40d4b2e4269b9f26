// Native operations on regions: random fill, zero, copy, XOR, constant-time equality,
// and copies to and from ordinary bytes for runtimes that refuse views.
// The bytes stay in guarded memory: JS passes handles and offsets, never content.
// Each operation raises protection only for its own duration (AccessScope).
#include <sodium.h>

#include <cstring>

#include "binding.h"
#include "constant_time.h"
#include "random.h"

namespace strongroom {
namespace {

void CheckRange(Napi::Env env, const GuardedMemory& memory, size_t offset, size_t length, const char* what) {
  if (offset > memory.size() || length > memory.size() - offset) {
    Throw(env, "ERR_INVALID_ARG", std::string(what) + " range is outside the region");
  }
}

// Random bytes straight into the region. Up to 256 bytes: getrandom(2). Beyond: ChaCha20
// keyed with 32 bytes from getrandom (libsodium's randombytes_buf_deterministic), because
// this kernel's getrandom gives about 150 MB/s. The seed is wiped at once. Returns 0 or
// the errno of getrandom.
int FillRandom(uint8_t* data, size_t size) {
  if (size <= 256) return SystemRandom(data, size);
  uint8_t seed[randombytes_SEEDBYTES];
  if (int err = SystemRandom(seed, sizeof seed)) return err;
  randombytes_buf_deterministic(data, size, seed);
  sodium_memzero(seed, sizeof seed);
  return 0;
}

Napi::Value RandomFill(const Napi::CallbackInfo& info) {
  GuardedMemory& target = RegionArg(info, 0, "target");
  int err = 0;
  {
    AccessScope access(target, Protection::kReadWrite);
    err = access.error() != 0 ? access.error() : FillRandom(target.data(), target.size());
  }
  if (err != 0) Throw(info.Env(), "ERR_SYSTEM", std::string("could not draw random bytes: ") + strerror(err));
  return info.Env().Undefined();
}

Napi::Value Zero(const Napi::CallbackInfo& info) {
  GuardedMemory& target = RegionArg(info, 0, "target");
  AccessScope access(target, Protection::kReadWrite);
  CheckAccess(info.Env(), access);
  sodium_memzero(target.data(), target.size());
  return info.Env().Undefined();
}

// (target, targetOffset, source, sourceOffset, length, xor?)
Napi::Value CopyOrXor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GuardedMemory& target = RegionArg(info, 0, "target");
  size_t target_offset = SizeArg(info, 1, "targetOffset");
  GuardedMemory& source = RegionArg(info, 2, "source");
  size_t source_offset = SizeArg(info, 3, "sourceOffset");
  size_t length = SizeArg(info, 4, "length");
  bool do_xor = info[5].ToBoolean();
  CheckRange(env, target, target_offset, length, "target");
  CheckRange(env, source, source_offset, length, "source");
  AccessScope read(source, Protection::kReadOnly);
  CheckAccess(env, read);
  AccessScope write(target, Protection::kReadWrite);
  CheckAccess(env, write);
  uint8_t* out = target.data() + target_offset;
  const uint8_t* in = source.data() + source_offset;
  if (do_xor) {
    for (size_t i = 0; i < length; i++) out[i] ^= in[i];
  } else {
    memmove(out, in, length);
  }
  return env.Undefined();
}

// (region, region | Uint8Array) -> boolean
Napi::Value Equal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GuardedMemory& a = RegionArg(info, 0, "a");
  AccessScope read_a(a, Protection::kReadOnly);
  CheckAccess(env, read_a);
  if (IsRegion(env, info[1])) {
    GuardedMemory& b = RegionArg(info, 1, "b");
    if (a.size() != b.size()) return Napi::Boolean::New(env, false);
    AccessScope read_b(b, Protection::kReadOnly);
    CheckAccess(env, read_b);
    return Napi::Boolean::New(env, ConstantTimeEqual(a.data(), b.data(), a.size()));
  }
  Napi::Uint8Array b = BytesArg(info, 1, "b");
  if (a.size() != b.ByteLength()) return Napi::Boolean::New(env, false);
  return Napi::Boolean::New(env, ConstantTimeEqual(a.data(), b.Data(), a.size()));
}

// (region, bytes, regionOffset, toRegion): copies between a region and ordinary bytes,
// for runtimes where a region cannot be viewed (the caller owns and wipes the bytes).
Napi::Value CopyBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GuardedMemory& region = RegionArg(info, 0, "region");
  Napi::Uint8Array bytes = BytesArg(info, 1, "bytes");
  size_t offset = SizeArg(info, 2, "offset");
  bool to_region = info[3].ToBoolean();
  CheckRange(env, region, offset, bytes.ByteLength(), "region");
  AccessScope access(region, to_region ? Protection::kReadWrite : Protection::kReadOnly);
  CheckAccess(env, access);
  // memmove: the bytes may be a view of this very region (copyIn(r, r.view().subarray(1))).
  if (to_region) {
    memmove(region.data() + offset, bytes.Data(), bytes.ByteLength());
  } else {
    memmove(bytes.Data(), region.data() + offset, bytes.ByteLength());
  }
  return env.Undefined();
}

}  // namespace

void InitOps(Napi::Env env, Napi::Object exports) {
  Register(env, exports, {
      {"randomFill", Fn<RandomFill>},
      {"zero", Fn<Zero>},
      {"copyOrXor", Fn<CopyOrXor>},
      {"equal", Fn<Equal>},
      {"copyBytes", Fn<CopyBytes>},
  });
}

}  // namespace strongroom
