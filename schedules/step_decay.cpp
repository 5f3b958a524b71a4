// Step decay at milestones.
#include "schedules/step_decay.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "schedules/checks.h"

namespace cyg::sched {

StepSchedule::StepSchedule(double base_lr, std::vector<int64_t> milestones, double gamma)
    : base_lr_(base_lr), milestones_(std::move(milestones)), gamma_(gamma) {
  constexpr const char* kWhere = "StepSchedule";
  detail::check_learning_rate(kWhere, "base_lr", base_lr_);
  detail::check_positive(kWhere, "gamma", gamma_);
  for (size_t i = 0; i < milestones_.size(); ++i) {
    const std::string name = "milestones[" + std::to_string(i) + "]";
    if (i == 0) {
      if (milestones_[0] <= 0) detail::throw_invalid(kWhere, name.c_str(), milestones_[0], "> 0");
    } else if (milestones_[i] <= milestones_[i - 1]) {
      detail::throw_invalid(kWhere, name.c_str(), milestones_[i],
                            "> milestones[" + std::to_string(i - 1) + "] = " + std::to_string(milestones_[i - 1]) +
                                " (milestones strictly increasing)");
    }
  }
}

double StepSchedule::lr(int64_t step) const {
  const auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), step) - milestones_.begin();
  return base_lr_ * std::pow(gamma_, static_cast<double>(passed));
}

}  // namespace cyg::sched
