// The common interface of learning-rate / momentum schedules: pure functions of the
// optimizer step, so they can be evaluated anywhere and resumed from a saved step.
#pragma once

#include <cstdint>
#include <optional>

namespace cyg::sched {

// Conventions shared by every schedule in this module:
//  - steps count optimizer updates from 0; step 0 gets the schedule's first value;
//  - a schedule with a total of T steps gives its last value at step T-1 and keeps
//    giving it for every later step; a negative step gives the step-0 values.
class Schedule {
 public:
  virtual ~Schedule() = default;

  virtual double lr(int64_t step) const = 0;

  // nullopt means "this schedule does not drive momentum": the optimizer keeps its
  // own setting. The value is SGD's momentum, or Adam's beta1 — which of the two it
  // feeds is the optimizer's business, not the schedule's.
  virtual std::optional<double> momentum(int64_t step) const;

  // The number of steps the schedule is defined over (its values are clamped after
  // it), or nullopt for schedules that need no end (constant, step decay).
  virtual std::optional<int64_t> total_steps() const;
};

// The step clamped to [0, total_steps - 1], as every bounded schedule reads it.
inline int64_t clamp_step(int64_t step, int64_t total_steps) {
  return step < 0 ? 0 : (step >= total_steps ? total_steps - 1 : step);
}

}  // namespace cyg::sched
