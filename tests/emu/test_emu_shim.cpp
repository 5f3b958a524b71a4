// The emulation shim runs CUDA semantics faithfully enough to catch real bugs: a
// reduction without its barrier gives a wrong answer, divergent barriers and stuck
// shuffles are reported instead of hanging, and shuffles, votes, dynamic shared
// memory, atomics and launch-configuration errors behave as on the GPU.
#include <gtest/gtest.h>

#include <functional>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "kernels/emu/emu.h"
#include "kernels/error.h"
#include "tests/error_of.h"

namespace cyg::emu {
void probe_tree_sum(const float* x, float* out, int threads, bool with_barrier);
void probe_divergent_barrier(int* out, int threads);
void probe_shuffle_deadlock(int* out, int threads);
void probe_warp_ops(const int* in, int* down, int* xor_out, int* from_lane3, unsigned* ballot, int blocks,
                    int threads);
void probe_reverse_in_block(const float* in, float* out, int blocks, int threads);
void probe_atomic_count(int* count, float* total, int blocks, int threads);
}  // namespace cyg::emu

namespace {

class EmuShim : public ::testing::Test {
 protected:
  void TearDown() override { cyg::emu::set_reverse_order(false); }
};

std::vector<float> ramp(int n) {
  std::vector<float> x(static_cast<size_t>(n));
  std::iota(x.begin(), x.end(), 1.0f);
  return x;
}

TEST_F(EmuShim, TreeReductionWithBarriersIsRightInBothOrders) {
  const std::vector<float> x = ramp(256);  // 1 + ... + 256 = 32896
  for (bool reverse : {false, true}) {
    cyg::emu::set_reverse_order(reverse);
    float out = 0;
    cyg::emu::probe_tree_sum(x.data(), &out, 256, true);
    EXPECT_EQ(out, 32896.0f) << "reverse=" << reverse;
  }
}

TEST_F(EmuShim, TreeReductionWithoutBarrierIsWrong) {
  // Thread 0 runs first and reads partial sums no other thread has written yet.
  const std::vector<float> x = ramp(256);
  cyg::emu::set_reverse_order(false);
  float out = 0;
  cyg::emu::probe_tree_sum(x.data(), &out, 256, false);
  EXPECT_NE(out, 32896.0f) << "the missing __syncthreads went unnoticed";
}

TEST_F(EmuShim, DivergentBarrierIsReported) {
  std::vector<int> out(64, 0);
  try {
    cyg::emu::probe_divergent_barrier(out.data(), 64);
    FAIL() << "a barrier reached by half the block was not reported";
  } catch (const cyg::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("divergent __syncthreads"), std::string::npos) << what;
    EXPECT_NE(what.find("divergent_barrier_kernel"), std::string::npos) << what;
    EXPECT_NE(what.find("threads 0-31 wait at __syncthreads"), std::string::npos) << what;
    EXPECT_NE(what.find("threads 32-63 have exited"), std::string::npos) << what;
  }
}

TEST_F(EmuShim, ShuffleWithoutPartnersIsADeadlockReport) {
  std::vector<int> out(64, 0);
  try {
    cyg::emu::probe_shuffle_deadlock(out.data(), 64);
    FAIL() << "a shuffle whose partners wait at a barrier did not deadlock";
  } catch (const cyg::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("deadlock"), std::string::npos) << what;
    EXPECT_NE(what.find("wait at a warp shuffle"), std::string::npos) << what;
  }
}

TEST_F(EmuShim, WarpShufflesAndBallot) {
  const int blocks = 3, threads = 64, n = blocks * threads;
  std::vector<int> in(n);
  for (int i = 0; i < n; ++i) in[static_cast<size_t>(i)] = (i * 7 + 1) % 23;
  std::vector<int> down(n), xo(n), lane3(n);
  std::vector<unsigned> ballot(n);
  for (bool reverse : {false, true}) {
    cyg::emu::set_reverse_order(reverse);
    cyg::emu::probe_warp_ops(in.data(), down.data(), xo.data(), lane3.data(), ballot.data(), blocks, threads);
    for (int i = 0; i < n; ++i) {
      const int lane = i % 32, warp_base = i - lane;
      const size_t k = static_cast<size_t>(i);
      // Shuffles never cross a warp: a source lane past the end gives the caller's own value.
      EXPECT_EQ(down[k], lane + 5 < 32 ? in[k + 5] : in[k]) << "i=" << i;
      EXPECT_EQ(xo[k], in[static_cast<size_t>(warp_base + (lane ^ 3))]) << "i=" << i;
      EXPECT_EQ(lane3[k], in[static_cast<size_t>(warp_base + 3)]) << "i=" << i;
      unsigned expected = 0;
      for (int l = 0; l < 32; ++l)
        if (in[static_cast<size_t>(warp_base + l)] % 3 == 0) expected |= 1u << l;
      EXPECT_EQ(ballot[k], expected) << "i=" << i;
    }
  }
}

