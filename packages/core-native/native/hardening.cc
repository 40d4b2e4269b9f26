// Process hardening, explicit and never a side effect of loading: harden() lowers the
// core-dump soft limit to 0 (and the hard limit when asked) and sets PR_SET_DUMPABLE 0,
// which also keeps other processes of the same user out of /proc/PID/mem and ptrace.
// The limit and dumpable readers here serve stats() too (region.cc).
#include <errno.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cstring>
#include <limits>

#include "binding.h"

namespace strongroom {
namespace {

Napi::Value LimitValue(Napi::Env env, rlim_t value) {
  if (value == RLIM_INFINITY) return Napi::Number::New(env, std::numeric_limits<double>::infinity());
  return Napi::Number::New(env, static_cast<double>(value));
}

// (hardLimit: boolean) -> { coreLimit: {soft, hard}, dumpable }
Napi::Value Harden(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool hard_limit = info[0].ToBoolean();
  struct rlimit lim {};
  if (getrlimit(RLIMIT_CORE, &lim) != 0) Throw(env, "ERR_SYSTEM", std::string("getrlimit failed: ") + strerror(errno));
  lim.rlim_cur = 0;
  if (hard_limit) lim.rlim_max = 0;
  if (setrlimit(RLIMIT_CORE, &lim) != 0) Throw(env, "ERR_SYSTEM", std::string("setrlimit failed: ") + strerror(errno));
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    Throw(env, "ERR_SYSTEM", std::string("prctl(PR_SET_DUMPABLE) failed: ") + strerror(errno));
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("coreLimit", LimitObject(env, RLIMIT_CORE));
  result.Set("dumpable", Dumpable(env));
  return result;
}

}  // namespace

Napi::Object LimitObject(Napi::Env env, int resource) {
  struct rlimit lim {};
  if (getrlimit(resource, &lim) != 0) Throw(env, "ERR_SYSTEM", std::string("getrlimit failed: ") + strerror(errno));
  Napi::Object out = Napi::Object::New(env);
  out.Set("soft", LimitValue(env, lim.rlim_cur));
  out.Set("hard", LimitValue(env, lim.rlim_max));
  return out;
}

bool Dumpable(Napi::Env env) {
  int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
  if (dumpable < 0) Throw(env, "ERR_SYSTEM", std::string("prctl(PR_GET_DUMPABLE) failed: ") + strerror(errno));
  return dumpable != 0;
}

void InitHardening(Napi::Env env, Napi::Object exports) {
  Register(env, exports, {
      {"harden", Fn<Harden>},
  });
}

}  // namespace strongroom
