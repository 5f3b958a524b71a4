// Channels-last activations (fn::ChannelsLast) on the CPU and on the emulated CUDA
// device: the layout reaches every op of a ResNet (the convolutions through oneDNN where
// the CPU build has it, through cuDNN's NHWC descriptors on a GPU; batchnorm and pooling
// through their NHWC kernels), gradients flow back in it, and training is the NCHW
// training: the same losses, parameters and batchnorm statistics, up to the order of
// float sums. Where the build has no channels-last convolutions, the guard must do
// nothing at all.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "engine/dispatch.h"
#include "engine/functional.h"
#include "engine/optim.h"
#include "kernels/counters.h"
#include "models/registry.h"
#include "tests/bf16_copy.h"

namespace {

using cyg::MemoryFormat;
using cyg::Tensor;
using cyg::Variable;

struct Trace {
  std::vector<double> losses;
  cyg::nn::NamedTensors state;
};

Trace train(const std::string& model_name, bool channels_last, int steps, cyg::Device device, bool bf16 = false) {
  const cyg::fn::ChannelsLast layout(channels_last);
  const cyg::fn::AutocastBf16 autocast(bf16);
  cyg::models::ModelOptions options;
  options.width = 8;
  options.seed = 3;
  auto model = cyg::models::make_model(model_name, options);
  model->to(device);
  cyg::SgdOptions o;
  // A small lr: at 0.05 ResNets on 6 images amplify float rounding about 16x per step
  // (ReLU masks flip), and two correct layouts drift past the bounds by step 6 on some
  // CPUs' BLAS; at 0.005 a wrong gradient still shows at once.
  o.lr = 0.005;
  o.momentum = 0.9;
  o.weight_decay = 5e-4;
  cyg::SGD optimizer(model->parameters(), o);
  Trace trace;
  for (int step = 0; step < steps; ++step) {
    const Tensor images = Tensor::normal({6, 3, 12, 12}, 0, 1, 200 + static_cast<uint64_t>(step)).to(device);
    Tensor labels = Tensor::empty({6}, cyg::DType::I32);
    for (int64_t i = 0; i < 6; ++i) labels.data<int32_t>()[i] = static_cast<int32_t>((i + step) % 10);
    optimizer.zero_grad();
    const cyg::fn::CrossEntropy ce = cyg::fn::cross_entropy((*model)(Variable(images)), labels.to(device));
    cyg::backward(ce.loss);
    optimizer.step();
    trace.losses.push_back(ce.loss.data().item());
  }
  for (const auto& [name, t] : model->state_dict()) trace.state.emplace_back(name, t.to(cyg::Device::cpu()).clone());
  return trace;
}

double relative_difference(const Tensor& got, const Tensor& want) {
  const std::vector<float> g = got.to_vector(), w = want.to_vector();
  double largest = 0, worst = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    if (!std::isfinite(g[i])) return INFINITY;
    largest = std::max(largest, static_cast<double>(std::fabs(w[i])));
    worst = std::max(worst, static_cast<double>(std::fabs(g[i] - w[i])));
  }
  return largest > 0 ? worst / largest : worst;
}

void expect_same_training(const std::string& model_name, cyg::Device device = cyg::Device::cpu()) {
  SCOPED_TRACE(model_name + " on " + device.str());
  const Trace nchw = train(model_name, false, 6, device), nhwc = train(model_name, true, 6, device);
  for (size_t s = 0; s < nchw.losses.size(); ++s)
    EXPECT_NEAR(nhwc.losses[s], nchw.losses[s], 1e-5 * std::fabs(nchw.losses[s])) << "loss of step " << s + 1;
  ASSERT_EQ(nhwc.state.size(), nchw.state.size());
  for (size_t i = 0; i < nchw.state.size(); ++i) {
    EXPECT_EQ(nhwc.state[i].first, nchw.state[i].first);
    // Parameters and buffers keep PyTorch's layout whatever the activations' layout.
    EXPECT_TRUE(nhwc.state[i].second.is_contiguous()) << nhwc.state[i].first;
    EXPECT_LE(relative_difference(nhwc.state[i].second, nchw.state[i].second), 1e-4) << nhwc.state[i].first;
  }
}

