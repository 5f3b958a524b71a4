// Step decay: the learning rate is multiplied by gamma at each milestone step
// (PyTorch's MultiStepLR, counted in optimizer steps).
#pragma once

#include <vector>

#include "schedules/schedule.h"

namespace cyg::sched {

class StepSchedule final : public Schedule {
 public:
  // lr(step) = base_lr * gamma^k, k = the number of milestones <= step; so the step
  // equal to a milestone already has the decayed rate. Milestones are strictly
  // increasing and positive.
  StepSchedule(double base_lr, std::vector<int64_t> milestones, double gamma);

  double lr(int64_t step) const override;

 private:
  double base_lr_;
  std::vector<int64_t> milestones_;
  double gamma_;
};

}  // namespace cyg::sched
