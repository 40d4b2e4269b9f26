// The process-wide Coffer. See coffer.h for the
// invariant (key = BLAKE2b-256(left) XOR right) and the rekey steps. No N-API here.
#include "coffer.h"
#include "random.h"

#include <errno.h>
#include <sodium.h>

#include <pthread.h>

#include <chrono>
#include <system_error>
#include <cstring>
#include <string>

namespace strongroom {
namespace {

// Offsets in the halves region.
constexpr size_t kLeft = 0;
constexpr size_t kRight = kKeyBytes;
constexpr size_t kWork = 2 * kKeyBytes;
constexpr size_t kNext = 3 * kKeyBytes;
constexpr size_t kScratch = 4 * kKeyBytes;  // Coffer::kScratchBytes for WithOpened, zero when unused
constexpr size_t kHalvesBytes = kScratch + Coffer::kScratchBytes;

std::mutex g_create_mutex;
std::atomic<Coffer*> g_coffer{nullptr};

// The coffer the forking thread's prepare handler locked, if any: the parent and child
// handlers undo exactly that, even if the coffer was made on another thread meanwhile.
thread_local Coffer* t_forking = nullptr;

void OnForkPrepare() {
  t_forking = g_coffer.load(std::memory_order_acquire);
  if (t_forking != nullptr) t_forking->BeforeFork();
}
void OnForkParent() {
  if (t_forking != nullptr) t_forking->AfterForkInParent();
  t_forking = nullptr;
}
void OnForkChild() {
  if (t_forking != nullptr) t_forking->AfterForkInChild();
  t_forking = nullptr;
}

void Hash(uint8_t* out, const uint8_t* in) { HashAndScrub(out, kKeyBytes, in, kKeyBytes, nullptr, 0); }

void XorInto(uint8_t* target, const uint8_t* source) {
  for (size_t i = 0; i < kKeyBytes; i++) target[i] ^= source[i];
}

}  // namespace

Coffer* Coffer::Existing() { return g_coffer.load(std::memory_order_acquire); }

Coffer* Coffer::Get(Backend backend, MlockPolicy policy, uint32_t interval_ms, Failure* failure) {
  if (Coffer* existing = Existing()) return existing;
  std::lock_guard<std::mutex> lock(g_create_mutex);
  if (Coffer* existing = Existing()) return existing;
  // The fork handlers first: a child forked without them would keep a coffer whose halves are
  // zeros there (a public key), and perhaps its lock held by the rekey thread.
  static bool at_fork = false;
  if (!at_fork) {
    if (int err = pthread_atfork(OnForkPrepare, OnForkParent, OnForkChild)) {
      Fail(failure, "ERR_SYSTEM", std::string("could not register the coffer's fork handlers: ") + strerror(err));
      return nullptr;
    }
    at_fork = true;
  }
  std::shared_ptr<GuardedMemory> halves = GuardedMemory::Allocate(kHalvesBytes, backend, policy, failure);
  if (!halves) return nullptr;
  if (int err = SystemRandom(halves->data() + kLeft, 2 * kKeyBytes)) {
    halves->Release();
    Fail(failure, "ERR_SYSTEM", std::string("could not draw the coffer's key halves: ") + strerror(err));
    return nullptr;
  }
  sodium_memzero(halves->data() + kWork, 2 * kKeyBytes);
  if (int err = halves->Protect(Protection::kNoAccess)) {
    halves->Release();
    Fail(failure, "ERR_SYSTEM", std::string("could not protect the coffer's region: ") + strerror(err));
    return nullptr;
  }
  // Never deleted once its thread runs: the rekey thread may run until the process is gone.
  auto* coffer = new Coffer(std::move(halves), policy, interval_ms);
  try {
    std::thread(&Coffer::RunRekeyer, coffer).detach();
  } catch (const std::system_error& error) {
    // At the thread limit (ulimit -u, a container's pids limit): no coffer, a typed error.
    delete coffer;  // releases (wipes) the halves
    Fail(failure, "ERR_SYSTEM",
         std::string("could not start the coffer's rekey thread (") + error.what() +
             "): the process is at its thread limit; raise it (ulimit -u, a container's pids limit) and try again");
    return nullptr;
  } catch (...) {
    delete coffer;  // std::bad_alloc for the thread's state: ERR_NO_MEMORY at the entry (binding.h)
    throw;
  }
  g_coffer.store(coffer, std::memory_order_release);
  return coffer;
}

Coffer::Coffer(std::shared_ptr<GuardedMemory> halves, MlockPolicy policy, uint32_t interval_ms)
    : halves_(std::move(halves)), backend_(halves_->backend()), policy_(policy), interval_ms_(interval_ms) {}

// Caller holds the lock and write access to the halves.
uint8_t* Coffer::DeriveKeyLocked() {
  uint8_t* h = halves_->data();
  Hash(h + kWork, h + kLeft);
  XorInto(h + kWork, h + kRight);
  return h + kWork;
}

void Coffer::WipeKeyLocked() { sodium_memzero(halves_->data() + kWork, kKeyBytes); }

uint8_t* Coffer::ScratchLocked() { return halves_->data() + kScratch; }

int Coffer::RekeyLocked() {
  if (poisoned_) return ENOTRECOVERABLE;
  AccessScope write(*halves_, Protection::kReadWrite);
  if (write.error() != 0) return write.error();
  uint8_t* h = halves_->data();
  if (int err = SystemRandom(h + kNext, kKeyBytes)) return err;  // the halves are unchanged
  Hash(h + kWork, h + kNext);
  XorInto(h + kRight, h + kWork);
  Hash(h + kWork, h + kLeft);
  XorInto(h + kRight, h + kWork);
  std::memcpy(h + kLeft, h + kNext, kKeyBytes);
  sodium_memzero(h + kWork, 2 * kKeyBytes);
  rekeys_++;
  return 0;
}

int Coffer::Rekey() {
  std::lock_guard<std::mutex> lock(mutex_);
  return RekeyLocked();
}

int Coffer::Purge() {
  std::lock_guard<std::mutex> lock(mutex_);
  AccessScope write(*halves_, Protection::kReadWrite);
  if (write.error() != 0) return write.error();
  // Both halves drawn afresh. On failure they are wiped, so the key has changed all the
  // same; but zero halves would make a public key, so the coffer is poisoned (every seal
  // and open fails) until a purge succeeds. It fails closed.
  int err = SystemRandom(halves_->data() + kLeft, 2 * kKeyBytes);
  purges_++;
  poisoned_ = err != 0;
  return err;
}

void Coffer::SetInterval(uint32_t interval_ms) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    interval_ms_ = interval_ms;
  }
  wake_.notify_all();
}

CofferStats Coffer::Stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  return {rekeys_, purges_, interval_ms_, backend_, halves_->locked()};
}

void Coffer::BeforeFork() { mutex_.lock(); }

void Coffer::AfterForkInParent() { mutex_.unlock(); }

void Coffer::AfterForkInChild() {
  poisoned_ = true;  // the child has no rekey thread and no real halves: fail closed
  mutex_.unlock();
}

uintptr_t Coffer::HalvesAddress() const { return reinterpret_cast<uintptr_t>(halves_->data()); }

// Waits for the interval (restarting the wait whenever it is changed) and rekeys when
// it runs out. A failed rekey leaves the halves as they were; the next one tries again.
void Coffer::RunRekeyer() {
  try {
    RekeyUntilExit();
  } catch (...) {
    // No exception may end the process from this thread (std::terminate); the coffer goes
    // on without automatic rekeys, and rekeyCoffer() still works.
  }
}

void Coffer::RekeyUntilExit() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (interval_ms_ == 0) {
      wake_.wait(lock);
      continue;
    }
    if (wake_.wait_for(lock, std::chrono::milliseconds(interval_ms_)) == std::cv_status::timeout) {
      RekeyLocked();
    }
  }
}

}  // namespace strongroom
