// The Coffer: one process-wide sealing key that is never stored whole.
//
//   key = BLAKE2b-256(left) XOR right          (left, right: 32 bytes each)
//
// Both halves live in one guarded region, 'noaccess' except under the coffer's lock.
// A rekey draws a fresh left and moves right so that the key is unchanged:
//
//   next   = random(32)
//   right ^= BLAKE2b-256(next)                 (right now holds key ^ H(next) ^ H(left))
//   right ^= BLAKE2b-256(left)                 (right = key ^ H(next))
//   left   = next
//
// so neither the intermediate values nor the result is ever the whole key. A purge
// draws both halves afresh: the key changes, and everything sealed before stops opening.
//
// The whole key exists only in the work slot of that region, under the lock, for the
// length of one seal or open (WithKey below), and is wiped before the lock is released.
// Seals and opens from several threads therefore run one at a time; each holds the lock
// for as long as XSalsa20-Poly1305 takes over its bytes (about 1 ms per MiB).
//
// The coffer is a process-wide singleton on purpose: every worker thread loads the
// same addon image and shares it, so an enclave sealed on one thread opens on another.
// A native thread rekeys it on an interval; the thread never keeps the process alive
// (Node does not wait for native threads) and the coffer is never destroyed, so that
// thread can never see freed state while the process exits.
#pragma once

#include <errno.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "guarded_memory.h"
#include "sealing.h"

namespace strongroom {

// The longest rekey interval: one day (MAX_REKEY_INTERVAL in src/coffer.ts; a test
// checks the two agree, since the portable backend needs the figure without the addon).
constexpr uint32_t kMaxInterval = 86400000;

struct CofferStats {
  uint64_t rekeys;
  uint64_t purges;
  uint32_t interval_ms;
  Backend backend;
  bool locked;
};

class Coffer {
 public:
  // The process-wide coffer, created by the first call with that allocation choice and
  // rekey interval (later calls return it as it is).
  // nullptr (and *failure filled) when its region cannot be built.
  static Coffer* Get(Backend backend, MlockPolicy policy, uint32_t interval_ms, Failure* failure);
  // The coffer if some thread has created it, else nullptr.
  static Coffer* Existing();

  // Runs use(key) under the lock with the whole key in the work slot, then wipes it.
  // `use` must not throw. Returns 0, or the errno of a failed mprotect (use not run).
  template <typename Use>
  int WithKey(Use&& use) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (poisoned_) return ENOTRECOVERABLE;  // a failed purge left no key: fail closed
    AccessScope write(*halves_, Protection::kReadWrite);
    if (write.error() != 0) return write.error();
    uint8_t* key = DeriveKeyLocked();
    use(static_cast<const uint8_t*>(key));
    WipeKeyLocked();
    return 0;
  }
  // The largest secret WithOpened takes: it is opened into the scratch slot of the coffer's
  // own region, which shares the page of the halves (one page holds both).
  static constexpr size_t kScratchBytes = 1024;

  // Opens `length` (> kSealOverhead) sealed bytes, whose plaintext is at most kScratchBytes,
  // into the scratch slot under the lock, runs use(plain, size) there, then wipes the slot.
  // The key is wiped before `use` runs; `use` must not throw and should be short (it holds
  // the lock). Raises no region but the coffer's own, once. Returns the open's status
  // (*err set on kSystem: a failed mprotect, or a poisoned coffer).
  template <typename Use>
  SealStatus WithOpened(const uint8_t* sealed, size_t length, Use&& use, int* err) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (poisoned_) {
      *err = ENOTRECOVERABLE;
      return SealStatus::kSystem;
    }
    AccessScope write(*halves_, Protection::kReadWrite);
    if ((*err = write.error()) != 0) return SealStatus::kSystem;
    // The one caller checks this already; here it guards the scratch slot itself.
    if (length <= kSealOverhead || length - kSealOverhead > kScratchBytes) {
      *err = EINVAL;
      return SealStatus::kSystem;
    }
    uint8_t* plain = ScratchLocked();
    const size_t size = length - kSealOverhead;
    auto derived_key = [this](auto&& use_key) -> int {
      use_key(static_cast<const uint8_t*>(DeriveKeyLocked()));
      WipeKeyLocked();
      return 0;
    };
    SealStatus status = OpenFrom(plain, sealed, length, derived_key, err);
    if (status == SealStatus::kOk) use(static_cast<const uint8_t*>(plain), size);
    sodium_memzero(plain, size);
    return status;
  }
  int Rekey();
  int Purge();
  // 0 stops automatic rekeying.
  void SetInterval(uint32_t interval_ms);
  CofferStats Stats();
  // Where left starts (test hook only: an address, never the bytes).
  uintptr_t HalvesAddress() const;
  // fork() (pthread_atfork): the coffer's lock is held across the fork, so the child's is
  // never stuck; in the child the coffer is poisoned, since its halves are zeros there
  // (WIPEONFORK) or unmapped (secretmem, DONTFORK), which would make a public key.
  void BeforeFork();
  void AfterForkInParent();
  void AfterForkInChild();
  Backend backend() const { return backend_; }
  MlockPolicy policy() const { return policy_; }

 private:
  Coffer(std::shared_ptr<GuardedMemory> halves, MlockPolicy policy, uint32_t interval_ms);
  uint8_t* DeriveKeyLocked();
  void WipeKeyLocked();
  uint8_t* ScratchLocked();
  int RekeyLocked();
  void RunRekeyer();
  void RekeyUntilExit();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::shared_ptr<GuardedMemory> halves_;  // left | right | work | next | scratch
  Backend backend_;
  MlockPolicy policy_;
  uint32_t interval_ms_;
  uint64_t rekeys_ = 0;
  uint64_t purges_ = 0;
  bool poisoned_ = false;  // a purge could not draw new halves: no key until one can
};

}  // namespace strongroom
