// The PKCS#11 exchange of pkcs11.h. One Exchange object per call owns every resource it
// acquires (the dlopen handle, the library's initialisation, the session, the login, an
// active find) and gives each back in its destructor, in reverse order, whatever path the
// call took. Every CK_RV is checked, the clean-up calls' too: a failure there is reported
// when nothing failed before it (and the plaintext is then wiped: a caller must not get a
// secret from a call that leaked a session).
//
// Errors never hold a secret: they name the module path, the token and key labels, the key
// id in hex, and the CKR_ code. The PIN is only ever passed by pointer from its guarded
// region; the plaintext is written by the module straight into a guarded region.
#include "pkcs11.h"

#include <dlfcn.h>
#include <sodium.h>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <utility>

#include "pkcs11_spec.h"
#include "reader.h"

namespace strongroom {
namespace {

using namespace p11;

// C_Initialize and C_Finalize are per process (and module): two calls that overlapped would
// finalize the library under each other. Decrypting a data key is rare (start-up, a
// rotation), so one exchange at a time, process-wide, worker threads included.
std::mutex g_exchange_mutex;

const char* RvName(CK_RV rv) {
  switch (rv) {
    case CKR_OK: return "CKR_OK";
    case CKR_HOST_MEMORY: return "CKR_HOST_MEMORY";
    case CKR_SLOT_ID_INVALID: return "CKR_SLOT_ID_INVALID";
    case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
    case CKR_FUNCTION_FAILED: return "CKR_FUNCTION_FAILED";
    case CKR_ARGUMENTS_BAD: return "CKR_ARGUMENTS_BAD";
    case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
    case CKR_DEVICE_MEMORY: return "CKR_DEVICE_MEMORY";
    case CKR_DEVICE_REMOVED: return "CKR_DEVICE_REMOVED";
    case CKR_ENCRYPTED_DATA_INVALID: return "CKR_ENCRYPTED_DATA_INVALID";
    case CKR_ENCRYPTED_DATA_LEN_RANGE: return "CKR_ENCRYPTED_DATA_LEN_RANGE";
    case CKR_KEY_HANDLE_INVALID: return "CKR_KEY_HANDLE_INVALID";
    case CKR_KEY_SIZE_RANGE: return "CKR_KEY_SIZE_RANGE";
    case CKR_KEY_TYPE_INCONSISTENT: return "CKR_KEY_TYPE_INCONSISTENT";
    case CKR_KEY_FUNCTION_NOT_PERMITTED: return "CKR_KEY_FUNCTION_NOT_PERMITTED";
    case CKR_MECHANISM_INVALID: return "CKR_MECHANISM_INVALID";
    case CKR_MECHANISM_PARAM_INVALID: return "CKR_MECHANISM_PARAM_INVALID";
    case CKR_OPERATION_ACTIVE: return "CKR_OPERATION_ACTIVE";
    case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT";
    case CKR_PIN_INVALID: return "CKR_PIN_INVALID";
    case CKR_PIN_LEN_RANGE: return "CKR_PIN_LEN_RANGE";
    case CKR_PIN_EXPIRED: return "CKR_PIN_EXPIRED";
    case CKR_PIN_LOCKED: return "CKR_PIN_LOCKED";
    case CKR_SESSION_COUNT: return "CKR_SESSION_COUNT";
    case CKR_TOKEN_NOT_PRESENT: return "CKR_TOKEN_NOT_PRESENT";
    case CKR_TOKEN_NOT_RECOGNIZED: return "CKR_TOKEN_NOT_RECOGNIZED";
    case CKR_USER_ALREADY_LOGGED_IN: return "CKR_USER_ALREADY_LOGGED_IN";
    case CKR_USER_PIN_NOT_INITIALIZED: return "CKR_USER_PIN_NOT_INITIALIZED";
    case CKR_BUFFER_TOO_SMALL: return "CKR_BUFFER_TOO_SMALL";
    case CKR_CRYPTOKI_NOT_INITIALIZED: return "CKR_CRYPTOKI_NOT_INITIALIZED";
    case CKR_CRYPTOKI_ALREADY_INITIALIZED: return "CKR_CRYPTOKI_ALREADY_INITIALIZED";
    case CKR_FUNCTION_REJECTED: return "CKR_FUNCTION_REJECTED";
    default: return nullptr;
  }
}

// "CKR_PIN_INCORRECT (0xa0)", or "0x8000001f" for a code strongroom has no name for.
std::string Rv(CK_RV rv) {
  char hex[32];
  snprintf(hex, sizeof hex, "0x%lx", rv);
  const char* name = RvName(rv);
  return name == nullptr ? std::string(hex) : std::string(name) + " (" + hex + ")";
}

std::string Hex(const std::vector<uint8_t>& bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

// A label as it appears in CK_TOKEN_INFO: 32 bytes padded with spaces (some modules pad
// with NULs), without its padding.
std::string TrimmedLabel(const CK_BYTE (&label)[kTokenLabelBytes]) {
  size_t n = kTokenLabelBytes;
  while (n > 0 && (label[n - 1] == ' ' || label[n - 1] == '\0')) n--;
  return std::string(reinterpret_cast<const char*>(label), n);
}

class Exchange {
 public:
  Exchange(const Pkcs11Request& request, Failure* failure) : request_(request), failure_(failure) {}
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;
  ~Exchange() {
    CleanUp();
    Discard(sink_);
  }

  // Every step; false with *failure_ filled at the first that fails.
  bool Run(GuardedMemory& pin) {
    return Load() && Initialize() && FindSlot() && OpenSession() && Login(pin) && FindKey() && Decrypt() &&
           CleanUp();
  }

  // The plaintext, after Run() returned true.
  std::shared_ptr<GuardedMemory> TakeResult() { return std::move(sink_.memory); }

 private:
  bool Failed(const char* code, const std::string& message) { return Fail(failure_, code, message); }

  // ERR_PKCS11 for what a caller cannot fix by other inputs, with the function and the code.
  bool Failed(const char* function, CK_RV rv, const std::string& hint = "") {
    return Failed("ERR_PKCS11", std::string(function) + " failed in the PKCS#11 module " + request_.module + ": " +
                                    Rv(rv) + (hint.empty() ? "" : "; " + hint));
  }

  std::string TokenName() const {
    return request_.by_slot ? "the token in slot " + std::to_string(request_.slot)
                            : "the token labelled '" + request_.token_label + "'";
  }

  std::string KeyName() const {
    std::string kind = request_.mechanism == Pkcs11Mechanism::kAesGcm ? "AES secret key" : "RSA private key";
    std::string name = kind;
    if (request_.has_key_label) name += " labelled '" + request_.key_label + "'";
    if (request_.has_key_label && request_.has_key_id) name += " and";
    if (request_.has_key_id) name += " with id " + Hex(request_.key_id);
    return name;
  }

  bool Load() {
    dlerror();
    handle_ = dlopen(request_.module.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle_ == nullptr) {
      const char* why = dlerror();
      return Failed("ERR_SOURCE_UNAVAILABLE", "could not load the PKCS#11 module " + request_.module + ": " +
                                             (why != nullptr ? why : "dlopen failed") +
                                             ". Check the path (the vendor's .so, e.g. /usr/lib/softhsm/libsofthsm2.so)");
    }
    dlerror();
    void* symbol = dlsym(handle_, "C_GetFunctionList");
    if (symbol == nullptr) {
      const char* why = dlerror();
      return Failed("ERR_SOURCE_UNAVAILABLE", request_.module + " is not a PKCS#11 module: it has no C_GetFunctionList (" +
                                             (why != nullptr ? why : "no such symbol") + ")");
    }
    CK_C_GetFunctionList get_list = nullptr;
    static_assert(sizeof get_list == sizeof symbol, "function and object pointers have one size here");
    memcpy(&get_list, &symbol, sizeof get_list);
    CK_RV rv = get_list(&list_);
    if (rv != CKR_OK) return Failed("C_GetFunctionList", rv);
    if (list_ == nullptr || list_->version.major < 2) {
      std::string what = list_ == nullptr ? "missing" : "of version " + std::to_string(list_->version.major);
      list_ = nullptr;
      return Failed("ERR_SOURCE_UNAVAILABLE", request_.module + " is not a PKCS#11 v2 module (its function list is " +
                                             what + ")");
    }
    if (list_->C_Initialize == nullptr || list_->C_Finalize == nullptr || list_->C_GetSlotList == nullptr ||
        list_->C_GetTokenInfo == nullptr || list_->C_OpenSession == nullptr || list_->C_CloseSession == nullptr ||
        list_->C_Login == nullptr || list_->C_Logout == nullptr || list_->C_FindObjectsInit == nullptr ||
        list_->C_FindObjects == nullptr || list_->C_FindObjectsFinal == nullptr || list_->C_DecryptInit == nullptr ||
        list_->C_Decrypt == nullptr) {
      list_ = nullptr;
      return Failed("ERR_SOURCE_UNAVAILABLE", request_.module + " lacks functions strongroom needs in its function list");
    }
    return true;
  }

  // The module's own threads may call back into it: no mutex callbacks, the OS's locking.
  // Another part of this process may have initialised the module already
  // (CKR_CRYPTOKI_ALREADY_INITIALIZED): then it is used as it is and not finalised here.
  bool Initialize() {
    CK_C_INITIALIZE_ARGS args = {};
    args.flags = CKF_OS_LOCKING_OK;
    CK_RV rv = list_->C_Initialize(&args);
    if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) return true;
    if (rv != CKR_OK) return Failed("C_Initialize", rv);
    initialized_ = true;
    return true;
  }

  bool TokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO* info, CK_RV* rv) {
    *rv = list_->C_GetTokenInfo(slot, info);
    return *rv == CKR_OK;
  }

