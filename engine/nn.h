// Modules: named parameters (Variables) and buffers (Tensors), children, train/eval,
// and a state dict whose names and order follow PyTorch's (own parameters, own
// buffers, then each child under "<child>."), so weights move between the two.
// Layers initialise as PyTorch does by default, from a seed.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/autograd.h"

namespace cyg::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// Seeds for initialisation: each layer draws the next one, so a model built from the
// same seed has the same weights on every device.
class InitSeeds {
 public:
  explicit InitSeeds(uint64_t seed) : seed_(seed) {}
  uint64_t next();

 private:
  uint64_t seed_;
  uint64_t counter_ = 0;
};

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  virtual Variable forward(const Variable& x);
  // forward inside an NVTX range named after the module ("layer2", "0", "conv1", ...),
  // so profiles show the network's structure.
  Variable operator()(const Variable& x);

  std::vector<std::pair<std::string, Variable>> named_parameters() const;
  std::vector<Variable> parameters() const;
  NamedTensors named_buffers() const;
  int64_t parameter_count() const;

  // Parameters and buffers, PyTorch's names and order.
  NamedTensors state_dict() const;
  // Copies values in by name; every name must match in both directions, with the same
  // shape (and the dtype of the destination: f32, or i64 for counters).
  void load_state_dict(const NamedTensors& state);

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Moves every parameter (with its gradient) and buffer to the device.
  void to(Device device);

 protected:
  Variable register_parameter(const std::string& name, Tensor value);
  // The module keeps the tensor as a member and registers its address.
  void register_buffer(const std::string& name, Tensor* buffer);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> child) {
    child->name_ = name;
    children_.emplace_back(name, child);
    return child;
  }

 private:
  void collect(const std::string& prefix, std::vector<std::pair<std::string, Variable>>* params,
               NamedTensors* buffers, NamedTensors* state) const;

  std::vector<std::pair<std::string, Variable>> params_;
  std::vector<std::pair<std::string, Tensor*>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  std::string name_ = "model";
  bool training_ = true;
};

// How a layer's weights start: PyTorch's default (Kaiming-uniform with a = sqrt(5),
// i.e. bound 1/sqrt(fan_in)) or He et al.'s normal (std sqrt(2/fan_in)), which their
// CIFAR ResNets use. Biases always start as PyTorch's (uniform, bound 1/sqrt(fan_in)).
enum class Init { PyTorchDefault, KaimingNormal };

class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride, int64_t padding, bool bias,
         InitSeeds& seeds, Init init = Init::PyTorchDefault);
  Variable forward(const Variable& x) override;
  const Variable& weight() const { return weight_; }

 private:
  Variable weight_, bias_;
  int64_t stride_, padding_;
};

class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t channels, double eps = 1e-5, double momentum = 0.1);
  Variable forward(const Variable& x) override;

 private:
  Variable weight_, bias_;
  Tensor running_mean_, running_var_, num_batches_tracked_;
  double eps_, momentum_;
};

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias, InitSeeds& seeds, Init init = Init::PyTorchDefault);
  Variable forward(const Variable& x) override;

 private:
  Variable weight_, bias_;
};

class Sequential : public Module {
 public:
  // Children are named "0", "1", ... as in PyTorch.
  void append(std::shared_ptr<Module> module);
  bool empty() const { return layers_.empty(); }
  Variable forward(const Variable& x) override;

 private:
  std::vector<std::shared_ptr<Module>> layers_;
};

}  // namespace cyg::nn
