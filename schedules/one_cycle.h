// The 1cycle policy (Smith & Topin; the seed report's Table I): the learning rate goes
// up and back down while momentum goes down and back up, then the rate is annealed.
#pragma once

#include "schedules/interpolation.h"
#include "schedules/schedule.h"

namespace cyg::sched {

struct OneCycleParams {
  double lr_min = 0.0;           // start of the cycle and end of the descent
  double lr_max = 0.0;           // the peak
  double momentum_min = 0.85;    // reached at the peak of the learning rate
  double momentum_max = 0.95;    // at the start, and from the end of the descent on
  int64_t total_steps = 0;       // >= 2
  double anneal_fraction = 0.1;  // share of total_steps spent annealing, in [0, 1]
  double anneal_div = 100.0;     // annealing ends at lr_min / anneal_div
  Interpolation interpolation = Interpolation::Linear;
};

// Step -> value mapping. With T = total_steps and a = anneal_fraction, the schedule
// is piecewise through these knots (joined linearly or by half cosines):
//
//   step 0            lr_min            momentum_max
//   step P (peak)     lr_max            momentum_min   P = floor((1 - a) * T / 2)
//   step E            lr_min            momentum_max   E = min(2P, T - 1)
//   step T - 1        lr_min/anneal_div momentum_max   (only when a > 0)
//
// so the rise and the descent both take P steps and the annealing covers steps
// E..T-1 (at least a*T steps, since P is rounded down; the floor forgives the
// rounding error of doubles, so a = 0.8, T = 10 gives P = 1). Momentum stays at
// momentum_max from E on. Steps past T-1 give the step T-1 values; negative steps
// the step 0 values.
// Degenerate cases:
//  - a = 0: no annealing; the descent ends at the last step (E = T - 1), which
//    gives lr_min. For an even T the descent is one step shorter than the rise.
//  - a = 1: P = E = 0, no cycle; the whole run anneals lr_min -> lr_min/anneal_div
//    with momentum_max.
//  - a > 0 but E = T - 1 (possible when a*T <= 1): the last step takes
//    lr_min/anneal_div, the final value winning over the end of the descent.
//  - T = 2 with a = 0: P = E = 1 and the end of the descent wins over the peak.
//  - lr_min = lr_max and/or momentum_min = momentum_max: flat phases, as in the
//    seed's 0.01/0.01, constant 0.9 run.
// With Adam, the optimizer applies momentum(step) as beta1; the values are the same.
class OneCycle final : public Schedule {
 public:
  explicit OneCycle(const OneCycleParams& params);

  // Configs give the annealing share as a percentage (Table I: 10, 50); this converts
  // it to anneal_fraction, rejecting values outside [0, 100].
  static double anneal_fraction_from_percent(double anneal_percent);

  double lr(int64_t step) const override;
  std::optional<double> momentum(int64_t step) const override;
  std::optional<int64_t> total_steps() const override;

  const OneCycleParams& params() const { return params_; }
  int64_t peak_step() const { return peak_step_; }                // P above
  int64_t descent_end_step() const { return descent_end_step_; }  // E above

 private:
  OneCycleParams params_;
  int64_t peak_step_;
  int64_t descent_end_step_;
  double final_lr_;  // lr at step T - 1
};

}  // namespace cyg::sched
