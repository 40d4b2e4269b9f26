// Secret input straight into guarded regions: from a file, a file descriptor, an
// environment variable, and a terminal prompt with echo off. The bytes go from read(2)
// or the C environment into guarded pages and never through a JS string or Buffer.
// Regions built here are fresh ('readwrite', not yet seen by JS), so they need no
// AccessScope; JS gets a handle only to the final region, of exactly the bytes read.
//
// This file holds the N-API entry points; the reading itself (the growing region, the
// delimiter, maxSize) is reader.cc's, which fuzz/delimiter_reader.cc drives without Node.
// A descriptor opened here is closed on every path; one passed in is never closed.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sodium.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "binding.h"
#include "io.h"
#include "reader.h"
#include "region.h"

extern char** environ;

namespace strongroom {
namespace {

// On the JS thread: the handle of the finished region, or the typed error with nothing
// left behind.
Napi::Value Deliver(Napi::Env env, Sink& sink, bool ok, Failure* failure) {
  if (!Complete(sink, ok, failure)) Throw(env, failure->code, failure->message);
  return NewRegionHandle(env, std::move(sink.memory));
}

// -1 for none, else an integer from 0 to `max`.
int64_t OptionalIntArg(const Napi::CallbackInfo& info, size_t index, const char* what, int64_t max) {
  if (info[index].IsNumber() && info[index].As<Napi::Number>().DoubleValue() == -1) return -1;
  size_t n = SizeArg(info, index, what);
  if (n > static_cast<size_t>(max)) Throw(info.Env(), "ERR_INVALID_ARG", std::string(what) + " is out of range");
  return static_cast<int64_t>(n);
}

// (path, maxSize, backend, mlockPolicy, owner, maxMode) -> handle; owner and maxMode -1 for none.
Napi::Value ReadFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = TextArg(info, 0, "path", false);
  FileRules rules;
  rules.owner = OptionalIntArg(info, 4, "owner", 0xFFFFFFFEll);
  rules.max_mode = static_cast<int>(OptionalIntArg(info, 5, "maxMode", 07777));
  Sink sink = SinkArgs(info, 1, 2, path);
  Failure failure;
  bool ok = ReadPath(path, sink, &failure, rules);
  return Deliver(env, sink, ok, &failure);
}

// -1 for none, else a byte.
int DelimiterArg(const Napi::CallbackInfo& info, size_t index) {
  if (info[index].IsNumber() && info[index].As<Napi::Number>().DoubleValue() == -1) return kNoDelimiter;
  size_t byte = SizeArg(info, index, "until");
  if (byte > 255) Throw(info.Env(), "ERR_INVALID_ARG", "until must be a byte value, 0 to 255");
  return static_cast<int>(byte);
}

// (fd, maxSize, until, backend, mlockPolicy) -> handle; the descriptor stays open.
Napi::Value ReadFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  int until = DelimiterArg(info, 2);
  Sink sink = SinkArgs(info, 1, 3, "fd " + std::to_string(fd));
  Failure failure;
  bool ok = ReadDescriptor(fd, until, sink, &failure);
  return Deliver(env, sink, ok, &failure);
}

// Overwrites, in place, the value of every `name=` entry of the C environment with
// zeros. unsetenv only unlinks the strings (the initial block on the stack, or setenv's
// copies, which glibc never frees), so they are wiped first.
void WipeEnvironmentValues(const std::string& name) {
  for (char** entry = environ; entry != nullptr && *entry != nullptr; entry++) {
    if (strncmp(*entry, name.c_str(), name.size()) != 0 || (*entry)[name.size()] != '=') continue;
    char* value = *entry + name.size() + 1;
    sodium_memzero(value, strlen(value));
  }
}

