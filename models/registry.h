// The models by name: the one list the apps, their configs and --help read. An unknown
// name is an error that lists the known ones.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/nn.h"
#include "models/model_options.h"

namespace cyg::models {

// "resnet18", "resnet20", "resnet56", "small_cnn", in that order.
std::vector<std::string> model_names();
bool is_model_name(const std::string& name);
// What a model asks of ModelOptions::width beyond being positive: "" when `width` suits
// `name`, else the reason it does not (the option-A nets need an even width).
std::string width_problem(const std::string& name, int64_t width);
// ModelOptions::width of 0 means the model's own default (64 for resnet18, 16 for the
// CIFAR ResNets and small_cnn).
std::shared_ptr<nn::Module> make_model(const std::string& name, ModelOptions options);

}  // namespace cyg::models
