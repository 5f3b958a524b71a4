// One training step on the emulated device, counted (kernels/counters.h): what the GPU
// path asks of a device per step, against what the model's structure says by hand.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>

#include "engine/functional.h"
#include "engine/optim.h"
#include "engine/runtime.h"
#include "kernels/batchnorm.h"
#include "kernels/counters.h"
#include "kernels/emu/device.h"
#include "models/registry.h"
#include "tests/bf16_copy.h"

namespace {

using cyg::Device;
using cyg::Tensor;

// ResNet-18 at width 8 on 8x8 images, SGD with momentum, on the emulated device.
class StepCounts : public ::testing::Test {
 protected:
  void SetUp() override {
    cyg::models::ModelOptions options;
    options.width = 8;
    model_ = cyg::models::make_model("resnet18", options);
    model_->to(Device::emu());
    cyg::SgdOptions o;
    o.lr = 0.01;
    o.momentum = 0.9;
    optimizer_ = std::make_unique<cyg::SGD>(model_->parameters(), o);
    images_ = Tensor::normal({4, 3, 8, 8}, 0, 1, 7).to(Device::emu());
    Tensor labels = Tensor::empty({4}, cyg::DType::I32);
    for (int i = 0; i < 4; ++i) labels.data<int32_t>()[i] = i;
    labels_ = labels.to(Device::emu());
  }
  void TearDown() override {
    cyg::set_counting(false);
    cyg::emu::set_running(true);
  }

  void step() {
    optimizer_->zero_grad();
    cyg::backward(cyg::fn::cross_entropy((*model_)(cyg::Variable(images_)), labels_).loss);
    optimizer_->step();
  }

  cyg::DeviceCounts counted_step() {
    cyg::reset_counts();
    cyg::set_counting(true);
    step();
    cyg::set_counting(false);
    cyg::emu_runtime().synchronize();
    return cyg::device_counts();
  }

