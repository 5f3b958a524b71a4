// Optimizers built from the config by name.
#include "apps/common/optimizer_factory.h"

#include "apps/common/name_table.h"

namespace cyg::app {

namespace {

struct OptimizerKind {
  std::unique_ptr<Optimizer> (*make)(const OptimizerConfig&, std::vector<Variable>);
  double max_momentum;
};

// beta1 must stay below 1: Adam divides by 1 - beta1^t.
constexpr double kMaxBeta1 = 0.999999;

std::unique_ptr<Optimizer> make_sgd(const OptimizerConfig& c, std::vector<Variable> params) {
  SgdOptions o;
  o.lr = c.lr;
  o.momentum = c.momentum;
  o.weight_decay = c.weight_decay;
  o.nesterov = c.nesterov;
  return std::make_unique<SGD>(std::move(params), o);
}

AdamOptions adam_options(const OptimizerConfig& c) {
  AdamOptions o;
  o.lr = c.lr;
  o.beta1 = c.momentum;
  o.beta2 = c.beta2;
  o.eps = c.eps;
  o.weight_decay = c.weight_decay;
  return o;
}

// Adam's weight decay is L2 (added to the gradient).
std::unique_ptr<Optimizer> make_adam(const OptimizerConfig& c, std::vector<Variable> params) {
  return std::make_unique<Adam>(std::move(params), adam_options(c));
}

// AdamW decouples the weight decay from the gradient.
std::unique_ptr<Optimizer> make_adamw(const OptimizerConfig& c, std::vector<Variable> params) {
  AdamOptions o = adam_options(c);
  o.decoupled_weight_decay = true;
  return std::make_unique<Adam>(std::move(params), o);
}

const std::vector<Named<OptimizerKind>>& optimizers() {
  static const std::vector<Named<OptimizerKind>> table = {
      {"sgd", {make_sgd, 1.0}},
      {"adam", {make_adam, kMaxBeta1}},
      {"adamw", {make_adamw, kMaxBeta1}},
  };
  return table;
}

}  // namespace

std::vector<std::string> optimizer_names() { return names_of(optimizers()); }

double max_momentum(const std::string& optimizer_name) {
  return find_named(optimizers(), "optimizer.name", optimizer_name).max_momentum;
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config, std::vector<Variable> params) {
  std::unique_ptr<Optimizer> optimizer =
      find_named(optimizers(), "optimizer.name", config.name).make(config, std::move(params));
  optimizer->set_grad_clip_norm(config.clip_grad_norm);
  if (!config.decay_bias_and_norm)
    optimizer->set_weight_decay_scales(weight_decay_on_weights_only(optimizer->parameters()));
  return optimizer;
}

}  // namespace cyg::app
