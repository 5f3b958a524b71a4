// ResNets; layer names follow the PyTorch definitions they mirror.
#include "models/resnet.h"

#include <string>

#include "engine/functional.h"
#include "kernels/error.h"

namespace cyg::models {

namespace {

nn::Init init_for(Shortcut shortcut) {
  return shortcut == Shortcut::OptionA ? nn::Init::KaimingNormal : nn::Init::PyTorchDefault;
}

// The 3x3 convolutions of the ResNets: padding 1, no bias (batchnorm follows).
nn::Conv2dOptions conv3x3(int64_t in, int64_t out, int64_t stride, nn::Init init) {
  return nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false).init(init);
}

}  // namespace

BasicBlock::BasicBlock(int64_t in_planes, int64_t planes, int64_t stride, Shortcut shortcut, nn::InitSeeds& seeds)
    : stride_(stride) {
  const nn::Init init = init_for(shortcut);
  conv1_ = register_module("conv1", std::make_shared<nn::Conv2d>(conv3x3(in_planes, planes, stride, init), seeds));
  bn1_ = register_module("bn1", std::make_shared<nn::BatchNorm2d>(planes));
  conv2_ = register_module("conv2", std::make_shared<nn::Conv2d>(conv3x3(planes, planes, 1, init), seeds));
  bn2_ = register_module("bn2", std::make_shared<nn::BatchNorm2d>(planes));
  shortcut_ = register_module("shortcut", std::make_shared<nn::Sequential>());
  if (stride != 1 || in_planes != planes) {
    if (shortcut == Shortcut::OptionA) {
      option_a_ = true;
      CYG_CHECK(planes >= in_planes && (planes - in_planes) % 2 == 0, "option-A shortcut from ", in_planes, " to ",
                planes, " channels needs an even increase");
      pad_channels_ = (planes - in_planes) / 2;
    } else {
      shortcut_->append(
          std::make_shared<nn::Conv2d>(nn::Conv2dOptions(in_planes, planes, 1).stride(stride).bias(false), seeds));
      shortcut_->append(std::make_shared<nn::BatchNorm2d>(planes));
    }
  }
}

// relu(bn1(conv1(x))), then relu(bn2(conv2(.)) + shortcut(x)): each batchnorm runs with
// its ReLU (and the residual add) in its own kernels.
Variable BasicBlock::forward(const Variable& x) {
  const Variable out = bn1_->forward_relu((*conv1_)(x));
  Variable identity = x;
  if (option_a_) {
    identity = fn::subsample_pad_channels(x, stride_, pad_channels_, pad_channels_);
  } else if (!shortcut_->empty()) {
    identity = (*shortcut_)(x);
  }
  return bn2_->forward_add_relu((*conv2_)(out), identity);
}

ResNet::ResNet(const std::vector<int64_t>& blocks_per_stage, const ModelOptions& options, Shortcut shortcut) {
  CYG_CHECK(options.in_channels > 0 && options.num_classes > 0 && options.width > 0, "ResNet: in_channels ",
            options.in_channels, ", num_classes ", options.num_classes, " and width ", options.width,
            " must be positive");
  nn::InitSeeds seeds(options.seed);
  const nn::Init init = init_for(shortcut);
  conv1_ = register_module("conv1",
                           std::make_shared<nn::Conv2d>(conv3x3(options.in_channels, options.width, 1, init), seeds));
  bn1_ = register_module("bn1", std::make_shared<nn::BatchNorm2d>(options.width));
  int64_t in_planes = options.width;
  for (size_t stage = 0; stage < blocks_per_stage.size(); ++stage) {
    const int64_t planes = options.width << stage;
    auto layer = std::make_shared<nn::Sequential>();
    for (int64_t b = 0; b < blocks_per_stage[stage]; ++b) {
      const int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
      layer->append(std::make_shared<BasicBlock>(in_planes, planes, stride, shortcut, seeds));
      in_planes = planes;
    }
    stages_.push_back(register_module("layer" + std::to_string(stage + 1), layer));
  }
  linear_ = register_module(
      "linear", std::make_shared<nn::Linear>(nn::LinearOptions(in_planes, options.num_classes).init(init), seeds));
}

Variable ResNet::forward(const Variable& x) {
  Variable out = bn1_->forward_relu((*conv1_)(x));
  for (auto& stage : stages_) out = (*stage)(out);
  return (*linear_)(fn::global_avg_pool2d(out));
}

}  // namespace cyg::models