  std::shared_ptr<cyg::nn::Module> model_;
  std::unique_ptr<cyg::Optimizer> optimizer_;
  Tensor images_, labels_;
};

TEST_F(StepCounts, ASteadyStateStepAllocatesNothingUploadsItsHyperparametersAndWaitsForNothing) {
  step();
  step();
  const cyg::DeviceCounts c = counted_step();
  EXPECT_EQ(c.allocations, 0u) << "device memory from the runtime after warm-up";
  // One upload: the step's hyperparameters, which the update reads from device memory
  // (so that a captured step takes each step's lr); the tensor tables stay as they were.
  EXPECT_EQ(c.copies[static_cast<int>(cyg::CopyDirection::HostToDevice)], 1u) << "uploads in a step";
  EXPECT_EQ(c.copy_bytes[static_cast<int>(cyg::CopyDirection::HostToDevice)], sizeof(cyg::SgdHyper));
  EXPECT_EQ(c.copies[static_cast<int>(cyg::CopyDirection::DeviceToHost)], 0u);
  EXPECT_EQ(c.synchronizations, 0u) << "the host waited for the device inside a step";
  EXPECT_GT(c.total_launches(), 0u);
  EXPECT_EQ(c.launches.at("sgd_step_kernel"), 1u) << "one fused optimizer launch";
}

// ResNet-18: 20 convolutions (the stem, two in each of the 8 blocks, and the 1x1
// shortcuts of layer2, layer3 and layer4) and one linear layer. Forward: 20 convolutions
// and a gemm; backward: the filter gradient of all 20, the data gradient of all but the
// stem (its input needs none), and two gemms.
TEST_F(StepCounts, ResNet18MakesOneLibraryCallPerConvolutionDirectionAndThreeGemms) {
  step();
  const cyg::DeviceCounts c = counted_step();
  EXPECT_EQ(c.library.at("cudnnConvolutionForward").calls, 20u);
  EXPECT_EQ(c.library.at("cudnnConvolutionBackwardData").calls, 19u);
  EXPECT_EQ(c.library.at("cudnnConvolutionBackwardFilter").calls, 20u);
  EXPECT_EQ(c.library.at("cublasSgemm").calls, 3u);
  EXPECT_EQ(c.total_library_calls(), 62u);
  // The forward's FLOPs: the stem alone is 2 * (4 * 8 * 8 * 8 outputs) * (3 * 3 * 3) MACs.
  EXPECT_GT(c.library.at("cudnnConvolutionForward").flops, 2.0 * 4 * 8 * 8 * 8 * 27);
}

// No wasted work: each parameter's gradient is written by its backward straight into
// .grad (no copy), and num_batches_tracked is counted on the host (no launch).
TEST_F(StepCounts, GradientsLandInGradWithoutACopyAndCountersCostNoLaunch) {
  step();
  const cyg::DeviceCounts c = counted_step();
  EXPECT_EQ(c.copies[static_cast<int>(cyg::CopyDirection::DeviceToDevice)], 0u) << "gradient copies";
  EXPECT_EQ(c.launches.count("increment_kernel"), 0u) << "a launch per batchnorm for num_batches_tracked";
  for (const auto& [name, t] : model_->named_buffers())
    if (name.find("num_batches_tracked") != std::string::npos) {
      EXPECT_TRUE(t.device().is_cpu()) << name;
      EXPECT_EQ(t.item(), 2.0) << name << " after two training steps";
    }
}

// ResNet-18's 20 batchnorms take two launches each way, with their ReLUs and residual
// adds inside; the rest is the loss, pooling, the linear layer's bias, the gradients
// meeting at the 8 blocks' inputs, the loss's seed and one optimizer launch. The fast
// path's target for an eager step is at most 120.
TEST_F(StepCounts, ResNet18TakesFourLaunchesPerBatchNormAndNoneForItsReLUs) {
  step();
  const cyg::DeviceCounts c = counted_step();
  uint64_t batchnorm = 0;
  for (const auto& [kernel, n] : c.launches)
    if (kernel.rfind("batchnorm_", 0) == 0) batchnorm += n;
  EXPECT_EQ(batchnorm, 80u);
  EXPECT_EQ(c.launches.count("relu_forward_kernel"), 0u);
  EXPECT_EQ(c.launches.count("relu_backward_kernel"), 0u);
  EXPECT_EQ(c.launches.at("add_kernel<P>"), 8u) << "only the gradients meeting at the blocks' inputs";
  EXPECT_LE(c.total_launches(), 120u);
}

// Channels-last: the batchnorms run their NHWC kernels (still two launches each way,
// none of the NCHW ones), pooling its NHWC pair, and cuDNN its NHWC plans; the layout
// costs one copy of the input batch and one filter transpose per cuDNN call (into KRSC
// and, for the filter gradient, back), and no copy of anything else.
TEST_F(StepCounts, ChannelsLastRunsTheNhwcKernelsAndCopiesOnlyFiltersAndTheBatch) {
  const cyg::fn::ChannelsLast layout;
  // 16x16, so that layer4's maps are 2x2: at 1x1 the two layouts are the same memory,
  // and such a tensor counts as NCHW.
  images_ = Tensor::normal({4, 3, 16, 16}, 0, 1, 7).to(Device::emu());
  step();
  step();
  const cyg::DeviceCounts c = counted_step();
  uint64_t nhwc_batchnorm = 0, nchw_batchnorm = 0;
  for (const auto& [kernel, n] : c.launches) {
    if (kernel.rfind("nhwc_", 0) == 0) nhwc_batchnorm += n;
    if (kernel.rfind("batchnorm_", 0) == 0) nchw_batchnorm += n;
  }
  EXPECT_EQ(nhwc_batchnorm, 80u);
  EXPECT_EQ(nchw_batchnorm, 0u);
  EXPECT_EQ(c.launches.at("global_avg_pool_forward_nhwc_kernel<S>"), 1u);
  EXPECT_EQ(c.launches.at("global_avg_pool_backward_nhwc_kernel<S>"), 1u);
  EXPECT_EQ(c.total_library_calls(), 62u);
  EXPECT_EQ(c.launches.at("copy_strided_kernel<U>"), 20u + 19u + 20u + 1u);
  EXPECT_EQ(c.copies[static_cast<int>(cyg::CopyDirection::DeviceToDevice)], 0u);
  EXPECT_EQ(c.allocations, 0u);
}

TEST_F(StepCounts, EvaluationMakesNoCopies) {
  step();
  model_->eval();
  cyg::reset_counts();
  cyg::set_counting(true);
  {
    cyg::NoGradGuard no_grad;
    (*model_)(cyg::Variable(images_));
  }
  cyg::set_counting(false);
  const cyg::DeviceCounts c = cyg::device_counts();
  EXPECT_EQ(c.copies[static_cast<int>(cyg::CopyDirection::DeviceToDevice)], 0u) << "batchnorm statistics cloned";
  EXPECT_EQ(c.total_library_calls(), 21u) << "20 convolutions and the linear layer, forward only";
}

TEST_F(StepCounts, CountingWithoutRunningGivesTheSameCounts) {
  step();
  const cyg::DeviceCounts run = counted_step();
  cyg::emu::set_running(false);
  const cyg::DeviceCounts counted = counted_step();
  EXPECT_EQ(counted.launches, run.launches);
  EXPECT_EQ(counted.total_library_calls(), run.total_library_calls());
  EXPECT_EQ(counted.total_traffic().bytes_read, run.total_traffic().bytes_read);
  EXPECT_EQ(counted.total_traffic().bytes_written, run.total_traffic().bytes_written);
  for (int d = 0; d < 3; ++d) EXPECT_EQ(counted.copies[d], run.copies[d]);
}

// bf16 autocast (precision bf16): the optimizer writes each weight's bf16 copy in its own
// update, so a steady step casts only the input batch and the logits' gradient, and a
// weight changed another way is cast again before its next use.
TEST_F(StepCounts, Bf16WeightCopiesAreKeptByTheOptimizerNotCastEachStep) {
  const cyg::fn::AutocastBf16 autocast;
  step();
  step();
  const cyg::DeviceCounts c = counted_step();
  EXPECT_EQ(c.launches.at("cast_f32_to_bf16_kernel"), 2u) << "the input batch and the logits' gradient only";
  EXPECT_EQ(c.launches.at("cast_bf16_to_f32_kernel"), 20u) << "the 20 convolutions' weight gradients into .grad";
  EXPECT_EQ(c.library.at("cublasGemmEx (bf16)").calls, 3u);
  int copies = 0;
  for (const cyg::Variable& p : model_->parameters()) {
    if (!p.bf16_copy().defined()) continue;
    ++copies;
    // The copy the next forward uses is the updated weight, rounded once.
    EXPECT_TRUE(cyg::test::bf16_copy_is_the_rounded_weight(p));
  }
  EXPECT_EQ(copies, 21) << "20 convolution weights and the linear layer's";
  // A weight written from outside (loading a checkpoint) is cast again at its next use.
  Tensor first = model_->parameters().front().data();  // shares the weight's storage
  first.copy_(Tensor::full(first.shape(), 0.5).to(Device::emu()));
  const cyg::DeviceCounts after = counted_step();
  EXPECT_EQ(after.launches.at("cast_f32_to_bf16_kernel"), 3u);
}

// bf16 with channels-last activations: the optimizer writes each filter's bf16 copy in
// cuDNN's KRSC order, and each filter gradient is widened out of KRSC into .grad in the
// same launch that widens it, so a steady step copies no filter: only the input batch is
// converted (cast and laid out NHWC). The two gradients meeting at each block's input are
// added by the convolution's backward, in place.
TEST_F(StepCounts, Bf16ChannelsLastKeepsKrscCopiesWithoutALaunch) {
  const cyg::fn::AutocastBf16 autocast;
  const cyg::fn::ChannelsLast layout;
  images_ = Tensor::normal({4, 3, 16, 16}, 0, 1, 7).to(Device::emu());
  step();
  step();
  const cyg::DeviceCounts c = counted_step();
  EXPECT_EQ(c.launches.at("cast_f32_to_bf16_kernel"), 1u) << "the logits' gradient only";
  // The first convolution's 3 input channels padded to 8 for cuDNN's tensor cores: the
  // input batch (cast on the way) only; the filter's KRSC copy is kept padded, written
  // so by the optimizer.
  EXPECT_EQ(c.launches.at("pad_channels_to_bf16_kernel<S>"), 1u);
  EXPECT_EQ(c.launches.at("copy_strided_kernel<U>"), 1u) << "the input batch into NHWC only";
  EXPECT_EQ(c.launches.at("widen_krsc_to_oihw_kernel"), 20u);
  EXPECT_EQ(c.launches.count("cast_bf16_to_f32_kernel"), 0u);
  // The 8 block inputs' two gradients: each convolution's data gradient added into the
  // shortcut's in its own pass (cuDNN's beta = 1), no add launch.
  EXPECT_EQ(c.launches.count("add_kernel<P>"), 0u) << "gradients meeting at a block's input added by a launch";
  EXPECT_EQ(c.library.at("cudnnConvolutionBackwardData (bf16)").calls, 19u);
  EXPECT_EQ(c.copies[static_cast<int>(cyg::CopyDirection::HostToDevice)], 1u) << "the hyperparameters only";
  EXPECT_EQ(c.allocations, 0u);
  EXPECT_LE(c.total_launches(), 112u);
  int krsc = 0, padded = 0;
  for (const cyg::Variable& p : model_->parameters()) {
    const Tensor& copy = p.bf16_copy();
    if (!copy.defined()) continue;
    if (copy.memory_format() == cyg::MemoryFormat::ChannelsLast) ++krsc;
    if (copy.dim() == 4 && copy.size(1) != p.data().size(1)) ++padded;
    // The copy the next forward uses is the updated weight rounded once, in its layout,
    // and the stem's padding still zero.
    EXPECT_TRUE(cyg::test::bf16_copy_is_the_rounded_weight(p));
  }
  EXPECT_EQ(krsc, 17) << "the 3x3 and 7x7 filters (a 1x1 filter's two layouts are one)";
  EXPECT_EQ(padded, 1) << "the stem's filter, its 3 input channels kept as 8";
  // The stem's filter written from outside (loading a checkpoint): its padded copy is
  // cast again at its next use (the next forward), in the same pass as its padding, into
  // the same buffer.
  const cyg::Variable stem = model_->parameters().front();
  ASSERT_EQ(stem.data().size(1), 3);
  const void* buffer = stem.bf16_copy().data<uint16_t>();
  Tensor weight = stem.data();  // shares the weight's storage
  weight.copy_(Tensor::normal(weight.shape(), 0, 1, 11).to(Device::emu()));
  const cyg::DeviceCounts after = counted_step();
  EXPECT_EQ(after.launches.at("pad_channels_to_bf16_kernel<S>"), 2u) << "the batch and the written filter";
  EXPECT_EQ(stem.bf16_copy().data<uint16_t>(), buffer);
  EXPECT_TRUE(cyg::test::bf16_copy_is_the_rounded_weight(stem));
}

// ResNet-18 at batch 128 on 32x32 images, counted without running (full-size shapes):
// the targets for an eager step in bf16: at most 120 of our launches, and our
// kernels' bytes at most half of the first fp32 NCHW figure (3,444 MB read + 1,575 MB
// written, README "Speed"), and well under today's fp32 figure, measured here.
// One ResNet-18 training step at batch 128 on 32x32 images, counted without running.
cyg::DeviceCounts count_resnet18_step(bool bf16, bool channels_last = false) {
  cyg::emu::set_running(false);
  const cyg::fn::AutocastBf16 autocast(bf16);
  const cyg::fn::ChannelsLast layout(channels_last);
  auto model = cyg::models::make_model("resnet18", cyg::models::ModelOptions{});
  model->to(Device::emu());
  cyg::SgdOptions o;
  o.lr = 0.01;
  o.momentum = 0.9;
  cyg::SGD optimizer(model->parameters(), o);
  const Tensor images = Tensor::zeros({128, 3, 32, 32}).to(Device::emu());
  const Tensor labels = Tensor::zeros({128}, cyg::DType::I32).to(Device::emu());
  auto step = [&] {
    optimizer.zero_grad();
    cyg::backward(cyg::fn::cross_entropy((*model)(cyg::Variable(images)), labels).loss);
    optimizer.step();
  };
  step();
  step();
  cyg::reset_counts();
  cyg::set_counting(true);
  step();
  cyg::set_counting(false);
  cyg::emu::set_running(true);
  return cyg::device_counts();
}

// Channels-last bf16, the batchnorm forwards with a ReLU write its mask as bits, and the
// backwards read them in place of y: 1/8 byte where y was 2 bytes, twice where only the
// ReLU follows (the sums, then dx), once after the residual add (whose dx pass reads the
// masked dy alone). From ResNet-18's layers, per image: the ReLU-only batchnorms' values
// (the stem's and layer 1's first two: 3 x 64x32x32; the first of each later block's
// two: 2 x (128x16x16 + 256x8x8 + 512x4x4)) and the add+ReLU ones' (2 per layer). The
// NCHW step reads y. The two layouts' other bytes differ by their slices' partial sums
// only, 16 bytes a channel and slice (kernels/batchnorm.h), which the NHWC backward
// reads back and the NCHW one does not count: worked out here from the slice counts.
TEST(StepCountsBf16, ChannelsLastBatchNormBackwardsReadTheReluMaskAsBits) {
  const cyg::DeviceCounts nchw = count_resnet18_step(true, false), nhwc = count_resnet18_step(true, true);
  const double relu_only = 3.0 * 64 * 32 * 32 + 2.0 * (128 * 16 * 16 + 256 * 8 * 8 + 512 * 4 * 4);
  const double add_relu = 2.0 * (64 * 32 * 32 + 128 * 16 * 16 + 256 * 8 * 8 + 512 * 4 * 4);
  const double saved = 128 * (relu_only * 2 * (2 - 0.125) + add_relu * (2 - 0.125));  // 208 MB
  // The 20 batchnorms, 5 a stage (the stem's with layer 1's four; each later stage's
  // four and its shortcut's): channels and values a channel per image.
  struct Stage {
    int64_t C, HW;
  };
  double partials_nhwc = 0, partials_nchw = 0;
  for (const Stage& st : {Stage{64, 1024}, Stage{128, 256}, Stage{256, 64}, Stage{512, 16}}) {
    partials_nhwc += 5.0 * 16 * st.C * static_cast<double>(cyg::batchnorm_nhwc_slices(128, st.C, st.HW, {}, 8));
    partials_nchw += 5.0 * 16 * st.C * static_cast<double>(cyg::batchnorm_slices(128, st.C, st.HW, {}));
  }
  const double nchw_read = static_cast<double>(nchw.traffic.at("batchnorm_backward_cuda").bytes_read);
  const double nhwc_read = static_cast<double>(nhwc.traffic.at("batchnorm_backward_nhwc_cuda").bytes_read);
  EXPECT_NEAR(nchw_read - nhwc_read, saved - partials_nhwc, 1e3)
      << "NCHW " << nchw_read / 1e6 << " MB, NHWC " << nhwc_read / 1e6 << " MB";
  // And the bits are written: 1/8 byte for each of those values, besides y.
  const double nchw_written = static_cast<double>(nchw.traffic.at("batchnorm_forward_train_cuda").bytes_written);
  const double nhwc_written = static_cast<double>(nhwc.traffic.at("batchnorm_forward_train_nhwc_cuda").bytes_written);
  EXPECT_NEAR(nhwc_written - nchw_written, 128 * (relu_only + add_relu) / 8 + partials_nhwc - partials_nchw, 1e3);
}

TEST(StepCountsBf16, ResNet18AtBatch128TakesAtMost120LaunchesAndHalfTheFirstFp32Bytes) {
  const cyg::DeviceCounts fp32 = count_resnet18_step(false), bf16 = count_resnet18_step(true);
  const double fp32_bytes = static_cast<double>(fp32.total_traffic().bytes_read + fp32.total_traffic().bytes_written);
  const double bf16_bytes = static_cast<double>(bf16.total_traffic().bytes_read + bf16.total_traffic().bytes_written);
  EXPECT_LE(bf16.total_launches(), 120u);
  EXPECT_LE(bf16_bytes, 0.5 * (3444e6 + 1575e6));
  EXPECT_LE(bf16_bytes, 0.6 * fp32_bytes);
  std::printf("ResNet-18, batch 128: fp32 %llu launches, %.0f MB; bf16 %llu launches, %.0f MB\n",
              static_cast<unsigned long long>(fp32.total_launches()), fp32_bytes / 1e6,
              static_cast<unsigned long long>(bf16.total_launches()), bf16_bytes / 1e6);
}

}  // namespace