TEST(ChannelsLast, ResNet18TrainsAsInNchw) { expect_same_training("resnet18"); }
// ResNet-20's shortcut (subsample_pad_channels) has no channels-last kernel: it runs on
// an NCHW copy, and the result must still be the same.
TEST(ChannelsLast, ResNet20TrainsAsInNchw) { expect_same_training("resnet20"); }
TEST(ChannelsLast, SmallCnnTrainsAsInNchw) { expect_same_training("small_cnn"); }
// The GPU path's channels-last kernels (cuDNN with NHWC descriptors and KRSC filters, our
// NHWC batchnorm and pooling) on the emulated device.
TEST(ChannelsLast, ResNet18TrainsAsInNchwOnTheEmulatedDevice) { expect_same_training("resnet18", cyg::Device::emu()); }
TEST(ChannelsLast, SmallCnnTrainsAsInNchwOnTheEmulatedDevice) {
  expect_same_training("small_cnn", cyg::Device::emu());
}

// Each op of a ResNet block keeps the layout, forward and backward.
void expect_block_keeps_the_layout(cyg::Device device) {
  const cyg::fn::ChannelsLast layout;
  const auto on = [&](const Tensor& t) { return t.to(device); };
  Variable x(on(Tensor::normal({2, 4, 6, 6}, 0, 1, 1)), cyg::RequiresGrad::Yes);
  Variable w(on(Tensor::normal({8, 4, 3, 3}, 0, 0.2, 2)), cyg::RequiresGrad::Yes);
  Variable gamma(on(Tensor::ones({8})), cyg::RequiresGrad::Yes), beta(on(Tensor::zeros({8})), cyg::RequiresGrad::Yes);
  Tensor running_mean = on(Tensor::zeros({8})), running_var = on(Tensor::ones({8}));
  const Variable y = cyg::fn::conv2d(x, w, Variable(), 1, 1);
  EXPECT_EQ(y.data().memory_format(), MemoryFormat::ChannelsLast) << "conv2d converts the NCHW input once";
  const Variable b = cyg::fn::batch_norm(y, gamma, beta, running_mean, running_var, cyg::fn::BatchNormMode::Train,
                                         0.1, 1e-5, cyg::fn::BatchNormThen::Relu, Variable());
  EXPECT_EQ(b.data().memory_format(), MemoryFormat::ChannelsLast);
  const Variable r = cyg::fn::relu(cyg::fn::add(b, y));
  EXPECT_EQ(r.data().memory_format(), MemoryFormat::ChannelsLast) << "add and relu keep it";
  const Variable p = cyg::fn::global_avg_pool2d(r);
  EXPECT_EQ(p.data().shape(), (cyg::Shape{2, 8}));
  cyg::backward(cyg::fn::sum(p));
  EXPECT_TRUE(w.grad().is_contiguous()) << "the weight's gradient stays OIHW";

  // The same graph in NCHW gives the same values.
  const cyg::fn::ChannelsLast off(false);
  Tensor rm = on(Tensor::zeros({8})), rv = on(Tensor::ones({8}));
  Variable x2(x.data().clone()), w2(w.data().clone(), cyg::RequiresGrad::Yes);
  const Variable y2 = cyg::fn::conv2d(x2, w2, Variable(), 1, 1);
  EXPECT_EQ(y2.data().memory_format(), MemoryFormat::Contiguous);
  const Variable b2 = cyg::fn::batch_norm(y2, gamma, beta, rm, rv, cyg::fn::BatchNormMode::Train, 0.1, 1e-5,
                                          cyg::fn::BatchNormThen::Relu, Variable());
  const Variable p2 = cyg::fn::global_avg_pool2d(cyg::fn::relu(cyg::fn::add(b2, y2)));
  EXPECT_LE(relative_difference(p.data(), p2.data()), 1e-5);
  cyg::backward(cyg::fn::sum(p2));
  EXPECT_LE(relative_difference(w.grad(), w2.grad()), 1e-4);
  EXPECT_LE(relative_difference(running_var.to(cyg::Device::cpu()), rv.to(cyg::Device::cpu())), 1e-5);
}

