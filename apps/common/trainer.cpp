// The experiment: set-up from the config, the training loop, evaluation, the range
// test, checkpoints and resume. Apps call run_app with their kind.
#include "apps/common/trainer.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "apps/common/checkpoint.h"
#include "apps/common/plot.h"
#include "apps/common/progress.h"
#include "apps/common/run_dir.h"
#include "data/datasets.h"
#include "data/loader.h"
#include "engine/device.h"
#include "engine/functional.h"
#include "engine/ops.h"
#include "engine/profiling.h"
#include "engine/safetensors.h"
#include "kernels/error.h"
#include "models/registry.h"
#include "schedules/constant.h"
#include "schedules/cosine.h"
#include "schedules/lr_finder.h"
#include "schedules/one_cycle.h"
#include "schedules/range_sweep.h"
#include "schedules/step_decay.h"
#include "schedules/warmup.h"

namespace cyg::app {
namespace {

std::atomic<bool> g_stop_requested{false};
std::atomic<bool> g_writing_checkpoint{false};

// The first Ctrl-C asks the loop to stop after the step in progress and write a
// resumable checkpoint; a second one ends the process at once, unless a checkpoint is
// being written (a half-written pair could not be resumed).
void on_interrupt(int) {
  if (g_stop_requested.exchange(true) && !g_writing_checkpoint) {
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
  }
}

class CheckpointWriteGuard {
 public:
  CheckpointWriteGuard() { g_writing_checkpoint = true; }
  ~CheckpointWriteGuard() { g_writing_checkpoint = false; }
};

constexpr int kInterruptedExit = 130;

// ---- command line ----

struct CommandLine {
  RunConfig config;
  bool print_config = false;
  std::string checkpoint, predictions;  // evaluate
};

std::string usage(AppKind kind) {
  std::ostringstream os;
  const std::string name = std::string("cygnet_") + app_name(kind);
  os << "usage: " << name << " [--config FILE.yaml] [key.sub=value ...] [--print-config] [--help]\n";
  if (kind == AppKind::Evaluate)
    os << "       " << name << " --checkpoint WEIGHTS.safetensors [--config FILE.yaml] [--predictions FILE.csv]\n"
       << "       (the config defaults to config.yaml beside the checkpoint)\n";
  os << "\n";
  switch (kind) {
    case AppKind::Baseline: os << "Trains with Adam at a constant learning rate (the seed report's baseline).\n"; break;
    case AppKind::OneCycle: os << "Trains with the 1cycle policy (lr up and down, momentum down and up, then annealing).\n"; break;
    case AppKind::LrFind: os << "The LR range test: lr grows over one epoch while the loss is recorded; suggests an lr.\n"; break;
    case AppKind::Evaluate: os << "Loss and accuracy of a checkpoint on the validation split; optional predictions CSV.\n"; break;
  }
  os << "Continue a stopped run with resume=runs/<dir>. Keys:\n" << describe_keys();
  return os.str();
}

bool file_exists(const std::string& path) { return std::ifstream(path).good(); }

CommandLine parse_command_line(AppKind kind, int argc, char** argv) {
  CommandLine cl;
  cl.config = default_config(kind);
  std::string config_file;
  std::vector<std::string> overrides;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      CYG_INPUT_CHECK(i + 1 < argc, arg, ": missing value (try --help)");
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      std::cout << usage(kind);
      std::exit(0);
    } else if (arg == "--config") {
      config_file = value();
    } else if (arg == "--print-config") {
      cl.print_config = true;
    } else if (kind == AppKind::Evaluate && arg == "--checkpoint") {
      cl.checkpoint = value();
    } else if (kind == AppKind::Evaluate && arg == "--predictions") {
      cl.predictions = value();
    } else if (arg.find('=') != std::string::npos && arg[0] != '-') {
      overrides.push_back(arg);
    } else {
      CYG_INPUT_CHECK(false, "unknown argument '", arg, "' (try --help)");
    }
  }
  // resume= brings the run's own resolved config; the other overrides then apply.
  std::string resume;
  for (const auto& o : overrides)
    if (o.rfind("resume=", 0) == 0) resume = o.substr(7);
  if (!resume.empty()) {
    CYG_INPUT_CHECK(config_file.empty(), "resume= uses the run's own config.yaml; drop --config");
    config_file = resume + "/config.yaml";
    CYG_INPUT_CHECK(file_exists(config_file), "resume: '", resume, "' is not a run directory (no config.yaml)");
  }
  if (kind == AppKind::Evaluate) {
    CYG_INPUT_CHECK(!cl.checkpoint.empty(), "evaluate needs --checkpoint WEIGHTS.safetensors (try --help)");
    CYG_INPUT_CHECK(file_exists(cl.checkpoint), "checkpoint '", cl.checkpoint, "' not found");
    if (config_file.empty()) {
      const size_t slash = cl.checkpoint.rfind('/');
      const std::string beside = (slash == std::string::npos ? "." : cl.checkpoint.substr(0, slash)) + "/config.yaml";
      if (file_exists(beside)) config_file = beside;
    }
  }
  if (!config_file.empty()) apply_yaml_file(cl.config, config_file);
  // A resumed run must stay the experiment it was: only how far it goes, how often it
  // reports and where it runs may change.
  static const std::vector<std::string> kResumable = {"resume", "train.max_steps", "train.log_every", "device"};
  for (const auto& o : overrides) {
    const std::string key = o.substr(0, o.find('='));
    if (!resume.empty() && std::find(kResumable.begin(), kResumable.end(), key) == kResumable.end())
      CYG_INPUT_CHECK(false, "'", key, "' cannot change when resuming (the run would no longer be the same "
                      "experiment); allowed: train.max_steps, train.log_every, device");
    apply_override(cl.config, o);
  }
  validate(cl.config);
  return cl;
}

