// Reduce on plateau (schedules/plateau.h) on hand-made metric histories, each lr worked
// out by hand from PyTorch's ReduceLROnPlateau: an epoch is bad unless it beats the best
// by the threshold; more than `patience` bad epochs in a row reduce the lr by `factor`
// (not below min_lr, and not by less than eps), then `cooldown` epochs count no bad ones.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "schedules/plateau.h"

namespace {

using cyg::sched::PlateauParams;
using cyg::sched::plateau_lrs;

std::vector<double> lrs(double lr, const std::vector<double>& metrics, const PlateauParams& p) {
  std::vector<double> out;
  for (const auto& e : plateau_lrs(lr, metrics, p)) out.push_back(e.lr);
  return out;
}

TEST(Plateau, MoreBadEpochsThanThePatienceReduceTheLr) {
  PlateauParams p;
  p.patience = 2;
  p.factor = 0.5;
  p.threshold = 0;
  // Epoch 2 is the best; 3, 4 and 5 are bad: the third of them (> 2) reduces the lr,
  // which epoch 6 takes. Then the count starts again: 6, 7, 8 bad, 8 reduces again.
  const std::vector<double> loss = {1.0, 0.9, 0.95, 0.9, 0.92, 0.93, 0.95, 0.91, 0.5};
  EXPECT_EQ(lrs(1.0, loss, p), (std::vector<double>{1, 1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25}));
  const auto epochs = plateau_lrs(1.0, loss, p);
  EXPECT_FALSE(epochs[3].reduced);
  EXPECT_TRUE(epochs[4].reduced);
  EXPECT_TRUE(epochs[7].reduced);
  // Patience 0: every bad epoch reduces.
  p.patience = 0;
  EXPECT_EQ(lrs(1.0, {1.0, 2.0, 3.0, 0.5}, p), (std::vector<double>{1, 0.5, 0.25, 0.25}));
}

TEST(Plateau, TheThresholdIsRelativeOrAbsolute) {
  PlateauParams p;
  p.patience = 0;
  p.factor = 0.1;
  p.threshold = 0.1;
  // From a best of 2: relative, an improvement is below 2 * 0.9 = 1.8; absolute, below
  // 2 - 0.1 = 1.9. 1.85 is one in abs mode only.
  EXPECT_EQ(lrs(1.0, {2.0, 1.85}, p), (std::vector<double>{1, 0.1}));
  EXPECT_EQ(lrs(1.0, {2.0, 1.75}, p), (std::vector<double>{1, 1}));
  p.relative = false;
  EXPECT_EQ(lrs(1.0, {2.0, 1.85}, p), (std::vector<double>{1, 1}));
  EXPECT_EQ(lrs(1.0, {2.0, 1.95}, p), (std::vector<double>{1, 0.1}));
  const auto best = plateau_lrs(1.0, {2.0, 1.85, 1.9}, p);
  EXPECT_EQ(best[2].best, 1.85);
  EXPECT_EQ(best[2].best_epoch, 2);
  // An accuracy (mode max): 0.55 is not above 0.5 + 0.1, 0.61 is; relative: above 0.5 * 1.1.
  // An accuracy (mode max), from a best of 0.5: absolute, above 0.6; relative, above 0.55.
  p.lower_is_better = false;
  EXPECT_EQ(lrs(1.0, {0.5, 0.58}, p), (std::vector<double>{1, 0.1}));
  EXPECT_EQ(lrs(1.0, {0.5, 0.61, 0.4}, p), (std::vector<double>{1, 1, 0.1}));
  p.relative = true;
  EXPECT_EQ(lrs(1.0, {0.5, 0.58}, p), (std::vector<double>{1, 1}));
  EXPECT_EQ(lrs(1.0, {0.5, 0.54}, p), (std::vector<double>{1, 0.1}));
}

TEST(Plateau, NoBadEpochCountsDuringTheCooldown) {
  PlateauParams p;
  p.patience = 0;
  p.factor = 0.5;
  p.threshold = 0;
  p.cooldown = 2;
  // Epoch 2 reduces (lr 0.5); epochs 3 and 4 are the cooldown; epoch 5 reduces again.
  EXPECT_EQ(lrs(1.0, {1, 2, 2, 2, 2, 2}, p), (std::vector<double>{1, 0.5, 0.5, 0.5, 0.25, 0.25}));
}

TEST(Plateau, TheLrStopsAtMinLrAndTinyReductionsAreNotMade) {
  PlateauParams p;
  p.patience = 0;
  p.factor = 0.1;
  p.min_lr = 5e-4;
  const auto epochs = plateau_lrs(1e-3, {1, 2, 3}, p);
  EXPECT_EQ(epochs[1].lr, 5e-4);
  EXPECT_TRUE(epochs[1].reduced);
  EXPECT_EQ(epochs[2].lr, 5e-4);
  EXPECT_FALSE(epochs[2].reduced) << "at min_lr: no reduction left";
  p.min_lr = 0;
  p.eps = 1e-3;
  EXPECT_EQ(lrs(1e-3, {1, 2}, p), (std::vector<double>{1e-3, 1e-3})) << "a reduction of 9e-4 is below eps";
}

TEST(Plateau, ANanIsNeverAnImprovement) {
  PlateauParams p;
  p.patience = 1;
  p.factor = 0.5;
  EXPECT_EQ(lrs(1.0, {NAN, NAN, 1.0}, p), (std::vector<double>{1, 0.5, 0.5}));
  EXPECT_TRUE(plateau_lrs(1.0, {}, p).empty());
}

TEST(Plateau, ParametersOutOfRangeAreNamed) {
  PlateauParams p;
  p.factor = 1.0;
  try {
    plateau_lrs(1.0, {1.0}, p);
    FAIL() << "factor 1 accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("factor"), std::string::npos) << e.what();
  }
  p.factor = 0.1;
  p.patience = -1;
  EXPECT_THROW(plateau_lrs(1.0, {1.0}, p), std::invalid_argument);
  p.patience = 1;
  p.threshold = NAN;
  EXPECT_THROW(plateau_lrs(1.0, {1.0}, p), std::invalid_argument);
}

}  // namespace
