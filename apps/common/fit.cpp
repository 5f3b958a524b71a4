// The fit loop: schedule -> step -> record -> end of epoch.
#include "apps/common/fit.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <sstream>
#include <string>

#include "apps/common/activation_stats.h"
#include "apps/common/checkpoint.h"
#include "apps/common/command_line.h"
#include "apps/common/epoch_rules.h"
#include "apps/common/evaluation.h"
#include "apps/common/interrupt.h"
#include "apps/common/metrics_ring.h"
#include "apps/common/progress.h"
#include "apps/common/report.h"
#include "apps/common/show_batch.h"
#include "apps/common/top_losses.h"
#include "apps/common/train_step.h"
#include "engine/communicator.h"
#include "engine/data_parallel.h"
#include "kernels/error.h"
#include "schedules/swa.h"

namespace cyg::app {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// The lr and momentum a step ran with.
struct StepSettings {
  double lr, momentum;
};

// The time an epoch has taken: what it took before a resume, plus the time since this
// process took it up.
struct EpochClock {
  double before;
  Clock::time_point start = Clock::now();
  double seconds() const { return before + seconds_since(start); }
};

// The epoch's metrics on the device, and the rows of the steps whose losses have not
// been read back yet.
class StepTally {
 public:
  StepTally(const LoopState& state, int64_t log_every, Device device, Communicator* communicator)
      : ring_(log_every, device, state.train_loss_sum, state.train_correct, communicator) {}

  // The ring the steps add their loss and correct count to.
  MetricsRing& ring() { return ring_; }
  // `row` is a step's record but for its loss, which the flush fills in.
  void add(const StepRecord& row) { pending_.push_back(row); }

  bool ring_full() const { return ring_.full(); }

  // Reads the pending losses back and appends their rows to `steps`; a loss that is not
  // finite stops the run with its step and lr. With gradient clipping on, the progress
  // shows the last step's gradient norm (read once the losses have waited for the device).
  void flush(std::vector<StepRecord>& steps, Progress& progress, int64_t batch_in_epoch, const Optimizer& optimizer) {
    if (pending_.empty()) return;
    const std::vector<float> losses = ring_.read_losses();
    for (size_t k = 0; k < pending_.size(); ++k) {
      StepRecord row = pending_[k];
      row.loss = losses[k];
      CYG_INPUT_CHECK(std::isfinite(row.loss), "the training loss became ", row.loss, " at step ", row.step, " (lr ",
                      row.lr, "): stopping; try a lower learning rate");
      steps.push_back(row);
    }
    progress.update(batch_in_epoch, losses.back(), pending_.back().lr,
                    optimizer.grad_clip_norm() > 0 ? optimizer.last_grad_norm() : NAN);
    pending_.clear();
  }

  double loss_sum() const { return ring_.loss_sum(); }
  double correct() const { return ring_.correct(); }
  void reset() { ring_.reset_sums(); }

 private:
  MetricsRing ring_;
  std::vector<StepRecord> pending_;
};

// `steps` of the epoch's `steps_per_epoch` ran (fewer where a limit stopped it).
std::string epoch_line(const EpochMetrics& row, int64_t epochs, int64_t steps, int64_t steps_per_epoch) {
  char average[96] = "";
  if (!std::isnan(row.ema_val_acc))
    std::snprintf(average, sizeof average, " (averaged weights: loss %.4f acc %.4f)", row.ema_val_loss,
                  row.ema_val_acc);
  char part[64] = "";
  if (steps < steps_per_epoch)
    std::snprintf(part, sizeof part, " (%lld of its %lld steps)", static_cast<long long>(steps),
                  static_cast<long long>(steps_per_epoch));
  char line[384];
  std::snprintf(line, sizeof line,
                "epoch %lld/%lld%s: train loss %.4f acc %.4f, val loss %.4f acc %.4f%s, %.1f s, %.0f images/s",
                static_cast<long long>(row.epoch), static_cast<long long>(epochs), part, row.train_loss,
                row.train_acc, row.val_loss, row.val_acc, average, row.epoch_seconds, row.images_per_second);
  return line;
}

template <typename Record>
void keep_first(std::vector<Record>& rows, int64_t count) {
  rows.resize(std::min(rows.size(), static_cast<size_t>(count)));
}

// The final weights' validation predictions as a finished run's page and summary show
// them: by class, and the highest losses (collectives: every rank calls it).
void record_final_predictions(const Predictions& predictions, const Experiment& e, RunReport& report) {
  const int64_t classes = e.data.val.num_classes;
  report.final_confusion = confusion_of(predictions, classes, e.comm.get());
  report.final_top_losses = top_losses(predictions, classes, kRunTopLosses, e.comm.get());
}

// A module's integer buffers (batchnorm's num_batches_tracked, counted on the host) as
// they are now, put back when this goes, also on an error.
class CountersKept {
 public:
  explicit CountersKept(nn::Module& model) {
    for (auto& [name, t] : model.named_buffers())
      if (t.dtype() == DType::I64) kept_.emplace_back(t, t.clone());
  }
  ~CountersKept() {
    for (auto& [counter, value] : kept_) {
      try {
        counter.copy_(value);
      } catch (...) {
        // Only a failing device; the error on its way is the one to report.
      }
    }
  }
  CountersKept(const CountersKept&) = delete;
  CountersKept& operator=(const CountersKept&) = delete;

