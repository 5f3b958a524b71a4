// The watchdog's view of collectives queued on a device stream (engine/collective_watch.h,
// used by the NCCL communicator): the finished ones are dropped oldest first and their
// handles reused, the oldest unfinished one is reported once past the timeout, and a
// pushing thread and a polling thread can share it. Also the Deadline of a blocking call.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <set>
#include <thread>
#include <vector>

#include "engine/collective_watch.h"

namespace {

// Handles are indices into `done` (plus one, so that none is null).
struct Fake {
  std::vector<std::atomic<bool>> done;
  explicit Fake(size_t n) : done(n) {}
  void* handle(size_t i) { return reinterpret_cast<void*>(i + 1); }
  std::function<bool(void*)> query() {
    return [this](void* h) { return done[reinterpret_cast<uintptr_t>(h) - 1].load(); };
  }
};

TEST(QueuedCollectives, ReportsTheOldestUnfinishedOnePastTheTimeout) {
  Fake fake(3);
  cyg::QueuedCollectives q(fake.query());
  q.push(fake.handle(0), 100, 0);
  q.push(fake.handle(1), 200, 10);
  q.push(fake.handle(2), 300, 20);
  EXPECT_FALSE(q.poll(100, 100).has_value());  // waited exactly the timeout
  auto late = q.poll(101, 100);
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(late->waited_ms, 101);
  EXPECT_EQ(late->count, 100);
  EXPECT_FALSE(q.poll(100000, 0).has_value()) << "a timeout of 0 waits for ever";

  // A later one finished first: the oldest still counts (one communicator's collectives
  // complete in order, so it is not dropped before the first).
  fake.done[1] = true;
  late = q.poll(101, 100);
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(late->count, 100);
  EXPECT_EQ(q.pending(), 3u);

  // The first finishes: it and the second go; the third has waited 95 ms, then 101.
  fake.done[0] = true;
  EXPECT_FALSE(q.poll(115, 100).has_value());
  EXPECT_EQ(q.pending(), 1u);
  late = q.poll(121, 100);
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(late->waited_ms, 101);
  EXPECT_EQ(late->count, 300);
}

TEST(QueuedCollectives, ReusesTheHandlesOfFinishedCollectives) {
  Fake fake(2);
  cyg::QueuedCollectives q(fake.query());
  EXPECT_EQ(q.take(), nullptr) << "no handle is free before any finished";
  q.push(fake.handle(0), 1, 0);
  q.push(fake.handle(1), 1, 0);
  EXPECT_EQ(q.take(), nullptr);
  fake.done[0] = true;
  q.poll(1, 100);
  EXPECT_EQ(q.take(), fake.handle(0));
  EXPECT_EQ(q.take(), nullptr);
  const std::vector<void*> all = q.handles();
  EXPECT_EQ(std::set<void*>(all.begin(), all.end()), std::set<void*>({fake.handle(1)}))
      << "a taken handle is the taker's until pushed again";
  EXPECT_THROW(q.push(nullptr, 1, 0), std::exception);
}

TEST(QueuedCollectives, APusherAndAPollerShareIt) {
  constexpr size_t kCount = 20000;
  Fake fake(kCount);
  cyg::QueuedCollectives q(fake.query());
  std::atomic<bool> pushed{false};
  std::thread poller([&] {
    while (!pushed || q.pending() > 0) EXPECT_FALSE(q.poll(0, 1000).has_value());
  });
  for (size_t i = 0; i < kCount; ++i) {
    q.push(fake.handle(i), 1, 0);
    fake.done[i] = true;
  }
  pushed = true;
  poller.join();
  const std::vector<void*> all = q.handles();
  EXPECT_EQ(all.size(), kCount);
  EXPECT_EQ(std::set<void*>(all.begin(), all.end()).size(), kCount) << "every handle once";
}

// The bound on a call nothing can interrupt (NCCL's set-up): it expires once when the
// call outlasts it, never when the call returns first, and never without a timeout.
TEST(Deadline, ExpiresOnceWhenTheCallOutlastsItAndNeverWhenItReturnsFirst) {
  std::atomic<int> expired{0};
  {
    const cyg::Deadline deadline(20, [&] { ++expired; });
    // The blocking call, still waiting well past the bound.
    for (int i = 0; i < 500 && expired.load() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(expired.load(), 1);

  expired = 0;
  {
    const cyg::Deadline deadline(3600 * 1000, [&] { ++expired; });
    std::this_thread::sleep_for(std::chrono::milliseconds(30));  // the call returns
  }  // disarmed here, at once: a test that waited the hour would time out
  {
    const cyg::Deadline no_bound(0, [&] { ++expired; });
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
  EXPECT_EQ(expired.load(), 0);
}

}  // namespace