// ---- data ----

struct DataSplits {
  Dataset train, val;
  Normalization normalization;
};

DataSplits load_data(const RunConfig& c) {
  DataSplits d;
  const DataConfig& dc = c.data;
  if (dc.dataset == "synthetic") {
    auto limited = [](int64_t n, int64_t limit) { return limit > 0 && limit < n ? limit : n; };
    d.train = make_synthetic(limited(dc.synthetic_train, dc.limit_train), dc.synthetic_channels, dc.synthetic_size,
                             dc.synthetic_classes, static_cast<uint64_t>(c.seed));
    d.val = make_synthetic(limited(dc.synthetic_val, dc.limit_val), dc.synthetic_channels, dc.synthetic_size,
                           dc.synthetic_classes, static_cast<uint64_t>(c.seed) + 1);
    d.normalization.mean.assign(static_cast<size_t>(dc.synthetic_channels), 0.5f);
    d.normalization.std.assign(static_cast<size_t>(dc.synthetic_channels), 0.25f);
  } else if (dc.dataset == "fashion_mnist") {
    const std::string root = dc.root.empty() ? kFashionMnistDefaultRoot : dc.root;
    d.train = load_fashion_mnist(root, true, dc.limit_train);
    d.val = load_fashion_mnist(root, false, dc.limit_val);
    d.normalization = fashion_mnist_normalization();
  } else {
    const std::string root = dc.root.empty() ? "data/cifar-10-batches-bin" : dc.root;
    d.train = load_cifar10(root, true, dc.limit_train);
    d.val = load_cifar10(root, false, dc.limit_val);
    d.normalization = cifar10_normalization();
  }
  if (!dc.mean.empty()) {
    d.normalization.mean.assign(dc.mean.begin(), dc.mean.end());
    d.normalization.std.assign(dc.std.begin(), dc.std.end());
  }
  const int64_t channels = d.train.images.size(1);
  CYG_INPUT_CHECK(static_cast<int64_t>(d.normalization.mean.size()) == channels, "'data.mean' and 'data.std' have ",
                  d.normalization.mean.size(), " values for ", channels, "-channel images");
  return d;
}

// ---- the experiment ----

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& c, std::vector<Variable> params) {
  if (c.name == "sgd") {
    SgdOptions o;
    o.lr = c.lr;
    o.momentum = c.momentum;
    o.weight_decay = c.weight_decay;
    o.nesterov = c.nesterov;
    return std::make_unique<SGD>(std::move(params), o);
  }
  AdamOptions o;
  o.lr = c.lr;
  o.beta1 = c.momentum;
  o.beta2 = c.beta2;
  o.eps = c.eps;
  o.weight_decay = c.weight_decay;
  o.decoupled_weight_decay = c.name == "adamw";
  return std::make_unique<Adam>(std::move(params), o);
}

