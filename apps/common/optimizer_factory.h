// The optimizers by name (optimizer.name): the list validate() checks a config against,
// and the factory that builds from it.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "apps/common/config.h"
#include "engine/optim.h"

namespace cyg::app {

std::vector<std::string> optimizer_names();

// The largest optimizer.momentum the named optimizer takes: 1 where it is SGD's
// momentum, just below 1 where it is Adam's beta1.
double max_momentum(const std::string& optimizer_name);

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config, std::vector<Variable> params);

}  // namespace cyg::app
