// LR-finder analysis: the bias-corrected smoothing, the tracker's stop rule, and the
// three suggestion rules on synthetic loss curves whose answers are known.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "expect_helpers.h"
#include "schedules/lr_finder.h"
#include "schedules/range_sweep.h"

namespace cyg::sched {
namespace {

using test_util::close;
using test_util::expect_invalid_argument;

// lrs[i] = 10^(first_exponent + i * exponent_step).
std::vector<double> log_grid(int n, double first_exponent, double exponent_step) {
  std::vector<double> lrs;
  for (int i = 0; i < n; ++i) lrs.push_back(std::pow(10.0, first_exponent + i * exponent_step));
  return lrs;
}

LrSuggestOptions unsmoothed() {
  LrSuggestOptions options;
  options.smoothing_beta = 0.0;
  return options;
}

TEST(LossSmoothing, BiasCorrectedByHand) {
  // avg: 0.02, 0.98 * 0.02 + 0.02 * 2 = 0.0596, 0.98 * 0.0596 + 0.02 * 3 = 0.118408;
  // corrections: 1 - 0.98 = 0.02, 1 - 0.9604 = 0.0396, 1 - 0.941192 = 0.058808.
  const std::vector<double> smoothed = smooth_losses({1.0, 2.0, 3.0});
  ASSERT_EQ(smoothed.size(), 3u);
  EXPECT_TRUE(close(smoothed[0], 1.0));
  EXPECT_TRUE(close(smoothed[1], 0.0596 / 0.0396));
  EXPECT_TRUE(close(smoothed[2], 0.118408 / 0.058808));
}

TEST(LossSmoothing, ConstantLossStaysConstant) {
  const std::vector<double> smoothed = smooth_losses(std::vector<double>(500, 2.5));
  for (size_t i = 0; i < smoothed.size(); ++i) EXPECT_TRUE(close(smoothed[i], 2.5)) << "point " << i;
}

TEST(LossSmoothing, ZeroBetaIsTheIdentity) {
  const std::vector<double> losses = {3.0, 1.0, 4.0, 1.0, 5.0};
  EXPECT_EQ(smooth_losses(losses, 0.0), losses);
}

TEST(LossSmoothing, RejectsBetaOutsideTheUnitInterval) {
  expect_invalid_argument([] { LossSmoother(1.0); }, {"smoothing_beta", "1", "[0, 1)"});
  expect_invalid_argument([] { LossSmoother(-0.5); }, {"smoothing_beta", "-0.5"});
}

TEST(LrFinderTracker, StopsWhenTheSmoothedLossExceedsFourTimesTheBest) {
  LrFinderTrackerOptions options;
  options.smoothing_beta = 0.0;
  LrFinderTracker tracker(options);
  // Best 0.5, so the first loss above 2 stops it: 2.1 at step 6.
  const std::vector<double> losses = {1.0, 1.0, 0.5, 0.5, 1.0, 1.9, 2.1};
  for (size_t i = 0; i + 1 < losses.size(); ++i) {
    EXPECT_FALSE(tracker.push(1e-3 * static_cast<double>(i + 1), losses[i])) << "step " << i;
  }
  EXPECT_TRUE(tracker.push(1e-2, losses.back()));
  EXPECT_TRUE(tracker.stopped());
  EXPECT_NE(tracker.stop_reason().find("step 6"), std::string::npos) << tracker.stop_reason();
  EXPECT_EQ(tracker.lrs().size(), 7u);
  EXPECT_TRUE(tracker.push(2e-2, 0.1));
  EXPECT_EQ(tracker.lrs().size(), 7u);
}

TEST(LrFinderTracker, DivergenceFactorIsConfigurable) {
  LrFinderTrackerOptions options;
  options.smoothing_beta = 0.0;
  options.divergence_factor = 2.0;
  LrFinderTracker tracker(options);
  EXPECT_FALSE(tracker.push(1e-4, 1.0));
  EXPECT_FALSE(tracker.push(1e-3, 0.5));
  EXPECT_FALSE(tracker.push(1e-2, 0.9));
  EXPECT_TRUE(tracker.push(1e-1, 1.1));
}

TEST(LrFinderTracker, RatioRuleNeedsAPositiveBest) {
  // With a best of 0 (or below) "4 x best" is no bound: any later loss would exceed it.
  LrFinderTrackerOptions options;
  options.smoothing_beta = 0.0;
  LrFinderTracker tracker(options);
  EXPECT_FALSE(tracker.push(1e-4, 1.0));
  EXPECT_FALSE(tracker.push(1e-3, 0.0));
  EXPECT_FALSE(tracker.push(1e-2, 0.5));
  EXPECT_FALSE(tracker.push(1e-1, -1.0));
  EXPECT_FALSE(tracker.push(1.0, -0.5));
}

TEST(LrFinderTracker, StopRuleUsesTheSmoothedLoss) {
  // 50 losses of 1, then a jump. After the jump smoothed = (0.98 * avg_49 + 0.02 * L) /
  // (1 - 0.98^51), with avg_49 = 1 - 0.98^50 < 1 and 0.98^51 ~= 0.357:
  //  - L = 4.5: smoothed < (0.98 + 0.09) / (1 - 0.37) < 1.8, no stop although L > 4;
  //  - L = 1000: smoothed > 0.02 * 1000 = 20 > 4, stop at step 50.
  LrFinderTracker damped;
  for (int i = 0; i < 50; ++i) ASSERT_FALSE(damped.push(1e-5 * (i + 1), 1.0));
  EXPECT_FALSE(damped.push(1.0, 4.5));

  LrFinderTracker diverging;
  for (int i = 0; i < 50; ++i) ASSERT_FALSE(diverging.push(1e-5 * (i + 1), 1.0));
  EXPECT_TRUE(diverging.push(1.0, 1000.0));
  EXPECT_NE(diverging.stop_reason().find("step 50"), std::string::npos) << diverging.stop_reason();
}

TEST(LrFinderTracker, StopsOnANonFiniteLossWithoutRecordingIt) {
  for (double bad : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    LrFinderTracker tracker;
    EXPECT_FALSE(tracker.push(1e-4, 2.0));
    EXPECT_FALSE(tracker.push(2e-4, 1.9));
    EXPECT_FALSE(tracker.push(3e-4, 1.8));
    EXPECT_TRUE(tracker.push(4e-4, bad));
    EXPECT_NE(tracker.stop_reason().find("not finite"), std::string::npos) << tracker.stop_reason();
    EXPECT_NE(tracker.stop_reason().find("step 3"), std::string::npos) << tracker.stop_reason();
    EXPECT_EQ(tracker.losses().size(), 3u);
  }
}

TEST(LrFinderTracker, RejectsInvalidParameters) {
  LrFinderTrackerOptions low_factor;
  low_factor.divergence_factor = 0.5;
  expect_invalid_argument([&] { LrFinderTracker tracker(low_factor); }, {"divergence_factor", "0.5", ">= 1"});
  LrFinderTrackerOptions bad_beta;
  bad_beta.smoothing_beta = 1.0;
  expect_invalid_argument([&] { LrFinderTracker tracker(bad_beta); }, {"smoothing_beta", "1"});
  LrFinderTracker tracker;
  expect_invalid_argument([&] { tracker.push(0.0, 1.0); }, {"LrFinderTracker", "lr", "0"});
}

TEST(LrSuggestions, SteepestAtTheInflectionOfTheDescent) {
  // 121 points from 1e-6 to 1, 20 per decade. In the window [12, 116) the loss is
  // 2 - tanh((log10 lr + 3) / 0.3), steepest at lr = 1e-3 (point 60), rising after
  // point 100. Outside the window it falls far more steeply, which must be ignored.
  const std::vector<double> lrs = log_grid(121, -6.0, 0.05);
  std::vector<double> losses;
  for (int i = 0; i < 121; ++i) {
    double loss = 2.0 - std::tanh((i - 60) / 20.0 / 0.3);
    if (i > 100) loss += 0.5 * (i - 100) * (i - 100);
    if (i < 12) loss += 12 - i;
    if (i > 115) loss -= 100.0 * (i - 115);
    losses.push_back(loss);
  }
  const LrSuggestions result = suggest_learning_rates(lrs, losses, unsmoothed());
  ASSERT_TRUE(result.ok()) << result.error;
  ASSERT_EQ(result.suggestions.size(), 4u);
  EXPECT_EQ(result.suggestions[0].rule, "steepest");
  // Forward differences: the fall from 59 to 60 and the one from 60 to 61 are equal by
  // symmetry; rounding decides, and either lr is a half-step from 1e-3.
  EXPECT_TRUE(result.suggestions[0].index == 59u || result.suggestions[0].index == 60u)
      << result.suggestions[0].index;
  EXPECT_EQ(result.suggestions[3].rule, "steepest_central");
  EXPECT_EQ(result.suggestions[3].index, 60u);
  EXPECT_TRUE(close(*result.lr_for("steepest_central"), 1e-3, 1e-9));
}

TEST(LrSuggestions, MinimumOverTen) {
  // Minimum at point 80 (lr = 1e-2) inside the window; the first 12 and the last 5
  // points are lower still and must be ignored.
  const std::vector<double> lrs = log_grid(121, -6.0, 0.05);
  std::vector<double> losses;
  for (int i = 0; i < 121; ++i) {
    double loss = 1.0 + (i - 80) * (i - 80) / 400.0;
    if (i < 12 || i > 115) loss = -1.0;
    losses.push_back(loss);
  }
  const LrSuggestions result = suggest_learning_rates(lrs, losses, unsmoothed());
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.suggestions[1].rule, "minimum/10");
  EXPECT_EQ(result.suggestions[1].index, 80u);
  EXPECT_TRUE(close(*result.lr_for("minimum/10"), 1e-3, 1e-9));
}

TEST(LrSuggestions, ValleyAsFastaiComputesIt) {
  // 100 points, window [10, 95). A plateau at 3 up to point 29, a descent of 0.05 per
  // point to 1.0 at point 69 (with upticks at 40, 50 and 60 that the subsequence steps
  // over), a flat bottom to point 74, then a rise. The longest strictly decreasing
  // subsequence: one plateau point and the 37 descent points that are not upticks, 38
  // long, first complete at point 69. fastai's start is 69 - 38 = 31, the section 38:
  // 31 + 38 // 3 + 38 // 6 = 31 + 12 + 6 = point 49 (the former rule, two thirds of the
  // way from the plateau's last point 29, took 55). The falling points before the
  // window and the low points after it would stretch the valley if they were not
  // ignored.
  const std::vector<double> lrs = log_grid(100, -7.0, 0.08);
  std::vector<double> losses;
  for (int i = 0; i < 100; ++i) {
    double loss = 3.0;
    if (i < 10) loss = 10.0 - i;
    if (i >= 30 && i <= 69) loss = 3.0 - 0.05 * (i - 29);
    if (i == 40 || i == 50 || i == 60) loss += 0.07;
    if (i >= 70) loss = 1.0 + 0.1 * std::max(0, i - 74);
    if (i >= 95) loss = 0.0;
    losses.push_back(loss);
  }
  const LrSuggestions result = suggest_learning_rates(lrs, losses, unsmoothed());
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.suggestions[2].rule, "valley");
  EXPECT_EQ(result.suggestions[2].index, 49u);
  EXPECT_TRUE(close(*result.lr_for("valley"), std::pow(10.0, -7.0 + 49 * 0.08), 1e-9));
}

