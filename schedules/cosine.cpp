// Cosine annealing from base_lr to min_lr.
#include "schedules/cosine.h"

#include "schedules/checks.h"
#include "schedules/interpolation.h"

namespace cyg::sched {

CosineSchedule::CosineSchedule(double base_lr, double min_lr, int64_t total_steps)
    : base_lr_(base_lr), min_lr_(min_lr), total_steps_(total_steps) {
  constexpr const char* kWhere = "CosineSchedule";
  detail::check_learning_rate(kWhere, "base_lr", base_lr);
  detail::check_learning_rate(kWhere, "min_lr", min_lr);
  if (min_lr > base_lr) {
    detail::throw_invalid(kWhere, "min_lr", min_lr, "<= base_lr = " + detail::format_value(base_lr));
  }
  detail::check_at_least(kWhere, "total_steps", total_steps, 2);
}

double CosineSchedule::lr(int64_t step) const {
  const double fraction =
      static_cast<double>(clamp_step(step, total_steps_)) / static_cast<double>(total_steps_ - 1);
  return interpolate(base_lr_, min_lr_, fraction, Interpolation::Cosine);
}

std::optional<int64_t> CosineSchedule::total_steps() const { return total_steps_; }

}  // namespace cyg::sched
