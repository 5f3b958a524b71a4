// The run directory's tables, plots and summary.
#include "apps/common/report.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "apps/common/activation_stats.h"
#include "apps/common/confusion_plot.h"
#include "apps/common/epoch_rules.h"
#include "apps/common/html_page.h"
#include "apps/common/plot.h"
#include "apps/common/tensorboard.h"
#include "engine/functional.h"

namespace cyg::app {

namespace {

// Data parallelism: rank 0 makes (or opens) the directory, and the others follow it.
RunDirectory open_or_create(const Experiment& e) {
  if (!e.is_root()) return RunDirectory::follow(broadcast_string(*e.comm, ""));
  RunDirectory dir = !e.config.resume.empty() ? RunDirectory::open(e.config.resume)
                                              : RunDirectory::create(e.config.run_root, app_name(e.kind), e.config.name);
  broadcast_string(*e.comm, dir.path());
  return dir;
}

// Fig. 2: the range test's loss against lr, the suggestions marked. The raw loss
// explodes at the end; the axis follows the smoothed curve, as the eye reads the range
// test from it (raw points far above it are left out). Sweeps over several weight
// decays: one smoothed curve each, each with its valley suggestion (fastai's default)
// marked.
plot::Chart range_test_chart(const std::string& name, const std::vector<RangeTestStep>& rows,
                             const nlohmann::json& summary) {
  plot::Chart chart;
  chart.title = "LR range test: " + name;
  chart.x_label = "learning rate";
  chart.y_label = "training loss";
  chart.log_x = true;
  if (summary.contains("sweeps")) {
    chart.title += " (one sweep per weight decay)";
    // The axis stops a quarter above the highest starting loss: the curves are compared
    // where they fall, not where they blow up.
    double top = 0;
    for (const RangeTestStep& r : rows)
      if (r.step == 1 && std::isfinite(r.smoothed_loss)) top = std::max(top, 1.25 * r.smoothed_loss);
    for (const auto& sweep : summary["sweeps"]) {
      const double decay = sweep["weight_decay"].get<double>();
      std::vector<RangeTestStep> mine;
      for (const RangeTestStep& r : rows)
        if (r.weight_decay == decay) mine.push_back(r);
      const std::string label = "weight decay " + format_number(decay);
      std::vector<double> smoothed = values(mine, &RangeTestStep::smoothed_loss);
      if (top > 0)
        for (double& v : smoothed)
          if (v > top) v = NAN;
      chart.series.push_back(
          {label, values(mine, &RangeTestStep::lr), smoothed, plot::LineStyle::Solid, plot::Axis::Left, ""});
      for (const auto& s : sweep.value("suggestions", nlohmann::json::array()))
        if (s["rule"] == "valley") chart.markers.push_back({s["lr"].get<double>(), "valley, " + label});
    }
    return chart;
  }
  const auto lrs = values(rows, &RangeTestStep::lr);
  const auto smoothed = values(rows, &RangeTestStep::smoothed_loss);
  auto raw_loss = values(rows, &RangeTestStep::loss);
  double top = 0;
  for (double v : smoothed)
    if (std::isfinite(v)) top = std::max(top, v);
  if (top > 0)
    for (double& v : raw_loss)
      if (v > 1.25 * top) v = NAN;
  chart.series = {{"loss", lrs, raw_loss, plot::LineStyle::Dashed, plot::Axis::Left, "#bbbbbb"},
                  {"smoothed loss", lrs, smoothed, plot::LineStyle::Solid, plot::Axis::Left, ""}};
  // fastai's three rules; the central-difference one stays in summary.json.
  for (const auto& s : summary.value("suggestions", nlohmann::json::array()))
    if (s["rule"] != "steepest_central") chart.markers.push_back({s["lr"].get<double>(), s["rule"].get<std::string>()});
  return chart;
}

// Fig. 1: lr (left axis) and momentum (right axis, dashed) against the step.
template <typename Record>
plot::Chart schedule_chart(const std::string& name, const std::vector<Record>& rows) {
  plot::Chart chart;
  chart.title = "Learning rate and momentum: " + name;
  chart.x_label = "step";
  chart.y_label = "learning rate";
  chart.y2_label = "momentum";
  const auto steps = values(rows, &Record::step);
  chart.log_y = plot::spans_decades(values(rows, &Record::lr));
  chart.series = {{"learning rate", steps, values(rows, &Record::lr), plot::LineStyle::Solid, plot::Axis::Left, ""},
                  {"momentum", steps, values(rows, &Record::momentum), plot::LineStyle::Dashed, plot::Axis::Right, ""}};
  return chart;
}

// Figs. 3-5: training dashed, validation solid, against the epoch.
plot::Chart epoch_chart(const std::string& title, const std::string& y_label, const std::string& name,
                        const std::vector<EpochMetrics>& rows, double EpochMetrics::*train,
                        double EpochMetrics::*validation, double EpochMetrics::*averaged) {
  const auto epochs = values(rows, &EpochMetrics::epoch);
  plot::Chart chart;
  chart.title = title + ": " + name;
  chart.x_label = "epoch";
  chart.y_label = y_label;
  chart.series = {{"training", epochs, values(rows, train), plot::LineStyle::Dashed, plot::Axis::Left, ""},
                  {"validation", epochs, values(rows, validation), plot::LineStyle::Solid, plot::Axis::Left, ""}};
  // The moving average of the weights (train.ema_decay), where the run kept one.
  const std::vector<double> averages = values(rows, averaged);
  const bool has_averages = std::any_of(averages.begin(), averages.end(), [](double v) { return !std::isnan(v); });
  if (has_averages)
    chart.series.push_back(
        {"validation, averaged weights", epochs, averages, plot::LineStyle::Solid, plot::Axis::Left, ""});
  // A spike (a validation loss of 183 beside 2) would flatten the rest on a linear axis.
  std::vector<double> all = values(rows, train);
  for (double v : values(rows, validation)) all.push_back(v);
  if (has_averages)
    for (double v : averages) all.push_back(v);
  chart.log_y = plot::spans_decades(all);
  return chart;
}

// How many steps either side the step-loss curve's mean takes: a fiftieth of the run
// (at least 1, at most 100).
std::size_t step_loss_half_window(std::size_t steps) { return std::clamp<std::size_t>(steps / 50, 1, 100); }

// fastai's recorder.plot_loss: each step's training loss (faint), the same smoothed, and
// the validation loss at each epoch's last step, against the step. fastai draws a moving
// average of the past, which lags the loss by tens of steps where it falls fast; drawn
// after the fact, a centred mean does not.
plot::Chart step_loss_chart(const std::string& name, const std::vector<StepRecord>& steps,
                            const std::vector<EpochMetrics>& epochs) {
  plot::Chart chart;
  chart.title = "Loss by step: " + name;
  chart.x_label = "step";
  chart.y_label = "cross-entropy";
  const std::vector<double> x = values(steps, &StepRecord::step), loss = values(steps, &StepRecord::loss);
  const std::size_t half = step_loss_half_window(loss.size());
  const std::vector<double> smoothed = plot::centred_mean(loss, half);
  chart.series = {
      {"training, each step", x, loss, plot::LineStyle::Solid, plot::Axis::Left, "#cccccc"},
      {"training, mean of " + std::to_string(2 * half + 1) + " steps", x, smoothed, plot::LineStyle::Solid, plot::Axis::Left, plot::palette_color(0)},
      {"validation", values(epochs, &EpochMetrics::step), values(epochs, &EpochMetrics::val_loss),
       plot::LineStyle::Solid, plot::Axis::Left, plot::palette_color(1)}};
  std::vector<double> all = loss;
  for (const EpochMetrics& e : epochs) all.push_back(e.val_loss);
  chart.log_y = plot::spans_decades(all);
  return chart;
}

bool fs_exists(const std::string& path) {
  std::error_code error;
  return std::filesystem::exists(path, error);
}

}  // namespace

// A resumed run's tables come from its checkpoint (apps/common/fit.cpp), not from the
// CSV files, which a kill may have left a step behind or ahead.
RunReport::RunReport(const Experiment& experiment) : experiment_(experiment), dir_(open_or_create(experiment)) {}

void RunReport::save_config() {
  if (!dir_.writes()) return;
  RunConfig saved = experiment_.config;
  saved.resume.clear();
  dir_.write("config.yaml", to_yaml(saved));
}

void RunReport::write(const LoopState& state, StoppedEarly stopped) {
  if (!dir_.writes()) return;
  write_tables();
  // Drawn once: the files and the page.
  const Pictures pictures{top_losses_picture(), confusion_picture(),
                          activation_histograms_svg(experiment_.config.name, activation_stats)};
  write_plots(pictures);
  write_summary(state, stopped);
  write_page(state, stopped, pictures);
}

// The range test has no epochs to report: steps.csv only.
void RunReport::write_tables() {
  // On a GPU: how each convolution got its cuDNN algorithms, with the search's timings
  // (the process's plans so far; none elsewhere, and then no file).
  const std::string cudnn = fn::cudnn_choices_table();
  if (!cudnn.empty()) dir_.write("cudnn_algorithms.txt", cudnn);
  if (is_range_test()) {
    dir_.write("steps.csv", csv_text(range_steps));
    return;
  }
  dir_.write("metrics.csv", csv_text(epochs));
  dir_.write("steps.csv", csv_text(steps));
  // The table as the run has it: none (a resume from before its first row) leaves no file,
  // nor its pictures.
  if (!activation_stats.empty()) {
    dir_.write("activation_stats.csv", csv_text(activation_stats));
  } else {
    for (const char* f : {"activation_stats.csv", "activations_mean.svg", "activations_std.svg",
                          "activations_near_zero.svg", "activations_hist.svg"}) {
      std::error_code ignored;
      std::filesystem::remove(dir_.file(f), ignored);
    }
  }
  if (experiment_.config.tensorboard) {
    const double now =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    std::vector<tensorboard::FinalScalar> final_scalars;
    if (swa.first_epoch > 0) final_scalars = {{"swa/val_loss", swa.val_loss}, {"swa/val_acc", swa.val_acc}};
    dir_.write(tensorboard::kEventFile,
               tensorboard::training_events(steps, epochs, now, final_scalars, activation_stats));
  }
}

std::vector<std::pair<std::string, plot::Chart>> RunReport::charts() const {
  const std::string& name = experiment_.config.name;
  if (is_range_test()) {
    // The sweeps share their schedule: the first one's.
    std::vector<RangeTestStep> first;
    for (const RangeTestStep& r : range_steps)
      if (r.weight_decay == range_steps.front().weight_decay) first.push_back(r);
    return {{"lr_find.svg", range_test_chart(name, range_steps, range_test)},
            {"schedule.svg", schedule_chart(name, first)}};
  }
  std::vector<std::pair<std::string, plot::Chart>> out = {{"schedule.svg", schedule_chart(name, steps)}};
  if (epochs.empty()) return out;
  out.push_back({"accuracy.svg", epoch_chart("Accuracy", "accuracy", name, epochs, &EpochMetrics::train_acc,
                                             &EpochMetrics::val_acc, &EpochMetrics::ema_val_acc)});
  out.push_back({"loss.svg", epoch_chart("Loss", "cross-entropy", name, epochs, &EpochMetrics::train_loss,
                                         &EpochMetrics::val_loss, &EpochMetrics::ema_val_loss)});
  if (!steps.empty()) out.push_back({"loss_by_step.svg", step_loss_chart(name, steps, epochs)});
  for (auto& chart : activation_charts(name, activation_stats)) out.push_back(std::move(chart));
  if (swa.first_epoch > 0) {
    // Stochastic weight averaging's result, evaluated at the run's end: a level line over
    // the epochs it averages (half an epoch wide for one).
    const std::vector<double> x = {swa.first_epoch == swa.last_epoch ? swa.last_epoch - 0.5 : swa.first_epoch * 1.0,
                                   swa.last_epoch * 1.0};
    const std::string label = "validation, SWA average of " + format_epochs(swa.first_epoch, swa.last_epoch);
    for (auto& [file, chart] : out) {
      if (file != "accuracy.svg" && file != "loss.svg") continue;
      const double level = file == "accuracy.svg" ? swa.val_acc : swa.val_loss;
      chart.series.push_back({label, x, {level, level}, plot::LineStyle::Solid, plot::Axis::Left, ""});
    }
  }
  return out;
}

void RunReport::write_plots(const Pictures& pictures) {
  for (const auto& [file, chart] : charts()) plot::write_svg(dir_.file(file), chart);
  if (!pictures.top_losses.empty()) dir_.write("top_losses.svg", pictures.top_losses);
  if (!pictures.confusion.empty()) dir_.write("confusion.svg", pictures.confusion);
  if (!pictures.activation_histograms.empty()) dir_.write("activations_hist.svg", pictures.activation_histograms);
  if (!batch_picture.empty()) dir_.write("batch.svg", batch_picture);
}

std::string RunReport::top_losses_picture() const {
  if (final_top_losses.empty()) return "";
  const Dataset& val = experiment_.data.val;
  return top_losses_svg(final_top_losses, val.images, val.class_names,
                        "The " + std::to_string(final_top_losses.size()) +
                            " highest validation losses of the final weights",
                        experiment_.config.name + ": " + val.name, val.files);
}

std::string RunReport::confusion_picture() const {
  if (final_confusion.classes < 1 || final_confusion.classes > kMostConfusionPictureClasses) return "";
  const Dataset& val = experiment_.data.val;
  return confusion_svg(final_confusion, val.class_names, "Confusion matrix of the final weights",
                       experiment_.config.name + ": " + val.name);
}

// index.html: the run on one page, to open in a browser.
void RunReport::write_page(const LoopState& state, StoppedEarly stopped, const Pictures& pictures) {
  const RunConfig& c = experiment_.config;
  std::string body = "<h1>" + html::escape(std::string("cygnet_") + app_name(experiment_.kind) + ": " + c.name) +
                     "</h1>\n<p class=\"header\">" + html::escape(experiment_.header_line()) + "</p>\n";
  auto fixed = [](double v, int digits) {
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", digits, v);
    return std::string(text);
  };
  std::vector<std::vector<std::string>> results = {{"run", c.name}};
  results.push_back({"model", c.model.name + (c.model.width > 0 ? " (width " + std::to_string(c.model.width) + ")" : "")});
  results.push_back({"data", experiment_.data.train.name});
  results.push_back({"device", experiment_.device.str()});
  results.push_back({"steps", std::to_string(state.step)});
  results.push_back({"training time", fixed(state.total_seconds, 1) + " s"});
  if (stopped == StoppedEarly::Yes) results.push_back({"stopped early", "yes (resume=" + path() + ")"});
  if (!epochs.empty()) {
    const EpochMetrics& last = epochs.back();
    results.push_back({"epochs", std::to_string(last.epoch) + " of " + std::to_string(c.train.epochs)});
    results.push_back({"final validation accuracy", fixed(100.0 * last.val_acc, 2) + "%"});
    results.push_back({"final validation loss", fixed(last.val_loss, 4)});
    if (!std::isnan(last.ema_val_acc))
      results.push_back({"final validation accuracy of the averaged weights (train.ema_decay " +
                             format_number(c.train.ema_decay) + (c.train.ema_warmup ? ", warmed up" : "") +
                             ", ema.safetensors)",
                         fixed(100.0 * last.ema_val_acc, 2) + "%, loss " + fixed(last.ema_val_loss, 4)});
    if (c.train.best_monitor == "val_loss")
      results.push_back({"best epoch (lowest validation loss, best.safetensors)",
                         state.best_epoch >= 0 ? "epoch " + std::to_string(state.best_epoch) + ": loss " +
                                                     fixed(state.best_val_loss, 4) + ", accuracy " +
                                                     fixed(100.0 * state.best_val_acc, 2) + "%"
                         : state.epoch > 0 ? "no epoch with a finite validation loss"
                                           : "no full epoch yet"});
    else
      results.push_back({"best validation accuracy", state.best_epoch >= 0 ? fixed(100.0 * state.best_val_acc, 2) +
                                                                                 "% (epoch " +
                                                                                 std::to_string(state.best_epoch) + ")"
                                                                           : "no full epoch yet"});
    if (const double target = c.train.target_val_acc; target > 0) {
      const std::optional<TargetReached> reached = first_reaching(epochs, target, state.epoch);
      results.push_back({"time to " + fixed(100.0 * target, 2) + "% validation accuracy",
                         reached ? "epoch " + std::to_string(reached->epoch) + ", " + fixed(reached->seconds, 1) +
                                       " s of training"
                                 : "not reached"});
    }
  }
  if (c.schedule.name == "plateau" && !is_range_test()) {
    const PlateauCuts cuts = plateau_cuts(epochs, c, state.epoch, stopped == StoppedEarly::No);
    std::string after;
    for (size_t k = 0; k < cuts.after_epochs.size(); ++k)
      after += (k == 0 ? "" : ", ") + std::to_string(cuts.after_epochs[k]);
    results.push_back({"reduce on plateau (" + c.schedule.plateau_monitor + ", factor " +
                           format_number(c.schedule.plateau_factor) + ", patience " +
                           std::to_string(c.schedule.plateau_patience) + ")",
                       (after.empty() ? std::string("the lr was not reduced")
                                      : "the lr was reduced after epoch" +
                                            std::string(cuts.after_epochs.size() > 1 ? "s " : " ") + after) +
                           "; the last epoch trained at lr " + format_number(cuts.last_lr)});
  }
  if (const EarlyStoppingRule rule = EarlyStoppingRule::of(c.train); rule.on() && !is_range_test()) {
    const EarlyStoppingState early = early_stopping(epochs, rule, state.epoch);
    const std::string title = "early stopping (" + rule.monitor + ", patience " + std::to_string(rule.patience) +
                              (rule.min_delta > 0 ? ", min_delta " + format_number(rule.min_delta) : "") + ")";
    if (early.stopped_epoch > 0 && early.stopped_epoch < c.train.epochs)
      results.push_back({title, "ended the run after epoch " + std::to_string(early.stopped_epoch) + " of " +
                                    std::to_string(c.train.epochs) + ": " + early.reason});
    else
      results.push_back({title, early.best_epoch > 0
                                    ? "has not ended the run (best " + format_significant(early.best) + " at epoch " +
                                          std::to_string(early.best_epoch) + ", " + std::to_string(early.wait) +
                                          " of " + std::to_string(rule.patience) + " epochs without an improvement)"
                                    : "no full epoch yet"});
  }
  if (experiment_.swa && !is_range_test()) {
    const int64_t averaged = experiment_.swa->updates();
    const std::string title =
        "stochastic weight averaging (from epoch " + std::to_string(c.train.swa_start_epoch) +
        (c.train.swa_lr > 0 ? ", lr to " + format_number(c.train.swa_lr) + " over " +
                                  std::to_string(c.train.swa_anneal_epochs) + " epochs, " + c.train.swa_anneal_strategy
                            : std::string()) +
        ")";
    results.push_back(
        {title, swa.first_epoch > 0
                    ? format_epochs(swa.first_epoch, swa.last_epoch) +
                          " averaged, batchnorm statistics recomputed (swa.safetensors): validation accuracy " +
                          fixed(100.0 * swa.val_acc, 2) + "%, loss " + fixed(swa.val_loss, 4)
                : run_ended(state, stopped) && averaged == 0
                    ? "the run ended after epoch " + std::to_string(state.epoch) + ", before averaging started"
                : run_ended(state, stopped)
                    ? format_epochs(c.train.swa_start_epoch, c.train.swa_start_epoch + averaged - 1) +
                          " averaged, not evaluated yet (resume=" + path() + " evaluates it)"
                    : std::to_string(averaged) + " epoch" + (averaged == 1 ? "" : "s") +
                          " averaged so far; the average is evaluated when the run ends"});
  }
  body += "<h2>Results</h2>\n" + html::table(results);
  if (final_confusion.classes > 0 && final_confusion.classes <= 100) {
    std::vector<std::vector<std::string>> by_class = {
        {"class", "validation accuracy (recall)", "correct of images", "precision", "F1"}};
    for (int64_t k = 0; k < final_confusion.classes; ++k) {
      const int64_t n = final_confusion.images_of(k), right = final_confusion.correct_of(k);
      const ClassScores scores = class_scores(final_confusion, k);
      by_class.push_back({class_name(experiment_.data.val.class_names, k),
                          n > 0 ? fixed(100.0 * static_cast<double>(right) / static_cast<double>(n), 2) + "%" : "—",
                          std::to_string(right) + " of " + std::to_string(n), fixed(scores.precision, 4),
                          fixed(scores.f1, 4)});
    }
    const ClassScores macro = macro_average(final_confusion);
    by_class.push_back({"macro average", fixed(100.0 * macro.recall, 2) + "%", "", fixed(macro.precision, 4),
                        fixed(macro.f1, 4)});
    body += "<h2>By class (the final weights)</h2>\n" + html::table(by_class);
    if (!pictures.confusion.empty()) body += "<figure>" + html::inline_svg(pictures.confusion) + "</figure>\n";
    const std::vector<ConfusedPair> confused = most_confused(final_confusion, 5);
    if (!confused.empty()) {
      std::vector<std::vector<std::string>> rows = {{"true class", "predicted as", "images"}};
      for (const ConfusedPair& p : confused)
        rows.push_back({class_name(experiment_.data.val.class_names, p.label),
                        class_name(experiment_.data.val.class_names, p.pred), std::to_string(p.images)});
      body += "<h2>Most confused (the final weights)</h2>\n" + html::table(rows);
    }
  }
  if (!pictures.top_losses.empty())
    body += "<h2>The highest losses (the final weights)</h2>\n<figure>" + html::inline_svg(pictures.top_losses) +
            "</figure>\n";
  if (!batch_picture.empty())
    body += "<h2>A training batch, as the network sees it</h2>\n<figure>" + html::inline_svg(batch_picture) +
            "</figure>\n";
  if (is_range_test()) {
    std::vector<std::vector<std::string>> suggested = {{"weight decay", "rule", "suggested lr"}};
    const nlohmann::json sweeps =
        range_test.contains("sweeps") ? range_test["sweeps"] : nlohmann::json::array({range_test});
    for (const auto& sweep : sweeps)
      for (const auto& s : sweep.value("suggestions", nlohmann::json::array()))
        suggested.push_back({format_number(sweep.value("weight_decay", c.optimizer.weight_decay)),
                             s["rule"].get<std::string>(), format_significant(s["lr"].get<double>())});
    body += "<h2>Suggested learning rates</h2>\n" + html::table(suggested);
  }
  body += "<h2>Plots</h2>\n";
  for (const auto& [file, chart] : charts())
    body += "<figure>" + html::inline_svg(plot::render_svg(chart)) + "</figure>\n";
  if (!pictures.activation_histograms.empty())
    body += "<figure>" + html::inline_svg(pictures.activation_histograms) + "</figure>\n";
  body += "<h2>Configuration</h2>\n<pre>" + html::escape(to_yaml(c)) + "</pre>\n";
  body += "<h2>Files</h2>\n<p>";
  for (const char* f : {"config.yaml", "summary.json", "train.log", "steps.csv", "metrics.csv",
                        "activation_stats.csv", "cudnn_algorithms.txt", "best.safetensors", "swa.safetensors"})
    if (fs_exists(dir_.file(f))) body += "<a href=\"" + std::string(f) + "\">" + f + "</a> ";
  // The snapshots (train.save_every_n_epochs) of the complete epochs, whatever the key
  // says now (a resume may change it).
  for (int64_t e = 1; e <= state.epoch; ++e) {
    const std::string f = epoch_weights_file(e, c.train.epochs);
    if (fs_exists(dir_.file(f))) body += "<a href=\"" + f + "\">" + f + "</a> ";
  }
  body += "</p>\n";
  dir_.write("index.html", html::page("cygnet " + c.name, body));
}

namespace {
// A summary value, or null where there is none (yet).
nlohmann::ordered_json or_null(bool has, const nlohmann::ordered_json& v) { return has ? v : nlohmann::ordered_json(); }
}  // namespace

bool RunReport::run_ended(const LoopState& state, StoppedEarly stopped) const {
  return stopped == StoppedEarly::No && run_has_ended(epochs, experiment_.config.train, state.epoch);
}

void RunReport::write_summary(const LoopState& state, StoppedEarly stopped) {
  nlohmann::ordered_json j;
  j["app"] = app_name(experiment_.kind);
  j["name"] = experiment_.config.name;
  j["device"] = experiment_.device.str();
  j["model"] = experiment_.config.model.name;
  j["dataset"] = experiment_.data.train.name;
  j["steps"] = state.step;
  j["epochs_completed"] = is_range_test() ? 0 : state.epoch;
  j["stopped_early"] = stopped == StoppedEarly::Yes;
  j["total_seconds"] = state.total_seconds;
  if (!epochs.empty()) {
    j["final_val_loss"] = epochs.back().val_loss;
    j["final_val_acc"] = epochs.back().val_acc;
    if (!std::isnan(epochs.back().ema_val_acc)) {
      // The moving average of the weights (train.ema_decay), in ema.safetensors.
      j["final_ema_val_loss"] = epochs.back().ema_val_loss;
      j["final_ema_val_acc"] = epochs.back().ema_val_acc;
    }
    // No full epoch yet (a step limit inside the first): no best, written as null.
    const bool best = state.best_epoch >= 0;
    j["best_val_acc"] = best ? nlohmann::ordered_json(state.best_val_acc) : nlohmann::ordered_json();
    j["best_val_loss"] = best ? nlohmann::ordered_json(state.best_val_loss) : nlohmann::ordered_json();
    j["best_epoch"] = best ? nlohmann::ordered_json(state.best_epoch) : nlohmann::ordered_json();
    // What picked the best epoch (and best.safetensors): train.best_monitor.
    j["best_monitor"] = experiment_.config.train.best_monitor;
  }
  if (const double target = experiment_.config.train.target_val_acc; target > 0 && !is_range_test()) {
    // Time to accuracy, from the epochs' rows (so a resumed run counts its whole history).
    const std::optional<TargetReached> reached = first_reaching(epochs, target, state.epoch);
    j["target_val_acc"] = target;
    j["epoch_reached_target"] = reached ? nlohmann::ordered_json(reached->epoch) : nlohmann::ordered_json();
    j["seconds_to_target"] = reached ? nlohmann::ordered_json(reached->seconds) : nlohmann::ordered_json();
  }
  if (experiment_.config.schedule.name == "plateau" && !is_range_test()) {
    // Reduce on plateau: the epochs after which the lr was cut for the epochs after them,
    // and the lr the last complete epoch trained at.
    const PlateauCuts cuts = plateau_cuts(epochs, experiment_.config, state.epoch, stopped == StoppedEarly::No);
    nlohmann::ordered_json plateau;
    plateau["monitor"] = experiment_.config.schedule.plateau_monitor;
    plateau["reduced_after_epochs"] = cuts.after_epochs;
    plateau["lr"] = cuts.last_lr;
    j["plateau"] = plateau;
  }
  if (const EarlyStoppingRule rule = EarlyStoppingRule::of(experiment_.config.train); rule.on() && !is_range_test()) {
    // Lightning's EarlyStopping state, from the epochs' rows; stopped_epoch is null unless
    // it ended the run before its last epoch.
    const EarlyStoppingState early = early_stopping(epochs, rule, state.epoch);
    const bool ended = early.stopped_epoch > 0 && early.stopped_epoch < experiment_.config.train.epochs;
    nlohmann::ordered_json es;
    es["monitor"] = rule.monitor;
    es["patience"] = rule.patience;
    es["min_delta"] = rule.min_delta;
    es["best"] = or_null(early.best_epoch > 0, early.best);
    es["best_epoch"] = or_null(early.best_epoch > 0, early.best_epoch);
    es["wait"] = early.wait;
    es["stopped_epoch"] = or_null(ended, early.stopped_epoch);
    es["reason"] = or_null(ended, early.reason);
    j["early_stopping"] = es;
  }
  if (experiment_.swa && !is_range_test()) {
    // Stochastic weight averaging: its settings, the epochs averaged so far and, once the
    // run has ended, the average's validation loss and accuracy (null before).
    const TrainConfig& t = experiment_.config.train;
    const bool evaluated = swa.first_epoch > 0;
    nlohmann::ordered_json o;
    o["start_epoch"] = t.swa_start_epoch;
    o["swa_lr"] = or_null(t.swa_lr > 0, t.swa_lr);
    o["anneal_epochs"] = t.swa_anneal_epochs;
    o["anneal_strategy"] = t.swa_anneal_strategy;
    o["averaged_epochs"] = experiment_.swa->updates();
    o["val_loss"] = or_null(evaluated, swa.val_loss);
    o["val_acc"] = or_null(evaluated, swa.val_acc);
    j["swa"] = o;
  }
  if (final_confusion.classes > 0) {
    nlohmann::ordered_json by_class;
    for (int64_t k = 0; k < final_confusion.classes; ++k) {
      const int64_t n = final_confusion.images_of(k);
      by_class[class_name(experiment_.data.val.class_names, k)] =
          n > 0 ? nlohmann::ordered_json(static_cast<double>(final_confusion.correct_of(k)) / static_cast<double>(n))
                : nlohmann::ordered_json();
    }
    j["final_val_acc_by_class"] = by_class;
  }
  if (!final_top_losses.empty()) {
    // The final weights' highest validation losses, highest first (top_losses.svg).
    nlohmann::ordered_json top = nlohmann::ordered_json::array();
    for (const TopLoss& t : final_top_losses) {
      nlohmann::ordered_json o;
      o["image"] = t.index;
      const std::vector<std::string>& files = experiment_.data.val.files;
      if (t.index >= 0 && static_cast<size_t>(t.index) < files.size()) o["file"] = files[static_cast<size_t>(t.index)];
      o["label"] = class_name(experiment_.data.val.class_names, t.label);
      o["predicted"] = class_name(experiment_.data.val.class_names, t.pred);
      o["loss"] = t.loss;
      o["p_label"] = t.label_probability;
      o["p_predicted"] = t.pred_probability;
      top.push_back(o);
    }
    j["final_top_losses"] = top;
  }
  if (is_range_test()) j["lr_find"] = range_test;
  dir_.write("summary.json", j.dump(2) + "\n");
}

void RunReport::write_error(const std::string& what) noexcept {
  if (!dir_.writes()) return;
  try {
    dir_.log("error: " + what);
    write_tables();
    nlohmann::json summary = read_json_object(dir_.file("summary.json"));
    summary["error"] = what;
    summary["stopped_early"] = true;
    dir_.write("summary.json", summary.dump(2) + "\n");
  } catch (...) {
    // Reporting must not hide the original error.
  }
}

}  // namespace cyg::app