// A curve on which the conventions disagree, worked by hand. 20 points, lr = 10^(0.1 i
// - 5) (equal steps in ln lr, so slopes compare as differences); window [20 // 10, 20 -
// 5) = [2, 15). Inside it the loss is
//   5.0 4.9 4.0 3.9 3.3 2.7 2.6 2.5 2.45 2.4 2.6 3.0 3.5   (points 2 to 14)
//  - fastai's steep, forward differences: the largest fall is 4.9 -> 4.0, so point 3;
//    central differences: (L[i+1] - L[i-1]) / 2 is -0.5 at 3 and 4 but -0.6 at 6;
//  - fastai's valley: points 2 to 11 fall throughout, 10 long, complete at point 11
//    (window index 9); start 9 - 10 = -1, section 10: -1 + 3 + 1 = window index 3,
//    point 5. Two thirds of the way from the first point (the former rule): point 8.
//  - minimum/10: the lowest loss, 2.4 at point 11.
// Outside the window the loss is far lower, which every rule must ignore.
TEST(LrSuggestions, FastaiConventionsOnACurveWhereTheyDisagree) {
  const std::vector<double> window = {5.0, 4.9, 4.0, 3.9, 3.3, 2.7, 2.6, 2.5, 2.45, 2.4, 2.6, 3.0, 3.5};
  const std::vector<double> lrs = log_grid(20, -5.0, 0.1);
  std::vector<double> losses(20, 0.1);
  for (size_t k = 0; k < window.size(); ++k) losses[k + 2] = window[k];
  const LrSuggestions result = suggest_learning_rates(lrs, losses, unsmoothed());
  ASSERT_TRUE(result.ok()) << result.error;
  ASSERT_EQ(result.suggestions.size(), 4u);
  EXPECT_EQ(result.suggestions[0].rule, "steepest");
  EXPECT_EQ(result.suggestions[0].index, 3u);
  EXPECT_TRUE(close(*result.lr_for("steepest"), std::pow(10.0, -4.7), 1e-9));
  EXPECT_EQ(result.suggestions[1].index, 11u);
  EXPECT_EQ(result.suggestions[2].rule, "valley");
  EXPECT_EQ(result.suggestions[2].index, 5u);
  EXPECT_EQ(result.suggestions[3].rule, "steepest_central");
  EXPECT_EQ(result.suggestions[3].index, 6u);
}

