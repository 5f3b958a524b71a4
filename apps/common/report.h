// What a run directory tells besides its checkpoints: config.yaml, the tables
// (metrics.csv, steps.csv), the plots and summary.json. The tables are kept here and
// every file is rewritten whole after each epoch and at a stop, so that the files
// always describe one moment of the run.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "apps/common/checkpoint.h"
#include "apps/common/evaluation.h"
#include "apps/common/experiment.h"
#include "apps/common/plot.h"
#include "apps/common/run_dir.h"
#include "apps/common/run_records.h"
#include "apps/common/top_losses.h"

namespace cyg::app {

// summary.json's stopped_early: the run ended before its last epoch was complete (a
// step limit, Ctrl-C, an error).
enum class StoppedEarly { No, Yes };

class RunReport {
 public:
  // Creates the run directory, or opens the one being resumed and reads its tables.
  explicit RunReport(const Experiment& experiment);

  const std::string& path() const { return dir_.path(); }
  // Whether this process writes the directory (data parallelism: rank 0 only).
  bool writes() const { return dir_.writes(); }
  std::string file(const std::string& name) const { return dir_.file(name); }
  // Appends to train.log and prints.
  void log(const std::string& line) { dir_.log(line); }

  // config.yaml: the resolved configuration, less resume= (the run is its own).
  void save_config();
  // The tables, the plots and summary.json as of `state`.
  void write(const LoopState& state, StoppedEarly stopped);
  // After an error: the error in train.log and summary.json, and the tables so far.
  // Never throws, so that the error itself is what the app reports.
  void write_error(const std::string& what) noexcept;

  std::vector<EpochMetrics> epochs;
  std::vector<StepRecord> steps;
  std::vector<RangeTestStep> range_steps;
  // activation_stats.csv (train.activation_stats_every; none where empty).
  std::vector<ActivationStat> activation_stats;
  nlohmann::json range_test;  // summary.json's "lr_find": the sweep, why it stopped, the suggestions
  Confusion final_confusion;  // the last epoch's validation, by class (classes 0: none yet)
  // Its images with the highest loss (kRunTopLosses of them; none yet where empty): the
  // page draws them, and top_losses.svg.
  std::vector<TopLoss> final_top_losses;
  // The first training batch this process ran, as the network saw it (show_batch.h's
  // SVG; "": none yet): batch.svg and the page.
  std::string batch_picture;
  // Stochastic weight averaging's average, evaluated when the run ended with its batchnorm
  // statistics recomputed (train.swa_start_epoch); epochs 0: not evaluated.
  struct SwaResult {
    int64_t first_epoch = 0, last_epoch = 0;  // the epochs averaged
    double val_loss = 0, val_acc = 0;
  };
  SwaResult swa;

 private:
  bool is_range_test() const { return experiment_.kind == AppKind::LrFind; }
  void write_tables();
  // The pictures drawn once for the files and the page ("": none): top_losses_picture(),
  // confusion_picture() and activation_histograms_svg().
  struct Pictures {
    std::string top_losses, confusion, activation_histograms;
  };
  void write_plots(const Pictures& pictures);
  void write_summary(const LoopState& state, StoppedEarly stopped);
  void write_page(const LoopState& state, StoppedEarly stopped, const Pictures& pictures);
  // Whether the run has ended: its last epoch, or early stopping (not a stop it resumes from).
  bool run_ended(const LoopState& state, StoppedEarly stopped) const;
  // The run's plots: file name and chart.
  std::vector<std::pair<std::string, plot::Chart>> charts() const;
  // final_top_losses drawn (top_losses.svg); "" where there are none.
  std::string top_losses_picture() const;
  // final_confusion drawn (confusion.svg); "" where there is none yet, or where the
  // dataset has more classes than the picture draws.
  std::string confusion_picture() const;

  const Experiment& experiment_;
  RunDirectory dir_;
};

}  // namespace cyg::app