  bool FindSlot() {
    CK_TOKEN_INFO info = {};
    CK_RV rv = CKR_OK;
    if (request_.by_slot) {
      if (TokenInfo(request_.slot, &info, &rv)) {
        slot_ = request_.slot;
        return true;
      }
      if (rv == CKR_SLOT_ID_INVALID || rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_TOKEN_NOT_RECOGNIZED) {
        return Failed("ERR_SECRET_NOT_FOUND", "no token in slot " + std::to_string(request_.slot) + " of " +
                                                  request_.module + " (" + Rv(rv) + "); list the slots with " +
                                                  "`pkcs11-tool --module <module> -L`, or name the token by tokenLabel");
      }
      return Failed("C_GetTokenInfo", rv);
    }
    // The slot list can grow between the two calls (a token plugged in): then ask again.
    std::vector<CK_SLOT_ID> slots;
    for (int attempt = 0;; attempt++) {
      CK_ULONG count = 0;
      rv = list_->C_GetSlotList(CK_TRUE, nullptr, &count);
      if (rv != CKR_OK) return Failed("C_GetSlotList", rv);
      slots.assign(count, 0);
      rv = list_->C_GetSlotList(CK_TRUE, slots.data(), &count);
      if (rv == CKR_BUFFER_TOO_SMALL && attempt < 3) continue;
      if (rv != CKR_OK) return Failed("C_GetSlotList", rv);
      slots.resize(count);
      break;
    }
    size_t matches = 0;
    std::string seen;
    for (CK_SLOT_ID slot : slots) {
      if (!TokenInfo(slot, &info, &rv)) {
        // A token removed or not recognised since the list was made is simply not a match.
        if (rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_TOKEN_NOT_RECOGNIZED || rv == CKR_SLOT_ID_INVALID ||
            rv == CKR_DEVICE_REMOVED) {
          continue;
        }
        return Failed("C_GetTokenInfo", rv);
      }
      std::string label = TrimmedLabel(info.label);
      if (label == request_.token_label) {
        if (matches++ == 0) slot_ = slot;
      } else if (seen.size() < 512) {
        seen += (seen.empty() ? "'" : ", '") + label + "'";
      }
    }
    if (matches == 0) {
      return Failed("ERR_SECRET_NOT_FOUND", "no token labelled '" + request_.token_label + "' in " + request_.module +
                                                " (tokens present: " + (seen.empty() ? "none" : seen) +
                                                "); check tokenLabel, or give the slot");
    }
    if (matches > 1) {
      return Failed("ERR_INVALID_ARG", std::to_string(matches) + " tokens in " + request_.module + " are labelled '" +
                                           request_.token_label + "': give the slot instead of tokenLabel");
    }
    return true;
  }

