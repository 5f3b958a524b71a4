// The learning-rate sweep of the LR range test (Smith 2015; the seed report's Fig. 2):
// the rate grows from start_lr to end_lr over a fixed number of steps.
#pragma once

#include "schedules/schedule.h"

namespace cyg::sched {

enum class SweepSpacing {
  Exponential,  // equal ratios between steps: lr(i) = start * (end/start)^(i/(N-1))
  Linear,       // equal differences between steps
};

class RangeSweep final : public Schedule {
 public:
  // Step 0 gives start_lr, step num_steps-1 gives end_lr (and so does every later
  // step). Requires end_lr > start_lr, num_steps >= 2, and start_lr > 0 when
  // exponential (start_lr >= 0 when linear).
  RangeSweep(double start_lr, double end_lr, int64_t num_steps, SweepSpacing spacing = SweepSpacing::Exponential);

  double lr(int64_t step) const override;
  std::optional<int64_t> total_steps() const override;

 private:
  double start_lr_;
  double end_lr_;
  int64_t num_steps_;
  SweepSpacing spacing_;
};

}  // namespace cyg::sched
