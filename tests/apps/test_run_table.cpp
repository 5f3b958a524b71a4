// Tests of cyg::runs: run directories written here (two 1cycle runs and an Adam
// baseline) read back into the exact Table I text, and bad inputs named in errors; and
// of the run tables' record types: headers, row text, reading back.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "apps/common/run_records.h"
#include "apps/common/run_table.h"
#include "tests/error_of.h"
#include "tests/scratch_dir.h"

namespace {

namespace fs = std::filesystem;

// metrics.csv's header, from its record type's column list.
const std::string kHeader = cyg::app::csv_header<cyg::app::EpochMetrics>() + "\n";

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

// A fresh folder per test, so tests don't share files.
fs::path fresh_dir(const std::string& name) {
  static const cyg::test::ScratchDir scratch("runs");
  return scratch.fresh(name);
}

// cycle_momentum false: the momentum stays at optimizer.momentum (0.9).
fs::path write_one_cycle(const fs::path& dir, const std::string& name, const std::string& lr_min,
                         const std::string& lr_max, const std::string& epochs, const std::string& final_loss,
                         const std::string& final_acc, bool cycle_momentum = true, int seed = 0) {
  fs::create_directories(dir);
  write(dir / "config.yaml", "seed: " + std::to_string(seed) + "\nname: " + name +
                                 "\n"
                                 "optimizer:\n  name: sgd\n  lr: " + lr_min +
                                 "\n  momentum: 0.9\n"
                                 "schedule:\n  name: one_cycle\n  lr_min: " + lr_min + "\n  lr_max: " + lr_max +
                                 "\n  momentum_min: 0.85\n  momentum_max: 0.95\n  anneal_percent: 10\n"
                                 "  cycle_momentum: " + (cycle_momentum ? "true" : "false") +
                                 "\n"
                                 "train:\n  epochs: " + epochs + "\n  batch_size: 128\n");
  write(dir / "metrics.csv", kHeader +
                                 "1,391," + lr_min + ",0.95,1.9,0.31,1.7,0.38,12.5,4000\n"
                                 "2,782," + lr_max + ",0.85,1.2,0.57,1.1,0.61,12.1,4100\n");
  write(dir / "summary.json", "{\"final_val_loss\": " + final_loss + ", \"final_val_acc\": " + final_acc +
                                  ", \"best_val_acc\": 0.9, \"total_seconds\": 24.6}\n");
  return dir;
}

fs::path write_adam(const fs::path& dir) {
  fs::create_directories(dir);
  // As the trainer writes it: every schedule key, the unused 1cycle defaults included.
  write(dir / "config.yaml",
        "name: \"adam_baseline\"\n"
        "optimizer:\n  name: \"adam\"\n  lr: 0.001\n  momentum: 0.9\n  beta2: 0.999\n"
        "schedule:\n  name: \"constant\"\n  lr_min: 0.001\n  lr_max: 0.01\n  momentum_min: 0.85\n"
        "  momentum_max: 0.95\n  anneal_percent: 10\n  cycle_momentum: true\n"
        "train:\n  epochs: 90\n");
  write(dir / "metrics.csv", kHeader + "1,391,0.001,0.9,1.5,0.45,1.3,0.52,11.0,4500\n");
  write(dir / "summary.json", "{\"final_val_loss\": 0.0123456, \"final_val_acc\": 0.83544, \"best_val_acc\": 0.84}");
  return dir;
}

// The three runs of the table test, in table order.
std::vector<fs::path> write_three_runs(const fs::path& root) {
  return {write_one_cycle(root / "run1", "onecycle_a", "0.001", "0.01", "90", "0.004281", "0.8442"),
          write_one_cycle(root / "run2", "onecycle_b", "0.1", "3", "50", "0.0046459", "0.80178", false),
          write_adam(root / "adam")};
}

using cyg::test::error_of;

TEST(RunTable, ReadsARunDirectory) {
  const fs::path dir = write_one_cycle(fresh_dir("read") / "r", "onecycle_a", "0.001", "0.01", "90", "0.004281",
                                       "0.8442");
  const cyg::runs::RunRecord run = cyg::runs::read_run(dir.string());
  EXPECT_EQ(run.name, "onecycle_a");
  EXPECT_EQ(run.optimizer, "sgd");
  EXPECT_EQ(run.lr_min, 0.001);
  EXPECT_EQ(run.lr_max, 0.01);
  EXPECT_EQ(run.momentum_min, 0.85);
  EXPECT_EQ(run.momentum_max, 0.95);
  EXPECT_EQ(run.anneal_percent, 10.0);
  EXPECT_EQ(run.epochs, 90);
  ASSERT_EQ(run.metrics.size(), 2u);
  EXPECT_EQ(run.metrics[1].epoch, 2);
  EXPECT_EQ(run.metrics[1].step, 782);
  EXPECT_EQ(run.metrics[1].lr, 0.01);
  EXPECT_EQ(run.metrics[1].momentum, 0.85);
  EXPECT_EQ(run.metrics[1].train_acc, 0.57);
  EXPECT_EQ(run.metrics[1].val_acc, 0.61);
  EXPECT_EQ(run.metrics[1].images_per_second, 4100.0);
  EXPECT_EQ(run.final_val_loss, 0.004281);
  EXPECT_EQ(run.final_val_acc, 0.8442);
  EXPECT_EQ(run.best_val_acc, 0.9);

  const cyg::runs::RunRecord adam = cyg::runs::read_run(write_adam(fresh_dir("read_adam") / "a").string());
  EXPECT_EQ(adam.optimizer, "adam");
  EXPECT_EQ(adam.schedule, "constant");
  EXPECT_EQ(adam.optimizer_lr, 0.001);
  EXPECT_FALSE(adam.lr_min.has_value());
  EXPECT_FALSE(adam.momentum_max.has_value());
  EXPECT_FALSE(adam.anneal_percent.has_value());
}

TEST(RunTable, MarkdownMatchesTheSeedLayout) {
  std::vector<cyg::runs::RunRecord> runs;
  for (const fs::path& dir : write_three_runs(fresh_dir("table"))) runs.push_back(cyg::runs::read_run(dir.string()));
  const std::string expected =
      "| Run           | LR min | LR max | Mom min | Mom max | Ann % | Epochs | Val loss | Val acc | Report's acc |\n"
      "|:--------------|-------:|-------:|--------:|--------:|------:|-------:|---------:|--------:|-------------:|\n"
      "| onecycle_a    |  0.001 |   0.01 |    0.85 |    0.95 |    10 |     90 | 0.004281 |  0.8442 |       0.8442 |\n"
      "| onecycle_b    |    0.1 |      3 |     0.9 |     0.9 |    10 |     50 | 0.004646 |  0.8018 |            — |\n"
      "| adam_baseline |  0.001 |  0.001 |       — |       — |     — |     90 | 0.012346 |  0.8354 |       0.8354 |\n";
  EXPECT_EQ(cyg::runs::table_markdown(runs), expected);
}

// The cells are plain text; each format escapes them its own way (Markdown's \| here).
// The report's number needs the report's optimizer and, for the Adam baseline, its 90
// epochs.
TEST(RunTable, CellsArePlainTextAndTheReportMatchesItsSettings) {
  cyg::runs::RunRecord run;
  run.name = "a|b";
  run.optimizer = "sgd";
  run.schedule = "one_cycle";
  run.lr_min = 0.01, run.lr_max = 0.1, run.momentum_min = 0.85, run.momentum_max = 0.95, run.anneal_percent = 10;
  run.epochs = 70;
  EXPECT_EQ(cyg::runs::report_accuracy(run), 0.8813);
  EXPECT_EQ(cyg::runs::table_cells({run})[1][0], "a|b");
  EXPECT_NE(cyg::runs::table_markdown({run}).find("a\\|b"), std::string::npos);
  run.optimizer = "adam";
  EXPECT_FALSE(cyg::runs::report_accuracy(run).has_value()) << "Table I's runs are SGD";
  cyg::runs::RunRecord adam;
  adam.optimizer = "adam";
  adam.schedule = "constant";
  adam.optimizer_lr = 1e-3;
  adam.epochs = 3;
  EXPECT_FALSE(cyg::runs::report_accuracy(adam).has_value()) << "the baseline ran 90 epochs";
  adam.epochs = 90;
  EXPECT_EQ(cyg::runs::report_accuracy(adam), 0.8354);
}

// A run that stopped before its end (interrupted, out of time, train.max_steps) shows the
// epochs it completed beside those configured; a finished one, and an older record
// without the key, the configured ones alone.
TEST(RunTable, AnUnfinishedRunShowsTheEpochsItCompleted) {
  const fs::path root = fresh_dir("unfinished");
  const fs::path dir = write_one_cycle(root / "r", "row3", "0.01", "0.1", "70", "5.1", "0.4961");
  auto with_completed = [&](const std::string& value) {
    write(dir / "summary.json", "{\"final_val_loss\": 5.1, \"final_val_acc\": 0.4961, \"best_val_acc\": 0.97, "
                                "\"epochs_completed\": " + value + "}\n");
    return cyg::runs::read_run(dir.string());
  };
  const cyg::runs::RunRecord unfinished = with_completed("13");
  EXPECT_EQ(unfinished.epochs_completed, 13);
  EXPECT_EQ(cyg::runs::table_cells({unfinished})[1][6], "13 of 70");
  EXPECT_NE(cyg::runs::table_markdown({unfinished}).find("| 13 of 70 |"), std::string::npos);
  EXPECT_EQ(cyg::runs::table_cells({with_completed("70")})[1][6], "70");
  EXPECT_EQ(cyg::runs::table_cells({cyg::runs::read_run(write_adam(root / "adam").string())})[1][6], "90");
  const std::string bad = error_of([&] { with_completed("2.5"); });
  EXPECT_NE(bad.find("'epochs_completed' should be a whole number of epochs, got 2.5"), std::string::npos) << bad;
}

// A run killed before its first epoch has its config and no records: a row that says so,
// the other runs tabled and drawn beside it. One of the two records alone stays an error
// (MissingMetricsIsNamed).
TEST(RunTable, ARunThatRecordedNoEpochIsARowOfItsOwn) {
  const fs::path root = fresh_dir("no_epoch");
  write_three_runs(root);
  const fs::path dir = write_one_cycle(root / "run0", "killed", "0.01", "0.1", "70", "0", "0");
  fs::remove(dir / "metrics.csv");
  fs::remove(dir / "summary.json");
  std::vector<cyg::runs::RunRecord> runs;
  for (const std::string& d : cyg::runs::find_run_dirs({root.string()})) runs.push_back(cyg::runs::read_run(d));
  ASSERT_EQ(runs.size(), 4u);
  EXPECT_EQ(runs[1].name, "killed");
  EXPECT_EQ(runs[1].epochs_completed, 0);
  EXPECT_TRUE(runs[1].metrics.empty());
  const auto cells = cyg::runs::table_cells(runs);
  EXPECT_EQ(cells[2][6], "0 of 70");
  EXPECT_EQ(cells[2][7], "—");
  EXPECT_EQ(cells[2][8], "—");
  EXPECT_EQ(cells[2][9], "0.8813") << "the report's number for the row's settings";
  EXPECT_EQ(cells[3][8], "0.8442") << "the other runs keep their values";
  const std::string svg = cyg::plot::render_svg(cyg::runs::accuracy_overlay(runs));
  EXPECT_NE(svg.find("onecycle_a"), std::string::npos);

  // Stopped (Ctrl-C) during its first epoch: a summary without values, the same row.
  write(dir / "metrics.csv", kHeader);
  write(dir / "summary.json", "{\"app\": \"onecycle\", \"epochs_completed\": 0, \"stopped_early\": false}\n");
  const cyg::runs::RunRecord stopped = cyg::runs::read_run(dir.string());
  EXPECT_FALSE(stopped.recorded);
  EXPECT_EQ(cyg::runs::table_cells({stopped})[1][6], "0 of 70");
  EXPECT_EQ(cyg::runs::table_cells({stopped})[1][8], "—");
  // Stopped within its first epoch after values were recorded (train.max_steps): shown.
  write(dir / "summary.json", "{\"epochs_completed\": 0, \"final_val_loss\": 2.3, \"final_val_acc\": 0.1016, "
                              "\"best_val_acc\": 0.1016}\n");
  EXPECT_EQ(cyg::runs::table_cells({cyg::runs::read_run(dir.string())})[1][8], "0.1016");
  // A range test killed before its summary is no Table I run.
  const fs::path range_test = root / "lr_find_killed";
  fs::create_directories(range_test);
  fs::copy_file(dir / "config.yaml", range_test / "config.yaml");
  write(range_test / "train.log", "lr_find 'range-test': resnet18 on synthetic\n");
  EXPECT_EQ(cyg::runs::find_run_dirs({root.string()}).size(), 4u);
}

// Runs that kept a moving average of their weights (train.ema_decay): its final accuracy
// from summary.json gets a column before the report's, a row's mean ± sd over its seeds,
// "—" for a run without one, "nan" for one whose average diverged; the CSV gains
// ema_val_acc_mean/_sd/_runs. Tables without such a run keep their columns (the next test).
TEST(RunTable, AveragedWeightsGetAColumnWhereARunKeptThem) {
  const fs::path root = fresh_dir("averaged");
  auto with_average = [](const fs::path& dir, const std::string& acc) {
    std::string summary = read_text(dir / "summary.json");
    summary.insert(summary.rfind('}'), ", \"final_ema_val_acc\": " + acc);
    write(dir / "summary.json", summary);
    return dir;
  };
  std::vector<cyg::runs::RunRecord> runs;
  runs.push_back(cyg::runs::read_run(
      with_average(write_one_cycle(root / "s0", "row3", "0.01", "0.1", "70", "1", "0.80", true, 0), "0.86").string()));
  runs.push_back(cyg::runs::read_run(
      with_average(write_one_cycle(root / "s1", "row3", "0.01", "0.1", "70", "2", "0.82", true, 1), "0.88").string()));
  runs.push_back(cyg::runs::read_run(
      write_one_cycle(root / "plain", "row4", "0.01", "0.1", "50", "9", "0.5", true, 0).string()));
  EXPECT_EQ(runs[0].final_ema_val_acc, 0.86);
  EXPECT_TRUE(std::isnan(runs[2].final_ema_val_acc));
  const auto groups = cyg::runs::group_by_settings(runs);
  ASSERT_EQ(groups.size(), 2u);
  const auto cells = cyg::runs::grouped_table_cells(groups);
  ASSERT_EQ(cells[0].size(), 11u);
  EXPECT_EQ(cells[0][9], "EMA val acc");
  EXPECT_EQ(cells[0][10], "Report's acc");
  EXPECT_EQ(cells[1][8], "0.8100 ± 0.0141");
  EXPECT_EQ(cells[1][9], "0.8700 ± 0.0141");
  EXPECT_EQ(cells[1][10], "0.8813");
  EXPECT_EQ(cells[2][9], "—");
  const std::string csv = cyg::runs::grouped_table_csv(groups);
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "run,runs,lr_min,lr_max,momentum_min,momentum_max,anneal_percent,epochs,epochs_completed,"
            "val_loss_mean,val_loss_sd,val_loss_runs,val_acc_mean,val_acc_sd,val_acc_runs,"
            "ema_val_acc_mean,ema_val_acc_sd,ema_val_acc_runs,report_val_acc");
  EXPECT_NE(csv.find(",2,0.87,0.01414213562373"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\nrow4,1,0.01,0.1,0.85,0.95,10,50,50,9,,1,0.5,,1,,,0,\n"), std::string::npos) << csv;
  // A run whose average diverged (null in its summary) kept one: "nan", as its other values.
  runs.push_back(cyg::runs::read_run(
      with_average(write_one_cycle(root / "diverged", "row5", "0.01", "0.1", "30", "9", "0.5", true, 0), "null")
          .string()));
  EXPECT_TRUE(runs.back().kept_average);
  EXPECT_FALSE(runs[2].kept_average);
  const auto with_diverged = cyg::runs::grouped_table_cells(cyg::runs::group_by_settings(runs));
  ASSERT_EQ(with_diverged.size(), 4u);
  EXPECT_EQ(with_diverged[3][9], "nan");
}

// Runs that kept stochastic weight averaging's average (train.swa_start_epoch): its
// accuracy from summary.json's swa object gets a column before the report's, a row's mean
// ± sd over its seeds, "—" for a run without one or one that has not evaluated it (null);
// the CSV gains swa_val_acc_mean/_sd/_runs. A swa entry of the wrong shape is an error.
TEST(RunTable, StochasticWeightAveragingGetsAColumnWhereARunKeptIt) {
  const fs::path root = fresh_dir("swa");
  auto with_swa = [](const fs::path& dir, const std::string& acc) {
    std::string summary = read_text(dir / "summary.json");
    summary.insert(summary.rfind('}'), ", \"swa\": {\"start_epoch\": 5, \"val_acc\": " + acc + "}");
    write(dir / "summary.json", summary);
    return dir;
  };
  std::vector<cyg::runs::RunRecord> runs;
  runs.push_back(cyg::runs::read_run(
      with_swa(write_one_cycle(root / "s0", "row3", "0.01", "0.1", "70", "1", "0.80", true, 0), "0.90").string()));
  runs.push_back(cyg::runs::read_run(
      with_swa(write_one_cycle(root / "s1", "row3", "0.01", "0.1", "70", "2", "0.82", true, 1), "0.94").string()));
  runs.push_back(cyg::runs::read_run(
      write_one_cycle(root / "plain", "row4", "0.01", "0.1", "50", "9", "0.5", true, 0).string()));
  runs.push_back(cyg::runs::read_run(
      with_swa(write_one_cycle(root / "pending", "row5", "0.01", "0.1", "30", "9", "0.5", true, 0), "null").string()));
  EXPECT_TRUE(runs[0].kept_swa);
  EXPECT_EQ(runs[1].swa_val_acc, 0.94);
  EXPECT_FALSE(runs[2].kept_swa);
  EXPECT_TRUE(runs[3].kept_swa);
  EXPECT_TRUE(std::isnan(runs[3].swa_val_acc));
  const auto groups = cyg::runs::group_by_settings(runs);
  ASSERT_EQ(groups.size(), 3u);
  const auto cells = cyg::runs::grouped_table_cells(groups);
  ASSERT_EQ(cells[0].size(), 11u);
  EXPECT_EQ(cells[0][9], "SWA val acc");
  EXPECT_EQ(cells[1][9], "0.9200 ± 0.0283");
  EXPECT_EQ(cells[2][9], "—");
  EXPECT_EQ(cells[3][9], "—") << "not evaluated yet";
  const std::string csv = cyg::runs::grouped_table_csv(groups);
  EXPECT_NE(csv.find("val_acc_runs,swa_val_acc_mean,swa_val_acc_sd,swa_val_acc_runs,report_val_acc\n"),
            std::string::npos)
      << csv;
  EXPECT_NE(csv.find(",2,0.91999999999999993,0.028284271247461849,2,0.8813\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\nrow5,1,0.01,0.1,0.85,0.95,10,30,30,9,,1,0.5,,1,,,0,\n"), std::string::npos) << csv;

  const fs::path bad = with_swa(write_one_cycle(root / "bad", "row6", "0.01", "0.1", "30", "9", "0.5", true, 0),
                                "\"high\"");
  EXPECT_NE(error_of([&] { cyg::runs::read_run(bad.string()); })
                .find("'swa.val_acc' should be an accuracy or null, got \"high\""),
            std::string::npos);
}

// A row over seeds: runs that differ in their seed (and name, folder) alone share a row
// with the mean and sample standard deviation of their final loss and accuracy; a run of
// other settings keeps its own row, in the order of each row's first run. Values here:
// accuracies 0.80, 0.82, 0.84 (mean 0.82, sd 0.02), losses 1, 2, 3 (mean 2, sd 1).
TEST(RunTable, RunsOverSeedsShareARowWithMeanAndStandardDeviation) {
  const fs::path root = fresh_dir("seeds");
  std::vector<cyg::runs::RunRecord> runs;
  runs.push_back(cyg::runs::read_run(
      write_one_cycle(root / "s0", "row3", "0.01", "0.1", "70", "1", "0.80", true, 0).string()));
  runs.push_back(cyg::runs::read_run(
      write_one_cycle(root / "other", "row3", "0.01", "0.1", "50", "9", "0.5", true, 1).string()));
  runs.push_back(cyg::runs::read_run(
      write_one_cycle(root / "s1", "row3-seed1", "0.01", "0.1", "70", "2", "0.82", true, 1).string()));
  runs.push_back(cyg::runs::read_run(
      write_one_cycle(root / "s2", "row3", "0.01", "0.1", "70", "3", "0.84", true, 2).string()));
  EXPECT_EQ(runs[2].seed, 1);
  EXPECT_EQ(runs[0].settings, runs[2].settings);
  EXPECT_NE(runs[0].settings, runs[1].settings) << "70 epochs against 50";

  const auto groups = cyg::runs::group_by_settings(runs);
  ASSERT_EQ(groups.size(), 2u);
  ASSERT_EQ(groups[0].size(), 3u);
  EXPECT_EQ(groups[0][1].dir, (root / "s1").string());
  const auto cells = cyg::runs::grouped_table_cells(groups);
  EXPECT_EQ(cells[1][0], "row3, row3-seed1 (3 seeds)") << "each name once";
  EXPECT_EQ(cells[1][6], "70");
  EXPECT_EQ(cells[1][7], "2.000000 ± 1.000000");
  EXPECT_EQ(cells[1][8], "0.8200 ± 0.0200");
  EXPECT_EQ(cells[1][9], "0.8813") << "the report's number for the row's settings";
  EXPECT_EQ(cells[2][0], "row3 (seed 1)") << "a name another row has too";
  EXPECT_EQ(cells[2][8], "0.5000");
  EXPECT_NE(cyg::runs::grouped_table_markdown(groups).find("| row3, row3-seed1 (3 seeds) |"), std::string::npos);
  // The same rows as CSV: every digit, empty where there is none (one run: no sd).
  const std::string csv = cyg::runs::grouped_table_csv(groups);
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "run,runs,lr_min,lr_max,momentum_min,momentum_max,anneal_percent,epochs,epochs_completed,"
            "val_loss_mean,val_loss_sd,val_loss_runs,val_acc_mean,val_acc_sd,val_acc_runs,report_val_acc");
  const std::string grouped = "\n\"row3, row3-seed1 (3 seeds)\",3,0.01,0.1,0.85,0.95,10,70,70,2,1,3,0.82,";
  const size_t at = csv.find(grouped);
  ASSERT_NE(at, std::string::npos) << csv;
  const std::string rest = csv.substr(at + grouped.size(), csv.find('\n', at + 1) - at - grouped.size());
  EXPECT_NEAR(std::stod(rest), 0.02, 1e-15) << rest;  // the sd, to the last digit a double has
  EXPECT_EQ(rest.substr(rest.find(',')), ",3,0.8813") << rest;
  EXPECT_NE(csv.find("\nrow3,1,0.01,0.1,0.85,0.95,10,50,50,9,,1,0.5,,1,\n"), std::string::npos) << csv;

  // A seed repeated (a run repeated to see that it reproduces): runs, not seeds.
  std::vector<cyg::runs::RunRecord> twice = {runs[0], runs[0]};
  EXPECT_EQ(cyg::runs::grouped_table_cells(cyg::runs::group_by_settings(twice))[1][0], "row3 (2 runs)");
  // One run per row, as before grouping.
  EXPECT_EQ(cyg::runs::table_cells(runs).size(), 5u);

  // A diverged run (null in its summary), and a run stopped early with values: the
  // values of the runs that went as far as the furthest, "(k of n)" after.
  write(root / "s2" / "summary.json", "{\"final_val_loss\": null, \"final_val_acc\": null, \"best_val_acc\": 0.3}\n");
  runs[3] = cyg::runs::read_run((root / "s2").string());
  const auto diverged = cyg::runs::grouped_table_cells(cyg::runs::group_by_settings(runs));
  EXPECT_EQ(diverged[1][6], "70");
  EXPECT_EQ(diverged[1][7], "1.500000 ± 0.707107 (2 of 3)");
  EXPECT_EQ(diverged[1][8], "0.8100 ± 0.0141 (2 of 3)");
  write(root / "s2" / "summary.json", "{\"final_val_loss\": 7, \"final_val_acc\": 0.3, \"best_val_acc\": 0.3, "
                                      "\"epochs_completed\": 12}\n");
  runs[3] = cyg::runs::read_run((root / "s2").string());
  const auto stopped = cyg::runs::grouped_table_cells(cyg::runs::group_by_settings(runs));
  EXPECT_EQ(stopped[1][6], "70");
  EXPECT_EQ(stopped[1][8], "0.8100 ± 0.0141 (2 of 3)") << "the run stopped at epoch 12 is not averaged in";

  // Where the data lives is not the experiment; a run cut short by train.max_steps is.
  const auto with_line = [&](const fs::path& dir, const std::string& line) {
    std::ifstream in(dir / "config.yaml");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    write(dir / "config.yaml", text + line + "\n");
    return cyg::runs::read_run(dir.string());
  };
  const cyg::runs::RunRecord elsewhere = with_line(
      write_one_cycle(root / "s5", "row3", "0.01", "0.1", "70", "1", "0.80", true, 5), "data: {root: /staged/cifar}");
  EXPECT_EQ(elsewhere.settings, runs[0].settings);
  // (train.max_steps written beside the train: mapping: a key given twice is refused.)
  const cyg::runs::RunRecord cut = with_line(
      write_one_cycle(root / "s6", "row3", "0.01", "0.1", "70", "1", "0.80", true, 6), "train.max_steps: 4");
  ASSERT_EQ(cut.epochs, 70) << "train.max_steps adds to the train: mapping";
  EXPECT_NE(cut.settings, runs[0].settings);

  // The overlay: a line per run. By row, a row's runs share a colour and one legend
  // entry; run by run, runs of one name are told apart by their seed.
  const cyg::plot::Chart rows = cyg::runs::grouped_accuracy_overlay(cyg::runs::group_by_settings(runs));
  ASSERT_EQ(rows.series.size(), 4u);
  EXPECT_EQ(rows.series[0].name, "row3, row3-seed1 (3 seeds)");
  EXPECT_EQ(rows.series[1].name, "");
  EXPECT_EQ(rows.series[2].name, "");
  EXPECT_EQ(rows.series[1].color, rows.series[0].color);
  EXPECT_EQ(rows.series[2].color, rows.series[0].color);
  EXPECT_EQ(rows.series[3].name, "row3 (seed 1)") << "a name the row of seeds has too";
  EXPECT_NE(rows.series[3].color, rows.series[0].color);
  const cyg::plot::Chart each = cyg::runs::accuracy_overlay(runs);
  ASSERT_EQ(each.series.size(), 4u);
  EXPECT_EQ(each.series[0].name, "row3 (seed 0)");
  EXPECT_EQ(each.series[2].name, "row3-seed1");
  EXPECT_EQ(each.series[3].name, "row3 (seed 2)");
  EXPECT_NE(each.series[3].color, each.series[0].color);
}

// A run that early stopping ended (train.early_stopping_patience) finished: it counts in
// its row's mean beside runs that went all their epochs, where an interrupted run at the
// same epoch does not, and its cell says why it is short.
TEST(RunTable, RunsEndedByEarlyStoppingAreFinishedRuns) {
  const fs::path root = fresh_dir("early");
  const auto ended_at = [&](const fs::path& dir, int epoch, const std::string& acc, bool by_rule) {
    write(dir / "summary.json",
          "{\"final_val_loss\": 1, \"final_val_acc\": " + acc + ", \"best_val_acc\": 0.9, \"epochs_completed\": " +
              std::to_string(epoch) + ", \"early_stopping\": {\"monitor\": \"val_loss\", \"patience\": 2, " +
              "\"stopped_epoch\": " + (by_rule ? std::to_string(epoch) : std::string("null")) + "}}\n");
    return cyg::runs::read_run(dir.string());
  };
  std::vector<cyg::runs::RunRecord> runs;
  runs.push_back(cyg::runs::read_run(write_one_cycle(root / "s0", "row", "0.01", "0.1", "10", "1", "0.80", true, 0).string()));
  write_one_cycle(root / "s1", "row", "0.01", "0.1", "10", "1", "0", true, 1);
  runs.push_back(ended_at(root / "s1", 4, "0.70", true));
  write_one_cycle(root / "s2", "row", "0.01", "0.1", "10", "1", "0", true, 2);
  runs.push_back(ended_at(root / "s2", 6, "0.30", false));
  EXPECT_TRUE(runs[1].early_stopped);
  EXPECT_FALSE(runs[2].early_stopped) << "a null stopped_epoch: the rule was on and did not end the run";
  const auto cells = cyg::runs::grouped_table_cells(cyg::runs::group_by_settings(runs));
  EXPECT_EQ(cells[1][6], "10 (1 ended by early stopping)");
  EXPECT_EQ(cells[1][8], "0.7500 ± 0.0707 (2 of 3)") << "0.80 and 0.70; the run interrupted at epoch 6 left out";
  const std::string csv = cyg::runs::grouped_table_csv(cyg::runs::group_by_settings(runs));
  EXPECT_NE(csv.find(",10,10,1,0,2,0.75,"), std::string::npos) << csv;
  // Run by run, and a row of early-stopped runs alone: the epochs they ran.
  const auto each = cyg::runs::table_cells(runs);
  EXPECT_EQ(each[2][6], "4 of 10, early stopping");
  EXPECT_EQ(each[3][6], "6 of 10");
  runs.erase(runs.begin());
  runs[1] = ended_at(root / "s2", 6, "0.30", true);
  const auto ended = cyg::runs::grouped_table_cells(cyg::runs::group_by_settings(runs));
  EXPECT_EQ(ended[1][6], "6 of 10, early stopping");
  EXPECT_EQ(ended[1][8], "0.5000 ± 0.2828");
  // A summary whose early_stopping is not what the app writes is named.
  write(root / "s2" / "summary.json", "{\"final_val_loss\": 1, \"final_val_acc\": 0.3, \"best_val_acc\": 0.9, "
                                      "\"early_stopping\": {\"stopped_epoch\": \"six\"}}\n");
  const std::string bad = error_of([&] { cyg::runs::read_run((root / "s2").string()); });
  EXPECT_NE(bad.find("'early_stopping.stopped_epoch' should be an epoch or null, got \"six\""), std::string::npos)
      << bad;
}

// PyTorch's OneCycleLR in the table: it starts at lr_max / div_factor and has no
// annealing share; the report has no row for it.
TEST(RunTable, PyTorchOneCycleShowsItsFirstAndPeakLr) {
  const fs::path dir = fresh_dir("torch") / "t";
  fs::create_directories(dir);
  write(dir / "config.yaml", "name: torch\noptimizer: {name: sgd}\n"
                             "schedule: {name: pytorch_one_cycle, lr_max: 0.1, div_factor: 25, momentum_min: 0.85, "
                             "momentum_max: 0.95}\ntrain: {epochs: 30}\n");
  write(dir / "metrics.csv", kHeader + "1,391,0.1,0.85,1.2,0.57,1.1,0.61,12.1,4100\n");
  write(dir / "summary.json", "{\"final_val_loss\": 0.3, \"final_val_acc\": 0.9, \"best_val_acc\": 0.9}");
  const auto cells = cyg::runs::table_cells({cyg::runs::read_run(dir.string())});
  EXPECT_EQ(cells[1][1], "0.004");
  EXPECT_EQ(cells[1][2], "0.1");
  EXPECT_EQ(cells[1][3], "0.85");
  EXPECT_EQ(cells[1][5], "—");
  EXPECT_EQ(cells[1][9], "—");
}

// Time to accuracy: the first epoch at or above the target and the training seconds
// through its end; none where no epoch reaches it.
TEST(RunRecords, FirstEpochReachingATargetAccuracy) {
  std::vector<cyg::app::EpochMetrics> epochs(4);
  const double acc[] = {0.3, 0.6, 0.5, 0.7}, seconds[] = {1.0, 2.0, 3.0, 4.0};
  for (size_t k = 0; k < 4; ++k) {
    epochs[k].epoch = static_cast<int64_t>(k) + 1;
    epochs[k].val_acc = acc[k];
    epochs[k].epoch_seconds = seconds[k];
  }
  const auto at = cyg::app::first_reaching(epochs, 0.55, 4);
  ASSERT_TRUE(at.has_value());
  EXPECT_EQ(at->epoch, 2);
  EXPECT_EQ(at->seconds, 3.0);
  EXPECT_EQ(cyg::app::first_reaching(epochs, 0.3, 4)->epoch, 1) << "at the target counts";
  EXPECT_EQ(cyg::app::first_reaching(epochs, 0.7, 4)->seconds, 10.0);
  EXPECT_FALSE(cyg::app::first_reaching(epochs, 0.8, 4).has_value());
  EXPECT_FALSE(cyg::app::first_reaching({}, 0.1, 0).has_value());
  // Epoch 4's row is a partial epoch's (3 complete): it does not count.
  EXPECT_FALSE(cyg::app::first_reaching(epochs, 0.7, 3).has_value());
  EXPECT_FALSE(cyg::app::first_reaching(epochs, 0.55, 1).has_value());
}

TEST(RunTable, EmptyTableHasItsHeader) {
  EXPECT_EQ(cyg::runs::table_markdown({}),
            "| Run | LR min | LR max | Mom min | Mom max | Ann % | Epochs | Val loss | Val acc | Report's acc |\n"
            "|:----|-------:|-------:|--------:|--------:|------:|-------:|---------:|--------:|-------------:|\n");
}

TEST(RunTable, ParentFolderStandsForItsRuns) {
  const fs::path root = fresh_dir("parent");
  write_three_runs(root);
  fs::create_directories(root / "plots");  // no config.yaml: not a run
  const fs::path range_test = write_adam(root / "lr_find-x");
  write(range_test / "summary.json", "{\"app\": \"lr_find\", \"lr_find\": {\"steps\": 100}}");
  const std::vector<std::string> dirs = cyg::runs::find_run_dirs({root.string()});
  EXPECT_EQ(dirs, (std::vector<std::string>{(root / "adam").string(), (root / "run1").string(),
                                            (root / "run2").string()}));
  EXPECT_EQ(cyg::runs::find_run_dirs({(root / "run2").string()}), std::vector<std::string>{(root / "run2").string()});
  EXPECT_NE(error_of([&] { cyg::runs::find_run_dirs({(root / "plots").string()}); }).find("plots"),
            std::string::npos);
  EXPECT_NE(error_of([&] { cyg::runs::find_run_dirs({(root / "nowhere").string()}); }).find("nowhere"),
            std::string::npos);
}

TEST(RunTable, AccuracyOverlayHasOneLinePerRun) {
  std::vector<cyg::runs::RunRecord> runs;
  for (const fs::path& dir : write_three_runs(fresh_dir("overlay"))) runs.push_back(cyg::runs::read_run(dir.string()));
  const cyg::plot::Chart chart = cyg::runs::accuracy_overlay(runs);
  ASSERT_EQ(chart.series.size(), 3u);
  EXPECT_EQ(chart.series[0].name, "onecycle_a");
  EXPECT_EQ(chart.series[0].x, (std::vector<double>{1.0, 2.0}));
  EXPECT_EQ(chart.series[0].y, (std::vector<double>{0.38, 0.61}));
  EXPECT_EQ(chart.series[0].style, cyg::plot::LineStyle::Solid);
  EXPECT_EQ(chart.series[2].name, "adam_baseline");

  const cyg::plot::Chart both = cyg::runs::accuracy_overlay(runs, cyg::runs::TrainingAccuracy::Dashed);
  ASSERT_EQ(both.series.size(), 8u);  // validation + training per run, then the two style keys
  EXPECT_EQ(both.series[1].y, (std::vector<double>{0.31, 0.57}));
  EXPECT_EQ(both.series[1].style, cyg::plot::LineStyle::Dashed);
  EXPECT_EQ(both.series[1].name, "");
  EXPECT_EQ(both.series[1].color, both.series[0].color);
  EXPECT_NE(both.series[2].color, both.series[0].color);
  EXPECT_EQ(both.series[6].name, "validation");
  EXPECT_EQ(both.series[7].name, "training");
  EXPECT_TRUE(both.series[7].x.empty());
}

// Fig. 4b: the validation loss, a line per run, the training loss dashed where asked;
// decades on the axis once a run's loss spikes past ten times another's.
TEST(RunTable, LossOverlayHasOneLinePerRunAndDecadesForASpike) {
  std::vector<cyg::runs::RunRecord> runs;
  for (const fs::path& dir : write_three_runs(fresh_dir("loss_overlay")))
    runs.push_back(cyg::runs::read_run(dir.string()));
  const cyg::plot::Chart chart = cyg::runs::loss_overlay(runs);
  ASSERT_EQ(chart.series.size(), 3u);
  EXPECT_EQ(chart.title, "Validation loss");
  EXPECT_EQ(chart.y_label, "cross-entropy");
  EXPECT_EQ(chart.series[0].name, "onecycle_a");
  EXPECT_EQ(chart.series[0].x, (std::vector<double>{1.0, 2.0}));
  EXPECT_EQ(chart.series[0].y, (std::vector<double>{1.7, 1.1}));  // metrics.csv's val_loss
  EXPECT_EQ(chart.series[2].y, (std::vector<double>{1.3}));
  EXPECT_FALSE(chart.log_y) << "1.1 to 1.7";
  const cyg::plot::Chart both = cyg::runs::loss_overlay(runs, cyg::runs::TrainingAccuracy::Dashed);
  ASSERT_EQ(both.series.size(), 8u);
  EXPECT_EQ(both.title, "Training (dashed) and validation loss");
  EXPECT_EQ(both.series[1].y, (std::vector<double>{1.9, 1.2}));  // train_loss
  EXPECT_EQ(both.series[1].style, cyg::plot::LineStyle::Dashed);
  EXPECT_EQ(both.series[1].color, both.series[0].color);
  runs[1].metrics[0].val_loss = 40;  // a very high lr's spike, against 1.1
  EXPECT_TRUE(cyg::runs::loss_overlay(runs).log_y);
  EXPECT_FALSE(cyg::runs::accuracy_overlay(runs).log_y);
  // By row: the same lines, as the accuracy's.
  EXPECT_EQ(cyg::runs::grouped_loss_overlay(cyg::runs::group_by_settings(runs)).series.size(), 3u);
}

TEST(RunTable, MissingMetricsIsNamed) {
  const fs::path dir = write_adam(fresh_dir("no_metrics") / "a");
  fs::remove(dir / "metrics.csv");
  const std::string error = error_of([&] { cyg::runs::read_run(dir.string()); });
  EXPECT_NE(error.find((dir / "metrics.csv").string()), std::string::npos) << error;
  EXPECT_NE(error.find("missing file"), std::string::npos) << error;
}

TEST(RunTable, WrongHeaderIsNamed) {
  const fs::path dir = write_adam(fresh_dir("bad_header") / "a");
  write(dir / "metrics.csv",
        "epoch,step,lr,momentum,train_loss,train_acc,val_loss,epoch_seconds,images_per_second\n"
        "1,391,0.001,0.9,1.5,0.45,1.3,11.0,4500\n");
  const std::string error = error_of([&] { cyg::runs::read_run(dir.string()); });
  EXPECT_NE(error.find((dir / "metrics.csv").string()), std::string::npos) << error;
  EXPECT_NE(error.find("bad header"), std::string::npos) << error;
  EXPECT_NE(error.find("no column val_acc"), std::string::npos) << error;
}

TEST(RunTable, NonNumericCellIsNamedWithLineAndColumn) {
  const fs::path dir = write_adam(fresh_dir("bad_cell") / "a");
  write(dir / "metrics.csv", kHeader +
                                 "1,391,0.001,0.9,1.5,0.45,1.3,0.52,11.0,4500\n"
                                 "2,782,0.001,0.9,abc,0.55,1.2,0.58,11.0,4500\n");
  const std::string error = error_of([&] { cyg::runs::read_run(dir.string()); });
  EXPECT_NE(error.find((dir / "metrics.csv").string()), std::string::npos) << error;
  EXPECT_NE(error.find("line 3, column 'train_loss': 'abc' is not a number"), std::string::npos) << error;

  write(dir / "metrics.csv", kHeader + "1,391,0.001,0.9,1.5,0.45\n");
  const std::string short_row = error_of([&] { cyg::runs::read_run(dir.string()); });
  EXPECT_NE(short_row.find("line 2 has 6 cells, the header has 10"), std::string::npos) << short_row;
}

TEST(RunTable, BadConfigAndSummaryAreNamed) {
  const fs::path dir = write_adam(fresh_dir("bad_config") / "a");
  write(dir / "config.yaml", "name: x\noptimizer:\n  name: adam\ntrain:\n  epochs: ninety\n");
  const std::string epochs = error_of([&] { cyg::runs::read_run(dir.string()); });
  EXPECT_NE(epochs.find((dir / "config.yaml").string()), std::string::npos) << epochs;
  EXPECT_NE(epochs.find("'train.epochs' must be an integer, got 'ninety'"), std::string::npos) << epochs;

  write(dir / "config.yaml", "name: x\ntrain:\n  epochs: 3\n");
  EXPECT_NE(error_of([&] { cyg::runs::read_run(dir.string()); }).find("missing 'optimizer.name'"), std::string::npos);

  write_adam(dir);
  write(dir / "summary.json", "{\"final_val_loss\": 0.1, \"best_val_acc\": 0.8}");
  const std::string summary = error_of([&] { cyg::runs::read_run(dir.string()); });
  EXPECT_NE(summary.find((dir / "summary.json").string()), std::string::npos) << summary;
  EXPECT_NE(summary.find("missing key 'final_val_acc'"), std::string::npos) << summary;
}

}  // namespace

