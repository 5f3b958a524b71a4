// An exponential moving average of a model's weights, as PyTorch's
// torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay),
// use_buffers=True) keeps it (timm's ModelEma, Lightning's EMA callbacks): after every
// optimizer step each parameter's and floating buffer's average (batchnorm's running
// mean and variance) moves toward its value, average = lerp(average, value, 1 - decay),
// the first update copying the values. Counters (num_batches_tracked) are the model's:
// torch averages its int64 counter too, truncating (it stays near n - 1/(1 - decay)),
// which only batchnorm with momentum=None reads; the shipped models use momentum 0.1.
// Each update is one fused launch over every tensor (kernels/optim.h's ema_update), its
// weight read from device memory, so a CUDA graph captures it with the step.
//
// With warm-up, the n-th update (n = 2, 3, ...) uses min(decay, (1 + n) / (10 + n)), as
// TensorFlow's ExponentialMovingAverage with num_updates does: early averages forget the
// first weights quickly, so a decay of 0.999 is of use in a run of a few thousand steps.
//
// equal_average() makes PyTorch's default AveragedModel instead (stochastic weight
// averaging): the n-th update's weight is 1/n, so the average is the mean of every value
// given, average += (value - average) / n.
#pragma once
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "engine/multi_tensor.h"
#include "engine/nn.h"

namespace cyg {

class WeightAverage {
 public:
  // The averages start as copies of the model's values, on its device; decay in (0, 1).
  WeightAverage(nn::Module& model, double decay, bool warm_up = false);
  // The mean of every update's values (PyTorch's AveragedModel(model) with its default
  // averaging function).
  static std::unique_ptr<WeightAverage> equal_average(nn::Module& model);
  WeightAverage(const WeightAverage&) = delete;
  WeightAverage& operator=(const WeightAverage&) = delete;

  bool equal() const { return equal_; }
  double decay() const { return decay_; }  // 0 for an equal average
  bool warm_up() const { return warm_up_; }
  // The decay of the n-th update (from 1; the first copies the values).
  double decay_of_update(int64_t n) const;
  // The weight the n-th update gives the values, average = lerp(average, value, weight):
  // 1 - decay_of_update(n), or 1/n for an equal average.
  double weight_of_update(int64_t n) const;
  // The updates taken (PyTorch's n_averaged).
  int64_t updates() const { return updates_; }

  // After an optimizer step: prepare_update() then apply_update(). The host's half puts
  // this update's weight (a copy at the first) and the tensor table into device memory,
  // outside a graph capture; the device's half is the one launch a captured step replays.
  void update();
  void prepare_update();
  void apply_update();

  // The model's state dict with the averages in place of its parameters and floating
  // buffers: PyTorch's names, so the averaged weights load into the model with strict=True.
  nn::NamedTensors state_dict() const;
  // The averages alone (the names of what is averaged), for a checkpoint, and back: every
  // name must be there with its shape.
  const std::vector<std::string>& names() const { return names_; }
  const std::vector<Tensor>& averages() const { return averages_; }
  void load(const nn::NamedTensors& averages, int64_t updates);

  // Exchanges the model's values and the averages (the averaged weights are evaluated in
  // the model); a second call puts everything back as it was, bit for bit.
  void swap_with_model();

  // The averages in the model for the guard's lifetime, its own values back after, also
  // when what runs in between throws.
  class InModel {
   public:
    explicit InModel(WeightAverage& average) : average_(average) { average_.swap_with_model(); }
    // An error putting the values back propagates, unless another is on its way already.
    ~InModel() noexcept(false) {
      if (std::uncaught_exceptions() == unwinding_) {
        average_.swap_with_model();
        return;
      }
      try {
        average_.swap_with_model();
      } catch (...) {
      }
    }
    InModel(const InModel&) = delete;
    InModel& operator=(const InModel&) = delete;

   private:
    WeightAverage& average_;
    const int unwinding_ = std::uncaught_exceptions();
  };

 private:
  WeightAverage(nn::Module& model, double decay, bool warm_up, bool equal);
  // The model's averaged tensors in names_' order, as they are now.
  std::vector<Tensor> model_values() const;

  nn::Module& model_;
  double decay_;
  bool warm_up_;
  bool equal_ = false;
  int64_t updates_ = 0;
  std::vector<std::string> names_;
  std::vector<Tensor> averages_;
  MultiTensorTable table_;
};

}  // namespace cyg
