// schedule.lr_max_from: the peak of a 1cycle run taken from a range test's suggestion,
// as fastai's lr_find() feeds fit_one_cycle(lr_max=...): the seed report's workflow of
// a range test first, then the cycle, without copying a number by hand.
#pragma once
#include <string>

#include "apps/common/config.h"

namespace cyg::app {

// The learning rate a range test's run directory suggests by `rule` (a name of
// sched::lr_suggestion_rules()), from its summary.json: of its sweep or sweeps
// (lr_find.weight_decays) the one at `weight_decay`. Throws cyg::InputError naming the
// directory, file and what is missing (not a range test, a test stopped before its end,
// no sweep at that weight decay, no suggestion: the sweep's own reason).
double suggested_lr(const std::string& range_test_dir, const std::string& rule, double weight_decay);

// Where config.schedule.lr_max_from names a range test: schedule.lr_max becomes its
// suggestion (schedule.lr_max_rule, at optimizer.weight_decay), and lr_max_from its
// absolute path. Refuses a test of another model, width, dataset, batch size or
// optimizer (its config.yaml), and a suggestion below schedule.lr_min. Nothing to do
// otherwise. A resumed run keeps the lr_max its config.yaml recorded and does not read
// the range test again.
void resolve_lr_max_from(RunConfig& config);

}  // namespace cyg::app
