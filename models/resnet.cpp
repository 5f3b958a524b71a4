// ResNets and the small CNN; layer names follow the PyTorch definitions they mirror.
#include "models/resnet.h"

#include "engine/functional.h"
#include "kernels/error.h"

namespace cyg::models {

namespace {

// He et al.'s CIFAR ResNets (option-A shortcuts) start from their normal init.
nn::Init init_for(bool option_a_shortcut) {
  return option_a_shortcut ? nn::Init::KaimingNormal : nn::Init::PyTorchDefault;
}

}  // namespace

BasicBlock::BasicBlock(int64_t in_planes, int64_t planes, int64_t stride, bool option_a_shortcut,
                       nn::InitSeeds& seeds)
    : stride_(stride) {
  const nn::Init init = init_for(option_a_shortcut);
  conv1_ = register_module("conv1",
                           std::make_shared<nn::Conv2d>(in_planes, planes, 3, stride, 1, false, seeds, init));
  bn1_ = register_module("bn1", std::make_shared<nn::BatchNorm2d>(planes));
  conv2_ = register_module("conv2", std::make_shared<nn::Conv2d>(planes, planes, 3, 1, 1, false, seeds, init));
  bn2_ = register_module("bn2", std::make_shared<nn::BatchNorm2d>(planes));
  shortcut_ = register_module("shortcut", std::make_shared<nn::Sequential>());
  if (stride != 1 || in_planes != planes) {
    if (option_a_shortcut) {
      option_a_ = true;
      CYG_CHECK(planes >= in_planes && (planes - in_planes) % 2 == 0, "option-A shortcut from ", in_planes, " to ",
                planes, " channels needs an even increase");
      pad_channels_ = (planes - in_planes) / 2;
    } else {
      shortcut_->append(std::make_shared<nn::Conv2d>(in_planes, planes, 1, stride, 0, false, seeds));
      shortcut_->append(std::make_shared<nn::BatchNorm2d>(planes));
    }
  }
}

Variable BasicBlock::forward(const Variable& x) {
  Variable out = fn::relu((*bn1_)((*conv1_)(x)));
  out = (*bn2_)((*conv2_)(out));
  Variable identity = x;
  if (option_a_) {
    identity = fn::subsample_pad_channels(x, stride_, pad_channels_, pad_channels_);
  } else if (!shortcut_->empty()) {
    identity = (*shortcut_)(x);
  }
  return fn::relu(fn::add(out, identity));
}

ResNet::ResNet(const std::vector<int64_t>& blocks_per_stage, const ModelOptions& options, bool option_a_shortcut) {
  CYG_CHECK(options.in_channels > 0 && options.num_classes > 0 && options.width > 0, "ResNet: in_channels ",
            options.in_channels, ", num_classes ", options.num_classes, " and width ", options.width,
            " must be positive");
  nn::InitSeeds seeds(options.seed);
  const nn::Init init = init_for(option_a_shortcut);
  conv1_ = register_module("conv1", std::make_shared<nn::Conv2d>(options.in_channels, options.width, 3, 1, 1, false,
                                                                  seeds, init));
  bn1_ = register_module("bn1", std::make_shared<nn::BatchNorm2d>(options.width));
  int64_t in_planes = options.width;
  for (size_t stage = 0; stage < blocks_per_stage.size(); ++stage) {
    const int64_t planes = options.width << stage;
    auto layer = std::make_shared<nn::Sequential>();
    for (int64_t b = 0; b < blocks_per_stage[stage]; ++b) {
      const int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
      layer->append(std::make_shared<BasicBlock>(in_planes, planes, stride, option_a_shortcut, seeds));
      in_planes = planes;
    }
    stages_.push_back(register_module("layer" + std::to_string(stage + 1), layer));
  }
  linear_ = register_module("linear", std::make_shared<nn::Linear>(in_planes, options.num_classes, true, seeds, init));
}

Variable ResNet::forward(const Variable& x) {
  Variable out = fn::relu((*bn1_)((*conv1_)(x)));
  for (auto& stage : stages_) out = (*stage)(out);
  return (*linear_)(fn::global_avg_pool2d(out));
}

SmallCnn::SmallCnn(const ModelOptions& options) {
  nn::InitSeeds seeds(options.seed);
  const int64_t w = options.width;
  conv1_ = register_module("conv1", std::make_shared<nn::Conv2d>(options.in_channels, w, 3, 2, 1, false, seeds));
  bn1_ = register_module("bn1", std::make_shared<nn::BatchNorm2d>(w));
  conv2_ = register_module("conv2", std::make_shared<nn::Conv2d>(w, 2 * w, 3, 2, 1, false, seeds));
  bn2_ = register_module("bn2", std::make_shared<nn::BatchNorm2d>(2 * w));
  linear_ = register_module("linear", std::make_shared<nn::Linear>(2 * w, options.num_classes, true, seeds));
}

Variable SmallCnn::forward(const Variable& x) {
  Variable h = fn::relu((*bn1_)((*conv1_)(x)));
  h = fn::relu((*bn2_)((*conv2_)(h)));
  return (*linear_)(fn::global_avg_pool2d(h));
}

std::vector<std::string> model_names() { return {"resnet18", "resnet20", "resnet56", "small_cnn"}; }

std::shared_ptr<nn::Module> make_model(const std::string& name, ModelOptions options) {
  const bool cifar_resnet = name == "resnet20" || name == "resnet56";
  if (options.width == 0) options.width = name == "resnet18" ? 64 : 16;
  if (name == "resnet18") return std::make_shared<ResNet>(std::vector<int64_t>{2, 2, 2, 2}, options, false);
  if (cifar_resnet) {
    const int64_t n = name == "resnet20" ? 3 : 9;
    return std::make_shared<ResNet>(std::vector<int64_t>{n, n, n}, options, true);
  }
  if (name == "small_cnn") return std::make_shared<SmallCnn>(options);
  std::string known;
  for (const auto& m : model_names()) known += (known.empty() ? "" : ", ") + m;
  CYG_CHECK(false, "unknown model '", name, "': expected one of ", known);
  return nullptr;
}

}  // namespace cyg::models