// A warm-up comes first; the main schedule runs over the steps after it.
std::shared_ptr<const sched::Schedule> make_schedule(const RunConfig& c, int64_t steps_per_epoch,
                                                     int64_t all_steps) {
  const ScheduleConfig& s = c.schedule;
  CYG_INPUT_CHECK(s.warmup_steps < all_steps, "'schedule.warmup_steps' = ", s.warmup_steps,
                  " leaves no step of the ", all_steps, " in the run for the schedule");
  const int64_t total_steps = all_steps - s.warmup_steps;
  std::shared_ptr<const sched::Schedule> out;
  if (s.name == "one_cycle") {
    sched::OneCycleParams p;
    p.lr_min = s.lr_min;
    p.lr_max = s.lr_max;
    p.momentum_min = s.momentum_min;
    p.momentum_max = s.momentum_max;
    p.total_steps = std::max<int64_t>(total_steps, 2);
    p.anneal_fraction = sched::OneCycle::anneal_fraction_from_percent(s.anneal_percent);
    p.anneal_div = s.anneal_div;
    p.interpolation = s.interpolation == "cosine" ? sched::Interpolation::Cosine : sched::Interpolation::Linear;
    out = std::make_shared<sched::OneCycle>(p);
  } else if (s.name == "step") {
    std::vector<int64_t> milestones;
    for (int64_t e : s.milestones) milestones.push_back(std::max<int64_t>(e * steps_per_epoch - s.warmup_steps, 1));
    out = std::make_shared<sched::StepSchedule>(c.optimizer.lr, milestones, s.gamma);
  } else if (s.name == "cosine") {
    out = std::make_shared<sched::CosineSchedule>(c.optimizer.lr, s.min_lr, std::max<int64_t>(total_steps, 2));
  } else {
    out = std::make_shared<sched::ConstantSchedule>(c.optimizer.lr);
  }
  if (s.warmup_steps > 0) out = std::make_shared<sched::WarmupSchedule>(out, s.warmup_steps, out->lr(0) / 100.0);
  return out;
}

struct Evaluation {
  double loss = 0, accuracy = 0;
  int64_t images = 0;
};

class Experiment {
 public:
  Experiment(AppKind kind, const RunConfig& config) : kind_(kind), cfg_(config) {
    device_ = parse_device(cfg_.device);
    fn::set_deterministic(cfg_.deterministic);
    fn::set_allow_tf32(cfg_.allow_tf32);
    data_ = load_data(cfg_);
    const Augmentation augmentation{cfg_.data.crop_padding, cfg_.data.flip};
    const LoaderOptions batches = LoaderOptions(cfg_.train.batch_size)
                                      .seed(static_cast<uint64_t>(cfg_.seed))
                                      .normalization(data_.normalization)
                                      .device(device_);
    train_loader_ = std::make_unique<Loader>(
        data_.train, LoaderOptions(batches).shuffle(true).drop_last(cfg_.train.drop_last).augmentation(augmentation));
    val_loader_ = std::make_unique<Loader>(data_.val, batches);
    models::ModelOptions mo;
    mo.in_channels = data_.train.images.size(1);
    mo.num_classes = data_.train.num_classes;
    mo.width = cfg_.model.width;
    mo.seed = static_cast<uint64_t>(cfg_.seed);
    model_ = models::make_model(cfg_.model.name, mo);
    if (!cfg_.model.init_from.empty() && cfg_.resume.empty()) load_weights(cfg_.model.init_from, *model_);
    model_->to(device_);
    optimizer_ = make_optimizer(cfg_.optimizer, model_->parameters());
    steps_per_epoch_ = train_loader_->batches_per_epoch();
    CYG_INPUT_CHECK(steps_per_epoch_ > 0, "the training set (", data_.train.size(), " images) gives no batch of ",
                    cfg_.train.batch_size, " (train.drop_last is on)");
    schedule_ = make_schedule(cfg_, steps_per_epoch_, cfg_.train.epochs * steps_per_epoch_);
  }

  int fit();
  int lr_find();
  int evaluate_checkpoint(const std::string& checkpoint, const std::string& predictions);

 private:
  Evaluation evaluate(Loader& loader, std::vector<float>* logits_out = nullptr, std::vector<int32_t>* labels_out = nullptr);
  void open_run_directory();
  void save_config() const;
  int run_fit();
  void write_tables();
  void write_plots();
  void write_summary(const LoopState& st, bool stopped);
  std::string header_line() const;

