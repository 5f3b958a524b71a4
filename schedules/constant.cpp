// A constant learning rate (and optionally a constant momentum).
#include "schedules/constant.h"

#include "schedules/checks.h"

namespace cyg::sched {

ConstantSchedule::ConstantSchedule(double lr, std::optional<double> momentum) : lr_(lr), momentum_(momentum) {
  detail::check_learning_rate("ConstantSchedule", "lr", lr);
  if (momentum) detail::check_unit_interval("ConstantSchedule", "momentum", *momentum);
}

double ConstantSchedule::lr(int64_t) const { return lr_; }

std::optional<double> ConstantSchedule::momentum(int64_t) const { return momentum_; }

}  // namespace cyg::sched
