// fastai's ActivationStats (train.activation_stats_every): the mean, standard deviation
// and share near zero of each layer's output, every n-th training step, to see how the
// activations of a network behave through a schedule (a layer whose outputs die or blow
// up at a high learning rate). Recorded by forward hooks on the layers that hold
// parameters (fastai's has_params: convolutions, batchnorms, the linear layer), on the
// step's first (micro-)batch: kernels sum and count each output where it lies
// (engine/ops.h's moments and histogram), and the host waits for their few sums.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "apps/common/plot.h"
#include "apps/common/run_records.h"
#include "engine/nn.h"
#include "engine/ops.h"

namespace cyg::app {

// fastai's threshold: an activation at or below it counts as near zero.
inline constexpr double kNearZero = 0.05;
// fastai's histogram (ActivationStats(with_hist=True), torch.histc(40, 0, 10)): 40 bins
// of 0.25 over [0, 10]; values outside are not counted.
inline constexpr int kHistBins = 40;
inline constexpr float kHistLow = 0.0f, kHistHigh = 10.0f;

struct LayerStats {
  double mean = 0.0, std = 0.0, near_zero = 0.0;
};
// From one output's moments, as fastai computes them: the mean, the standard deviation
// (with n - 1, as torch.std; about the mean, as a two-pass one), and the share of values
// at or below kNearZero. NaN where there is nothing to average (the std of one value too).
LayerStats layer_stats(const Moments& m);

class ActivationRecorder {
 public:
  // Hooks the model's layers that hold parameters when `every` > 0 (0: none hooked).
  ActivationRecorder(nn::Module& model, int64_t every);
  ~ActivationRecorder();
  ActivationRecorder(const ActivationRecorder&) = delete;
  ActivationRecorder& operator=(const ActivationRecorder&) = delete;

  // Whether step `step` (1-based) is recorded: a multiple of every.
  bool records(int64_t step) const { return every_ > 0 && step % every_ == 0; }
  // Before step `step`: the hooks record its forward where records(step), each layer once
  // (the first micro-batch). The step must run eagerly (hooks do not run in a replayed
  // CUDA graph).
  void start_step(int64_t step);
  // After it: the step's rows appended to `rows` in the order the layers ran; disarmed.
  void end_step(std::vector<ActivationStat>& rows);

 private:
  struct Layer {
    std::string name;
    nn::Module* module;
  };
  std::vector<Layer> layers_;
  int64_t every_ = 0, step_ = 0;
  bool armed_ = false;
  std::vector<ActivationStat> pending_;
  std::vector<bool> recorded_;  // by layer, in the armed step
};

// The run page's pictures of the rows (fastai's plot_layer_stats, every layer at once):
// activations_mean.svg, activations_std.svg and activations_near_zero.svg against the
// step, a line per layer from light (first) to dark (last), at most 400 recorded steps
// a line (every k-th, and the last). Where the net has
// batchnorms with a fused ReLU, only their outputs (the activations after each ReLU) are
// drawn; the CSV has every layer. None where there are no rows.
std::vector<std::pair<std::string, plot::Chart>> activation_charts(const std::string& run_name,
                                                                   const std::vector<ActivationStat>& rows);

// Whether a layer's rows are an output after a ReLU ("bn1+relu", "layer1.0.bn2+add+relu").
bool after_relu(const std::string& layer);

// A row's histogram counts (ActivationStat::hist: counts separated by spaces).
std::vector<int64_t> histogram_counts(const std::string& hist);

// fastai's color_dim, every drawn layer at once (activations_hist.svg): a panel per layer
// (the same layers and steps as activation_charts), each column a recorded step and each
// row one of the kHistBins bins from 0 (bottom) to 10 (top), white for none to dark blue
// for the panel's most, on a log scale (log1p, as fastai). "" where there are no rows.
std::string activation_histograms_svg(const std::string& run_name, const std::vector<ActivationStat>& rows);

}  // namespace cyg::app
