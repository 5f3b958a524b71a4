// End to end, on the CPU: the apps as a user runs them. A short 1cycle run on synthetic
// data learns; a stopped run resumed gives the metrics of an uninterrupted one; the range
// test stops at divergence and suggests an lr inside its sweep; evaluate reproduces a
// checkpoint's accuracy; and each kind of bad input gets one clear line and no files.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "apps/common/config.h"
#include "apps/common/dataset_factory.h"
#include "apps/common/jpeg.h"
#include "apps/common/png.h"
#include "apps/common/run_dir.h"
#include "apps/common/run_records.h"
#include "engine/safetensors.h"
#include "tests/scratch_dir.h"

namespace {

struct Result {
  int exit_code = -1;
  std::string out, err;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A CSV file's rows after its header, each field a number.
std::vector<std::vector<double>> csv_numbers(const std::string& text) {
  std::vector<std::vector<double>> rows;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::vector<double> row;
    std::istringstream fields(line);
    std::string field;
    while (std::getline(fields, field, ',')) row.push_back(std::stod(field));
    rows.push_back(row);
  }
  return rows;
}

// The arguments a run starts from: those of a fast synthetic run, or none.
enum class BaseArgs { FastSynthetic, None };

class EndToEnd : public ::testing::Test {
 public:  // shared helpers of the tests below call it too
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    scratch_ = std::make_unique<cyg::test::ScratchDir>(std::string("e2e_") + info->name());
    root_ = scratch_->path().string();
  }

  // Runs an app with the common arguments of a fast synthetic run plus `args`.
  // `env` ("NAME=value ...") is set for the app alone.
  Result run(const std::string& app, const std::vector<std::string>& args, BaseArgs base = BaseArgs::FastSynthetic,
             const std::string& env = "") {
    std::string cmd = (env.empty() ? "" : env + " ") + std::string(CYGNET_APPS_DIR) + "/cygnet_" + app;
    std::vector<std::string> all;
    if (base == BaseArgs::FastSynthetic)
      all = {"device=cpu",        "run_root=" + root_ + "/runs", "data.dataset=synthetic", "model.name=small_cnn",
             "train.batch_size=64", "data.synthetic_train=1024",  "data.synthetic_val=256", "train.log_every=8"};
    all.insert(all.end(), args.begin(), args.end());
    for (const auto& a : all) cmd += " '" + a + "'";
    const std::string out = root_ + "/stdout", err = root_ + "/stderr";
    cmd += " > '" + out + "' 2> '" + err + "'";
    const int status = std::system(cmd.c_str());
    Result r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = read_file(out);
    r.err = read_file(err);
    return r;
  }

  // `base` then `extra`: the arguments of a family of runs plus one run's own.
  static std::vector<std::string> joined(const std::vector<std::string>& base, std::vector<std::string> extra) {
    extra.insert(extra.begin(), base.begin(), base.end());
    return extra;
  }

  // The one run directory under root_/runs whose name starts with `prefix`.
  std::string run_dir(const std::string& prefix) {
    std::vector<std::string> found;
    if (DIR* d = opendir((root_ + "/runs").c_str())) {
      while (dirent* e = readdir(d)) {
        const std::string name = e->d_name;
        if (name.rfind(prefix, 0) == 0) found.push_back(root_ + "/runs/" + name);
      }
      closedir(d);
    }
    EXPECT_EQ(found.size(), 1u) << "run directories starting with " << prefix;
    return found.empty() ? "" : found.front();
  }

  // metrics.csv's rows with the timing fields (epoch_seconds, images_per_second) zeroed.
  static std::string metrics_without_timing(const std::string& dir) {
    std::vector<cyg::app::EpochMetrics> rows = cyg::app::read_csv<cyg::app::EpochMetrics>(dir + "/metrics.csv");
    for (cyg::app::EpochMetrics& row : rows) row.epoch_seconds = row.images_per_second = 0.0;
    return cyg::app::csv_text(rows);
  }

  static nlohmann::json summary(const std::string& dir) { return nlohmann::json::parse(read_file(dir + "/summary.json")); }

  std::unique_ptr<cyg::test::ScratchDir> scratch_;
  std::string root_;
};

void expect_one_line_error(const Result& r, const std::string& expected);

