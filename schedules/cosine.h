// Cosine annealing from a base learning rate down to a minimum over a fixed number of steps.
#pragma once

#include "schedules/schedule.h"

namespace cyg::sched {

class CosineSchedule final : public Schedule {
 public:
  // lr(0) = base_lr, lr(total_steps - 1) = min_lr, half a cosine in between;
  // total_steps >= 2 so that both ends are steps.
  CosineSchedule(double base_lr, double min_lr, int64_t total_steps);

  double lr(int64_t step) const override;
  std::optional<int64_t> total_steps() const override;

 private:
  double base_lr_;
  double min_lr_;
  int64_t total_steps_;
};

}  // namespace cyg::sched
