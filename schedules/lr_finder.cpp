// LR range-test analysis: loss smoothing, the online stop rule and the suggestion rules.
#include "schedules/lr_finder.h"

#include <cmath>
#include <limits>
#include <stdexcept>

#include "schedules/checks.h"

namespace cyg::sched {

namespace {

constexpr std::size_t kMinWindowPoints = 3;  // enough for a central difference

void check_smoothing_beta(const char* where, double beta) {
  if (!(beta >= 0.0 && beta < 1.0)) detail::throw_invalid(where, "smoothing_beta", beta, "a value in [0, 1)");
}

std::size_t steepest_index(const std::vector<double>& log_lr, const std::vector<double>& smoothed, std::size_t lo,
                           std::size_t hi) {
  std::size_t best = lo;
  double best_slope = std::numeric_limits<double>::infinity();
  for (std::size_t i = lo; i < hi; ++i) {
    const std::size_t left = i > lo ? i - 1 : i;
    const std::size_t right = i + 1 < hi ? i + 1 : i;
    const double slope = (smoothed[right] - smoothed[left]) / (log_lr[right] - log_lr[left]);
    if (slope < best_slope) {
      best_slope = slope;
      best = i;
    }
  }
  return best;
}

std::size_t minimum_index(const std::vector<double>& smoothed, std::size_t lo, std::size_t hi) {
  std::size_t best = lo;
  for (std::size_t i = lo + 1; i < hi; ++i) {
    if (smoothed[i] < smoothed[best]) best = i;
  }
  return best;
}

std::size_t valley_index(const std::vector<double>& smoothed, std::size_t lo, std::size_t hi) {
  const std::size_t m = hi - lo;
  std::vector<std::size_t> length(m, 1);
  std::vector<std::size_t> previous(m, m);  // m: no predecessor
  std::size_t end = 0;
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      // ">=" keeps the latest of the equally good predecessors, so a plateau before a
      // descent lends the valley only its last point.
      if (smoothed[lo + j] > smoothed[lo + i] && length[j] + 1 >= length[i]) {
        length[i] = length[j] + 1;
        previous[i] = j;
      }
    }
    if (length[i] > length[end]) end = i;
  }
  std::size_t start = end;
  while (previous[start] != m) start = previous[start];
  return lo + start + (end - start) * 2 / 3;
}

}  // namespace

LossSmoother::LossSmoother(double beta) : beta_(beta) { check_smoothing_beta("LossSmoother", beta); }

double LossSmoother::push(double loss) {
  average_ = beta_ * average_ + (1.0 - beta_) * loss;
  beta_power_ *= beta_;
  return average_ / (1.0 - beta_power_);
}

std::vector<double> smooth_losses(const std::vector<double>& losses, double beta) {
  LossSmoother smoother(beta);
  std::vector<double> smoothed;
  smoothed.reserve(losses.size());
  for (double loss : losses) smoothed.push_back(smoother.push(loss));
  return smoothed;
}

std::optional<double> LrSuggestions::lr_for(std::string_view rule) const {
  for (const LrSuggestion& suggestion : suggestions) {
    if (suggestion.rule == rule) return suggestion.lr;
  }
  return std::nullopt;
}

