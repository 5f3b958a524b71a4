// ConstantSchedule, StepSchedule, CosineSchedule and WarmupSchedule: hand-computed
// values, clamping, composition and parameter errors.
#include <gtest/gtest.h>

#include <memory>

#include "expect_helpers.h"
#include "schedules/constant.h"
#include "schedules/cosine.h"
#include "schedules/one_cycle.h"
#include "schedules/step_decay.h"
#include "schedules/warmup.h"

namespace cyg::sched {
namespace {

using test_util::close;
using test_util::expect_invalid_argument;

TEST(ConstantSchedule, SameValueAtEveryStep) {
  const ConstantSchedule s(0.001);
  for (int64_t step : {int64_t{-1}, int64_t{0}, int64_t{7}, int64_t{1'000'000'000}}) EXPECT_EQ(s.lr(step), 0.001);
  EXPECT_FALSE(s.momentum(0).has_value());
  EXPECT_FALSE(s.total_steps().has_value());
  const ConstantSchedule with_momentum(0.01, 0.9);
  EXPECT_EQ(with_momentum.momentum(123), 0.9);
}

TEST(ConstantSchedule, RejectsInvalidParameters) {
  expect_invalid_argument([] { ConstantSchedule(-0.001); }, {"ConstantSchedule", "lr", "-0.001"});
  expect_invalid_argument([] { ConstantSchedule(0.1, 1.5); }, {"momentum", "1.5", "[0, 1]"});
}

TEST(StepSchedule, DecaysAtEachMilestone) {
  const StepSchedule s(0.1, {30, 60}, 0.1);
  EXPECT_TRUE(close(s.lr(-5), 0.1));
  EXPECT_TRUE(close(s.lr(0), 0.1));
  EXPECT_TRUE(close(s.lr(29), 0.1));
  EXPECT_TRUE(close(s.lr(30), 0.01));
  EXPECT_TRUE(close(s.lr(59), 0.01));
  EXPECT_TRUE(close(s.lr(60), 0.001));
  EXPECT_TRUE(close(s.lr(1'000'000'000), 0.001));
  EXPECT_FALSE(s.total_steps().has_value());
  const StepSchedule no_milestones(0.5, {}, 0.1);
  EXPECT_EQ(no_milestones.lr(100), 0.5);
}

TEST(StepSchedule, RejectsInvalidParameters) {
  expect_invalid_argument([] { StepSchedule(0.1, {30, 30}, 0.1); }, {"StepSchedule", "milestones[1]", "30"});
  expect_invalid_argument([] { StepSchedule(0.1, {0, 30}, 0.1); }, {"milestones[0]", "0", "> 0"});
  expect_invalid_argument([] { StepSchedule(0.1, {30}, 0.0); }, {"gamma", "0", "> 0"});
  expect_invalid_argument([] { StepSchedule(-1.0, {30}, 0.1); }, {"base_lr", "-1"});
}

TEST(CosineSchedule, HalfCosineFromBaseToMinimum) {
  const CosineSchedule s(0.1, 0.001, 11);
  EXPECT_TRUE(close(s.lr(0), 0.1));
  EXPECT_TRUE(close(s.lr(5), 0.0505));  // the midpoint of 0.1 and 0.001
  EXPECT_TRUE(close(s.lr(10), 0.001));
  EXPECT_TRUE(close(s.lr(11), 0.001));
  EXPECT_TRUE(close(s.lr(-1), 0.1));
  EXPECT_EQ(s.total_steps(), 11);
  // T = 7: step 2 is a third of the way, (1 + cos(pi / 3)) / 2 = 0.75 of the range left;
  // step 4 two thirds, (1 + cos(2 pi / 3)) / 2 = 0.25 left.
  const CosineSchedule t(0.1, 0.001, 7);
  EXPECT_TRUE(close(t.lr(2), 0.001 + 0.099 * 0.75));
  EXPECT_TRUE(close(t.lr(4), 0.001 + 0.099 * 0.25));
}

TEST(CosineSchedule, RejectsInvalidParameters) {
  expect_invalid_argument([] { CosineSchedule(0.1, 0.2, 10); }, {"CosineSchedule", "min_lr", "0.2", "base_lr"});
  expect_invalid_argument([] { CosineSchedule(0.1, 0.0, 1); }, {"total_steps", "1", ">= 2"});
  expect_invalid_argument([] { CosineSchedule(0.1, -0.1, 10); }, {"min_lr", "-0.1"});
}

TEST(WarmupSchedule, RisesLinearlyThenHandsOver) {
  const auto cosine = std::make_shared<CosineSchedule>(0.1, 0.001, 11);
  const WarmupSchedule s(cosine, 4, 0.0);
  EXPECT_EQ(s.lr(-2), 0.0);
  EXPECT_EQ(s.lr(0), 0.0);
  EXPECT_TRUE(close(s.lr(1), 0.025));
  EXPECT_TRUE(close(s.lr(3), 0.075));
  EXPECT_TRUE(close(s.lr(4), 0.1));      // the cosine's step 0
  EXPECT_TRUE(close(s.lr(9), 0.0505));   // the cosine's step 5
  EXPECT_TRUE(close(s.lr(14), 0.001));   // the cosine's last step
  EXPECT_TRUE(close(s.lr(100), 0.001));
  EXPECT_EQ(s.total_steps(), 15);
  EXPECT_FALSE(s.momentum(2).has_value());
}

TEST(WarmupSchedule, WrapsOneCycleWithItsMomentum) {
  OneCycleParams p;
  p.lr_min = 0.001;
  p.lr_max = 0.01;
  p.total_steps = 100;  // peak at step 45 of the cycle
  const WarmupSchedule s(std::make_shared<OneCycle>(p), 10, 0.0001);
  EXPECT_TRUE(close(s.lr(0), 0.0001));
  EXPECT_TRUE(close(s.lr(5), 0.00055));
  EXPECT_TRUE(close(s.lr(10), 0.001));
  EXPECT_TRUE(close(s.lr(55), 0.01));
  EXPECT_TRUE(close(*s.momentum(0), 0.95));
  EXPECT_TRUE(close(*s.momentum(9), 0.95));
  EXPECT_TRUE(close(*s.momentum(55), 0.85));
  EXPECT_TRUE(close(s.lr(109), 0.00001));
  EXPECT_EQ(s.total_steps(), 110);
}

TEST(WarmupSchedule, UnboundedAndZeroLengthWarmups) {
  const WarmupSchedule unbounded(std::make_shared<ConstantSchedule>(0.1), 10, 0.0);
  EXPECT_FALSE(unbounded.total_steps().has_value());
  EXPECT_TRUE(close(unbounded.lr(5), 0.05));
  const auto cosine = std::make_shared<CosineSchedule>(0.1, 0.001, 11);
  const WarmupSchedule transparent(cosine, 0, 0.0);
  for (int64_t step = -1; step <= 12; ++step) EXPECT_EQ(transparent.lr(step), cosine->lr(step)) << "step " << step;
}

TEST(WarmupSchedule, RejectsInvalidParameters) {
  const auto constant = std::make_shared<ConstantSchedule>(0.1);
  expect_invalid_argument([] { WarmupSchedule(nullptr, 10, 0.0); }, {"WarmupSchedule", "after", "null"});
  expect_invalid_argument([&] { WarmupSchedule(constant, -1, 0.0); }, {"warmup_steps", "-1", ">= 0"});
  expect_invalid_argument([&] { WarmupSchedule(constant, 10, -0.1); }, {"start_lr", "-0.1"});
}

}  // namespace
}  // namespace cyg::sched
