// RangeSweep: endpoints, the geometric midpoint of the exponential sweep, the linear
// sweep, clamping and parameter errors.
#include <gtest/gtest.h>

#include "expect_helpers.h"
#include "schedules/range_sweep.h"

namespace cyg::sched {
namespace {

using test_util::close;
using test_util::expect_invalid_argument;

TEST(RangeSweep, ExponentialEndpointsAndGeometricPoints) {
  // 1e-7 -> 10 in 9 steps: eight equal ratios of 10.
  const RangeSweep s(1e-7, 10.0, 9);
  EXPECT_EQ(s.lr(0), 1e-7);
  EXPECT_EQ(s.lr(8), 10.0);
  EXPECT_TRUE(close(s.lr(4), 1e-3));  // sqrt(1e-7 * 10)
  EXPECT_TRUE(close(s.lr(2), 1e-5));
  for (int64_t step = 1; step < 9; ++step) EXPECT_TRUE(close(s.lr(step) / s.lr(step - 1), 10.0)) << "step " << step;
  EXPECT_EQ(s.total_steps(), 9);
  EXPECT_FALSE(s.momentum(3).has_value());
}

TEST(RangeSweep, ExponentialIsTheDefault) {
  const RangeSweep s(1e-4, 1.0, 3);
  EXPECT_TRUE(close(s.lr(1), 1e-2));
}

TEST(RangeSweep, LastStepIsExactlyEndLr) {
  // 1e-5 * (1.0 / 1e-5) rounds to 0.9999999999999999 in doubles.
  const RangeSweep s(1e-5, 1.0, 100);
  EXPECT_EQ(s.lr(99), 1.0);
}

TEST(RangeSweep, Clamped) {
  const RangeSweep s(1e-7, 10.0, 9);
  EXPECT_EQ(s.lr(-3), 1e-7);
  EXPECT_EQ(s.lr(9), 10.0);
  EXPECT_EQ(s.lr(1'000'000), 10.0);
}

TEST(RangeSweep, Linear) {
  const RangeSweep from_zero(0.0, 1.0, 5, SweepSpacing::Linear);
  EXPECT_EQ(from_zero.lr(0), 0.0);
  EXPECT_TRUE(close(from_zero.lr(1), 0.25));
  EXPECT_TRUE(close(from_zero.lr(2), 0.5));
  EXPECT_TRUE(close(from_zero.lr(3), 0.75));
  EXPECT_EQ(from_zero.lr(4), 1.0);
  const RangeSweep wide(1e-7, 10.0, 9, SweepSpacing::Linear);
  EXPECT_TRUE(close(wide.lr(4), (1e-7 + 10.0) / 2));
}

TEST(RangeSweep, RejectsInvalidParameters) {
  expect_invalid_argument([] { RangeSweep(0.0, 10.0, 100); }, {"RangeSweep", "start_lr", "0", "> 0"});
  expect_invalid_argument([] { RangeSweep(1e-7, -1.0, 100); }, {"end_lr", "-1", "> 0"});
  expect_invalid_argument([] { RangeSweep(1e-7, 0.0, 100); }, {"end_lr", "0"});
  expect_invalid_argument([] { RangeSweep(1.0, 0.5, 100); }, {"end_lr", "0.5", "start_lr", "1"});
  expect_invalid_argument([] { RangeSweep(1e-7, 10.0, 1); }, {"num_steps", "1", ">= 2"});
  expect_invalid_argument([] { RangeSweep(1e-7, 10.0, 0, SweepSpacing::Linear); }, {"num_steps", "0"});
  expect_invalid_argument([] { RangeSweep(-1.0, 10.0, 10, SweepSpacing::Linear); }, {"start_lr", "-1", ">= 0"});
}

}  // namespace
}  // namespace cyg::sched