// fastai's window starts at num_it // 10 of the sweep as planned, however early it
// stopped. fastai does not stop at a NaN loss: its record runs on to num_it, so the
// window ends at min(num_it - 5, the first NaN). A Python index of -1 wraps to the
// window's last point.
TEST(LrSuggestions, WindowFromThePlannedStepsAndTheValleysWrap) {
  // Planned 100 steps, stopped at a NaN after 30: the window is [10, min(95, 30)) = [10, 30).
  LrFinderTrackerOptions options;
  options.smoothing_beta = 0.0;
  options.planned_steps = 100;
  LrFinderTracker tracker(options);
  const std::vector<double> lrs = log_grid(31, -6.0, 0.1);
  // Falling to 25 at point 25, then 1.0 from 26 to 29 (inside the window), then the NaN.
  for (int i = 0; i < 30; ++i) EXPECT_FALSE(tracker.push(lrs[i], i <= 25 ? 50.0 - i : 1.0));
  EXPECT_TRUE(tracker.push(lrs[30], std::numeric_limits<double>::quiet_NaN()));
  const LrSuggestions result = tracker.suggest();
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.suggestions[1].index, 26u) << "minimum over [10, 30): the first of the 1.0s";

  // A window whose first two points fall and whose rest never falls below them: the
  // valley ends at window index 1, starts at -1, and -1 + 0 + 0 is the last point.
  const std::vector<double> wrap_lrs = log_grid(20, -5.0, 0.1);
  std::vector<double> wrap(20, 0.0);
  const std::vector<double> inside = {3.0, 2.0, 2.5, 2.6, 2.7, 2.8, 2.9, 3.0, 3.1, 3.2, 3.3, 3.4, 3.5};
  for (size_t k = 0; k < inside.size(); ++k) wrap[k + 2] = inside[k];
  const LrSuggestions wrapped = suggest_learning_rates(wrap_lrs, wrap, unsmoothed());
  ASSERT_TRUE(wrapped.ok()) << wrapped.error;
  EXPECT_EQ(wrapped.suggestions[2].index, 14u) << "the window [2, 15)'s last point";
}

