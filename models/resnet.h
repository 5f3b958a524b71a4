// The networks of the experiments: ResNet-18 for CIFAR (the 3x3-stem variant of
// kuangliu/pytorch-cifar, with PyTorch-identical parameter names), the CIFAR ResNets of
// He et al. (depth 6n+2: ResNet-20, ResNet-56, option-A shortcuts), and a small CNN for
// tests. make_model builds one by name.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/nn.h"

namespace cyg::models {

struct ModelOptions {
  int64_t in_channels = 3;
  int64_t num_classes = 10;
  int64_t width = 0;  // channels of the first stage; 0: the model's own (ResNet-18 64, CIFAR ResNets 16)
  uint64_t seed = 0;
};

class BasicBlock : public nn::Module {
 public:
  // option_a_shortcut: He et al.'s parameter-free shortcut (subsample + zero channels)
  // instead of a 1x1 convolution + batchnorm when the shape changes.
  BasicBlock(int64_t in_planes, int64_t planes, int64_t stride, bool option_a_shortcut, nn::InitSeeds& seeds);
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
  ResNet(const std::vector<int64_t>& blocks_per_stage, const ModelOptions& options, bool option_a_shortcut);
  Variable forward(const Variable& x) override;

 private:
  std::shared_ptr<nn::Conv2d> conv1_;
  std::shared_ptr<nn::BatchNorm2d> bn1_;
  std::vector<std::shared_ptr<nn::Sequential>> stages_;
  std::shared_ptr<nn::Linear> linear_;
};

// conv(3x3) - bn - relu - pool, twice, then linear: quick to train in tests.
class SmallCnn : public nn::Module {
 public:
  explicit SmallCnn(const ModelOptions& options);
  Variable forward(const Variable& x) override;

 private:
  std::shared_ptr<nn::Conv2d> conv1_, conv2_;
  std::shared_ptr<nn::BatchNorm2d> bn1_, bn2_;
  std::shared_ptr<nn::Linear> linear_;
};

// "resnet18", "resnet20", "resnet56", "small_cnn". ModelOptions::width of 0 means the
// model's own default (64 for resnet18, 16 for the CIFAR ResNets and small_cnn).
std::shared_ptr<nn::Module> make_model(const std::string& name, ModelOptions options);
std::vector<std::string> model_names();

}  // namespace cyg::models
