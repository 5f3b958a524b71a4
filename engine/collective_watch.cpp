#include "engine/collective_watch.h"

#include <chrono>

#include "kernels/error.h"

namespace cyg {

int64_t steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void* QueuedCollectives::take() {
  const std::lock_guard<std::mutex> lock(mutex_);
  if (free_.empty()) return nullptr;
  void* handle = free_.back();
  free_.pop_back();
  return handle;
}

void QueuedCollectives::push(void* handle, int64_t count, int64_t now_ms) {
  CYG_CHECK(handle != nullptr, "a queued collective needs a handle");
  const std::lock_guard<std::mutex> lock(mutex_);
  queued_.push_back({handle, count, now_ms});
}

std::optional<QueuedCollectives::Overdue> QueuedCollectives::poll(int64_t now_ms, int64_t timeout_ms) {
  const std::lock_guard<std::mutex> lock(mutex_);
  // Collectives of one communicator complete in the order they were queued: the first
  // unfinished one is the oldest.
  while (!queued_.empty() && finished_(queued_.front().handle)) {
    free_.push_back(queued_.front().handle);
    queued_.pop_front();
  }
  if (queued_.empty() || timeout_ms <= 0) return std::nullopt;
  const Entry& oldest = queued_.front();
  if (now_ms - oldest.since_ms <= timeout_ms) return std::nullopt;
  return Overdue{now_ms - oldest.since_ms, oldest.count};
}

size_t QueuedCollectives::pending() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return queued_.size();
}

std::vector<void*> QueuedCollectives::handles() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  std::vector<void*> all = free_;
  for (const Entry& e : queued_) all.push_back(e.handle);
  return all;
}

Deadline::Deadline(int64_t timeout_ms, std::function<void()> expire) {
  if (timeout_ms <= 0) return;
  thread_ = std::thread([this, timeout_ms, expire = std::move(expire)] {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!disarmed_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return done_; })) expire();
  });
}

Deadline::~Deadline() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    done_ = true;
  }
  disarmed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace cyg
