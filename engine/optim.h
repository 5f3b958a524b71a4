// Optimizers over a list of parameters: SGD with momentum, Adam and AdamW, with
// PyTorch's semantics. One step is one fused update of every parameter (on CUDA, one
// kernel launch over a table of all tensors); lr, momentum (Adam: beta1) and weight
// decay may change between steps at no cost, which is how schedules drive them.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "engine/multi_tensor.h"
#include "engine/variable.h"
#include "kernels/optim.h"

namespace cyg {

struct SgdOptions {
  double lr = 0.01;
  double momentum = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool decoupled_weight_decay = false;  // true: AdamW
};

// Optimizer state by name: "state.<i>.momentum_buffer" (SGD), "state.<i>.exp_avg" and
// "state.<i>.exp_avg_sq" (Adam), with <i> the parameter's position, and "step" (i64).
using StateDict = std::map<std::string, Tensor>;

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // Updates every parameter from its gradient: prepare_step(), then apply_step().
  void step();
  // The host's half of a step: the step count, this step's hyperparameters and the
  // tensor table, put where the update reads them (on a device: one small copy). Outside
  // a CUDA graph capture.
  void prepare_step();
  // The device's half: one fused update, reading what prepare_step() put there. What a
  // captured training step replays.
  void apply_step();
  void zero_grad();

  virtual double lr() const = 0;
  virtual void set_lr(double lr) = 0;
  virtual double momentum() const = 0;  // SGD: momentum; Adam: beta1
  virtual void set_momentum(double momentum) = 0;
  virtual double weight_decay() const = 0;
  virtual void set_weight_decay(double weight_decay) = 0;

  // Gradient clipping by the global L2 norm before every update, as PyTorch's
  // clip_grad_norm_ (norm_type 2) before optimizer.step(): every gradient is multiplied
  // by min(1, max_norm / (norm + 1e-6)) as the update reads it (.grad keeps its value).
  // max_norm > 0, or 0 for none (the default). Computed on the device, in the step. Set
  // before the first step (a step captured in a CUDA graph keeps what it was captured with).
  void set_grad_clip_norm(double max_norm);
  double grad_clip_norm() const { return clip_norm_; }
  // The gradients' global norm at the last update with clipping on (a read of device
  // memory: it waits for the device); NaN before one.
  double last_grad_norm() const;

  // Each parameter's share of the weight decay, one scale per parameter in order (1: all
  // of it, the default; 0: none), as PyTorch's parameter groups with their own
  // weight_decay. Set before the first step (a captured step keeps its table).
  void set_weight_decay_scales(std::vector<float> scales);
  const std::vector<float>& weight_decay_scales() const { return decay_scales_; }

  int64_t steps_taken() const { return steps_; }
  const std::vector<Variable>& parameters() const { return params_; }

  // Copies of the state (on the parameters' device); load copies values in.
  StateDict state_dict() const;
  void load_state_dict(const StateDict& state);

 protected:
  // state_slots: 1 (SGD with momentum), 2 (Adam) or 0.
  Optimizer(std::vector<Variable> params, int state_slots, std::vector<std::string> state_names);
  // This step's hyperparameters into the table, then one fused update of every tensor.
  virtual void set_hyper(MultiTensorTable& tensors) const = 0;
  virtual void update(const MultiTensorTable& tensors) const = 0;
  Device device() const { return device_; }
  // Every parameter with its gradient and state buffers, as the kernels take them.
  std::vector<TensorSlot> current_slots() const;
  // Where the update finds the clipping factor (the hyperparameters' grad_scale), or
  // nullptr without clipping.
  const float* grad_scale() const;

 private:
  std::vector<Variable> params_;
  std::vector<std::vector<Tensor>> state_;  // [slot][parameter]
  std::vector<std::string> state_names_;
  int64_t steps_ = 0;
  Device device_;
  MultiTensorTable tensors_;
  std::vector<float> decay_scales_;  // one per parameter
  double clip_norm_ = 0.0;
  Tensor clip_;  // on the device: [factor, norm], written in each step with clipping
};

// The scales that exempt biases and normalisation weights from weight decay: 0 for a
// parameter of at most one dimension (a bias, batchnorm's weight and bias), 1 for the
// others (convolution and linear weights). timm's default, fastai's wd_bn_bias=False.
// By shape alone, as timm decides: a bias kept as [1, C, 1, 1] would be decayed, and any
// other one-dimensional parameter would be exempt (the shipped models have neither).
std::vector<float> weight_decay_on_weights_only(const std::vector<Variable>& params);

class SGD final : public Optimizer {
 public:
  SGD(std::vector<Variable> params, const SgdOptions& options);
  double lr() const override { return options_.lr; }
  void set_lr(double lr) override;
  double momentum() const override { return options_.momentum; }
  void set_momentum(double momentum) override;
  double weight_decay() const override { return options_.weight_decay; }
  void set_weight_decay(double weight_decay) override;
  const SgdOptions& options() const { return options_; }

 private:
  void set_hyper(MultiTensorTable& tensors) const override;
  void update(const MultiTensorTable& tensors) const override;
  SgdHyper hyper() const;
  SgdOptions options_;
};

class Adam final : public Optimizer {
 public:
  Adam(std::vector<Variable> params, const AdamOptions& options);
  double lr() const override { return options_.lr; }
  void set_lr(double lr) override;
  double momentum() const override { return options_.beta1; }
  void set_momentum(double beta1) override;
  double weight_decay() const override { return options_.weight_decay; }
  void set_weight_decay(double weight_decay) override;
  const AdamOptions& options() const { return options_; }

 private:
  void set_hyper(MultiTensorTable& tensors) const override;
  void update(const MultiTensorTable& tensors) const override;
  AdamHyper hyper() const;
  AdamOptions options_;
};

}  // namespace cyg