TEST(LrSuggestions, RecordIsCutAtTheFirstNonFiniteLoss) {
  // 30 finite points, then NaN and more points. As fastai: the window [40 // 10, 40 - 5)
  // = [4, 35), cut before the NaN at 30: [4, 30), where the falling loss is lowest at
  // its last point, 29; the points after the NaN never count.
  const std::vector<double> lrs = log_grid(40, -6.0, 0.1);
  std::vector<double> losses;
  for (int i = 0; i < 40; ++i) losses.push_back(i < 30 ? 100.0 - i : -100.0);
  losses[30] = std::numeric_limits<double>::quiet_NaN();
  const LrSuggestions result = suggest_learning_rates(lrs, losses, unsmoothed());
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.suggestions[1].index, 29u);
}

TEST(LrSuggestions, TooFewPointsGivesAReason) {
  // 7 points: the window [0, 2) has 2 points, one short of the minimum of 3.
  const LrSuggestions few = suggest_learning_rates(log_grid(7, -5.0, 0.5), std::vector<double>(7, 1.0));
  EXPECT_FALSE(few.ok());
  EXPECT_TRUE(few.suggestions.empty());
  EXPECT_NE(few.error.find("too few points"), std::string::npos) << few.error;
  EXPECT_NE(few.error.find("7 recorded"), std::string::npos) << few.error;
  EXPECT_FALSE(few.lr_for("steepest").has_value());
  const LrSuggestions enough = suggest_learning_rates(log_grid(8, -5.0, 0.5), std::vector<double>(8, 1.0));
  EXPECT_TRUE(enough.ok()) << enough.error;
  const LrSuggestions empty = suggest_learning_rates({}, {});
  EXPECT_FALSE(empty.ok());
}