  bool OpenSession() {
    CK_RV rv = list_->C_OpenSession(slot_, CKF_SERIAL_SESSION, nullptr, nullptr, &session_);
    if (rv != CKR_OK) return Failed("C_OpenSession", rv, "could not open a session on " + TokenName());
    has_session_ = true;
    return true;
  }

  // The PIN goes from its guarded region to C_Login by pointer, readable only for the call.
  // A login state is per application and token: when another session of this process is
  // logged in already (CKR_USER_ALREADY_LOGGED_IN), this one uses it and does not log out,
  // which would log the other sessions out too.
  bool Login(GuardedMemory& pin) {
    CK_RV rv;
    int err;
    {
      AccessScope read(pin, Protection::kReadOnly);
      err = read.error();
      rv = err == 0 ? list_->C_Login(session_, CKU_USER, pin.data(), pin.size()) : CKR_OK;
    }
    if (err != 0) return Failed("ERR_SYSTEM", std::string("could not make the PIN's private copy readable: ") + strerror(err));
    if (rv == CKR_USER_ALREADY_LOGGED_IN) return true;
    switch (rv) {
      case CKR_OK:
        logged_in_ = true;
        return true;
      case CKR_PIN_INCORRECT:
      case CKR_PIN_INVALID:
      case CKR_PIN_LEN_RANGE:
        return Failed("ERR_SOURCE_AUTH", TokenName() + " refused the PIN (" + Rv(rv) +
                                             "); check the PIN: tokens lock it after a few wrong attempts");
      case CKR_PIN_LOCKED:
        return Failed("ERR_SOURCE_AUTH", "the user PIN of " + TokenName() + " is locked (" + Rv(rv) +
                                             "); the token's security officer must unlock it");
      case CKR_PIN_EXPIRED:
        return Failed("ERR_SOURCE_AUTH", "the user PIN of " + TokenName() + " has expired (" + Rv(rv) +
                                             "); set a new one with the token's tools");
      case CKR_USER_PIN_NOT_INITIALIZED:
        return Failed("ERR_SOURCE_AUTH", TokenName() + " has no user PIN yet (" + Rv(rv) +
                                             "); initialise it with the token's tools");
      default:
        return Failed("C_Login", rv);
    }
  }

