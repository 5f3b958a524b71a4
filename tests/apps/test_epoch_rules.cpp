// Early stopping's rule (apps/common/epoch_rules.h) on hand-made histories, each
// decision worked out by hand from Lightning's EarlyStopping: an epoch improves when it
// beats the best by more than min_delta (a loss downwards, an accuracy upwards), the
// wait counts the epochs since, the run ends when it reaches the patience, and a value
// that is not finite ends it at once.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "apps/common/epoch_rules.h"

namespace {

using cyg::app::EarlyStoppingRule;
using cyg::app::EpochMetrics;
using cyg::app::early_stopping;

// Rows for epochs 1, 2, ... with `values` in the field `field`.
std::vector<EpochMetrics> history(const std::vector<double>& values, double EpochMetrics::*field) {
  std::vector<EpochMetrics> rows(values.size());
  for (size_t k = 0; k < values.size(); ++k) {
    rows[k].epoch = static_cast<int64_t>(k) + 1;
    rows[k].*field = values[k];
  }
  return rows;
}

EarlyStoppingRule rule(const std::string& monitor, int64_t patience, double min_delta = 0.0) {
  return {monitor, patience, min_delta};
}

TEST(EarlyStopping, ALossThatStopsImprovingEndsTheRunAfterThePatience) {
  const auto rows = history({1.0, 0.9, 0.95, 0.91, 0.89, 0.9, 0.9}, &EpochMetrics::val_loss);
  // Patience 2: epoch 2 is the best; 3 and 4 do not beat 0.9, so the run ends after 4.
  auto s = early_stopping(rows, rule("val_loss", 2), 7);
  EXPECT_EQ(s.stopped_epoch, 4);
  EXPECT_EQ(s.best_epoch, 2);
  EXPECT_EQ(s.best, 0.9);
  EXPECT_EQ(s.wait, 2);
  EXPECT_NE(s.reason.find("val_loss has not improved by more than 0 for 2 epochs (best 0.9 at epoch 2)"),
            std::string::npos)
      << s.reason;
  // Patience 3: epoch 5 (0.89) improves in time; 6 and 7 make a wait of 2, no stop.
  s = early_stopping(rows, rule("val_loss", 3), 7);
  EXPECT_EQ(s.stopped_epoch, 0);
  EXPECT_EQ(s.best_epoch, 5);
  EXPECT_EQ(s.wait, 2);
  // Patience 1 stops at the first epoch without an improvement.
  EXPECT_EQ(early_stopping(rows, rule("val_loss", 1), 7).stopped_epoch, 3);
}

TEST(EarlyStopping, AnEqualValueIsNoImprovement) {
  const auto rows = history({0.5, 0.5}, &EpochMetrics::val_loss);
  EXPECT_EQ(early_stopping(rows, rule("val_loss", 1), 2).stopped_epoch, 2);
  EXPECT_EQ(early_stopping(history({0.5, 0.5}, &EpochMetrics::val_acc), rule("val_acc", 1), 2).stopped_epoch, 2);
}

TEST(EarlyStopping, MinDeltaIsTheLeastImprovementThatCounts) {
  // A loss: 0.96 is within 0.05 of 1.0 (wait 1); 0.94 beats it by more (best, wait 0);
  // 0.93 is within 0.05 of 0.94 (wait 1).
  const auto loss = history({1.0, 0.96, 0.94, 0.93}, &EpochMetrics::val_loss);
  auto s = early_stopping(loss, rule("val_loss", 2, 0.05), 4);
  EXPECT_EQ(s.stopped_epoch, 0);
  EXPECT_EQ(s.best_epoch, 3);
  EXPECT_EQ(s.wait, 1);
  // An accuracy: upwards, by more than 0.1. 0.25 is not more than 0.1 above 0.2.
  const auto acc = history({0.2, 0.25, 0.35, 0.4}, &EpochMetrics::val_acc);
  s = early_stopping(acc, rule("val_acc", 2, 0.1), 4);
  EXPECT_EQ(s.best_epoch, 3);
  EXPECT_EQ(s.wait, 1);
  EXPECT_EQ(s.stopped_epoch, 0);
  EXPECT_EQ(early_stopping(acc, rule("val_acc", 1, 0.1), 4).stopped_epoch, 2);
}

TEST(EarlyStopping, AnAccuracyImprovesUpwards) {
  const auto rows = history({0.1, 0.3, 0.3, 0.2}, &EpochMetrics::val_acc);
  const auto s = early_stopping(rows, rule("val_acc", 2), 4);
  EXPECT_EQ(s.stopped_epoch, 4);
  EXPECT_EQ(s.best_epoch, 2);
  EXPECT_EQ(s.best, 0.3);
  // The same numbers as losses: epoch 1 stays the best, and epoch 3 ends the run.
  EXPECT_EQ(early_stopping(history({0.1, 0.3, 0.3, 0.2}, &EpochMetrics::val_loss), rule("val_loss", 2), 4).stopped_epoch,
            3);
}

TEST(EarlyStopping, AValueThatIsNotFiniteEndsTheRunAtOnce) {
  for (double bad : {NAN, INFINITY}) {
    const auto s = early_stopping(history({1.0, bad, 0.5}, &EpochMetrics::val_loss), rule("val_loss", 5), 3);
    EXPECT_EQ(s.stopped_epoch, 2) << bad;
    EXPECT_EQ(s.best_epoch, 1);
    EXPECT_NE(s.reason.find("not finite"), std::string::npos) << s.reason;
  }
  EXPECT_EQ(early_stopping(history({NAN}, &EpochMetrics::val_loss), rule("val_loss", 5), 1).stopped_epoch, 1);
}

TEST(EarlyStopping, OnlyCompleteEpochsAndNothingAfterTheStopCount) {
  const auto rows = history({1.0, 2.0, 3.0, 0.1}, &EpochMetrics::val_loss);
  // Epoch 3's row is a partial epoch's (2 complete): one epoch of waiting, no stop.
  auto s = early_stopping(rows, rule("val_loss", 2), 2);
  EXPECT_EQ(s.stopped_epoch, 0);
  EXPECT_EQ(s.wait, 1);
  // Stopped after epoch 3: epoch 4's better value is not looked at.
  s = early_stopping(rows, rule("val_loss", 2), 4);
  EXPECT_EQ(s.stopped_epoch, 3);
  EXPECT_EQ(s.best_epoch, 1);
  EXPECT_EQ(early_stopping({}, rule("val_loss", 2), 0).best_epoch, 0);
}

TEST(EarlyStopping, PatienceZeroIsOff) {
  const auto s = early_stopping(history({1.0, NAN, 2.0}, &EpochMetrics::val_loss), rule("val_loss", 0), 3);
  EXPECT_EQ(s.stopped_epoch, 0);
  EXPECT_EQ(s.best_epoch, 0);
}

TEST(EarlyStopping, TheAveragedWeightsMetricsAreTheirOwnColumns) {
  auto rows = history({1.0, 0.5, 0.4}, &EpochMetrics::val_loss);
  const double ema[] = {0.9, 0.95, 0.97};
  for (size_t k = 0; k < 3; ++k) rows[k].ema_val_loss = ema[k];
  EXPECT_EQ(early_stopping(rows, rule("val_loss", 2), 3).stopped_epoch, 0);
  const auto s = early_stopping(rows, rule("ema_val_loss", 2), 3);
  EXPECT_EQ(s.stopped_epoch, 3);
  EXPECT_EQ(s.best, 0.9);
  for (auto& row : rows) row.ema_val_acc = 0.5;
  EXPECT_EQ(early_stopping(rows, rule("ema_val_acc", 2), 3).stopped_epoch, 3);
  EXPECT_EQ(early_stopping(rows, rule("val_acc", 5), 3).best, 0.0) << "val_acc left at its default, 0";
}

// A run's plateau schedule from its rows: the monitor's direction, the keys mapped to
// PyTorch's arguments, partial epochs left out, and what a finished run reports.
TEST(PlateauOfARun, TheRunsKeysAndRowsReachTheRule) {
  cyg::app::RunConfig c;
  c.schedule.name = "plateau";
  c.optimizer.lr = 0.1;
  c.schedule.plateau_patience = 0;
  c.schedule.plateau_factor = 0.5;
  c.schedule.plateau_threshold = 0;
  c.schedule.plateau_monitor = "val_acc";
  // A rising accuracy never cuts; the same numbers as a loss cut after each epoch but the first.
  auto rows = history({0.1, 0.2, 0.3, 0.4}, &EpochMetrics::val_acc);
  for (auto& row : rows) row.val_loss = row.val_acc;
  EXPECT_TRUE(cyg::app::plateau_cuts(rows, c, 4, false).after_epochs.empty());
  c.schedule.plateau_monitor = "val_loss";
  EXPECT_EQ(cyg::app::plateau_cuts(rows, c, 4, false).after_epochs, (std::vector<int64_t>{2, 3, 4}));
  // A finished run: no epoch takes the cut after its last; the last epoch trained at 0.025.
  const auto finished = cyg::app::plateau_cuts(rows, c, 4, true);
  EXPECT_EQ(finished.after_epochs, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(finished.last_lr, 0.025);
  // Epoch 4's row is a partial epoch's: it does not count.
  EXPECT_EQ(cyg::app::plateau_cuts(rows, c, 3, false).after_epochs, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(cyg::app::plateau_scale(rows, c, 1), 1.0);
  EXPECT_EQ(cyg::app::plateau_scale(rows, c, 3), 0.5) << "the lr of epoch 3: cut after epoch 2";
  // Cooldown and min_lr reach the rule: epoch 2 cuts to 0.05, 3 and 4 cool down.
  c.schedule.plateau_cooldown = 2;
  c.schedule.min_lr = 0.04;
  EXPECT_EQ(cyg::app::plateau_cuts(rows, c, 4, false).after_epochs, (std::vector<int64_t>{2}));
  c.schedule.plateau_cooldown = 0;
  const auto floor = cyg::app::plateau_history(rows, c, 4);
  EXPECT_EQ(floor[2].lr, 0.04) << "0.025 is below min_lr";
  EXPECT_FALSE(floor[3].reduced);
  // Another schedule: no rule, a scale of 1.
  c.schedule.name = "constant";
  EXPECT_TRUE(cyg::app::plateau_history(rows, c, 4).empty());
  EXPECT_EQ(cyg::app::plateau_scale(rows, c, 4), 1.0);
}

}  // namespace