// A full-mask shuffle in a block of 48 threads: its second warp has 16 lanes, and the
// mask names 16 that do not exist. Undefined on a GPU; a clear error here.
TEST_F(EmuShim, AFullMaskShuffleInAPartialWarpIsAnError) {
  const int threads = 48;
  std::vector<int> in(threads, 1), down(threads), xo(threads), lane3(threads);
  std::vector<unsigned> ballot(threads);
  try {
    cyg::emu::probe_warp_ops(in.data(), down.data(), xo.data(), lane3.data(), ballot.data(), 1, threads);
    FAIL() << "a full-mask shuffle over 16 lanes ran";
  } catch (const cyg::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("mask 0xffffffff in the partial warp of threads 32-47 (a block of 48 threads)"),
              std::string::npos)
        << what;
    EXPECT_NE(what.find("warp_ops_kernel"), std::string::npos) << what;
  }
}

TEST_F(EmuShim, DynamicSharedMemoryAndBarrier) {
  const int blocks = 5, threads = 96;
  const std::vector<float> in = ramp(blocks * threads);
  std::vector<float> out(in.size(), 0.0f);
  for (bool reverse : {false, true}) {
    cyg::emu::set_reverse_order(reverse);
    cyg::emu::probe_reverse_in_block(in.data(), out.data(), blocks, threads);
    for (int b = 0; b < blocks; ++b)
      for (int t = 0; t < threads; ++t)
        ASSERT_EQ(out[static_cast<size_t>(b * threads + t)], in[static_cast<size_t>(b * threads + threads - 1 - t)]);
  }
}

TEST_F(EmuShim, AtomicsAcrossBlocksOnSeveralWorkers) {
  cyg::emu::set_worker_count(2);
  int count = 0;
  float total = 0.0f;
  cyg::emu::probe_atomic_count(&count, &total, 37, 128);
  cyg::emu::set_worker_count(0);
  EXPECT_EQ(count, 37 * 128);
  EXPECT_EQ(total, 0.5f * 37 * 128);
}

TEST_F(EmuShim, BadLaunchConfigurationIsAnErrorNamingTheCall) {
  std::vector<int> out(2048, 0);
  try {
    cyg::emu::probe_divergent_barrier(out.data(), 2048);  // over 1024 threads per block
    FAIL() << "a 2048-thread block was launched";
  } catch (const cyg::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("invalid configuration"), std::string::npos) << what;
    EXPECT_NE(what.find("cudaGetLastError()"), std::string::npos) << what;
    EXPECT_NE(what.find("shim_probes.cu"), std::string::npos) << what;
  }
}

}  // namespace

// A worker's fibers outlive blocks: each runs one CUDA thread of every block its worker
// takes, and parks in between. Failed blocks (threads left at a barrier or a shuffle, a
// thread that threw), larger blocks (the fibers retired and their stacks mapped anew)
// and smaller ones (the rest parked, or stuck from a failed block) all leave the next
// launch right and its error messages about its own threads only.
TEST_F(EmuShim, FibersCarryOnAfterFailedBlocksAndAcrossBlockSizes) {
  using cyg::test::error_of;
  auto tree_sum_is_exact = [](int threads) {
    const std::vector<float> x = ramp(threads);
    float sum = 0;
    cyg::emu::probe_tree_sum(x.data(), &sum, threads, true);
    EXPECT_EQ(sum, 0.5f * static_cast<float>(threads) * static_cast<float>(threads + 1)) << threads << " threads";
  };
  // One worker, so every block runs on the calling thread; each pass on a thread of its
  // own, so it starts with no fibers, grows them in its own order and ends with the
  // thread, its fibers parked.
  cyg::emu::set_worker_count(1);
  for (bool reverse : {false, true}) {
    cyg::emu::set_reverse_order(reverse);
    std::thread pass([&] {
      std::vector<int> out(1024, 0);
      for (int threads : {64, 1024, 32, 256, 1024}) {
        const std::string divergent = error_of([&] { cyg::emu::probe_divergent_barrier(out.data(), 64); });
        EXPECT_NE(divergent.find("threads 0-31 wait at __syncthreads; threads 32-63 have exited (every"),
                  std::string::npos)
            << divergent;
        tree_sum_is_exact(threads);
      }
      // Fibers 32-1023 left stuck, beyond the next blocks' 32 and 64 threads.
      EXPECT_NE(error_of([&] { cyg::emu::probe_shuffle_deadlock(out.data(), 1024); }).find("deadlock"),
                std::string::npos);
      tree_sum_is_exact(32);
      const std::string small = error_of([&] { cyg::emu::probe_shuffle_deadlock(out.data(), 64); });
      EXPECT_NE(small.find("threads 33-63 wait at __syncthreads"), std::string::npos) << small;
      EXPECT_EQ(small.find("1023"), std::string::npos) << small;
      // A thread that throws leaves the threads before it at the barrier and those after
      // it never entered; the next, larger launch retires them.
      const std::string thrown = error_of([] {
        cyg::emu::detail::launch("throws", cyg::emu::dim3(1), cyg::emu::dim3(64), 0, nullptr, [] {
          if (cyg::emu::threadIdx.x == 40) throw cyg::Error("thread 40 fails");
          cyg::emu::__syncthreads();
        });
      });
      EXPECT_EQ(thrown, "thread 40 fails");
      tree_sum_is_exact(1024);
      tree_sum_is_exact(64);
    });
    pass.join();
  }
  cyg::emu::set_worker_count(0);
}