  bool FindKey() {
    CK_OBJECT_CLASS klass = request_.mechanism == Pkcs11Mechanism::kAesGcm ? CKO_SECRET_KEY : CKO_PRIVATE_KEY;
    CK_ATTRIBUTE match[3];
    CK_ULONG n = 0;
    match[n++] = {CKA_CLASS, &klass, sizeof klass};
    if (request_.has_key_label) {
      match[n++] = {CKA_LABEL, const_cast<char*>(request_.key_label.data()), request_.key_label.size()};
    }
    if (request_.has_key_id) {
      match[n++] = {CKA_ID, const_cast<uint8_t*>(request_.key_id.data()), request_.key_id.size()};
    }
    CK_RV rv = list_->C_FindObjectsInit(session_, match, n);
    if (rv != CKR_OK) return Failed("C_FindObjectsInit", rv);
    finding_ = true;
    CK_OBJECT_HANDLE found[2] = {};
    CK_ULONG count = 0;
    rv = list_->C_FindObjects(session_, found, 2, &count);
    if (rv != CKR_OK) return Failed("C_FindObjects", rv);
    if (!EndFind()) return false;
    if (count == 0) {
      return Failed("ERR_SECRET_NOT_FOUND", "no " + KeyName() + " on " + TokenName() +
                                                " (visible after login); check the key's label and id, and its class");
    }
    if (count > 1) {
      return Failed("ERR_INVALID_ARG", "more than one " + KeyName() + " on " + TokenName() +
                                           ": give the key's id as well to choose one");
    }
    key_ = found[0];
    return true;
  }

  bool EndFind() {
    finding_ = false;
    CK_RV rv = list_->C_FindObjectsFinal(session_);
    return rv == CKR_OK || Failed("C_FindObjectsFinal", rv);
  }

