// PyTorch's torch.optim.lr_scheduler.OneCycleLR, step for step: the 1cycle shape most
// PyTorch and fastai code trains with, beside the seed report's own (one_cycle.h), so a
// recipe from there runs here unchanged and the two can be compared.
#pragma once

#include "schedules/interpolation.h"
#include "schedules/schedule.h"

namespace cyg::sched {

struct PyTorchOneCycleParams {
  double max_lr = 0.0;
  double pct_start = 0.3;          // the share of the steps spent rising
  double div_factor = 25.0;        // initial_lr = max_lr / div_factor
  double final_div_factor = 1e4;   // min_lr = initial_lr / final_div_factor
  bool three_phase = false;        // rise, fall back to initial_lr, then anneal to min_lr
  double base_momentum = 0.85;     // at the peak of the lr
  double max_momentum = 0.95;      // at the start and the end
  int64_t total_steps = 0;         // >= 2
  Interpolation anneal = Interpolation::Cosine;  // PyTorch's anneal_strategy ('cos' by default)
};

// PyTorch's phases, with T = total_steps and p = pct_start in [0, 1] (end steps are real
// numbers, as PyTorch computes them):
//   two phases:   initial_lr -> max_lr until step p*T - 1, then max_lr -> min_lr until T - 1;
//   three phases: initial_lr -> max_lr until p*T - 1, max_lr -> initial_lr until 2*p*T - 2,
//                 then initial_lr -> min_lr until T - 1;
// momentum max -> base -> max over the first two phases (three phases: constant max in the
// third). Within a phase from step a to b, the fraction at step s is (s - a) / (b - a) and
// the value is PyTorch's: linear (end - start) * f + start, cosine
// end + (start - end) / 2 * (cos(pi f) + 1). Steps past T - 1 give the step T - 1 values
// (PyTorch refuses them). A step lands in the first phase that ends at or after it (the
// last phase: any later step), and the phase starts where the one before it ended, as in
// PyTorch: with p*T < 1 step 0 is already past the rise. The one setting PyTorch divides
// by zero for, p*T = 1 (a rise that ends at step 0, where it starts), is refused.
class PyTorchOneCycle final : public Schedule {
 public:
  explicit PyTorchOneCycle(const PyTorchOneCycleParams& params);

  double lr(int64_t step) const override;
  std::optional<double> momentum(int64_t step) const override;
  std::optional<int64_t> total_steps() const override;

  double initial_lr() const { return initial_lr_; }
  double min_lr() const { return min_lr_; }

 private:
  struct Phase {
    double end_step, start_lr, end_lr, start_momentum, end_momentum;
  };
  // The phase step s falls in, and its start step.
  const Phase& phase_of(double s, double& start_step) const;
  double anneal(double start, double end, double fraction) const;

  PyTorchOneCycleParams params_;
  double initial_lr_, min_lr_;
  Phase phases_[3];
  int phase_count_;
};

}  // namespace cyg::sched
