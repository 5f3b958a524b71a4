// PyTorch's OneCycleLR: its phases and its two anneal formulas (pytorch_one_cycle.h).
#include "schedules/pytorch_one_cycle.h"

#include <cmath>
#include <string>

#include "schedules/checks.h"

namespace cyg::sched {

namespace {
constexpr const char* kWhere = "PyTorchOneCycle";
}  // namespace

PyTorchOneCycle::PyTorchOneCycle(const PyTorchOneCycleParams& params) : params_(params) {
  const PyTorchOneCycleParams& p = params_;
  detail::check_learning_rate(kWhere, "max_lr", p.max_lr);
  detail::check_positive(kWhere, "div_factor", p.div_factor);
  detail::check_positive(kWhere, "final_div_factor", p.final_div_factor);
  detail::check_momentum_pair(kWhere, "base_momentum", p.base_momentum, "max_momentum", p.max_momentum);
  detail::check_at_least(kWhere, "total_steps", p.total_steps, 2);
  detail::check_unit_interval(kWhere, "pct_start", p.pct_start);
  const double t = static_cast<double>(p.total_steps);
  const double rise_end = p.pct_start * t - 1.0, last = t - 1.0;
  if (rise_end == 0.0) {
    detail::throw_invalid(kWhere, "pct_start", p.pct_start,
                          "a share of the " + std::to_string(p.total_steps) +
                              " steps other than 1 / total_steps (the rise would end at step 0, where it starts: "
                              "PyTorch divides by zero)");
  }
  initial_lr_ = p.max_lr / p.div_factor;
  min_lr_ = initial_lr_ / p.final_div_factor;
  if (p.three_phase) {
    const double fall_end = 2.0 * p.pct_start * t - 2.0;
    phases_[0] = {rise_end, initial_lr_, p.max_lr, p.max_momentum, p.base_momentum};
    phases_[1] = {fall_end, p.max_lr, initial_lr_, p.base_momentum, p.max_momentum};
    phases_[2] = {last, initial_lr_, min_lr_, p.max_momentum, p.max_momentum};
    phase_count_ = 3;
  } else {
    phases_[0] = {rise_end, initial_lr_, p.max_lr, p.max_momentum, p.base_momentum};
    phases_[1] = {last, p.max_lr, min_lr_, p.base_momentum, p.max_momentum};
    phase_count_ = 2;
  }
}

const PyTorchOneCycle::Phase& PyTorchOneCycle::phase_of(double s, double& start_step) const {
  start_step = 0.0;
  for (int i = 0; i < phase_count_; ++i) {
    if (s <= phases_[i].end_step || i == phase_count_ - 1) return phases_[i];
    start_step = phases_[i].end_step;
  }
  return phases_[phase_count_ - 1];  // not reached
}

double PyTorchOneCycle::anneal(double start, double end, double fraction) const {
  if (params_.anneal == Interpolation::Linear) return (end - start) * fraction + start;
  const double kPi = 3.14159265358979323846;
  return end + (start - end) / 2.0 * (std::cos(kPi * fraction) + 1.0);
}

double PyTorchOneCycle::lr(int64_t step) const {
  const double s = static_cast<double>(clamp_step(step, params_.total_steps));
  double start = 0.0;
  const Phase& phase = phase_of(s, start);
  return anneal(phase.start_lr, phase.end_lr, (s - start) / (phase.end_step - start));
}

std::optional<double> PyTorchOneCycle::momentum(int64_t step) const {
  const double s = static_cast<double>(clamp_step(step, params_.total_steps));
  double start = 0.0;
  const Phase& phase = phase_of(s, start);
  return anneal(phase.start_momentum, phase.end_momentum, (s - start) / (phase.end_step - start));
}

std::optional<int64_t> PyTorchOneCycle::total_steps() const { return params_.total_steps; }

}  // namespace cyg::sched