TEST(ChannelsLast, EveryOpOfABlockKeepsTheLayout) {
  if (!cyg::cpu_kernels().has_channels_last())
    GTEST_SKIP() << "this build has no channels-last convolutions (no oneDNN): the guard leaves NCHW";
  expect_block_keeps_the_layout(cyg::Device::cpu());
}

TEST(ChannelsLast, EveryOpOfABlockKeepsTheLayoutOnTheEmulatedDevice) {
  ASSERT_TRUE(cyg::emu_kernels().has_channels_last()) << "missing: " << cyg::emu_kernels().missing().size();
  expect_block_keeps_the_layout(cyg::Device::emu());
}

// bf16 autocast with channels-last activations on the emulated device: NHWC bf16
// activations, KRSC bf16 filters, f32 master weights and gradients in PyTorch's layout,
// and training that follows bf16 NCHW training. The two differ only where an f32 sum
// (batchnorm's statistics) is added in another order and a bf16 rounding then falls the
// other way: 2^-8 relative, now and then, so the bound is loose against that and tight
// against a wrong layout, which changes the losses from the first step.
TEST(ChannelsLast, Bf16TrainsAsBf16NchwOnTheEmulatedDevice) {
  ASSERT_TRUE(cyg::emu_kernels().has_channels_last_bf16());
  const Trace nchw = train("resnet18", false, 6, cyg::Device::emu(), true),
              nhwc = train("resnet18", true, 6, cyg::Device::emu(), true);
  for (size_t s = 0; s < nchw.losses.size(); ++s)
    EXPECT_NEAR(nhwc.losses[s], nchw.losses[s], 1e-2 * std::fabs(nchw.losses[s])) << "loss of step " << s + 1;
  double worst = 0;
  std::string where;
  for (size_t i = 0; i < nchw.state.size(); ++i) {
    EXPECT_TRUE(nhwc.state[i].second.is_contiguous()) << nhwc.state[i].first;
    const double d = relative_difference(nhwc.state[i].second, nchw.state[i].second);
    if (d > worst) worst = d, where = nchw.state[i].first;
  }
  EXPECT_LE(worst, 2e-2) << where;
  std::printf("bf16 channels-last against bf16 NCHW: largest relative difference %.2e (%s)\n", worst, where.c_str());
}

TEST(ChannelsLast, Bf16BlockRunsChannelsLastOnTheEmulatedDevice) {
  const cyg::fn::ChannelsLast layout;
  const cyg::fn::AutocastBf16 autocast;
  const auto on = [](const Tensor& t) { return t.to(cyg::Device::emu()); };
  Variable x(on(Tensor::normal({2, 3, 5, 5}, 0, 1, 1)));
  Variable w(on(Tensor::normal({4, 3, 3, 3}, 0, 0.2, 2)), cyg::RequiresGrad::Yes);
  const Variable y = cyg::fn::conv2d(x, w, Variable(), 1, 1);
  EXPECT_EQ(y.data().dtype(), cyg::DType::BF16);
  EXPECT_EQ(y.data().memory_format(), MemoryFormat::ChannelsLast);
  // A linear head makes the f32 logits to sum (bf16 autocast's linear gives f32).
  const Variable head(on(Tensor::normal({3, 4}, 0, 0.5, 3)));
  cyg::backward(cyg::fn::sum(cyg::fn::linear(cyg::fn::global_avg_pool2d(y), head, Variable())));
  EXPECT_EQ(w.grad().dtype(), cyg::DType::F32);
  EXPECT_TRUE(w.grad().is_contiguous()) << "the master gradient stays OIHW";
  // The same in NCHW.
  const cyg::fn::ChannelsLast off(false);
  Variable w2(w.data().clone(), cyg::RequiresGrad::Yes);
  const Variable y2 = cyg::fn::conv2d(x, w2, Variable(), 1, 1);
  EXPECT_EQ(y2.data().memory_format(), MemoryFormat::Contiguous);
  EXPECT_LE(relative_difference(y.data().to(cyg::DType::F32).contiguous(), y2.data().to(cyg::DType::F32)), 1e-6);
  cyg::backward(cyg::fn::sum(cyg::fn::linear(cyg::fn::global_avg_pool2d(y2), head, Variable())));
  EXPECT_LE(relative_difference(w.grad(), w2.grad()), 1e-2);
}

