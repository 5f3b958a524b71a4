// A linear warm-up in front of another schedule.
#include "schedules/warmup.h"

#include <stdexcept>
#include <utility>

#include "schedules/checks.h"

namespace cyg::sched {

WarmupSchedule::WarmupSchedule(std::shared_ptr<const Schedule> after, int64_t warmup_steps, double start_lr)
    : after_(std::move(after)), warmup_steps_(warmup_steps), start_lr_(start_lr) {
  constexpr const char* kWhere = "WarmupSchedule";
  if (!after_) throw std::invalid_argument("WarmupSchedule: after = null, expected a schedule to wrap");
  detail::check_at_least(kWhere, "warmup_steps", warmup_steps, 0);
  detail::check_learning_rate(kWhere, "start_lr", start_lr);
}

double WarmupSchedule::lr(int64_t step) const {
  if (step < 0) step = 0;
  if (step >= warmup_steps_) return after_->lr(step - warmup_steps_);
  const double fraction = static_cast<double>(step) / static_cast<double>(warmup_steps_);
  return start_lr_ + (after_->lr(0) - start_lr_) * fraction;
}

std::optional<double> WarmupSchedule::momentum(int64_t step) const {
  return after_->momentum(step > warmup_steps_ ? step - warmup_steps_ : 0);
}

std::optional<int64_t> WarmupSchedule::total_steps() const {
  const std::optional<int64_t> after_total = after_->total_steps();
  if (!after_total) return std::nullopt;
  return warmup_steps_ + *after_total;
}

}  // namespace cyg::sched
