// Reduce on plateau.
#include "schedules/plateau.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "schedules/checks.h"

namespace cyg::sched {

namespace {

// PyTorch's is_better: beyond the best by the threshold, relative to it or absolute.
bool is_better(double value, double best, const PlateauParams& p) {
  if (p.lower_is_better) return p.relative ? value < best * (1.0 - p.threshold) : value < best - p.threshold;
  return p.relative ? value > best * (1.0 + p.threshold) : value > best + p.threshold;
}

}  // namespace

std::vector<PlateauEpoch> plateau_lrs(double lr, const std::vector<double>& metrics, const PlateauParams& p) {
  constexpr const char* kWhere = "ReduceOnPlateau";
  detail::check_learning_rate(kWhere, "lr", lr);
  if (!(p.factor > 0.0 && p.factor < 1.0)) detail::throw_invalid(kWhere, "factor", p.factor, "in (0, 1)");
  detail::check_at_least(kWhere, "patience", p.patience, 0);
  if (!(std::isfinite(p.threshold) && p.threshold >= 0.0))
    detail::throw_invalid(kWhere, "threshold", p.threshold, "finite, >= 0");
  detail::check_at_least(kWhere, "cooldown", p.cooldown, 0);
  detail::check_learning_rate(kWhere, "min_lr", p.min_lr);
  detail::check_learning_rate(kWhere, "eps", p.eps);

  const double infinity = std::numeric_limits<double>::infinity();
  double best = p.lower_is_better ? infinity : -infinity;
  int64_t bad_epochs = 0, cooldown_left = 0, best_epoch = 0, epoch = 0;
  std::vector<PlateauEpoch> out;
  out.reserve(metrics.size());
  for (double value : metrics) {
    ++epoch;
    if (is_better(value, best, p)) {
      best = value;
      best_epoch = epoch;
      bad_epochs = 0;
    } else {
      ++bad_epochs;
    }
    if (cooldown_left > 0) {  // bad epochs during a cooldown are not counted
      --cooldown_left;
      bad_epochs = 0;
    }
    bool reduced = false;
    if (bad_epochs > p.patience) {
      const double next = std::max(lr * p.factor, p.min_lr);
      if (lr - next > p.eps) {
        lr = next;
        reduced = true;
      }
      cooldown_left = p.cooldown;
      bad_epochs = 0;
    }
    out.push_back({lr, reduced, best, best_epoch});
  }
  return out;
}

}  // namespace cyg::sched
