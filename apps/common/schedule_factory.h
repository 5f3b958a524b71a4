// The schedules by name (schedule.name), the 1cycle interpolations
// (schedule.interpolation) and the range test's spacings (lr_find.spacing): the lists
// validate() checks a config against, and the factories that build from them.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "apps/common/config.h"
#include "schedules/range_sweep.h"
#include "schedules/schedule.h"

namespace cyg::app {

std::vector<std::string> schedule_names();
std::vector<std::string> interpolation_names();
std::vector<std::string> anneal_strategy_names();  // pytorch_one_cycle: cos, linear
std::vector<std::string> sweep_spacing_names();
// Whether the named schedule is a 1cycle one: the report's (one_cycle) or PyTorch's
// OneCycleLR (pytorch_one_cycle); schedule.lr_max is the peak of both.
bool is_one_cycle(const std::string& schedule_name);

// The lr (and momentum) schedule of a run of all_steps steps: a warm-up of
// schedule.warmup_steps first, then the named schedule over the steps after it.
std::shared_ptr<const sched::Schedule> make_schedule(const RunConfig& config, int64_t steps_per_epoch,
                                                     int64_t all_steps);

// The range test's sweep from lr_find.start_lr to lr_find.end_lr over `steps` steps.
sched::RangeSweep make_range_sweep(const LrFindConfig& config, int64_t steps);

}  // namespace cyg::app
