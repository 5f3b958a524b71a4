// A linear warm-up placed in front of another schedule: the wrapped schedule starts,
// from its own step 0, once the warm-up is over.
#pragma once

#include <memory>

#include "schedules/schedule.h"

namespace cyg::sched {

class WarmupSchedule final : public Schedule {
 public:
  // Steps 0 .. warmup_steps-1 rise linearly from start_lr (at step 0) towards
  // after->lr(0), which is reached at step warmup_steps; step warmup_steps + k then
  // gives after->lr(k). Momentum during the warm-up is after->momentum(0), and the
  // total is warmup_steps + after->total_steps() (unbounded if `after` is).
  // warmup_steps = 0 makes the wrapper transparent.
  WarmupSchedule(std::shared_ptr<const Schedule> after, int64_t warmup_steps, double start_lr);

  double lr(int64_t step) const override;
  std::optional<double> momentum(int64_t step) const override;
  std::optional<int64_t> total_steps() const override;

 private:
  std::shared_ptr<const Schedule> after_;
  int64_t warmup_steps_;
  double start_lr_;
};

}  // namespace cyg::sched
