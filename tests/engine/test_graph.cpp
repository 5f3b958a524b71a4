// CUDA graphs (engine/graph.h) on the emulated device: the captured work runs only when
// replayed and reads what was written into its inputs before each replay; the graph's
// memory pool is handed to no one else while the graph lives and is given back after.
#include <gtest/gtest.h>

#include <vector>

#include "engine/allocator.h"
#include "engine/graph.h"
#include "engine/ops.h"
#include "engine/runtime.h"
#include "kernels/counters.h"
#include "kernels/error.h"

namespace {

using cyg::Device;
using cyg::DType;
using cyg::Tensor;

const Device kEmu = Device::emu();

std::vector<float> values(const Tensor& t) { return t.to_vector(); }

// out = (x + x) * 3, through a temporary the work allocates and frees each time.
void work(const Tensor& x, Tensor& out) {
  Tensor twice = cyg::add(x, x);
  out.copy_(cyg::scale(twice, 3.0f));
}

TEST(Graph, AReplayRunsTheCapturedWorkOnWhatTheInputsHoldNow) {
  cyg::Stream stream(kEmu);
  Tensor x = Tensor::full({64}, 1.0, DType::F32, kEmu);
  Tensor out = Tensor::zeros({64}, DType::F32, kEmu);
  cyg::Graph graph(stream);
  graph.warm_up([&] { work(x, out); });
  EXPECT_EQ(values(out), std::vector<float>(64, 6.0f)) << "the warm-up runs the work";
  x.fill_(2.0);
  graph.capture([&] { work(x, out); });
  EXPECT_EQ(values(out), std::vector<float>(64, 6.0f)) << "the capture ran the work";
  graph.replay();
  EXPECT_EQ(values(out), std::vector<float>(64, 12.0f));
  x.fill_(-0.5);  // on the current stream: the replay must come after it
  graph.replay();
  EXPECT_EQ(values(out), std::vector<float>(64, -3.0f));
}

// A capture with no warm-up: its temporary is a new block, allocated while the stream is
// captured (in relaxed capture mode on CUDA) into the graph's pool, where every replay
// finds it.
TEST(Graph, ACaptureMayAllocateANewBlockForTheGraph) {
  cyg::Stream stream(kEmu);
  Tensor x = Tensor::full({4096}, 1.0, DType::F32, kEmu);
  Tensor out = Tensor::zeros({4096}, DType::F32, kEmu);
  cyg::Graph graph(stream);
  graph.capture([&] { work(x, out); });
  x.fill_(2.0);
  graph.replay();
  EXPECT_EQ(values(out), std::vector<float>(4096, 12.0f));
  x.fill_(0.5);
  graph.replay();
  EXPECT_EQ(values(out), std::vector<float>(4096, 3.0f));
}

TEST(Graph, AReplayAllocatesNothingAndCountsOneLaunch) {
  cyg::Stream stream(kEmu);
  Tensor x = Tensor::full({64}, 1.0, DType::F32, kEmu);
  Tensor out = Tensor::zeros({64}, DType::F32, kEmu);
  cyg::Graph graph(stream);
  graph.warm_up([&] { work(x, out); });
  graph.capture([&] { work(x, out); });
  cyg::reset_counts();
  cyg::set_counting(true);
  graph.replay();
  cyg::set_counting(false);
  const cyg::DeviceCounts c = cyg::device_counts();
  EXPECT_EQ(c.total_launches(), 1u);
  EXPECT_EQ(c.launches.at("cuda graph"), 1u);
  EXPECT_EQ(c.allocations, 0u);
  EXPECT_EQ(c.synchronizations, 0u);
}

// Without its own pool the temporary's block would go back to the shared cache after
// the warm-up, and the next allocation of that size would get it: the replay would then
// write over that tensor.
TEST(Graph, TheGraphsBlocksAreHandedToNoOneElseUntilItIsGone) {
  cyg::CachingAllocator& allocator = cyg::allocator_for(kEmu);
  cyg::Stream stream(kEmu);
  Tensor x = Tensor::full({1000}, 1.0, DType::F32, kEmu);
  Tensor out = Tensor::zeros({1000}, DType::F32, kEmu);
  const void* temporary = nullptr;
  size_t cached_before = 0;
  {
    cyg::Graph graph(stream);
    graph.warm_up([&] {
      Tensor t = cyg::add(x, x);
      temporary = t.data_ptr();
      out.copy_(t);
    });
    {
      const cyg::StreamGuard on_stream(stream);
      const Tensor elsewhere = Tensor::empty({1000}, DType::F32, kEmu);
      EXPECT_NE(elsewhere.data_ptr(), temporary) << "a block of the graph's pool went to another tensor";
    }
    cached_before = allocator.stats().bytes_cached;
  }
  stream.synchronize();
  EXPECT_LT(allocator.stats().bytes_cached, cached_before) << "the pool's blocks stayed cached after the graph";
}

TEST(Graph, AnErrorInsideTheCaptureEndsItAndIsTheOneReported) {
  cyg::Stream stream(kEmu);
  Tensor x = Tensor::full({8}, 1.0, DType::F32, kEmu);
  Tensor out = Tensor::zeros({8}, DType::F32, kEmu);
  cyg::Graph graph(stream);
  graph.warm_up([&] { work(x, out); });
  try {
    graph.capture([&] {
      work(x, out);
      throw cyg::Error("planted failure");
    });
    FAIL() << "the capture did not report the work's error";
  } catch (const cyg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("planted failure"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(graph.captured());
  stream.synchronize();  // no capture left open on the stream
}

TEST(Graph, ReplayingAGraphNeverCapturedIsAnError) {
  cyg::Stream stream(kEmu);
  cyg::Graph graph(stream);
  EXPECT_THROW(graph.replay(), cyg::Error);
}

}  // namespace