TEST(LrSuggestions, RejectsMalformedRecords) {
  expect_invalid_argument([] { suggest_learning_rates({1e-3, 1e-2, 1e-1}, {1.0, 1.0}); }, {"lrs", "3", "losses", "2"});
  expect_invalid_argument([] { suggest_learning_rates({1e-3, 1e-2, 1e-2}, {1.0, 1.0, 1.0}); },
                          {"lrs[2]", "0.01", "strictly increasing"});
  expect_invalid_argument([] { suggest_learning_rates({0.0, 1e-2}, {1.0, 1.0}); }, {"lrs[0]", "0", "> 0"});
}

TEST(LrSuggestions, EndToEndRangeTestWithTheTracker) {
  // An exponential sweep 1e-6 -> 10 over 300 steps on a loss that falls from 2.3 to 0.8
  // around 1e-3 and blows up above 0.1. The tracker must stop after the blow-up starts
  // and before the sweep ends; every suggestion must lie where the loss falls or
  // bottoms out, between 1e-4 and 1e-1 (the smoothing makes them lag behind the raw
  // curve, so no finer bound is hand-computable).
  const RangeSweep sweep(1e-6, 10.0, 300);
  LrFinderTracker tracker;
  int64_t stop_step = -1;
  for (int64_t step = 0; step < 300; ++step) {
    const double lr = sweep.lr(step);
    const double x = std::log10(lr);
    double loss = 2.3 - 1.5 / (1.0 + std::exp(-(x + 3.0) / 0.25));
    if (x > -1.0) loss += 20.0 * (x + 1.0) * (x + 1.0);
    if (tracker.push(lr, loss)) {
      stop_step = step;
      break;
    }
  }
  ASSERT_GE(stop_step, 0) << "the tracker never stopped";
  EXPECT_GT(sweep.lr(stop_step), 0.1);
  const LrSuggestions result = tracker.suggest();
  ASSERT_TRUE(result.ok()) << result.error;
  for (const LrSuggestion& suggestion : result.suggestions) {
    EXPECT_GT(suggestion.lr, 1e-4) << suggestion.rule;
    EXPECT_LT(suggestion.lr, 1e-1) << suggestion.rule;
  }
}

}  // namespace
}  // namespace cyg::sched
