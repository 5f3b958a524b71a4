// The weights' moving average: its tensors, the fused update through the device's
// kernels, and the exchange with the model for evaluation.
#include "engine/ema.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "engine/dispatch.h"
#include "kernels/error.h"

namespace cyg {

namespace {

// What is averaged: the parameters, then the floating buffers (batchnorm's running
// statistics); the integer counters stay the model's own.
nn::NamedTensors averaged_tensors(const nn::Module& model) {
  nn::NamedTensors out;
  for (const auto& [name, v] : model.named_parameters()) out.emplace_back(name, v.data());
  for (const auto& [name, t] : model.named_buffers())
    if (t.dtype() == DType::F32) out.emplace_back(name, t);
  return out;
}

// The device of the model's first averaged tensor, where all of them must be.
Device averaged_device(const nn::NamedTensors& tensors) {
  CYG_CHECK(!tensors.empty(), "a moving average needs a model with parameters");
  return tensors.front().second.device();
}

}  // namespace

WeightAverage::WeightAverage(nn::Module& model, double decay, bool warm_up)
    : WeightAverage(model, decay, warm_up, false) {}

WeightAverage::WeightAverage(nn::Module& model, double decay, bool warm_up, bool equal)
    : model_(model),
      decay_(decay),
      warm_up_(warm_up),
      equal_(equal),
      table_(averaged_device(averaged_tensors(model))) {
  CYG_CHECK(equal || (std::isfinite(decay) && decay > 0 && decay < 1), "moving average decay = ", decay,
            ": expected a value in (0, 1)");
  const nn::NamedTensors tensors = averaged_tensors(model);
  const Device device = averaged_device(tensors);
  for (const auto& [name, t] : tensors) {
    CYG_CHECK(t.device() == device && t.is_contiguous(), "'", name, "' is not a contiguous tensor on ",
              device.str());
    names_.push_back(name);
    averages_.push_back(t.clone());
  }
}

std::unique_ptr<WeightAverage> WeightAverage::equal_average(nn::Module& model) {
  return std::unique_ptr<WeightAverage>(new WeightAverage(model, 0.0, false, true));
}

std::vector<Tensor> WeightAverage::model_values() const {
  std::map<std::string, Tensor> by_name;
  for (auto& [name, t] : averaged_tensors(model_)) by_name.emplace(name, t);
  std::vector<Tensor> values;
  for (size_t i = 0; i < names_.size(); ++i) {
    auto it = by_name.find(names_[i]);
    CYG_CHECK(it != by_name.end() && it->second.shape() == averages_[i].shape() &&
                  it->second.device() == averages_[i].device() && it->second.is_contiguous(),
              "the model's '", names_[i], "' is not the tensor its moving average was made for");
    values.push_back(it->second);
  }
  return values;
}

double WeightAverage::weight_of_update(int64_t n) const {
  return equal_ ? 1.0 / static_cast<double>(std::max<int64_t>(n, 1)) : 1.0 - decay_of_update(n);
}

double WeightAverage::decay_of_update(int64_t n) const {
  if (equal_) return 1.0 - weight_of_update(n);
  if (!warm_up_) return decay_;
  const double warming = (1.0 + static_cast<double>(n)) / (10.0 + static_cast<double>(n));
  return std::min(decay_, warming);
}

void WeightAverage::update() {
  prepare_update();
  apply_update();
}

void WeightAverage::prepare_update() {
  const std::vector<Tensor> values = model_values();
  std::vector<TensorSlot> slots(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    slots[i].param = const_cast<float*>(values[i].data<float>());  // read only: the model's value
    slots[i].state1 = averages_[i].data<float>();
    slots[i].numel = values[i].numel();
  }
  EmaHyper h;
  h.weight = static_cast<float>(weight_of_update(updates_ + 1));
  h.copy = updates_ == 0 ? 1 : 0;
  table_.set(std::move(slots), h);
  kernels_for(averages_.front().device()).upload_tensor_table(table_);
  ++updates_;
}

void WeightAverage::apply_update() {
  kernels_for(averages_.front().device()).ema_step(table_);
}

nn::NamedTensors WeightAverage::state_dict() const {
  std::map<std::string, const Tensor*> average_of;
  for (size_t i = 0; i < names_.size(); ++i) average_of.emplace(names_[i], &averages_[i]);
  nn::NamedTensors state = model_.state_dict();
  for (auto& [name, t] : state) {
    auto it = average_of.find(name);
    if (it != average_of.end()) t = *it->second;
  }
  return state;
}

void WeightAverage::load(const nn::NamedTensors& averages, int64_t updates) {
  CYG_CHECK(updates >= 0, "moving average: ", updates, " updates");
  std::map<std::string, const Tensor*> given;
  for (const auto& [name, t] : averages) given.emplace(name, &t);
  CYG_CHECK(given.size() == names_.size(), "moving average: ", given.size(), " tensors given, ", names_.size(),
            " expected");
  for (size_t i = 0; i < names_.size(); ++i) {
    auto it = given.find(names_[i]);
    CYG_CHECK(it != given.end(), "moving average: no '", names_[i], "'");
    CYG_CHECK(it->second->shape() == averages_[i].shape() && it->second->dtype() == DType::F32, "moving average: '",
              names_[i], "' is ", shape_str(it->second->shape()), ", expected ", shape_str(averages_[i].shape()),
              " f32");
  }
  for (size_t i = 0; i < names_.size(); ++i) averages_[i].copy_(*given.at(names_[i]));
  updates_ = updates;
}

void WeightAverage::swap_with_model() {
  const std::vector<Tensor> values = model_values();
  for (size_t i = 0; i < values.size(); ++i) {
    const Tensor kept = values[i].clone();
    Tensor value = values[i];
    value.copy_(averages_[i]);
    averages_[i].copy_(kept);
  }
}

}  // namespace cyg