 private:
  std::vector<std::pair<Tensor, Tensor>> kept_;  // the counter (sharing its storage) and its value
};

class FitLoop {
 public:
  FitLoop(Experiment& experiment, RunReport& report, const LoopState& state)
      : e_(experiment),
        report_(report),
        st_(state),
        tally_(state, experiment.config.train.log_every, experiment.device, experiment.comm.get()),
        runner_(*experiment.model, *experiment.optimizer, tally_.ring(), experiment.config.train.label_smoothing,
                experiment.config.cuda_graphs ? StepGraphs::On : StepGraphs::Off, experiment.device,
                experiment.comm.get(), experiment.device_comm.get()),
        activations_(*experiment.model, report.writes() ? experiment.config.train.activation_stats_every : 0),
        seconds_before_(state.total_seconds) {
    st_.processes = experiment.comm->size();
    runner_.set_micro_batches(experiment.config.train.micro_batches);
    runner_.set_weight_average(experiment.ema.get());
    lr_scale_ = agreed_lr_scale(st_.epoch + 1);
    ended_by_rule_ = early_stop_.on() && st_.epoch < e_.config.train.epochs &&
                     e_.any_rank(early_stopping(report_.epochs, early_stop_, st_.epoch).stopped_epoch > 0);
  }

  int run();
  // Draws the batch for batch.svg and the page.
  void show(const Batch& batch, int64_t epoch);

 private:
  // Ctrl-C on any rank stops every rank at the same step (data parallelism: a collective).
  bool stop_requested() const;
  // Ctrl-C, and train.max_time reached, each on any rank: one collective for both.
  struct Stops {
    bool interrupt = false, out_of_time = false;
  };
  Stops poll_stops() const;
  // train.max_steps reached, or train.max_time: the epoch so far ends the run, resumably.
  bool step_limit_reached() const {
    return out_of_time_ || (e_.config.train.max_steps > 0 && st_.step >= e_.config.train.max_steps);
  }
  StepSettings settings_of_last_step() const;
  // The plateau rule's scale of the lr in epoch `epoch` (1-based), rank 0's on every rank:
  // the ranks' lr must not part over a last bit of their reduced metrics.
  double agreed_lr_scale(int64_t epoch);
  // The lr and momentum of a step: the schedule's, times the plateau rule's scale, or
  // SWALR's from train.swa_start_epoch with train.swa_lr.
  StepSettings scheduled(int64_t step, double lr_scale) const;
  StepSettings apply_schedule(int64_t step);
  // Stochastic weight averaging at the run's end: the average with batchnorm statistics
  // recomputed over the training images, evaluated and written to swa.safetensors. False
  // when a stop (Ctrl-C) was asked, before the pass or during it: nothing evaluated or
  // written (a restart of the finished run does it).
  bool finish_swa();
  void record(int64_t images, int64_t epoch, const StepSettings& settings);
  bool flush_due(bool stopping) const;
  // A stop in the middle of an epoch: its checkpoint and summary, then stopped().
  int stop_here(double epoch_seconds);
  // Says how to continue the stopped run; every rank returns kInterruptedExit together.
  int stopped();
  // stopping: a stop asked on the epoch's last step, after which the run ends here.
  void end_epoch(int64_t epoch, const StepSettings& last, double epoch_seconds, bool stopping = false);
  EpochMetrics record_epoch(int64_t epoch, const StepSettings& last, double epoch_seconds);
  void start_next_epoch(int64_t epoch);
  LoopState save_last(double epoch_seconds);
  double total_seconds() const { return seconds_before_ + seconds_since(started_); }

