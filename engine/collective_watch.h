// Collectives that the host queues on a device stream (NCCL) and does not wait in: a
// rank whose peer hangs without failing would wait for ever at its next synchronisation.
// A watchdog thread polls them instead: each collective is pushed with a handle (a CUDA
// event recorded after it) that `finished` asks about; polling drops the finished ones,
// oldest first, and reports the oldest unfinished one once it has waited longer than the
// timeout. Handles are kept for reuse (`take`), so that a step records no new events.
// Thread-safe: the training thread pushes while the watchdog polls.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace cyg {

// Milliseconds on the steady clock: the watchdogs' time (MPI's and NCCL's).
int64_t steady_now_ms();

class QueuedCollectives {
 public:
  explicit QueuedCollectives(std::function<bool(void*)> finished) : finished_(std::move(finished)) {}

  // A handle of a finished collective to record again, or nullptr when none is free.
  void* take();
  // A collective of `count` values queued at now_ms, marked by `handle`.
  void push(void* handle, int64_t count, int64_t now_ms);

  struct Overdue {
    int64_t waited_ms, count;
  };
  // Drops the finished collectives (their handles become free); the oldest unfinished one
  // when it has waited more than timeout_ms (> 0).
  std::optional<Overdue> poll(int64_t now_ms, int64_t timeout_ms);
  // How many are queued and not yet seen finished.
  size_t pending() const;
  // Every handle, queued or free (to destroy them).
  std::vector<void*> handles() const;

 private:
  struct Entry {
    void* handle;
    int64_t count, since_ms;
  };
  std::function<bool(void*)> finished_;
  mutable std::mutex mutex_;
  std::deque<Entry> queued_;
  std::vector<void*> free_;
};

// A bound on one blocking call that nothing can interrupt (NCCL's communicator set-up
// waits for every rank, and a rank that died before it never comes): while the Deadline
// lives, a thread calls `expire` once `timeout_ms` have passed (the caller's message and
// exit). Destroying it first disarms it at once. timeout_ms <= 0: no bound, no thread.
class Deadline {
 public:
  Deadline(int64_t timeout_ms, std::function<void()> expire);
  ~Deadline();
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable disarmed_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace cyg