namespace {

using cyg::app::csv_header;
using cyg::app::csv_text;
using cyg::app::EpochMetrics;
using cyg::app::RangeTestStep;
using cyg::app::read_csv;
using cyg::app::StepRecord;

// What users' scripts read: the headers stay these, byte for byte.
TEST(RunRecords, HeadersAreTheDocumentedOnes) {
  EXPECT_EQ(csv_header<EpochMetrics>(),
            "epoch,step,lr,momentum,train_loss,train_acc,val_loss,val_acc,epoch_seconds,images_per_second");
  EXPECT_EQ(csv_header<StepRecord>(), "step,epoch,lr,momentum,loss");
  EXPECT_EQ(csv_header<RangeTestStep>(), "step,epoch,lr,momentum,loss,smoothed_loss,weight_decay");
}

TEST(RunRecords, RowsPrintIntegersAndShortestNumbers) {
  EXPECT_EQ(csv_text(std::vector<StepRecord>{{12, 2, 0.001, 0.95, 2.5}, {13, 2, 1e-8, 0.9, 0.1 + 0.2}}),
            "step,epoch,lr,momentum,loss\n12,2,0.001,0.95,2.5\n13,2,1.0e-08,0.9,0.30000000000000004\n");
  EXPECT_EQ(csv_text(std::vector<RangeTestStep>{{1, 1, 1e-7, 0.9, 2.25, std::nan(""), 5e-4}}),
            "step,epoch,lr,momentum,loss,smoothed_loss,weight_decay\n1,1,1.0e-07,0.9,2.25,nan,0.0005\n");
}

TEST(RunRecords, WrittenRowsReadBackExactly) {
  EpochMetrics row;
  row.epoch = 3;
  row.step = 1173;
  row.lr = 1.0 / 3.0;
  row.momentum = 0.85;
  row.train_loss = 0.1 + 0.2;
  row.train_acc = 0.9169;
  row.val_loss = 2.2e-308;
  row.val_acc = 0.9176;
  row.epoch_seconds = 57.8;
  row.images_per_second = 1039.5;
  const fs::path path = fresh_dir("records") / "metrics.csv";
  write(path, csv_text(std::vector<EpochMetrics>{row, row}));
  const std::vector<EpochMetrics> back = read_csv<EpochMetrics>(path.string());
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].epoch, 3);
  EXPECT_EQ(back[1].step, 1173);
  EXPECT_EQ(back[1].lr, 1.0 / 3.0);
  EXPECT_EQ(back[1].momentum, 0.85);
  EXPECT_EQ(back[1].train_loss, 0.1 + 0.2);
  EXPECT_EQ(back[1].train_acc, 0.9169);
  EXPECT_EQ(back[1].val_loss, 2.2e-308);
  EXPECT_EQ(back[1].val_acc, 0.9176);
  EXPECT_EQ(back[1].epoch_seconds, 57.8);
  EXPECT_EQ(back[1].images_per_second, 1039.5);
}