  AppKind kind_;
  RunConfig cfg_;
  Device device_;
  DataSplits data_;
  std::unique_ptr<Loader> train_loader_, val_loader_;
  std::shared_ptr<nn::Module> model_;
  std::unique_ptr<Optimizer> optimizer_;
  std::shared_ptr<const sched::Schedule> schedule_;
  int64_t steps_per_epoch_ = 0;
  std::unique_ptr<RunDirectory> dir_;
  CsvTable metrics_{{"epoch", "step", "lr", "momentum", "train_loss", "train_acc", "val_loss", "val_acc",
                     "epoch_seconds", "images_per_second"}};
  CsvTable steps_{{"step", "epoch", "lr", "momentum", "loss"}};
  CsvTable finder_steps_{{"step", "epoch", "lr", "momentum", "loss", "smoothed_loss"}};
  nlohmann::json lr_find_summary_;
};

std::string Experiment::header_line() const {
  std::ostringstream os;
  std::string device = device_.str();
  if (cfg_.device == "auto" && !device_.is_cuda()) device += " (no GPU answered: " + cuda_unavailable_reason() + ")";
  os << app_name(kind_) << " '" << cfg_.name << "': " << cfg_.model.name << " on " << data_.train.name << " ("
     << data_.train.size() << " train, " << data_.val.size() << " val images), " << device << ", "
     << cfg_.optimizer.name << ", schedule " << (kind_ == AppKind::LrFind ? "range sweep" : cfg_.schedule.name) << ", "
     << steps_per_epoch_ << " steps per epoch";
  return os.str();
}

void Experiment::open_run_directory() {
  if (!cfg_.resume.empty()) {
    dir_ = std::make_unique<RunDirectory>(RunDirectory::open(cfg_.resume));
    metrics_.load(dir_->file("metrics.csv"));
    steps_.load(dir_->file("steps.csv"));
  } else {
    dir_ = std::make_unique<RunDirectory>(RunDirectory::create(cfg_.run_root, app_name(kind_), cfg_.name));
  }
}

void Experiment::save_config() const {
  RunConfig saved = cfg_;
  saved.resume.clear();
  dir_->write("config.yaml", to_yaml(saved));
}

Evaluation Experiment::evaluate(Loader& loader, std::vector<float>* logits_out, std::vector<int32_t>* labels_out) {
  NoGradGuard no_grad;
  model_->eval();
  Tensor loss_sum = Tensor::zeros({1}, DType::F32, device_), correct = Tensor::zeros({1}, DType::I64, device_);
  Tensor slot = Tensor::zeros({1}, DType::F32, device_);
  Evaluation e;
  loader.start_epoch(0);
  Batch batch;
  while (loader.next(batch)) {
    const Variable logits = (*model_)(Variable(batch.images));
    const fn::CrossEntropy ce = fn::cross_entropy(logits, batch.labels, 0.0);
    const int64_t n = batch.labels.numel();
    accumulate_metrics(loss_sum, correct, slot, 0, ce.loss.data(), ce.correct, static_cast<float>(n));
    e.images += n;
    if (logits_out) {
      const auto l = logits.data().to_vector();
      logits_out->insert(logits_out->end(), l.begin(), l.end());
      const Tensor labels = batch.labels.to(Device::cpu());
      labels_out->insert(labels_out->end(), labels.data<int32_t>(), labels.data<int32_t>() + n);
    }
  }
  model_->train();
  if (e.images > 0) {
    e.loss = loss_sum.item() / static_cast<double>(e.images);
    e.accuracy = correct.item() / static_cast<double>(e.images);
  }
  return e;
}

// The range test has no epochs to report: steps.csv only.
void Experiment::write_tables() {
  if (kind_ == AppKind::LrFind) {
    dir_->write("steps.csv", finder_steps_.text());
  } else {
    dir_->write("metrics.csv", metrics_.text());
    dir_->write("steps.csv", steps_.text());
  }
}

std::vector<double> column(const CsvTable& t, size_t c) {
  std::vector<double> out;
  for (const auto& row : t.rows()) out.push_back(std::strtod(row[c].c_str(), nullptr));
  return out;
}

