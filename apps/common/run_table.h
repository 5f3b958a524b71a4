// Run directories (config.yaml, metrics.csv, summary.json) read back into records,
// and the seed report's Table I and its accuracy and loss overlays (Figs. 4a and 4b) built
// from them.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "apps/common/plot.h"
#include "apps/common/run_records.h"

namespace cyg::runs {

struct RunRecord {
  std::string dir;
  std::string name;       // config `name`, or the folder's name when the config has none
  std::string optimizer;  // config `optimizer.name`: sgd, adam, adamw
  std::optional<double> optimizer_lr;  // config `optimizer.lr`
  std::string schedule;                // config `schedule.name`; empty when the config has none
  // The 1cycle settings, config `schedule.*`: absent unless the schedule is one_cycle
  // (or unnamed). With `schedule.cycle_momentum: false` both momenta are the fixed
  // `optimizer.momentum`.
  std::optional<double> lr_min, lr_max, momentum_min, momentum_max, anneal_percent;
  int64_t epochs = 0;  // config `train.epochs`
  int64_t seed = 0;    // config `seed`
  // The experiment but its seed: the resolved config less the seed, the run's name and
  // folder and what a resume may change (the device, threads...). Runs with equal
  // settings are the same experiment repeated over seeds.
  std::string settings;
  // summary.json's `epochs_completed`: fewer than `epochs` when the run stopped before
  // its end (interrupted, out of time, train.max_steps); absent in older records.
  std::optional<int64_t> epochs_completed;
  // Early stopping (train.early_stopping_patience) ended the run after epochs_completed:
  // a finished run, not an interrupted one.
  bool early_stopped = false;
  // Whether the run recorded its values: not when it was stopped during its first epoch.
  bool recorded = true;
  std::vector<app::EpochMetrics> metrics;
  // summary.json; NaN where the run recorded null (a diverged loss).
  double final_val_loss = 0.0, final_val_acc = 0.0, best_val_acc = 0.0;
  // summary.json's final_ema_val_acc: the moving average of the weights (train.ema_decay);
  // NaN where the run kept none (kept_average false) or it diverged (null).
  bool kept_average = false;
  double final_ema_val_acc = std::numeric_limits<double>::quiet_NaN();
  // summary.json's swa.val_acc: stochastic weight averaging's average (train.swa_start_epoch);
  // NaN where the run kept none (kept_swa false) or has not evaluated it (null: the run has
  // not ended, or ended before averaging started).
  bool kept_swa = false;
  double swa_val_acc = std::numeric_limits<double>::quiet_NaN();
};

// Reads dir/config.yaml (through the config registry: an unknown key or a value of the
// wrong type is an error), dir/metrics.csv (app::read_csv) and dir/summary.json; a run
// with neither of the last two, or a summary with no values and 0 epochs completed,
// ended during its first epoch (recorded false, the values NaN). Throws
// cyg::Error naming the file and what is wrong with it (missing, bad header, a
// non-numeric cell with its line and column, a missing key).
RunRecord read_run(const std::string& dir);

// The run directories the arguments name: an argument holding config.yaml is a run;
// any other folder stands for its subfolders that hold one, in name order, less LR
// range tests (a summary.json with an "lr_find" entry: no epochs to tabulate). Throws
// cyg::Error for an argument that is neither.
std::vector<std::string> find_run_dirs(const std::vector<std::string>& paths);

// The seed report's validation accuracy for the run's settings: a Table I row (SGD; lr
// range, momentum range, annealing %, epochs) or its Adam baseline (constant lr 1e-3, 90
// epochs); none for other settings.
std::optional<double> report_accuracy(const RunRecord& run);
// The table as cells, the header first: the runs' settings, final validation loss and
// accuracy, and the report's accuracy for the same settings ("—" where it has none).
// Plain text: each format escapes it its own way.
std::vector<std::vector<std::string>> table_cells(const std::vector<RunRecord>& runs);

// Runs of equal settings (differing in their seed, name or folder alone) gathered, in
// the order of each group's first run; a run that repeats no other is a group of one.
std::vector<std::vector<RunRecord>> group_by_settings(const std::vector<RunRecord>& runs);
// The table with one row per group: a group of one reads as its run; a group of n runs
// names its first run with "(n seeds)" and gives the mean ± the sample standard
// deviation of the final validation loss and accuracy over its runs that recorded a
// finite value, "(k of n)" after them where that is fewer than all.
std::vector<std::vector<std::string>> grouped_table_cells(const std::vector<std::vector<RunRecord>>& groups);
std::string grouped_table_markdown(const std::vector<std::vector<RunRecord>>& groups);
// The same rows as CSV for a script or a notebook (pandas.read_csv): run (the row's name,
// quoted where needed), runs, the settings, epochs and the furthest run's
// epochs_completed, val_loss_mean/_sd/_runs, val_acc_mean/_sd/_runs (the mean and sd over
// that many runs; sd empty for one), ema_val_acc_mean/_sd/_runs where a run kept a moving
// average of its weights, swa_val_acc_mean/_sd/_runs where one averaged them by stochastic
// weight averaging, report_val_acc; every number as the shortest decimal that reads
// back, empty where there is none.
std::string grouped_table_csv(const std::vector<std::vector<RunRecord>>& groups);

// Table I of the seed report as Markdown, one row per run in the given order:
// Run | LR min | LR max | Mom min | Mom max | Ann % | Epochs | Val loss | Val acc | Report's acc
// (with "EMA val acc" before the report's where a run kept a moving average of its weights,
// and "SWA val acc" where one kept stochastic weight averaging's).
// A constant schedule (the Adam baseline) shows optimizer.lr in both LR columns,
// another non-1cycle schedule shows it as LR max; a value the run doesn't have
// shows as "—".
std::string table_markdown(const std::vector<RunRecord>& runs);

// Whether an overlay also draws each run's training curve (accuracy or loss: dashed, in
// the run's colour).
enum class TrainingAccuracy { Omitted, Dashed };

// A run's name, with " (seed N)" where another of `runs` has that name too.
std::string run_label(const RunRecord& run, const std::vector<RunRecord>& runs);

// Validation accuracy against epoch, one solid line per run (Fig. 4a).
plot::Chart accuracy_overlay(const std::vector<RunRecord>& runs,
                             TrainingAccuracy training = TrainingAccuracy::Omitted);
// The same with runs gathered into rows (group_by_settings): a row's runs in one colour
// under one legend entry, "name (n seeds)".
plot::Chart grouped_accuracy_overlay(const std::vector<std::vector<RunRecord>>& groups,
                                     TrainingAccuracy training = TrainingAccuracy::Omitted);
// Validation loss against epoch, in the same way (Fig. 4b); the axis in decades where the
// losses span more than one (a very high lr's spike, Fig. 5).
plot::Chart loss_overlay(const std::vector<RunRecord>& runs, TrainingAccuracy training = TrainingAccuracy::Omitted);
plot::Chart grouped_loss_overlay(const std::vector<std::vector<RunRecord>>& groups,
                                 TrainingAccuracy training = TrainingAccuracy::Omitted);

}  // namespace cyg::runs
