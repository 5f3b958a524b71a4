// Tensors and ops on a real GPU against the CPU: device round trips, layouts, casts,
// seeded init, ops, and the caching allocator in steady state. Each test skips with the
// reason where no GPU answers.
#include <gtest/gtest.h>

#include <functional>

#include "engine/allocator.h"
#include "engine/device.h"
#include "engine/functional.h"
#include "engine/ops.h"
#include "engine/stream.h"
#include "engine/tensor.h"
#include "tests/kernels/check_close.h"

namespace {

using cyg::Device;
using cyg::RequiresGrad;
using cyg::Tensor;

#define REQUIRE_GPU() \
  if (!cyg::cuda_available()) GTEST_SKIP() << "no GPU answers: " << cyg::cuda_unavailable_reason()

TEST(GpuEngine, RoundTripKeepsValuesAndLayout) {
  REQUIRE_GPU();
  const Tensor x = Tensor::uniform({2, 3, 5, 7}, -1, 1, 3);
  const Tensor g = x.to(Device::cuda());
  EXPECT_TRUE(g.device().is_cuda());
  EXPECT_EQ(g.to(Device::cpu()).to_vector(), x.to_vector());
  const Tensor cl = x.contiguous(cyg::MemoryFormat::ChannelsLast).to(Device::cuda());
  EXPECT_TRUE(cl.is_contiguous(cyg::MemoryFormat::ChannelsLast));
  EXPECT_EQ(cl.to_vector(), x.to_vector());
  EXPECT_EQ(g.contiguous(cyg::MemoryFormat::ChannelsLast).to(Device::cpu()).data<float>()[1],
            x.contiguous(cyg::MemoryFormat::ChannelsLast).data<float>()[1]);
}

TEST(GpuEngine, ViewsCopiesAndCasts) {
  REQUIRE_GPU();
  const Tensor x = Tensor::uniform({6, 5}, -3, 3, 9);
  const Tensor g = x.to(Device::cuda());
  EXPECT_EQ(g.permute({1, 0}).contiguous().to_vector(), x.permute({1, 0}).contiguous().to_vector());
  EXPECT_EQ(g.slice(2, 4).to_vector(), x.slice(2, 4).to_vector());
  EXPECT_EQ(g.to(cyg::DType::BF16).to(cyg::DType::F32).to_vector(),
            x.to(cyg::DType::BF16).to(cyg::DType::F32).to_vector());
  Tensor z = Tensor::zeros({5, 6}, cyg::DType::F32, Device::cuda());
  z.copy_(x.permute({1, 0}));
  EXPECT_EQ(z.to_vector(), x.permute({1, 0}).contiguous().to_vector());
  EXPECT_EQ(Tensor::full({3}, 7, cyg::DType::I32, Device::cuda()).to_vector(), (std::vector<float>{7, 7, 7}));
}

TEST(GpuEngine, SeededInitMatchesTheCpu) {
  REQUIRE_GPU();
  EXPECT_EQ(Tensor::normal({1000}, 0, 1, 5, cyg::DType::F32, Device::cuda()).to_vector(),
            Tensor::normal({1000}, 0, 1, 5).to_vector());
}

TEST(GpuEngine, OpsMatchTheCpu) {
  REQUIRE_GPU();
  const Tensor a = Tensor::uniform({333, 7}, -1, 1, 1), b = Tensor::uniform({333, 7}, -1, 1, 2);
  const Tensor ga = a.to(Device::cuda()), gb = b.to(Device::cuda());
  using cyg::test::all_close;
  EXPECT_TRUE(all_close(cyg::add(ga, gb).to_vector(), cyg::add(a, b).to_vector(), 1e-7, 1e-6));
  EXPECT_TRUE(all_close(cyg::relu(ga).to_vector(), cyg::relu(a).to_vector(), 0, 0));
  EXPECT_TRUE(all_close(cyg::sum(ga, 0).to_vector(), cyg::sum(a, 0).to_vector(), 1e-4, 1e-5));
  EXPECT_TRUE(all_close(cyg::mean(ga).to_vector(), cyg::mean(a).to_vector(), 1e-6, 1e-5));
}

TEST(GpuEngine, StreamsOrderWork) {
  REQUIRE_GPU();
  cyg::Stream stream(Device::cuda());
  cyg::StreamGuard guard(stream);
  EXPECT_EQ(cyg::current_stream(Device::cuda()), stream.handle());
  const Tensor x = Tensor::uniform({4096}, -1, 1, 4).to(Device::cuda());
  const Tensor y = cyg::scale(x, 3);
  stream.synchronize();
  EXPECT_TRUE(cyg::test::all_close(y.to_vector(), cyg::scale(x.to(Device::cpu()), 3).to_vector(), 0, 1e-7));
}

TEST(GpuEngine, AllocatorSteadyStateMakesNoCudaMalloc) {
  REQUIRE_GPU();
  auto step = [] {
    const Tensor x = Tensor::zeros({256, 1024}, cyg::DType::F32, Device::cuda());
    const Tensor y = cyg::relu(cyg::add(x, x));
    return cyg::sum(y).item();
  };
  step();
  const auto before = cyg::allocator_for(Device::cuda()).stats();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(step(), 0.0);
  const auto after = cyg::allocator_for(Device::cuda()).stats();
  EXPECT_EQ(after.raw_allocations, before.raw_allocations);
  EXPECT_GT(after.cache_hits, before.cache_hits);
  EXPECT_GT(after.peak_bytes_in_use, 0u);
}

TEST(GpuEngine, DeviceQuery) {
  REQUIRE_GPU();
  const cyg::CudaDeviceInfo info = cyg::cuda_device_info(0);
  EXPECT_FALSE(info.name.empty());
  EXPECT_GT(info.multiprocessors, 0);
  EXPECT_GT(info.total_memory, 0u);
  EXPECT_GE(info.driver_version, info.runtime_version / 1000 * 1000 - 1000);
}

}  // namespace

