#include "apps/common/epoch_rules.h"

#include <cmath>

#include "apps/common/run_dir.h"
#include "kernels/error.h"

namespace cyg::app {

namespace {

bool loss_monitor(const std::string& monitor) { return monitor == "val_loss" || monitor == "ema_val_loss"; }

}  // namespace

bool EarlyStoppingRule::lower_is_better() const { return loss_monitor(monitor); }

double monitored_value(const EpochMetrics& row, const std::string& monitor) {
  if (monitor == "val_loss") return row.val_loss;
  if (monitor == "val_acc") return row.val_acc;
  if (monitor == "ema_val_loss") return row.ema_val_loss;
  if (monitor == "ema_val_acc") return row.ema_val_acc;
  CYG_CHECK(false, "unknown validation metric '", monitor, "'");
  return NAN;
}

EarlyStoppingState early_stopping(const std::vector<EpochMetrics>& epochs, const EarlyStoppingRule& rule,
                                  int64_t complete_epochs) {
  EarlyStoppingState s;
  if (!rule.on()) return s;
  for (const EpochMetrics& row : epochs) {
    if (row.epoch > complete_epochs || s.stopped_epoch > 0) break;
    const double value = monitored_value(row, rule.monitor);
    if (!std::isfinite(value)) {
      s.stopped_epoch = row.epoch;
      const std::string best = s.best_epoch > 0 ? " (best " + format_significant(s.best) + " at epoch " +
                                                      std::to_string(s.best_epoch) + ")"
                                                : std::string();
      s.reason = rule.monitor + " is " + format_significant(value) + " at epoch " + std::to_string(row.epoch) +
                 ", not finite" + best;
      break;
    }
    // An improvement beats the best by more than min_delta (Lightning: current - min_delta
    // compared with the best, the delta's sign following the direction).
    const bool improved = s.best_epoch == 0 || (rule.lower_is_better() ? value + rule.min_delta < s.best
                                                                       : value - rule.min_delta > s.best);
    if (improved) {
      s.best = value;
      s.best_epoch = row.epoch;
      s.wait = 0;
      continue;
    }
    if (++s.wait >= rule.patience) {
      s.stopped_epoch = row.epoch;
      s.reason = rule.monitor + " has not improved by more than " + format_number(rule.min_delta) + " for " +
                 std::to_string(s.wait) + " epoch" + (s.wait == 1 ? "" : "s") + " (best " +
                 format_significant(s.best) + " at epoch " + std::to_string(s.best_epoch) + ")";
    }
  }
  return s;
}

bool run_has_ended(const std::vector<EpochMetrics>& epochs, const TrainConfig& train, int64_t complete_epochs) {
  return complete_epochs >= train.epochs ||
         early_stopping(epochs, EarlyStoppingRule::of(train), complete_epochs).stopped_epoch > 0;
}

std::vector<sched::PlateauEpoch> plateau_history(const std::vector<EpochMetrics>& epochs, const RunConfig& config,
                                                 int64_t complete_epochs) {
  if (config.schedule.name != "plateau") return {};
  const ScheduleConfig& s = config.schedule;
  sched::PlateauParams p;
  p.lower_is_better = loss_monitor(s.plateau_monitor);
  p.factor = s.plateau_factor;
  p.patience = s.plateau_patience;
  p.threshold = s.plateau_threshold;
  p.relative = s.plateau_threshold_mode == "rel";
  p.cooldown = s.plateau_cooldown;
  p.min_lr = s.min_lr;
  std::vector<double> metrics;
  for (const EpochMetrics& row : epochs)
    if (row.epoch <= complete_epochs) metrics.push_back(monitored_value(row, s.plateau_monitor));
  return sched::plateau_lrs(config.optimizer.lr, metrics, p);
}

double plateau_scale(const std::vector<EpochMetrics>& epochs, const RunConfig& config, int64_t epoch) {
  const std::vector<sched::PlateauEpoch> history = plateau_history(epochs, config, epoch - 1);
  return history.empty() ? 1.0 : history.back().lr / config.optimizer.lr;
}

PlateauCuts plateau_cuts(const std::vector<EpochMetrics>& epochs, const RunConfig& config, int64_t complete_epochs,
                         bool finished) {
  const std::vector<sched::PlateauEpoch> history = plateau_history(epochs, config, complete_epochs);
  PlateauCuts cuts;
  for (size_t k = 0; k < history.size(); ++k)
    if (history[k].reduced && !(finished && k + 1 == history.size())) cuts.after_epochs.push_back(k + 1);
  cuts.last_lr = history.size() < 2 ? config.optimizer.lr : history[history.size() - 2].lr;
  return cuts;
}

}  // namespace cyg::app
