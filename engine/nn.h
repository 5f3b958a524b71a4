// Modules: named parameters (Variables) and buffers (Tensors), children, train/eval,
// and a state dict whose names and order follow PyTorch's (own parameters, own
// buffers, then each child under "<child>."), so weights move between the two.
// Layers initialise as PyTorch does by default, from a seed.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/autograd.h"
#include "engine/functional.h"

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
  // The module's name in its parent ("conv1", "0", ...), which names its NVTX range.
  const std::string& name() const { return name_; }

  // PyTorch's register_forward_hook, one per module: called with each output of the
  // module's forward, and `fused` saying what the forward applied after the module's own
  // op ("": nothing; BatchNorm2d's forward_relu "+relu", forward_add_relu "+add+relu").
  // An empty function removes it; setting one where one is set is an error (its owner
  // would lose it). Not called in a replayed CUDA graph (no host code runs).
  using ForwardHook = std::function<void(const Variable& output, const char* fused)>;
  void set_forward_hook(ForwardHook hook);
  // Whether the module holds parameters itself, not only below it (fastai's has_params:
  // a convolution, a batchnorm, a linear layer).
  bool has_own_parameters() const { return !params_.empty(); }

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
  // A training forward ran on the device without its host code (a replayed CUDA graph):
  // the host-side counters a forward keeps (num_batches_tracked) count it.
  virtual void count_replayed_forward();
  // This module and every one below it, depth first in registration order (PyTorch's
  // modules()).
  std::vector<Module*> modules();
  // The same with their qualified names ("", "conv1", "layer1.0.bn1", ...: PyTorch's
  // named_modules(), the prefixes of the state dict's names).
  std::vector<std::pair<std::string, Module*>> named_modules();
  bool is_training() const { return training_; }
  // Moves every parameter (with its gradient) and buffer to the device.
  void to(Device device);

 protected:
  Variable register_parameter(const std::string& name, Tensor value);
  // Where a buffer lives: on the module's device, or always on the host (a counter the
  // host updates, so that a step launches nothing for it).
  enum class BufferPlace { WithModule, Host };
  // The module keeps the tensor as a member and registers its address.
  void register_buffer(const std::string& name, Tensor* buffer, BufferPlace place = BufferPlace::WithModule);
  // Calls the forward hook, where one is set, and returns the output.
  Variable hooked(const Variable& output, const char* fused) const {
    if (hook_) hook_(output, fused);
    return output;
  }
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
  struct Buffer {
    std::string name;
    Tensor* tensor;
    BufferPlace place;
  };
  std::vector<Buffer> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  std::string name_ = "model";
  bool training_ = true;
  ForwardHook hook_;
};

// How a layer's weights start: PyTorch's default (Kaiming-uniform with a = sqrt(5),
// i.e. bound 1/sqrt(fan_in)) or He et al.'s normal (std sqrt(2/fan_in)), which their
// CIFAR ResNets use. Biases always start as PyTorch's (uniform, bound 1/sqrt(fan_in)).
enum class Init { PyTorchDefault, KaimingNormal };

// What a Conv2d is, named at the call site:
//   nn::Conv2dOptions(in, out, 3).stride(2).padding(1).bias(false)
// Defaults as PyTorch's: stride 1, no padding, a bias, PyTorch's default init.
struct Conv2dOptions {
  Conv2dOptions(int64_t in_channels, int64_t out_channels, int64_t kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  Conv2dOptions& stride(int64_t s) { stride_ = s; return *this; }
  Conv2dOptions& padding(int64_t p) { padding_ = p; return *this; }
  Conv2dOptions& bias(bool b) { bias_ = b; return *this; }
  Conv2dOptions& init(Init i) { init_ = i; return *this; }

  int64_t in_channels_, out_channels_, kernel_size_;
  int64_t stride_ = 1, padding_ = 0;
  bool bias_ = true;
  Init init_ = Init::PyTorchDefault;
};

class Conv2d : public Module {
 public:
  Conv2d(const Conv2dOptions& options, InitSeeds& seeds);
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
  // relu(bn(x)) and relu(bn(x) + residual), each in the batchnorm's own kernels.
  Variable forward_relu(const Variable& x);
  Variable forward_add_relu(const Variable& x, const Variable& residual);
  void count_replayed_forward() override;
  // PyTorch's reset_running_stats(): running mean 0, variance 1, no batches tracked.
  void reset_running_stats();
  // PyTorch's momentum=None while on: each training forward's statistics enter the running
  // ones with the factor 1 / num_batches_tracked, so that they are the mean of every batch's
  // since the last reset. Off: the module's momentum, as constructed.
  void set_cumulative_average(bool on) { cumulative_ = on; }

 private:
  Variable apply(const Variable& x, fn::BatchNormThen then, const Variable& residual);

  Variable weight_, bias_;
  Tensor running_mean_, running_var_, num_batches_tracked_;
  double eps_, momentum_;
  bool cumulative_ = false;
};

// PyTorch's torch.optim.swa_utils.update_bn: every batchnorm's running statistics
// recomputed as the mean, over the batches `next` gives (false: no more), of each batch's
// (training-mode forwards without gradients, momentum=None). The model's mode and the
// modules' momentum are back as they were after, also when a forward throws. For weights
// whose statistics were never seen, such as an average of several epochs' weights.
void recompute_batchnorm_statistics(Module& model, const std::function<bool(Tensor& images)>& next);

// What a Linear is: nn::LinearOptions(in, out), with .bias(false) or .init(...) where
// it differs from PyTorch's defaults.
struct LinearOptions {
  LinearOptions(int64_t in_features, int64_t out_features) : in_features_(in_features), out_features_(out_features) {}
  LinearOptions& bias(bool b) { bias_ = b; return *this; }
  LinearOptions& init(Init i) { init_ = i; return *this; }

  int64_t in_features_, out_features_;
  bool bias_ = true;
  Init init_ = Init::PyTorchDefault;
};

class Linear : public Module {
 public:
  Linear(const LinearOptions& options, InitSeeds& seeds);
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