// (name, remove, backend, mlockPolicy) -> handle. A failure changes nothing.
Napi::Value ReadEnv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = TextArg(info, 0, "an environment variable name", true);
  bool remove = info[1].ToBoolean();
  AllocationChoice choice = AllocationArgs(info, 2);
  const char* value = getenv(name.c_str());
  if (value == nullptr) Throw(env, "ERR_NOT_FOUND", "environment variable " + name + " is not set");
  size_t length = strlen(value);
  if (length == 0) Throw(env, "ERR_EMPTY", "environment variable " + name + " is empty, and a region cannot be empty");
  if (length > kMaxRegionSize) Throw(env, kTooLarge, "environment variable " + name + " is larger than 1 GiB");
  Failure failure;
  auto memory = GuardedMemory::Allocate(length, choice.backend, choice.policy, &failure);
  if (!memory) Throw(env, failure.code, failure.message);
  memcpy(memory->data(), value, length);
  if (remove) {
    WipeEnvironmentValues(name);
    if (unsetenv(name.c_str()) != 0) {
      int err = errno;
      memory->Release();
      Throw(env, "ERR_SYSTEM", std::string("unsetenv failed: ") + strerror(err));
    }
  }
  return NewRegionHandle(env, std::move(memory));
}

// Process-wide: two prompts at once would save and restore each other's settings.
std::atomic<bool> g_prompting{false};

bool WriteAll(int fd, const char* text, size_t length) {
  while (length > 0) {
    ssize_t n = write(fd, text, length);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && WaitFor(fd, POLLOUT)) continue;
    if (n < 0) return false;
    text += n;
    length -= static_cast<size_t>(n);
  }
  return true;
}

