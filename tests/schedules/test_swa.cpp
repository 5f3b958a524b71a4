// SWALR (schedules/swa.h) against PyTorch's torch.optim.swa_utils.SWALR as it computes
// the lr, written out here: each step undoes the previous step's alpha to recover the lr
// it started from, then applies the new one, the step count starting at 0 when the
// scheduler is made; and against values worked out by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "schedules/swa.h"

namespace {

using cyg::sched::Interpolation;

// SWALR.get_lr() for a scheduler made when the group's lr was `lr` and stepped `steps`
// times after its construction (whose own step is step 0), recursion and all.
double torch_swalr(double lr, double swa_lr, int64_t anneal_epochs, bool cos, int64_t steps) {
  const auto anneal = [cos](double t) { return cos ? (1 - std::cos(M_PI * t)) / 2 : t; };
  double current = lr;
  for (int64_t count = 1; count <= steps + 1; ++count) {  // _step_count after each step()
    int64_t step = count - 1;
    if (anneal_epochs == 0) step = std::max<int64_t>(1, step);
    const double prev_t = std::max(0.0, std::min(1.0, (step - 1) / static_cast<double>(std::max<int64_t>(1, anneal_epochs))));
    const double prev_alpha = anneal(prev_t);
    const double start = prev_alpha == 1 ? swa_lr : (current - prev_alpha * swa_lr) / (1 - prev_alpha);
    const double t = std::max(0.0, std::min(1.0, step / static_cast<double>(std::max<int64_t>(1, anneal_epochs))));
    const double alpha = anneal(t);
    current = swa_lr * alpha + start * (1 - alpha);
  }
  return current;
}

TEST(Swalr, FollowsPyTorchsRecursionForEveryEpoch) {
  for (const bool cos : {true, false})
    for (const int64_t anneal : {0, 1, 3, 10})
      for (int64_t epoch = 0; epoch < 14; ++epoch) {
        const double want = torch_swalr(0.1, 0.02, anneal, cos, epoch);
        const double got =
            cyg::sched::swa_lr(0.1, 0.02, anneal, cos ? Interpolation::Cosine : Interpolation::Linear, epoch);
        EXPECT_NEAR(got, want, 1e-15) << (cos ? "cos" : "linear") << ", anneal " << anneal << ", epoch " << epoch;
      }
}

TEST(Swalr, StartsAtTheLrItWasMadeWithAndEndsAtSwaLr) {
  const Interpolation cos = Interpolation::Cosine, linear = Interpolation::Linear;
  // By hand: anneal over 4 epochs from 0.1 to 0.02; cos at t = 1/2 is halfway.
  EXPECT_DOUBLE_EQ(cyg::sched::swa_lr(0.1, 0.02, 4, cos, 0), 0.1);
  EXPECT_DOUBLE_EQ(cyg::sched::swa_lr(0.1, 0.02, 4, cos, 2), 0.06);
  EXPECT_DOUBLE_EQ(cyg::sched::swa_lr(0.1, 0.02, 4, linear, 1), 0.08);
  EXPECT_DOUBLE_EQ(cyg::sched::swa_lr(0.1, 0.02, 4, cos, 4), 0.02);
  EXPECT_DOUBLE_EQ(cyg::sched::swa_lr(0.1, 0.02, 4, cos, 9), 0.02);
  // anneal_epochs 0: swa_lr from the first epoch.
  EXPECT_DOUBLE_EQ(cyg::sched::swa_lr(0.1, 0.02, 0, cos, 0), 0.02);
  // The lr may rise to swa_lr too.
  EXPECT_DOUBLE_EQ(cyg::sched::swa_lr(0.01, 0.05, 2, linear, 1), 0.03);
}

TEST(Swalr, RefusesWhatSwalrCannotTake) {
  EXPECT_EQ(cyg::sched::anneal_of("linear"), Interpolation::Linear);
  EXPECT_EQ(cyg::sched::anneal_of("cos"), Interpolation::Cosine);
  EXPECT_THROW(cyg::sched::anneal_of("cosine"), std::invalid_argument);
  EXPECT_THROW(cyg::sched::swa_lr(0.1, -0.1, 2, Interpolation::Cosine, 0), std::invalid_argument);
  EXPECT_THROW(cyg::sched::swa_lr(NAN, 0.1, 2, Interpolation::Cosine, 0), std::invalid_argument);
  EXPECT_THROW(cyg::sched::swa_lr(0.1, 0.1, -1, Interpolation::Cosine, 0), std::invalid_argument);
  EXPECT_THROW(cyg::sched::swa_lr(0.1, 0.1, 2, Interpolation::Cosine, -1), std::invalid_argument);
}

}  // namespace