TEST_F(EndToEnd, OneCycleOnSyntheticDataLearnsAndWritesTheRunDirectory) {
  const Result r = run("onecycle", {"name=learn", "train.epochs=2", "schedule.lr_min=0.01", "schedule.lr_max=0.2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string dir = run_dir("onecycle-learn-");
  for (const char* f : {"config.yaml", "metrics.csv", "steps.csv", "summary.json", "train.log", "schedule.svg",
                        "accuracy.svg", "loss.svg", "last.safetensors", "last.state.safetensors", "best.safetensors",
                        "batch.svg", "loss_by_step.svg", "confusion.svg"})
    EXPECT_TRUE(std::ifstream(dir + "/" + f).good()) << f;
  // The loss by step: 32 steps, each point the mean of it and 1 step either side.
  EXPECT_NE(read_file(dir + "/loss_by_step.svg").find("training, mean of 3 steps"), std::string::npos);
  EXPECT_NE(read_file(dir + "/index.html").find("Loss by step: learn"), std::string::npos);
  // The first batch as the network saw it: 16 images, each with its class.
  const std::string batch = read_file(dir + "/batch.svg");
  size_t images = 0;
  for (size_t at = 0; (at = batch.find("<image ", at)) != std::string::npos; ++at) ++images;
  EXPECT_EQ(images, 16u) << batch.substr(0, 300);
  EXPECT_NE(batch.find("A training batch as the network sees it: epoch 1, batch 1"), std::string::npos);
  EXPECT_NE(read_file(dir + "/index.html").find("<h2>A training batch, as the network sees it</h2>"),
            std::string::npos);
  const auto s = summary(dir);
  EXPECT_GT(s["final_val_acc"].get<double>(), 0.8) << "10 classes: chance is 0.1";
  EXPECT_EQ(s["steps"].get<int>(), 32);
  const std::string metrics = read_file(dir + "/metrics.csv");
  EXPECT_EQ(std::count(metrics.begin(), metrics.end(), '\n'), 3) << metrics;  // the header and two epochs
  EXPECT_EQ(metrics.rfind("epoch,step,lr,momentum,train_loss,train_acc,val_loss,val_acc,epoch_seconds,"
                          "images_per_second\n1,16,",
                          0),
            0u)
      << metrics;
  // steps.csv: a header and one row per step, the first at lr_min and momentum_max.
  const std::string steps = read_file(dir + "/steps.csv");
  EXPECT_EQ(steps.rfind("step,epoch,lr,momentum,loss\n1,1,0.01,0.95,", 0), 0u) << steps.substr(0, 80);
  EXPECT_EQ(std::count(steps.begin(), steps.end(), '\n'), 33);
  // The resolved config reads back the same.
  const Result again = run("onecycle", {"--config", dir + "/config.yaml", "--print-config"}, BaseArgs::None);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, read_file(dir + "/config.yaml"));
}

// Time to accuracy (train.target_val_acc): the log line, summary.json and the page give
// the first epoch whose validation accuracy reaches the target and the training seconds
// until then, as metrics.csv has them.
TEST_F(EndToEnd, ARunReportsItsTimeToTheTargetAccuracy) {
  const Result r = run("onecycle", {"name=target", "train.epochs=3", "schedule.lr_min=0.01", "schedule.lr_max=0.2",
                                    "train.target_val_acc=0.5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string dir = run_dir("onecycle-target-");
  const auto rows = cyg::app::read_csv<cyg::app::EpochMetrics>(dir + "/metrics.csv");
  int64_t epoch = 0;
  double seconds = 0;
  for (const auto& row : rows) {
    seconds += row.epoch_seconds;
    if (row.val_acc >= 0.5) {
      epoch = row.epoch;
      break;
    }
  }
  ASSERT_GT(epoch, 0) << "the run should reach 0.5 (it reaches 0.8 in two epochs)";
  const auto s = summary(dir);
  EXPECT_EQ(s["target_val_acc"].get<double>(), 0.5);
  EXPECT_EQ(s["epoch_reached_target"].get<int64_t>(), epoch);
  EXPECT_NEAR(s["seconds_to_target"].get<double>(), seconds, 1e-9 * seconds + 1e-9);
  EXPECT_NE(r.out.find("reached val acc 0.5 (train.target_val_acc) at epoch " + std::to_string(epoch) + ", after "),
            std::string::npos)
      << r.out;
  EXPECT_NE(read_file(dir + "/index.html").find("time to 50.00% validation accuracy"), std::string::npos);
  // Stopped inside epoch 2 (step 20 of 16 per epoch), then resumed: the resumed run gives
  // the uninterrupted run's epoch (training is deterministic) and the seconds of its whole
  // history, and the line once in its log.
  const Result first = run("onecycle", {"name=split", "train.epochs=3", "schedule.lr_min=0.01", "schedule.lr_max=0.2",
                                        "train.max_steps=20", "train.target_val_acc=0.5"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const std::string split = run_dir("onecycle-split-");
  const Result resumed = run("onecycle", {"resume=" + split, "train.max_steps=0"}, BaseArgs::None);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(summary(split)["epoch_reached_target"].get<int64_t>(), epoch);
  double split_seconds = 0;
  for (const auto& row : cyg::app::read_csv<cyg::app::EpochMetrics>(split + "/metrics.csv"))
    if (row.epoch <= epoch) split_seconds += row.epoch_seconds;
  EXPECT_NEAR(summary(split)["seconds_to_target"].get<double>(), split_seconds, 1e-9 * split_seconds + 1e-9);
  const std::string log = read_file(split + "/train.log");
  size_t lines = 0;
  for (size_t at = log.find("reached val acc 0.5"); at != std::string::npos; at = log.find("reached val acc 0.5", at + 1))
    ++lines;
  EXPECT_EQ(lines, 1u) << log;
  // A partial epoch's row (stopped at step 8 of epoch 1): the run's values so far, not
  // the target reached, however low.
  const Result partial = run("onecycle", {"name=partial", "train.epochs=3", "schedule.lr_min=0.01",
                                          "schedule.lr_max=0.2", "train.max_steps=8", "train.target_val_acc=0.01"});
  ASSERT_EQ(partial.exit_code, 0) << partial.err;
  const std::string partial_dir = run_dir("onecycle-partial-");
  ASSERT_GE(summary(partial_dir)["final_val_acc"].get<double>(), 0.01) << "the partial row is above the target";
  EXPECT_TRUE(summary(partial_dir)["epoch_reached_target"].is_null()) << "a partial epoch does not count";
  // The target may change on a resume (it changes no training); without one, no keys.
  ASSERT_EQ(run("onecycle", {"resume=" + partial_dir, "train.max_steps=0", "train.target_val_acc=0"}, BaseArgs::None)
                .exit_code,
            0);
  EXPECT_FALSE(summary(partial_dir).contains("epoch_reached_target")) << "no target: no keys";

  // Not reached: null, and the page says so.
  ASSERT_EQ(run("onecycle", {"name=never", "train.max_steps=1", "train.target_val_acc=1"}).exit_code, 0);
  const std::string never = run_dir("onecycle-never-");
  EXPECT_TRUE(summary(never)["epoch_reached_target"].is_null());
  EXPECT_TRUE(summary(never)["seconds_to_target"].is_null());
  EXPECT_NE(read_file(never + "/index.html").find("not reached"), std::string::npos);
}

// Early stopping (train.early_stopping_patience, Lightning's EarlyStopping): with a
// min_delta no accuracy can beat, epoch 1 is the best and the run ends after the
// patience's two more epochs, however training goes. The run is finished (not stopped
// early): its summary, page, log and by-class evaluation say so, and a resume continues
// nothing. A run stopped inside epoch 2 and resumed ends after the same epoch, with the
// same rows: the rule replays the history it resumes with.
TEST_F(EndToEnd, EarlyStoppingEndsTheRunAndAResumeReplaysItsHistory) {
  const std::vector<std::string> args = {"train.epochs=6", "schedule.lr_min=0.01", "schedule.lr_max=0.2",
                                         "train.early_stopping_patience=2", "train.early_stopping_monitor=val_acc",
                                         "train.early_stopping_min_delta=1"};
  const Result r = run("onecycle", joined(args, {"name=early"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string dir = run_dir("onecycle-early-");
  const auto rows = cyg::app::read_csv<cyg::app::EpochMetrics>(dir + "/metrics.csv");
  ASSERT_EQ(rows.size(), 3u) << read_file(dir + "/metrics.csv");
  const auto s = summary(dir);
  EXPECT_EQ(s["epochs_completed"].get<int64_t>(), 3);
  EXPECT_EQ(s["steps"].get<int64_t>(), 48);
  EXPECT_FALSE(s["stopped_early"].get<bool>()) << "ended by its rule, the run is finished: nothing to resume";
  const auto& es = s["early_stopping"];
  EXPECT_EQ(es["monitor"].get<std::string>(), "val_acc");
  EXPECT_EQ(es["patience"].get<int64_t>(), 2);
  EXPECT_EQ(es["best_epoch"].get<int64_t>(), 1);
  EXPECT_EQ(es["best"].get<double>(), rows[0].val_acc);
  EXPECT_EQ(es["stopped_epoch"].get<int64_t>(), 3);
  EXPECT_EQ(es["wait"].get<int64_t>(), 2);
  EXPECT_TRUE(s.contains("final_val_acc_by_class")) << "the final weights' evaluation by class, as a last epoch's";
  EXPECT_NE(r.out.find("early stopping (train.early_stopping_patience 2): val_acc has not improved by more than 1 "
                       "for 2 epochs"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("the run ends after epoch 3 of 6"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ended by early stopping after epoch 3 of 6"), std::string::npos) << r.out;
  const std::string page = read_file(dir + "/index.html");
  EXPECT_NE(page.find("ended the run after epoch 3 of 6"), std::string::npos);
  EXPECT_NE(page.find("By class"), std::string::npos);
  EXPECT_EQ(page.find("stopped early"), std::string::npos) << "no resume is offered";
  // A job restarted after the rule ended it: nothing to continue, nothing changed.
  const std::string metrics = read_file(dir + "/metrics.csv");
  const Result again = run("onecycle", {"resume=" + dir}, BaseArgs::None);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("early stopping (train.early_stopping_patience) ended it after epoch 3 of 6; nothing to "
                           "continue"),
            std::string::npos)
      << again.out;
  EXPECT_EQ(read_file(dir + "/metrics.csv"), metrics);
  EXPECT_EQ(summary(dir)["steps"].get<int64_t>(), 48);
  EXPECT_EQ(summary(dir)["final_val_acc_by_class"], s["final_val_acc_by_class"]) << "the final weights, evaluated again";
  EXPECT_NE(read_file(dir + "/index.html").find("By class"), std::string::npos);

  // Stopped at step 20 (inside epoch 2), then resumed: epoch 1's row is replayed, so the
  // rule ends the run after epoch 3, not after a fresh count of two more epochs.
  ASSERT_EQ(run("onecycle", joined(args, {"name=split", "train.max_steps=20"})).exit_code, 0);
  const std::string split = run_dir("onecycle-split-");
  EXPECT_TRUE(summary(split)["early_stopping"]["stopped_epoch"].is_null());
  const Result resumed = run("onecycle", {"resume=" + split, "train.max_steps=0"}, BaseArgs::None);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(metrics_without_timing(split), metrics_without_timing(dir));
  EXPECT_EQ(summary(split)["early_stopping"]["stopped_epoch"].get<int64_t>(), 3);

  // Without a trigger the run goes its whole length, and says what the rule saw.
  ASSERT_EQ(run("onecycle", {"name=patient", "train.epochs=2", "train.early_stopping_patience=5"}).exit_code, 0);
  const auto patient = summary(run_dir("onecycle-patient-"));
  EXPECT_EQ(patient["epochs_completed"].get<int64_t>(), 2);
  EXPECT_TRUE(patient["early_stopping"]["stopped_epoch"].is_null());
  EXPECT_EQ(patient["early_stopping"]["monitor"].get<std::string>(), "val_loss");

  // The range test has its own end; the averaged weights' metrics need an average.
  expect_one_line_error(run("lr_find", {"train.early_stopping_patience=2"}),
                        "'train.early_stopping_patience' ends a training run early");
  expect_one_line_error(run("onecycle", {"train.early_stopping_patience=2", "train.early_stopping_monitor=ema_val_loss"}),
                        "'train.early_stopping_monitor' = 'ema_val_loss' watches the moving average of the weights");
}

// Reduce on plateau (schedule.name plateau, PyTorch's ReduceLROnPlateau stepped at each
// epoch's end): with patience 0 and a threshold no accuracy beats, every epoch after the
// first halves the lr for the next. steps.csv holds the lrs each step took; the log,
// summary.json and the page name the cuts; a run stopped inside epoch 3 and resumed
// replays its history and takes the uninterrupted run's lrs.
TEST_F(EndToEnd, ReduceOnPlateauCutsTheLrAndAResumeReplaysIt) {
  const std::vector<std::string> args = {
      "train.epochs=4", "optimizer.name=sgd", "optimizer.lr=0.08", "schedule.name=plateau",
      "schedule.plateau_patience=0", "schedule.plateau_factor=0.5", "schedule.plateau_monitor=val_acc",
      "schedule.plateau_threshold=1", "schedule.plateau_threshold_mode=abs"};
  const Result r = run("baseline", joined(args, {"name=plateau"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string dir = run_dir("baseline-plateau-");
  const auto steps = cyg::app::read_csv<cyg::app::StepRecord>(dir + "/steps.csv");
  ASSERT_EQ(steps.size(), 64u);
  const double expected[] = {0.08, 0.08, 0.04, 0.02};
  for (const auto& row : steps) EXPECT_EQ(row.lr, expected[row.epoch - 1]) << "step " << row.step;
  EXPECT_NE(r.out.find("plateau (schedule.plateau_patience 0): val_acc has not improved on its best ("), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(", epoch 1) by more than 1 for an epoch; lr 0.08 -> 0.04 from epoch 3"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("lr 0.04 -> 0.02 from epoch 4"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("from epoch 5"), std::string::npos) << "no line for an epoch the run does not have";
  const auto s = summary(dir)["plateau"];
  EXPECT_EQ(s["monitor"].get<std::string>(), "val_acc");
  EXPECT_EQ(s["reduced_after_epochs"], nlohmann::json::parse("[2, 3]")) << "epoch 4's cut: no epoch takes it";
  EXPECT_EQ(s["lr"].get<double>(), 0.02) << "the lr of the last epoch";
  EXPECT_NE(read_file(dir + "/index.html").find("the lr was reduced after epochs 2, 3; the last epoch trained at lr 0.02"),
            std::string::npos);

  ASSERT_EQ(run("baseline", joined(args, {"name=split", "train.max_steps=40"})).exit_code, 0);
  const std::string split = run_dir("baseline-split-");
  const Result resumed = run("baseline", {"resume=" + split, "train.max_steps=0"}, BaseArgs::None);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(read_file(split + "/steps.csv"), read_file(dir + "/steps.csv"));
  EXPECT_EQ(metrics_without_timing(split), metrics_without_timing(dir));

  // With early stopping ending the run after epoch 3, no cut is announced for epoch 4.
  const Result both = run("baseline", joined(args, {"name=both", "train.early_stopping_patience=2",
                                                    "train.early_stopping_monitor=val_acc",
                                                    "train.early_stopping_min_delta=1"}));
  ASSERT_EQ(both.exit_code, 0) << both.err;
  EXPECT_NE(both.out.find("lr 0.08 -> 0.04 from epoch 3"), std::string::npos) << both.out;
  EXPECT_EQ(both.out.find("from epoch 4"), std::string::npos) << both.out;
  EXPECT_NE(both.out.find("the run ends after epoch 3 of 4"), std::string::npos) << both.out;
  EXPECT_EQ(summary(run_dir("baseline-both-"))["plateau"]["reduced_after_epochs"], nlohmann::json::parse("[2]"));

  expect_one_line_error(run("baseline", {"schedule.name=plateau", "schedule.plateau_factor=2"}),
                        "'schedule.plateau_factor' = 2: expected a factor in (0, 1)");
}

// train.best_monitor=val_loss (Lightning's ModelCheckpoint(monitor="val_loss")): the best
// epoch, and best.safetensors, are the lowest validation loss's, found here from
// metrics.csv. This run reaches accuracy 1 at epoch 3 and its loss keeps falling, so the
// two monitors pick different epochs; cygnet_evaluate scores best.safetensors at that
// epoch's loss.
TEST_F(EndToEnd, TheBestEpochIsTheMonitoredMetricsBest) {
  const std::vector<std::string> args = {"train.epochs=6", "optimizer.name=sgd", "optimizer.lr=0.05"};
  ASSERT_EQ(run("baseline", joined(args, {"name=by_loss", "train.best_monitor=val_loss"})).exit_code, 0);
  const std::string dir = run_dir("baseline-by_loss-");
  const auto rows = cyg::app::read_csv<cyg::app::EpochMetrics>(dir + "/metrics.csv");
  ASSERT_EQ(rows.size(), 6u);
  size_t lowest = 0, highest = 0;
  for (size_t k = 1; k < rows.size(); ++k) {
    if (rows[k].val_loss < rows[lowest].val_loss) lowest = k;
    if (rows[k].val_acc > rows[highest].val_acc) highest = k;
  }
  ASSERT_NE(lowest, highest) << "the run no longer tells the monitors apart: " << read_file(dir + "/metrics.csv");
  const auto s = summary(dir);
  EXPECT_EQ(s["best_monitor"].get<std::string>(), "val_loss");
  EXPECT_EQ(s["best_epoch"].get<int64_t>(), rows[lowest].epoch);
  EXPECT_EQ(s["best_val_loss"].get<double>(), rows[lowest].val_loss);
  EXPECT_EQ(s["best_val_acc"].get<double>(), rows[lowest].val_acc) << "the accuracy of that epoch";
  const Result r = run("evaluate", {"--checkpoint", dir + "/best.safetensors"}, BaseArgs::None);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  char expected[32];
  std::snprintf(expected, sizeof expected, "loss %.6f", rows[lowest].val_loss);
  EXPECT_NE(r.out.find(expected), std::string::npos) << r.out << " vs the epoch's loss " << rows[lowest].val_loss;
  EXPECT_NE(read_file(dir + "/index.html").find("best epoch (lowest validation loss, best.safetensors)"),
            std::string::npos);
  // Stopped inside epoch 3 and resumed: the same monitor picks the same epoch.
  ASSERT_EQ(run("baseline", joined(args, {"name=by_loss_split", "train.best_monitor=val_loss", "train.max_steps=40"}))
                .exit_code,
            0);
  const std::string split = run_dir("baseline-by_loss_split-");
  ASSERT_EQ(run("baseline", {"resume=" + split, "train.max_steps=0"}, BaseArgs::None).exit_code, 0);
  EXPECT_EQ(summary(split)["best_epoch"].get<int64_t>(), rows[lowest].epoch);
  EXPECT_EQ(summary(split)["best_val_loss"].get<double>(), rows[lowest].val_loss);
  // The default, val_acc, on the same run: the first epoch with the highest accuracy.
  ASSERT_EQ(run("baseline", joined(args, {"name=by_acc"})).exit_code, 0);
  const auto by_acc = summary(run_dir("baseline-by_acc-"));
  EXPECT_EQ(by_acc["best_monitor"].get<std::string>(), "val_acc");
  EXPECT_EQ(by_acc["best_epoch"].get<int64_t>(), rows[highest].epoch);
  expect_one_line_error(run("baseline", {"train.best_monitor=val_los"}),
                        "'train.best_monitor' = 'val_los': expected one of val_acc, val_loss");
}

// train.save_every_n_epochs (Lightning's ModelCheckpoint(every_n_epochs=2, save_top_k=-1)):
// epochs 2 and 4 of 5 are kept. Each snapshot holds what a run stopped at that epoch's
// end holds (its last.safetensors) and scores that epoch's validation loss; a resume may
// switch snapshots on, and its snapshot equals the uninterrupted run's.
TEST_F(EndToEnd, SnapshotsKeepEveryNthEpochsWeights) {
  const std::vector<std::string> args = {"train.epochs=5", "optimizer.name=sgd", "optimizer.lr=0.05"};
  ASSERT_EQ(run("baseline", joined(args, {"name=snap", "train.save_every_n_epochs=2"})).exit_code, 0);
  const std::string dir = run_dir("baseline-snap-");
  std::vector<std::string> snapshots;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().filename().string().rfind("epoch-", 0) == 0) snapshots.push_back(entry.path().filename().string());
  std::sort(snapshots.begin(), snapshots.end());
  EXPECT_EQ(snapshots, (std::vector<std::string>{"epoch-002.safetensors", "epoch-004.safetensors"}));
  const auto rows = cyg::app::read_csv<cyg::app::EpochMetrics>(dir + "/metrics.csv");
  ASSERT_EQ(rows.size(), 5u);
  for (int epoch : {2, 4}) {
    const std::string file = dir + "/epoch-00" + std::to_string(epoch) + ".safetensors";
    const cyg::SafetensorsContent snapshot = cyg::load_safetensors(file);
    EXPECT_EQ(snapshot.metadata.at("epoch"), std::to_string(epoch));
    EXPECT_EQ(snapshot.metadata.at("step"), std::to_string(16 * epoch)) << "1024 images in batches of 64";
    const Result r = run("evaluate", {"--checkpoint", file}, BaseArgs::None);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    char expected[32];
    std::snprintf(expected, sizeof expected, "loss %.6f", rows[epoch - 1].val_loss);
    EXPECT_NE(r.out.find(expected), std::string::npos) << r.out << " vs epoch " << epoch << "'s " << expected;
  }
  EXPECT_NE(read_file(dir + "/index.html").find("<a href=\"epoch-004.safetensors\">"), std::string::npos);
  EXPECT_NE(rows[1].val_loss, rows[3].val_loss) << "the two snapshots are of different weights";

  // Stopped at the end of epoch 2 without snapshots: its last weights are the snapshot's.
  ASSERT_EQ(run("baseline", joined(args, {"name=stop", "train.max_steps=32"})).exit_code, 0);
  const std::string stop = run_dir("baseline-stop-");
  EXPECT_FALSE(std::filesystem::exists(stop + "/epoch-002.safetensors"));
  const cyg::SafetensorsContent last = cyg::load_safetensors(stop + "/last.safetensors");
  const cyg::SafetensorsContent second = cyg::load_safetensors(dir + "/epoch-002.safetensors");
  ASSERT_EQ(last.tensors.size(), second.tensors.size());
  for (size_t i = 0; i < last.tensors.size(); ++i) {
    EXPECT_EQ(second.tensors[i].first, last.tensors[i].first);
    EXPECT_EQ(second.tensors[i].second.to_vector(), last.tensors[i].second.to_vector()) << last.tensors[i].first;
  }
  // Resumed with snapshots on: epoch 4's, as the uninterrupted run kept it; none of epoch 2.
  const Result resumed =
      run("baseline", {"resume=" + stop, "train.max_steps=0", "train.save_every_n_epochs=2"}, BaseArgs::None);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_FALSE(std::filesystem::exists(stop + "/epoch-002.safetensors"));
  const cyg::SafetensorsContent again = cyg::load_safetensors(stop + "/epoch-004.safetensors");
  const cyg::SafetensorsContent fourth = cyg::load_safetensors(dir + "/epoch-004.safetensors");
  ASSERT_EQ(again.tensors.size(), fourth.tensors.size());
  for (size_t i = 0; i < again.tensors.size(); ++i)
    EXPECT_EQ(again.tensors[i].second.to_vector(), fourth.tensors[i].second.to_vector()) << again.tensors[i].first;

  // Stopped inside epoch 2 (step 24 of 32): no snapshot of a partial epoch; the resume
  // keeps epochs 2 and 4 as the uninterrupted run did.
  ASSERT_EQ(run("baseline", joined(args, {"name=mid", "train.max_steps=24", "train.save_every_n_epochs=2"})).exit_code,
            0);
  const std::string mid = run_dir("baseline-mid-");
  EXPECT_FALSE(std::filesystem::exists(mid + "/epoch-002.safetensors"));
  ASSERT_EQ(run("baseline", {"resume=" + mid, "train.max_steps=0"}, BaseArgs::None).exit_code, 0);
  for (const char* file : {"/epoch-002.safetensors", "/epoch-004.safetensors"}) {
    const cyg::SafetensorsContent resumed_snapshot = cyg::load_safetensors(mid + file);
    const cyg::SafetensorsContent uninterrupted = cyg::load_safetensors(dir + file);
    ASSERT_EQ(resumed_snapshot.tensors.size(), uninterrupted.tensors.size());
    for (size_t i = 0; i < uninterrupted.tensors.size(); ++i)
      EXPECT_EQ(resumed_snapshot.tensors[i].second.to_vector(), uninterrupted.tensors[i].second.to_vector())
          << file << " " << uninterrupted.tensors[i].first;
  }
  // The page links the snapshots on disk, also after a resume that switches them off.
  ASSERT_EQ(run("baseline", {"resume=" + mid, "train.save_every_n_epochs=0"}, BaseArgs::None).exit_code, 0);
  EXPECT_NE(read_file(mid + "/index.html").find("<a href=\"epoch-002.safetensors\">"), std::string::npos);

  expect_one_line_error(run("baseline", joined(args, {"train.save_every_n_epochs=6"})),
                        "'train.save_every_n_epochs' = 6: expected 0 (no snapshots) or a number of epochs from 1 to "
                        "train.epochs (5)");
  expect_one_line_error(run("baseline", joined(args, {"train.save_every_n_epochs=-1"})),
                        "'train.save_every_n_epochs' = -1");
  expect_one_line_error(run("lr_find", {"train.save_every_n_epochs=1"}),
                        "'train.save_every_n_epochs' keeps a training run's weights by epoch");
}

// activation_stats.csv's rows: (step, layer, mean, std, near_zero).
struct ActivationRow {
  int64_t step;
  std::string layer;
  double mean, std, near_zero;
  std::vector<int64_t> hist;
};
std::vector<ActivationRow> activation_rows(const std::string& text) {
  std::vector<ActivationRow> rows;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "step,layer,mean,std,near_zero,hist");
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string step, layer, mean, std, near_zero, hist;
    std::getline(fields, step, ',');
    std::getline(fields, layer, ',');
    std::getline(fields, mean, ',');
    std::getline(fields, std, ',');
    std::getline(fields, near_zero, ',');
    std::getline(fields, hist, ',');
    std::vector<int64_t> counts;
    std::istringstream bins(hist);
    for (int64_t c; bins >> c;) counts.push_back(c);
    rows.push_back({std::stoll(step), layer, std::stod(mean), std::stod(std), std::stod(near_zero), counts});
  }
  return rows;
}

// train.activation_stats_every=n (fastai's ActivationStats): every n-th step, one row per
// layer that holds parameters (ResNet-18: 41) with its output's mean, std and share at or
// below 0.05; the file survives a stop and resume unchanged; the page draws it; the
// emulated device gives the CPU's rows between graph replays; the range test refuses it.
TEST_F(EndToEnd, ActivationStatsRecordEveryNthStepAndSurviveAResume) {
  const std::vector<std::string> args = {"model.name=resnet18", "model.width=4", "train.epochs=2",
                                         "train.activation_stats_every=5"};
  ASSERT_EQ(run("onecycle", joined(args, {"name=whole"})).exit_code, 0);
  const std::string whole = run_dir("onecycle-whole-");
  const std::string csv = read_file(whole + "/activation_stats.csv");
  const std::vector<ActivationRow> rows = activation_rows(csv);
  ASSERT_EQ(rows.size(), 6u * 41u);  // 32 steps: 5, 10, ..., 30
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].step, 5 * static_cast<int64_t>(i / 41 + 1));
    EXPECT_EQ(rows[i].layer, rows[i % 41].layer) << "every step has the layers in the same order";
    EXPECT_TRUE(std::isfinite(rows[i].mean) && rows[i].std > 0 && rows[i].near_zero >= 0 && rows[i].near_zero <= 1);
    ASSERT_EQ(rows[i].hist.size(), 40u) << "fastai's 40 bins over [0, 10]";
    // After a ReLU nothing is negative, so the mean is at least 0, and the values at or
    // below 0.05 all lie in the first bin, [0, 0.25) (of the values counted: those <= 10).
    if (rows[i].layer.size() > 4 && rows[i].layer.substr(rows[i].layer.size() - 4) == "relu") {
      EXPECT_GE(rows[i].mean, 0) << rows[i].layer;
      int64_t counted = 0;
      for (int64_t c : rows[i].hist) counted += c;
      EXPECT_GT(counted, 0);
      EXPECT_LE(rows[i].near_zero * static_cast<double>(counted), static_cast<double>(rows[i].hist[0]) + 0.5)
          << rows[i].layer << " at step " << rows[i].step;
    }
  }
  EXPECT_EQ(rows[0].layer, "conv1");
  EXPECT_EQ(rows[1].layer, "bn1+relu");
  EXPECT_EQ(rows[40].layer, "linear");
  const std::string page = read_file(whole + "/index.html");
  for (const char* text : {"Mean of each layer", "Standard deviation of each layer", "Share of each layer",
                           "href=\"activation_stats.csv\""})
    EXPECT_NE(page.find(text), std::string::npos) << text;
  EXPECT_NE(page.find("Histograms of each layer"), std::string::npos);
  for (const char* f : {"activations_mean.svg", "activations_std.svg", "activations_near_zero.svg",
                        "activations_hist.svg"})
    EXPECT_TRUE(std::filesystem::exists(whole + "/" + f)) << f;
  // Recording reads the outputs only: the same run without it takes the same steps.
  ASSERT_EQ(run("onecycle", joined(args, {"name=plain", "train.activation_stats_every=0"})).exit_code, 0);
  EXPECT_EQ(read_file(run_dir("onecycle-plain-") + "/steps.csv"), read_file(whole + "/steps.csv"));
  EXPECT_FALSE(std::filesystem::exists(run_dir("onecycle-plain-") + "/activation_stats.csv"));

  // Stopped at step 12 (inside epoch 1), then resumed: the uninterrupted run's file.
  ASSERT_EQ(run("onecycle", joined(args, {"name=split", "train.max_steps=12"})).exit_code, 0);
  const std::string split = run_dir("onecycle-split-");
  EXPECT_EQ(activation_rows(read_file(split + "/activation_stats.csv")).size(), 2u * 41u);
  ASSERT_EQ(run("onecycle", {"resume=" + split, "train.max_steps=0"}, BaseArgs::None).exit_code, 0);
  EXPECT_EQ(read_file(split + "/activation_stats.csv"), csv);

  // Step 1, the initial weights: a batchnorm without a ReLU (the shortcut's) gives its
  // bias, 0, as the mean, and its weight, 1, as the standard deviation (of the batch it
  // normalises).
  ASSERT_EQ(run("onecycle", joined(args, {"name=first", "train.activation_stats_every=1", "train.max_steps=1"}))
                .exit_code,
            0);
  bool seen = false;
  for (const ActivationRow& r : activation_rows(read_file(run_dir("onecycle-first-") + "/activation_stats.csv"))) {
    if (r.layer != "layer2.0.shortcut.1") continue;
    seen = true;
    EXPECT_EQ(r.step, 1);
    EXPECT_NEAR(r.mean, 0, 1e-5);
    EXPECT_NEAR(r.std, 1, 1e-3);
  }
  EXPECT_TRUE(seen);

  // The emulated device (small_cnn: conv1, bn1+relu, conv2, bn2+relu, linear): the CPU's
  // rows, to float rounding; its steps stay CUDA graphs (replays from step 4), the
  // recorded ones run eagerly between replays.
  const std::vector<std::string> small = {"train.activation_stats_every=4", "train.max_steps=12"};
  ASSERT_EQ(run("baseline", joined(small, {"name=cpu"})).exit_code, 0);
  const Result emu = run("baseline", joined(small, {"name=emu", "device=emu"}));
  ASSERT_EQ(emu.exit_code, 0) << emu.err;
  EXPECT_NE(emu.out.find("emu (CUDA graphs)"), std::string::npos) << emu.out;
  const std::vector<ActivationRow> on_cpu = activation_rows(read_file(run_dir("baseline-cpu-") + "/activation_stats.csv"));
  const std::vector<ActivationRow> on_emu = activation_rows(read_file(run_dir("baseline-emu-") + "/activation_stats.csv"));
  ASSERT_EQ(on_cpu.size(), 3u * 5u);
  ASSERT_EQ(on_emu.size(), on_cpu.size());
  for (size_t i = 0; i < on_cpu.size(); ++i) {
    EXPECT_EQ(on_emu[i].step, on_cpu[i].step);
    EXPECT_EQ(on_emu[i].layer, on_cpu[i].layer);
    EXPECT_NEAR(on_emu[i].mean, on_cpu[i].mean, 1e-4 * (1 + std::fabs(on_cpu[i].mean))) << on_cpu[i].layer;
    EXPECT_NEAR(on_emu[i].std, on_cpu[i].std, 1e-4 * on_cpu[i].std) << on_cpu[i].layer;
    EXPECT_NEAR(on_emu[i].near_zero, on_cpu[i].near_zero, 1e-3) << on_cpu[i].layer;
    // Counts of bins of 0.25: float rounding moves a value across an edge rarely.
    ASSERT_EQ(on_emu[i].hist.size(), on_cpu[i].hist.size());
    for (size_t b = 0; b < on_cpu[i].hist.size(); ++b)
      EXPECT_NEAR(on_emu[i].hist[b], on_cpu[i].hist[b], 2 + on_cpu[i].hist[b] / 1000) << on_cpu[i].layer;
  }
  EXPECT_EQ(on_cpu[4].layer, "linear");

  // The range test refuses the key.
  expect_one_line_error(run("lr_find", {"train.activation_stats_every=5"}),
                        "'train.activation_stats_every' records the activations of a training run");
  expect_one_line_error(run("onecycle", {"train.activation_stats_every=-1"}), "'train.activation_stats_every' = -1");
}

// Every configuration the repository ships reads and validates in the app it is for
// (the range test's in cygnet_lr_find, the baselines' in cygnet_baseline, the rest in
// cygnet_onecycle), and prints its name back.
TEST_F(EndToEnd, EveryShippedConfigurationIsValid) {
  int checked = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(std::string(CYGNET_SOURCE_DIR) + "/configs")) {
    if (entry.path().extension() != ".yaml") continue;
    const std::string file = entry.path().filename().string();
    const std::string app = file.rfind("lr_find", 0) == 0 ? "lr_find" : file.rfind("baseline", 0) == 0 ? "baseline"
                                                                                                         : "onecycle";
    const Result r = run(app, {"--config", entry.path().string(), "--print-config"}, BaseArgs::None);
    EXPECT_EQ(r.exit_code, 0) << entry.path() << ": " << r.err;
    EXPECT_NE(r.out.find("name: "), std::string::npos) << entry.path();
    ++checked;
  }
  EXPECT_GE(checked, 13) << "quickstart, the baselines, the range test and Table I's eight rows";
}

// train.ema_decay: the moving average of the weights is evaluated every epoch (the log,
// metrics.csv's optional columns, summary.json, the page), written as ema.safetensors,
// which cygnet_evaluate scores as the run did; a run stopped mid-epoch and resumed ends
// with the uninterrupted run's average, bit for bit (it travels in the checkpoint, with
// its update count, which the warm-up's decay depends on through all 48 steps). The
// range test refuses the key; a decay outside (0, 1) is one line.
TEST_F(EndToEnd, AMovingAverageOfTheWeightsIsEvaluatedSavedAndResumed) {
  const std::vector<std::string> recipe = {"train.epochs=3", "schedule.lr_min=0.01", "schedule.lr_max=0.2",
                                           "train.ema_decay=0.9", "train.ema_warmup=true"};
  const Result r = run("onecycle", joined(recipe, {"name=ema"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(", weights averaged (train.ema_decay 0.9, warmed up)"), std::string::npos)
      << r.out.substr(0, r.out.find('\n'));
  EXPECT_NE(r.out.find("(averaged weights: loss "), std::string::npos) << r.out;
  const std::string dir = run_dir("onecycle-ema-");
  const auto rows = cyg::app::read_csv<cyg::app::EpochMetrics>(dir + "/metrics.csv");
  ASSERT_EQ(rows.size(), 3u);
  for (const auto& row : rows) {
    EXPECT_TRUE(row.ema_val_acc >= 0 && row.ema_val_acc <= 1) << "epoch " << row.epoch;
    EXPECT_TRUE(std::isfinite(row.ema_val_loss)) << "epoch " << row.epoch;
  }
  EXPECT_NE(rows.back().ema_val_loss, rows.back().val_loss) << "the average is not the weights";
  EXPECT_GT(rows.back().ema_val_acc, 0.5) << "the average of a run that learns learns too";
  const auto s = summary(dir);
  EXPECT_EQ(s["final_ema_val_acc"].get<double>(), rows.back().ema_val_acc);
  EXPECT_EQ(s["final_ema_val_loss"].get<double>(), rows.back().ema_val_loss);
  EXPECT_NE(read_file(dir + "/index.html").find("averaged weights (train.ema_decay 0.9, warmed up"), std::string::npos);
  EXPECT_NE(read_file(dir + "/accuracy.svg").find("validation, averaged weights"), std::string::npos);

  // ema.safetensors: the model's names, the averaged values, scored as the run scored them.
  const cyg::SafetensorsContent averaged = cyg::load_safetensors(dir + "/ema.safetensors");
  const cyg::SafetensorsContent last = cyg::load_safetensors(dir + "/last.safetensors");
  ASSERT_EQ(averaged.tensors.size(), last.tensors.size());
  bool differs = false;
  for (size_t i = 0; i < last.tensors.size(); ++i) {
    ASSERT_EQ(averaged.tensors[i].first, last.tensors[i].first);
    differs = differs || averaged.tensors[i].second.to_vector() != last.tensors[i].second.to_vector();
  }
  EXPECT_TRUE(differs);
  EXPECT_EQ(averaged.metadata.at("step"), "48");
  const Result scored = run("evaluate", {"--checkpoint", dir + "/ema.safetensors"}, BaseArgs::None);
  ASSERT_EQ(scored.exit_code, 0) << scored.err;
  char expected[48];
  std::snprintf(expected, sizeof expected, "loss %.6f, accuracy %.4f", rows.back().ema_val_loss,
                rows.back().ema_val_acc);
  EXPECT_NE(scored.out.find(expected), std::string::npos) << scored.out << " vs " << expected;

  // Stopped at step 20 (inside epoch 2), resumed: the same average and metrics.
  ASSERT_EQ(run("onecycle", joined(recipe, {"name=split", "train.max_steps=20"})).exit_code, 0);
  const std::string split = run_dir("onecycle-split-");
  const Result resumed = run("onecycle", {"resume=" + split, "train.max_steps=0"}, BaseArgs::None);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const cyg::SafetensorsContent again = cyg::load_safetensors(split + "/ema.safetensors");
  ASSERT_EQ(again.tensors.size(), averaged.tensors.size());
  for (size_t i = 0; i < again.tensors.size(); ++i)
    EXPECT_EQ(again.tensors[i].second.to_vector(), averaged.tensors[i].second.to_vector()) << again.tensors[i].first;
  EXPECT_EQ(metrics_without_timing(split), metrics_without_timing(dir));

  // Without the key: no columns, no file, no summary keys.
  ASSERT_EQ(run("onecycle", {"name=plain", "train.max_steps=16"}).exit_code, 0);
  const std::string plain = run_dir("onecycle-plain-");
  EXPECT_EQ(read_file(plain + "/metrics.csv").find("ema_"), std::string::npos);
  EXPECT_FALSE(std::ifstream(plain + "/ema.safetensors").good());
  EXPECT_FALSE(summary(plain).contains("final_ema_val_acc"));
  EXPECT_EQ(read_file(plain + "/accuracy.svg").find("averaged weights"), std::string::npos);
  // Its config.yaml edited to keep an average: the configuration is what is wrong.
  std::string config = read_file(plain + "/config.yaml");
  const size_t key = config.find("ema_decay: 0\n");
  ASSERT_NE(key, std::string::npos) << config;
  config.replace(key, 13, "ema_decay: 0.5\n");
  std::ofstream(plain + "/config.yaml") << config;
  const Result edited = run("onecycle", {"resume=" + plain}, BaseArgs::None);
  EXPECT_NE(edited.exit_code, 0);
  EXPECT_NE(edited.err.find("is not the configuration its checkpoint was trained with"), std::string::npos)
      << edited.err;

  expect_one_line_error(run("lr_find", {"name=no", "train.ema_decay=0.9"}), "'train.ema_decay'");
  expect_one_line_error(run("onecycle", {"name=no", "train.ema_decay=1"}), "'train.ema_decay' = 1");
}

// train.swa_start_epoch: stochastic weight averaging. At a constant lr, a 2-epoch run's
// final weights are a 3-epoch run's epoch-2 weights, so swa.safetensors of the 3-epoch run
// averaging from epoch 2 must hold the mean of the two runs' final parameters; its
// batchnorm statistics come from one pass over the 16 training batches (num_batches_tracked
// 16), and cygnet_evaluate scores the file as the run's summary says. SWALR sets epoch 3's
// lr (linear, 2 epochs: halfway from 0.003 to 0.001). A run stopped inside epoch 3 and
// resumed ends with the same average, bit for bit.
TEST_F(EndToEnd, StochasticWeightAveragingAveragesEpochsAndRecomputesBatchnorm) {
  const std::vector<std::string> recipe = {"optimizer.name=adam", "optimizer.lr=0.003", "schedule.name=constant"};
  const std::vector<std::string> swa = {"train.epochs=3", "train.swa_start_epoch=2", "train.swa_lr=0.001",
                                        "train.swa_anneal_epochs=2", "train.swa_anneal_strategy=linear"};
  const Result r = run("baseline", joined(joined(recipe, swa), {"name=swa", "tensorboard=true"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(", stochastic weight averaging from epoch 2 (lr to 0.001 over 2 epochs, linear)"),
            std::string::npos)
      << r.out.substr(0, r.out.find('\n'));
  ASSERT_EQ(run("baseline", joined(recipe, {"train.epochs=2", "name=two"})).exit_code, 0);
  const std::string dir = run_dir("baseline-swa-"), two = run_dir("baseline-two-");

  // SWALR: epochs 1 and 2 at the schedule's lr, epoch 3 halfway to train.swa_lr.
  for (const auto& step : cyg::app::read_csv<cyg::app::StepRecord>(dir + "/steps.csv"))
    EXPECT_NEAR(step.lr, step.epoch < 3 ? 0.003 : 0.002, 1e-12) << "step " << step.step;

  // The average of epochs 2 and 3: the parameters are the two runs' final ones' mean.
  const cyg::SafetensorsContent averaged = cyg::load_safetensors(dir + "/swa.safetensors");
  const cyg::SafetensorsContent third = cyg::load_safetensors(dir + "/last.safetensors");
  const cyg::SafetensorsContent second = cyg::load_safetensors(two + "/last.safetensors");
  ASSERT_EQ(averaged.tensors.size(), third.tensors.size());
  ASSERT_EQ(second.tensors.size(), third.tensors.size());
  EXPECT_EQ(averaged.metadata.at("swa_epochs"), "2-3");
  int parameters = 0, statistics = 0;
  for (size_t i = 0; i < averaged.tensors.size(); ++i) {
    const std::string& name = averaged.tensors[i].first;
    ASSERT_EQ(name, third.tensors[i].first);
    if (name.find("num_batches_tracked") != std::string::npos) {
      EXPECT_EQ(averaged.tensors[i].second.item(), 16) << name << ": one pass over the 16 training batches";
      continue;
    }
    const std::vector<float> got = averaged.tensors[i].second.to_vector(), a = second.tensors[i].second.to_vector(),
                             b = third.tensors[i].second.to_vector();
    ASSERT_EQ(got.size(), a.size()) << name;
    const bool running = name.find("running_") != std::string::npos;
    bool mean_everywhere = true;
    for (size_t k = 0; k < got.size(); ++k) {
      const double mean = (static_cast<double>(a[k]) + b[k]) / 2;
      mean_everywhere = mean_everywhere && std::fabs(got[k] - mean) <= 1e-6 * (1 + std::fabs(mean));
    }
    if (running) {
      ++statistics;
      EXPECT_FALSE(mean_everywhere) << name << ": recomputed, not averaged";
    } else {
      ++parameters;
      EXPECT_TRUE(mean_everywhere) << name;
    }
  }
  EXPECT_GT(parameters, 0);
  EXPECT_GT(statistics, 0);

  // The log, the summary and the page; the file scores as the summary says.
  EXPECT_NE(r.out.find("stochastic weight averaging (train.swa_start_epoch 2): the average of epochs 2-3, batchnorm "
                       "statistics recomputed: val loss "),
            std::string::npos)
      << r.out;
  const auto s = summary(dir)["swa"];
  EXPECT_EQ(s["start_epoch"], 2);
  EXPECT_EQ(s["swa_lr"], 0.001);
  EXPECT_EQ(s["averaged_epochs"], 2);
  const double acc = s["val_acc"].get<double>(), loss = s["val_loss"].get<double>();
  EXPECT_GT(acc, 0.5) << "the average of a run that learns learns too";
  EXPECT_NE(read_file(dir + "/index.html").find("epochs 2-3 averaged, batchnorm statistics recomputed"),
            std::string::npos);
  EXPECT_NE(read_file(dir + "/accuracy.svg").find("validation, SWA average of epochs 2-3"), std::string::npos);
  EXPECT_NE(read_file(dir + "/events.out.tfevents.cygnet").find("swa/val_acc"), std::string::npos);
  const Result scored = run("evaluate", {"--checkpoint", dir + "/swa.safetensors"}, BaseArgs::None);
  ASSERT_EQ(scored.exit_code, 0) << scored.err;
  char expected[48];
  std::snprintf(expected, sizeof expected, "loss %.6f, accuracy %.4f", loss, acc);
  EXPECT_NE(scored.out.find(expected), std::string::npos) << scored.out << " vs " << expected;

  // Stopped inside epoch 3 (step 40), resumed: the same average, bit for bit.
  const Result part = run("baseline", joined(joined(recipe, swa), {"name=split", "train.max_steps=40"}));
  ASSERT_EQ(part.exit_code, 0) << part.err;
  const std::string split = run_dir("baseline-split-");
  EXPECT_FALSE(std::ifstream(split + "/swa.safetensors").good()) << "evaluated before the run ended";
  EXPECT_TRUE(summary(split)["swa"]["val_acc"].is_null());
  EXPECT_EQ(summary(split)["swa"]["averaged_epochs"], 1);
  // Its checkpoint with a count of averaged epochs that its epochs do not make: refused.
  const std::string damaged = root_ + "/runs/swa-damaged";
  std::filesystem::copy(split, damaged);
  {
    const cyg::SafetensorsContent file = cyg::load_safetensors(damaged + "/last.state.safetensors");
    std::map<std::string, std::string> metadata = file.metadata;
    ASSERT_EQ(metadata.at("average_updates"), "1");
    metadata["average_updates"] = "2";
    cyg::save_safetensors(damaged + "/last.state.safetensors",
                          cyg::NamedTensorList(file.tensors.begin(), file.tensors.end()), metadata);
  }
  expect_one_line_error(run("baseline", {"resume=" + damaged, "train.max_steps=0"}, BaseArgs::None),
                        "its average of the weights holds 2 epochs, and after 2 complete epochs averaging from epoch 2 "
                        "(train.swa_start_epoch) has 1");
  const Result resumed = run("baseline", {"resume=" + split, "train.max_steps=0"}, BaseArgs::None);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const cyg::SafetensorsContent again = cyg::load_safetensors(split + "/swa.safetensors");
  ASSERT_EQ(again.tensors.size(), averaged.tensors.size());
  for (size_t i = 0; i < again.tensors.size(); ++i)
    EXPECT_EQ(again.tensors[i].second.to_vector(), averaged.tensors[i].second.to_vector()) << again.tensors[i].first;
  EXPECT_EQ(summary(split)["swa"]["val_acc"].get<double>(), acc);

  // Stopped inside epoch 2 (step 20), before its first update: the state file holds no
  // average yet (no extra copy of the weights), and the resume ends with the same average.
  ASSERT_EQ(run("baseline", joined(joined(recipe, swa), {"name=before", "train.max_steps=20"})).exit_code, 0);
  const std::string early_split = run_dir("baseline-before-");
  const cyg::SafetensorsContent state = cyg::load_safetensors(early_split + "/last.state.safetensors");
  for (const auto& [name, t] : state.tensors) EXPECT_NE(name.rfind("average.", 0), 0u) << name;
  EXPECT_EQ(state.metadata.count("average_updates"), 0u);
  ASSERT_EQ(run("baseline", {"resume=" + early_split, "train.max_steps=0"}, BaseArgs::None).exit_code, 0);
  const cyg::SafetensorsContent from_early = cyg::load_safetensors(early_split + "/swa.safetensors");
  ASSERT_EQ(from_early.tensors.size(), averaged.tensors.size());
  for (size_t i = 0; i < from_early.tensors.size(); ++i)
    EXPECT_EQ(from_early.tensors[i].second.to_vector(), averaged.tensors[i].second.to_vector())
        << from_early.tensors[i].first;

  // A job restarted after the run ended evaluates the average again: the same result.
  const Result restarted = run("baseline", {"resume=" + dir}, BaseArgs::None);
  ASSERT_EQ(restarted.exit_code, 0) << restarted.err;
  EXPECT_NE(restarted.out.find("nothing to continue"), std::string::npos) << restarted.out;
  EXPECT_NE(restarted.out.find("the average of epochs 2-3, batchnorm statistics recomputed"), std::string::npos)
      << restarted.out;
  EXPECT_EQ(summary(dir)["swa"]["val_acc"].get<double>(), acc);
  EXPECT_EQ(summary(dir)["swa"]["val_loss"].get<double>(), loss);

  // Early stopping ends the run after epoch 2, before averaging starts at epoch 3: nothing
  // averaged, no file, and the summary and page say so.
  const Result early = run("baseline", joined(recipe, {"name=early", "train.epochs=4", "train.swa_start_epoch=3",
                                                       "train.early_stopping_patience=1",
                                                       "train.early_stopping_monitor=val_acc",
                                                       "train.early_stopping_min_delta=1"}));
  ASSERT_EQ(early.exit_code, 0) << early.err;
  EXPECT_NE(early.out.find("stochastic weight averaging (train.swa_start_epoch 3): the run ended after epoch 2, "
                           "before it; nothing averaged"),
            std::string::npos)
      << early.out;
  const std::string early_dir = run_dir("baseline-early-");
  EXPECT_FALSE(std::ifstream(early_dir + "/swa.safetensors").good());
  EXPECT_EQ(summary(early_dir)["swa"]["averaged_epochs"], 0);
  EXPECT_TRUE(summary(early_dir)["swa"]["val_acc"].is_null());
  EXPECT_NE(read_file(early_dir + "/index.html").find("the run ended after epoch 2, before averaging started"),
            std::string::npos);

  expect_one_line_error(run("lr_find", {"name=no", "train.swa_start_epoch=1"}), "'train.swa_start_epoch'");
  expect_one_line_error(run("baseline", {"name=no", "train.epochs=2", "train.swa_start_epoch=3"}),
                        "'train.swa_start_epoch' = 3");
}

// SWALR over a 1cycle schedule: epoch 1 is the schedule's, lr and momentum; from epoch 2
// (train.swa_start_epoch) the momentum is held at the schedule's value of epoch 2's first
// step, and the lr starts there and anneals (linear, 2 epochs) halfway to train.swa_lr in
// epoch 3. The schedule's values come from a run without SWA.
TEST_F(EndToEnd, SwalrStartsFromTheSchedulesLrAndHoldsItsMomentum) {
  ASSERT_EQ(run("onecycle", {"name=cycle", "train.epochs=3"}).exit_code, 0);
  const Result r = run("onecycle", {"name=swalr", "train.epochs=3", "train.swa_start_epoch=2", "train.swa_lr=0.001",
                                    "train.swa_anneal_epochs=2", "train.swa_anneal_strategy=linear"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto plain = cyg::app::read_csv<cyg::app::StepRecord>(run_dir("onecycle-cycle-") + "/steps.csv");
  const auto swalr = cyg::app::read_csv<cyg::app::StepRecord>(run_dir("onecycle-swalr-") + "/steps.csv");
  ASSERT_EQ(plain.size(), 48u);
  ASSERT_EQ(swalr.size(), 48u);
  const double lr0 = plain[16].lr, momentum0 = plain[16].momentum;
  bool momentum_moves = false;
  for (size_t i = 0; i < swalr.size(); ++i) {
    if (swalr[i].epoch == 1) {
      EXPECT_EQ(swalr[i].lr, plain[i].lr) << "step " << i + 1;
      EXPECT_EQ(swalr[i].momentum, plain[i].momentum) << "step " << i + 1;
      continue;
    }
    EXPECT_NEAR(swalr[i].lr, swalr[i].epoch == 2 ? lr0 : (lr0 + 0.001) / 2, 1e-12) << "step " << i + 1;
    EXPECT_EQ(swalr[i].momentum, momentum0) << "step " << i + 1;
    momentum_moves = momentum_moves || plain[i].momentum != momentum0;
  }
  EXPECT_TRUE(momentum_moves) << "the schedule's momentum moves in epochs 2 and 3, SWALR's does not";
}

// The header line says what the optimizer does besides its name: clipping and a weight
// decay kept off biases and batchnorm, together; neither for a plain run.
TEST_F(EndToEnd, TheHeaderLineSaysHowTheOptimizerIsSet) {
  const Result both = run("onecycle", {"name=header", "train.max_steps=1", "optimizer.clip_grad_norm=0.5",
                                       "optimizer.decay_bias_and_norm=false"});
  ASSERT_EQ(both.exit_code, 0) << both.err;
  EXPECT_NE(both.out.find(", sgd (gradient norm clipped at 0.5, no weight decay on biases and batchnorm), "),
            std::string::npos)
      << both.out.substr(0, both.out.find('\n'));
  const Result plain = run("onecycle", {"name=plain", "train.max_steps=1"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_NE(plain.out.find(", sgd, schedule one_cycle, "), std::string::npos)
      << plain.out.substr(0, plain.out.find('\n'));
}

TEST_F(EndToEnd, TableGathersRealRunDirectories) {
  // The trainer's outputs and the table's reader agree: two 1cycle rows and an Adam baseline.
  ASSERT_EQ(run("onecycle", {"name=row-a", "schedule.lr_min=0.001", "schedule.lr_max=0.01"}).exit_code, 0);
  ASSERT_EQ(run("onecycle", {"name=row-b", "schedule.lr_min=0.01", "schedule.lr_max=0.1", "schedule.anneal_percent=50"})
                .exit_code,
            0);
  ASSERT_EQ(run("baseline", {"name=adam"}).exit_code, 0);
  const Result r = run("table", {"--out", root_ + "/report", root_ + "/runs"}, BaseArgs::None);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("LR min"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("row-a"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("row-b"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("adam"), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 5) << r.out;  // header, rule, three rows
  EXPECT_TRUE(std::ifstream(root_ + "/report/table1.md").good());
  EXPECT_TRUE(std::ifstream(root_ + "/report/val_accuracy.svg").good());
  EXPECT_NE(read_file(root_ + "/report/val_loss.svg").find("Validation loss"), std::string::npos);
  EXPECT_NE(read_file(root_ + "/report/table1.html").find("<h2>Validation loss (Fig. 4b)</h2>"), std::string::npos);
  // table1.csv: the header and a line per row, each run's final accuracy to every digit
  // of its summary.json.
  const std::string csv = read_file(root_ + "/report/table1.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4) << csv;
  const std::string a = run_dir("onecycle-row-a-");
  const double acc = summary(a)["final_val_acc"].get<double>();
  std::istringstream lines(csv);
  bool found = false;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("row-a,", 0) != 0) continue;
    std::vector<std::string> fields;
    std::istringstream cells(line);
    for (std::string f; std::getline(cells, f, ',');) fields.push_back(f);
    if (!line.empty() && line.back() == ',') fields.push_back("");  // an empty last field
    ASSERT_EQ(fields.size(), 16u) << line;
    EXPECT_EQ(std::stod(fields[12]), acc) << line;
    EXPECT_EQ(fields[13], "") << "one run: no standard deviation";
    EXPECT_EQ(fields[14], "1");
    found = true;
  }
  EXPECT_TRUE(found) << csv;
}

TEST_F(EndToEnd, RealFashionMnistLearns) {
  if (!std::ifstream("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").good())
    GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed (scripts/install_deps.sh installs it)";
  const Result r = run("onecycle", {"name=fashion", "data.dataset=fashion_mnist", "data.limit_train=4096",
                                    "data.limit_val=1000", "train.epochs=2", "schedule.lr_min=0.01",
                                    "schedule.lr_max=0.2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // 10 classes: chance is 0.1; a small CNN on 4096 real images gets well past 0.6.
  EXPECT_GT(summary(run_dir("onecycle-fashion-"))["final_val_acc"].get<double>(), 0.6);
}

TEST_F(EndToEnd, ResumeGivesTheMetricsOfAnUninterruptedRun) {
  const std::vector<std::string> common = {"train.epochs=3", "schedule.lr_min=0.01", "schedule.lr_max=0.1"};
  auto with = [&](std::vector<std::string> extra) { return joined(common, std::move(extra)); };
  ASSERT_EQ(run("onecycle", with({"name=straight"})).exit_code, 0);
  // Stopped mid-epoch 2 (step 20 of 16 per epoch), then resumed to the end.
  const Result first = run("onecycle", with({"name=stopped", "train.max_steps=20"}));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const std::string dir = run_dir("onecycle-stopped-");
  const Result resumed = run("onecycle", {"resume=" + dir, "train.max_steps=0"}, BaseArgs::None);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.out.find("resuming"), std::string::npos) << resumed.out;
  EXPECT_EQ(metrics_without_timing(dir), metrics_without_timing(run_dir("onecycle-straight-")));
  EXPECT_EQ(read_file(dir + "/steps.csv"), read_file(run_dir("onecycle-straight-") + "/steps.csv"));
}

// A pairing of the batch's images (MixUp's or CutMix's `key`=`alpha`): the run says so
// (`said`), learns, trains otherwise than without it, and a run stopped mid-epoch resumes
// to the uninterrupted run's steps (the draws are the epoch's); the emulated device's
// steps (channels-last batches, CUDA graphs) are the CPU's; the range test pairs too.
void expect_a_pairing_to_train(EndToEnd& t, const std::string& key, const std::string& alpha,
                               const std::string& said) {
  const std::vector<std::string> plain = {"train.epochs=3", "schedule.lr_min=0.01", "schedule.lr_max=0.1"};
  const std::vector<std::string> common = EndToEnd::joined(plain, {key + "=" + alpha});
  const Result straight = t.run("onecycle", EndToEnd::joined(common, {"name=straight"}));
  ASSERT_EQ(straight.exit_code, 0) << straight.err;
  EXPECT_NE(straight.out.find(said), std::string::npos) << straight.out;
  const std::string straight_dir = t.run_dir("onecycle-straight-");
  EXPECT_GT(EndToEnd::summary(straight_dir)["final_val_acc"].get<double>(), 0.5) << "10 classes: chance is 0.1";
  ASSERT_EQ(t.run("onecycle", EndToEnd::joined(common, {"name=stopped", "train.max_steps=20"})).exit_code, 0);
  const std::string dir = t.run_dir("onecycle-stopped-");
  const Result resumed = t.run("onecycle", {"resume=" + dir, "train.max_steps=0"}, BaseArgs::None);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(read_file(dir + "/steps.csv"), read_file(straight_dir + "/steps.csv"));
  EXPECT_EQ(EndToEnd::metrics_without_timing(dir), EndToEnd::metrics_without_timing(straight_dir));
  // Its picture of the first batch gives each image's share and its partner's.
  const std::string batch = read_file(straight_dir + "/batch.svg");
  size_t shares = 0;
  for (size_t at = 0; (at = batch.find("%</text>", at)) != std::string::npos; ++at) ++shares;
  EXPECT_EQ(shares, 32u) << "16 images, two shares each";
  EXPECT_NE(batch.find(said.substr(2)), std::string::npos) << "the subtitle names the pairing";
  ASSERT_EQ(t.run("onecycle", EndToEnd::joined(plain, {"name=unmixed"})).exit_code, 0);
  const auto mixed_steps = cyg::app::read_csv<cyg::app::StepRecord>(straight_dir + "/steps.csv");
  const auto plain_steps = cyg::app::read_csv<cyg::app::StepRecord>(t.run_dir("onecycle-unmixed-") + "/steps.csv");
  ASSERT_EQ(mixed_steps.size(), plain_steps.size());
  EXPECT_NE(mixed_steps[0].loss, plain_steps[0].loss);

  const std::vector<std::string> tiny = {"data.synthetic_train=256", "data.synthetic_val=128", "data.synthetic_size=8",
                                         "train.epochs=1", "train.log_every=2", key + "=" + alpha};
  ASSERT_EQ(t.run("onecycle", EndToEnd::joined(tiny, {"name=tiny-cpu"})).exit_code, 0);
  const Result on_emu = t.run("onecycle", EndToEnd::joined(tiny, {"name=tiny-emu", "device=emu"}));
  ASSERT_EQ(on_emu.exit_code, 0) << on_emu.err;
  const auto emu_steps = cyg::app::read_csv<cyg::app::StepRecord>(t.run_dir("onecycle-tiny-emu-") + "/steps.csv");
  const auto cpu_steps = cyg::app::read_csv<cyg::app::StepRecord>(t.run_dir("onecycle-tiny-cpu-") + "/steps.csv");
  ASSERT_EQ(emu_steps.size(), cpu_steps.size());
  ASSERT_EQ(cpu_steps.size(), 4u);
  for (size_t i = 0; i < cpu_steps.size(); ++i)
    EXPECT_NEAR(emu_steps[i].loss, cpu_steps[i].loss, 1e-4 * cpu_steps[i].loss) << "step " << i + 1;

  const Result sweep = t.run("lr_find", EndToEnd::joined(tiny, {"name=sweep", "lr_find.steps=4"}));
  ASSERT_EQ(sweep.exit_code, 0) << sweep.err;
  EXPECT_NE(sweep.out.find(said), std::string::npos) << sweep.out;
  const Result plain_sweep =
      t.run("lr_find", EndToEnd::joined(tiny, {"name=plain-sweep", "lr_find.steps=4", key + "=0"}));
  ASSERT_EQ(plain_sweep.exit_code, 0) << plain_sweep.err;
  const auto mixed_sweep = cyg::app::read_csv<cyg::app::RangeTestStep>(t.run_dir("lr_find-sweep-") + "/steps.csv");
  const auto unmixed_sweep =
      cyg::app::read_csv<cyg::app::RangeTestStep>(t.run_dir("lr_find-plain-sweep-") + "/steps.csv");
  ASSERT_FALSE(mixed_sweep.empty());
  ASSERT_EQ(mixed_sweep.size(), unmixed_sweep.size());
  EXPECT_NE(mixed_sweep[0].loss, unmixed_sweep[0].loss) << "the range test's steps are paired";
}

TEST_F(EndToEnd, MixUpTrainsResumesAndAgreesOnTheEmulatedDevice) {
  expect_a_pairing_to_train(*this, "data.mixup_alpha", "0.4", ", MixUp (data.mixup_alpha 0.4)");
}

TEST_F(EndToEnd, CutMixTrainsResumesAndAgreesOnTheEmulatedDevice) {
  expect_a_pairing_to_train(*this, "data.cutmix_alpha", "1", ", CutMix (data.cutmix_alpha 1)");
}

TEST_F(EndToEnd, ResumeKeepsTheExperimentAsItWas) {
  ASSERT_EQ(run("onecycle", {"name=keep", "train.epochs=2", "train.max_steps=5"}).exit_code, 0);
  const std::string dir = run_dir("onecycle-keep-");
  const std::string config = read_file(dir + "/config.yaml");
  const Result r = run("onecycle", {"resume=" + dir, "model.width=32"}, BaseArgs::None);
  expect_one_line_error(r, "'model.width' cannot change when resuming");
  EXPECT_EQ(read_file(dir + "/config.yaml"), config) << "a refused resume must not touch the run";
  EXPECT_EQ(run("onecycle", {"resume=" + dir, "train.max_steps=0"}, BaseArgs::None).exit_code, 0);
}

// Whether signal `signal_number` is in mask `field` (SigIgn:, SigPnd:, ShdPnd:) of
// process `pid`'s /proc status.
bool in_mask(pid_t pid, const std::string& field, int signal_number) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind(field, 0) == 0)
      return (std::stoull(line.substr(field.size()), nullptr, 16) >> (signal_number - 1)) & 1;
  return false;
}

// When stop_run_with sends its signal: once the first step is reported, or as soon as
// the app has started (it ignores SIGXFSZ, its first act after its stop signals' handlers:
// apps/common/trainer.cpp), during its set-up.
enum class SignalAt { FirstStep, SetUp };

// Starts app `app` (a 2-epoch 1cycle run, or a range test) named `name`, sends it
// `signal_number` `times` times, each once the one before has been taken, and returns
// its exit status, or minus the signal that ended it; its stdout goes to root_/<name>.out.
// With more_args starting "resume=", the app gets those alone: a resume takes its run's.
int stop_run_with(const std::string& root, const std::string& name, int signal_number, int times = 1,
                  SignalAt at = SignalAt::FirstStep, const std::string& app = "onecycle",
                  const std::vector<std::string>& more_args = {}) {
  const bool resuming = !more_args.empty() && more_args.front().rfind("resume=", 0) == 0;
  std::vector<std::string> args = {std::string(CYGNET_APPS_DIR) + "/cygnet_" + app,
                                         "device=cpu",
                                         "run_root=" + root + "/runs",
                                         "data.dataset=synthetic",
                                         "model.name=small_cnn",
                                         "data.synthetic_train=4096",
                                         "data.synthetic_val=256",
                                         "data.synthetic_size=32",
                                         "train.batch_size=64",
                                         "train.epochs=2",
                                         "train.log_every=1",
                                         "name=" + name};
  if (resuming) args.resize(1);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  for (const auto& a : more_args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const std::string out = root + "/" + name + ".out";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  // SIGXFSZ at its default in the app, whatever this process does with it: its ignore
  // is the app's sign that it has started.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGXFSZ);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, argv[0], &actions, &attributes, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (spawned != 0) return -1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  if (at == SignalAt::SetUp) {
    while (!in_mask(pid, "SigIgn:", SIGXFSZ) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
  } else {
    while (read_file(out).find("step 1/") == std::string::npos && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (int i = 0; i < times; ++i) {
    // Two signals sent back to back would merge into one pending signal.
    while ((in_mask(pid, "SigPnd:", signal_number) || in_mask(pid, "ShdPnd:", signal_number)) &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
    kill(pid, signal_number);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

TEST_F(EndToEnd, CtrlCStopsCleanlyAndTheRunResumes) {
  const int code = stop_run_with(root_, "interrupted", SIGINT);
  EXPECT_EQ(code, 130) << read_file(root_ + "/interrupted.out");
  const std::string dir = run_dir("onecycle-interrupted-");
  EXPECT_NE(read_file(dir + "/train.log").find("stopped at step"), std::string::npos);
  // The printed command runs as printed: the program as it was started, not a bare name
  // the shell cannot find.
  const std::string log = read_file(dir + "/train.log");
  const size_t hint = log.find("continue with: ");
  ASSERT_NE(hint, std::string::npos) << log;
  const std::string command = log.substr(hint + 15, log.find(" resume=", hint) - hint - 15);
  EXPECT_TRUE(std::filesystem::exists(command)) << "'" << command << "' from: " << log;
  EXPECT_NE(log.find(" resume=" + dir), std::string::npos) << log;
  EXPECT_TRUE(std::ifstream(dir + "/last.state.safetensors").good());

  const Result resumed = run("onecycle", {"resume=" + dir}, BaseArgs::None);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const Result straight = run("onecycle", {"data.synthetic_train=4096", "data.synthetic_size=32", "train.epochs=2",
                                           "train.log_every=1", "name=straight"});
  ASSERT_EQ(straight.exit_code, 0) << straight.err;
  EXPECT_EQ(metrics_without_timing(dir), metrics_without_timing(run_dir("onecycle-straight-")));
}

// SIGTERM (kill, docker stop, Slurm at a time limit) stops as Ctrl-C does: after the
// step in progress, with a checkpoint the run resumes from.
TEST_F(EndToEnd, SigtermStopsCleanlyAsCtrlCDoes) {
  const int code = stop_run_with(root_, "terminated", SIGTERM);
  EXPECT_EQ(code, 130) << "a clean stop's exit code, not death by the signal (-15): "
                       << read_file(root_ + "/terminated.out");
  const std::string dir = run_dir("onecycle-terminated-");
  EXPECT_NE(read_file(dir + "/train.log").find("stopped at step"), std::string::npos) << read_file(dir + "/train.log");
  ASSERT_TRUE(std::ifstream(dir + "/last.state.safetensors").good());
  const Result resumed = run("onecycle", {"resume=" + dir}, BaseArgs::None);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(summary(dir)["epochs_completed"].get<int>(), 2) << summary(dir).dump();
}

// A scheduler may signal a job at any time: a SIGUSR1 during the set-up (data, model)
// stops the run at its first step, with a checkpoint, instead of killing it.
TEST_F(EndToEnd, AStopSignalDuringTheSetUpStopsAtTheFirstStep) {
  const int code = stop_run_with(root_, "early", SIGUSR1, 1, SignalAt::SetUp);
  EXPECT_EQ(code, 130) << "a clean stop's exit code, not death by the signal (-10): " << read_file(root_ + "/early.out");
  const std::string dir = run_dir("onecycle-early-");
  ASSERT_FALSE(dir.empty()) << read_file(root_ + "/early.out");
  EXPECT_NE(read_file(dir + "/train.log").find("stopped at step"), std::string::npos) << read_file(dir + "/train.log");
  EXPECT_TRUE(std::ifstream(dir + "/last.state.safetensors").good());
}

// Launchers deliver SIGTERM twice (Slurm to every process, mpirun forwarding its own):
// a repeat is the same request, not a second Ctrl-C. Both come during the set-up, when
// no checkpoint is being written, so that only the rule keeps the run alive.
TEST_F(EndToEnd, ARepeatedSigtermIsTheSameRequest) {
  const int code = stop_run_with(root_, "twice", SIGTERM, 2, SignalAt::SetUp);
  EXPECT_EQ(code, 130) << "a clean stop's exit code, not death by the second signal (-15): "
                       << read_file(root_ + "/twice.out");
  const std::string dir = run_dir("onecycle-twice-");
  ASSERT_FALSE(dir.empty()) << read_file(root_ + "/twice.out");
  EXPECT_TRUE(std::ifstream(dir + "/last.state.safetensors").good());
}

// A stop on an epoch's last step ends that epoch first (validation, its row), so that
// the checkpoint starts the next one: with one step per epoch, every stop lands there,
// and the run resumes to its end.
TEST_F(EndToEnd, AStopOnAnEpochsLastStepResumes) {
  const int code = stop_run_with(root_, "epoch_end", SIGTERM, 1, SignalAt::FirstStep, "onecycle",
                                 {"data.synthetic_train=64", "train.epochs=300"});
  EXPECT_EQ(code, 130) << read_file(root_ + "/epoch_end.out");
  const std::string dir = run_dir("onecycle-epoch_end-");
  ASSERT_FALSE(dir.empty()) << read_file(root_ + "/epoch_end.out");
  const int stopped_after = summary(dir)["epochs_completed"].get<int>();
  EXPECT_LT(stopped_after, 300) << "the run was not stopped";
  const Result resumed = run("onecycle", {"resume=" + dir}, BaseArgs::None);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(summary(dir)["epochs_completed"].get<int>(), 300) << summary(dir).dump();
}

// Ctrl-C on the last step of the epoch that early stopping ends (one step an epoch, the
// signal sent during the resume's set-up, so taken at its first step): the run is
// finished, not stopped, and offers no resume.
TEST_F(EndToEnd, AStopOnTheEpochEarlyStoppingEndsFinishesTheRun) {
  ASSERT_EQ(run("onecycle", {"name=signalled", "data.synthetic_train=64", "train.epochs=6", "train.max_steps=1",
                             "train.early_stopping_patience=1", "train.early_stopping_monitor=val_acc",
                             "train.early_stopping_min_delta=1"})
                .exit_code,
            0);
  const std::string signalled = run_dir("onecycle-signalled-");
  ASSERT_EQ(summary(signalled)["epochs_completed"].get<int64_t>(), 1) << "the step limit after epoch 1";
  const int code = stop_run_with(root_, "signalled", SIGINT, 1, SignalAt::SetUp, "onecycle",
                                 {"resume=" + signalled, "train.max_steps=0"});
  const std::string out = read_file(root_ + "/signalled.out");
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("the run ends after epoch 2 of 6"), std::string::npos) << out;
  EXPECT_EQ(out.find("continue with"), std::string::npos) << out;
  EXPECT_FALSE(summary(signalled)["stopped_early"].get<bool>());
  EXPECT_EQ(summary(signalled)["epochs_completed"].get<int64_t>(), 2);
}

// A stop asked before stochastic weight averaging's batchnorm pass, or during it (here a
// Ctrl-C as a restarted ended run begins): exit 130, nothing evaluated or written, the
// run's files as they were; a later restart evaluates the average.
TEST_F(EndToEnd, AStopDuringTheAveragesBatchnormPassLeavesTheRunsFiles) {
  ASSERT_EQ(run("baseline", {"name=swa_stop", "train.epochs=2", "train.swa_start_epoch=1"}).exit_code, 0);
  const std::string dir = run_dir("baseline-swa_stop-");
  const nlohmann::json before = summary(dir)["swa"];
  ASSERT_FALSE(before["val_acc"].is_null());
  const std::string weights = read_file(dir + "/swa.safetensors");
  const int code = stop_run_with(root_, "swa_stop", SIGINT, 1, SignalAt::SetUp, "baseline", {"resume=" + dir});
  const std::string out = read_file(root_ + "/swa_stop.out");
  EXPECT_EQ(code, 130) << out;
  EXPECT_NE(out.find("before stochastic weight averaging's average was evaluated"), std::string::npos) << out;
  EXPECT_EQ(out.find("batchnorm statistics recomputed:"), std::string::npos) << out;
  EXPECT_EQ(summary(dir)["swa"], before);
  EXPECT_EQ(read_file(dir + "/swa.safetensors"), weights);
}

// train.max_time (Lightning's max_time): a run far longer than a second stops after one
// second of training, resumably, exit 0 and a line saying how to go on; a resume with the
// same time left trains no step, one with a longer time trains on, its time counted over
// both parts; the range test refuses the key.
TEST_F(EndToEnd, MaxTimeStopsTheRunResumably) {
  const Result r = run("onecycle", {"name=timed", "train.epochs=300", "train.max_time=00:00:01"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("train.max_time 00:00:01 reached after "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("train.max_time=<a longer time, or empty>"), std::string::npos) << r.out;
  const std::string dir = run_dir("onecycle-timed-");
  EXPECT_NE(r.out.find("resume=" + dir + " train.max_time="), std::string::npos) << r.out;
  const auto first = summary(dir);
  const int64_t steps = first["steps"].get<int64_t>();
  EXPECT_GE(steps, 1);
  EXPECT_LT(steps, 300 * 16) << "the whole run in a second";
  EXPECT_GE(first["total_seconds"].get<double>(), 1.0);
  EXPECT_TRUE(first["stopped_early"].get<bool>()) << "a run to resume, also when the limit fell on an epoch's end";
  EXPECT_LT(first["epochs_completed"].get<int64_t>(), 300);
  // The epoch so far is evaluated: its row ends at the last step.
  const auto rows = cyg::app::read_csv<cyg::app::EpochMetrics>(dir + "/metrics.csv");
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.back().step, steps);
  const Result again = run("onecycle", {"resume=" + dir}, BaseArgs::None);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("train.max_time 00:00:01 reached"), std::string::npos) << again.out;
  EXPECT_EQ(summary(dir)["steps"].get<int64_t>(), steps) << "no time left, no step";
  const Result longer = run("onecycle", {"resume=" + dir, "train.max_time=00:00:02"}, BaseArgs::None);
  ASSERT_EQ(longer.exit_code, 0) << longer.err;
  const int64_t later = summary(dir)["steps"].get<int64_t>();
  EXPECT_GT(later, steps);
  EXPECT_GE(summary(dir)["total_seconds"].get<double>(), 2.0);
  // An empty time is no limit: with more than 2 s trained, only the step limit stops it.
  const Result unlimited =
      run("onecycle", {"resume=" + dir, "train.max_time=", "train.max_steps=" + std::to_string(later + 5)},
          BaseArgs::None);
  ASSERT_EQ(unlimited.exit_code, 0) << unlimited.err;
  EXPECT_EQ(summary(dir)["steps"].get<int64_t>(), later + 5);
  EXPECT_EQ(unlimited.out.find("train.max_time"), std::string::npos) << unlimited.out;
  expect_one_line_error(run("lr_find", {"name=no", "train.max_time=00:01:00"}), "'train.max_time'");
}

// The range test too: a stop during its set-up ends its sweep at the first step, with
// that sweep reported.
TEST_F(EndToEnd, AStopSignalDuringTheRangeTestsSetUpReportsItsFirstStep) {
  const int code = stop_run_with(root_, "early_sweep", SIGTERM, 1, SignalAt::SetUp, "lr_find");
  EXPECT_EQ(code, 130) << read_file(root_ + "/early_sweep.out");
  const std::string dir = run_dir("lr_find-early_sweep-");
  ASSERT_FALSE(dir.empty()) << read_file(root_ + "/early_sweep.out");
  const auto s = summary(dir)["lr_find"];
  EXPECT_GE(s["steps"].get<int>(), 1) << s.dump();
}

TEST_F(EndToEnd, RangeTestStopsAtDivergenceAndSuggestsAnLrInsideTheSweep) {
  const Result r = run("lr_find", {"name=sweep", "lr_find.start_lr=1e-4", "lr_find.end_lr=1e4", "lr_find.steps=200"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string dir = run_dir("lr_find-sweep-");
  const auto s = summary(dir)["lr_find"];
  EXPECT_LT(s["steps"].get<int>(), 200) << "the loss should diverge before lr reaches 1e4";
  EXPECT_NE(s["stop_reason"].get<std::string>(), "end of the sweep");
  ASSERT_EQ(s["suggestions"].size(), 4u) << s.dump();  // fastai's three and steepest_central
  for (const auto& sug : s["suggestions"]) {
    EXPECT_GT(sug["lr"].get<double>(), 1e-4);
    EXPECT_LT(sug["lr"].get<double>(), 1e4);
  }
  for (const char* f : {"config.yaml", "steps.csv", "summary.json", "train.log", "lr_find.svg", "schedule.svg"})
    EXPECT_TRUE(std::ifstream(dir + "/" + f).good()) << f;
  EXPECT_GT(summary(dir)["total_seconds"].get<double>(), 0.0);
  EXPECT_NE(read_file(dir + "/steps.csv").find("smoothed_loss"), std::string::npos);
}

// Leslie Smith's weight-decay comparison: one sweep per value, each from the same initial
// weights over the same batches, in one run directory: one steps.csv with a weight_decay
// column, one plot with a curve per value, the suggestions per value in summary.json.
TEST_F(EndToEnd, RangeTestsOverSeveralWeightDecaysShareTheirStart) {
  const Result r = run("lr_find", {"name=decays", "lr_find.start_lr=1e-4", "lr_find.end_lr=1", "lr_find.steps=30",
                                   "lr_find.weight_decays=[0.01,0]"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string dir = run_dir("lr_find-decays-");
  const auto s = summary(dir)["lr_find"];
  ASSERT_EQ(s["sweeps"].size(), 2u) << s.dump();
  EXPECT_EQ(s["sweeps"][0]["weight_decay"].get<double>(), 0.01);
  EXPECT_EQ(s["sweeps"][1]["weight_decay"].get<double>(), 0.0);
  for (const auto& sweep : s["sweeps"]) {
    EXPECT_EQ(sweep["steps"].get<int>(), 30) << sweep.dump();
    ASSERT_EQ(sweep["suggestions"].size(), 4u) << sweep.dump();
  }
  const std::vector<cyg::app::RangeTestStep> rows =
      cyg::app::read_csv<cyg::app::RangeTestStep>(dir + "/steps.csv");
  ASSERT_EQ(rows.size(), 60u);
  // The same start: the first step's loss comes before any update, so it is the same in
  // both sweeps only if both began from the same weights on the same batch; the decay
  // then makes the weights, and so the later losses, differ.
  EXPECT_EQ(rows[0].weight_decay, 0.01);
  EXPECT_EQ(rows[30].weight_decay, 0.0);
  EXPECT_EQ(rows[30].step, 1);
  EXPECT_EQ(rows[0].loss, rows[30].loss);
  bool later_differ = false;
  for (size_t i = 1; i < 30; ++i) later_differ |= rows[i].loss != rows[30 + i].loss;
  EXPECT_TRUE(later_differ) << "the weight decay changed nothing";
  const std::string svg = read_file(dir + "/lr_find.svg");
  EXPECT_NE(svg.find("weight decay 0.01"), std::string::npos);
  EXPECT_NE(svg.find("weight decay 0<"), std::string::npos);
  EXPECT_NE(svg.find("valley, weight decay"), std::string::npos);
  // The model was not trained by the test it measures: a single sweep afterwards starts
  // from the same loss again (run in its own process, from the same seed).
  const Result one = run("lr_find", {"name=one", "lr_find.start_lr=1e-4", "lr_find.end_lr=1", "lr_find.steps=30",
                                     "optimizer.weight_decay=0.01"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const std::vector<cyg::app::RangeTestStep> single =
      cyg::app::read_csv<cyg::app::RangeTestStep>(run_dir("lr_find-one-") + "/steps.csv");
  ASSERT_EQ(single.size(), 30u);
  for (size_t i = 0; i < 30; ++i) EXPECT_EQ(single[i].loss, rows[i].loss) << "step " << i + 1;
  EXPECT_FALSE(summary(run_dir("lr_find-one-"))["lr_find"].contains("sweeps"));
}

// The report's workflow without copying a number: a range test, then a 1cycle run whose
// peak is the test's suggestion (schedule.lr_max_from), of the sweep at the run's weight
// decay; config.yaml records the lr taken, and a resume keeps it with the test gone.
TEST_F(EndToEnd, OneCycleTakesItsPeakFromARangeTest) {
  const Result picked = run("lr_find", {"name=pick", "lr_find.start_lr=1e-4", "lr_find.end_lr=1", "lr_find.steps=30",
                                        "lr_find.weight_decays=[1,0]"});
  ASSERT_EQ(picked.exit_code, 0) << picked.err;
  const std::string test = run_dir("lr_find-pick-");
  // The range test ends with the command of the next step per sweep, the settings that
  // must match, the sweep's weight decay and lr_min a tenth of the valley filled in; the
  // one at weight decay 0 runs as printed (a few steps of it).
  const std::string sweep0 = "a 1cycle run with this test's valley as its peak (weight decay 0): ";
  const size_t printed = picked.out.find(sweep0);
  ASSERT_NE(printed, std::string::npos) << picked.out;
  EXPECT_NE(picked.out.find("a 1cycle run with this test's valley as its peak (weight decay 1): "), std::string::npos);
  const std::string line = picked.out.substr(printed + sweep0.size(),
                                             picked.out.find('\n', printed) - printed - sweep0.size());
  EXPECT_NE(line.find(" model.name=small_cnn model.width=0 data.dataset=synthetic train.batch_size=64 "
                      "optimizer.name=sgd optimizer.weight_decay=0 schedule.lr_min="),
            std::string::npos)
      << line;
  EXPECT_NE(line.find(" schedule.lr_max_from=" + test), std::string::npos) << line;
  std::vector<std::string> words;
  std::istringstream split(line.substr(line.find(' ') + 1));
  for (std::string word; split >> word;) words.push_back(word);
  words.push_back("name=printed");
  words.push_back("train.max_steps=2");
  words.push_back("run_root=" + root_ + "/runs");
  words.push_back("data.synthetic_train=1024");
  words.push_back("data.synthetic_val=256");
  const Result pasted = run("onecycle", words, BaseArgs::None);
  EXPECT_EQ(pasted.exit_code, 0) << pasted.err;
  const auto sweeps = summary(test)["lr_find"]["sweeps"];
  auto suggestion = [&](size_t sweep, const std::string& rule) {
    for (const auto& s : sweeps[sweep]["suggestions"])
      if (s["rule"] == rule) return s["lr"].get<double>();
    ADD_FAILURE() << "no " << rule << " in " << sweeps.dump();
    return 0.0;
  };
  // A rule whose suggestion differs between the sweeps, so that the choice shows.
  std::string rule;
  for (const char* r : {"valley", "minimum/10", "steepest", "steepest_central"})
    if (rule.empty() && suggestion(0, r) != suggestion(1, r)) rule = r;
  ASSERT_FALSE(rule.empty()) << "the two sweeps suggest the same: " << sweeps.dump();
  const Result r = run("onecycle", {"name=peak", "schedule.lr_max_from=" + test + "/", "optimizer.weight_decay=0",
                                    "schedule.lr_min=1e-5", "schedule.lr_max_rule=" + rule, "train.epochs=2",
                                    "train.max_steps=3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string dir = run_dir("onecycle-peak-");
  // config.yaml's "  lr_max: X" line (under schedule:).
  auto recorded_lr_max = [&] {
    std::istringstream lines(read_file(dir + "/config.yaml"));
    for (std::string line; std::getline(lines, line);)
      if (line.rfind("  lr_max: ", 0) == 0) return std::stod(line.substr(10));
    ADD_FAILURE() << "no lr_max in " << dir << "/config.yaml";
    return 0.0;
  };
  const double taken = recorded_lr_max();
  EXPECT_EQ(taken, suggestion(1, rule)) << "the sweep at weight decay 0";
  EXPECT_NE(r.out.find("the " + rule + " of the range test in " + test), std::string::npos) << r.out;
  // The test removed, the run resumes to its end with the lr it took: the schedule's
  // peak (step 14 of 32) is that lr.
  std::filesystem::remove_all(test);
  const Result resumed = run("onecycle", {"resume=" + dir, "train.max_steps=0"}, BaseArgs::None);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  double peak = 0;
  for (const auto& step : cyg::app::read_csv<cyg::app::StepRecord>(dir + "/steps.csv")) peak = std::max(peak, step.lr);
  EXPECT_EQ(peak, taken);

  // A weight decay the test has no sweep at, and a suggestion below lr_min: one line each.
  expect_one_line_error(run("onecycle", {"schedule.lr_max_from=" + dir, "train.max_steps=1"}),
                        "not a range test's summary (no 'lr_find')");
  ASSERT_EQ(run("lr_find", {"name=again", "lr_find.start_lr=1e-4", "lr_find.end_lr=1", "lr_find.steps=30",
                            "lr_find.weight_decays=[1,0]"})
                .exit_code,
            0);
  const std::string again = run_dir("lr_find-again-");
  expect_one_line_error(run("onecycle", {"schedule.lr_max_from=" + again, "optimizer.weight_decay=0.5"}),
                        "no sweep at optimizer.weight_decay = 0.5; its sweeps are at 1, 0");
  expect_one_line_error(run("onecycle", {"schedule.lr_max_from=" + again, "optimizer.weight_decay=0",
                                         "schedule.lr_min=5"}),
                        "below 'schedule.lr_min' = 5");
  expect_one_line_error(run("onecycle", {"schedule.lr_max_from=" + again, "optimizer.weight_decay=0",
                                         "model.name=resnet20"}),
                        "ran another setup: model.name small_cnn (this run: resnet20)");
  expect_one_line_error(run("baseline", {"schedule.name=one_cycle", "schedule.lr_max_from=" + again}),
                        "'schedule.lr_max_from' sets a 1cycle run's peak (cygnet_onecycle); cygnet_baseline does not "
                        "take it");
}

// schedule.name=pytorch_one_cycle trains with PyTorch's OneCycleLR: 32 steps at
// pct_start 0.25 start at lr_max / 25, peak at step 8 (index 7 = 0.25 * 32 - 1) and end at
// lr_max / 25 / 1e4, the momentum 0.95 -> 0.85 -> 0.95, as torch.optim.lr_scheduler gives
// them step by step.
TEST_F(EndToEnd, PyTorchOneCycleRunsAsPyTorchSchedulesIt) {
  const Result r = run("onecycle", {"name=torch", "schedule.name=pytorch_one_cycle", "schedule.lr_max=0.1",
                                    "schedule.pct_start=0.25", "train.epochs=2"});  // anneal_strategy cos
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("schedule pytorch_one_cycle"), std::string::npos) << r.out;
  const auto steps = cyg::app::read_csv<cyg::app::StepRecord>(run_dir("onecycle-torch-") + "/steps.csv");
  ASSERT_EQ(steps.size(), 32u);
  EXPECT_NEAR(steps[0].lr, 0.004, 1e-12);
  EXPECT_NEAR(steps[7].lr, 0.1, 1e-12);
  EXPECT_NEAR(steps[31].lr, 4e-7, 1e-15);
  EXPECT_NEAR(steps[0].momentum, 0.95, 1e-12);
  EXPECT_NEAR(steps[7].momentum, 0.85, 1e-12);
  EXPECT_NEAR(steps[31].momentum, 0.95, 1e-12);
  for (size_t k = 1; k < steps.size(); ++k)
    EXPECT_EQ(steps[k].lr > steps[k - 1].lr, k <= 7) << "step " << k + 1 << ": up until the peak, then down";
  // PyTorch's default cosine: step 4 (index 3) of the rise 0..7.
  const double kPi = 3.14159265358979323846;
  EXPECT_NEAR(steps[3].lr, 0.1 + (0.004 - 0.1) / 2 * (std::cos(kPi * 3.0 / 7.0) + 1.0), 1e-12);
  // A rise that would end where it starts (0.0625 * 16 = 1): refused before training.
  expect_one_line_error(run("onecycle", {"schedule.name=pytorch_one_cycle", "schedule.pct_start=0.0625"}),
                        "'schedule.pct_start' = 0.0625 over 16 steps");
}

// Each run directory has a page to open in a browser, self-contained (plots inline, no
// script), and cygnet_table makes one for a set of runs, beside the report's numbers.
// (scripts/check_pages.sh opens them in headless Chromium.)
TEST_F(EndToEnd, RunsAndTablesHaveSelfContainedPages) {
  const Result r = run("onecycle", {"name=page", "train.epochs=2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string dir = run_dir("onecycle-page-");
  const std::string page = read_file(dir + "/index.html");
  EXPECT_EQ(page.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(page.find("cygnet_onecycle: page"), std::string::npos);
  EXPECT_NE(page.find("small_cnn"), std::string::npos) << "the header";
  EXPECT_NE(page.find("best validation accuracy"), std::string::npos);
  EXPECT_EQ(std::count(page.begin(), page.end(), '<') - std::count(page.begin(), page.end(), '>'), 0);
  size_t svgs = 0;
  for (size_t at = page.find("<svg"); at != std::string::npos; at = page.find("<svg", at + 1)) ++svgs;
  EXPECT_EQ(svgs, 7u) << "schedule, accuracy, loss, loss by step, the finished run's confusion matrix and highest "
                         "losses, and a training batch inline";
  EXPECT_EQ(page.find("<script"), std::string::npos);
  // Nothing external: no source loaded, no link off the machine (the SVG namespace is a
  // name, not a link).
  EXPECT_EQ(page.find("src="), std::string::npos);
  EXPECT_EQ(page.find("href=\"http"), std::string::npos);
  EXPECT_EQ(page.find("url("), std::string::npos);
  EXPECT_EQ(page.find("<?xml"), std::string::npos);
  EXPECT_NE(page.find("<pre>name: &quot;page&quot;"), std::string::npos) << "the configuration, escaped";
  const Result table = run("table", {"--out", root_ + "/table", root_ + "/runs"}, BaseArgs::None);
  ASSERT_EQ(table.exit_code, 0) << table.err;
  const std::string table_page = read_file(root_ + "/table/table1.html");
  EXPECT_NE(table_page.find("Report&apos;s acc"), std::string::npos);
  EXPECT_NE(table_page.find("<svg"), std::string::npos);
  EXPECT_NE(table_page.find("index.html"), std::string::npos) << "a link to each run's page";
}

TEST_F(EndToEnd, EvaluateReproducesTheCheckpointsAccuracy) {
  ASSERT_EQ(run("onecycle", {"name=eval", "train.epochs=1"}).exit_code, 0);
  const std::string dir = run_dir("onecycle-eval-");
  const double best = summary(dir)["best_val_acc"].get<double>();
  const std::string predictions = root_ + "/predictions.csv";
  const Result r =
      run("evaluate", {"--checkpoint", dir + "/best.safetensors", "--predictions", predictions}, BaseArgs::None);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  char expected[32];
  std::snprintf(expected, sizeof expected, "accuracy %.4f", best);
  EXPECT_NE(r.out.find(expected), std::string::npos) << r.out << " vs best_val_acc " << best;
  const std::string csv = read_file(predictions);
  EXPECT_EQ(csv.rfind("index,label,pred,logit_0,", 0), 0u);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 257);
}

// Flip test-time augmentation (--tta): the plain figures are printed unchanged, then the
// average's; its predictions file holds log-probabilities whose mean over the true
// classes is the printed loss and whose argmax gives the printed accuracy; each image's
// mirror probability implied by the average and the plain view (2 p_avg - p_plain) is a
// probability; and the matrix is the average's.
TEST_F(EndToEnd, EvaluateWithTtaAveragesEachImageWithItsMirror) {
  ASSERT_EQ(run("onecycle", {"name=tta", "train.epochs=1"}).exit_code, 0);
  const std::string dir = run_dir("onecycle-tta-");
  const std::string plain_csv = root_ + "/plain.csv", tta_csv = root_ + "/tta.csv", confusion = root_ + "/tta-confusion.csv";
  const Result plain =
      run("evaluate", {"--checkpoint", dir + "/best.safetensors", "--predictions", plain_csv}, BaseArgs::None);
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  const Result tta = run("evaluate", {"--checkpoint", dir + "/best.safetensors", "--tta", "--predictions", tta_csv,
                                      "--confusion", confusion}, BaseArgs::None);
  ASSERT_EQ(tta.exit_code, 0) << tta.err;
  EXPECT_EQ(tta.out.substr(0, tta.out.find('\n')), plain.out.substr(0, plain.out.find('\n')));
  const size_t line_at = tta.out.find("with flip test-time augmentation");
  ASSERT_NE(line_at, std::string::npos) << tta.out;
  double printed_loss = 0, printed_accuracy = 0;
  ASSERT_EQ(std::sscanf(tta.out.c_str() + tta.out.find("loss", line_at), "loss %lf, accuracy %lf", &printed_loss,
                        &printed_accuracy),
            2)
      << tta.out;
  // Rows of index,label,pred,logit_0..logit_9.
  const auto plain_rows = csv_numbers(read_file(plain_csv)), tta_rows = csv_numbers(read_file(tta_csv));
  ASSERT_EQ(tta_rows.size(), 256u);
  ASSERT_EQ(plain_rows.size(), 256u);
  double loss = 0;
  int64_t correct = 0, changed = 0;
  std::vector<int64_t> right_by_class(10, 0), images_by_class(10, 0);
  for (size_t i = 0; i < tta_rows.size(); ++i) {
    const std::vector<double>& t = tta_rows[i];
    const std::vector<double>& p = plain_rows[i];
    ASSERT_EQ(t.size(), 13u);
    ASSERT_EQ(t[1], p[1]) << "the same image at row " << i;
    const int64_t label = static_cast<int64_t>(t[1]);
    double sum = 0, plain_top = -INFINITY, plain_sum = 0;
    int64_t argmax = 0;
    for (int k = 0; k < 10; ++k) {
      sum += std::exp(t[3 + k]);
      if (t[3 + k] > t[3 + argmax]) argmax = k;
      plain_top = std::max(plain_top, p[3 + k]);
    }
    for (int k = 0; k < 10; ++k) plain_sum += std::exp(p[3 + k] - plain_top);
    EXPECT_NEAR(sum, 1.0, 1e-5) << "row " << i << ": log-probabilities";
    EXPECT_EQ(static_cast<int64_t>(t[2]), argmax) << "row " << i;
    for (int k = 0; k < 10; ++k) {
      const double mirror = 2 * std::exp(t[3 + k]) - std::exp(p[3 + k] - plain_top) / plain_sum;
      EXPECT_GE(mirror, -1e-5) << "row " << i << " class " << k;
      EXPECT_LE(mirror, 1 + 1e-5) << "row " << i << " class " << k;
    }
    loss -= t[3 + label];
    correct += argmax == label;
    right_by_class[static_cast<size_t>(label)] += argmax == label;
    ++images_by_class[static_cast<size_t>(label)];
    changed += std::abs(std::exp(t[3 + label]) - std::exp(p[3 + label] - plain_top) / plain_sum) > 1e-4;
  }
  EXPECT_NEAR(printed_loss, loss / 256, 2e-5);
  EXPECT_NEAR(printed_accuracy, static_cast<double>(correct) / 256, 1e-4);
  EXPECT_GT(changed, 128) << "the mirror is another view of most images";
  const std::string matrix = read_file(confusion);
  for (int64_t k = 0; k < 10; ++k) {
    std::istringstream lines(matrix);
    std::string line;
    for (int64_t skip = 0; skip <= k + 1; ++skip) std::getline(lines, line);
    std::vector<double> fields;
    std::istringstream cells(line);
    std::string cell;
    while (std::getline(cells, cell, ',')) fields.push_back(cell == "class " + std::to_string(k) ? -1.0 : std::stod(cell));
    ASSERT_EQ(fields.size(), 16u) << line;  // label, name, 10 counts, images, accuracy, precision, f1
    EXPECT_EQ(fields[static_cast<size_t>(2 + k)], right_by_class[static_cast<size_t>(k)]) << line;
    EXPECT_EQ(fields[12], images_by_class[static_cast<size_t>(k)]) << line;
  }
}

// --top-losses N lists the N images whose loss, worked out here from the predictions
// file's logits, is highest, highest first; --top-losses-svg draws them; bad counts are
// refused naming the flag.
TEST_F(EndToEnd, EvaluateListsAndDrawsTheTopLosses) {
  ASSERT_EQ(run("onecycle", {"name=top", "train.epochs=1"}).exit_code, 0);
  const std::string dir = run_dir("onecycle-top-");
  const std::string csv = root_ + "/predictions.csv", svg = root_ + "/top.svg";
  const Result r = run("evaluate", {"--checkpoint", dir + "/best.safetensors", "--predictions", csv, "--top-losses",
                                    "5", "--top-losses-svg", svg}, BaseArgs::None);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::pair<double, int64_t>> losses;  // (-loss, index): sorted, the highest first
  for (const std::vector<double>& f : csv_numbers(read_file(csv))) {
    ASSERT_EQ(f.size(), 13u);
    double top = -INFINITY, sum = 0;
    for (int k = 0; k < 10; ++k) top = std::max(top, f[3 + k]);
    for (int k = 0; k < 10; ++k) sum += std::exp(f[3 + k] - top);
    losses.push_back({-(top + std::log(sum) - f[3 + static_cast<size_t>(f[1])]), static_cast<int64_t>(f[0])});
  }
  ASSERT_EQ(losses.size(), 256u);
  std::sort(losses.begin(), losses.end());
  EXPECT_NE(r.out.find("the 5 images with the highest loss"), std::string::npos) << r.out;
  size_t at = r.out.find("the 5 images with the highest loss");
  for (int rank = 0; rank < 5; ++rank) {
    char want[64];
    std::snprintf(want, sizeof want, "%3d. image %-6lld", rank + 1, static_cast<long long>(losses[static_cast<size_t>(rank)].second));
    const size_t found = r.out.find(want, at);
    ASSERT_NE(found, std::string::npos) << r.out << "\nlacks " << want;
    double loss = 0;
    ASSERT_EQ(std::sscanf(r.out.c_str() + r.out.find("loss", found), "loss %lf", &loss), 1);
    EXPECT_NEAR(loss, -losses[static_cast<size_t>(rank)].first, 1e-3) << want;
    at = found;
  }
  const std::string picture = read_file(svg);
  size_t images = 0;
  for (size_t p = picture.find("<image "); p != std::string::npos; p = picture.find("<image ", p + 1)) ++images;
  EXPECT_EQ(images, 5u);
  EXPECT_NE(picture.find("The 5 highest losses on synthetic"), std::string::npos);

  for (const char* bad : {"0", "-3", "x", "4.5", "10001"}) {
    const Result refused = run("evaluate", {"--checkpoint", dir + "/best.safetensors", "--top-losses", bad},
                               BaseArgs::None);
    EXPECT_NE(refused.exit_code, 0) << bad;
    EXPECT_NE(refused.err.find("--top-losses: expected a whole number of images from 1 to 10000, got '" +
                               std::string(bad) + "'"),
              std::string::npos)
        << refused.err;
  }
  const Result empty = run("evaluate", {"--checkpoint", dir + "/best.safetensors", "--top-losses-svg", ""},
                           BaseArgs::None);
  EXPECT_NE(empty.exit_code, 0);
  EXPECT_NE(empty.err.find("--top-losses-svg: an empty value"), std::string::npos) << empty.err;
  // The picture alone draws 16.
  const Result picture_only =
      run("evaluate", {"--checkpoint", dir + "/best.safetensors", "--top-losses-svg", svg}, BaseArgs::None);
  ASSERT_EQ(picture_only.exit_code, 0) << picture_only.err;
  EXPECT_NE(read_file(svg).find("The 16 highest losses"), std::string::npos);
}

// The validation split of the fast synthetic runs, as the apps make it.
cyg::Dataset fast_synthetic_val() {
  cyg::app::RunConfig config;
  config.data.dataset = "synthetic";
  config.data.synthetic_train = 1024;
  config.data.synthetic_val = 256;
  return cyg::app::load_data(config).val;
}

// Image i of an RGB u8 NCHW dataset written as a PNG file, mirrored left to right if asked.
void write_png_of(const cyg::Dataset& d, int64_t i, const std::string& path, bool mirrored = false) {
  const int64_t C = d.images.size(1), H = d.images.size(2), W = d.images.size(3);
  std::vector<uint8_t> hwc(static_cast<size_t>(H * W * C));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x)
        hwc[static_cast<size_t>((y * W + (mirrored ? W - 1 - x : x)) * C + c)] =
            d.images.data<uint8_t>()[((i * C + c) * H + y) * W + x];
  std::ofstream(path, std::ios::binary) << cyg::app::png_bytes(hwc.data(), W, H, static_cast<int>(C));
}

// A CSV line's fields, a quoted field (RFC 4180) unquoted.
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t k = 0; k < line.size(); ++k) {
    const char c = line[k];
    if (quoted && c == '"' && k + 1 < line.size() && line[k + 1] == '"') {
      fields.back() += '"';
      ++k;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  return fields;
}

// --image (fastai's learn.predict): validation images written as PNG files here get the
// classes and probabilities that the checkpoint's logits for them (--predictions), worked
// out here, give; a grayscale copy, twice the size, is made RGB and 16x16 again and
// predicted too; bad files and flags get one line.
TEST_F(EndToEnd, EvaluatePredictsImageFiles) {
  ASSERT_EQ(run("onecycle", {"name=predict", "train.epochs=1"}).exit_code, 0);
  const std::string dir = run_dir("onecycle-predict-");
  const std::string predictions = root_ + "/val.csv";
  ASSERT_EQ(run("evaluate", {"--checkpoint", dir + "/best.safetensors", "--predictions", predictions}, BaseArgs::None)
                .exit_code,
            0);
  // The validation images as the app makes them (the run's configuration), as PNG files.
  const cyg::Dataset val = fast_synthetic_val();
  const int64_t C = val.images.size(1), H = val.images.size(2), W = val.images.size(3);
  ASSERT_EQ(C, 3);
  std::vector<std::string> files;
  for (int64_t i : {5, 0, 77}) {
    files.push_back(root_ + "/image" + std::to_string(i) + ".png");
    write_png_of(val, i, files.back());
  }
  // Image 5 in gray, each pixel repeated 2x2.
  std::vector<uint8_t> gray(static_cast<size_t>(4 * H * W));
  for (int64_t y = 0; y < 2 * H; ++y)
    for (int64_t x = 0; x < 2 * W; ++x)
      gray[static_cast<size_t>(y * 2 * W + x)] = val.images.data<uint8_t>()[(5 * C) * H * W + (y / 2) * W + x / 2];
  const std::string big_gray = root_ + "/gray.png";
  std::ofstream(big_gray, std::ios::binary) << cyg::app::png_bytes(gray.data(), 2 * W, 2 * H, 1);

  std::vector<std::string> args = {"--checkpoint", dir + "/best.safetensors"};
  for (const std::string& f : files) args.insert(args.end(), {"--image", f});
  args.insert(args.end(), {"--image", big_gray});
  const Result r = run("evaluate", args, BaseArgs::None);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("on 4 image files, each made 16x16 RGB as synthetic's images are:"), std::string::npos)
      << r.out;
  const std::vector<std::vector<double>> rows = csv_numbers(read_file(predictions));
  const std::vector<int64_t> indices = {5, 0, 77};
  for (size_t n = 0; n < indices.size(); ++n) {
    const std::vector<double>& f = rows[static_cast<size_t>(indices[n])];
    ASSERT_EQ(static_cast<int64_t>(f[0]), indices[n]);
    double top = -INFINITY, sum = 0;
    for (int k = 0; k < 10; ++k) top = std::max(top, f[3 + static_cast<size_t>(k)]);
    std::vector<std::pair<double, int>> ranked;
    for (int k = 0; k < 10; ++k) sum += std::exp(f[3 + static_cast<size_t>(k)] - top);
    for (int k = 0; k < 10; ++k) ranked.push_back({-std::exp(f[3 + static_cast<size_t>(k)] - top) / sum, k});
    std::sort(ranked.begin(), ranked.end());
    // The line: "  <file>: class a p, class b q, class c r".
    const size_t at = r.out.find("  " + files[n] + ": ");
    ASSERT_NE(at, std::string::npos) << r.out;
    const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
    std::istringstream parts(line.substr(line.find(": ") + 2));
    size_t k = 0;
    for (std::string part; std::getline(parts, part, ','); ++k) {
      int cls = -1;
      double probability = -1;
      ASSERT_EQ(std::sscanf(part.c_str(), " class %d %lf", &cls, &probability), 2) << line;
      ASSERT_LT(k, 3u) << line;
      EXPECT_EQ(cls, ranked[k].second) << line;
      EXPECT_NEAR(probability, -ranked[k].first, 2e-4) << line;
    }
    EXPECT_EQ(k, 3u) << "the three most likely classes: " << line;
  }
  EXPECT_NE(r.out.find("  " + big_gray + ": class "), std::string::npos) << r.out;
  // The emulated device in channels-last (the GPU's path, in every build): the same
  // classes, the probabilities within float rounding.
  std::vector<std::string> on_emu = args;
  on_emu.insert(on_emu.end(), {"device=emu", "memory_format=channels_last"});
  const Result emu = run("evaluate", on_emu, BaseArgs::None);
  ASSERT_EQ(emu.exit_code, 0) << emu.err;
  for (const std::string& f : {files[0], files[1], files[2], big_gray}) {
    auto line_of = [&](const std::string& out) {
      const size_t at = out.find("  " + f + ": ");
      return at == std::string::npos ? std::string() : out.substr(at, out.find('\n', at) - at);
    };
    const std::string cpu_line = line_of(r.out), emu_line = line_of(emu.out);
    ASSERT_FALSE(emu_line.empty()) << emu.out;
    std::istringstream a(cpu_line.substr(cpu_line.find(": ") + 2)), b(emu_line.substr(emu_line.find(": ") + 2));
    for (std::string pa, pb; std::getline(a, pa, ',') && std::getline(b, pb, ',');) {
      int ca = -1, cb = -2;
      double qa = -1, qb = -2;
      ASSERT_EQ(std::sscanf(pa.c_str(), " class %d %lf", &ca, &qa), 2) << cpu_line;
      ASSERT_EQ(std::sscanf(pb.c_str(), " class %d %lf", &cb, &qb), 2) << emu_line;
      EXPECT_EQ(ca, cb) << cpu_line << " vs " << emu_line;
      EXPECT_NEAR(qa, qb, 2e-4) << cpu_line << " vs " << emu_line;
    }
  }

  // A folder: its .png files in name order (gray.png, image0.png, image5.png, image77.png).
  const std::string folder = root_ + "/pictures";
  std::filesystem::create_directories(folder + "/inner");
  for (const std::string& f : {files[0], files[1], files[2], big_gray})
    std::filesystem::copy_file(f, folder + "/" + std::filesystem::path(f).filename().string());
  std::ofstream(folder + "/notes.txt") << "not an image";
  std::ofstream(folder + "/._image0.png") << "a macOS resource fork, not an image";
  std::filesystem::copy_file(files[0], folder + "/inner/deeper.png");
  const Result in_folder = run("evaluate", {"--checkpoint", dir + "/best.safetensors", "--image", folder}, BaseArgs::None);
  ASSERT_EQ(in_folder.exit_code, 0) << in_folder.err;
  EXPECT_NE(in_folder.out.find("on 4 image files"), std::string::npos) << in_folder.out;
  size_t previous = 0;
  for (const char* name : {"/gray.png: ", "/image0.png: ", "/image5.png: ", "/image77.png: "}) {
    const size_t at = in_folder.out.find(folder + name);
    ASSERT_NE(at, std::string::npos) << in_folder.out;
    EXPECT_GT(at, previous) << name << " out of order: " << in_folder.out;
    previous = at;
  }
  std::filesystem::create_directories(root_ + "/empty");
  expect_one_line_error(run("evaluate", {"--checkpoint", dir + "/best.safetensors", "--image", root_ + "/empty"},
                            BaseArgs::None),
                        "image folder '" + root_ + "/empty' holds no image file (.png, .jpg or .jpeg)");

  expect_one_line_error(run("evaluate", {"--checkpoint", dir + "/best.safetensors", "--image", root_ + "/none.png"},
                            BaseArgs::None),
                        "image '" + root_ + "/none.png' not found");
  expect_one_line_error(run("evaluate", {"--checkpoint", dir + "/best.safetensors", "--image", dir + "/config.yaml"},
                            BaseArgs::None),
                        "config.yaml' is neither a PNG nor a JPEG file (by its first bytes)");
  // A run directory given as the checkpoint is named as such; a checkpoint without its
  // config.yaml is evaluated with the defaults, which the first line says.
  expect_one_line_error(run("evaluate", {"--checkpoint", dir, "--image", files[0]}, BaseArgs::None),
                        "--checkpoint '" + dir + "' is a folder: give a weights file in it (such as " + dir +
                            "/best.safetensors)");
  std::filesystem::create_directories(root_ + "/lone");
  std::filesystem::copy_file(dir + "/best.safetensors", root_ + "/lone/best.safetensors");
  const Result lone = run("evaluate", {"--checkpoint", root_ + "/lone/best.safetensors", "--image", files[0],
                                       "data.dataset=synthetic", "model.name=small_cnn"},
                          BaseArgs::None);
  EXPECT_EQ(lone.exit_code, 0) << lone.err;
  EXPECT_NE(lone.out.find("  " + files[0] + ": class "), std::string::npos) << lone.out;
  EXPECT_EQ(lone.out.rfind("no config.yaml beside '" + root_ + "/lone/best.safetensors': the default configuration "
                           "with the keys given", 0),
            0u)
      << lone.out << lone.err;
  expect_one_line_error(run("evaluate", {"--checkpoint", dir + "/best.safetensors", "--image", files[0], "--confusion",
                                         root_ + "/c.csv"},
                            BaseArgs::None),
                        "--image predicts the image files given, which have no labels");
}

// --image FOLDER --predictions FILE.csv (fastai's get_preds on a test_dl), and --tta: 26
// validation images written as PNG files here, and image 5's mirror image. Each CSV row
// holds the logits that scoring the validation split gives that image (plain, or with
// --tta), its class and probability from them, and its path (quoted where it holds a
// comma); the printed counts of each class are those of the file. With --tta, image 5 and
// its mirror (a file of its own) get the same averaged probabilities, where plainly they
// differ. A folder with two bad files names the first and counts the other.
TEST_F(EndToEnd, EvaluatePredictsAFolderOfImagesIntoACsvFile) {
  ASSERT_EQ(run("onecycle", {"name=test-set", "train.epochs=1"}).exit_code, 0);
  const std::string dir = run_dir("onecycle-test-set-");
  const std::string checkpoint = dir + "/best.safetensors";
  const std::string val_csv = root_ + "/val.csv", val_tta_csv = root_ + "/val-tta.csv";
  ASSERT_EQ(run("evaluate", {"--checkpoint", checkpoint, "--predictions", val_csv}, BaseArgs::None).exit_code, 0);
  ASSERT_EQ(run("evaluate", {"--checkpoint", checkpoint, "--predictions", val_tta_csv, "--tta"}, BaseArgs::None).exit_code,
            0);
  const auto val_rows = csv_numbers(read_file(val_csv)), val_tta_rows = csv_numbers(read_file(val_tta_csv));
  ASSERT_EQ(val_rows.size(), 256u);

  const cyg::Dataset val = fast_synthetic_val();
  const std::string folder = root_ + "/test-set";
  std::filesystem::create_directories(folder);
  std::map<std::string, int64_t> image_of;  // each file's validation image
  for (int64_t i = 0; i < 25; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "/img_%02lld.png", static_cast<long long>(i));
    image_of[folder + name] = i;
  }
  image_of[folder + "/a,\"b\".png"] = 25;
  for (const auto& [path, i] : image_of) write_png_of(val, i, path);
  const std::string mirror = folder + "/mirror_05.png";
  write_png_of(val, 5, mirror, /*mirrored=*/true);

  struct Row {
    int64_t pred = -1;
    std::string name;
    double probability = -1;
    std::vector<double> logits;
  };
  // The CSV's rows by file, in the file's order; its header checked.
  auto rows_of = [&](const std::string& text, std::vector<std::string>& order) {
    std::map<std::string, Row> rows;
    std::istringstream in(text);
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line.substr(0, 38), "file,pred,class,probability,logit_0,lo") << line;
    while (std::getline(in, line)) {
      const std::vector<std::string> f = csv_fields(line);
      EXPECT_EQ(f.size(), 14u) << line;
      if (f.size() != 14u) continue;
      Row row;
      row.pred = std::stoll(f[1]);
      row.name = f[2];
      row.probability = std::stod(f[3]);
      for (size_t k = 4; k < 14; ++k) row.logits.push_back(std::stod(f[k]));
      order.push_back(f[0]);
      rows[f[0]] = row;
    }
    return rows;
  };
  for (const bool tta : {false, true}) {
    SCOPED_TRACE(tta ? "--tta" : "plain");
    const std::string csv = root_ + (tta ? "/test-tta.csv" : "/test.csv");
    std::vector<std::string> args = {"--checkpoint", checkpoint, "--image", folder, "--predictions", csv};
    if (tta) args.push_back("--tta");
    const Result r = run("evaluate", args, BaseArgs::None);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find(std::string("on 27 image files, each made 16x16 RGB as synthetic's images are") +
                         (tta ? ", with flip test-time augmentation" : ":")),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("  ... and 7 more, in " + csv), std::string::npos) << r.out;
    std::vector<std::string> order;
    const std::map<std::string, Row> rows = rows_of(read_file(csv), order);
    ASSERT_EQ(rows.size(), 27u);
    std::vector<std::string> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(order, sorted) << "the files in name order";
    std::map<std::string, int64_t> per_class;
    for (const auto& [path, row] : rows) {
      ++per_class[row.name];
      int64_t argmax = 0;
      double top = -INFINITY, sum = 0;
      for (size_t k = 0; k < 10; ++k) {
        if (row.logits[k] > row.logits[static_cast<size_t>(argmax)]) argmax = static_cast<int64_t>(k);
        top = std::max(top, row.logits[k]);
      }
      for (size_t k = 0; k < 10; ++k) sum += std::exp(row.logits[k] - top);
      EXPECT_EQ(row.pred, argmax) << path;
      EXPECT_EQ(row.name, "class " + std::to_string(argmax)) << path;
      EXPECT_NEAR(row.probability, std::exp(row.logits[static_cast<size_t>(argmax)] - top) / sum, 1e-6) << path;
      if (path == mirror) continue;
      const std::vector<double>& v = (tta ? val_tta_rows : val_rows)[static_cast<size_t>(image_of.at(path))];
      for (size_t k = 0; k < 10; ++k)
        EXPECT_NEAR(row.logits[k], v[3 + k], 1e-4 * std::max(1.0, std::abs(v[3 + k]))) << path << " class " << k;
    }
    // "predicted classes: class 3 9, class 0 7, ...": the file's counts, the most first.
    const size_t at = r.out.find("predicted classes: ");
    ASSERT_NE(at, std::string::npos) << r.out;
    std::istringstream counts(r.out.substr(at + 19, r.out.find('\n', at) - at - 19));
    int64_t listed = 0, previous = 1 << 30;
    for (std::string part; std::getline(counts, part, ',');) {
      int cls = -1;
      long long n = -1;
      ASSERT_EQ(std::sscanf(part.c_str(), " class %d %lld", &cls, &n), 2) << part;
      EXPECT_EQ(per_class["class " + std::to_string(cls)], n) << part;
      EXPECT_LE(n, previous) << part;
      previous = n;
      listed += n;
    }
    EXPECT_EQ(listed, 27);
    const Row& plain5 = rows.at(folder + "/img_05.png");
    const Row& mirrored5 = rows.at(mirror);
    double largest = 0;
    for (size_t k = 0; k < 10; ++k) largest = std::max(largest, std::abs(plain5.logits[k] - mirrored5.logits[k]));
    if (tta)
      EXPECT_LT(largest, 1e-4) << "an image and its mirror average to the same probabilities";
    else
      EXPECT_GT(largest, 1e-3) << "the mirror is another view";
  }

  // data.resize_method=crop: image 5 in the middle of a picture three times as wide (the
  // sides noise) is cropped back to image 5, where squishing it gives another image.
  {
    const int64_t C = 3, H = 16, W = 16;
    std::vector<uint8_t> hwc(static_cast<size_t>(H * 3 * W * C));
    uint32_t state = 12345;
    for (uint8_t& v : hwc) v = static_cast<uint8_t>((state = state * 1664525u + 1013904223u) >> 24);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x)
          hwc[static_cast<size_t>((y * 3 * W + W + x) * C + c)] = val.images.data<uint8_t>()[((5 * C + c) * H + y) * W + x];
    const std::string wide = root_ + "/wide.png";
    std::ofstream(wide, std::ios::binary) << cyg::app::png_bytes(hwc.data(), 3 * W, H, static_cast<int>(C));
    for (const std::string method : {"crop", "squish"}) {
      const std::string csv = root_ + "/wide-" + method + ".csv";
      const Result r = run("evaluate", {"--checkpoint", checkpoint, "--image", wide, "--predictions", csv,
                                        "data.resize_method=" + method}, BaseArgs::None);
      ASSERT_EQ(r.exit_code, 0) << r.err;
      std::vector<std::string> order;
      const Row row = rows_of(read_file(csv), order).at(wide);
      double largest = 0;
      for (size_t k = 0; k < 10; ++k) largest = std::max(largest, std::abs(row.logits[k] - val_rows[5][3 + k]));
      if (method == "crop")
        EXPECT_LT(largest, 1e-4) << "cropped back to image 5";
      else
        EXPECT_GT(largest, 1e-3) << "squished, another image";
    }
  }

  // Every output is checked before the work: one line naming the file that cannot be
  // written, nothing evaluated, and the other outputs neither written nor touched.
  {
    const std::string kept = root_ + "/kept.csv", fresh = root_ + "/fresh.csv";
    std::ofstream(kept) << "an earlier file";
    for (const auto& [flag, path, why] :
         std::vector<std::tuple<std::string, std::string, std::string>>{
             {"--confusion-svg", root_ + "/missing/c.svg", "No such file or directory"},
             {"--confusion-svg", folder, "a folder, not a file"},
             {"--confusion", root_ + "/./kept.csv", ""}}) {
      const Result r = run("evaluate", {"--checkpoint", checkpoint, "--predictions", kept, "--top-losses-svg", fresh,
                                        flag, path},
                           BaseArgs::None);
      if (why.empty())
        expect_one_line_error(r, "'" + path + "' is named for two outputs: give each its own file");
      else
        expect_one_line_error(r, "cannot write '" + path + "': " + why);
      EXPECT_EQ(r.out.find("accuracy"), std::string::npos) << "evaluated before the check: " << r.out;
      EXPECT_EQ(read_file(kept), "an earlier file");
      EXPECT_FALSE(std::filesystem::exists(fresh));
    }
    std::vector<std::string> left;  // the checks' temporary files are gone
    for (const auto& entry : std::filesystem::directory_iterator(root_))
      if (entry.path().filename().string().find(".tmp.") != std::string::npos) left.push_back(entry.path());
    EXPECT_TRUE(left.empty()) << left.front();
  }

  const std::string bad = root_ + "/bad-set";
  std::filesystem::create_directories(bad);
  for (int64_t i = 0; i < 40; ++i) write_png_of(val, i, bad + "/" + std::to_string(100 + i) + ".png");
  std::ofstream(bad + "/120.png") << "not a PNG";
  std::ofstream(bad + "/131.png") << "not a PNG either";
  expect_one_line_error(run("evaluate", {"--checkpoint", checkpoint, "--image", bad, "--predictions", root_ + "/x.csv"},
                            BaseArgs::None),
                        "120.png' is neither a PNG nor a JPEG file (by its first bytes) (1 more of the 40 files failed "
                        "too: '" + bad + "/131.png')");
  EXPECT_FALSE(std::filesystem::exists(root_ + "/x.csv"));
}

// A folder run made before runs recorded data.classes and data.train_files (its
// config.yaml and checkpoint without them) resumes as before, recording nothing; and a
// run with train.drop_last predicts an image file, though the one training image the
// prediction reads makes no full batch.
TEST_F(EndToEnd, AFolderRunMadeBeforeItsRecordsResumes) {
  const cyg::Dataset val = fast_synthetic_val();
  const std::string pics = root_ + "/old-pics";
  for (int64_t i = 0; i < 48; ++i) {
    const int32_t label = val.labels.data<int32_t>()[i];
    const std::string folder = pics + (i < 32 ? "/train/" : "/valid/") + "c" + std::to_string(label % 2);
    std::filesystem::create_directories(folder);
    write_png_of(val, i, folder + "/" + std::to_string(i) + ".png");
  }
  const std::vector<std::string> folder = {"data.dataset=folder", "data.root=" + pics, "train.batch_size=8"};
  ASSERT_EQ(run("onecycle", joined(folder, {"name=old", "train.max_steps=2", "train.drop_last=true"})).exit_code, 0);
  const std::string dir = run_dir("onecycle-old-");
  const std::string image = pics + "/valid/c1/" + std::filesystem::directory_iterator(pics + "/valid/c1")
                                                      ->path().filename().string();
  const Result asked = run("evaluate", {"--checkpoint", dir + "/last.safetensors", "--image", image}, BaseArgs::None);
  ASSERT_EQ(asked.exit_code, 0) << asked.err;
  EXPECT_NE(asked.out.find("  " + image + ": c"), std::string::npos) << asked.out;

  auto without_records = [](const std::string& yaml) {
    std::istringstream in(yaml);
    std::string out;
    for (std::string line; std::getline(in, line);)
      if (line.rfind("  classes:", 0) != 0 && line.rfind("  train_files:", 0) != 0) out += line + "\n";
    return out;
  };
  const std::string config = read_file(dir + "/config.yaml");
  ASSERT_NE(config.find("  classes: [\"c0\", \"c1\"]"), std::string::npos) << config;
  ASSERT_NE(config.find("  train_files: \"32 files, fnv1a "), std::string::npos) << config;
  std::ofstream(dir + "/config.yaml") << without_records(config);
  cyg::SafetensorsContent state = cyg::load_safetensors(dir + "/last.state.safetensors");
  ASSERT_NE(state.metadata["experiment"].find("  classes:"), std::string::npos);
  state.metadata["experiment"] = without_records(state.metadata["experiment"]);
  cyg::save_safetensors(dir + "/last.state.safetensors", state.tensors, state.metadata);

  const Result resumed = run("onecycle", {"resume=" + dir, "train.max_steps=4"}, BaseArgs::None);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const std::string after = read_file(dir + "/config.yaml");
  EXPECT_NE(after.find("  classes: []\n"), std::string::npos) << after;
  EXPECT_NE(after.find("  train_files: \"\"\n"), std::string::npos) << after;

}

// --interpolate (Goodfellow et al.'s linear interpolation) between epoch 1's and epoch 2's
// snapshots: the ends score as the run scored those epochs (metrics.csv), and the middle
// as the midpoint weights, worked out and written here, score through a plain evaluate.
TEST_F(EndToEnd, EvaluateInterpolatesBetweenTwoCheckpoints) {
  ASSERT_EQ(run("onecycle", {"name=line", "train.epochs=2", "train.save_every_n_epochs=1"}).exit_code, 0);
  const std::string dir = run_dir("onecycle-line-");
  const std::string a = dir + "/epoch-001.safetensors", b = dir + "/epoch-002.safetensors";
  const std::string csv = root_ + "/line.csv", svg = root_ + "/line.svg";
  const Result r = run("evaluate", {"--checkpoint", a, "--interpolate", b, "--points", "3", "--interpolation-csv", csv,
                                    "--interpolation-svg", svg},
                       BaseArgs::None);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("3 points on synthetic, batchnorm statistics interpolated with the weights"), std::string::npos)
      << r.out;
  EXPECT_EQ(read_file(csv).rfind("t,val_loss,val_acc\n", 0), 0u);
  const std::vector<std::vector<double>> line = csv_numbers(read_file(csv));
  ASSERT_EQ(line.size(), 3u);
  EXPECT_EQ(line[0][0], 0.0);
  EXPECT_EQ(line[1][0], 0.5);
  EXPECT_EQ(line[2][0], 1.0);
  const auto epochs = cyg::app::read_csv<cyg::app::EpochMetrics>(dir + "/metrics.csv");
  ASSERT_EQ(epochs.size(), 2u);
  EXPECT_EQ(line[0][1], epochs[0].val_loss);
  EXPECT_EQ(line[0][2], epochs[0].val_acc);
  EXPECT_EQ(line[2][1], epochs[1].val_loss);
  EXPECT_EQ(line[2][2], epochs[1].val_acc);
  // The midpoint, made here: each float tensor's mean, num_batches_tracked epoch 1's.
  const cyg::SafetensorsContent first = cyg::load_safetensors(a), second = cyg::load_safetensors(b);
  ASSERT_EQ(first.tensors.size(), second.tensors.size());
  cyg::NamedTensorList middle;
  for (size_t i = 0; i < first.tensors.size(); ++i) {
    const cyg::Tensor& x = first.tensors[i].second;
    ASSERT_EQ(first.tensors[i].first, second.tensors[i].first);
    if (x.dtype() != cyg::DType::F32) {
      middle.push_back(first.tensors[i]);
      continue;
    }
    std::vector<float> values = x.to_vector(), other = second.tensors[i].second.to_vector();
    for (size_t j = 0; j < values.size(); ++j)
      values[j] = static_cast<float>(0.5 * static_cast<double>(values[j]) + 0.5 * static_cast<double>(other[j]));
    middle.emplace_back(first.tensors[i].first, cyg::Tensor::from_vector(values, x.shape()));
  }
  cyg::save_safetensors(root_ + "/middle.safetensors", middle);
  std::filesystem::copy_file(dir + "/config.yaml", root_ + "/config.yaml");
  const Result mid = run("evaluate", {"--checkpoint", root_ + "/middle.safetensors"}, BaseArgs::None);
  ASSERT_EQ(mid.exit_code, 0) << mid.err;
  char expected[48];
  std::snprintf(expected, sizeof expected, "loss %.6f, accuracy %.4f", line[1][1], line[1][2]);
  EXPECT_NE(mid.out.find(expected), std::string::npos) << mid.out << " vs " << expected;
  EXPECT_NE(read_file(svg).find("Between two checkpoints"), std::string::npos);
  // With the statistics recomputed at each point.
  // With the statistics recomputed at each point: other statistics than the run's, so
  // other scores at the ends (finite ones).
  const std::string recomputed_csv = root_ + "/recomputed.csv";
  const Result recomputed = run("evaluate", {"--checkpoint", a, "--interpolate", b, "--points", "2", "--recompute-bn",
                                             "--interpolation-csv", recomputed_csv},
                                BaseArgs::None);
  ASSERT_EQ(recomputed.exit_code, 0) << recomputed.err;
  EXPECT_NE(recomputed.out.find("batchnorm statistics recomputed over the training images at each point"),
            std::string::npos);
  const std::vector<std::vector<double>> again = csv_numbers(read_file(recomputed_csv));
  ASSERT_EQ(again.size(), 2u);
  for (const std::vector<double>& row : again) EXPECT_TRUE(std::isfinite(row[1])) << row[1];
  EXPECT_NE(again[0][1], epochs[0].val_loss) << "the recomputed statistics are the run's";
  EXPECT_NE(again[1][1], epochs[1].val_loss) << "the recomputed statistics are the run's";

  cyg::save_safetensors(root_ + "/other.safetensors", {middle.front()});
  expect_one_line_error(run("evaluate", {"--checkpoint", a, "--interpolate", root_ + "/other.safetensors"},
                            BaseArgs::None),
                        "other.safetensors' has 1 tensor and '");
  expect_one_line_error(run("evaluate", {"--checkpoint", a, "--interpolate", b, "--points", "1"}, BaseArgs::None),
                        "--points: expected a whole number of points from 2 to 1001, got '1'");
  expect_one_line_error(run("evaluate", {"--checkpoint", a, "--points", "5"}, BaseArgs::None),
                        "shape --interpolate, which is not given");
  expect_one_line_error(run("evaluate", {"--checkpoint", a, "--points", "11"}, BaseArgs::None),
                        "shape --interpolate, which is not given");
  expect_one_line_error(run("evaluate", {"--checkpoint", a, "--interpolate", b, "--tta"}, BaseArgs::None),
                        "--interpolate evaluates the weights between two checkpoints");
  expect_one_line_error(run("evaluate", {"--checkpoint", a, "--interpolate", root_ + "/none.safetensors"},
                            BaseArgs::None),
                        "none.safetensors' (--interpolate) not found");
}

// The confusion matrix and the per-class accuracies agree with the predictions file,
// counted here from its label and pred columns, and with the overall accuracy.
TEST_F(EndToEnd, EvaluateGivesTheConfusionMatrixOfItsPredictions) {
  ASSERT_EQ(run("onecycle", {"name=confusion", "train.epochs=1"}).exit_code, 0);
  const std::string dir = run_dir("onecycle-confusion-");
  const std::string predictions = root_ + "/predictions.csv", confusion = root_ + "/confusion.csv";
  const std::string picture = root_ + "/confusion.svg";
  const Result r = run("evaluate", {"--checkpoint", dir + "/best.safetensors", "--predictions", predictions,
                                    "--confusion", confusion, "--confusion-svg", picture}, BaseArgs::None);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::vector<int64_t>> counted(10, std::vector<int64_t>(10, 0));
  std::istringstream rows(read_file(predictions));
  std::string line;
  std::getline(rows, line);  // the header
  int64_t images = 0, correct = 0;
  while (std::getline(rows, line)) {
    int64_t index = 0, label = 0, pred = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "%lld,%lld,%lld", reinterpret_cast<long long*>(&index),
                          reinterpret_cast<long long*>(&label), reinterpret_cast<long long*>(&pred)),
              3)
        << line;
    ++counted[static_cast<size_t>(label)][static_cast<size_t>(pred)];
    ++images;
    correct += label == pred;
  }
  ASSERT_EQ(images, 256);
  std::istringstream matrix(read_file(confusion));
  std::getline(matrix, line);
  EXPECT_EQ(line, "label,name,pred_0,pred_1,pred_2,pred_3,pred_4,pred_5,pred_6,pred_7,pred_8,pred_9,images,accuracy,precision,f1");
  for (int64_t k = 0; k < 10; ++k) {
    ASSERT_TRUE(static_cast<bool>(std::getline(matrix, line))) << "row " << k;
    std::ostringstream want;
    want << k << ",class " << k;
    int64_t n = 0;
    for (int64_t p = 0; p < 10; ++p) {
      want << "," << counted[static_cast<size_t>(k)][static_cast<size_t>(p)];
      n += counted[static_cast<size_t>(k)][static_cast<size_t>(p)];
    }
    want << "," << n << ",";
    EXPECT_EQ(line.rfind(want.str(), 0), 0u) << line << " vs " << want.str();
    char accuracy[64];
    std::snprintf(accuracy, sizeof accuracy, "  class %lld %6.4f  (%lld of %lld)", static_cast<long long>(k),
                  static_cast<double>(counted[static_cast<size_t>(k)][static_cast<size_t>(k)]) / static_cast<double>(n),
                  static_cast<long long>(counted[static_cast<size_t>(k)][static_cast<size_t>(k)]),
                  static_cast<long long>(n));
    EXPECT_NE(r.out.find(accuracy), std::string::npos) << r.out << "\nlacks " << accuracy;
  }
  char overall[32];
  std::snprintf(overall, sizeof overall, "accuracy %.4f", static_cast<double>(correct) / 256.0);
  EXPECT_NE(r.out.find(overall), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("confusion matrix (rows: true class, columns: predicted class):"), std::string::npos);
  // The picture: each cell's tooltip holds the count worked out here from the predictions.
  const std::string svg = read_file(picture);
  for (int64_t k = 0; k < 10; ++k) {
    int64_t n = 0;
    for (int64_t p = 0; p < 10; ++p) n += counted[static_cast<size_t>(k)][static_cast<size_t>(p)];
    for (int64_t p = 0; p < 10; ++p) {
      const std::string cell = "<title>class " + std::to_string(k) +
                               (k == p ? " predicted right: " : " predicted as class " + std::to_string(p) + ": ") +
                               std::to_string(counted[static_cast<size_t>(k)][static_cast<size_t>(p)]) + " of " +
                               std::to_string(n) + " (";
      EXPECT_NE(svg.find(cell), std::string::npos) << "lacks " << cell;
    }
  }
  EXPECT_NE(r.out.find("confusion matrix picture: " + picture), std::string::npos) << r.out;
  expect_one_line_error(run("evaluate", {"--checkpoint", dir + "/best.safetensors", "--confusion-svg", picture,
                                         "data.synthetic_classes=41"}, BaseArgs::None),
                        "--confusion-svg draws up to 40 classes, and ");

  const Result unwritable = run("evaluate", {"--checkpoint", dir + "/best.safetensors", "--confusion",
                                             root_ + "/no-such-folder/confusion.csv"}, BaseArgs::None);
  EXPECT_NE(unwritable.exit_code, 0);
  EXPECT_NE(unwritable.err.find("no-such-folder/confusion.csv"), std::string::npos) << unwritable.err;
}

// A finished run's summary.json and page give each class's validation accuracy with the
// final weights: the evaluate app's predictions of last.safetensors, counted here, give
// the same fractions.
TEST_F(EndToEnd, AFinishedRunReportsItsAccuracyByClass) {
  ASSERT_EQ(run("onecycle", {"name=by-class", "train.epochs=2"}).exit_code, 0);
  const std::string dir = run_dir("onecycle-by-class-");
  const nlohmann::json by_class = summary(dir)["final_val_acc_by_class"];
  ASSERT_EQ(by_class.size(), 10u) << summary(dir).dump();
  const std::string predictions = root_ + "/by-class.csv";
  const Result r = run("evaluate", {"--checkpoint", dir + "/last.safetensors", "--predictions", predictions},
                       BaseArgs::None);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<int64_t> images(10, 0), correct(10, 0), predicted(10, 0);
  std::istringstream rows(read_file(predictions));
  std::string line;
  std::getline(rows, line);
  while (std::getline(rows, line)) {
    long long index = 0, label = 0, pred = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "%lld,%lld,%lld", &index, &label, &pred), 3) << line;
    ++images[static_cast<size_t>(label)];
    ++predicted[static_cast<size_t>(pred)];
    correct[static_cast<size_t>(label)] += label == pred;
  }
  for (int k = 0; k < 10; ++k) {
    const std::string name = "class " + std::to_string(k);
    ASSERT_TRUE(by_class.contains(name)) << by_class.dump();
    EXPECT_DOUBLE_EQ(by_class[name].get<double>(), static_cast<double>(correct[static_cast<size_t>(k)]) /
                                                        static_cast<double>(images[static_cast<size_t>(k)]))
        << name;
  }
  const std::string page = read_file(dir + "/index.html");
  EXPECT_NE(page.find("By class (the final weights)"), std::string::npos);
  // Each class's row: accuracy (recall), precision and F1, worked out here.
  for (int k = 0; k < 10; ++k) {
    const auto i = static_cast<size_t>(k);
    const double recall = static_cast<double>(correct[i]) / static_cast<double>(images[i]);
    const double precision = predicted[i] > 0 ? static_cast<double>(correct[i]) / static_cast<double>(predicted[i]) : 0;
    const double f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0;
    char row[200];
    std::snprintf(row, sizeof row, "<tr><td>class %d</td><td>%.2f%%</td><td>%lld of %lld</td><td>%.4f</td><td>%.4f</td></tr>",
                  k, 100 * recall, static_cast<long long>(correct[i]), static_cast<long long>(images[i]), precision, f1);
    EXPECT_NE(page.find(row), std::string::npos) << "lacks " << row;
  }
  // confusion.svg, on the page too: each class's correct count, counted here.
  const std::string matrix = read_file(dir + "/confusion.svg");
  for (int k = 0; k < 10; ++k) {
    const std::string cell = "<title>class " + std::to_string(k) + " predicted right: " +
                             std::to_string(correct[static_cast<size_t>(k)]) + " of " +
                             std::to_string(images[static_cast<size_t>(k)]) + " (";
    EXPECT_NE(matrix.find(cell), std::string::npos) << "lacks " << cell;
    EXPECT_NE(page.find(cell), std::string::npos) << "the page lacks " << cell;
  }
  EXPECT_NE(matrix.find("Confusion matrix of the final weights"), std::string::npos);
  // The most confused pair, counted here from the predictions, heads its table.
  std::map<std::pair<int64_t, int64_t>, int64_t> mistakes;
  for (const std::vector<double>& f : csv_numbers(read_file(predictions)))
    if (f[1] != f[2]) ++mistakes[{static_cast<int64_t>(f[1]), static_cast<int64_t>(f[2])}];
  std::pair<std::pair<int64_t, int64_t>, int64_t> most{{0, 0}, 0};
  for (const auto& [pair, n] : mistakes)
    if (n > most.second) most = {pair, n};  // the map's order: ties to the first (true, predicted)
  ASSERT_GT(most.second, 0);
  const std::string head = "<tr><th>true class</th><th>predicted as</th><th>images</th></tr>\n<tr><td>class " +
                           std::to_string(most.first.first) + "</td><td>class " + std::to_string(most.first.second) +
                           "</td><td>" + std::to_string(most.second) + "</td></tr>";
  EXPECT_NE(page.find("Most confused (the final weights)</h2>\n<table>\n" + head), std::string::npos)
      << "expected " << head;

  // The highest losses: the 16 that the predictions' logits, worked out here, rank first.
  std::vector<std::pair<double, int64_t>> losses;  // (-loss, image)
  for (const std::vector<double>& f : csv_numbers(read_file(predictions))) {
    double top = -INFINITY, sum = 0;
    for (int k = 0; k < 10; ++k) top = std::max(top, f[3 + k]);
    for (int k = 0; k < 10; ++k) sum += std::exp(f[3 + k] - top);
    losses.push_back({-(top + std::log(sum) - f[3 + static_cast<size_t>(f[1])]), static_cast<int64_t>(f[0])});
  }
  std::sort(losses.begin(), losses.end());
  const nlohmann::json top = summary(dir)["final_top_losses"];
  ASSERT_EQ(top.size(), 16u) << summary(dir).dump();
  for (size_t k = 0; k < 16; ++k) {
    EXPECT_EQ(top[k]["image"].get<int64_t>(), losses[k].second) << "rank " << k + 1;
    EXPECT_NEAR(top[k]["loss"].get<double>(), -losses[k].first, 1e-5) << "rank " << k + 1;
  }
  EXPECT_NE(page.find("The highest losses (the final weights)"), std::string::npos);
  const std::string picture = read_file(dir + "/top_losses.svg");
  size_t drawn = 0;
  for (size_t at = picture.find("<image "); at != std::string::npos; at = picture.find("<image ", at + 1)) ++drawn;
  EXPECT_EQ(drawn, 16u);
}

// The apps on the emulated device take the engine's whole GPU path (the caching
// allocator, streams, the loader's upload, the optimizer's device tables) and agree with
// the CPU: a 1cycle run stopped and resumed, its checkpoint evaluated, a range test.
TEST_F(EndToEnd, AppsOnTheEmulatedDeviceAgreeWithTheCpu) {
  const std::vector<std::string> tiny = {"data.synthetic_train=256", "data.synthetic_val=128",
                                         "data.synthetic_size=8", "train.epochs=2", "train.log_every=2"};
  auto with = [&](std::vector<std::string> extra) { return joined(tiny, std::move(extra)); };
  ASSERT_EQ(run("onecycle", with({"name=on-cpu"})).exit_code, 0);
  const Result stopped = run("onecycle", with({"name=on-emu", "device=emu", "train.max_steps=5"}));
  ASSERT_EQ(stopped.exit_code, 0) << stopped.err;
  EXPECT_NE(stopped.out.find(", emu (CUDA graphs), "), std::string::npos) << stopped.out;
  const std::string dir = run_dir("onecycle-on-emu-");
  const Result resumed = run("onecycle", {"resume=" + dir, "train.max_steps=0"}, BaseArgs::None);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const auto emu_steps = cyg::app::read_csv<cyg::app::StepRecord>(dir + "/steps.csv");
  const auto cpu_steps = cyg::app::read_csv<cyg::app::StepRecord>(run_dir("onecycle-on-cpu-") + "/steps.csv");
  ASSERT_EQ(emu_steps.size(), cpu_steps.size());
  ASSERT_EQ(emu_steps.size(), 8u);
  for (size_t i = 0; i < cpu_steps.size(); ++i)
    EXPECT_NEAR(emu_steps[i].loss, cpu_steps[i].loss, 1e-4 * cpu_steps[i].loss) << "step " << i + 1;

  const Result on_emu = run("evaluate", {"--checkpoint", dir + "/best.safetensors", "device=emu"}, BaseArgs::None);
  const Result on_cpu = run("evaluate", {"--checkpoint", dir + "/best.safetensors", "device=cpu"}, BaseArgs::None);
  ASSERT_EQ(on_emu.exit_code, 0) << on_emu.err;
  ASSERT_EQ(on_cpu.exit_code, 0) << on_cpu.err;
  const size_t at = on_cpu.out.find("accuracy ");
  ASSERT_NE(at, std::string::npos) << on_cpu.out;
  EXPECT_NE(on_emu.out.find(on_cpu.out.substr(at, 15)), std::string::npos) << on_emu.out << " vs " << on_cpu.out;

  const std::vector<std::string> sweep = {"lr_find.start_lr=1e-4", "lr_find.end_lr=10", "lr_find.steps=12"};
  auto sweep_with = [&](std::vector<std::string> extra) {
    extra.insert(extra.begin(), sweep.begin(), sweep.end());
    return with(extra);
  };
  ASSERT_EQ(run("lr_find", sweep_with({"name=sweep-cpu"})).exit_code, 0);
  const Result sweep_emu = run("lr_find", sweep_with({"name=sweep-emu", "device=emu"}));
  ASSERT_EQ(sweep_emu.exit_code, 0) << sweep_emu.err;
  const auto emu_sweep = cyg::app::read_csv<cyg::app::RangeTestStep>(run_dir("lr_find-sweep-emu-") + "/steps.csv");
  const auto cpu_sweep = cyg::app::read_csv<cyg::app::RangeTestStep>(run_dir("lr_find-sweep-cpu-") + "/steps.csv");
  ASSERT_EQ(emu_sweep.size(), cpu_sweep.size());
  for (size_t i = 0; i < cpu_sweep.size(); ++i)
    EXPECT_NEAR(emu_sweep[i].loss, cpu_sweep[i].loss, 1e-4 * cpu_sweep[i].loss) << "sweep step " << i + 1;
}

// A model too large for this machine's memory is refused before it is built (building it
// had the kernel's OOM killer end the process).
TEST_F(EndToEnd, AModelTooLargeForMemoryIsRefusedBeforeItIsBuilt) {
  const Result r = run("onecycle", {"model.name=resnet18", "model.width=4096"});
  expect_one_line_error(r, "'model.width' = 4096: resnet18 at this width has up to");
  EXPECT_NE(r.err.find("GiB with their gradients and optimizer state; this machine has"), std::string::npos) << r.err;
}

// A run stopped inside its first epoch has no best epoch: summary.json says null, and no
// sentinel -1 reaches the user.
TEST_F(EndToEnd, NoFullEpochMeansNoBestAndNoSentinel) {
  const Result r = run("onecycle", {"name=short", "train.max_steps=5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto s = summary(run_dir("onecycle-short-"));
  EXPECT_TRUE(s["best_val_acc"].is_null()) << s.dump();
  EXPECT_TRUE(s["best_epoch"].is_null()) << s.dump();
  // The sentinel as a number: not inside the run directory's name, whose time of day
  // may hold "-1" (…-20261202-101019).
  std::string shown = r.out;
  const std::string dir = run_dir("onecycle-short-");
  for (size_t at; (at = shown.find(dir)) != std::string::npos;) shown.erase(at, dir.size());
  EXPECT_EQ(shown.find("-1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("no full epoch, so no best val acc"), std::string::npos) << r.out;
  // The partial epoch says so, and the stop says how to go on; a resume at the same limit
  // trains nothing and says it again.
  EXPECT_NE(r.out.find("epoch 1/1 (5 of its 16 steps): train loss"), std::string::npos) << r.out;
  const std::string go_on = "train.max_steps 5 reached at step 5 of 16; continue with: ";
  EXPECT_NE(r.out.find(go_on), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cygnet_onecycle resume=" + dir + " train.max_steps=<more steps, or 0 for no limit>"),
            std::string::npos)
      << r.out;
  const Result again = run("onecycle", {"resume=" + dir}, BaseArgs::None);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find(go_on), std::string::npos) << again.out;
  const Result on = run("onecycle", {"resume=" + dir, "train.max_steps=0"}, BaseArgs::None);
  ASSERT_EQ(on.exit_code, 0) << on.err;
  EXPECT_EQ(on.out.find("reached at step"), std::string::npos) << on.out;
  EXPECT_NE(on.out.find("done: 16 steps, best val acc"), std::string::npos) << on.out;
}

// A checkpoint is one unit with the run's tables. Three runs of the same experiment: one
// straight through, one stopped at step 20 and one at step 36 (a later checkpoint). The
// stopped run's directory is then given what each kill point leaves behind: the new
// weights renamed but the new state not yet (the write cut between its renames), the new
// pair complete but neither renamed, only the new weights written, and the CSV tables
// lost or a step behind. Every resume ends equal to the straight run.
TEST_F(EndToEnd, EveryKillPointOfACheckpointResumesToTheUninterruptedRun) {
  namespace fs = std::filesystem;
  const std::vector<std::string> common = {"train.epochs=3", "schedule.lr_min=0.01", "schedule.lr_max=0.1"};
  auto with = [&](std::vector<std::string> extra) { return joined(common, std::move(extra)); };
  ASSERT_EQ(run("onecycle", with({"name=straight"})).exit_code, 0);
  ASSERT_EQ(run("onecycle", with({"name=early", "train.max_steps=20"})).exit_code, 0);
  ASSERT_EQ(run("onecycle", with({"name=late", "train.max_steps=36"})).exit_code, 0);
  const std::string straight = run_dir("onecycle-straight-"), early = run_dir("onecycle-early-"),
                    late = run_dir("onecycle-late-");
  struct KillPoint {
    std::string name;
    std::vector<std::pair<std::string, std::string>> from_late;  // file of the late run -> name here
    std::vector<std::string> removed;
  };
  const std::vector<KillPoint> points = {
      {"between the renames", {{"last.safetensors", "last.safetensors"}, {"last.state.safetensors", "last.next.state.safetensors"}}, {}},
      {"before the renames", {{"last.safetensors", "last.next.safetensors"}, {"last.state.safetensors", "last.next.state.safetensors"}}, {}},
      {"during the new weights", {{"last.safetensors", "last.next.safetensors"}}, {}},
      {"before the tables", {}, {"metrics.csv", "steps.csv"}},
      {"tables a step ahead", {{"steps.csv", "steps.csv"}, {"metrics.csv", "metrics.csv"}}, {}},
  };
  for (const KillPoint& k : points) {
    SCOPED_TRACE(k.name);
    const std::string dir = root_ + "/runs/kill-" + std::to_string(&k - points.data());
    fs::copy(early, dir);
    for (const auto& [file, as] : k.from_late) fs::copy_file(late + "/" + file, dir + "/" + as, fs::copy_options::overwrite_existing);
    for (const std::string& file : k.removed) fs::remove(dir + "/" + file);
    std::ofstream(dir + "/steps.csv.tmp.99999.3") << "a killed writer's temporary file";
    const Result resumed = run("onecycle", {"resume=" + dir, "train.max_steps=0"}, BaseArgs::None);
    EXPECT_FALSE(fs::exists(dir + "/steps.csv.tmp.99999.3")) << "a stale temporary file was left";
    ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
    EXPECT_EQ(metrics_without_timing(dir), metrics_without_timing(straight));
    EXPECT_EQ(read_file(dir + "/steps.csv"), read_file(straight + "/steps.csv"));
    EXPECT_FALSE(fs::exists(dir + "/last.next.safetensors") || fs::exists(dir + "/last.next.state.safetensors"));
  }
}

// Fault injection: the run is killed (as kill -9 would) at its k-th file operation, for
// every k until one comes after the run's end (engine/atomic_file.h). Every time, a resume
// either ends equal to the uninterrupted run or, killed before the first checkpoint,
// refuses in one line saying how to start again; no temporary file survives a resume.
// The run keeps a moving average of its weights, whose file must end as the
// uninterrupted run's too.
TEST_F(EndToEnd, AKillAtEveryFileOperationResumesOrRefusesClearly) {
  namespace fs = std::filesystem;
  const std::vector<std::string> common = {"train.epochs=2", "schedule.lr_min=0.01", "schedule.lr_max=0.1",
                                           "train.ema_decay=0.9"};
  auto with = [&](std::vector<std::string> extra) { return joined(common, std::move(extra)); };
  ASSERT_EQ(run("onecycle", with({"name=straight"})).exit_code, 0);
  const std::string straight = run_dir("onecycle-straight-");
  int killed = 0, resumed = 0, refused = 0;
  for (int k = 1; k < 200; ++k) {
    SCOPED_TRACE("killed at file operation " + std::to_string(k));
    const std::string name = "kill" + std::to_string(k);
    const Result r = run("onecycle", with({"name=" + name}), BaseArgs::FastSynthetic,
                         "CYGNET_KILL_AT_FILE_OP=" + std::to_string(k));
    if (r.exit_code == 0) break;  // the run ended before its k-th file operation
    ASSERT_EQ(r.exit_code, 137) << r.err;
    ++killed;
    std::string dir;
    for (const auto& entry : fs::directory_iterator(root_ + "/runs"))
      if (entry.path().filename().string().rfind("onecycle-" + name + "-", 0) == 0) dir = entry.path().string();
    if (dir.empty() || !fs::exists(dir + "/config.yaml")) continue;  // nothing to resume: start again
    const Result again = run("onecycle", {"resume=" + dir}, BaseArgs::None);
    if (again.exit_code != 0) {
      expect_one_line_error(again, "has no checkpoint to resume from");
      ++refused;
      continue;
    }
    ++resumed;
    EXPECT_EQ(metrics_without_timing(dir), metrics_without_timing(straight));
    EXPECT_EQ(read_file(dir + "/steps.csv"), read_file(straight + "/steps.csv"));
    EXPECT_EQ(read_file(dir + "/ema.safetensors"), read_file(straight + "/ema.safetensors"));
    for (const auto& entry : fs::directory_iterator(dir))
      EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();
  }
  EXPECT_GT(killed, 20) << "file operations of a two-epoch run";
  EXPECT_GT(resumed, 10);
  EXPECT_GT(refused, 0);
  std::printf("killed at %d file operations: %d resumed to the uninterrupted run, %d refused (no checkpoint yet)\n",
              killed, resumed, refused);
}

// A full disk, as a file-size limit (ulimit -f, in 512-byte blocks) that the first
// checkpoint fits and the second does not (its state carries more of the run's steps):
// the run stops with one line naming the file, leaves no temporary file, and its first
// checkpoint resumes, without the limit, to the uninterrupted run. The model is wide
// enough (width 32: 85 KB of state) that the run's other files (its page, batch.svg)
// fit the limit the checkpoints set.
TEST_F(EndToEnd, AFullDiskStopsTheRunAndKeepsItsLastCheckpoint) {
  namespace fs = std::filesystem;
  const std::vector<std::string> common = {"train.epochs=2", "schedule.lr_min=0.01", "schedule.lr_max=0.1",
                                           "model.width=32"};
  auto with = [&](std::vector<std::string> extra) { return joined(common, std::move(extra)); };
  ASSERT_EQ(run("onecycle", with({"name=straight"})).exit_code, 0);
  ASSERT_EQ(run("onecycle", with({"name=probe", "train.max_steps=16"})).exit_code, 0);
  const std::string straight = run_dir("onecycle-straight-"), probe = run_dir("onecycle-probe-");
  const auto first = fs::file_size(probe + "/last.state.safetensors");
  const auto second = fs::file_size(straight + "/last.state.safetensors");
  const auto blocks = first / 512 + 1;
  ASSERT_LT(blocks * 512, second) << "the second checkpoint must not fit the limit";
  ASSERT_LT(fs::file_size(probe + "/last.safetensors"), blocks * 512);

  const Result full = run("onecycle", with({"name=full"}), BaseArgs::FastSynthetic,
                          "ulimit -f " + std::to_string(blocks) + ";");
  expect_one_line_error(full, "File too large");
  const std::string dir = run_dir("onecycle-full-");
  EXPECT_NE(full.err.find(dir + "/last.next.state.safetensors"), std::string::npos) << full.err;
  for (const auto& entry : fs::directory_iterator(dir))
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();
  const Result resumed = run("onecycle", {"resume=" + dir}, BaseArgs::None);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.out.find("at step 16"), std::string::npos) << resumed.out;
  EXPECT_EQ(metrics_without_timing(dir), metrics_without_timing(straight));
  EXPECT_EQ(read_file(dir + "/steps.csv"), read_file(straight + "/steps.csv"));
}

// What a resume refuses, each with what to do: a run killed before its first checkpoint,
// a config.yaml edited since the checkpoint, and loop states that do not fit the run.
TEST_F(EndToEnd, ResumeRefusesWhatItCannotContinue) {
  namespace fs = std::filesystem;
  ASSERT_EQ(run("onecycle", {"name=base", "train.epochs=3", "train.max_steps=20"}).exit_code, 0);
  const std::string base = run_dir("onecycle-base-");
  const std::string none = root_ + "/runs/none";
  fs::create_directories(none);
  fs::copy_file(base + "/config.yaml", none + "/config.yaml");
  expect_one_line_error(run("onecycle", {"resume=" + none}, BaseArgs::None),
                        "has no checkpoint to resume from: the run stopped before its first one");

  const std::string edited = root_ + "/runs/edited";
  fs::copy(base, edited);
  std::string config = read_file(edited + "/config.yaml");
  const size_t at = config.find("batch_size: 64");
  ASSERT_NE(at, std::string::npos) << config;
  config.replace(at, 14, "batch_size: 32");
  std::ofstream(edited + "/config.yaml") << config;
  expect_one_line_error(run("onecycle", {"resume=" + edited}, BaseArgs::None),
                        "config.yaml' is not the configuration its checkpoint was trained with (checkpoint '  batch_size: 64'");
  // A model setting edited, whose weights would not fit: the configuration is what is
  // named, before any tensor is loaded.
  const std::string wider = root_ + "/runs/wider";
  fs::copy(base, wider);
  config = read_file(wider + "/config.yaml");
  const size_t width = config.find("width: 0");
  ASSERT_NE(width, std::string::npos) << config;
  config.replace(width, 8, "width: 4");
  std::ofstream(wider + "/config.yaml") << config;
  expect_one_line_error(run("onecycle", {"resume=" + wider}, BaseArgs::None),
                        "config.yaml' is not the configuration its checkpoint was trained with (checkpoint '  width: 0'");

  // The loop state edited in the state file's metadata.
  auto tampered = [&](const std::string& name, const std::string& key, const nlohmann::json& value) {
    const std::string dir = root_ + "/runs/" + name;
    fs::copy(base, dir);
    const std::string path = dir + "/last.state.safetensors";
    const cyg::SafetensorsContent file = cyg::load_safetensors(path);
    std::map<std::string, std::string> metadata = file.metadata;
    nlohmann::json loop = nlohmann::json::parse(metadata.at("loop"));
    loop[key] = value;
    metadata["loop"] = loop.dump();
    cyg::NamedTensorList tensors(file.tensors.begin(), file.tensors.end());
    cyg::save_safetensors(path, tensors, metadata);
    return run("onecycle", {"resume=" + dir}, BaseArgs::None);
  };
  expect_one_line_error(tampered("epoch", "epoch", 1000), "epoch 1000 is outside [0, 3]");
  expect_one_line_error(tampered("step", "step", -5), "step -5 is not epoch 1 times 16 steps plus batch 4");
  expect_one_line_error(tampered("best", "best_val_acc", 2), "with accuracy 2 is not a valid record");
  expect_one_line_error(tampered("best_loss", "best_val_loss", 0.125), "is not that epoch's row of its metrics");
}

// Under an address-space limit (ulimit -v, in KiB) too small for the model, the run is
// refused before the first step; it used to spin forever inside OpenBLAS.
TEST_F(EndToEnd, AModelTooLargeForTheAddressSpaceLimitIsRefused) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer's shadow memory alone is larger than any address-space limit";
#endif
  const Result r = run("onecycle", {"model.name=resnet18", "model.width=256", "train.batch_size=16",
                                    "train.max_steps=1"},
                       BaseArgs::FastSynthetic, "ulimit -v 3000000;");
  expect_one_line_error(r, "'model.width' = 256: resnet18 at this width has up to");
  EXPECT_NE(r.err.find("GiB (ulimit -v)"), std::string::npos) << r.err;
}

// Under an address-space limit, a batch whose step would not fit is refused before the
// first step, with the memory it needs (measured on batches of 2 and 4 images); oneDNN
// used to crash inside its code generator. A small batch still trains under that limit,
// and so does the large one in micro-batches (one micro-batch's activations at a time).
TEST_F(EndToEnd, AStepTooLargeForTheAddressSpaceLimitIsRefused) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer's shadow memory alone is larger than any address-space limit";
#endif
  const std::vector<std::string> args = {"data.synthetic_size=28", "data.synthetic_channels=1", "data.mean=[0.5]",
                                         "data.std=[0.5]",         "data.synthetic_train=4096",  "model.name=resnet18",
                                         "model.width=16",         "train.max_steps=1",
                                         "threads=2"};  // what is mapped grows with threads
  const Result large = run("onecycle", joined(args, {"train.batch_size=2048"}), BaseArgs::FastSynthetic,
                           "ulimit -v 3000000;");
  expect_one_line_error(large, "'train.batch_size' = 2048: a training step of resnet18 on 28x28 images needs about ");
  EXPECT_NE(large.err.find("GiB (ulimit -v)"), std::string::npos) << large.err;
  EXPECT_NE(large.err.find("more train.micro_batches (1 now)"), std::string::npos) << large.err;
  // The same batch in micro-batches of 32 holds one micro-batch's activations at a time.
  const Result micro = run("onecycle", joined(args, {"train.batch_size=2048", "train.micro_batches=64", "name=micro"}),
                           BaseArgs::FastSynthetic, "ulimit -v 3000000;");
  EXPECT_EQ(micro.exit_code, 0) << micro.err;
  const Result small = run("onecycle", joined(args, {"train.batch_size=64", "name=small"}), BaseArgs::FastSynthetic,
                           "ulimit -v 3000000;");
  EXPECT_EQ(small.exit_code, 0) << small.err;
}

// Without an address-space limit, a step larger than the whole machine's memory (the OOM
// killer's, with no word) is refused the same way: large images are measured at about
// 64x64 and scaled by their pixels. About a terabyte here (64 images of 1024x1024
// through ResNet-18 at width 128); the same images at batch 1 with a small model train.
TEST_F(EndToEnd, AStepLargerThanTheMachineIsRefused) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer's allocator keeps freed memory in quarantine: the measure would not be the step's";
#endif
  const std::vector<std::string> args = {"data.synthetic_size=1024", "data.synthetic_train=64", "data.synthetic_val=2",
                                         "train.max_steps=1"};
  const Result huge = run("onecycle", joined(args, {"model.name=resnet18", "model.width=128", "train.batch_size=64"}));
  expect_one_line_error(huge, "'train.batch_size' = 64: a training step of resnet18 on 1024x1024 images needs about ");
  EXPECT_NE(huge.err.find("GiB at this batch (measured on a batch of 2 and 4 at 64x64 and scaled by the pixels), "
                          "more than this machine's "),
            std::string::npos)
      << huge.err;
  const Result fits = run("onecycle", joined(args, {"train.batch_size=1", "name=fits"}));
  EXPECT_EQ(fits.exit_code, 0) << fits.err;
}

// Crop padding as wide as the images would give crops that miss the image entirely
// (blank inputs): refused, naming the images' size; one pixel less trains.
TEST_F(EndToEnd, CropPaddingAsWideAsTheImagesIsRefused) {
  const Result wide = run("onecycle", {"data.synthetic_size=8", "data.crop_padding=8", "train.max_steps=1"});
  expect_one_line_error(wide, "'data.crop_padding' = 8: expected less than the side of the 8x8 images");
  const Result narrow = run("onecycle", {"data.synthetic_size=8", "data.crop_padding=7", "train.max_steps=1"});
  EXPECT_EQ(narrow.exit_code, 0) << narrow.err;
}

// Memory that runs out anywhere else is said in words, with the size that failed, not as
// the C++ library's "std::bad_alloc": here 1,000,000 synthetic 32x32 images (2.9 GiB)
// under a 2 GB address-space limit.
TEST_F(EndToEnd, MemoryThatRunsOutIsNamedWithItsSize) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer's shadow memory alone is larger than any address-space limit";
#endif
  const Result r = run("onecycle", {"data.synthetic_train=1000000", "data.synthetic_size=32", "train.max_steps=1"},
                       BaseArgs::FastSynthetic, "ulimit -v 2000000;");
  expect_one_line_error(r, "out of host memory: one tensor of 3072000000 bytes (2.86 GiB) is more than the machine");
}

// precision=bf16 (bf16 autocast) trains the quickstart (ResNet-18 at width 8 on
// Fashion-MNIST, batch 128, 1cycle) like fp32 does: over the first 150 steps, the mean
// loss of each 30-step window is within 15% (plus 0.03) of the fp32 run's. The two runs
// see the same batches from the same weights, so the band is what bf16 rounding moves a
// loss curve by (measured here: at most 0.06, or 12%, over 300 steps), not run-to-run
// noise. It runs on the CPU (its bf16 kernels are the device kernels' twins); the
// emulated device, with CUDA graphs, then gives the CPU's bf16 losses for a few steps.
TEST_F(EndToEnd, Bf16TrainsTheQuickstartLikeFp32) {
  const std::string quickstart = std::string(CYGNET_SOURCE_DIR) + "/configs/quickstart.yaml";
  auto quick = [&](const std::string& name, std::vector<std::string> extra) {
    std::vector<std::string> args = {"--config", quickstart, "run_root=" + root_ + "/runs", "name=" + name,
                                     "train.log_every=1000", "model.width=8"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run("onecycle", args, BaseArgs::None);
  };
  for (const std::string precision : {"fp32", "bf16"}) {
    const Result r = quick(precision, {"device=cpu", "precision=" + precision, "train.max_steps=150"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // The header: "cpu (2 threads), fp32, channels_last, ..."; bf16 runs NCHW.
    EXPECT_NE(r.out.find(" threads), " + precision + ", "), std::string::npos) << r.out;
    if (precision == "bf16") {
      EXPECT_NE(r.out.find(", bf16, nchw, "), std::string::npos) << r.out;
    }
  }
  const auto fp32 = cyg::app::read_csv<cyg::app::StepRecord>(run_dir("onecycle-fp32-") + "/steps.csv");
  const auto bf16 = cyg::app::read_csv<cyg::app::StepRecord>(run_dir("onecycle-bf16-") + "/steps.csv");
  ASSERT_EQ(fp32.size(), 150u);
  ASSERT_EQ(bf16.size(), fp32.size());
  auto window_mean = [](const std::vector<cyg::app::StepRecord>& rows, size_t begin) {
    double sum = 0;
    for (size_t i = begin; i < begin + 30; ++i) sum += rows[i].loss;
    return sum / 30;
  };
  for (size_t w = 0; w < 150; w += 30) {
    const double a = window_mean(fp32, w), b = window_mean(bf16, w);
    EXPECT_LE(std::fabs(b - a), 0.15 * a + 0.03) << "steps " << w + 1 << "-" << w + 30 << ": fp32 " << a << ", bf16 " << b;
  }
  EXPECT_LT(window_mean(bf16, 120), 0.6 * window_mean(bf16, 0)) << "bf16 learns";
  int same = 0;
  for (size_t i = 1; i < fp32.size(); ++i) same += bf16[i].loss == fp32[i].loss;
  EXPECT_LT(same, 5) << "the bf16 run gave fp32's losses: autocast was not on";

  // The device path: bf16 kernels, the optimizer's bf16 copies, a replayed CUDA graph.
  const std::vector<std::string> few = {"train.batch_size=32", "train.max_steps=6", "data.limit_train=512",
                                        "data.limit_val=64", "precision=bf16"};
  auto with = [&](std::string device) {
    std::vector<std::string> args = few;
    args.push_back("device=" + device);
    return args;
  };
  const Result cpu = quick("few-cpu", with("cpu"));
  ASSERT_EQ(cpu.exit_code, 0) << cpu.err;
  const Result emu = quick("few-emu", with("emu"));
  ASSERT_EQ(emu.exit_code, 0) << emu.err;
  EXPECT_NE(emu.out.find(", emu (CUDA graphs), bf16, "), std::string::npos) << emu.out;
  const auto on_cpu = cyg::app::read_csv<cyg::app::StepRecord>(run_dir("onecycle-few-cpu-") + "/steps.csv");
  const auto on_emu = cyg::app::read_csv<cyg::app::StepRecord>(run_dir("onecycle-few-emu-") + "/steps.csv");
  ASSERT_EQ(on_emu.size(), 6u);
  ASSERT_EQ(on_cpu.size(), on_emu.size());
  // The batchnorm kernels sum in another order than their CPU twins, so a bf16 rounding
  // here and there differs, and the updates carry it on: the first step's loss (the same
  // weights) agrees to 0.1%, the next two to 1%, the rest to 5%. (In fp32 the two
  // devices drift apart the same way, by 0.5% at step 6; bf16 against fp32 on one
  // device differs by 5% there.)
  EXPECT_NEAR(on_emu[0].loss, on_cpu[0].loss, 1e-3 * on_cpu[0].loss);
  for (size_t i = 0; i < on_cpu.size(); ++i)
    EXPECT_NEAR(on_emu[i].loss, on_cpu[i].loss, (i < 3 ? 1e-2 : 5e-2) * on_cpu[i].loss) << "step " << i + 1;
}

// CUDA graphs (cuda_graphs, on by default) change no result: a 1cycle run whose epochs
// end in a partial batch (run eagerly) and a range test, each with and without graphs,
// give the same losses bit for bit.
TEST_F(EndToEnd, CudaGraphsChangeNoResult) {
  const std::vector<std::string> tiny = {"data.synthetic_train=240", "data.synthetic_val=64", "data.synthetic_size=8",
                                         "train.epochs=2", "train.log_every=3", "device=emu"};
  auto with = [&](std::vector<std::string> extra) { return joined(tiny, std::move(extra)); };
  for (const std::string graphs : {"true", "false"}) {
    const Result fit = run("onecycle", with({"name=graphs-" + graphs, "cuda_graphs=" + graphs}));
    ASSERT_EQ(fit.exit_code, 0) << fit.err;
    const Result sweep = run("lr_find", with({"name=sweep-graphs-" + graphs, "cuda_graphs=" + graphs,
                                              "lr_find.steps=10", "lr_find.end_lr=10"}));
    ASSERT_EQ(sweep.exit_code, 0) << sweep.err;
  }
  const auto with_graphs = cyg::app::read_csv<cyg::app::StepRecord>(run_dir("onecycle-graphs-true-") + "/steps.csv");
  const auto eager = cyg::app::read_csv<cyg::app::StepRecord>(run_dir("onecycle-graphs-false-") + "/steps.csv");
  ASSERT_EQ(eager.size(), 8u) << "4 batches per epoch, the last of 48 images";
  ASSERT_EQ(with_graphs.size(), eager.size());
  for (size_t i = 0; i < eager.size(); ++i) EXPECT_EQ(with_graphs[i].loss, eager[i].loss) << "step " << i + 1;
  const auto sweep_graphs =
      cyg::app::read_csv<cyg::app::RangeTestStep>(run_dir("lr_find-sweep-graphs-true-") + "/steps.csv");
  const auto sweep_eager =
      cyg::app::read_csv<cyg::app::RangeTestStep>(run_dir("lr_find-sweep-graphs-false-") + "/steps.csv");
  ASSERT_EQ(sweep_graphs.size(), sweep_eager.size());
  ASSERT_GE(sweep_eager.size(), 4u);
  for (size_t i = 0; i < sweep_eager.size(); ++i)
    EXPECT_EQ(sweep_graphs[i].loss, sweep_eager[i].loss) << "sweep step " << i + 1;
}

// Each bad input: a non-zero exit, one line on stderr containing `expected`.
void expect_one_line_error(const Result& r, const std::string& expected) {
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(expected), std::string::npos) << r.err;
}

TEST_F(EndToEnd, BadConfigValuesNameTheirKey) {
  expect_one_line_error(run("onecycle", {"train.epoch=3"}), "unknown key 'train.epoch'");
  expect_one_line_error(run("onecycle", {"train.epoch=3"}), "epochs");
  expect_one_line_error(run("onecycle", {"train.epochs=abc"}), "'train.epochs' must be an integer");
  expect_one_line_error(run("onecycle", {"optimizer.lr=-1"}), "'optimizer.lr' = -1: expected a positive number");
  expect_one_line_error(run("onecycle", {"schedule.anneal_percent=150"}), "'schedule.anneal_percent' = 150");
  expect_one_line_error(run("onecycle", {"train.epochs=0"}), "'train.epochs' = 0");
  expect_one_line_error(run("onecycle", {"schedule.lr_min=0.5", "schedule.lr_max=0.1"}), "'schedule.lr_min'");
  expect_one_line_error(run("onecycle", {"--bogus"}), "unknown argument '--bogus'");
  // A device no build has is refused with the configuration, --print-config included.
  expect_one_line_error(run("onecycle", {"device=tpu"}), "device 'tpu': expected cpu, cuda, cuda:N, emu or auto");
  expect_one_line_error(run("onecycle", {"device=tpu", "--print-config"}), "device 'tpu'");
}

// A name outside its registry (a schedule, a dataset, ...) stops the app before any
// run directory exists, with the valid names.
TEST_F(EndToEnd, UnknownNamesAreRefusedWithTheValidOnes) {
  expect_one_line_error(run("onecycle", {"schedule.name=warmup_cosine"}),
                        "'schedule.name' = 'warmup_cosine': expected one of constant, one_cycle, step, cosine, pytorch_one_cycle");
  expect_one_line_error(run("onecycle", {"data.dataset=imagenet"}),
                        "'data.dataset' = 'imagenet': expected one of cifar10, fashion_mnist, folder, synthetic");
  expect_one_line_error(run("baseline", {"optimizer.name=rmsprop"}),
                        "'optimizer.name' = 'rmsprop': expected one of sgd, adam, adamw");
  expect_one_line_error(run("onecycle", {"model.name=vgg16"}),
                        "'model.name' = 'vgg16': expected one of resnet18, resnet20, resnet56, small_cnn");
  expect_one_line_error(run("onecycle", {"schedule.interpolation=cubic"}),
                        "'schedule.interpolation' = 'cubic': expected one of linear, cosine");
  expect_one_line_error(run("lr_find", {"lr_find.spacing=log"}),
                        "'lr_find.spacing' = 'log': expected one of exponential, linear");
  const std::string path = root_ + "/unknown_schedule.yaml";
  std::ofstream(path) << "schedule:\n  name: triangular\n";
  expect_one_line_error(run("onecycle", {"--config", path}), "'schedule.name' = 'triangular': expected one of");
  EXPECT_FALSE(std::filesystem::exists(root_ + "/runs")) << "no run directory for a refused config";
}

TEST_F(EndToEnd, MalformedYamlNamesFileAndLine) {
  const std::string path = root_ + "/broken.yaml";
  std::ofstream(path) << "name: x\ntrain:\n  epochs: [1,\n  batch_size: 3\n";
  expect_one_line_error(run("onecycle", {"--config", path}), path + ":");
  std::ofstream(path) << "name: x\ntrainn:\n  epochs: 2\n";
  expect_one_line_error(run("onecycle", {"--config", path}), "unknown key 'trainn'");
}

TEST_F(EndToEnd, MissingOrTruncatedDataFiles) {
  const Result missing = run("onecycle", {"data.dataset=cifar10", "data.root=" + root_ + "/nowhere"});
  expect_one_line_error(missing, "data_batch_1.bin");
  const std::string cifar = root_ + "/cifar";
  std::system(("mkdir -p '" + cifar + "'").c_str());
  std::ofstream(cifar + "/data_batch_1.bin") << std::string(3073 + 100, '\x01');
  expect_one_line_error(run("onecycle", {"data.dataset=cifar10", "data.root=" + cifar}), "data_batch_1.bin");
}

TEST_F(EndToEnd, UnwritableRunDirectory) {
  std::ofstream(root_ + "/a_file") << "x";
  expect_one_line_error(run("onecycle", {"run_root=" + root_ + "/a_file/runs"}), "run directory");
}

TEST_F(EndToEnd, CheckpointOfAnotherModelIsRefused) {
  ASSERT_EQ(run("onecycle", {"name=other", "train.max_steps=1", "model.name=resnet20", "model.width=4"}).exit_code, 0);
  const std::string weights = run_dir("onecycle-other-") + "/last.safetensors";
  const Result r = run("onecycle", {"model.init_from=" + weights});
  expect_one_line_error(r, "do not fit this model");
  expect_one_line_error(r, weights);
}

TEST_F(EndToEnd, DivergingLossStopsWithStepAndLr) {
  const Result r = run("onecycle", {"name=nan", "schedule.name=constant", "optimizer.lr=1e6", "train.epochs=2"});
  expect_one_line_error(r, "the training loss became");
  EXPECT_NE(r.err.find("(lr 1e+06)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("at step"), std::string::npos) << r.err;
  // The run directory says what happened, up to the step that diverged.
  const std::string dir = run_dir("onecycle-nan-");
  const auto s = summary(dir);
  EXPECT_NE(s["error"].get<std::string>().find("the training loss became"), std::string::npos);
  EXPECT_TRUE(s["stopped_early"].get<bool>());
  EXPECT_NE(read_file(dir + "/train.log").find("error: the training loss became"), std::string::npos);
  EXPECT_EQ(read_file(dir + "/steps.csv").rfind("step,epoch,lr,momentum,loss\n1,1,", 0), 0u);
}

TEST_F(EndToEnd, NoTemporaryFilesAreLeftBehind) {
  ASSERT_EQ(run("onecycle", {"name=tidy", "train.epochs=1"}).exit_code, 0);
  const std::string listing = root_ + "/listing";
  std::system(("ls -a '" + run_dir("onecycle-tidy-") + "' > '" + listing + "'").c_str());
  EXPECT_EQ(read_file(listing).find(".tmp"), std::string::npos) << read_file(listing);
}

}  // namespace

// data.dataset=folder: the synthetic dataset written out as image files, a folder per
// class (training images as PNG, validation images as JPEG where the build reads it),
// trains as the synthetic dataset does; the header names the classes and the
// normalisation worked out here from the images; the by-class results use the folder
// names; cygnet_evaluate reads the folder again and scores the run's weights as the run
// did; resized grayscale images give the model one input channel.
TEST_F(EndToEnd, TrainsOnAFolderOfImageFiles) {
  cyg::app::RunConfig config;
  config.data.dataset = "synthetic";
  config.data.synthetic_train = 1024;
  config.data.synthetic_val = 256;
  const cyg::app::DataSplits splits = cyg::app::load_data(config);
  const std::string pics = root_ + "/pics";
  const bool jpeg = cyg::app::jpeg_available();
  for (const auto& [split, data] : {std::pair<std::string, const cyg::Dataset*>{"train", &splits.train},
                                    {"valid", &splits.val}}) {
    const int64_t C = data->images.size(1), H = data->images.size(2), W = data->images.size(3);
    for (int64_t i = 0; i < data->size(); ++i) {
      std::vector<uint8_t> hwc(static_cast<size_t>(H * W * C));
      for (int64_t c = 0; c < C; ++c)
        for (int64_t p = 0; p < H * W; ++p)
          hwc[static_cast<size_t>(p * C + c)] = data->images.data<uint8_t>()[(i * C + c) * H * W + p];
      const std::string folder = pics + "/" + split + "/shape_" + std::to_string(data->labels.data<int32_t>()[i]);
      std::filesystem::create_directories(folder);
      const bool as_jpeg = jpeg && split == "valid";
      std::ofstream(folder + "/" + std::to_string(i) + (as_jpeg ? ".jpg" : ".png"), std::ios::binary)
          << (as_jpeg ? cyg::app::jpeg_bytes(hwc.data(), W, H, static_cast<int>(C), 95)
                      : cyg::app::png_bytes(hwc.data(), W, H, static_cast<int>(C)));
    }
  }
  // Each channel's mean and standard deviation over the training images, in [0, 1].
  std::ostringstream normalisation;
  normalisation << std::fixed << std::setprecision(4) << "normalised by its training images' mean (";
  std::vector<double> means, stds;
  const int64_t plane = splits.train.images.size(2) * splits.train.images.size(3);
  for (int64_t c = 0; c < 3; ++c) {
    double sum = 0, squares = 0;
    for (int64_t i = 0; i < splits.train.size(); ++i)
      for (int64_t p = 0; p < plane; ++p) {
        const double v = splits.train.images.data<uint8_t>()[(i * 3 + c) * plane + p] / 255.0;
        sum += v;
        squares += v * v;
      }
    const double n = static_cast<double>(splits.train.size() * plane);
    means.push_back(sum / n);
    stds.push_back(std::sqrt(squares / n - (sum / n) * (sum / n)));
  }
  normalisation << means[0] << ", " << means[1] << ", " << means[2] << ") and std (" << stds[0] << ", " << stds[1]
                << ", " << stds[2] << ")";

  const std::vector<std::string> folder = {"data.dataset=folder", "data.root=" + pics};
  const Result r =
      run("onecycle", joined(folder, {"name=folder", "train.epochs=2", "schedule.lr_min=0.01", "schedule.lr_max=0.2"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("small_cnn on pics-train (10 classes, " + normalisation.str() + ", 1024 train, 256 val images)"),
            std::string::npos)
      << r.out << "\nexpected: " << normalisation.str();
  const std::string dir = run_dir("onecycle-folder-");
  const auto s = summary(dir);
  EXPECT_GT(s["final_val_acc"].get<double>(), 0.8) << "10 classes: chance is 0.1";
  const nlohmann::json by_class = s["final_val_acc_by_class"];
  ASSERT_EQ(by_class.size(), 10u) << s.dump();
  for (int k = 0; k < 10; ++k) EXPECT_TRUE(by_class.contains("shape_" + std::to_string(k))) << by_class.dump();
  // The images with the highest loss name their files, each in its true class's folder.
  ASSERT_FALSE(s["final_top_losses"].empty());
  for (const auto& t : s["final_top_losses"]) {
    const std::filesystem::path file = t["file"].get<std::string>();
    EXPECT_TRUE(std::filesystem::exists(file)) << file;
    EXPECT_EQ(file.parent_path().filename().string(), t["label"].get<std::string>()) << t.dump();
  }

  const std::string predictions = root_ + "/folder-predictions.csv";
  const Result e = run("evaluate", {"--checkpoint", dir + "/last.safetensors", "--predictions", predictions},
                       BaseArgs::None);
  ASSERT_EQ(e.exit_code, 0) << e.err;
  // The predictions name each image's file: one of the validation files, once each, in
  // the folder of the row's label.
  {
    std::istringstream in(read_file(predictions));
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line.rfind("index,file,label,pred,logit_0,", 0), 0u) << line;
    std::set<std::string> seen;
    while (std::getline(in, line)) {
      const std::vector<std::string> f = csv_fields(line);
      ASSERT_EQ(f.size(), 14u) << line;
      const std::filesystem::path file = f[1];
      EXPECT_TRUE(std::filesystem::exists(file)) << line;
      EXPECT_EQ(file.parent_path().parent_path().filename().string(), "valid") << line;
      EXPECT_EQ(file.parent_path().filename().string(), "shape_" + f[2]) << line;
      seen.insert(f[1]);
    }
    EXPECT_EQ(seen.size(), 256u);
  }
  char expected[96];
  std::snprintf(expected, sizeof expected, "on pics-valid (256 images): loss %.6f, accuracy %.4f",
                s["final_val_loss"].get<double>(), s["final_val_acc"].get<double>());
  EXPECT_NE(e.out.find(expected), std::string::npos) << e.out << "\nexpected: " << expected;

  // The normalisation is recorded in the run's configuration: with training images gone
  // from the folder (which would change it), the evaluation is still the run's.
  const std::string saved = read_file(dir + "/config.yaml");
  std::ostringstream recorded;
  recorded << "mean: [" << cyg::app::format_number(static_cast<float>(means[0])) << ", "
           << cyg::app::format_number(static_cast<float>(means[1])) << ", "
           << cyg::app::format_number(static_cast<float>(means[2])) << "]";
  EXPECT_NE(saved.find(recorded.str()), std::string::npos) << saved << "\nexpected: " << recorded.str();
  int removed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(pics + "/train/shape_3"))
    if (removed++ < 60) std::filesystem::remove(entry.path());
  const Result again = run("evaluate", {"--checkpoint", dir + "/last.safetensors"}, BaseArgs::None);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find(expected), std::string::npos) << again.out << "\nexpected: " << expected;
  // So are its classes: a class folder added since is refused by name, for an evaluation
  // and for a resume, where it would have shifted the labels of the classes after it.
  EXPECT_NE(saved.find("classes: [\"shape_0\", \"shape_1\", \"shape_2\""), std::string::npos) << saved;
  std::filesystem::create_directories(pics + "/train/a_new_class");
  std::filesystem::copy_file(pics + "/train/shape_3/" + std::filesystem::directory_iterator(pics + "/train/shape_3")
                                                             ->path().filename().string(),
                             pics + "/train/a_new_class/0.png");
  const std::string added = "image folder '" + pics + "/train' has a class folder 'a_new_class' that data.classes "
                            "(the classes the run was trained on) has not (its classes: shape_0, shape_1, shape_2, ";
  expect_one_line_error(run("evaluate", {"--checkpoint", dir + "/last.safetensors"}, BaseArgs::None), added);
  expect_one_line_error(run("onecycle", {"resume=" + dir}, BaseArgs::None), added);
  std::filesystem::remove_all(pics + "/train/a_new_class");
  // Asking about an image file reads one image of each split, not the folder: a damaged
  // training file stops a scoring of the validation split, not a prediction.
  std::ofstream(pics + "/train/shape_5/zzz.png") << "damaged";
  expect_one_line_error(run("evaluate", {"--checkpoint", dir + "/last.safetensors"}, BaseArgs::None),
                        "shape_5/zzz.png' is neither a PNG nor a JPEG file (by its first bytes)");
  const std::string a_validation_image =
      std::filesystem::directory_iterator(pics + "/valid/shape_2")->path().string();
  const Result asked = run("evaluate", {"--checkpoint", dir + "/last.safetensors", "--image", a_validation_image},
                           BaseArgs::None);
  ASSERT_EQ(asked.exit_code, 0) << asked.err;
  EXPECT_NE(asked.out.find("  " + a_validation_image + ": shape_"), std::string::npos) << asked.out;
  std::filesystem::remove(pics + "/train/shape_5/zzz.png");

  // Resized to 8x8 and made grayscale: the first convolution takes one channel.
  ASSERT_EQ(run("onecycle", joined(folder, {"name=gray", "train.max_steps=4", "data.image_size=8", "data.channels=1"}))
                .exit_code,
            0);
  const cyg::SafetensorsContent gray = cyg::load_safetensors(run_dir("onecycle-gray-") + "/last.safetensors");
  ASSERT_FALSE(gray.tensors.empty());
  const cyg::Tensor& first = gray.tensors.front().second;
  ASSERT_EQ(first.dim(), 4) << gray.tensors.front().first;
  EXPECT_EQ(first.size(1), 1) << gray.tensors.front().first;

  // A folder without a validation split: one error naming it.
  std::filesystem::rename(pics + "/valid", pics + "/elsewhere");
  expect_one_line_error(run("onecycle", joined(folder, {"name=none"})),
                        "image folder '" + pics +
                            "' has no validation split: expected a folder valid, val or test in it (or set "
                            "data.valid_folder)");
  EXPECT_EQ(run("onecycle", joined(folder, {"name=elsewhere", "train.max_steps=2", "data.valid_folder=elsewhere"}))
                .exit_code,
            0);
  // Or held out of the training folder, as fastai's valid_pct: of the 1024 - 60 = 964
  // images left, int(0.2 * 964) = 192.
  const Result held = run("onecycle", joined(folder, {"name=held", "train.max_steps=2", "data.valid_pct=0.2"}));
  ASSERT_EQ(held.exit_code, 0) << held.err;
  EXPECT_NE(held.out.find(", 772 train, 192 val images)"), std::string::npos) << held.out;
  // The run records its training files. Scored again as they were, the same figures;
  // with one file moved to another class, an evaluation (whose validation images the
  // split draws from that folder) and a resume are refused, saying how the folder
  // changed; a new image is still predicted; with a file removed, the count is said.
  const std::string held_dir = run_dir("onecycle-held-");
  EXPECT_NE(read_file(held_dir + "/config.yaml").find("train_files: \"964 files, fnv1a "), std::string::npos);
  const Result scored = run("evaluate", {"--checkpoint", held_dir + "/last.safetensors"}, BaseArgs::None);
  ASSERT_EQ(scored.exit_code, 0) << scored.err;
  EXPECT_NE(scored.out.find("on pics-train-held-out (192 images)"), std::string::npos) << scored.out;
  // The same folder spelled another way is the same files.
  for (const std::string spelled : {"./train", "train/"}) {
    const Result same = run("evaluate", {"--checkpoint", held_dir + "/last.safetensors", "data.train_folder=" + spelled},
                            BaseArgs::None);
    EXPECT_EQ(same.exit_code, 0) << spelled << ": " << same.err;
  }
  const std::filesystem::path moved = std::filesystem::directory_iterator(pics + "/train/shape_1")->path();
  std::filesystem::rename(moved, pics + "/train/shape_2/" + moved.filename().string());
  const std::string changed = "the training folder '" + pics + "/train' has changed since the run: the same number "
                              "of image files (964) but not the same ones (renamed or moved to another class)";
  expect_one_line_error(run("evaluate", {"--checkpoint", held_dir + "/last.safetensors"}, BaseArgs::None),
                        changed);
  expect_one_line_error(run("onecycle", {"resume=" + held_dir, "train.max_steps=4"}, BaseArgs::None), changed);
  expect_one_line_error(run("evaluate", {"--checkpoint", held_dir + "/last.safetensors", "--interpolate",
                                         held_dir + "/last.safetensors", "--points", "2"},
                            BaseArgs::None),
                        changed);
  const Result predicted = run("evaluate", {"--checkpoint", held_dir + "/last.safetensors", "--image",
                                            pics + "/train/shape_2/" + moved.filename().string()},
                               BaseArgs::None);
  EXPECT_EQ(predicted.exit_code, 0) << predicted.err;
  std::filesystem::remove(pics + "/train/shape_2/" + moved.filename().string());
  expect_one_line_error(run("evaluate", {"--checkpoint", held_dir + "/last.safetensors"}, BaseArgs::None),
                        "has changed since the run: 963 image files where the run had 964 (data.train_files: 964 "
                        "files, fnv1a ");
}