int SetTerminal(const struct termios& settings, int when) {
  while (tcsetattr(STDIN_FILENO, when, &settings) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

// After "too large" the rest of the line is read and dropped, so it cannot reach what
// reads the terminal next (a shell would run it as a command).
void DropRestOfLine() {
  uint8_t byte = 0;
  while (ReadSome(STDIN_FILENO, &byte, 1) == 1 && byte != '\n') {
  }
  sodium_memzero(&byte, sizeof byte);
}

// Puts the terminal's settings back when the prompt ends. PromptOn does it itself (Now());
// if it cannot get there (std::bad_alloc while a message is built), the destructor does, with
// TCSAFLUSH: the input not read yet, the rest of a line too long among it, is discarded so
// that it cannot reach what reads the terminal next.
class TerminalRestore {
 public:
  explicit TerminalRestore(const struct termios& saved) : saved_(saved) {}
  ~TerminalRestore() {
    if (!done_) (void)SetTerminal(saved_, TCSAFLUSH);
  }
  TerminalRestore(const TerminalRestore&) = delete;
  TerminalRestore& operator=(const TerminalRestore&) = delete;
  int Now() {
    done_ = true;
    return SetTerminal(saved_, TCSADRAIN);
  }

 private:
  struct termios saved_;
  bool done_ = false;
};

// The terminal's settings from before the prompt, for the signal handler below.
struct termios g_prompt_saved {};

// Signals whose default action ends the process (or dumps core) and that Node leaves at
// that default: killed by one during the prompt, the process would leave the terminal
// with echo off. (Node restores the terminal itself on SIGINT and SIGTERM.)
constexpr int kFatalSignals[] = {SIGHUP, SIGQUIT, SIGALRM, SIGUSR2, SIGVTALRM, SIGXCPU, SIGXFSZ};

// OpenSSH's readpassphrase does the same: restore the terminal, then die by the signal.
// tcsetattr and raise are async-signal-safe; SA_RESETHAND put the default action back.
extern "C" void RestoreTerminalAndDie(int signal_number) {
  tcsetattr(STDIN_FILENO, TCSANOW, &g_prompt_saved);
  raise(signal_number);
}

// For the length of a prompt, a default-fatal signal restores the terminal before it ends
// the process. Only signals still at their default action are taken (a JS listener, or
// any other handler, is left alone), and each is given back unless something replaced
// ours meanwhile.
class FatalSignalGuard {
 public:
  explicit FatalSignalGuard(const struct termios& saved) {
    g_prompt_saved = saved;
    struct sigaction ours {};
    ours.sa_handler = RestoreTerminalAndDie;
    ours.sa_flags = SA_RESETHAND | SA_NODEFER;
    sigemptyset(&ours.sa_mask);
    for (size_t i = 0; i < kCount; i++) {
      struct sigaction before {};
      taken_[i] = sigaction(kFatalSignals[i], nullptr, &before) == 0 && before.sa_handler == SIG_DFL &&
                  sigaction(kFatalSignals[i], &ours, nullptr) == 0;
    }
  }
  ~FatalSignalGuard() {
    struct sigaction fallback {};
    fallback.sa_handler = SIG_DFL;
    sigemptyset(&fallback.sa_mask);
    for (size_t i = 0; i < kCount; i++) {
      struct sigaction now {};
      if (taken_[i] && sigaction(kFatalSignals[i], nullptr, &now) == 0 && now.sa_handler == RestoreTerminalAndDie) {
        sigaction(kFatalSignals[i], &fallback, nullptr);
      }
    }
  }
  FatalSignalGuard(const FatalSignalGuard&) = delete;
  FatalSignalGuard& operator=(const FatalSignalGuard&) = delete;

 private:
  static constexpr size_t kCount = sizeof kFatalSignals / sizeof kFatalSignals[0];
  bool taken_[kCount] = {};
};

// Echo off (line editing kept) before the prompt is shown, one line read, the settings
// restored on every path, a default-fatal signal included. Runs on a worker thread;
// `out` gets the prompt and a newline.
bool PromptOn(int out, const std::string& message, Sink& sink, Failure* failure) {
  struct termios saved {};
  if (tcgetattr(STDIN_FILENO, &saved) != 0) {
    return Fail(failure, "ERR_IO", std::string("could not read the terminal's settings: ") + strerror(errno));
  }
  FatalSignalGuard guard(saved);
  struct termios quiet = saved;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHOE | ECHOK | ECHONL);
  quiet.c_lflag |= ICANON;  // line editing, and Enter ends the line even after setRawMode()
  quiet.c_iflag |= ICRNL;
  if (int err = SetTerminal(quiet, TCSAFLUSH)) {
    return Fail(failure, "ERR_IO", std::string("could not turn the terminal's echo off: ") + strerror(err));
  }
  TerminalRestore restore(saved);
  bool ok = WriteAll(out, message.data(), message.size()) ||
            Fail(failure, "ERR_IO", std::string("could not write the prompt: ") + strerror(errno));
  ok = ok && ReadTerminalLine(STDIN_FILENO, sink, failure);
  if (!ok && failure->code != nullptr && strcmp(failure->code, kTooLarge) == 0) DropRestOfLine();
  if (int err = restore.Now(); err != 0 && ok) {
    ok = Fail(failure, "ERR_IO", std::string("could not restore the terminal's settings: ") + strerror(err));
  }
  // The typed newline was not echoed. Its result is ignored on purpose: a newline that
  // could not be written is cosmetic once the input was read.
  WriteAll(out, "\n", 1);
  if (ok && sink.length > 0 && sink.memory->data()[sink.length - 1] == '\r') sink.memory->data()[--sink.length] = 0;
  return ok;
}

// The prompt goes to the controlling terminal, or to stderr when there is none.
bool Prompt(const std::string& message, Sink& sink, Failure* failure) {
  int tty;
  do {
    tty = open("/dev/tty", O_WRONLY | O_NOCTTY | O_CLOEXEC);
  } while (tty < 0 && errno == EINTR);
  bool ok;
  try {
    ok = PromptOn(tty >= 0 ? tty : STDERR_FILENO, message, sink, failure);
  } catch (...) {
    // std::bad_alloc: the descriptor is not leaked (Linux releases it even when close fails,
    // and the exception in flight is the failure reported).
    if (tty >= 0) (void)close(tty);
    throw;
  }
  if (tty >= 0 && close(tty) != 0 && errno != EINTR && ok) {
    ok = Fail(failure, "ERR_IO", std::string("could not close /dev/tty: ") + strerror(errno));
  }
  return ok;
}

// The blocking read runs off the JS thread; the region (allocated before, on the JS
// thread) reaches JS only through the resolved promise.
class PromptWorker : public Napi::AsyncWorker {
 public:
  PromptWorker(Napi::Env env, std::string message, Sink sink)
      : Napi::AsyncWorker(env, "strongroom.promptSecret"),
        promise_(env),
        message_(std::move(message)),
        sink_(std::move(sink)) {}
  ~PromptWorker() override {
    Discard(sink_);
    g_prompting = false;
  }
  Napi::Promise Promise() const { return promise_.Promise(); }

 protected:
  // No C++ exception may leave the pool thread (node-addon-api would keep only what() and
  // never settle the promise): a failure to allocate becomes ERR_NO_MEMORY.
  void Execute() override {
    try {
      ok_ = Prompt(message_, sink_, &failure_);
    } catch (const std::bad_alloc&) {
      ok_ = false;
      FailQuietly(&failure_, "ERR_NO_MEMORY", "native code ran out of memory while reading the terminal");
    } catch (...) {
      ok_ = false;
      FailQuietly(&failure_, "ERR_SYSTEM", "unexpected failure in native code while reading the terminal");
    }
  }

  // No C++ exception may leave a completion (ARCHITECTURE.md invariant 9): one thrown while
  // settling rejects the promise (WorkPromise). Bytes not handed over are wiped by the
  // destructor, also when nothing can be settled (the environment is being torn down: a
  // worker thread terminated while its prompt waits).
  void OnOK() override {
    promise_.Settle(Env(), [this] { Settle(); });
  }
  void OnError(const Napi::Error&) override { OnOK(); }

  void Settle() {
    Napi::Env env = Env();
    ok_ = Complete(sink_, ok_, &failure_);
    if (!ok_) {
      promise_.Reject(MakeError(env, failure_.code, failure_.message).Value());
      return;
    }
    try {
      promise_.Resolve(NewRegionHandle(env, std::move(sink_.memory)));
    } catch (const Napi::Error& error) {
      promise_.Reject(error.Value());
    }
  }

 private:
  WorkPromise promise_;
  std::string message_;
  Sink sink_;
  bool ok_ = false;
  Failure failure_;
};

// (message, maxSize, backend, mlockPolicy) -> Promise<handle>
Napi::Value PromptSecret(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) Throw(env, "ERR_INVALID_ARG", "message must be a string");
  std::string message = info[0].As<Napi::String>().Utf8Value();
  Sink sink = SinkArgs(info, 1, 2, "the terminal");
  if (isatty(STDIN_FILENO) != 1) {
    Throw(env, "ERR_NOT_A_TTY",
          "promptSecret() needs a terminal on standard input, and fd 0 is not one; when the secret is piped "
          "in, read it with readFd(0, { until: 10 }) instead");
  }
  bool idle = false;
  if (!g_prompting.compare_exchange_strong(idle, true)) {
    Throw(env, "ERR_BUSY", "another promptSecret() is waiting for input; await it before prompting again");
  }
  // The claim on the one prompt goes back on every way out of this function (a std::bad_alloc
  // in Reserve or in a message included) until the worker holds it: its destructor clears it.
  struct Claim {
    bool held = true;
    ~Claim() {
      if (held) g_prompting = false;
    }
  } claim;
  Failure failure;
  if (!Reserve(sink, sink.max_size, &failure)) Throw(env, failure.code, failure.message);
  PromptWorker* worker = new PromptWorker(env, std::move(message), std::move(sink));
  claim.held = false;
  Napi::Promise promise = worker->Promise();
  try {
    worker->Queue();
  } catch (...) {
    delete worker;
    throw;
  }
  return promise;
}

}  // namespace

