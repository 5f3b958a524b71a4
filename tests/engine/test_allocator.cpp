// The caching allocator over a counting host allocator: blocks are reused, statistics
// add up, the cache empties, and a foreign pointer is refused.
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>
#include <string>

#include "engine/allocator.h"
#include "kernels/error.h"

namespace {

struct CountingRaw {
  int allocations = 0, frees = 0;
  std::set<void*> live;
};

cyg::CachingAllocator make(CountingRaw& raw) {
  return cyg::CachingAllocator(
      [&raw](size_t n) {
        ++raw.allocations;
        void* p = std::malloc(n);
        raw.live.insert(p);
        return p;
      },
      [&raw](void* p) {
        ++raw.frees;
        raw.live.erase(p);
        std::free(p);
      });
}

TEST(CachingAllocator, RoundsSizes) {
  EXPECT_EQ(cyg::CachingAllocator::round_size(0), 512u);
  EXPECT_EQ(cyg::CachingAllocator::round_size(1), 512u);
  EXPECT_EQ(cyg::CachingAllocator::round_size(512), 512u);
  EXPECT_EQ(cyg::CachingAllocator::round_size(513), 1024u);
  EXPECT_EQ(cyg::CachingAllocator::round_size((1 << 20) + 1), size_t(2) << 20);
  EXPECT_EQ(cyg::CachingAllocator::round_size(5 << 20), size_t(6) << 20);
}

TEST(CachingAllocator, SteadyStateMakesNoRawCalls) {
  CountingRaw raw;
  auto alloc = make(raw);
  const size_t sizes[] = {1000, 4096, 3 << 20, 77};
  for (int step = 0; step < 10; ++step) {
    std::vector<void*> blocks;
    for (size_t s : sizes) blocks.push_back(alloc.allocate(s));
    for (void* p : blocks) alloc.release(p);
  }
  EXPECT_EQ(raw.allocations, 4);  // the first step only
  EXPECT_EQ(raw.frees, 0);
  const cyg::AllocatorStats st = alloc.stats();
  EXPECT_EQ(st.raw_allocations, 4u);
  EXPECT_EQ(st.cache_hits, 36u);
  EXPECT_EQ(st.bytes_in_use, 0u);
  EXPECT_EQ(st.peak_bytes_in_use, 1024u + 4096u + (size_t(4) << 20) + 512u);
  EXPECT_EQ(st.bytes_cached, st.peak_bytes_in_use);
}

TEST(CachingAllocator, ReusesOnlyBlocksThatAreNotTooLarge) {
  CountingRaw raw;
  auto alloc = make(raw);
  void* big = alloc.allocate(64 << 10);
  alloc.release(big);
  void* small = alloc.allocate(1 << 10);  // 64x smaller: a new block, the big one stays cached
  EXPECT_NE(small, big);
  void* similar = alloc.allocate(40 << 10);  // within 2x: the cached block
  EXPECT_EQ(similar, big);
  EXPECT_EQ(raw.allocations, 2);
  alloc.release(small);
  alloc.release(similar);
}

TEST(CachingAllocator, EmptyCacheGivesMemoryBack) {
  CountingRaw raw;
  {
    auto alloc = make(raw);
    void* a = alloc.allocate(100);
    void* b = alloc.allocate(100);
    alloc.release(a);
    alloc.empty_cache();
    EXPECT_EQ(raw.frees, 1);
    EXPECT_EQ(alloc.stats().bytes_cached, 0u);
    EXPECT_EQ(alloc.stats().bytes_in_use, 512u);
    alloc.release(b);
  }
  EXPECT_TRUE(raw.live.empty());  // the destructor empties the cache too
}

TEST(CachingAllocator, PeakResets) {
  CountingRaw raw;
  auto alloc = make(raw);
  void* a = alloc.allocate(2048);
  alloc.release(a);
  EXPECT_EQ(alloc.stats().peak_bytes_in_use, 2048u);
  alloc.reset_peak();
  EXPECT_EQ(alloc.stats().peak_bytes_in_use, 0u);
}

TEST(CachingAllocator, RefusesAForeignPointer) {
  CountingRaw raw;
  auto alloc = make(raw);
  int x = 0;
  EXPECT_THROW(alloc.release(&x), cyg::Error);
}

// A device with room for 4 KiB, handing out and taking back blocks of 2 KiB.
struct SmallDevice {
  int calls = 0, frees = 0;
  size_t budget = 4096;
  cyg::CachingAllocator allocator() {
    return cyg::CachingAllocator(
        [this](size_t n) -> void* {
          ++calls;
          if (n > budget) throw cyg::OutOfMemory("out of memory");
          budget -= n;
          return std::malloc(n);
        },
        [this](void* p) {
          ++frees;
          budget += 2048;
          std::free(p);
        });
  }
};

TEST(CachingAllocator, RetriesAfterEmptyingTheCacheWhenRawAllocationFails) {
  SmallDevice device;
  cyg::CachingAllocator alloc = device.allocator();
  void* a = alloc.allocate(2048);
  void* b = alloc.allocate(2048);
  alloc.release(a);
  alloc.release(b);
  void* c = alloc.allocate(4096);  // fails once, the 2 KiB blocks are freed, then fits
  EXPECT_NE(c, nullptr);
  EXPECT_EQ(device.calls, 4);
  alloc.release(c);
}

TEST(CachingAllocator, DuringAGraphCaptureMemoryThatRunsOutIsReportedAndTheCacheKept) {
  SmallDevice device;
  cyg::CachingAllocator alloc = device.allocator();
  alloc.release(alloc.allocate(2048));
  alloc.release(alloc.allocate(2048, &device));  // another stream: a second cached block
  const int pool = alloc.create_pool();
  {
    // cudaFree would end the capture: nothing is freed, and the error says why.
    const cyg::CachingAllocator::PoolScope capture(alloc, pool, cyg::CachingAllocator::Capture::Yes);
    try {
      alloc.allocate(4096);
      FAIL() << "an allocation past the device's memory succeeded during a capture";
    } catch (const cyg::OutOfMemory& e) {
      EXPECT_NE(std::string(e.what()).find("during a CUDA graph capture"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("without a graph"), std::string::npos) << e.what();
    }
    EXPECT_EQ(device.frees, 0);
  }
  {
    // The graph's warm-up, outside the capture, may empty the cache and retry.
    const cyg::CachingAllocator::PoolScope warm_up(alloc, pool);
    void* block = alloc.allocate(4096);
    EXPECT_NE(block, nullptr);
    EXPECT_EQ(device.frees, 2);
    alloc.release(block);
  }
  alloc.release_pool(pool);
}

}  // namespace
