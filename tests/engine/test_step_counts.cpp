// One training step on the emulated device, counted (kernels/counters.h): what the GPU
// path asks of a device per step, against what the model's structure says by hand.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "engine/functional.h"
#include "engine/optim.h"
#include "engine/runtime.h"
#include "kernels/counters.h"
#include "kernels/emu/device.h"
#include "models/registry.h"

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
  EXPECT_EQ(c.launches.at("add_kernel<S>"), 8u) << "only the gradients meeting at the blocks' inputs";
  EXPECT_LE(c.total_launches(), 120u);
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

}  // namespace