void Experiment::write_plots() {
  if (kind_ == AppKind::LrFind) {
    plot::Chart chart;
    chart.title = "LR range test: " + cfg_.name;
    chart.x_label = "learning rate";
    chart.y_label = "training loss";
    chart.log_x = true;
    const auto lrs = column(finder_steps_, 2);
    const auto smoothed = column(finder_steps_, 5);
    auto raw_loss = column(finder_steps_, 4);
    // The raw loss explodes at the end; keep the axis on the smoothed curve, as the eye
    // reads the range test from it (points above are left out of the raw line).
    double top = 0;
    for (double v : smoothed)
      if (std::isfinite(v)) top = std::max(top, v);
    if (top > 0)
      for (double& v : raw_loss)
        if (v > 1.25 * top) v = NAN;
    plot::Series raw{"loss", lrs, raw_loss, true, 0, "#bbbbbb"};
    plot::Series smooth{"smoothed loss", lrs, smoothed, false, 0, ""};
    chart.series = {raw, smooth};
    for (const auto& s : lr_find_summary_["suggestions"])
      chart.markers.push_back({s["lr"].get<double>(), s["rule"].get<std::string>()});
    plot::write_svg(dir_->file("lr_find.svg"), chart);
  }
  plot::Chart schedule;
  schedule.title = "Learning rate and momentum: " + cfg_.name;
  schedule.x_label = "step";
  schedule.y_label = "learning rate";
  schedule.y2_label = "momentum";
  const CsvTable& steps = kind_ == AppKind::LrFind ? finder_steps_ : steps_;
  const auto step_x = column(steps, 0);
  schedule.series = {{"learning rate", step_x, column(steps, 2), false, 0, ""},
                     {"momentum", step_x, column(steps, 3), true, 1, ""}};
  plot::write_svg(dir_->file("schedule.svg"), schedule);
  if (kind_ == AppKind::LrFind || metrics_.rows().empty()) return;
  // Training dashed, validation solid, against the epoch (the seed's Figs. 3-5).
  auto by_epoch = [&](const std::string& title, const std::string& y_label, size_t train_col, size_t val_col) {
    const auto epochs = column(metrics_, 0);
    plot::Chart chart;
    chart.title = title + ": " + cfg_.name;
    chart.x_label = "epoch";
    chart.y_label = y_label;
    chart.series = {{"training", epochs, column(metrics_, train_col), true, 0, ""},
                    {"validation", epochs, column(metrics_, val_col), false, 0, ""}};
    return chart;
  };
  plot::write_svg(dir_->file("accuracy.svg"), by_epoch("Accuracy", "accuracy", 5, 7));
  plot::write_svg(dir_->file("loss.svg"), by_epoch("Loss", "cross-entropy", 4, 6));
}

void Experiment::write_summary(const LoopState& st, bool stopped) {
  nlohmann::ordered_json j;
  j["app"] = app_name(kind_);
  j["name"] = cfg_.name;
  j["device"] = device_.str();
  j["model"] = cfg_.model.name;
  j["dataset"] = data_.train.name;
  j["steps"] = st.step;
  j["epochs_completed"] = kind_ == AppKind::LrFind ? 0 : st.epoch;
  j["stopped_early"] = stopped;
  j["total_seconds"] = st.total_seconds;
  if (!metrics_.rows().empty()) {
    const auto& last = metrics_.rows().back();
    j["final_val_loss"] = std::strtod(last[6].c_str(), nullptr);
    j["final_val_acc"] = std::strtod(last[7].c_str(), nullptr);
    j["best_val_acc"] = st.best_val_acc;
    j["best_val_loss"] = st.best_val_loss;
    j["best_epoch"] = st.best_epoch;
  }
  if (kind_ == AppKind::LrFind) j["lr_find"] = lr_find_summary_;
  dir_->write("summary.json", j.dump(2) + "\n");
}

// Whatever stops the loop with an error (a diverging loss, a full disk) still leaves the
// run directory telling what happened: the tables so far, the summary with the error,
// and the message in train.log.
int Experiment::fit() {
  open_run_directory();
  try {
    return run_fit();
  } catch (const std::exception& e) {
    try {
      dir_->log(std::string("error: ") + e.what());
      write_tables();
      nlohmann::json summary = nlohmann::json::parse(std::ifstream(dir_->file("summary.json")), nullptr, false);
      if (summary.is_discarded() || !summary.is_object()) summary = nlohmann::json::object();
      summary["error"] = e.what();
      summary["stopped_early"] = true;
      dir_->write("summary.json", summary.dump(2) + "\n");
    } catch (...) {
      // Reporting must not hide the original error.
    }
    throw;
  }
}

