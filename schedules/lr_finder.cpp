// LR range-test analysis: loss smoothing, the online stop rule and the suggestion rules.
#include "schedules/lr_finder.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include "schedules/checks.h"

namespace cyg::sched {

namespace {

constexpr std::size_t kMinWindowPoints = 3;  // enough for a central difference

void check_smoothing_beta(const char* where, double beta) {
  if (!(beta >= 0.0 && beta < 1.0)) detail::throw_invalid(where, "smoothing_beta", beta, "a value in [0, 1)");
}

// fastai's steep: the most negative forward difference (the first such).
std::size_t steepest_forward_index(const std::vector<double>& log_lr, const std::vector<double>& smoothed,
                                   std::size_t lo, std::size_t hi) {
  std::size_t best = lo;
  double best_slope = std::numeric_limits<double>::infinity();
  for (std::size_t i = lo; i + 1 < hi; ++i) {
    const double slope = (smoothed[i + 1] - smoothed[i]) / (log_lr[i + 1] - log_lr[i]);
    if (slope < best_slope) {
      best_slope = slope;
      best = i;
    }
  }
  return best;
}

// Central differences, one-sided at the window's ends (torch-lr-finder's convention).
std::size_t steepest_central_index(const std::vector<double>& log_lr, const std::vector<double>& smoothed,
                                   std::size_t lo, std::size_t hi) {
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

// fastai's valley, on the window [lo, hi); see the header.
std::size_t valley_index(const std::vector<double>& smoothed, std::size_t lo, std::size_t hi) {
  const auto m = static_cast<int64_t>(hi - lo);
  std::vector<int64_t> length(static_cast<size_t>(m), 1);  // the longest decreasing subsequence ending at i
  int64_t start = 0, end = 0;
  for (int64_t i = 1; i < m; ++i) {
    for (int64_t j = 0; j < i; ++j) {
      if (smoothed[lo + j] > smoothed[lo + i] && length[i] < length[j] + 1) length[i] = length[j] + 1;
      // As fastai checks it, inside this loop: the start is taken when i first becomes
      // the end, and is not moved if i's subsequence then grows (fastai's max_start).
      if (length[end] < length[i]) {
        end = i;
        start = end - length[end];
      }
    }
  }
  const int64_t span = end - start;
  int64_t index = start + span / 3 + span / 6;  // int(span / 3) + int(span / 3 / 2), span >= 0
  if (index < 0) index += m;                    // -1, as Python reads it: the last point
  return lo + static_cast<std::size_t>(index);
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

const std::vector<std::string>& lr_suggestion_rules() {
  static const std::vector<std::string> rules = {"steepest", "minimum/10", "valley", "steepest_central"};
  return rules;
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

  // fastai's window: [num_it // 10, len - 5) of the record, then cut at its first NaN.
  const std::size_t total = losses.size();
  std::size_t finite = 0;
  while (finite < total && std::isfinite(losses[finite])) ++finite;
  const std::size_t lo = (options.planned_steps > 0 ? options.planned_steps : total) / 10;
  const std::size_t length = options.record_length > 0 ? options.record_length : total;
  std::size_t hi = length > options.skip_end ? length - options.skip_end : 0;
  if (hi > finite) hi = finite;

  LrSuggestions result;
  if (hi < lo + kMinWindowPoints) {
    result.error = "too few points to suggest a learning rate: " + std::to_string(total) + " recorded, " +
                   std::to_string(finite) + " before the first non-finite loss, " +
                   std::to_string(hi > lo ? hi - lo : 0) + " left after ignoring the first " + std::to_string(lo) +
                   " and the last " + std::to_string(options.skip_end) + "; need at least " +
                   std::to_string(kMinWindowPoints);
    return result;
  }

  const std::vector<double> smoothed =
      smooth_losses(std::vector<double>(losses.begin(), losses.begin() + static_cast<std::ptrdiff_t>(finite)),
                    options.smoothing_beta);
  std::vector<double> log_lr(finite);
  for (std::size_t i = 0; i < finite; ++i) log_lr[i] = std::log(lrs[i]);

  const std::size_t steepest = steepest_forward_index(log_lr, smoothed, lo, hi);
  const std::size_t minimum = minimum_index(smoothed, lo, hi);
  const std::size_t valley = valley_index(smoothed, lo, hi);
  const std::size_t central = steepest_central_index(log_lr, smoothed, lo, hi);
  const std::vector<std::string>& rules = lr_suggestion_rules();
  result.suggestions = {
      {rules[0], lrs[steepest], steepest},
      {rules[1], lrs[minimum] / 10.0, minimum},
      {rules[2], lrs[valley], valley},
      {rules[3], lrs[central], central},
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
    stopped_on_non_finite_ = true;
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
  options.planned_steps = options_.planned_steps;
  // fastai runs on past a NaN to its last step: its record, and so its window's end, is
  // the planned length; here the test stopped, so the window is cut at the record's end.
  if (stopped_on_non_finite_) options.record_length = std::max(options_.planned_steps, lrs_.size() + 1);
  return suggest_learning_rates(lrs_, losses_, options);
}

}  // namespace cyg::sched