Sink SinkArgs(const Napi::CallbackInfo& info, size_t max_index, size_t choice_index, std::string source) {
  Sink sink;
  sink.max_size = RegionSizeArg(info, max_index, "maxSize");
  AllocationChoice choice = AllocationArgs(info, choice_index);
  sink.backend = choice.backend;
  sink.policy = choice.policy;
  sink.source = std::move(source);
  return sink;
}

std::string TextArg(const Napi::CallbackInfo& info, size_t index, const char* what, bool is_name) {
  if (!info[index].IsString()) Throw(info.Env(), "ERR_INVALID_ARG", std::string(what) + " must be a string");
  std::string text = info[index].As<Napi::String>().Utf8Value();
  if (text.empty() || text.find('\0') != std::string::npos || (is_name && text.find('=') != std::string::npos)) {
    Throw(info.Env(), "ERR_INVALID_ARG",
          std::string(what) + (is_name ? " must be non-empty, without '=' or NUL" : " must be non-empty, without NUL"));
  }
  return text;
}

void InitIo(Napi::Env env, Napi::Object exports) {
  Register(env, exports, {
      {"readFile", Fn<ReadFile>},
      {"readFd", Fn<ReadFd>},
      {"readEnv", Fn<ReadEnv>},
      {"promptSecret", Fn<PromptSecret>},
  });
}

}  // namespace strongroom
