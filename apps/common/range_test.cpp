// The range test's sweep: schedule -> step -> record, then the suggestions.
#include "apps/common/range_test.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "apps/common/command_line.h"
#include "apps/common/interrupt.h"
#include "apps/common/metrics_ring.h"
#include "apps/common/progress.h"
#include "apps/common/report.h"
#include "apps/common/schedule_factory.h"
#include "apps/common/train_step.h"
#include "kernels/error.h"
#include "schedules/lr_finder.h"

namespace cyg::app {

namespace {

// The model's weights and the optimizer's state, to put back after the sweep has
// trained them.
class TrainingSnapshot {
 public:
  TrainingSnapshot(nn::Module& model, Optimizer& optimizer)
      : model_(model), optimizer_(optimizer), optimizer_state_(optimizer.state_dict()) {
    for (const auto& [name, t] : model.state_dict()) weights_.emplace_back(name, t.clone());
  }
  void restore() {
    model_.load_state_dict(weights_);
    optimizer_.load_state_dict(optimizer_state_);
  }

 private:
  nn::Module& model_;
  Optimizer& optimizer_;
  nn::NamedTensors weights_;
  const StateDict optimizer_state_;
};

struct SweepResult {
  int64_t steps = 0;
  bool interrupted = false;
};

sched::LrFinderTrackerOptions tracker_options(const LrFindConfig& c, int64_t planned_steps) {
  sched::LrFinderTrackerOptions o;
  o.smoothing_beta = c.smoothing;
  o.divergence_factor = c.divergence_factor;
  o.planned_steps = static_cast<std::size_t>(planned_steps);
  return o;
}

// The smoothed loss of step `step` (0-based, just pushed); NaN while there is none.
double smoothed_loss_at(const sched::LrFinderTracker& tracker, int64_t step) {
  const bool has_value =
      !tracker.smoothed_losses().empty() && tracker.losses().size() >= static_cast<size_t>(step + 1);
  return has_value ? tracker.smoothed_losses().back() : NAN;
}

// A step whose loss is still on the device.
struct PendingStep {
  int64_t step, epoch;
  double lr, momentum;
};

// Reads the pending steps' losses back (one wait), feeds them to the tracker in order
// and records their rows, up to the step at which the tracker stops. Steps after it
// have run, but the sweep ends there (and the weights go back anyway).
bool record_pending(MetricsRing& ring, std::vector<PendingStep>& pending, sched::LrFinderTracker& tracker,
                    std::vector<RangeTestStep>& rows, Progress& progress, const Optimizer& optimizer) {
  const std::vector<float> losses = ring.read_losses();
  // With gradient clipping, the last step's gradient norm (the one the device holds).
  const double last_norm = optimizer.grad_clip_norm() > 0 ? optimizer.last_grad_norm() : NAN;
  bool diverged = false;
  for (size_t k = 0; k < pending.size() && !diverged; ++k) {
    const PendingStep& p = pending[k];
    diverged = tracker.push(p.lr, losses[k]);
    rows.push_back({p.step, p.epoch, p.lr, p.momentum, losses[k], smoothed_loss_at(tracker, p.step - 1)});
    progress.update(p.step, losses[k], p.lr, k + 1 == pending.size() ? last_norm : NAN);
  }
  pending.clear();
  return diverged;
}

// One row per step into `rows` until `total` steps, divergence or Ctrl-C. The losses
// are read back once per log interval, as in training, so no step waits for the device.
SweepResult sweep_lr(Experiment& e, const sched::RangeSweep& sweep, int64_t total, sched::LrFinderTracker& tracker,
                     std::vector<RangeTestStep>& rows, const std::string& label) {
  const StopOnInterrupt interrupt;
  Progress progress(label, total, e.config.train.log_every);
  MetricsRing ring(e.config.train.log_every, e.device, 0.0, 0, e.comm.get());
  StepRunner runner(*e.model, *e.optimizer, ring, e.config.train.label_smoothing,
                    e.config.cuda_graphs ? StepGraphs::On : StepGraphs::Off, e.device, e.comm.get(), e.device_comm.get());
  runner.set_micro_batches(e.config.train.micro_batches);
  std::vector<PendingStep> pending;
  int64_t step = 0;
  bool diverged = false;
  bool stopped = false;
  for (int64_t epoch = 0; step < total && !diverged && !stopped; ++epoch) {
    e.train_loader->start_epoch(epoch);
    Batch batch;
    while (step < total && e.train_loader->next(batch)) {
      // Schedule.
      const double lr = sweep.lr(step);
      e.optimizer->set_lr(lr);
      // Step; its loss stays on the device until the ring is read.
      runner.run(batch.images, batch.labels, batch.global_size, batch.mixing);
      pending.push_back({step + 1, epoch + 1, lr, e.optimizer->momentum()});
      ++step;
      // Ctrl-C on any rank stops every rank at the same step (data parallelism).
      const bool stopping = e.any_rank(interrupt.requested());
      stopped = stopping;
      if (ring.full() || step == total || stopping)
        diverged = record_pending(ring, pending, tracker, rows, progress, *e.optimizer);
      if (diverged || stopping) break;
    }
  }
  if (!pending.empty()) record_pending(ring, pending, tracker, rows, progress, *e.optimizer);
  progress.finish();
  return {static_cast<int64_t>(rows.size()), stopped};
}

// One sweep's part of summary.json: its weight decay, steps, why it stopped, the
// suggestions with their rules.
nlohmann::json sweep_summary(double weight_decay, const SweepResult& sweep, const sched::LrFinderTracker& tracker,
                             const sched::LrSuggestions& suggestions) {
  nlohmann::json j;
  j["weight_decay"] = weight_decay;
  j["steps"] = sweep.steps;
  j["stop_reason"] = tracker.stopped() ? tracker.stop_reason()
                                       : std::string(sweep.interrupted ? "interrupted" : "end of the sweep");
  j["suggestions"] = nlohmann::json::array();
  for (const auto& s : suggestions.suggestions) j["suggestions"].push_back({{"rule", s.rule}, {"lr", s.lr}});
  if (!suggestions.ok()) j["error"] = suggestions.error;
  return j;
}

void log_sweep(RunReport& report, const nlohmann::json& sweep, const sched::LrSuggestions& suggestions,
               const std::string& label) {
  report.log(label + ": " + std::to_string(sweep["steps"].get<int64_t>()) + " steps, stopped by " +
             sweep["stop_reason"].get<std::string>());
  if (suggestions.ok()) {
    for (const auto& s : suggestions.suggestions) report.log("  suggested lr (" + s.rule + "): " + format_number(s.lr));
  } else {
    report.log("  no suggestion: " + suggestions.error);
  }
}

}  // namespace

int range_test(Experiment& e) {
  CYG_INPUT_CHECK(e.config.resume.empty(), "the range test cannot be resumed; run it again");
  RunReport report(e);
  report.save_config();
  report.log(e.header_line());
  const LrFindConfig& c = e.config.lr_find;
  const int64_t total = c.steps > 0 ? c.steps : e.steps_per_epoch;
  CYG_INPUT_CHECK(total >= 2, "the range test needs at least 2 steps, got ", total);
  const sched::RangeSweep sweep = make_range_sweep(c, total);
  const double configured_decay = e.optimizer->weight_decay();
  const std::vector<double> decays = c.weight_decays.empty() ? std::vector<double>{configured_decay} : c.weight_decays;
  const bool several = decays.size() > 1;
  TrainingSnapshot initial(*e.model, *e.optimizer);
  const auto started = std::chrono::steady_clock::now();
  nlohmann::json sweeps = nlohmann::json::array();
  int64_t steps = 0;
  bool interrupted = false;
  // Between sweeps too, a Ctrl-C stops cleanly, with the finished sweeps written. The
  // first sweep always runs: a stop asked during the set-up ends it at its first step,
  // so that the run has a sweep to report.
  const StopOnInterrupt between_sweeps;
  for (double decay : decays) {
    if (!sweeps.empty() && e.any_rank(between_sweeps.requested())) {
      interrupted = true;
      break;
    }
    // Every sweep from the same weights and optimizer state, over the same batches.
    initial.restore();
    e.optimizer->set_weight_decay(decay);
    sched::LrFinderTracker tracker(tracker_options(c, total));
    std::vector<RangeTestStep> rows;
    const std::string label = several ? "range test, weight decay " + format_number(decay) : "range test";
    const SweepResult result = sweep_lr(e, sweep, total, tracker, rows, label);
    for (RangeTestStep& row : rows) row.weight_decay = decay;
    report.range_steps.insert(report.range_steps.end(), rows.begin(), rows.end());
    const sched::LrSuggestions suggestions = tracker.suggest();
    sweeps.push_back(sweep_summary(decay, result, tracker, suggestions));
    log_sweep(report, sweeps.back(), suggestions, label);
    steps += result.steps;
    interrupted = result.interrupted;
    if (interrupted) break;
  }
  initial.restore();
  e.optimizer->set_weight_decay(configured_decay);

  // One sweep: its summary at the top level, as it always was; several: each in "sweeps".
  nlohmann::json summary = several ? nlohmann::json::object() : sweeps.front();
  summary["start_lr"] = c.start_lr;
  summary["end_lr"] = c.end_lr;
  if (several) {
    summary["steps"] = steps;
    summary["weight_decays"] = decays;
    summary["sweeps"] = sweeps;
  }
  report.range_test = summary;
  LoopState st;
  st.step = steps;
  st.total_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  report.write(st, interrupted ? StoppedEarly::Yes : StoppedEarly::No);
  report.log("the model is back at its starting weights; plot: " + report.file("lr_find.svg"));
  if (!interrupted) {
    // The next step of the report's workflow, as a command to paste: the same model,
    // data, batch and optimizer (lr_max_from checks them), the peak from this test and
    // lr_min a tenth of it, as the report's rows have it; one per sweep with a valley.
    std::string onecycle = invoked_as(AppKind::LrFind);
    const std::string app = std::string("cygnet_") + app_name(AppKind::LrFind);
    if (const size_t at = onecycle.rfind(app); at != std::string::npos)
      onecycle.replace(at, app.size(), std::string("cygnet_") + app_name(AppKind::OneCycle));
    const RunConfig& rc = e.config;
    const std::string same = " model.name=" + rc.model.name + " model.width=" + std::to_string(rc.model.width) +
                             " data.dataset=" + rc.data.dataset +
                             (rc.data.root.empty() ? "" : " data.root=" + rc.data.root) +
                             " train.batch_size=" + std::to_string(rc.train.batch_size) +
                             " optimizer.name=" + rc.optimizer.name;
    const std::string where = std::filesystem::absolute(report.path()).lexically_normal().string();
    for (const nlohmann::json& sweep : sweeps) {
      for (const nlohmann::json& suggestion : sweep["suggestions"]) {
        if (suggestion["rule"] != "valley") continue;
        const double decay = sweep["weight_decay"].get<double>();
        report.log("a 1cycle run with this test's valley as its peak" +
                   (several ? " (weight decay " + format_number(decay) + ")" : std::string()) + ": " + onecycle + same +
                   " optimizer.weight_decay=" + format_number(decay) +
                   " schedule.lr_min=" + format_number(suggestion["lr"].get<double>() / 10) +
                   " schedule.lr_max_from=" + where);
      }
    }
    return 0;
  }
  // As a stopped training run: the ranks leave together, once rank 0 has written.
  if (e.data_parallel()) e.comm->barrier();
  return kInterruptedExit;
}

}  // namespace cyg::app
