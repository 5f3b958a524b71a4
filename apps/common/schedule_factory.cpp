// Schedules built from the config by name.
#include "apps/common/schedule_factory.h"

#include <algorithm>
#include <stdexcept>

#include "apps/common/name_table.h"
#include "kernels/error.h"
#include "schedules/constant.h"
#include "schedules/cosine.h"
#include "schedules/one_cycle.h"
#include "schedules/pytorch_one_cycle.h"
#include "schedules/step_decay.h"
#include "schedules/warmup.h"

namespace cyg::app {

namespace {

// The steps a named schedule spans: those after the warm-up.
struct ScheduleSpan {
  int64_t steps_per_epoch;
  int64_t warmup_steps;
  int64_t total_steps;
};

using ScheduleMaker = std::shared_ptr<const sched::Schedule> (*)(const RunConfig&, const ScheduleSpan&);

const std::vector<Named<sched::Interpolation>>& interpolations() {
  static const std::vector<Named<sched::Interpolation>> table = {
      {"linear", sched::Interpolation::Linear},
      {"cosine", sched::Interpolation::Cosine},
  };
  return table;
}

// PyTorch's OneCycleLR anneal_strategy names.
const std::vector<Named<sched::Interpolation>>& anneal_strategies() {
  static const std::vector<Named<sched::Interpolation>> table = {
      {"cos", sched::Interpolation::Cosine},
      {"linear", sched::Interpolation::Linear},
  };
  return table;
}

const std::vector<Named<sched::SweepSpacing>>& sweep_spacings() {
  static const std::vector<Named<sched::SweepSpacing>> table = {
      {"exponential", sched::SweepSpacing::Exponential},
      {"linear", sched::SweepSpacing::Linear},
  };
  return table;
}

std::shared_ptr<const sched::Schedule> make_constant(const RunConfig& c, const ScheduleSpan&) {
  return std::make_shared<sched::ConstantSchedule>(c.optimizer.lr);
}

std::shared_ptr<const sched::Schedule> make_one_cycle(const RunConfig& c, const ScheduleSpan& span) {
  const ScheduleConfig& s = c.schedule;
  sched::OneCycleParams p;
  p.lr_min = s.lr_min;
  p.lr_max = s.lr_max;
  p.momentum_min = s.momentum_min;
  p.momentum_max = s.momentum_max;
  p.total_steps = std::max<int64_t>(span.total_steps, 2);
  p.anneal_fraction = sched::OneCycle::anneal_fraction_from_percent(s.anneal_percent);
  p.anneal_div = s.anneal_div;
  p.interpolation = find_named(interpolations(), "schedule.interpolation", s.interpolation);
  return std::make_shared<sched::OneCycle>(p);
}

// PyTorch's OneCycleLR over the steps after the warm-up (its total_steps).
std::shared_ptr<const sched::Schedule> make_pytorch_one_cycle(const RunConfig& c, const ScheduleSpan& span) {
  const ScheduleConfig& s = c.schedule;
  sched::PyTorchOneCycleParams p;
  p.max_lr = s.lr_max;
  p.pct_start = s.pct_start;
  p.div_factor = s.div_factor;
  p.final_div_factor = s.final_div_factor;
  p.three_phase = s.three_phase;
  p.base_momentum = s.momentum_min;
  p.max_momentum = s.momentum_max;
  p.total_steps = std::max<int64_t>(span.total_steps, 2);
  p.anneal = find_named(anneal_strategies(), "schedule.anneal_strategy", s.anneal_strategy);
  try {
    return std::make_shared<sched::PyTorchOneCycle>(p);
  } catch (const std::invalid_argument& e) {
    // A rise that ends where it starts (pct_start * steps = 1): said with the keys a user sets.
    CYG_INPUT_CHECK(false, "'schedule.pct_start' = ", s.pct_start, " over ", p.total_steps, " steps: ", e.what());
  }
  return nullptr;  // not reached
}

// Milestones are epochs in the config, steps after the warm-up in the schedule.
std::shared_ptr<const sched::Schedule> make_step(const RunConfig& c, const ScheduleSpan& span) {
  std::vector<int64_t> milestones;
  for (int64_t epoch : c.schedule.milestones)
    milestones.push_back(std::max<int64_t>(epoch * span.steps_per_epoch - span.warmup_steps, 1));
  return std::make_shared<sched::StepSchedule>(c.optimizer.lr, milestones, c.schedule.gamma);
}

std::shared_ptr<const sched::Schedule> make_cosine(const RunConfig& c, const ScheduleSpan& span) {
  return std::make_shared<sched::CosineSchedule>(c.optimizer.lr, c.schedule.min_lr,
                                                 std::max<int64_t>(span.total_steps, 2));
}

const std::vector<Named<ScheduleMaker>>& schedules() {
  static const std::vector<Named<ScheduleMaker>> table = {
      {"constant", make_constant},
      {"one_cycle", make_one_cycle},
      {"step", make_step},
      {"cosine", make_cosine},
      {"pytorch_one_cycle", make_pytorch_one_cycle},
      // optimizer.lr, which the fit loop scales by what the plateau rule says (fit.cpp).
      {"plateau", make_constant},
  };
  return table;
}

}  // namespace

std::vector<std::string> schedule_names() { return names_of(schedules()); }
std::vector<std::string> interpolation_names() { return names_of(interpolations()); }
std::vector<std::string> anneal_strategy_names() { return names_of(anneal_strategies()); }
std::vector<std::string> sweep_spacing_names() { return names_of(sweep_spacings()); }
bool is_one_cycle(const std::string& schedule_name) {
  return schedule_name == "one_cycle" || schedule_name == "pytorch_one_cycle";
}

std::shared_ptr<const sched::Schedule> make_schedule(const RunConfig& config, int64_t steps_per_epoch,
                                                     int64_t all_steps) {
  const ScheduleConfig& s = config.schedule;
  CYG_INPUT_CHECK(s.warmup_steps < all_steps, "'schedule.warmup_steps' = ", s.warmup_steps,
                  " leaves no step of the ", all_steps, " in the run for the schedule");
  const ScheduleMaker make = find_named(schedules(), "schedule.name", s.name);
  std::shared_ptr<const sched::Schedule> schedule =
      make(config, ScheduleSpan{steps_per_epoch, s.warmup_steps, all_steps - s.warmup_steps});
  if (s.warmup_steps > 0)
    schedule = std::make_shared<sched::WarmupSchedule>(schedule, s.warmup_steps, schedule->lr(0) / 100.0);
  return schedule;
}

sched::RangeSweep make_range_sweep(const LrFindConfig& config, int64_t steps) {
  return sched::RangeSweep(config.start_lr, config.end_lr, steps,
                           find_named(sweep_spacings(), "lr_find.spacing", config.spacing));
}

}  // namespace cyg::app
