// pkcs11Decrypt: the PKCS#11 exchange of pkcs11.cc as Node-API async work. A token can take
// a long time (a PIN check over USB, a network HSM, a lock held by another process), so
// the whole exchange runs on the libuv thread pool and the event loop keeps serving.
//
// On the JS thread the arguments are read into a Pkcs11Request (nothing secret in it) and
// the PIN is copied natively from the caller's region into a private region that the work
// owns ('noaccess' at rest, readable only around C_Login), so the caller may free its PIN
// as soon as the call has returned. The work's destructor frees that copy on every path,
// and the plaintext region too if it never reached JS. The worker's stack is scrubbed after
// the exchange: the module's decryption ran on it.
#include <memory>
#include <string>
#include <utility>

#include "binding.h"
#include "pkcs11.h"
#include "region.h"

namespace strongroom {
namespace {

class Pkcs11Work final : public Napi::AsyncWorker {
 public:
  Pkcs11Work(Napi::Env env, std::unique_ptr<Pkcs11Request> request, std::shared_ptr<GuardedMemory> pin)
      : Napi::AsyncWorker(env, "strongroom.pkcs11Decrypt"),
        promise_(env),
        request_(std::move(request)),
        pin_(std::move(pin)) {}
  ~Pkcs11Work() override {
    pin_->Release();
    if (result_) result_->Release();
  }
  Napi::Promise Promise() const { return promise_.Promise(); }

 private:
  void Execute() override {
    Run();
    ScrubWorkerStack();
  }

  __attribute__((noinline)) void Run() {
    try {
      result_ = Pkcs11Decrypt(*request_, *pin_, &failure_);
    } catch (const std::bad_alloc&) {
      if (result_) result_->Release();
      result_.reset();
      FailQuietly(&failure_, "ERR_NO_MEMORY", "native code ran out of memory during the PKCS#11 exchange");
    } catch (...) {
      if (result_) result_->Release();
      result_.reset();
      FailQuietly(&failure_, "ERR_SYSTEM", "unexpected failure in native code during the PKCS#11 exchange");
    }
  }

  // No C++ exception may leave a completion (invariant 9): one thrown while settling
  // rejects the promise instead (WorkPromise); when the environment is being torn down
  // nothing can be settled, and the destructor still frees both regions.
  void OnOK() override {
    promise_.Settle(Env(), [this] { Settle(); });
  }
  void OnError(const Napi::Error&) override { OnOK(); }

  void Settle() {
    Napi::Env env = Env();
    pin_->Release();
    if (!result_) {
      promise_.Reject(MakeError(env, failure_.code != nullptr ? failure_.code : "ERR_SYSTEM", failure_.message).Value());
      return;
    }
    try {
      promise_.Resolve(NewRegionHandle(env, std::move(result_)));
    } catch (const Napi::Error& error) {
      promise_.Reject(error.Value());
    }
  }

  WorkPromise promise_;
  std::unique_ptr<Pkcs11Request> request_;
  std::shared_ptr<GuardedMemory> pin_;
  std::shared_ptr<GuardedMemory> result_;
  Failure failure_;
};

std::string TextArg(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (!info[index].IsString()) Throw(info.Env(), "ERR_INVALID_ARG", std::string(what) + " must be a string");
  std::string text = info[index].As<Napi::String>().Utf8Value();
  if (text.find('\0') != std::string::npos) {
    Throw(info.Env(), "ERR_INVALID_ARG", std::string(what) + " must not contain a NUL character");
  }
  return text;
}

std::vector<uint8_t> CopyBytes(const Napi::CallbackInfo& info, size_t index, const char* what, size_t max) {
  Napi::Uint8Array bytes = BytesArg(info, index, what);
  if (bytes.ByteLength() > max) {
    Throw(info.Env(), "ERR_INVALID_ARG", std::string(what) + " is longer than " + std::to_string(max) + " bytes");
  }
  return std::vector<uint8_t>(bytes.Data(), bytes.Data() + bytes.ByteLength());
}

// (module, slot (-1: by label), tokenLabel | undefined, pin, keyLabel | undefined,
//  keyId | undefined, mechanism, oaepHash, ciphertext, iv | undefined, aad | undefined,
//  backend, mlockPolicy) -> Promise<handle>
// The TypeScript layer (src/pkcs11.ts) checks and explains; these checks guard memory
// safety and the request's shape on their own.
Napi::Value Pkcs11DecryptJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto request = std::make_unique<Pkcs11Request>();
  request->module = TextArg(info, 0, "module");
  if (!info[1].IsNumber()) Throw(env, "ERR_INVALID_ARG", "slot must be a number");
  double slot = info[1].As<Napi::Number>().DoubleValue();
  if (slot == -1) {
    request->token_label = TextArg(info, 2, "tokenLabel");
    if (request->token_label.empty() || request->token_label.size() > kTokenLabelBytes) {
      Throw(env, "ERR_INVALID_ARG", "tokenLabel must be 1 to 32 bytes of UTF-8");
    }
  } else {
    request->by_slot = true;
    request->slot = static_cast<unsigned long>(SizeArg(info, 1, "slot"));
  }
  GuardedMemory& pin = RegionArg(info, 3, "pin");
  if (!info[4].IsUndefined()) {
    request->has_key_label = true;
    request->key_label = TextArg(info, 4, "key label");
  }
  if (!info[5].IsUndefined()) {
    request->has_key_id = true;
    request->key_id = CopyBytes(info, 5, "key id", kPkcs11MaxCiphertext);
  }
  if (!request->has_key_label && !request->has_key_id) Throw(env, "ERR_INVALID_ARG", "give the key's label or id");
  size_t mechanism = SizeArg(info, 6, "mechanism");
  size_t hash = SizeArg(info, 7, "oaepHash");
  if (mechanism > 1 || hash > 1) Throw(env, "ERR_INVALID_ARG", "unknown mechanism or OAEP hash");
  request->mechanism = static_cast<Pkcs11Mechanism>(mechanism);
  request->oaep_hash = static_cast<OaepHash>(hash);
  request->ciphertext = CopyBytes(info, 8, "ciphertext", kPkcs11MaxCiphertext);
  if (request->ciphertext.empty()) Throw(env, "ERR_INVALID_ARG", "the ciphertext is empty");
  bool gcm = request->mechanism == Pkcs11Mechanism::kAesGcm;
  if (gcm != !info[9].IsUndefined()) Throw(env, "ERR_INVALID_ARG", "an IV goes with aes-gcm, and only with it");
  if (gcm) {
    request->iv = CopyBytes(info, 9, "iv", kGcmMaxIvBytes);
    if (request->iv.empty()) Throw(env, "ERR_INVALID_ARG", "the IV is empty");
  }
  if (!info[10].IsUndefined()) {
    if (!gcm) Throw(env, "ERR_INVALID_ARG", "AAD goes with aes-gcm only");
    request->aad = CopyBytes(info, 10, "aad", kPkcs11MaxCiphertext);
  }
  AllocationChoice allocation = AllocationArgs(info, 11);
  request->backend = allocation.backend;
  request->policy = allocation.policy;

  std::shared_ptr<GuardedMemory> copy = PrivateCopy(env, pin, "the PIN");
  return QueueOwning<Pkcs11Work>(copy, [&] { return new Pkcs11Work(env, std::move(request), copy); });
}

}  // namespace

void InitPkcs11(Napi::Env env, Napi::Object exports) {
  Register(env, exports, {
      {"pkcs11Decrypt", Fn<Pkcs11DecryptJs>},
  });
}

}  // namespace strongroom