namespace {

// Runs `body` on the CPU and on the GPU with the same inputs and compares outputs and
// input gradients.
void compare_devices(const std::vector<cyg::Tensor>& inputs,
                     const std::function<cyg::Variable(const std::vector<cyg::Variable>&)>& body, double tol) {
  std::vector<cyg::Variable> cpu, gpu;
  for (const auto& t : inputs) {
    cpu.emplace_back(t.clone(), RequiresGrad::Yes);
    gpu.emplace_back(t.to(Device::cuda()), RequiresGrad::Yes);
  }
  const cyg::Variable yc = body(cpu), yg = body(gpu);
  using cyg::test::all_close;
  EXPECT_TRUE(all_close(yg.data().to_vector(), yc.data().to_vector(), tol, tol)) << "forward";
  const cyg::Tensor seed = cyg::Tensor::uniform(yc.data().shape(), -1, 1, 77);
  cyg::backward(yc, seed);
  cyg::backward(yg, seed.to(Device::cuda()));
  for (size_t i = 0; i < inputs.size(); ++i)
    EXPECT_TRUE(all_close(gpu[i].grad().to_vector(), cpu[i].grad().to_vector(), tol, tol)) << "gradient " << i;
}

namespace fn = cyg::fn;

// With TF32 off the GPU computes in FP32 and must agree closely; with TF32 (the default
// for training, as in PyTorch) products are rounded to 10-bit mantissas.
void check_convolutions(double tol) {
  for (int stride : {1, 2}) {
    SCOPED_TRACE(stride);
    compare_devices({Tensor::uniform({3, 5, 9, 7}, -1, 1, 1), Tensor::uniform({6, 5, 3, 3}, -0.3, 0.3, 2),
                     Tensor::uniform({6}, -1, 1, 3)},
                    [&](const std::vector<cyg::Variable>& v) { return fn::conv2d(v[0], v[1], v[2], stride, 1); }, tol);
  }
  compare_devices({Tensor::uniform({2, 8, 6, 6}, -1, 1, 4), Tensor::uniform({4, 8, 1, 1}, -0.3, 0.3, 5)},
                  [](const std::vector<cyg::Variable>& v) { return fn::conv2d(v[0], v[1], cyg::Variable(), 2, 0); },
                  tol);
}

TEST(GpuEngine, CudnnConvolutionMatchesTheCpu) {
  REQUIRE_GPU();
  fn::set_allow_tf32(false);
  check_convolutions(1e-4);
  fn::set_allow_tf32(true);
  check_convolutions(2e-2);
}

TEST(GpuEngine, CublasLinearMatchesTheCpu) {
  REQUIRE_GPU();
  compare_devices({Tensor::uniform({17, 33}, -1, 1, 1), Tensor::uniform({10, 33}, -0.3, 0.3, 2),
                   Tensor::uniform({10}, -1, 1, 3)},
                  [](const std::vector<cyg::Variable>& v) { return fn::linear(v[0], v[1], v[2]); }, 1e-4);
}

TEST(GpuEngine, BatchNormPoolAndLossMatchTheCpu) {
  REQUIRE_GPU();
  const cyg::Tensor rm = Tensor::zeros({4}), rv = Tensor::ones({4});
  const cyg::Tensor rm_g = rm.to(Device::cuda()), rv_g = rv.to(Device::cuda());
  compare_devices({Tensor::uniform({5, 4, 6, 3}, -2, 2, 1), Tensor::uniform({4}, 0.5, 1.5, 2),
                   Tensor::uniform({4}, -1, 1, 3)},
                  [&](const std::vector<cyg::Variable>& v) {
                    const bool on_gpu = v[0].data().device().is_cuda();
                    return fn::batch_norm(v[0], v[1], v[2], on_gpu ? rm_g : rm, on_gpu ? rv_g : rv,
                                          fn::BatchNormMode::Train, 0.1, 1e-5);
                  },
                  1e-4);
  EXPECT_TRUE(cyg::test::all_close(rv_g.to_vector(), rv.to_vector(), 1e-5, 1e-5)) << "running variance";
  compare_devices({Tensor::uniform({3, 7, 5, 5}, -1, 1, 4)},
                  [](const std::vector<cyg::Variable>& v) { return fn::global_avg_pool2d(v[0]); }, 1e-5);
  cyg::Tensor labels = cyg::Tensor::empty({6}, cyg::DType::I32);
  for (int i = 0; i < 6; ++i) labels.data<int32_t>()[i] = (i * 3) % 10;
  const cyg::Tensor labels_g = labels.to(Device::cuda());
  compare_devices({Tensor::uniform({6, 10}, -3, 3, 5)},
                  [&](const std::vector<cyg::Variable>& v) {
                    const bool on_gpu = v[0].data().device().is_cuda();
                    return fn::cross_entropy(v[0], on_gpu ? labels_g : labels, 0.1).loss;
                  },
                  1e-5);
}

}  // namespace