  Experiment& e_;
  RunReport& report_;
  LoopState st_;
  StepTally tally_;
  StepRunner runner_;
  // train.activation_stats_every: the layers' outputs, on rank 0's slice of the batch.
  ActivationRecorder activations_;
  const StopOnInterrupt interrupt_;
  const EarlyStoppingRule early_stop_ = EarlyStoppingRule::of(e_.config.train);
  // Early stopping has ended the run before its last epoch: at the epoch just ended, or in
  // the history it resumed with (on any rank: the ranks stop together even if their
  // reduced metrics differed in a last bit).
  bool ended_by_rule_ = false;
  // schedule.name plateau: what the schedule's lr is multiplied by in the current epoch.
  double lr_scale_ = 1.0;
  // SWALR's annealing shape (train.swa_anneal_strategy).
  const sched::Interpolation swa_anneal_ = sched::anneal_of(e_.config.train.swa_anneal_strategy);
  // train.max_time (seconds; 0: none) and whether this process has reached it.
  const double max_time_ = max_time_seconds(e_.config.train);
  bool out_of_time_ = false;
  const double seconds_before_;  // spent on the run before it was resumed
  const Clock::time_point started_ = Clock::now();
};

void FitLoop::show(const Batch& batch, int64_t epoch) {
  const int64_t parts = runner_.parts(batch.labels.numel(), batch.global_size);
  report_.batch_picture = batch_svg(
      batch, parts, e_.data.normalization, e_.data.train.class_names,
      "A training batch as the network sees it: epoch " + std::to_string(epoch + 1) + ", batch " +
          std::to_string(batch.index_in_epoch + 1) + (parts > 1 ? ", its first micro-batch" : ""),
      e_.config.name + ": " + e_.data.train.name + pairing_said(e_.config.data));
}

int FitLoop::run() {
  const TrainConfig& train = e_.config.train;
  // A run resumed with no time left trains no step (every rank's clock agreeing).
  if (max_time_ > 0) out_of_time_ = e_.any_rank(total_seconds() >= max_time_);
  for (int64_t epoch = st_.epoch; epoch < train.epochs && !step_limit_reached() && !ended_by_rule_; ++epoch) {
    const EpochClock clock{st_.epoch_seconds};
    e_.train_loader->start_epoch(epoch, st_.batch_in_epoch);
    Progress progress("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(train.epochs), e_.steps_per_epoch,
                      train.log_every, st_.batch_in_epoch);
    StepSettings settings = settings_of_last_step();
    Batch batch;
    bool stopping = false;
    while (e_.train_loader->next(batch)) {
      // Schedule: this step's lr and momentum.
      settings = apply_schedule(st_.step);
      // Step: its loss and correct count go to sums on the device (and, every
      // train.activation_stats_every steps, the layers' statistics to the host).
      // A recorded step runs eagerly: its hooks run on the host, which a graph replay skips.
      activations_.start_step(st_.step + 1);
      runner_.run(batch.images, batch.labels, batch.global_size, batch.mixing, activations_.records(st_.step + 1));
      activations_.end_step(report_.activation_stats);
      // The first batch this process trains, as the network saw it (batch.svg, the page).
      if (report_.writes() && report_.batch_picture.empty()) show(batch, epoch);
      // Record: each step's loss is read back once per log interval.
      record(batch.global_size, epoch, settings);
      const Stops stops = poll_stops();
      stopping = stops.interrupt;
      out_of_time_ = stops.out_of_time;
      if (flush_due(stopping)) tally_.flush(report_.steps, progress, st_.batch_in_epoch, *e_.optimizer);
      // Ctrl-C stops here, resumably; on the epoch's last step the epoch ends first, so
      // that its checkpoint starts the next one. The step limit ends the epoch early.
      if (stopping && st_.batch_in_epoch < e_.steps_per_epoch) {
        progress.finish();
        return stop_here(clock.seconds());
      }
      if (stopping || step_limit_reached()) break;
    }
    // End of the epoch (or of the step limit): validate, report, checkpoint.
    progress.finish();
    const bool last_epoch = epoch + 1 == train.epochs;
    // A limit (train.max_steps, train.max_time) on an epoch's last step leaves a run to
    // resume, as a stop does.
    end_epoch(epoch, settings, clock.seconds(), (stopping || step_limit_reached()) && !last_epoch);
    // A stop asked at the end of the epoch that early stopping ended: the run is finished.
    if (stopping && !last_epoch && !ended_by_rule_) return stopped();
    // The time the epoch's validation took counts too, as its checkpoint has it (which a
    // resume counts on): a limit it passes ends the run here, not one step into the next
    // epoch.
    if (max_time_ > 0 && !out_of_time_ && !last_epoch && !ended_by_rule_) {
      out_of_time_ = e_.any_rank(st_.total_seconds >= max_time_);
      if (out_of_time_) report_.write(st_, StoppedEarly::Yes);
    }
  }
  if (out_of_time_ && st_.epoch < train.epochs && !ended_by_rule_) {
    const std::string launcher = e_.data_parallel() ? launcher_command(e_.comm->size()) + " " : "";
    report_.log("train.max_time " + train.max_time + " reached after " + format_duration(st_.total_seconds) +
                " of training, at step " + std::to_string(st_.step) + "; continue with: " + launcher +
                invoked_as(e_.kind) + " resume=" + report_.path() + " train.max_time=<a longer time, or empty>");
  }
  const int64_t all_steps = train.epochs * e_.steps_per_epoch;
  if (!out_of_time_ && train.max_steps > 0 && st_.step >= train.max_steps && st_.step < all_steps &&
      !ended_by_rule_) {
    const std::string launcher = e_.data_parallel() ? launcher_command(e_.comm->size()) + " " : "";
    report_.log("train.max_steps " + std::to_string(train.max_steps) + " reached at step " + std::to_string(st_.step) +
                " of " + std::to_string(all_steps) + "; continue with: " + launcher + invoked_as(e_.kind) +
                " resume=" + report_.path() + " train.max_steps=<more steps, or 0 for no limit>");
  }
  if (e_.swa && (st_.epoch >= train.epochs || ended_by_rule_) && !finish_swa()) {
    report_.log("stopped (a stop asked on the run's last epoch, or during the batchnorm pass) before stochastic "
                "weight averaging's average was evaluated; the run is finished, and a restart evaluates it");
    return stopped();
  }
  const bool by_loss = train.best_monitor == "val_loss";
  auto four = [](double v) {  // as the epoch lines print them
    char text[32];
    std::snprintf(text, sizeof text, "%.4f", v);
    return std::string(text);
  };
  const std::string best =
      st_.best_epoch < 0 ? (st_.epoch > 0 && by_loss ? std::string("no epoch with a finite val loss, so no best")
                                                     : std::string("no full epoch, so no best ") +
                                                           (by_loss ? "val loss" : "val acc"))
      : by_loss ? "best val loss " + four(st_.best_val_loss) + " (epoch " + std::to_string(st_.best_epoch) +
                      ", val acc " + four(st_.best_val_acc) + ")"
                : "best val acc " + four(st_.best_val_acc) + " (epoch " + std::to_string(st_.best_epoch) + ")";
  const std::string early = ended_by_rule_ ? "ended by early stopping after epoch " + std::to_string(st_.epoch) +
                                                 " of " + std::to_string(train.epochs) + ", "
                                           : "";
  report_.log("done: " + std::to_string(st_.step) + " steps, " + best + ", " + early +
              format_duration(st_.total_seconds) + "; outputs in " + report_.path());
  return 0;
}

bool FitLoop::finish_swa() {
  const int64_t first = e_.config.train.swa_start_epoch;
  if (e_.swa->updates() == 0) {
    report_.log("stochastic weight averaging (train.swa_start_epoch " + std::to_string(first) +
                "): the run ended after epoch " + std::to_string(st_.epoch) + ", before it; nothing averaged");
    report_.write(st_, StoppedEarly::No);
    return true;
  }
  const int64_t last = first + e_.swa->updates() - 1;
  // The average in the model (exchanged with the model's own values, which come back when
  // the guard goes, also on an error), its batchnorm statistics recomputed over one pass
  // of the training batches (PyTorch's update_bn; under sync_batchnorm each global
  // batch's, else rank 0's), evaluated and saved. The pass counts num_batches_tracked,
  // which the average does not hold: the model's counts come back too.
  Evaluation val;
  {
    const CountersKept counters(*e_.model);
    const WeightAverage::InModel in_model(*e_.swa);
    Loader& loader = *e_.train_loader;
    loader.start_epoch(e_.config.train.epochs);
    Batch batch;
    bool stopping = false;  // Ctrl-C on any rank, asked before each batch (a collective)
    nn::recompute_batchnorm_statistics(*e_.model, [&](Tensor& images) {
      stopping = stop_requested();
      if (stopping || !loader.next(batch)) return false;
      images = batch.images;
      return true;
    });
    if (stopping) return false;
    if (e_.data_parallel() && !e_.config.sync_batchnorm) broadcast_buffers(*e_.model, *e_.comm);
    val = evaluate(*e_.model, *e_.val_loader, nullptr, e_.comm.get());
    if (report_.writes()) save_swa_weights(report_.path(), *e_.model, st_.step, e_.config.model.name, first, last);
  }
  report_.swa = {first, last, val.loss, val.accuracy};
  char metrics[64];
  std::snprintf(metrics, sizeof metrics, "val loss %.4f acc %.4f", val.loss, val.accuracy);
  report_.log("stochastic weight averaging (train.swa_start_epoch " + std::to_string(first) + "): the average of " +
              format_epochs(first, last) + ", batchnorm statistics recomputed: " + metrics + " (swa.safetensors)");
  report_.write(st_, StoppedEarly::No);
  return true;
}

bool FitLoop::stop_requested() const { return e_.any_rank(interrupt_.requested()); }

FitLoop::Stops FitLoop::poll_stops() const {
  double flags[2] = {interrupt_.requested() ? 1.0 : 0.0, max_time_ > 0 && total_seconds() >= max_time_ ? 1.0 : 0.0};
  if (e_.data_parallel()) e_.comm->all_reduce_sum(flags, 2);
  return {flags[0] > 0, flags[1] > 0};
}

// What an epoch's row reports when all its steps were taken before a resume.
StepSettings FitLoop::settings_of_last_step() const {
  if (st_.step == 0) return {e_.optimizer->lr(), e_.optimizer->momentum()};
  return scheduled(st_.step - 1, plateau_scale(report_.epochs, e_.config, (st_.step - 1) / e_.steps_per_epoch + 1));
}

StepSettings FitLoop::scheduled(int64_t step, double lr_scale) const {
  const TrainConfig& train = e_.config.train;
  const int64_t epoch = step / e_.steps_per_epoch + 1;
  // SWALR, made at the start of epoch swa_start_epoch from the lr and momentum the
  // schedule gives its first step, and stepped once per epoch.
  const bool swalr = train.swa_lr > 0 && epoch >= train.swa_start_epoch;
  const int64_t from = swalr ? (train.swa_start_epoch - 1) * e_.steps_per_epoch : step;
  StepSettings s{e_.schedule->lr(from) * lr_scale, e_.optimizer->momentum()};
  const std::optional<double> momentum = e_.schedule->momentum(from);
  if (momentum && e_.config.schedule.cycle_momentum) s.momentum = *momentum;
  if (swalr)
    s.lr = sched::swa_lr(s.lr, train.swa_lr, train.swa_anneal_epochs, swa_anneal_, epoch - train.swa_start_epoch);
  return s;
}

double FitLoop::agreed_lr_scale(int64_t epoch) {
  double scale = plateau_scale(report_.epochs, e_.config, epoch);
  if (e_.config.schedule.name == "plateau" && e_.data_parallel()) e_.comm->broadcast(&scale, sizeof scale, 0);
  return scale;
}

StepSettings FitLoop::apply_schedule(int64_t step) {
  const StepSettings s = scheduled(step, lr_scale_);
  e_.optimizer->set_lr(s.lr);
  if (s.momentum != e_.optimizer->momentum()) e_.optimizer->set_momentum(s.momentum);
  return s;
}

void FitLoop::record(int64_t images, int64_t epoch, const StepSettings& settings) {
  tally_.add(StepRecord{st_.step + 1, epoch + 1, settings.lr, settings.momentum, 0.0});
  ++st_.step;
  ++st_.batch_in_epoch;
  st_.train_seen += images;
}

// The losses are read back for every progress line, at the epoch's end and before the
// loop stops, so that steps.csv is complete whenever it is written.
bool FitLoop::flush_due(bool stopping) const {
  return tally_.ring_full() || st_.batch_in_epoch == e_.steps_per_epoch || stopping || step_limit_reached();
}

int FitLoop::stop_here(double epoch_seconds) {
  st_.total_seconds = save_last(epoch_seconds).total_seconds;
  report_.write(st_, StoppedEarly::Yes);
  return stopped();
}

int FitLoop::stopped() {
  const std::string launcher = e_.data_parallel() ? launcher_command(e_.comm->size()) + " " : "";
  report_.log("stopped at step " + std::to_string(st_.step) + "; continue with: " + launcher + invoked_as(e_.kind) +
              " resume=" + report_.path());
  // The ranks leave together, once rank 0 has written: a launcher that ends a job at its
  // first non-zero exit (srun --kill-on-bad-exit) must not end rank 0 mid-write.
  if (e_.data_parallel()) e_.comm->barrier();
  return kInterruptedExit;
}

// A partial epoch (the step limit) is reported but stays the epoch in progress: a
// resume continues it.
void FitLoop::end_epoch(int64_t epoch, const StepSettings& last, double epoch_seconds, bool stopping) {
  const EpochMetrics row = record_epoch(epoch, last, epoch_seconds);
  const bool partial = st_.batch_in_epoch < e_.steps_per_epoch;
  if (!partial) start_next_epoch(epoch + 1);
  st_.total_seconds = total_seconds();
  // The best epoch by train.best_monitor: the first with the highest accuracy, or the
  // lowest (finite) loss.
  const bool by_loss = e_.config.train.best_monitor == "val_loss";
  const bool better = by_loss ? std::isfinite(row.val_loss) && (st_.best_epoch < 0 || row.val_loss < st_.best_val_loss)
                              : row.val_acc > st_.best_val_acc;
  if (!partial && better) {
    st_.best_val_acc = row.val_acc;
    st_.best_val_loss = row.val_loss;
    st_.best_epoch = row.epoch;
    if (report_.writes()) save_checkpoint(report_.path(), "best", *e_.model, nullptr, st_, e_.config.model.name);
  }
  // Snapshots (train.save_every_n_epochs): every n-th complete epoch's weights.
  const int64_t every = e_.config.train.save_every_n_epochs;
  if (!partial && every > 0 && row.epoch % every == 0 && report_.writes())
    save_epoch_weights(report_.path(), *e_.model, st_.step, e_.config.model.name, row.epoch, e_.config.train.epochs);
  // The summary's time is the checkpoint's, which a resume (and train.max_time) counts on.
  st_.total_seconds = save_last(partial ? epoch_seconds : 0.0).total_seconds;
  report_.write(st_, partial || (stopping && !ended_by_rule_) ? StoppedEarly::Yes : StoppedEarly::No);
}

EpochMetrics FitLoop::record_epoch(int64_t epoch, const StepSettings& last, double epoch_seconds) {
  const auto seen = static_cast<double>(st_.train_seen);
  EpochMetrics row;
  row.epoch = epoch + 1;
  row.step = st_.step;
  row.lr = last.lr;
  row.momentum = last.momentum;
  row.train_loss = seen > 0 ? tally_.loss_sum() / seen : 0.0;
  row.train_acc = seen > 0 ? tally_.correct() / seen : 0.0;
  if (e_.data_parallel() && !e_.config.sync_batchnorm) broadcast_buffers(*e_.model, *e_.comm);
  // The last epoch's evaluation also counts each class's predictions, for the run's page
  // and summary (the logits come to the host: one wait a batch, in this epoch only).
  const bool last_epoch = epoch + 1 == e_.config.train.epochs;
  Predictions predictions;
  const Evaluation val = evaluate(*e_.model, *e_.val_loader, last_epoch ? &predictions : nullptr, e_.comm.get());
  if (last_epoch) record_final_predictions(predictions, e_, report_);
  row.val_loss = val.loss;
  row.val_acc = val.accuracy;
  if (e_.ema) {
    // The averaged weights, evaluated in the model (its own values put back after, bit
    // for bit). Without synchronised batchnorm, rank 0's averaged statistics, as for the
    // model above: the broadcast also leaves them in every rank's average.
    Evaluation averaged;
    {
      const WeightAverage::InModel in_model(*e_.ema);
      if (e_.data_parallel() && !e_.config.sync_batchnorm) broadcast_buffers(*e_.model, *e_.comm);
      averaged = evaluate(*e_.model, *e_.val_loader, nullptr, e_.comm.get());
    }
    row.ema_val_loss = averaged.loss;
    row.ema_val_acc = averaged.accuracy;
    if (report_.writes()) save_averaged_weights(report_.path(), *e_.ema, st_.step, e_.config.model.name);
  }
  // Stochastic weight averaging: each complete epoch's final weights from the start epoch.
  if (e_.swa && st_.batch_in_epoch >= e_.steps_per_epoch && row.epoch >= e_.config.train.swa_start_epoch)
    e_.swa->update();
  row.epoch_seconds = epoch_seconds;
  row.images_per_second = epoch_seconds > 0 ? seen / epoch_seconds : 0.0;
  report_.epochs.push_back(row);
  report_.log(epoch_line(row, e_.config.train.epochs, st_.batch_in_epoch, e_.steps_per_epoch));
  const double target = e_.config.train.target_val_acc;
  const bool complete = st_.batch_in_epoch >= e_.steps_per_epoch;  // not a step limit inside it
  if (target > 0 && complete) {
    const std::optional<TargetReached> reached = first_reaching(report_.epochs, target, row.epoch);
    if (reached && reached->epoch == row.epoch) {
      char line[160];
      std::snprintf(line, sizeof line, "reached val acc %s (train.target_val_acc) at epoch %lld, after %.1f s of training",
                    format_number(target).c_str(), static_cast<long long>(reached->epoch), reached->seconds);
      report_.log(line);
    }
  }
  // Early stopping ends the run after this epoch: its log line, and the final weights'
  // evaluation by class that the last epoch would have made.
  if (early_stop_.on() && complete && !last_epoch) {
    const EarlyStoppingState stop = early_stopping(report_.epochs, early_stop_, row.epoch);
    ended_by_rule_ = e_.any_rank(stop.stopped_epoch == row.epoch);
    if (ended_by_rule_) {
      report_.log("early stopping (train.early_stopping_patience " + std::to_string(early_stop_.patience) +
                  "): " + stop.reason + "; the run ends after epoch " + std::to_string(row.epoch) + " of " +
                  std::to_string(e_.config.train.epochs));
      Predictions final_predictions;
      evaluate(*e_.model, *e_.val_loader, &final_predictions, e_.comm.get());
      record_final_predictions(final_predictions, e_, report_);
    }
  }
  // Reduce on plateau: the lr the next epoch takes (on every rank: a collective), and a
  // line where this epoch cut it for an epoch the run goes on to.
  if (e_.config.schedule.name == "plateau" && complete) {
    const double before = lr_scale_;
    lr_scale_ = agreed_lr_scale(row.epoch + 1);
    if (lr_scale_ != before && !last_epoch && !ended_by_rule_) {
      const ScheduleConfig& s = e_.config.schedule;
      const std::vector<sched::PlateauEpoch> history = plateau_history(report_.epochs, e_.config, row.epoch);
      const sched::PlateauEpoch& now = history.back();
      report_.log("plateau (schedule.plateau_patience " + std::to_string(s.plateau_patience) + "): " +
                  s.plateau_monitor + " has not improved on its best (" + format_significant(now.best) + ", epoch " +
                  std::to_string(now.best_epoch) + ") by more than " + format_number(s.plateau_threshold) +
                  (s.plateau_threshold_mode == "rel" ? " of it" : "") +
                  (s.plateau_patience == 0 ? std::string(" for an epoch")
                                           : " for more than " + std::to_string(s.plateau_patience) + " epoch" +
                                                 (s.plateau_patience == 1 ? "" : "s")) +
                  "; lr " +
                  format_number(e_.config.optimizer.lr * before) + " -> " +
                  format_number(e_.config.optimizer.lr * lr_scale_) + " from epoch " + std::to_string(row.epoch + 1));
    }
  }
  return row;
}

void FitLoop::start_next_epoch(int64_t epoch) {
  st_.epoch = epoch;
  st_.batch_in_epoch = 0;
  st_.train_seen = 0;
  st_.epoch_seconds = 0;
  tally_.reset();
}

LoopState FitLoop::save_last(double epoch_seconds) {
  LoopState s = st_;
  s.train_loss_sum = tally_.loss_sum();
  s.train_correct = static_cast<int64_t>(tally_.correct());
  s.epoch_seconds = epoch_seconds;
  s.total_seconds = total_seconds();
  s.processes = e_.comm->size();
  if (!report_.writes()) return s;
  CheckpointWriteGuard guard;
  const CheckpointExtras extras{csv_text(report_.epochs), csv_text(report_.steps), experiment_yaml(e_.config),
                                report_.activation_stats.empty() ? "" : csv_text(report_.activation_stats)};
  save_checkpoint(report_.path(), "last", *e_.model, e_.optimizer.get(), s, e_.config.model.name, extras,
                  e_.average());
  return s;
}

// The first line where two texts differ, for a message.
std::string first_difference(const std::string& a, const std::string& b) {
  std::istringstream x(a), y(b);
  std::string line_a, line_b;
  while (true) {
    const bool more_a = static_cast<bool>(std::getline(x, line_a)), more_b = static_cast<bool>(std::getline(y, line_b));
    if (!more_a && !more_b) return "";
    if (!more_a || !more_b || line_a != line_b)
      return "checkpoint '" + (more_a ? line_a : "") + "', config.yaml '" + (more_b ? line_b : "") + "'";
  }
}

// A checkpoint's loop state is read back from a file that may have been edited or
// damaged: every field must fit the run's configuration and its tables.
void check_loop_state(const LoopState& s, const Experiment& e, size_t epoch_rows, size_t step_rows,
                      const std::string& path) {
  const std::string where = "'" + path + "/last.state.safetensors': ";
  const int64_t per_epoch = e.steps_per_epoch;
  CYG_INPUT_CHECK(s.epoch >= 0 && s.epoch <= e.config.train.epochs, where, "epoch ", s.epoch, " is outside [0, ",
                  e.config.train.epochs, "]");
  CYG_INPUT_CHECK(s.batch_in_epoch >= 0 && s.batch_in_epoch < per_epoch, where, "batch ", s.batch_in_epoch,
                  " is outside an epoch of ", per_epoch, " steps");
  CYG_INPUT_CHECK(s.step == s.epoch * per_epoch + s.batch_in_epoch, where, "step ", s.step, " is not epoch ",
                  s.epoch, " times ", per_epoch, " steps plus batch ", s.batch_in_epoch);
  CYG_INPUT_CHECK(s.best_epoch >= -1 && s.best_epoch <= s.epoch &&
                      (s.best_epoch < 0 ? s.best_val_acc == -1 : s.best_val_acc >= 0 && s.best_val_acc <= 1),
                  where, "best epoch ", s.best_epoch, " with accuracy ", s.best_val_acc, " is not a valid record");
  CYG_INPUT_CHECK(s.train_seen >= 0 && s.train_correct >= 0 && s.train_correct <= s.train_seen &&
                      std::isfinite(s.train_loss_sum) && std::isfinite(s.total_seconds) && s.total_seconds >= 0,
                  where, "the epoch's sums are not valid");
  CYG_INPUT_CHECK(epoch_rows >= static_cast<size_t>(s.epoch) && step_rows >= static_cast<size_t>(s.step), where,
                  "its tables hold ", epoch_rows, " epochs and ", step_rows, " steps, fewer than its ", s.epoch,
                  " and ", s.step);
}

// Resuming puts the model, optimizer and tables back at the last checkpoint.
LoopState start_or_resume(Experiment& e, RunReport& report) {
  LoopState st;
  if (!e.config.resume.empty()) {
    const std::string& dir = report.path();
    CYG_INPUT_CHECK(has_checkpoint(dir, "last"), "'", dir, "' has no checkpoint to resume from: the run stopped "
                    "before its first one (written at each epoch's end and on Ctrl-C). Start it again with: cygnet_",
                    app_name(e.kind), " --config ", dir, "/config.yaml");
    const LoadedCheckpoint checkpoint = read_checkpoint(dir, "last");
    const std::string now = experiment_yaml(e.config);
    const std::string then = current_experiment_yaml(checkpoint.extras.experiment, e.kind);
    CYG_INPUT_CHECK(then == now, "'", dir, "/config.yaml' is not the configuration its "
                    "checkpoint was trained with (", first_difference(then, now),
                    "): put it back, or start a new run");
    restore_training(checkpoint, *e.model, *e.optimizer);
    if (e.average()) restore_average(checkpoint, *e.average());
    st = checkpoint.loop;
    CYG_INPUT_CHECK(st.processes == e.comm->size(), "'", dir, "' was trained on ", st.processes, " rank(s) and ",
                    "this resume runs on ", e.comm->size(), ": the slices of each batch, and so the run, would "
                    "differ; resume it with ", st.processes == 1 ? std::string("one process (no mpirun)") :
                    launcher_command(static_cast<int>(st.processes)));
    report.epochs = parse_csv<EpochMetrics>(checkpoint.extras.metrics_csv, dir + "/last.state.safetensors (metrics)");
    report.steps = parse_csv<StepRecord>(checkpoint.extras.steps_csv, dir + "/last.state.safetensors (steps)");
    check_loop_state(st, e, report.epochs.size(), report.steps.size(), dir);
    // Stochastic weight averaging's average holds one update per complete epoch from
    // train.swa_start_epoch.
    if (e.swa) {
      const int64_t averaged = std::max<int64_t>(0, st.epoch - e.config.train.swa_start_epoch + 1);
      CYG_INPUT_CHECK(e.swa->updates() == averaged, "'", dir, "/last.state.safetensors': its average of the weights "
                      "holds ", e.swa->updates(), " epochs, and after ", st.epoch, " complete epochs averaging from "
                      "epoch ", e.config.train.swa_start_epoch, " (train.swa_start_epoch) has ", averaged);
    }
    // The best record is its epoch's row (best_monitor picks the epoch; both values are
    // that row's, as written).
    if (st.best_epoch >= 1) {
      const EpochMetrics& row = report.epochs[static_cast<size_t>(st.best_epoch - 1)];
      const auto same = [](double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); };
      CYG_INPUT_CHECK(row.epoch == st.best_epoch && same(row.val_acc, st.best_val_acc) &&
                          same(row.val_loss, st.best_val_loss),
                      "'", dir, "/last.state.safetensors': its best epoch ", st.best_epoch, " (val acc ",
                      st.best_val_acc, ", val loss ", st.best_val_loss, ") is not that epoch's row of its metrics");
    }
    keep_first(report.epochs, st.epoch);
    keep_first(report.steps, st.step);
    if (!checkpoint.extras.activation_stats_csv.empty()) {
      report.activation_stats = parse_csv<ActivationStat>(checkpoint.extras.activation_stats_csv,
                                                          dir + "/last.state.safetensors (activation stats)");
      std::vector<ActivationStat>& rows = report.activation_stats;
      rows.erase(std::remove_if(rows.begin(), rows.end(), [&](const ActivationStat& r) { return r.step > st.step; }),
                 rows.end());
    }
    // The files as the checkpoint has them, at once: a kill may have left them behind it,
    // and a run killed after its last checkpoint has no epoch left to write them.
    const EarlyStoppingState early = early_stopping(report.epochs, EarlyStoppingRule::of(e.config.train), st.epoch);
    const bool ended = run_has_ended(report.epochs, e.config.train, st.epoch);
    if (ended) {
      // The final weights' evaluation by class, which the summary and page of a finished
      // run show: the last epoch made it, and this process has not.
      Predictions predictions;
      evaluate(*e.model, *e.val_loader, &predictions, e.comm.get());
      record_final_predictions(predictions, e, report);
    }
    // An ended run with stochastic weight averaging evaluates its average once more as the
    // loop ends, which writes every file then: until it has, the files stay as they were,
    // its result with them.
    if (!(ended && e.swa)) report.write(st, ended ? StoppedEarly::No : StoppedEarly::Yes);
    if (early.stopped_epoch > 0 && st.epoch < e.config.train.epochs) {
      // A job restarted after early stopping ended its run.
      report.log("resuming " + report.path() + ": early stopping (train.early_stopping_patience) ended it after "
                 "epoch " + std::to_string(early.stopped_epoch) + " of " + std::to_string(e.config.train.epochs) +
                 "; nothing to continue");
    } else if (st.epoch < e.config.train.epochs) {
      report.log("resuming " + report.path() + " at step " + std::to_string(st.step) + " (epoch " +
                 std::to_string(st.epoch + 1) + ", batch " + std::to_string(st.batch_in_epoch) + ")");
    } else {
      // A job restarted after its run ended (a requeue, a node failure) lands here.
      report.log("resuming " + report.path() + ": its " + std::to_string(e.config.train.epochs) +
                 " epochs are done (step " + std::to_string(st.step) + "); nothing to continue");
    }
  }
  report.save_config();
  report.log(e.header_line());
  report.log("run directory: " + report.path());
  return st;
}

}  // namespace

int fit(Experiment& experiment) {
  RunReport report(experiment);
  try {
    FitLoop loop(experiment, report, start_or_resume(experiment, report));
    return loop.run();
  } catch (const std::exception& e) {
    report.write_error(e.what());
    throw;
  }
}

}  // namespace cyg::app
