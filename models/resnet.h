// The ResNets of the experiments: ResNet-18 for CIFAR (the 3x3-stem variant of
// kuangliu/pytorch-cifar, with PyTorch-identical parameter names) and the CIFAR ResNets
// of He et al. (depth 6n+2: ResNet-20, ResNet-56, option-A shortcuts).
#pragma once
#include <memory>
#include <vector>

#include "engine/nn.h"
#include "models/model_options.h"

namespace cyg::models {

// How a block's shortcut matches a change of shape: a 1x1 convolution + batchnorm
// (ResNet-18), or He et al.'s parameter-free option A (every stride-th pixel, zero
// channels around it). The option-A nets also start from He et al.'s normal init.
enum class Shortcut { Projection, OptionA };

class BasicBlock : public nn::Module {
 public:
  BasicBlock(int64_t in_planes, int64_t planes, int64_t stride, Shortcut shortcut, nn::InitSeeds& seeds);
  Variable forward(const Variable& x) override;

 private:
  std::shared_ptr<nn::Conv2d> conv1_, conv2_;
  std::shared_ptr<nn::BatchNorm2d> bn1_, bn2_;
  std::shared_ptr<nn::Sequential> shortcut_;
  int64_t stride_ = 1, pad_channels_ = 0;
  bool option_a_ = false;
};

class ResNet : public nn::Module {
 public:
  // blocks per stage (ResNet-18: {2,2,2,2}; CIFAR ResNet-20: {3,3,3}); the first stage
  // has `width` channels, each later one twice the one before and stride 2.
  ResNet(const std::vector<int64_t>& blocks_per_stage, const ModelOptions& options, Shortcut shortcut);
  Variable forward(const Variable& x) override;

 private:
  std::shared_ptr<nn::Conv2d> conv1_;
  std::shared_ptr<nn::BatchNorm2d> bn1_;
  std::vector<std::shared_ptr<nn::Sequential>> stages_;
  std::shared_ptr<nn::Linear> linear_;
};

}  // namespace cyg::models