// cuDNN's bf16 channels-last tensor-core kernels take multiples of 8 channels: an input
// of 5 that asks no gradient (an image batch) is padded to 8, with the filter, and gives
// the unpadded convolution's output and filter gradient (the zero channels add nothing;
// the sums may be ordered differently, hence a bf16 rounding's bound). The padding's two
// launches are counted; an input that asks its gradient is not padded.
TEST(ChannelsLast, Bf16FewInputChannelsArePaddedToEightAndChangeNothing) {
  const cyg::fn::ChannelsLast layout;
  const cyg::fn::AutocastBf16 autocast;
  const auto on = [](const Tensor& t) { return t.to(cyg::Device::emu()); };
  const Tensor images = on(Tensor::normal({2, 5, 6, 7}, 0, 1, 4)), filter = on(Tensor::normal({4, 5, 3, 3}, 0, 0.2, 5));
  const Tensor dy = on(Tensor::normal({2, 4, 6, 7}, 0, 1, 6));
  struct Run {
    Tensor y, dw;
    uint64_t pads;
  };
  const auto run = [&](bool x_asks_gradient) {
    Variable x(images.clone(), x_asks_gradient ? cyg::RequiresGrad::Yes : cyg::RequiresGrad::No);
    Variable w(filter.clone(), cyg::RequiresGrad::Yes);
    cyg::reset_counts();
    cyg::set_counting(true);
    const Variable y = cyg::fn::conv2d(x, w, Variable(), 1, 1);
    cyg::set_counting(false);
    const cyg::DeviceCounts counts = cyg::device_counts();
    const auto pads = counts.launches.find("pad_channels_to_bf16_kernel<S>");
    cyg::backward(y, dy);
    return Run{y.data().to(cyg::DType::F32).contiguous(), w.grad().clone(),
               pads == counts.launches.end() ? 0 : pads->second};
  };
  const Run padded = run(false), plain = run(true);
  EXPECT_EQ(padded.pads, 2u) << "the input and the filter";
  EXPECT_EQ(plain.pads, 0u);
  EXPECT_LE(relative_difference(padded.y, plain.y), 4e-3);
  EXPECT_LE(relative_difference(padded.dw, plain.dw), 4e-3);
}

// A bf16 channels-last batchnorm + ReLU in training writes its mask as bits for its
// backward, 1 byte for each 8 values, only where a backward will read them: not under
// no_grad, nor where nothing asks a gradient. Its backward then reads them, not y.
TEST(ChannelsLast, Bf16BatchNormWritesTheReluMaskOnlyForABackward) {
  const cyg::fn::ChannelsLast layout;
  const auto on = [](const Tensor& t) { return t.to(cyg::Device::emu()); };
  const Tensor x = on(Tensor::normal({2, 16, 5, 5}, 0, 1, 12)).to(cyg::DType::BF16).contiguous(MemoryFormat::ChannelsLast);
  const Tensor dy = on(Tensor::normal({2, 16, 5, 5}, 0, 1, 13)).to(cyg::DType::BF16).contiguous(MemoryFormat::ChannelsLast);
  struct Bytes {
    uint64_t forward_written, backward_read;
  };
  const auto run = [&](bool x_asks_gradient, bool no_grad) {
    Tensor rm = on(Tensor::zeros({16})), rv = on(Tensor::ones({16}));
    Variable xv(x.clone(), x_asks_gradient ? cyg::RequiresGrad::Yes : cyg::RequiresGrad::No);
    cyg::reset_counts();
    cyg::set_counting(true);
    {
      std::unique_ptr<cyg::NoGradGuard> guard(no_grad ? new cyg::NoGradGuard : nullptr);
      const Variable y = cyg::fn::batch_norm(xv, Variable(), Variable(), rm, rv, cyg::fn::BatchNormMode::Train, 0.1,
                                             1e-5, cyg::fn::BatchNormThen::Relu, Variable());
      if (x_asks_gradient && !no_grad) cyg::backward(y, dy);
    }
    cyg::set_counting(false);
    const cyg::DeviceCounts c = cyg::device_counts();
    const auto backward = c.traffic.find("batchnorm_backward_nhwc_cuda");
    return Bytes{c.traffic.at("batchnorm_forward_train_nhwc_cuda").bytes_written,
                 backward == c.traffic.end() ? 0 : backward->second.bytes_read};
  };
  const Bytes recorded = run(true, false), no_grad = run(true, true), no_gradient = run(false, false);
  const uint64_t n = 2 * 16 * 25, bits = n / 8;
  EXPECT_EQ(recorded.forward_written - no_grad.forward_written, bits);
  EXPECT_EQ(no_gradient.forward_written, no_grad.forward_written);
  // dy twice, x twice and the bits twice, where y would have been read twice.
  EXPECT_GE(recorded.backward_read, 4 * 2 * n + 2 * bits);
  EXPECT_LT(recorded.backward_read, 6 * 2 * n) << "the backward read y";
}

