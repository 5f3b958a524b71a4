// A small CNN for tests and quick runs: conv(3x3, stride 2) - bn - relu, twice, then
// global average pooling and a linear layer.
#pragma once
#include <memory>

#include "engine/nn.h"
#include "models/model_options.h"

namespace cyg::models {

class SmallCnn : public nn::Module {
 public:
  explicit SmallCnn(const ModelOptions& options);
  Variable forward(const Variable& x) override;

 private:
  std::shared_ptr<nn::Conv2d> conv1_, conv2_;
  std::shared_ptr<nn::BatchNorm2d> bn1_, bn2_;
  std::shared_ptr<nn::Linear> linear_;
};

}  // namespace cyg::models