int Experiment::run_fit() {
  LoopState st;
  if (!cfg_.resume.empty()) {
    st = load_checkpoint(dir_->path(), "last", *model_, *optimizer_);
    metrics_.truncate(static_cast<size_t>(st.epoch));
    steps_.truncate(static_cast<size_t>(st.step));
    dir_->log("resuming " + dir_->path() + " at step " + std::to_string(st.step) + " (epoch " +
              std::to_string(st.epoch + 1) + ", batch " + std::to_string(st.batch_in_epoch) + ")");
  }
  save_config();
  dir_->log(header_line());
  dir_->log("run directory: " + dir_->path());

  const int64_t log_every = cfg_.train.log_every;
  Tensor loss_sum = Tensor::full({1}, st.train_loss_sum, DType::F32, device_);
  Tensor correct_sum = Tensor::full({1}, static_cast<double>(st.train_correct), DType::I64, device_);
  Tensor ring = Tensor::zeros({log_every}, DType::F32, device_);
  struct PendingStep {
    int64_t step, epoch;
    double lr, momentum;
  };
  std::vector<PendingStep> pending;
  g_stop_requested = false;
  auto previous_handler = std::signal(SIGINT, on_interrupt);
  bool stopped = false;
  const auto run_start = std::chrono::steady_clock::now();
  const double seconds_before = st.total_seconds;

  auto save_last = [&](double epoch_elapsed) {
    LoopState s = st;
    s.train_loss_sum = loss_sum.item();
    s.train_correct = static_cast<int64_t>(correct_sum.item());
    s.epoch_seconds = epoch_elapsed;
    s.total_seconds = seconds_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
    CheckpointWriteGuard guard;
    save_checkpoint(dir_->path(), "last", *model_, optimizer_.get(), s, cfg_.model.name);
    return s;
  };

  for (int64_t epoch = st.epoch; epoch < cfg_.train.epochs && !stopped; ++epoch) {
    if (cfg_.train.max_steps > 0 && st.step >= cfg_.train.max_steps) break;
    const auto epoch_start = std::chrono::steady_clock::now();
    auto epoch_elapsed = [&] {
      return st.epoch_seconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    };
    train_loader_->start_epoch(epoch, st.batch_in_epoch);
    Progress progress("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(cfg_.train.epochs),
                      steps_per_epoch_, log_every, st.batch_in_epoch);
    // What the row reports if this epoch's steps were all taken before a resume.
    double lr = st.step > 0 ? schedule_->lr(st.step - 1) : optimizer_->lr();
    double momentum = optimizer_->momentum();
    if (st.step > 0 && cfg_.schedule.cycle_momentum && schedule_->momentum(st.step - 1))
      momentum = *schedule_->momentum(st.step - 1);
    Batch batch;
    auto flush = [&] {
      if (pending.empty()) return;
      const std::vector<float> losses = ring.to_vector();
      for (size_t k = 0; k < pending.size(); ++k) {
        const PendingStep& p = pending[k];
        const double loss = losses[k];
        CYG_INPUT_CHECK(std::isfinite(loss), "the training loss became ", loss, " at step ", p.step + 1,
                        " (lr ", p.lr, "): stopping; try a lower learning rate");
        steps_.add_row({std::to_string(p.step + 1), std::to_string(p.epoch + 1), format_number(p.lr),
                        format_number(p.momentum), format_number(loss)});
      }
      progress.update(st.batch_in_epoch, losses[pending.size() - 1], pending.back().lr);
      pending.clear();
    };
    while (train_loader_->next(batch)) {
      NvtxRange step_range("step");
      lr = schedule_->lr(st.step);
      optimizer_->set_lr(lr);
      const std::optional<double> m = schedule_->momentum(st.step);
      if (m && cfg_.schedule.cycle_momentum) optimizer_->set_momentum(*m);
      momentum = optimizer_->momentum();
      optimizer_->zero_grad();
      fn::CrossEntropy ce;
      {
        NvtxRange r("forward");
        ce = fn::cross_entropy((*model_)(Variable(batch.images)), batch.labels, cfg_.train.label_smoothing);
      }
      {
        NvtxRange r("backward");
        backward(ce.loss);
      }
      {
        NvtxRange r("optimizer");
        optimizer_->step();
      }
      const int64_t n = batch.labels.numel();
      accumulate_metrics(loss_sum, correct_sum, ring, static_cast<int64_t>(pending.size()), ce.loss.data(), ce.correct,
                         static_cast<float>(n));
      pending.push_back({st.step, epoch, lr, momentum});
      ++st.step;
      ++st.batch_in_epoch;
      st.train_seen += n;
      const bool limit = cfg_.train.max_steps > 0 && st.step >= cfg_.train.max_steps;
      if (static_cast<int64_t>(pending.size()) == log_every || st.batch_in_epoch == steps_per_epoch_ ||
          g_stop_requested || limit)
        flush();
      if (g_stop_requested) {
        progress.finish();
        st.total_seconds = save_last(epoch_elapsed()).total_seconds;
        write_tables();
        write_plots();
        write_summary(st, true);
        dir_->log("stopped at step " + std::to_string(st.step) + "; continue with: cygnet_" + app_name(kind_) +
                  " resume=" + dir_->path());
        stopped = true;
        break;
      }
      if (limit) break;
    }
    if (stopped) break;
    progress.finish();
    const double seconds = epoch_elapsed();
    const int64_t seen = st.train_seen;
    const double train_loss = seen ? loss_sum.item() / static_cast<double>(seen) : 0.0;
    const double train_acc = seen ? correct_sum.item() / static_cast<double>(seen) : 0.0;
    const Evaluation val = evaluate(*val_loader_);
    metrics_.add_row({std::to_string(epoch + 1), std::to_string(st.step), format_number(lr), format_number(momentum),
                      format_number(train_loss), format_number(train_acc), format_number(val.loss),
                      format_number(val.accuracy), format_number(seconds),
                      format_number(seconds > 0 ? static_cast<double>(seen) / seconds : 0.0)});
    char line[256];
    std::snprintf(line, sizeof line,
                  "epoch %lld/%lld: train loss %.4f acc %.4f, val loss %.4f acc %.4f, %.1f s, %.0f images/s",
                  static_cast<long long>(epoch + 1), static_cast<long long>(cfg_.train.epochs), train_loss, train_acc,
                  val.loss, val.accuracy, seconds, seconds > 0 ? static_cast<double>(seen) / seconds : 0.0);
    dir_->log(line);
    const bool partial = st.batch_in_epoch < steps_per_epoch_;
    if (!partial) {
      st.epoch = epoch + 1;
      st.batch_in_epoch = 0;
      st.train_seen = 0;
      st.epoch_seconds = 0;
      loss_sum.fill_(0.0);
      correct_sum.fill_(0.0);
    }
    st.total_seconds =
        seconds_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
    if (!partial && val.accuracy > st.best_val_acc) {
      st.best_val_acc = val.accuracy;
      st.best_val_loss = val.loss;
      st.best_epoch = epoch + 1;
      save_checkpoint(dir_->path(), "best", *model_, nullptr, st, cfg_.model.name);
    }
    save_last(partial ? seconds : 0.0);
    write_tables();
    write_plots();
    write_summary(st, partial);
  }
  std::signal(SIGINT, previous_handler);
  if (stopped) return kInterruptedExit;
  dir_->log("done: " + std::to_string(st.step) + " steps, best val acc " + format_number(st.best_val_acc) +
            " (epoch " + std::to_string(st.best_epoch) + "), " + format_duration(st.total_seconds) + "; outputs in " +
            dir_->path());
  return 0;
}

