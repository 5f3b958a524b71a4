// PyTorchOneCycle against PyTorch's OneCycleLR as its documentation and source define it:
// the phase ends (real numbers, pct_start * total_steps - 1, ...), the first, peak and last
// learning rates (max_lr / div_factor, max_lr, that / final_div_factor), the momentum
// moving against the lr, both anneal strategies, the edge shapes PyTorch runs, and the one
// it divides by zero for, refused.
#include <gtest/gtest.h>

#include <cmath>

#include "schedules/pytorch_one_cycle.h"
#include "expect_helpers.h"

namespace cyg::sched {
namespace {

using test_util::close;
using test_util::expect_invalid_argument;

PyTorchOneCycleParams params(double max_lr, int64_t total_steps, double pct_start = 0.3) {
  PyTorchOneCycleParams p;
  p.max_lr = max_lr;
  p.total_steps = total_steps;
  p.pct_start = pct_start;
  return p;
}

// PyTorch's defaults (cos, div_factor 25, final_div_factor 1e4, pct_start 0.3), 100
// steps: the rise ends at step 29, the fall at 99.
TEST(PyTorchOneCycle, DefaultsRiseToMaxLrAndAnnealToTheMinimum) {
  const PyTorchOneCycle schedule(params(1.0, 100));
  const Schedule& s = schedule;
  EXPECT_EQ(s.total_steps(), 100);
  EXPECT_TRUE(close(schedule.initial_lr(), 0.04));
  EXPECT_TRUE(close(schedule.min_lr(), 4e-6));
  EXPECT_TRUE(close(s.lr(0), 0.04));
  EXPECT_TRUE(close(s.lr(29), 1.0));
  EXPECT_TRUE(close(s.lr(99), 4e-6));
  // Halfway through the fall (step 64 of 29..99) a half cosine is halfway; a third of the
  // way up the rise (step 10 of 0..29) it is PyTorch's end + (start - end) / 2 * (cos + 1).
  EXPECT_TRUE(close(s.lr(64), (1.0 + 4e-6) / 2, 1e-12));
  const double kPi = 3.14159265358979323846;
  EXPECT_TRUE(close(s.lr(10), 1.0 + (0.04 - 1.0) / 2 * (std::cos(kPi * 10.0 / 29.0) + 1.0)));
  EXPECT_FALSE(close(s.lr(10), 0.04 + 0.96 * 10.0 / 29.0, 1e-3)) << "not the linear shape";
  EXPECT_TRUE(close(*s.momentum(0), 0.95));
  EXPECT_TRUE(close(*s.momentum(29), 0.85));
  EXPECT_TRUE(close(*s.momentum(64), 0.9));
  EXPECT_TRUE(close(*s.momentum(99), 0.95));
  // Up, then down, with the momentum the other way.
  for (int64_t k = 1; k <= 29; ++k) {
    EXPECT_GT(s.lr(k), s.lr(k - 1)) << k;
    EXPECT_LT(*s.momentum(k), *s.momentum(k - 1)) << k;
  }
  for (int64_t k = 30; k < 100; ++k) {
    EXPECT_LT(s.lr(k), s.lr(k - 1)) << k;
    EXPECT_GT(*s.momentum(k), *s.momentum(k - 1)) << k;
  }
  EXPECT_EQ(s.lr(100), s.lr(99)) << "past the end: the last value (PyTorch refuses the step)";
  EXPECT_EQ(s.lr(-1), s.lr(0));
}

// Three phases, linear: 20 steps at pct_start 0.25 rise until step 4, fall back to the
// first lr until step 8 (2 * 0.25 * 20 - 2), then anneal to the minimum at 19; the
// momentum stays at its maximum in the third phase.
TEST(PyTorchOneCycle, ThreePhasesLinear) {
  PyTorchOneCycleParams p = params(0.5, 20, 0.25);
  p.three_phase = true;
  p.anneal = Interpolation::Linear;
  p.div_factor = 10;
  p.final_div_factor = 100;
  const PyTorchOneCycle s(p);
  EXPECT_TRUE(close(s.lr(0), 0.05));
  EXPECT_TRUE(close(s.lr(2), 0.275));  // halfway from 0.05 to 0.5
  EXPECT_TRUE(close(s.lr(4), 0.5));
  EXPECT_TRUE(close(s.lr(6), 0.275));
  EXPECT_TRUE(close(s.lr(8), 0.05));
  EXPECT_TRUE(close(s.lr(19), 0.0005));
  // Step 12: 4 of the 11 steps from 8 to 19.
  EXPECT_TRUE(close(s.lr(12), 0.05 + (0.0005 - 0.05) * 4.0 / 11.0));
  EXPECT_TRUE(close(*s.momentum(4), 0.85));
  EXPECT_TRUE(close(*s.momentum(8), 0.95));
  EXPECT_TRUE(close(*s.momentum(12), 0.95));
  EXPECT_TRUE(close(*s.momentum(19), 0.95));
}

// Phase ends that fall between steps, as PyTorch keeps them: 10 steps at pct_start 0.25
// end the rise at step 1.5. Step 1 is two thirds up; step 2 is half a step of the 7.5 the
// fall takes (1.5 .. 9) into it.
TEST(PyTorchOneCycle, FractionalPhaseEndsAsPyTorchKeepsThem) {
  PyTorchOneCycleParams p = params(1.0, 10, 0.25);
  p.anneal = Interpolation::Linear;
  const PyTorchOneCycle s(p);
  EXPECT_TRUE(close(s.lr(1), 0.04 + 0.96 * 2.0 / 3.0));
  EXPECT_TRUE(close(s.lr(2), 1.0 + (4e-6 - 1.0) * 0.5 / 7.5));
  EXPECT_TRUE(close(*s.momentum(1), 0.95 - 0.1 * 2.0 / 3.0));
}

// Shapes PyTorch runs without a complaint run alike: a rise that ends before step 0
// (step 0 is then in the fall, which starts at -0.5), a rise over the whole run, and three
// phases whose third starts after the last step. The one PyTorch divides by zero for,
// pct_start * total_steps = 1, is refused.
TEST(PyTorchOneCycle, EdgeShapesAsPyTorchRunsThemAndTheOneItCannot) {
  PyTorchOneCycleParams early = params(1.0, 10, 0.05);  // rise ends at 0.5 - 1 = -0.5
  early.anneal = Interpolation::Linear;
  const PyTorchOneCycle e(early);
  EXPECT_TRUE(close(e.lr(0), 1.0 + (4e-6 - 1.0) * 0.5 / 9.5));
  EXPECT_TRUE(close(e.lr(9), 4e-6, 1e-9));  // (end - start) * 1 + start rounds at the scale of max_lr
  PyTorchOneCycleParams whole = params(1.0, 10, 1.0);  // rise ends at 9
  whole.anneal = Interpolation::Linear;
  const PyTorchOneCycle w(whole);
  EXPECT_TRUE(close(w.lr(9), 1.0));
  EXPECT_TRUE(close(w.lr(3), 0.04 + 0.96 / 3.0));
  PyTorchOneCycleParams three = params(1.0, 10, 0.6);  // rise to 5, fall to 10: no step anneals
  three.three_phase = true;
  three.anneal = Interpolation::Linear;
  const PyTorchOneCycle t(three);
  EXPECT_TRUE(close(t.lr(9), 1.0 + (0.04 - 1.0) * 4.0 / 5.0));
  expect_invalid_argument([] { PyTorchOneCycle s(params(1.0, 10, 0.1)); }, {"pct_start", "10 steps", "divides by zero"});
  PyTorchOneCycleParams momenta = params(1.0, 10);
  momenta.base_momentum = 0.96;
  expect_invalid_argument([&] { PyTorchOneCycle s(momenta); }, {"base_momentum"});
  expect_invalid_argument([] { PyTorchOneCycle s(params(1.0, 1)); }, {"total_steps"});
}

}  // namespace
}  // namespace cyg::sched
