// The LR range-test sweep, exponential or linear.
#include "schedules/range_sweep.h"

#include <cmath>

#include "schedules/checks.h"

namespace cyg::sched {

RangeSweep::RangeSweep(double start_lr, double end_lr, int64_t num_steps, SweepSpacing spacing)
    : start_lr_(start_lr), end_lr_(end_lr), num_steps_(num_steps), spacing_(spacing) {
  constexpr const char* kWhere = "RangeSweep";
  if (spacing == SweepSpacing::Exponential) {
    detail::check_positive(kWhere, "start_lr", start_lr);
    detail::check_positive(kWhere, "end_lr", end_lr);
  } else {
    detail::check_learning_rate(kWhere, "start_lr", start_lr);
    detail::check_learning_rate(kWhere, "end_lr", end_lr);
  }
  if (!(end_lr > start_lr)) {
    detail::throw_invalid(kWhere, "end_lr", end_lr, "> start_lr = " + detail::format_value(start_lr));
  }
  detail::check_at_least(kWhere, "num_steps", num_steps, 2);
}

double RangeSweep::lr(int64_t step) const {
  const int64_t s = clamp_step(step, num_steps_);
  // The last step is returned as given, free of the rounding of pow/log.
  if (s == num_steps_ - 1) return end_lr_;
  const double fraction = static_cast<double>(s) / static_cast<double>(num_steps_ - 1);
  if (spacing_ == SweepSpacing::Exponential) return start_lr_ * std::pow(end_lr_ / start_lr_, fraction);
  return start_lr_ + (end_lr_ - start_lr_) * fraction;
}

std::optional<int64_t> RangeSweep::total_steps() const { return num_steps_; }

}  // namespace cyg::sched