int Experiment::lr_find() {
  CYG_INPUT_CHECK(cfg_.resume.empty(), "the range test cannot be resumed; run it again");
  open_run_directory();
  save_config();
  dir_->log(header_line());
  const int64_t total = cfg_.lr_find.steps > 0 ? cfg_.lr_find.steps : steps_per_epoch_;
  CYG_INPUT_CHECK(total >= 2, "the range test needs at least 2 steps, got ", total);
  const sched::RangeSweep sweep(cfg_.lr_find.start_lr, cfg_.lr_find.end_lr, total,
                                cfg_.lr_find.spacing == "linear" ? sched::SweepSpacing::Linear
                                                                  : sched::SweepSpacing::Exponential);
  sched::LrFinderTrackerOptions to;
  to.smoothing_beta = cfg_.lr_find.smoothing;
  to.divergence_factor = cfg_.lr_find.divergence_factor;
  sched::LrFinderTracker tracker(to);
  // The sweep trains the model; it is put back as it was when the sweep ends.
  nn::NamedTensors initial;
  for (const auto& [name, t] : model_->state_dict()) initial.emplace_back(name, t.clone());
  const StateDict initial_optimizer = optimizer_->state_dict();

  g_stop_requested = false;
  auto previous_handler = std::signal(SIGINT, on_interrupt);
  const auto started = std::chrono::steady_clock::now();
  Progress progress("range test", total, cfg_.train.log_every);
  int64_t step = 0;
  for (int64_t epoch = 0; step < total && !tracker.stopped() && !g_stop_requested; ++epoch) {
    train_loader_->start_epoch(epoch);
    Batch batch;
    while (step < total && train_loader_->next(batch)) {
      const double lr = sweep.lr(step);
      optimizer_->set_lr(lr);
      optimizer_->zero_grad();
      const fn::CrossEntropy ce =
          fn::cross_entropy((*model_)(Variable(batch.images)), batch.labels, cfg_.train.label_smoothing);
      backward(ce.loss);
      optimizer_->step();
      const double loss = ce.loss.data().item();
      const bool stop = tracker.push(lr, loss);
      const double smoothed = tracker.smoothed_losses().empty() || tracker.losses().size() < static_cast<size_t>(step + 1)
                                  ? NAN
                                  : tracker.smoothed_losses().back();
      finder_steps_.add_row({std::to_string(step + 1), std::to_string(epoch + 1), format_number(lr),
                             format_number(optimizer_->momentum()), format_number(loss), format_number(smoothed)});
      ++step;
      progress.update(step, loss, lr);
      if (stop || g_stop_requested) break;
    }
  }
  progress.finish();
  std::signal(SIGINT, previous_handler);
  model_->load_state_dict(initial);
  optimizer_->load_state_dict(initial_optimizer);

  const sched::LrSuggestions suggestions = tracker.suggest();
  lr_find_summary_["steps"] = step;
  lr_find_summary_["start_lr"] = cfg_.lr_find.start_lr;
  lr_find_summary_["end_lr"] = cfg_.lr_find.end_lr;
  lr_find_summary_["stop_reason"] = tracker.stopped() ? tracker.stop_reason()
                                                      : (g_stop_requested ? "interrupted" : "end of the sweep");
  lr_find_summary_["suggestions"] = nlohmann::json::array();
  for (const auto& s : suggestions.suggestions)
    lr_find_summary_["suggestions"].push_back({{"rule", s.rule}, {"lr", s.lr}});
  if (!suggestions.ok()) lr_find_summary_["error"] = suggestions.error;
  LoopState st;
  st.step = step;
  st.total_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  write_tables();
  write_plots();
  write_summary(st, g_stop_requested);
  dir_->log("range test: " + std::to_string(step) + " steps, stopped by " +
            lr_find_summary_["stop_reason"].get<std::string>());
  if (suggestions.ok()) {
    for (const auto& s : suggestions.suggestions) dir_->log("  suggested lr (" + s.rule + "): " + format_number(s.lr));
  } else {
    dir_->log("  no suggestion: " + suggestions.error);
  }
  dir_->log("the model is back at its starting weights; plot: " + dir_->file("lr_find.svg"));
  return g_stop_requested ? kInterruptedExit : 0;
}