// The padded filter's bf16 copy is kept padded, and the optimizer writes each update into
// its KRSC rows of 8, the padding left zero: for a 3x3 filter and for a 1x1 one (whose
// padded copy [OC, 8, 1, 1] is contiguous in both layouts), over steps, and after the
// weight is written from outside between steps.
TEST(ChannelsLast, Bf16PaddedFilterCopiesAreKeptByTheOptimizer) {
  const cyg::fn::ChannelsLast layout;
  const cyg::fn::AutocastBf16 autocast;
  for (int64_t k : {3, 1}) {
    SCOPED_TRACE(k);
    const Tensor images = Tensor::normal({2, 3, 6, 7}, 0, 1, 7).to(cyg::Device::emu());
    Variable w(Tensor::normal({4, 3, k, k}, 0, 0.2, 8).to(cyg::Device::emu()), cyg::RequiresGrad::Yes);
    cyg::SgdOptions o;
    o.lr = 0.1;
    o.momentum = 0.9;
    cyg::SGD optimizer({w}, o);
    const Tensor dy = Tensor::normal({2, 4, 6, 7}, 0, 1, 10).to(cyg::Device::emu());
    const auto step = [&] {
      optimizer.zero_grad();
      cyg::backward(cyg::fn::conv2d(Variable(images), w, Variable(), 1, k / 2), dy);
      optimizer.step();
    };
    for (int i = 0; i < 3; ++i) {
      step();
      ASSERT_EQ(w.bf16_copy().size(1), 8);
      EXPECT_TRUE(cyg::test::bf16_copy_is_the_rounded_weight(w)) << "after step " << i;
    }
    Tensor weight = w.data();  // shares the weight's storage
    weight.copy_(Tensor::normal(weight.shape(), 0, 0.3, 9).to(cyg::Device::emu()));
    step();
    EXPECT_TRUE(cyg::test::bf16_copy_is_the_rounded_weight(w)) << "after the weight was written";
  }
}

// Under bf16 autocast the convolutions are bf16, which have no channels-last kernel on
// the CPU: the guard leaves everything NCHW.
TEST(ChannelsLast, Bf16AutocastStaysNchw) {
  const cyg::fn::ChannelsLast layout;
  const cyg::fn::AutocastBf16 autocast;
  Variable x(Tensor::normal({2, 3, 5, 5}, 0, 1, 1));
  Variable w(Tensor::normal({4, 3, 3, 3}, 0, 0.2, 2), cyg::RequiresGrad::Yes);
  const Variable y = cyg::fn::conv2d(x, w, Variable(), 1, 1);
  EXPECT_EQ(y.data().dtype(), cyg::DType::BF16);
  EXPECT_EQ(y.data().memory_format(), MemoryFormat::Contiguous);
}

}  // namespace
