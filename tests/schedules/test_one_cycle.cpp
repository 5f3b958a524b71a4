// OneCycle: phase boundaries of the seed's Table I configurations, the degenerate
// annealing shares, the cosine option, monotonicity and parameter errors.
#include <gtest/gtest.h>

#include "schedules/one_cycle.h"
#include "expect_helpers.h"

namespace cyg::sched {
namespace {

using test_util::close;
using test_util::expect_invalid_argument;

OneCycleParams make_params(double lr_min, double lr_max, double momentum_min, double momentum_max,
                           double anneal_fraction, int64_t total_steps) {
  OneCycleParams p;
  p.lr_min = lr_min;
  p.lr_max = lr_max;
  p.momentum_min = momentum_min;
  p.momentum_max = momentum_max;
  p.anneal_fraction = anneal_fraction;
  p.total_steps = total_steps;
  return p;
}

// Table I row 1: lr 0.001 -> 0.01, momentum 0.95 -> 0.85, 10% annealing.
OneCycleParams table_row_1(int64_t total_steps) { return make_params(0.001, 0.01, 0.85, 0.95, 0.1, total_steps); }

TEST(OneCycle, TableRow1PhaseBoundaries) {
  // T = 100: peak P = floor(0.9 * 100 / 2) = 45, descent ends at E = 90, anneals 90..99.
  const OneCycle schedule(table_row_1(100));
  const Schedule& s = schedule;
  EXPECT_EQ(schedule.peak_step(), 45);
  EXPECT_EQ(schedule.descent_end_step(), 90);
  EXPECT_EQ(s.total_steps(), 100);

  EXPECT_TRUE(close(s.lr(0), 0.001));
  EXPECT_TRUE(close(*s.momentum(0), 0.95));
  // A third of the rise: 0.001 + 0.009 / 3, 0.95 - 0.1 / 3.
  EXPECT_TRUE(close(s.lr(15), 0.004));
  EXPECT_TRUE(close(*s.momentum(15), 0.95 - 0.1 / 3));
  EXPECT_TRUE(close(s.lr(44), 0.001 + 0.009 * 44 / 45));
  EXPECT_TRUE(close(s.lr(45), 0.01));
  EXPECT_TRUE(close(*s.momentum(45), 0.85));
  EXPECT_TRUE(close(s.lr(46), 0.01 - 0.009 / 45));
  // A third of the descent: 0.01 - 0.009 / 3, 0.85 + 0.1 / 3.
  EXPECT_TRUE(close(s.lr(60), 0.007));
  EXPECT_TRUE(close(*s.momentum(60), 0.85 + 0.1 / 3));
  EXPECT_TRUE(close(s.lr(89), 0.0012));
  EXPECT_TRUE(close(s.lr(90), 0.001));
  EXPECT_TRUE(close(*s.momentum(90), 0.95));
  // Annealing 0.001 -> 0.00001 over steps 90..99: a ninth of 0.00099 per step.
  EXPECT_TRUE(close(s.lr(91), 0.00089));
  EXPECT_TRUE(close(s.lr(93), 0.00067));
  EXPECT_TRUE(close(*s.momentum(93), 0.95));
  EXPECT_TRUE(close(s.lr(99), 0.00001));
  EXPECT_TRUE(close(*s.momentum(99), 0.95));
}

TEST(OneCycle, ClampsOutsideTheRun) {
  const OneCycle s(table_row_1(100));
  EXPECT_TRUE(close(s.lr(100), 0.00001));
  EXPECT_TRUE(close(s.lr(1'000'000'000'000), 0.00001));
  EXPECT_TRUE(close(*s.momentum(100), 0.95));
  EXPECT_TRUE(close(s.lr(-1), 0.001));
  EXPECT_TRUE(close(s.lr(-1'000'000), 0.001));
  EXPECT_TRUE(close(*s.momentum(-1), 0.95));
}

TEST(OneCycle, TableRow1AtTheSeedsStepCount) {
  // 90 epochs x 391 CIFAR-10 batches of 128 = 35190 steps; 0.45 * 35190 = 15835.5.
  const OneCycle s(table_row_1(35190));
  EXPECT_EQ(s.peak_step(), 15835);
  EXPECT_EQ(s.descent_end_step(), 31670);
  EXPECT_TRUE(close(s.lr(15835), 0.01));
  EXPECT_LT(s.lr(15834), 0.01);
  EXPECT_LT(s.lr(15836), 0.01);
  EXPECT_TRUE(close(s.lr(31670), 0.001));
  EXPECT_TRUE(close(s.lr(35189), 0.00001));
}

TEST(OneCycle, TableRow2HalfAnnealing) {
  // T = 101: P = floor(0.5 * 101 / 2) = floor(25.25) = 25, E = 50, anneals 50..100.
  const OneCycle s(make_params(0.001, 0.01, 0.85, 0.95, 0.5, 101));
  EXPECT_EQ(s.peak_step(), 25);
  EXPECT_EQ(s.descent_end_step(), 50);
  EXPECT_TRUE(close(s.lr(0), 0.001));
  EXPECT_TRUE(close(s.lr(10), 0.001 + 0.009 * 10 / 25));
  EXPECT_TRUE(close(s.lr(25), 0.01));
  EXPECT_TRUE(close(*s.momentum(25), 0.85));
  EXPECT_TRUE(close(s.lr(50), 0.001));
  // Halfway through the annealing: (0.001 + 0.00001) / 2.
  EXPECT_TRUE(close(s.lr(75), 0.000505));
  EXPECT_TRUE(close(*s.momentum(75), 0.95));
  EXPECT_TRUE(close(s.lr(100), 0.00001));
}

TEST(OneCycle, TableRow7ConstantLrAndMomentum) {
  // 0.01 / 0.01 with momentum 0.9 / 0.9: flat until the annealing at E = 2 * 22 = 44.
  const OneCycle s(make_params(0.01, 0.01, 0.9, 0.9, 0.1, 50));
  EXPECT_EQ(s.peak_step(), 22);
  EXPECT_EQ(s.descent_end_step(), 44);
  for (int64_t step = 0; step <= 44; ++step) EXPECT_TRUE(close(s.lr(step), 0.01)) << "step " << step;
  for (int64_t step = -3; step <= 60; ++step) EXPECT_TRUE(close(*s.momentum(step), 0.9)) << "step " << step;
  // Annealing 0.01 -> 0.0001 over steps 44..49.
  EXPECT_TRUE(close(s.lr(47), 0.01 - 0.0099 * 3 / 5));
  EXPECT_TRUE(close(s.lr(49), 0.0001));
}

TEST(OneCycle, TableRow8VeryHighPeak) {
  // 0.1 -> 3, T = 1000: P = 450, E = 900.
  const OneCycle s(make_params(0.1, 3.0, 0.85, 0.95, 0.1, 1000));
  EXPECT_TRUE(close(s.lr(225), 1.55));
  EXPECT_TRUE(close(*s.momentum(225), 0.9));
  EXPECT_TRUE(close(s.lr(450), 3.0));
  EXPECT_TRUE(close(s.lr(675), 1.55));
  EXPECT_TRUE(close(s.lr(900), 0.1));
  EXPECT_TRUE(close(s.lr(999), 0.001));
}

TEST(OneCycle, CustomAnnealDivisor) {
  OneCycleParams p = table_row_1(100);
  p.anneal_div = 25.0;
  const OneCycle s(p);
  EXPECT_TRUE(close(s.lr(99), 0.001 / 25));
}

TEST(OneCycle, CosineInterpolationKeepsTheKnotsAndBendsBetween) {
  OneCycleParams p = table_row_1(100);
  p.interpolation = Interpolation::Cosine;
  const OneCycle s(p);
  EXPECT_TRUE(close(s.lr(0), 0.001));
  EXPECT_TRUE(close(s.lr(45), 0.01));
  EXPECT_TRUE(close(*s.momentum(45), 0.85));
  EXPECT_TRUE(close(s.lr(90), 0.001));
  EXPECT_TRUE(close(s.lr(99), 0.00001));
  // A third of a phase: (1 - cos(pi / 3)) / 2 = 0.25 of the way.
  EXPECT_TRUE(close(s.lr(15), 0.001 + 0.009 * 0.25));
  EXPECT_TRUE(close(*s.momentum(15), 0.95 - 0.1 * 0.25));
  EXPECT_TRUE(close(s.lr(60), 0.01 - 0.009 * 0.25));
  EXPECT_TRUE(close(*s.momentum(60), 0.85 + 0.1 * 0.25));
  EXPECT_TRUE(close(s.lr(93), 0.001 - 0.00099 * 0.25));
}

void expect_monotonic_phases(Interpolation interpolation) {
  // T = 1000, 10% annealing: rise 0..450, descent 450..900, annealing 900..999.
  OneCycleParams p = table_row_1(1000);
  p.interpolation = interpolation;
  const OneCycle s(p);
  for (int64_t step = 1; step <= 450; ++step) {
    EXPECT_GT(s.lr(step), s.lr(step - 1)) << "rise, step " << step;
    EXPECT_LT(*s.momentum(step), *s.momentum(step - 1)) << "rise, step " << step;
  }
  for (int64_t step = 451; step <= 900; ++step) {
    EXPECT_LT(s.lr(step), s.lr(step - 1)) << "descent, step " << step;
    EXPECT_GT(*s.momentum(step), *s.momentum(step - 1)) << "descent, step " << step;
  }
  for (int64_t step = 901; step <= 999; ++step) {
    EXPECT_LT(s.lr(step), s.lr(step - 1)) << "annealing, step " << step;
    EXPECT_EQ(*s.momentum(step), 0.95) << "annealing, step " << step;
  }
}

TEST(OneCycle, MonotonicWithinPhasesLinear) { expect_monotonic_phases(Interpolation::Linear); }

TEST(OneCycle, MonotonicWithinPhasesCosine) { expect_monotonic_phases(Interpolation::Cosine); }

TEST(OneCycle, NoAnnealingEndsTheDescentAtTheLastStep) {
  // T = 10: P = 5, and E = min(10, 9) = 9, so the descent takes 4 steps.
  const OneCycle even(make_params(0.001, 0.01, 0.85, 0.95, 0.0, 10));
  EXPECT_EQ(even.peak_step(), 5);
  EXPECT_EQ(even.descent_end_step(), 9);
  EXPECT_TRUE(close(even.lr(5), 0.01));
  EXPECT_TRUE(close(even.lr(7), 0.0055));
  EXPECT_TRUE(close(even.lr(9), 0.001));
  EXPECT_TRUE(close(*even.momentum(9), 0.95));
  EXPECT_TRUE(close(even.lr(50), 0.001));
  // T = 11: P = floor(5.5) = 5, E = 10 = T - 1.
  const OneCycle odd(make_params(0.001, 0.01, 0.85, 0.95, 0.0, 11));
  EXPECT_EQ(odd.peak_step(), 5);
  EXPECT_EQ(odd.descent_end_step(), 10);
  EXPECT_TRUE(close(odd.lr(5), 0.01));
  EXPECT_TRUE(close(odd.lr(10), 0.001));
}

TEST(OneCycle, FullAnnealingHasNoCycle) {
  const OneCycle s(make_params(0.001, 0.01, 0.85, 0.95, 1.0, 10));
  EXPECT_EQ(s.peak_step(), 0);
  EXPECT_EQ(s.descent_end_step(), 0);
  EXPECT_TRUE(close(s.lr(0), 0.001));
  EXPECT_TRUE(close(s.lr(3), 0.001 - 0.00099 / 3));
  EXPECT_TRUE(close(s.lr(9), 0.00001));
  for (int64_t step = 0; step < 10; ++step) EXPECT_TRUE(close(*s.momentum(step), 0.95)) << "step " << step;
}

TEST(OneCycle, OneStepOfAnnealingStillReachesTheFinalRate) {
  // T = 11, a = 0.05: P = floor(0.95 * 11 / 2) = floor(5.225) = 5, E = 10 = T - 1.
  const OneCycle s(make_params(0.001, 0.01, 0.85, 0.95, 0.05, 11));
  EXPECT_EQ(s.descent_end_step(), 10);
  EXPECT_TRUE(close(s.lr(5), 0.01));
  EXPECT_TRUE(close(s.lr(9), 0.01 - 0.009 * 4 / 5));
  EXPECT_TRUE(close(s.lr(10), 0.00001));
}

TEST(OneCycle, TwoStepsWithoutAnnealing) {
  // P = E = 1: the end of the descent wins over the peak.
  const OneCycle s(make_params(0.001, 0.01, 0.85, 0.95, 0.0, 2));
  EXPECT_TRUE(close(s.lr(0), 0.001));
  EXPECT_TRUE(close(s.lr(1), 0.001));
}

TEST(OneCycle, PeakStepSurvivesFloatingPointRounding) {
  // (1 - 0.8) * 10 / 2 evaluates to 0.9999999999999998 in doubles; the peak is step 1.
  const OneCycle s(make_params(0.001, 0.01, 0.85, 0.95, 0.8, 10));
  EXPECT_EQ(s.peak_step(), 1);
  EXPECT_TRUE(close(s.lr(1), 0.01));
  EXPECT_TRUE(close(s.lr(2), 0.001));
  // 56% annealing of 50 steps: 0.44 * 50 / 2 = 11 exactly on paper.
  const OneCycle t(make_params(0.001, 0.01, 0.85, 0.95, OneCycle::anneal_fraction_from_percent(56), 50));
  EXPECT_EQ(t.peak_step(), 11);
  EXPECT_EQ(t.descent_end_step(), 22);
}

TEST(OneCycle, AnnealFractionFromPercent) {
  EXPECT_TRUE(close(OneCycle::anneal_fraction_from_percent(10), 0.1));
  EXPECT_TRUE(close(OneCycle::anneal_fraction_from_percent(50), 0.5));
  EXPECT_EQ(OneCycle::anneal_fraction_from_percent(0), 0.0);
  EXPECT_EQ(OneCycle::anneal_fraction_from_percent(100), 1.0);
  expect_invalid_argument([] { OneCycle::anneal_fraction_from_percent(150); }, {"anneal_percent", "150", "[0, 100]"});
  expect_invalid_argument([] { OneCycle::anneal_fraction_from_percent(-1); }, {"anneal_percent", "-1"});
}

TEST(OneCycle, RejectsInvalidParameters) {
  auto with = [](auto change) {
    return [change] {
      OneCycleParams p = table_row_1(100);
      change(p);
      OneCycle s(p);
    };
  };
  expect_invalid_argument(with([](OneCycleParams& p) { p.lr_min = -0.5; }), {"OneCycle", "lr_min", "-0.5", ">= 0"});
  expect_invalid_argument(with([](OneCycleParams& p) { p.lr_max = std::nan(""); }), {"lr_max", "nan"});
  expect_invalid_argument(with([](OneCycleParams& p) { p.lr_min = 0.1; }), {"lr_min", "0.1", "lr_max", "0.01"});
  expect_invalid_argument(with([](OneCycleParams& p) { p.momentum_max = 1.5; }), {"momentum_max", "1.5", "[0, 1]"});
  expect_invalid_argument(with([](OneCycleParams& p) { p.momentum_min = -0.1; }), {"momentum_min", "-0.1"});
  expect_invalid_argument(with([](OneCycleParams& p) { p.momentum_min = 0.96; }),
                          {"momentum_min", "0.96", "momentum_max"});
  expect_invalid_argument(with([](OneCycleParams& p) { p.total_steps = 0; }), {"total_steps", "0", ">= 2"});
  expect_invalid_argument(with([](OneCycleParams& p) { p.total_steps = -5; }), {"total_steps", "-5"});
  expect_invalid_argument(with([](OneCycleParams& p) { p.anneal_fraction = 1.5; }), {"anneal_fraction", "1.5"});
  expect_invalid_argument(with([](OneCycleParams& p) { p.anneal_fraction = -0.1; }), {"anneal_fraction", "-0.1"});
  expect_invalid_argument(with([](OneCycleParams& p) { p.anneal_div = 0.0; }), {"anneal_div", "0", "> 0"});
}

}  // namespace
}  // namespace cyg::sched
