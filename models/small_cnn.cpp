#include "models/small_cnn.h"

#include "engine/functional.h"

namespace cyg::models {

namespace {
nn::Conv2dOptions downsampling_conv(int64_t in, int64_t out) {
  return nn::Conv2dOptions(in, out, 3).stride(2).padding(1).bias(false);
}
}  // namespace

SmallCnn::SmallCnn(const ModelOptions& options) {
  nn::InitSeeds seeds(options.seed);
  const int64_t w = options.width;
  conv1_ = register_module("conv1", std::make_shared<nn::Conv2d>(downsampling_conv(options.in_channels, w), seeds));
  bn1_ = register_module("bn1", std::make_shared<nn::BatchNorm2d>(w));
  conv2_ = register_module("conv2", std::make_shared<nn::Conv2d>(downsampling_conv(w, 2 * w), seeds));
  bn2_ = register_module("bn2", std::make_shared<nn::BatchNorm2d>(2 * w));
  linear_ = register_module("linear",
                            std::make_shared<nn::Linear>(nn::LinearOptions(2 * w, options.num_classes), seeds));
}

Variable SmallCnn::forward(const Variable& x) {
  Variable h = bn1_->forward_relu((*conv1_)(x));
  h = bn2_->forward_relu((*conv2_)(h));
  return (*linear_)(fn::global_avg_pool2d(h));
}

}  // namespace cyg::models
