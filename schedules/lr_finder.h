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
  // The steps the sweep was planned to take (fastai's num_it; 0: as many as recorded),
  // which sets where the suggestions' window starts.
  std::size_t planned_steps = 0;
};

// The rules' names, in the order suggest_lr gives them: "steepest", "minimum/10",
// "valley", "steepest_central".
const std::vector<std::string>& lr_suggestion_rules();

struct LrSuggestion {
  std::string rule;  // "steepest", "minimum/10", "valley" or "steepest_central"
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
  std::size_t planned_steps = 0;  // fastai's num_it; 0: the number of points given
  std::size_t skip_end = 5;       // trailing points the rules ignore
  // The length of fastai's record, whose last skip_end points the window leaves out; 0:
  // the points given. fastai does not stop at a NaN loss but runs on to num_it, so a
  // record this engine stopped at a non-finite loss stands for planned_steps points.
  std::size_t record_length = 0;
};

// Suggestions from a finished range test, as fastai's lr_find computes them, so that the
// same curve gives the same learning rates. lrs must be finite, > 0 and strictly
// increasing, and as many as losses (std::invalid_argument otherwise). The loss is
// smoothed from the first point on, and the rules look at the window [planned_steps /
// 10, n - skip_end) of fastai's n-point record (integer division; n is record_length, or
// the points given; planned_steps 0 counts the points given), cut before the first
// non-finite loss:
//  - "steepest":   fastai's steep: forward differences of the smoothed loss against
//                  ln(lr), (L[i+1] - L[i]) / (ln lr[i+1] - ln lr[i]); the point i of
//                  the most negative one (the first such);
//  - "minimum/10": the lr of the lowest smoothed loss (the first such), divided by 10;
//  - "valley":     fastai's valley: the longest strictly decreasing subsequence of the
//                  smoothed loss (for each point i, the longest one ending there, over
//                  the earlier points j in order); whenever i's length passes the best
//                  so far, i becomes the end e and start = e - length (one before the
//                  subsequence's first point), taken at that moment of the loop over j
//                  as fastai's code does; the suggestion is the point start +
//                  floor((e - start) / 3) + floor((e - start) / 6) (fastai's
//                  int(sections) + int(sections / 2)); an index of -1 wraps to the
//                  window's last point, as a Python index does;
//  - "steepest_central": central differences inside the window (one-sided at its
//                  ends), torch-lr-finder's convention, kept beside fastai's.
// Indexes are the record's. With fewer than 3 points in the window the result has no
// suggestions and an error saying so.
LrSuggestions suggest_learning_rates(const std::vector<double>& lrs, const std::vector<double>& losses,
                                     const LrSuggestOptions& options = {});

// Records a range test as it runs and says when to stop it.
class LrFinderTracker {
 public:
  explicit LrFinderTracker(const LrFinderTrackerOptions& options = {});

  // Records one step; returns true when the test should stop: the loss is not finite
  // (that point is not recorded; fastai would run on to its last step, which the
  // suggestions' window then assumes) or the smoothed loss exceeds divergence_factor times
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
  bool stopped_on_non_finite_ = false;
  std::string stop_reason_;
};

}  // namespace cyg::sched