int Experiment::evaluate_checkpoint(const std::string& checkpoint, const std::string& predictions) {
  load_weights(checkpoint, *model_);
  std::vector<float> logits;
  std::vector<int32_t> labels;
  const Evaluation e = evaluate(*val_loader_, predictions.empty() ? nullptr : &logits, &labels);
  std::printf("%s on %s (%lld images): loss %.6f, accuracy %.4f\n", checkpoint.c_str(), data_.val.name.c_str(),
              static_cast<long long>(e.images), e.loss, e.accuracy);
  if (!predictions.empty()) {
    const int64_t k = data_.val.num_classes;
    std::ostringstream os;
    os << "index,label,pred";
    for (int64_t c = 0; c < k; ++c) os << ",logit_" << c;
    os << "\n";
    for (size_t i = 0; i < labels.size(); ++i) {
      const float* row = logits.data() + i * static_cast<size_t>(k);
      int64_t pred = 0;
      for (int64_t c = 1; c < k; ++c)
        if (row[c] > row[pred]) pred = c;
      os << i << "," << labels[i] << "," << pred;
      for (int64_t c = 0; c < k; ++c) os << "," << format_number(row[c]);
      os << "\n";
    }
    write_file_atomically(predictions, os.str());
    std::printf("predictions: %s\n", predictions.c_str());
  }
  return 0;
}

}  // namespace

int run_app(AppKind kind, int argc, char** argv) {
  const std::string name = std::string("cygnet_") + app_name(kind);
  try {
    CommandLine cl = parse_command_line(kind, argc, argv);
    if (cl.print_config) {
      std::cout << to_yaml(cl.config);
      return 0;
    }
    Experiment experiment(kind, cl.config);
    switch (kind) {
      case AppKind::LrFind: return experiment.lr_find();
      case AppKind::Evaluate: return experiment.evaluate_checkpoint(cl.checkpoint, cl.predictions);
      default: return experiment.fit();
    }
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: error: %s\n", name.c_str(), e.what());
    return 1;
  }
}

}  // namespace cyg::app