  // What the token says about a ciphertext it cannot decrypt, or about the key. `output`: the
  // C_Decrypt that writes the plaintext, where the tag or the OAEP padding is checked. There
  // the spec's CKR_ENCRYPTED_DATA_INVALID is what a token should say; SoftHSM 2.6 says
  // CKR_GENERAL_ERROR (its decryptFinal failed), and other modules CKR_FUNCTION_FAILED: those
  // are ERR_AUTH too, with the code in the message (a device fault in that very call would
  // be reported as a forgery, which fails closed).
  bool DecryptFailed(const char* function, CK_RV rv, bool output = false) {
    bool forged = rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_ENCRYPTED_DATA_LEN_RANGE ||
                  (output && (rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED));
    if (forged) {
      return Failed("ERR_AUTH", "the token could not decrypt the ciphertext with the " + KeyName() + " (" + Rv(rv) +
                                    "): it was altered, truncated, wrapped under another key, or has other " +
                                    (request_.mechanism == Pkcs11Mechanism::kAesGcm ? "IV or AAD" : "OAEP parameters"));
    }
    switch (rv) {
      case CKR_KEY_TYPE_INCONSISTENT:
        return Failed(function, rv, "the " + KeyName() + " is not of the type the mechanism needs");
      case CKR_KEY_FUNCTION_NOT_PERMITTED:
        return Failed(function, rv, "the " + KeyName() + " does not allow decryption (CKA_DECRYPT is false)");
      case CKR_MECHANISM_INVALID:
      case CKR_MECHANISM_PARAM_INVALID:
      case CKR_ARGUMENTS_BAD:
        return Failed(function, rv, "the token does not support this mechanism with these parameters" +
                                        std::string(request_.mechanism == Pkcs11Mechanism::kRsaOaep
                                                        ? " (some tokens, SoftHSM 2.6 among them, decrypt OAEP with SHA-1 only: oaepHash: 'sha1')"
                                                        : ""));
      default:
        return Failed(function, rv);
    }
  }

  bool Decrypt() {
    CK_GCM_PARAMS gcm = {};
    CK_RSA_PKCS_OAEP_PARAMS oaep = {};
    CK_MECHANISM mechanism = {};
    if (request_.mechanism == Pkcs11Mechanism::kAesGcm) {
      gcm.pIv = const_cast<uint8_t*>(request_.iv.data());
      gcm.ulIvLen = request_.iv.size();
      gcm.ulIvBits = request_.iv.size() * 8;
      gcm.pAAD = request_.aad.empty() ? nullptr : const_cast<uint8_t*>(request_.aad.data());
      gcm.ulAADLen = request_.aad.size();
      gcm.ulTagBits = kGcmTagBytes * 8;
      mechanism = {CKM_AES_GCM, &gcm, sizeof gcm};
    } else {
      bool sha1 = request_.oaep_hash == OaepHash::kSha1;
      oaep.hashAlg = sha1 ? CKM_SHA_1 : CKM_SHA256;
      oaep.mgf = sha1 ? CKG_MGF1_SHA1 : CKG_MGF1_SHA256;
      oaep.source = CKZ_DATA_SPECIFIED;  // with an empty label
      mechanism = {CKM_RSA_PKCS_OAEP, &oaep, sizeof oaep};
    }
    CK_RV rv = list_->C_DecryptInit(session_, &mechanism, key_);
    if (rv != CKR_OK) return DecryptFailed("C_DecryptInit", rv);
    // From here the operation is active until C_Decrypt returns anything but
    // CKR_BUFFER_TOO_SMALL or a size; closing the session ends it on the other paths.
    CK_BYTE* input = const_cast<uint8_t*>(request_.ciphertext.data());
    CK_ULONG input_len = request_.ciphertext.size();
    CK_ULONG capacity = 0;
    rv = list_->C_Decrypt(session_, input, input_len, nullptr, &capacity);
    if (rv != CKR_OK) return DecryptFailed("C_Decrypt", rv);
    sink_.backend = request_.backend;
    sink_.policy = request_.policy;
    sink_.source = "the token's decryption with the " + KeyName();
    // A module that sizes the output at the ciphertext's length or more is answered with a
    // region that large; Complete() moves the plaintext into one of its exact length.
    for (int attempt = 0;; attempt++) {
      if (capacity > kMaxRegionSize) {
        return Failed("ERR_PKCS11", "the PKCS#11 module " + request_.module + " sized the plaintext at " +
                                        std::to_string(capacity) + " bytes, more than a region holds");
      }
      CK_ULONG written = capacity;
      if (capacity == 0) {
        // Nothing to hold, but the call must still run, to check the tag: into a byte on the
        // stack that can receive nothing (its length is 0).
        CK_BYTE none = 0;
        rv = list_->C_Decrypt(session_, input, input_len, &none, &written);
        sodium_memzero(&none, sizeof none);
        if (rv == CKR_OK && written != 0) rv = CKR_GENERAL_ERROR;
      } else {
        if (!Reserve(sink_, capacity, failure_)) return false;
        rv = list_->C_Decrypt(session_, input, input_len, sink_.memory->data(), &written);
      }
      if (rv == CKR_BUFFER_TOO_SMALL && attempt == 0 && written > capacity) {
        Discard(sink_);
        capacity = written;
        continue;
      }
      if (rv != CKR_OK) {
        Discard(sink_);  // the module may have written part of the plaintext before failing
        return DecryptFailed("C_Decrypt", rv, true);
      }
      if (written > capacity) {
        Discard(sink_);
        return Failed("ERR_PKCS11", "the PKCS#11 module " + request_.module + " reported " + std::to_string(written) +
                                        " bytes of plaintext in a buffer of " + std::to_string(capacity));
      }
      sink_.length = written;
      return Complete(sink_, true, failure_);
    }
  }

