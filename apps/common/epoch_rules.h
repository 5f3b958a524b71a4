// The rules a training run applies at each complete epoch's end to a validation metric.
// Each is a function of the epochs' rows, so a resumed run replays its history rather
// than keeping a counter in its checkpoint.
//  - Early stopping, as Lightning's EarlyStopping callback with check_finite on: the run
//    ends once the monitored metric has not improved by more than min_delta for
//    `patience` epochs in a row, or at once when it is not finite.
//  - Reduce on plateau (schedule.name plateau), PyTorch's ReduceLROnPlateau: the lr each
//    epoch trains with (schedules/plateau.h on the monitored metric's history).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "apps/common/config.h"
#include "apps/common/run_records.h"
#include "schedules/plateau.h"

namespace cyg::app {

struct EarlyStoppingRule {
  std::string monitor = "val_loss";  // early_stopping_monitors()
  int64_t patience = 0;              // 0: none
  double min_delta = 0.0;

  static EarlyStoppingRule of(const TrainConfig& train) {
    return {train.early_stopping_monitor, train.early_stopping_patience, train.early_stopping_min_delta};
  }
  bool on() const { return patience > 0; }
  // Losses improve downwards, accuracies upwards.
  bool lower_is_better() const;
};

struct EarlyStoppingState {
  int64_t best_epoch = 0;  // 0: no epoch yet
  double best = 0.0;       // the monitored value at best_epoch
  int64_t wait = 0;        // epochs since best_epoch without an improvement
  int64_t stopped_epoch = 0;  // the epoch after which the run ends; 0: it goes on
  std::string reason;         // why it ends, for the log and the run's page
};

// The monitored metric of one epoch's row (NaN where the row lacks it).
double monitored_value(const EpochMetrics& row, const std::string& monitor);

// The rule applied to the first `complete_epochs` epochs' rows in order (a partial
// epoch's row, a step limit inside it, does not count: a resume continues that epoch).
// Rows after the one that stops the run are not looked at.
EarlyStoppingState early_stopping(const std::vector<EpochMetrics>& epochs, const EarlyStoppingRule& rule,
                                  int64_t complete_epochs);

// Whether a run with `complete_epochs` full epochs has ended: all of train.epochs, or
// early stopping ended it after one of them (a run stopped by a limit or a signal has not).
bool run_has_ended(const std::vector<EpochMetrics>& epochs, const TrainConfig& train, int64_t complete_epochs);

// schedule.name plateau: the rule's state after each of the first `complete_epochs`
// epochs, from optimizer.lr (empty for any other schedule).
std::vector<sched::PlateauEpoch> plateau_history(const std::vector<EpochMetrics>& epochs, const RunConfig& config,
                                                 int64_t complete_epochs);

// What a plateau schedule multiplies the schedule's lr by in epoch `epoch` (1-based): its
// lr after the epochs before it over optimizer.lr; 1 for any other schedule.
double plateau_scale(const std::vector<EpochMetrics>& epochs, const RunConfig& config, int64_t epoch);

// What a plateau schedule did over the first `complete_epochs` epochs: the epochs after
// which it cut the lr for the epochs after them (in a finished run, not the cut after its
// last epoch, which no epoch takes), and the lr the last of them trained at.
struct PlateauCuts {
  std::vector<int64_t> after_epochs;
  double last_lr = 0.0;
};
PlateauCuts plateau_cuts(const std::vector<EpochMetrics>& epochs, const RunConfig& config, int64_t complete_epochs,
                         bool finished);

}  // namespace cyg::app
