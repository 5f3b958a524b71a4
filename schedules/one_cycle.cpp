// The 1cycle policy: knots at steps 0, P, E and T-1 (see one_cycle.h for the mapping).
#include "schedules/one_cycle.h"

#include <algorithm>
#include <cmath>

#include "schedules/checks.h"

namespace cyg::sched {

namespace {

constexpr const char* kWhere = "OneCycle";

// floor(x) for the phase length, forgiving the rounding error of (1 - a) * T / 2 so that
// e.g. a = 0.8, T = 10 gives 1 and not 0.
int64_t floor_tolerant(double x) {
  return static_cast<int64_t>(std::floor(x + 1e-9 * std::max(1.0, x)));
}

}  // namespace

double OneCycle::anneal_fraction_from_percent(double anneal_percent) {
  if (!(anneal_percent >= 0.0 && anneal_percent <= 100.0)) {
    detail::throw_invalid(kWhere, "anneal_percent", anneal_percent, "a percentage in [0, 100]");
  }
  return anneal_percent / 100.0;
}

OneCycle::OneCycle(const OneCycleParams& params) : params_(params) {
  const OneCycleParams& p = params_;
  detail::check_learning_rate(kWhere, "lr_min", p.lr_min);
  detail::check_learning_rate(kWhere, "lr_max", p.lr_max);
  if (p.lr_min > p.lr_max) {
    detail::throw_invalid(kWhere, "lr_min", p.lr_min, "<= lr_max = " + detail::format_value(p.lr_max));
  }
  detail::check_momentum_pair(kWhere, "momentum_min", p.momentum_min, "momentum_max", p.momentum_max);
  detail::check_at_least(kWhere, "total_steps", p.total_steps, 2);
  detail::check_unit_interval(kWhere, "anneal_fraction", p.anneal_fraction);
  detail::check_positive(kWhere, "anneal_div", p.anneal_div);

  const int64_t last = p.total_steps - 1;
  peak_step_ = floor_tolerant((1.0 - p.anneal_fraction) * static_cast<double>(p.total_steps) / 2.0);
  descent_end_step_ = std::min(2 * peak_step_, last);
  final_lr_ = p.anneal_fraction > 0.0 ? p.lr_min / p.anneal_div : p.lr_min;
}

double OneCycle::lr(int64_t step) const {
  const OneCycleParams& p = params_;
  const int64_t s = clamp_step(step, p.total_steps);
  const int64_t last = p.total_steps - 1;
  // The tests below are ordered so that a later knot wins where two coincide.
  if (s >= descent_end_step_) {
    const double fraction = last > descent_end_step_ ? static_cast<double>(s - descent_end_step_) /
                                                           static_cast<double>(last - descent_end_step_)
                                                     : 1.0;
    return interpolate(p.lr_min, final_lr_, fraction, p.interpolation);
  }
  if (s >= peak_step_) {
    const double fraction =
        static_cast<double>(s - peak_step_) / static_cast<double>(descent_end_step_ - peak_step_);
    return interpolate(p.lr_max, p.lr_min, fraction, p.interpolation);
  }
  return interpolate(p.lr_min, p.lr_max, static_cast<double>(s) / static_cast<double>(peak_step_),
                     p.interpolation);
}

std::optional<double> OneCycle::momentum(int64_t step) const {
  const OneCycleParams& p = params_;
  const int64_t s = clamp_step(step, p.total_steps);
  if (s >= descent_end_step_) return p.momentum_max;
  if (s >= peak_step_) {
    const double fraction =
        static_cast<double>(s - peak_step_) / static_cast<double>(descent_end_step_ - peak_step_);
    return interpolate(p.momentum_min, p.momentum_max, fraction, p.interpolation);
  }
  return interpolate(p.momentum_max, p.momentum_min, static_cast<double>(s) / static_cast<double>(peak_step_),
                     p.interpolation);
}

std::optional<int64_t> OneCycle::total_steps() const { return params_.total_steps; }

}  // namespace cyg::sched