// The moving average's columns are optional: written after the others where a row has a
// value, absent otherwise (a file stays as it was without train.ema_decay), and read
// back as NaN from a file without them.
TEST(RunRecords, OptionalColumnsAreWrittenOnlyWithValues) {
  EpochMetrics row;
  row.epoch = 1;
  row.step = 16;
  const std::string plain = csv_text(std::vector<EpochMetrics>{row});
  EXPECT_EQ(plain.substr(0, plain.find('\n')), csv_header<EpochMetrics>());
  row.ema_val_loss = 0.1 + 0.2;
  row.ema_val_acc = 0.875;
  const std::string text = csv_text(std::vector<EpochMetrics>{row});
  EXPECT_EQ(text.substr(0, text.find('\n')), csv_header<EpochMetrics>() + ",ema_val_loss,ema_val_acc");
  EXPECT_NE(text.find(",0.30000000000000004,0.875\n"), std::string::npos) << text;
  const fs::path path = fresh_dir("records_optional") / "metrics.csv";
  write(path, text);
  const std::vector<EpochMetrics> back = read_csv<EpochMetrics>(path.string());
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].ema_val_loss, 0.1 + 0.2);
  EXPECT_EQ(back[0].ema_val_acc, 0.875);
  write(path, plain);
  const std::vector<EpochMetrics> without = read_csv<EpochMetrics>(path.string());
  ASSERT_EQ(without.size(), 1u);
  EXPECT_TRUE(std::isnan(without[0].ema_val_loss) && std::isnan(without[0].ema_val_acc));
  EXPECT_EQ(without[0].step, 16);
  // A required column is still required.
  write(path, "epoch,step\n1,16\n");
  EXPECT_NE(error_of([&] { read_csv<EpochMetrics>(path.string()); }).find("no column lr"), std::string::npos);
}

TEST(RunRecords, ColumnsMayComeInAnyOrderButIntegersMustBeWhole) {
  const fs::path path = fresh_dir("records_order") / "steps.csv";
  write(path, "loss,momentum,lr,epoch,step,note\n2.5,0.95,0.001,2,12,x\n");
  const std::vector<StepRecord> rows = read_csv<StepRecord>(path.string());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].step, 12);
  EXPECT_EQ(rows[0].epoch, 2);
  EXPECT_EQ(rows[0].lr, 0.001);
  EXPECT_EQ(rows[0].momentum, 0.95);
  EXPECT_EQ(rows[0].loss, 2.5);

  write(path, "step,epoch,lr,momentum,loss\n12.5,2,0.001,0.95,2.5\n");
  const std::string error = error_of([&] { read_csv<StepRecord>(path.string()); });
  EXPECT_NE(error.find(path.string() + ": line 2, column 'step': '12.5' is not an integer"), std::string::npos)
      << error;
}

}  // namespace
