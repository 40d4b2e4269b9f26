// The N-API entry of age decryption (age.h): the file is read natively into a guarded
// region by reader.cc's steps (the path is opened and closed here; a descriptor passed in
// stays open), decrypted by AgeDecrypt, and the plaintext region handed to JS. The region
// of the file is wiped and freed on every path, and the error thrown only after that.
#include <string>

#include "age.h"
#include "binding.h"
#include "io.h"
#include "reader.h"
#include "region.h"

namespace strongroom {
namespace {

// (source: path | fd, kind, key, maxSize, maxWorkFactor, backend, mlockPolicy) -> handle
Napi::Value AgeDecryptJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool from_fd = info[0].IsNumber();
  int fd = from_fd ? FdArg(info, 0) : -1;
  std::string path = from_fd ? std::string() : TextArg(info, 0, "path", false);
  size_t kind = SizeArg(info, 1, "kind");
  if (kind > 1) Throw(env, "ERR_INVALID_ARG", "unknown age key kind");
  GuardedMemory& key = RegionArg(info, 2, kind == 0 ? "identity" : "passphrase");
  size_t max_log_n = SizeArg(info, 4, "maxWorkFactor");
  if (max_log_n < 1 || max_log_n > kAgeMaxScryptLogN) {
    Throw(env, "ERR_INVALID_ARG", "maxWorkFactor must be from 1 to " + std::to_string(kAgeMaxScryptLogN));
  }
  Sink sink = SinkArgs(info, 3, 5, from_fd ? "fd " + std::to_string(fd) : path);

  AgeRequest request;
  request.key = &key;
  request.kind = static_cast<AgeKeyKind>(kind);
  request.max_log_n = static_cast<unsigned>(max_log_n);
  request.backend = sink.backend;
  request.policy = sink.policy;

  Failure failure;
  bool ok = from_fd ? ReadOpenFile(fd, sink, &failure) : ReadPath(path, sink, &failure);
  std::shared_ptr<GuardedMemory> plain;
  if (ok) {
    // The reader's messages name the source already; the decrypter's get it in front.
    ok = sink.length > 0 ? AgeDecrypt(sink.memory->data(), sink.length, request, &plain, &failure)
                         : Fail(&failure, kAgeFormat, "the file is not a well-formed age v1 file: it is empty");
    if (!ok) failure.message = sink.source + ": " + failure.message;
  }
  Discard(sink);  // nothing secret in it, but it goes on every path
  if (!ok) Throw(env, failure.code, failure.message);
  return NewRegionHandle(env, std::move(plain));
}

}  // namespace

void InitAge(Napi::Env env, Napi::Object exports) {
  Register(env, exports, {
      {"ageDecrypt", Fn<AgeDecryptJs>},
  });
}

}  // namespace strongroom
