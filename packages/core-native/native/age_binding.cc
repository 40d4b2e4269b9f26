// The N-API entry of age decryption (age.h): the file is read natively into a guarded
// region by reader.cc's steps (the path is opened and closed here; a descriptor passed in
// stays open), decrypted by AgeDecrypt, and the plaintext region handed to JS. The region
// of the file is wiped and freed on every path, and the error thrown only after that.
#include <sodium.h>

#include <cstring>
#include <string>
#include <array>
#include <vector>

#include "age.h"
#include "age_format.h"
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

// (plaintext, recipients: string[], armor) -> Buffer of the age file. The recipients are
// public keys (age1…); the plaintext region is raised to 'readonly' for the call only.
Napi::Value AgeEncryptJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GuardedMemory& plain = RegionArg(info, 0, "plaintext");
  if (!info[1].IsArray() || info[1].As<Napi::Array>().Length() == 0) {
    Throw(env, "ERR_INVALID_ARG", "recipients must be a non-empty array of age1… strings");
  }
  Napi::Array list = info[1].As<Napi::Array>();
  if (list.Length() > kAgeMaxIdentities) {
    Throw(env, "ERR_INVALID_ARG", "at most " + std::to_string(kAgeMaxIdentities) + " recipients are accepted at once");
  }
  std::vector<std::array<uint8_t, kAgeX25519Bytes>> recipients(list.Length());
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value item = list.Get(i);
    std::string text = item.IsString() ? item.As<Napi::String>().Utf8Value() : std::string();
    if (!AgeDecodeRecipient(reinterpret_cast<const uint8_t*>(text.data()), text.size(), recipients[i].data())) {
      Throw(env, "ERR_INVALID_ARG",
            "recipient " + std::to_string(i + 1) + " is not an X25519 recipient (age1… as age-keygen -y prints it)");
    }
  }
  const bool armor = info[2].ToBoolean();
  const size_t binary = AgeEncryptedSize(plain.size(), recipients.size());
  // The ciphertext is public: an ordinary buffer for the binary form before armoring.
  std::vector<uint8_t> staging(armor ? binary : 0);
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, armor ? AgeArmoredSize(binary) : binary);
  uint8_t* target = armor ? staging.data() : out.Data();
  Failure failure;
  bool ok = false;
  {
    AccessScope read(plain, Protection::kReadOnly);
    ok = read.error() == 0
             ? AgeEncrypt(plain.data(), plain.size(), reinterpret_cast<const uint8_t(*)[32]>(recipients.data()),
                          recipients.size(), plain.backend(), plain.policy(), target, &failure)
             : Fail(&failure, "ERR_SYSTEM", std::string("could not make the plaintext readable: ") + strerror(read.error()));
  }
  if (!ok) Throw(env, failure.code, failure.message);
  if (armor) AgeArmor(staging.data(), binary, out.Data());
  return out;
}

}  // namespace

void InitAge(Napi::Env env, Napi::Object exports) {
  Register(env, exports, {
      {"ageDecrypt", Fn<AgeDecryptJs>},
      {"ageEncrypt", Fn<AgeEncryptJs>},
  });
}

}  // namespace strongroom