LrSuggestions suggest_learning_rates(const std::vector<double>& lrs, const std::vector<double>& losses,
                                     const LrSuggestOptions& options) {
  constexpr const char* kWhere = "suggest_learning_rates";
  check_smoothing_beta(kWhere, options.smoothing_beta);
  if (!(options.skip_start_fraction >= 0.0 && options.skip_start_fraction < 1.0)) {
    detail::throw_invalid(kWhere, "skip_start_fraction", options.skip_start_fraction, "a value in [0, 1)");
  }
  if (lrs.size() != losses.size()) {
    throw std::invalid_argument(std::string(kWhere) + ": lrs has " + std::to_string(lrs.size()) +
                                " values but losses has " + std::to_string(losses.size()) + ", expected as many");
  }
  for (std::size_t i = 0; i < lrs.size(); ++i) {
    const std::string name = "lrs[" + std::to_string(i) + "]";
    if (!(std::isfinite(lrs[i]) && lrs[i] > 0.0)) {
      detail::throw_invalid(kWhere, name.c_str(), lrs[i], "a finite value > 0");
    }
    if (i > 0 && !(lrs[i] > lrs[i - 1])) {
      detail::throw_invalid(kWhere, name.c_str(), lrs[i],
                            "> lrs[" + std::to_string(i - 1) + "] = " + detail::format_value(lrs[i - 1]) +
                                " (learning rates strictly increasing)");
    }
  }

  std::size_t n = 0;
  while (n < losses.size() && std::isfinite(losses[n])) ++n;
  const auto lo = static_cast<std::size_t>(std::floor(options.skip_start_fraction * static_cast<double>(n)));
  const std::size_t hi = n > options.skip_end ? n - options.skip_end : 0;

  LrSuggestions result;
  if (hi < lo + kMinWindowPoints) {
    result.error = "too few points to suggest a learning rate: " + std::to_string(losses.size()) + " recorded, " +
                   std::to_string(n) + " with a finite loss, " + std::to_string(hi > lo ? hi - lo : 0) +
                   " left after ignoring the first " + detail::format_value(100.0 * options.skip_start_fraction) +
                   "% and the last " + std::to_string(options.skip_end) + "; need at least " +
                   std::to_string(kMinWindowPoints);
    return result;
  }

  const std::vector<double> smoothed =
      smooth_losses(std::vector<double>(losses.begin(), losses.begin() + static_cast<std::ptrdiff_t>(n)),
                    options.smoothing_beta);
  std::vector<double> log_lr(n);
  for (std::size_t i = 0; i < n; ++i) log_lr[i] = std::log(lrs[i]);

  const std::size_t steepest = steepest_index(log_lr, smoothed, lo, hi);
  const std::size_t minimum = minimum_index(smoothed, lo, hi);
  const std::size_t valley = valley_index(smoothed, lo, hi);
  result.suggestions = {
      {"steepest", lrs[steepest], steepest},
      {"minimum/10", lrs[minimum] / 10.0, minimum},
      {"valley", lrs[valley], valley},
  };
  return result;
}

LrFinderTracker::LrFinderTracker(const LrFinderTrackerOptions& options)
    : options_(options), smoother_(options.smoothing_beta) {
  if (!(options.divergence_factor >= 1.0 && std::isfinite(options.divergence_factor))) {
    detail::throw_invalid("LrFinderTracker", "divergence_factor", options.divergence_factor, "a finite value >= 1");
  }
}

bool LrFinderTracker::push(double lr, double loss) {
  if (stopped()) return true;
  if (!(std::isfinite(lr) && lr > 0.0)) detail::throw_invalid("LrFinderTracker", "lr", lr, "a finite value > 0");
  const std::string step = std::to_string(lrs_.size());
  if (!std::isfinite(loss)) {
    stop_reason_ = "loss is not finite (" + detail::format_value(loss) + ") at step " + step;
    return true;
  }
  const double smoothed = smoother_.push(loss);
  lrs_.push_back(lr);
  losses_.push_back(loss);
  smoothed_.push_back(smoothed);
  if (smoothed_.size() == 1 || smoothed < best_smoothed_) best_smoothed_ = smoothed;
  if (best_smoothed_ > 0.0 && smoothed > options_.divergence_factor * best_smoothed_) {
    stop_reason_ = "smoothed loss " + detail::format_value(smoothed) + " exceeds " +
                   detail::format_value(options_.divergence_factor) + " x the best smoothed loss " +
                   detail::format_value(best_smoothed_) + " at step " + step;
    return true;
  }
  return false;
}

LrSuggestions LrFinderTracker::suggest() const {
  LrSuggestOptions options;
  options.smoothing_beta = options_.smoothing_beta;
  return suggest_learning_rates(lrs_, losses_, options);
}

}  // namespace cyg::sched
