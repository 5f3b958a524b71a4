// Analysis of an LR range test from its recorded (lr, loss) pairs: the smoothed loss,
// the online stop rule (LrFinderTracker) and learning-rate suggestions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cyg::sched {

// Exponential moving average of the loss with bias correction, so the first values
// are not pulled towards zero:
//   avg_i = beta * avg_{i-1} + (1 - beta) * loss_i,  avg_{-1} = 0
//   smoothed_i = avg_i / (1 - beta^(i+1))
// beta = 0 leaves the loss as it is.
class LossSmoother {
 public:
  explicit LossSmoother(double beta = 0.98);  // beta in [0, 1)

  // Adds the next loss and returns its smoothed value.
  double push(double loss);

 private:
  double beta_;
  double average_ = 0.0;
  double beta_power_ = 1.0;  // beta^(number of losses pushed)
};

std::vector<double> smooth_losses(const std::vector<double>& losses, double beta = 0.98);

struct LrFinderTrackerOptions {
  double smoothing_beta = 0.98;
  // Stop once the smoothed loss exceeds divergence_factor times the best (lowest)
  // smoothed loss so far. Must be >= 1.
  double divergence_factor = 4.0;
};

struct LrSuggestion {
  std::string rule;  // "steepest", "minimum/10" or "valley"
  double lr;
  std::size_t index;  // the record point the rule picked (for plots)
};

struct LrSuggestions {
  std::vector<LrSuggestion> suggestions;  // one per rule, empty when error is set
  std::string error;                      // why nothing could be suggested

  bool ok() const { return error.empty(); }
  std::optional<double> lr_for(std::string_view rule) const;
};

struct LrSuggestOptions {
  double smoothing_beta = 0.98;
  double skip_start_fraction = 0.1;  // leading share of the points the rules ignore
  std::size_t skip_end = 5;          // trailing points the rules ignore
};

// Suggestions from a finished range test. lrs must be finite, > 0 and strictly
// increasing, and as many as losses (std::invalid_argument otherwise). The record is
// cut at its first non-finite loss, the loss smoothed, and the rules look only at
// the window [floor(n * skip_start_fraction), n - skip_end) of the n points left:
//  - "steepest":   the point where the smoothed loss falls fastest against ln(lr)
//                  (central differences inside the window, one-sided at its ends);
//                  if it never falls, the point where it rises least;
//  - "minimum/10": the lr of the lowest smoothed loss, divided by 10;
//  - "valley":     the longest strictly decreasing subsequence of the smoothed loss
//                  (O(n^2) dynamic programming: for each point, the longest one
//                  ending there), taken as the section from its first point s to
//                  its last point e; the suggestion is the point s + (e - s) * 2 / 3
//                  (integer division). Among equally long subsequences the one
//                  ending first wins, and each point is preceded by the nearest
//                  possible point, so a plateau before a descent contributes only
//                  its last point and does not widen the section.
// Ties elsewhere go to the earliest point. With fewer than 3 points in the window
// the result has no suggestions and an error saying so.
LrSuggestions suggest_learning_rates(const std::vector<double>& lrs, const std::vector<double>& losses,
                                     const LrSuggestOptions& options = {});

// Records a range test as it runs and says when to stop it.
class LrFinderTracker {
 public:
  explicit LrFinderTracker(const LrFinderTrackerOptions& options = {});

  // Records one step; returns true when the test should stop: the loss is not finite
  // (that point is not recorded) or the smoothed loss exceeds divergence_factor times
  // the best so far (that point is recorded). The ratio test needs a positive best
  // loss, so a record whose smoothed loss has gone to zero or below never stops by it.
  // Once stopped, further pushes are ignored and return true.
  bool push(double lr, double loss);

  bool stopped() const { return !stop_reason_.empty(); }
  const std::string& stop_reason() const { return stop_reason_; }

  const std::vector<double>& lrs() const { return lrs_; }
  const std::vector<double>& losses() const { return losses_; }
  const std::vector<double>& smoothed_losses() const { return smoothed_; }

  // suggest_learning_rates on the record, with this tracker's smoothing.
  LrSuggestions suggest() const;

 private:
  LrFinderTrackerOptions options_;
  LossSmoother smoother_;
  double best_smoothed_ = 0.0;
  std::vector<double> lrs_;
  std::vector<double> losses_;
  std::vector<double> smoothed_;
  std::string stop_reason_;
};

}  // namespace cyg::sched