  // Gives back what was acquired, in reverse order; idempotent. Returns false (with the first
  // failure recorded, unless an earlier step failed already) when a clean-up call failed,
  // and then wipes the plaintext.
  bool CleanUp() {
    bool ok = true;
    auto check = [&](const char* function, CK_RV rv) {
      if (rv == CKR_OK) return;
      if (ok && failure_->code == nullptr) Failed(function, rv, "the module may hold resources of this call");
      ok = false;
    };
    if (list_ != nullptr) {
      if (finding_) {
        finding_ = false;
        check("C_FindObjectsFinal", list_->C_FindObjectsFinal(session_));
      }
      if (logged_in_) {
        logged_in_ = false;
        check("C_Logout", list_->C_Logout(session_));
      }
      if (has_session_) {
        has_session_ = false;
        check("C_CloseSession", list_->C_CloseSession(session_));
      }
      if (initialized_) {
        initialized_ = false;
        check("C_Finalize", list_->C_Finalize(nullptr));
      }
      list_ = nullptr;
    }
    if (handle_ != nullptr) {
      if (dlclose(handle_) != 0) {
        const char* why = dlerror();
        if (ok && failure_->code == nullptr) {
          Failed("ERR_SOURCE_UNAVAILABLE", "could not unload the PKCS#11 module " + request_.module + ": " +
                                          (why != nullptr ? why : "dlclose failed"));
        }
        ok = false;
      }
      handle_ = nullptr;
    }
    if (!ok) Discard(sink_);
    return ok;
  }

  const Pkcs11Request& request_;
  Failure* failure_;
  void* handle_ = nullptr;
  CK_FUNCTION_LIST* list_ = nullptr;
  bool initialized_ = false;
  CK_SLOT_ID slot_ = 0;
  CK_SESSION_HANDLE session_ = 0;
  bool has_session_ = false;
  bool logged_in_ = false;
  bool finding_ = false;
  CK_OBJECT_HANDLE key_ = 0;
  Sink sink_;
};

}  // namespace

std::shared_ptr<GuardedMemory> Pkcs11Decrypt(const Pkcs11Request& request, GuardedMemory& pin, Failure* failure) {
  std::lock_guard<std::mutex> lock(g_exchange_mutex);
  Exchange exchange(request, failure);
  if (!exchange.Run(pin)) return nullptr;
  return exchange.TakeResult();
}

}  // namespace strongroom
