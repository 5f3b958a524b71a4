#include "apps/common/early_stopping.h"

#include <cmath>
#include <cstdio>

#include "kernels/error.h"

namespace cyg::app {

bool EarlyStoppingRule::lower_is_better() const { return monitor == "val_loss" || monitor == "ema_val_loss"; }

double monitored_value(const EpochMetrics& row, const std::string& monitor) {
  if (monitor == "val_loss") return row.val_loss;
  if (monitor == "val_acc") return row.val_acc;
  if (monitor == "ema_val_loss") return row.ema_val_loss;
  if (monitor == "ema_val_acc") return row.ema_val_acc;
  CYG_CHECK(false, "early stopping: unknown monitor '", monitor, "'");
  return NAN;
}

namespace {

std::string number(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", v);
  return text;
}

}  // namespace

EarlyStoppingState early_stopping(const std::vector<EpochMetrics>& epochs, const EarlyStoppingRule& rule,
                                  int64_t complete_epochs) {
  EarlyStoppingState s;
  if (!rule.on()) return s;
  for (const EpochMetrics& row : epochs) {
    if (row.epoch > complete_epochs || s.stopped_epoch > 0) break;
    const double value = monitored_value(row, rule.monitor);
    if (!std::isfinite(value)) {
      s.stopped_epoch = row.epoch;
      s.reason = rule.monitor + " is " + number(value) + " at epoch " + std::to_string(row.epoch) + ", not finite" +
                 (s.best_epoch > 0 ? " (best " + number(s.best) + " at epoch " + std::to_string(s.best_epoch) + ")"
                                   : std::string());
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
      s.reason = rule.monitor + " has not improved by more than " + number(rule.min_delta) + " for " +
                 std::to_string(s.wait) + " epoch" + (s.wait == 1 ? "" : "s") + " (best " + number(s.best) +
                 " at epoch " + std::to_string(s.best_epoch) + ")";
    }
  }
  return s;
}

}  // namespace cyg::app
