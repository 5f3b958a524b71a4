// The configuration registry: one table of (dotted key, type, field) drives reading,
// overriding, printing and the list of valid keys, so they cannot disagree.
#include "apps/common/config.h"

#include "data/mixup.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <sstream>
#include <system_error>

#include "apps/common/dataset_factory.h"
#include "apps/common/image_input.h"
#include "apps/common/name_table.h"
#include "apps/common/optimizer_factory.h"
#include "apps/common/run_dir.h"
#include "apps/common/schedule_factory.h"
#include "data/mixup.h"
#include "engine/device.h"
#include "kernels/error.h"
#include "models/registry.h"
#include "schedules/lr_finder.h"

namespace cyg::app {

const char* app_name(AppKind kind) {
  switch (kind) {
    case AppKind::Baseline: return "baseline";
    case AppKind::OneCycle: return "onecycle";
    case AppKind::LrFind: return "lr_find";
    case AppKind::Evaluate: return "evaluate";
  }
  return "?";
}

namespace {

enum class Kind { Int, Double, Bool, String, DoubleList, IntList, StringList };

// An integer key (or each value of an integer list) must lie in [lo, hi]: the upper
// bounds keep every size derived from the config far from overflow and from
// allocations no machine has; --help states them.
struct Field {
  std::string key;
  Kind kind;
  void* target;
  int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
  bool bounded() const { return lo != std::numeric_limits<int64_t>::min() || hi != std::numeric_limits<int64_t>::max(); }
};

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Int: return "an integer";
    case Kind::Double: return "a number";
    case Kind::Bool: return "true or false";
    case Kind::String: return "a string";
    case Kind::DoubleList: return "a list of numbers";
    case Kind::IntList: return "a list of integers";
    case Kind::StringList: return "a list of strings";
  }
  return "?";
}

std::vector<Field> fields(RunConfig& c) {
  return {
      {"name", Kind::String, &c.name},
      {"seed", Kind::Int, &c.seed, 0, std::numeric_limits<int64_t>::max()},
      {"device", Kind::String, &c.device},
      {"deterministic", Kind::Bool, &c.deterministic},
      {"precision", Kind::String, &c.precision},
      {"memory_format", Kind::String, &c.memory_format},
      {"allow_tf32", Kind::Bool, &c.allow_tf32},
      {"cudnn_benchmark", Kind::Bool, &c.cudnn_benchmark},
      {"cudnn_cache", Kind::String, &c.cudnn_cache},
      {"cudnn_engines", Kind::String, &c.cudnn_engines},
      {"cuda_graphs", Kind::Bool, &c.cuda_graphs},
      {"threads", Kind::Int, &c.threads, 0, 4096},
      {"distributed", Kind::String, &c.distributed},
      {"sync_batchnorm", Kind::Bool, &c.sync_batchnorm},
      {"distributed_timeout", Kind::Double, &c.distributed_timeout},
      {"tensorboard", Kind::Bool, &c.tensorboard},
      {"run_root", Kind::String, &c.run_root},
      {"resume", Kind::String, &c.resume},
      {"model.name", Kind::String, &c.model.name},
      {"model.width", Kind::Int, &c.model.width, 0, 4096},
      {"model.init_from", Kind::String, &c.model.init_from},
      {"data.dataset", Kind::String, &c.data.dataset},
      {"data.root", Kind::String, &c.data.root},
      {"data.mean", Kind::DoubleList, &c.data.mean},
      {"data.std", Kind::DoubleList, &c.data.std},
      {"data.crop_padding", Kind::Int, &c.data.crop_padding, 0, 1024},
      {"data.flip", Kind::Bool, &c.data.flip},
      {"data.cutout", Kind::Int, &c.data.cutout, 0, 1024},
      {"data.mixup_alpha", Kind::Double, &c.data.mixup_alpha},
      {"data.cutmix_alpha", Kind::Double, &c.data.cutmix_alpha},
      {"data.limit_train", Kind::Int, &c.data.limit_train, 0, 1000000000},
      {"data.limit_val", Kind::Int, &c.data.limit_val, 0, 1000000000},
      {"data.sampler", Kind::String, &c.data.sampler},
      {"data.synthetic_train", Kind::Int, &c.data.synthetic_train, 1, 10000000},
      {"data.synthetic_val", Kind::Int, &c.data.synthetic_val, 1, 10000000},
      {"data.synthetic_size", Kind::Int, &c.data.synthetic_size, 1, 4096},
      {"data.synthetic_channels", Kind::Int, &c.data.synthetic_channels, 1, 64},
      {"data.synthetic_classes", Kind::Int, &c.data.synthetic_classes, 2, 100000},
      {"data.train_folder", Kind::String, &c.data.train_folder},
      {"data.valid_folder", Kind::String, &c.data.valid_folder},
      {"data.image_size", Kind::Int, &c.data.image_size, 0, 4096},
      {"data.channels", Kind::Int, &c.data.channels, 1, 3},
      {"data.resize_method", Kind::String, &c.data.resize_method},
      {"data.valid_pct", Kind::Double, &c.data.valid_pct},
      {"data.classes", Kind::StringList, &c.data.classes},
      {"data.train_files", Kind::String, &c.data.train_files},
      {"train.epochs", Kind::Int, &c.train.epochs, 1, 100000},
      {"train.batch_size", Kind::Int, &c.train.batch_size, 1, 1048576},
      {"train.drop_last", Kind::Bool, &c.train.drop_last},
      {"train.max_steps", Kind::Int, &c.train.max_steps, 0, 1000000000000},
      {"train.max_time", Kind::String, &c.train.max_time},
      {"train.label_smoothing", Kind::Double, &c.train.label_smoothing},
      {"train.log_every", Kind::Int, &c.train.log_every, 1, 1000000},
      {"train.activation_stats_every", Kind::Int, &c.train.activation_stats_every, 0, 1000000000},
      {"train.micro_batches", Kind::Int, &c.train.micro_batches, 1, 65536},
      {"train.target_val_acc", Kind::Double, &c.train.target_val_acc},
      {"train.ema_decay", Kind::Double, &c.train.ema_decay},
      {"train.ema_warmup", Kind::Bool, &c.train.ema_warmup},
      {"train.early_stopping_patience", Kind::Int, &c.train.early_stopping_patience, 0, 1000000},
      {"train.early_stopping_monitor", Kind::String, &c.train.early_stopping_monitor},
      {"train.early_stopping_min_delta", Kind::Double, &c.train.early_stopping_min_delta},
      {"train.best_monitor", Kind::String, &c.train.best_monitor},
      {"train.save_every_n_epochs", Kind::Int, &c.train.save_every_n_epochs, 0, 1000000},
      {"train.swa_start_epoch", Kind::Int, &c.train.swa_start_epoch, 0, 1000000},
      {"train.swa_lr", Kind::Double, &c.train.swa_lr},
      {"train.swa_anneal_epochs", Kind::Int, &c.train.swa_anneal_epochs, 0, 1000000},
      {"train.swa_anneal_strategy", Kind::String, &c.train.swa_anneal_strategy},
      {"optimizer.name", Kind::String, &c.optimizer.name},
      {"optimizer.lr", Kind::Double, &c.optimizer.lr},
      {"optimizer.momentum", Kind::Double, &c.optimizer.momentum},
      {"optimizer.beta2", Kind::Double, &c.optimizer.beta2},
      {"optimizer.eps", Kind::Double, &c.optimizer.eps},
      {"optimizer.weight_decay", Kind::Double, &c.optimizer.weight_decay},
      {"optimizer.nesterov", Kind::Bool, &c.optimizer.nesterov},
      {"optimizer.clip_grad_norm", Kind::Double, &c.optimizer.clip_grad_norm},
      {"optimizer.decay_bias_and_norm", Kind::Bool, &c.optimizer.decay_bias_and_norm},
      {"schedule.name", Kind::String, &c.schedule.name},
      {"schedule.lr_min", Kind::Double, &c.schedule.lr_min},
      {"schedule.lr_max", Kind::Double, &c.schedule.lr_max},
      {"schedule.lr_max_from", Kind::String, &c.schedule.lr_max_from},
      {"schedule.lr_max_rule", Kind::String, &c.schedule.lr_max_rule},
      {"schedule.momentum_min", Kind::Double, &c.schedule.momentum_min},
      {"schedule.momentum_max", Kind::Double, &c.schedule.momentum_max},
      {"schedule.anneal_percent", Kind::Double, &c.schedule.anneal_percent},
      {"schedule.anneal_div", Kind::Double, &c.schedule.anneal_div},
      {"schedule.interpolation", Kind::String, &c.schedule.interpolation},
      {"schedule.cycle_momentum", Kind::Bool, &c.schedule.cycle_momentum},
      {"schedule.pct_start", Kind::Double, &c.schedule.pct_start},
      {"schedule.div_factor", Kind::Double, &c.schedule.div_factor},
      {"schedule.final_div_factor", Kind::Double, &c.schedule.final_div_factor},
      {"schedule.three_phase", Kind::Bool, &c.schedule.three_phase},
      {"schedule.anneal_strategy", Kind::String, &c.schedule.anneal_strategy},
      {"schedule.milestones", Kind::IntList, &c.schedule.milestones, 1, 100000},
      {"schedule.gamma", Kind::Double, &c.schedule.gamma},
      {"schedule.min_lr", Kind::Double, &c.schedule.min_lr},
      {"schedule.warmup_steps", Kind::Int, &c.schedule.warmup_steps, 0, 1000000000000},
      {"schedule.plateau_monitor", Kind::String, &c.schedule.plateau_monitor},
      {"schedule.plateau_factor", Kind::Double, &c.schedule.plateau_factor},
      {"schedule.plateau_patience", Kind::Int, &c.schedule.plateau_patience, 0, 1000000},
      {"schedule.plateau_threshold", Kind::Double, &c.schedule.plateau_threshold},
      {"schedule.plateau_threshold_mode", Kind::String, &c.schedule.plateau_threshold_mode},
      {"schedule.plateau_cooldown", Kind::Int, &c.schedule.plateau_cooldown, 0, 1000000},
      {"lr_find.start_lr", Kind::Double, &c.lr_find.start_lr},
      {"lr_find.end_lr", Kind::Double, &c.lr_find.end_lr},
      {"lr_find.steps", Kind::Int, &c.lr_find.steps, 0, 10000000},
      {"lr_find.spacing", Kind::String, &c.lr_find.spacing},
      {"lr_find.divergence_factor", Kind::Double, &c.lr_find.divergence_factor},
      {"lr_find.smoothing", Kind::Double, &c.lr_find.smoothing},
      {"lr_find.weight_decays", Kind::DoubleList, &c.lr_find.weight_decays},
  };
}

// The valid keys directly under `section` ("" for the top level).
std::string keys_under(const std::vector<Field>& fs, const std::string& section) {
  std::set<std::string> names;
  for (const Field& f : fs) {
    if (!section.empty() && f.key.rfind(section + ".", 0) != 0) continue;
    const std::string rest = section.empty() ? f.key : f.key.substr(section.size() + 1);
    names.insert(rest.substr(0, rest.find('.')));
  }
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

void set_field(const Field& f, const YAML::Node& node, const std::string& where) {
  auto fail = [&](const std::string& why) {
    CYG_INPUT_CHECK(false, where, ": '", f.key, "' must be ", kind_name(f.kind), why);
  };
  try {
    switch (f.kind) {
      case Kind::Int: {
        if (!node.IsScalar()) fail("");
        int64_t v = 0;
        if (!YAML::convert<int64_t>::decode(node, v)) {
          // 1e3 is an integer too; anything else (1.5, 1e30, text) is not.
          const double d = node.as<double>();
          if (d != std::floor(d) || std::fabs(d) > 9.0e15) fail(", got " + node.Scalar());
          v = static_cast<int64_t>(d);
        }
        *static_cast<int64_t*>(f.target) = v;
        break;
      }
      case Kind::Double:
        if (!node.IsScalar()) fail("");
        *static_cast<double*>(f.target) = node.as<double>();
        break;
      case Kind::Bool:
        if (!node.IsScalar()) fail("");
        *static_cast<bool*>(f.target) = node.as<bool>();
        break;
      case Kind::String:
        if (!node.IsScalar() && !node.IsNull()) fail("");
        *static_cast<std::string*>(f.target) = node.IsNull() ? "" : node.as<std::string>();
        break;
      case Kind::DoubleList:
        if (!node.IsSequence()) fail("");
        *static_cast<std::vector<double>*>(f.target) = node.as<std::vector<double>>();
        break;
      case Kind::IntList:
        if (!node.IsSequence()) fail("");
        *static_cast<std::vector<int64_t>*>(f.target) = node.as<std::vector<int64_t>>();
        break;
      case Kind::StringList:
        if (!node.IsSequence()) fail("");
        for (const YAML::Node& item : node)
          if (!item.IsScalar()) fail("");
        *static_cast<std::vector<std::string>*>(f.target) = node.as<std::vector<std::string>>();
        break;
    }
  } catch (const YAML::Exception&) {
    fail(node.IsScalar() ? ", got '" + node.Scalar() + "'" : "");
  }
}

// `lines` holds the line of every key path met so far in the file: a key given twice
// (`epochs:` twice under `train:`, `train:` twice, or `train.epochs:` beside `train:`
// `epochs:`) is refused, where yaml-cpp would let the later one win in silence.
void apply_node(RunConfig& config, const YAML::Node& node, const std::string& prefix, const std::string& where,
                std::set<std::string>& given, std::map<std::string, int>& lines) {
  auto fs = fields(config);
  for (auto it = node.begin(); it != node.end(); ++it) {
    // YAML allows any node as a key ("? a: b" makes a mapping one); a config's are names.
    CYG_INPUT_CHECK(it->first.IsScalar(), where, ":", it->first.Mark().line + 1, ": a key",
                    prefix.empty() ? "" : " under '" + prefix + "'", " is not a name");
    const std::string key = it->first.Scalar();
    const std::string path = prefix.empty() ? key : prefix + "." + key;
    const int line = it->first.Mark().line + 1;
    const auto [first, inserted] = lines.emplace(path, line);
    CYG_INPUT_CHECK(inserted, where, ":", line, ": '", path, "' is given twice (also on line ", first->second,
                    "); expected each key once");
    const Field* field = nullptr;
    bool is_section = false;
    for (const Field& f : fs) {
      if (f.key == path) field = &f;
      if (f.key.rfind(path + ".", 0) == 0) is_section = true;
    }
    if (field) {
      set_field(*field, it->second, where);
      given.insert(path);
    } else if (is_section) {
      CYG_INPUT_CHECK(it->second.IsMap(), where, ": '", path, "' is a section (keys: ", keys_under(fs, path),
                "), not a value");
      apply_node(config, it->second, path, where, given, lines);
    } else {
      CYG_INPUT_CHECK(false, where, ": unknown key '", path, "' (valid keys", prefix.empty() ? "" : " under '" + prefix + "'",
                ": ", keys_under(fs, prefix), ")");
    }
  }
}

void check_positive(const std::string& key, double v) {
  CYG_INPUT_CHECK(std::isfinite(v) && v > 0, "'", key, "' = ", v, ": expected a positive number");
}
void check_range(const std::string& key, double v, double lo, double hi) {
  CYG_INPUT_CHECK(std::isfinite(v) && v >= lo && v <= hi, "'", key, "' = ", v, ": expected a value in [", lo, ", ", hi,
            "]");
}

}  // namespace

const std::vector<std::string>& sampler_names() {
  static const std::vector<std::string> names = {"shuffle", "balanced"};
  return names;
}

namespace {

void validate_data(const DataConfig& d) {
  check_one_of("data.dataset", d.dataset, dataset_names());
  check_one_of("data.resize_method", d.resize_method, resize_method_names());
  check_one_of("data.sampler", d.sampler, sampler_names());
  CYG_INPUT_CHECK(d.mean.size() == d.std.size(), "'data.mean' has ", d.mean.size(), " values, 'data.std' ",
                  d.std.size());
  CYG_INPUT_CHECK(std::isfinite(d.mixup_alpha) && (d.mixup_alpha == 0 || d.mixup_alpha >= kMinMixUpAlpha),
                  "'data.mixup_alpha' = ", d.mixup_alpha, ": expected MixUp's alpha, at least ", kMinMixUpAlpha,
                  " (fastai's default 0.4), or 0 for none");
  CYG_INPUT_CHECK(std::isfinite(d.cutmix_alpha) && (d.cutmix_alpha == 0 || d.cutmix_alpha >= kMinMixUpAlpha),
                  "'data.cutmix_alpha' = ", d.cutmix_alpha, ": expected CutMix's alpha, at least ", kMinMixUpAlpha,
                  " (fastai's default 1), or 0 for none");
  CYG_INPUT_CHECK(d.mixup_alpha == 0 || d.cutmix_alpha == 0, "'data.mixup_alpha' = ", d.mixup_alpha,
                  " and 'data.cutmix_alpha' = ", d.cutmix_alpha, " each pair a batch's images: use one");
  // Pixel values lie in [0, 1]: a mean or std far outside is a mistake (NaN included).
  for (double m : d.mean) check_range("data.mean", m, -1000, 1000);
  for (double s : d.std) {
    check_positive("data.std", s);
    check_range("data.std", s, 0, 1000);
  }
  CYG_INPUT_CHECK(d.crop_padding >= 0, "'data.crop_padding' = ", d.crop_padding, ": expected 0 or more");
  CYG_INPUT_CHECK(d.limit_train >= 0 && d.limit_val >= 0, "'data.limit_train' and 'data.limit_val' must be >= 0");
  CYG_INPUT_CHECK(d.synthetic_train > 0 && d.synthetic_val > 0 && d.synthetic_size > 0 && d.synthetic_channels > 0 &&
                      d.synthetic_classes > 1,
                  "'data.synthetic_*' sizes must be positive (and at least 2 classes)");
  CYG_INPUT_CHECK(d.channels == 1 || d.channels == 3, "'data.channels' = ", d.channels,
                  ": expected 3 (RGB) or 1 (grayscale)");
  if (d.dataset == "folder") {
    CYG_INPUT_CHECK(!d.root.empty(), "'data.dataset' = folder needs 'data.root': a folder holding ", d.train_folder,
                    "/ and valid/ (or val/ or test/), each with a folder of images per class");
    CYG_INPUT_CHECK(!d.train_folder.empty(), "'data.train_folder' is empty: expected the training images' folder "
                    "under data.root (train by default)");
    CYG_INPUT_CHECK(d.train_folder != d.valid_folder, "'data.train_folder' = '",
                    d.train_folder, "' and 'data.valid_folder' = '", d.valid_folder,
                    "': expected two different folders under data.root");
    CYG_INPUT_CHECK(std::isfinite(d.valid_pct) && d.valid_pct >= 0 && d.valid_pct < 1, "'data.valid_pct' = ",
                    d.valid_pct, ": expected a share in [0, 1), such as 0.2 (fastai's default; 0: a validation folder)");
    for (size_t i = 0; i < d.classes.size(); ++i) {
      CYG_INPUT_CHECK(!d.classes[i].empty() && d.classes[i].find('/') == std::string::npos, "'data.classes' has '",
                      d.classes[i], "': expected class folders' names");
      CYG_INPUT_CHECK(std::find(d.classes.begin(), d.classes.begin() + static_cast<std::ptrdiff_t>(i), d.classes[i]) ==
                          d.classes.begin() + static_cast<std::ptrdiff_t>(i),
                      "'data.classes' names '", d.classes[i], "' twice");
    }
    {
      long long files = -1;
      char hex[17] = {0};
      int used = 0;
      CYG_INPUT_CHECK(d.train_files.empty() ||
                          (std::sscanf(d.train_files.c_str(), "%lld files, fnv1a %16[0-9a-f]%n", &files, hex, &used) == 2 &&
                           files >= 0 && std::string(hex).size() == 16 &&
                           static_cast<size_t>(used) == d.train_files.size()),
                      "'data.train_files' = '", d.train_files,
                      "': expected what a run records there (\"<n> files, fnv1a <16 hex digits>\"), or nothing");
    }
    CYG_INPUT_CHECK(d.classes.size() != 1, "'data.classes' names 1 class ('", d.classes.empty() ? "" : d.classes[0],
                    "'); a classifier needs at least 2");
    CYG_INPUT_CHECK(d.valid_pct == 0 || d.valid_folder.empty(), "'data.valid_pct' = ", d.valid_pct,
                    " holds the validation images out of ", d.train_folder, "/, and 'data.valid_folder' = '",
                    d.valid_folder, "' names a folder of them: use one");
  } else {
    const DataConfig defaults;
    CYG_INPUT_CHECK(d.train_folder == defaults.train_folder && d.valid_folder == defaults.valid_folder &&
                        d.image_size == defaults.image_size && d.channels == defaults.channels &&
                        d.valid_pct == defaults.valid_pct && d.classes.empty() && d.train_files.empty(),
                    "'data.train_folder', 'data.valid_folder', 'data.image_size', 'data.channels', "
                    "'data.valid_pct', 'data.classes' and 'data.train_files' apply to 'data.dataset' = folder, not ",
                    d.dataset);
  }
}

void validate_train(const TrainConfig& t) {
  CYG_INPUT_CHECK(t.epochs >= 1, "'train.epochs' = ", t.epochs, ": expected at least 1");
  CYG_INPUT_CHECK(t.batch_size >= 1, "'train.batch_size' = ", t.batch_size, ": expected at least 1");
  CYG_INPUT_CHECK(t.max_steps >= 0, "'train.max_steps' = ", t.max_steps, ": expected 0 (no limit) or more");
  max_time_seconds(t);
  CYG_INPUT_CHECK(t.log_every >= 1, "'train.log_every' = ", t.log_every, ": expected at least 1");
  CYG_INPUT_CHECK(t.micro_batches == 1 || (t.micro_batches >= 1 && 2 * t.micro_batches <= t.batch_size),
                  "'train.micro_batches' = ", t.micro_batches, ": expected 1 to half of train.batch_size (",
                  t.batch_size, "): each micro-batch needs two images for batchnorm's statistics");
  CYG_INPUT_CHECK(std::isfinite(t.target_val_acc) && t.target_val_acc >= 0 && t.target_val_acc <= 1,
                  "'train.target_val_acc' = ", t.target_val_acc, ": expected an accuracy in [0, 1] (0: none)");
  CYG_INPUT_CHECK(t.ema_decay == 0 || (t.ema_decay > 0 && t.ema_decay < 1), "'train.ema_decay' = ", t.ema_decay,
                  ": expected a decay in (0, 1), such as 0.999 (0: no moving average)");
  CYG_INPUT_CHECK(!t.ema_warmup || t.ema_decay > 0, "'train.ema_warmup' warms up the moving average of the "
                  "weights, and 'train.ema_decay' is 0 (none): give it a decay, such as 0.999");
  check_one_of("train.early_stopping_monitor", t.early_stopping_monitor, early_stopping_monitors());
  check_one_of("train.best_monitor", t.best_monitor, best_monitors());
  CYG_INPUT_CHECK(t.early_stopping_monitor.rfind("ema_", 0) != 0 || t.early_stopping_patience == 0 ||
                      t.ema_decay > 0,
                  "'train.early_stopping_monitor' = '", t.early_stopping_monitor, "' watches the moving average of "
                  "the weights, and 'train.ema_decay' is 0 (none): give it a decay, or watch val_loss or val_acc");
  CYG_INPUT_CHECK(t.save_every_n_epochs <= t.epochs, "'train.save_every_n_epochs' = ", t.save_every_n_epochs,
                  ": expected 0 (no snapshots) or a number of epochs from 1 to train.epochs (", t.epochs,
                  "), or the run would keep none");
  CYG_INPUT_CHECK(std::isfinite(t.early_stopping_min_delta) && t.early_stopping_min_delta >= 0,
                  "'train.early_stopping_min_delta' = ", t.early_stopping_min_delta,
                  ": expected 0 or a finite positive change of the monitored metric");
  CYG_INPUT_CHECK(t.label_smoothing >= 0 && t.label_smoothing < 1, "'train.label_smoothing' = ", t.label_smoothing,
                  ": expected a value in [0, 1)");
  CYG_INPUT_CHECK(t.swa_start_epoch <= t.epochs, "'train.swa_start_epoch' = ", t.swa_start_epoch,
                  ": expected 0 (none) or an epoch from 1 to train.epochs (", t.epochs, ")");
  CYG_INPUT_CHECK(std::isfinite(t.swa_lr) && t.swa_lr >= 0, "'train.swa_lr' = ", t.swa_lr,
                  ": expected 0 (the schedule's lr stays) or a finite positive lr");
  check_one_of("train.swa_anneal_strategy", t.swa_anneal_strategy, swa_anneal_strategies());
  CYG_INPUT_CHECK(t.swa_start_epoch > 0 || t.swa_lr == 0, "'train.swa_lr' = ", t.swa_lr,
                  " is the lr of stochastic weight averaging, and 'train.swa_start_epoch' is 0 (none): give the "
                  "epoch it starts at");
  CYG_INPUT_CHECK(t.swa_lr > 0 || (t.swa_anneal_epochs == TrainConfig{}.swa_anneal_epochs &&
                                    t.swa_anneal_strategy == TrainConfig{}.swa_anneal_strategy),
                  "'train.swa_anneal_epochs' and 'train.swa_anneal_strategy' shape SWALR's annealing to "
                  "'train.swa_lr', which is 0 (the schedule's lr stays): give train.swa_lr, or leave them");
  CYG_INPUT_CHECK(t.swa_start_epoch == 0 || t.ema_decay == 0, "'train.swa_start_epoch' = ", t.swa_start_epoch,
                  " and 'train.ema_decay' = ", t.ema_decay, " each keep an average of the weights: use one");
}

void validate_optimizer(const OptimizerConfig& o) {
  check_one_of("optimizer.name", o.name, optimizer_names());
  check_positive("optimizer.lr", o.lr);
  check_range("optimizer.momentum", o.momentum, 0, max_momentum(o.name));
  check_range("optimizer.beta2", o.beta2, 0, 0.999999);
  check_positive("optimizer.eps", o.eps);
  check_range("optimizer.weight_decay", o.weight_decay, 0, 1);
  CYG_INPUT_CHECK(std::isfinite(o.clip_grad_norm) && o.clip_grad_norm >= 0, "'optimizer.clip_grad_norm' = ",
                  o.clip_grad_norm, ": expected 0 (no clipping) or a finite positive number");
}

void validate_one_cycle(const ScheduleConfig& s) {
  check_positive("schedule.lr_min", s.lr_min);
  check_positive("schedule.lr_max", s.lr_max);
  // With lr_max_from, lr_max is the range test's (resolve_lr_max_from checks it then).
  CYG_INPUT_CHECK(s.lr_min <= s.lr_max || !s.lr_max_from.empty(), "'schedule.lr_min' = ", s.lr_min,
                  " is above 'schedule.lr_max' = ", s.lr_max);
  check_range("schedule.momentum_min", s.momentum_min, 0, 1);
  check_range("schedule.momentum_max", s.momentum_max, 0, 1);
  CYG_INPUT_CHECK(s.momentum_min <= s.momentum_max, "'schedule.momentum_min' = ", s.momentum_min,
                  " is above 'schedule.momentum_max' = ", s.momentum_max);
  check_range("schedule.anneal_percent", s.anneal_percent, 0, 100);
  check_positive("schedule.anneal_div", s.anneal_div);
}

// PyTorch's OneCycleLR: what it takes (the phases' lengths are checked with the run's steps).
void validate_pytorch_one_cycle(const ScheduleConfig& s) {
  check_positive("schedule.lr_max", s.lr_max);
  check_range("schedule.momentum_min", s.momentum_min, 0, 1);
  check_range("schedule.momentum_max", s.momentum_max, 0, 1);
  CYG_INPUT_CHECK(s.momentum_min <= s.momentum_max, "'schedule.momentum_min' = ", s.momentum_min,
                  " is above 'schedule.momentum_max' = ", s.momentum_max);
  CYG_INPUT_CHECK(std::isfinite(s.pct_start) && s.pct_start >= 0 && s.pct_start <= 1, "'schedule.pct_start' = ",
                  s.pct_start, ": expected a value in [0, 1]");
  check_one_of("schedule.anneal_strategy", s.anneal_strategy, anneal_strategy_names());
  check_positive("schedule.div_factor", s.div_factor);
  check_positive("schedule.final_div_factor", s.final_div_factor);
}

void validate_schedule(const ScheduleConfig& s) {
  if (s.name == "one_cycle") validate_one_cycle(s);
  if (s.name == "pytorch_one_cycle") validate_pytorch_one_cycle(s);
  check_one_of("schedule.interpolation", s.interpolation, interpolation_names());
  check_one_of("schedule.lr_max_rule", s.lr_max_rule, sched::lr_suggestion_rules());
  CYG_INPUT_CHECK(s.lr_max_from.empty() || is_one_cycle(s.name), "'schedule.lr_max_from' sets the peak of a 1cycle "
                  "schedule; 'schedule.name' is '", s.name, "'");
  check_positive("schedule.gamma", s.gamma);
  CYG_INPUT_CHECK(s.min_lr >= 0, "'schedule.min_lr' = ", s.min_lr, ": expected 0 or more");
  CYG_INPUT_CHECK(s.warmup_steps >= 0, "'schedule.warmup_steps' = ", s.warmup_steps, ": expected 0 or more");
  check_one_of("schedule.plateau_monitor", s.plateau_monitor, early_stopping_monitors());
  CYG_INPUT_CHECK(std::isfinite(s.plateau_factor) && s.plateau_factor > 0 && s.plateau_factor < 1,
                  "'schedule.plateau_factor' = ", s.plateau_factor, ": expected a factor in (0, 1), such as 0.1");
  CYG_INPUT_CHECK(std::isfinite(s.plateau_threshold) && s.plateau_threshold >= 0, "'schedule.plateau_threshold' = ",
                  s.plateau_threshold, ": expected 0 or a finite positive change of the monitored metric");
  check_one_of("schedule.plateau_threshold_mode", s.plateau_threshold_mode, plateau_threshold_modes());
  CYG_INPUT_CHECK(std::isfinite(s.min_lr), "'schedule.min_lr' = ", s.min_lr, ": expected a finite learning rate");
  for (size_t i = 0; i < s.milestones.size(); ++i)
    CYG_INPUT_CHECK(s.milestones[i] > 0 && (i == 0 || s.milestones[i] > s.milestones[i - 1]),
                    "'schedule.milestones': expected positive, increasing epochs");
}

void validate_lr_find(const LrFindConfig& f) {
  check_positive("lr_find.start_lr", f.start_lr);
  check_positive("lr_find.end_lr", f.end_lr);
  CYG_INPUT_CHECK(f.start_lr < f.end_lr, "'lr_find.start_lr' = ", f.start_lr, " must be below 'lr_find.end_lr' = ",
                  f.end_lr);
  CYG_INPUT_CHECK(f.steps >= 0, "'lr_find.steps' = ", f.steps, ": expected 0 (one epoch) or more");
  check_one_of("lr_find.spacing", f.spacing, sweep_spacing_names());
  CYG_INPUT_CHECK(f.divergence_factor > 1, "'lr_find.divergence_factor' = ", f.divergence_factor,
                  ": expected a value above 1");
  check_range("lr_find.smoothing", f.smoothing, 0, 0.999999);
  CYG_INPUT_CHECK(f.weight_decays.size() <= 16, "'lr_find.weight_decays' has ", f.weight_decays.size(),
                  " values: expected at most 16 (one sweep each)");
  for (double wd : f.weight_decays) check_range("lr_find.weight_decays", wd, 0, 1);
  for (size_t i = 0; i < f.weight_decays.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      CYG_INPUT_CHECK(f.weight_decays[i] != f.weight_decays[j], "'lr_find.weight_decays' lists ", f.weight_decays[i],
                      " twice: expected each value once (one sweep each)");
}

// Every bounded integer key within its [lo, hi] (the checks above give the more specific
// messages for the lower ends).
void validate_bounds(const RunConfig& config) {
  RunConfig copy = config;
  for (const Field& f : fields(copy)) {
    if (!f.bounded()) continue;
    std::vector<int64_t> values;
    if (f.kind == Kind::Int) values.push_back(*static_cast<const int64_t*>(f.target));
    if (f.kind == Kind::IntList) values = *static_cast<const std::vector<int64_t>*>(f.target);
    for (int64_t v : values)
      CYG_INPUT_CHECK(v >= f.lo && v <= f.hi, "'", f.key, "' = ", v, ": expected an integer in [", f.lo, ", ", f.hi,
                      "]");
  }
}

constexpr double kMaxSyntheticBytes = 16.0 * (1 << 30);
}  // namespace

RunConfig default_config(AppKind kind) {
  RunConfig c;
  c.name = app_name(kind);
  if (kind == AppKind::Baseline) {
    c.optimizer.name = "adam";
    c.optimizer.lr = 1e-3;
    c.optimizer.momentum = 0.9;
    c.optimizer.beta2 = 0.999;
    c.schedule.name = "constant";
  } else if (kind == AppKind::OneCycle) {
    c.optimizer.name = "sgd";
    c.schedule.name = "one_cycle";
  }
  return c;
}

std::string current_experiment_yaml(const std::string& stored, AppKind kind) {
  try {
    const YAML::Node root = YAML::Load(stored);
    if (!root.IsMap()) return stored;
    RunConfig config = default_config(kind);
    std::set<std::string> given;
    std::map<std::string, int> lines;
    apply_node(config, root, "", "the checkpoint's experiment", given, lines);
    return experiment_yaml(config);
  } catch (const std::exception&) {
    return stored;  // not this version's configuration: the comparison says where it differs
  }
}

std::set<std::string> apply_yaml_file(RunConfig& config, const std::string& path) {
  YAML::Node root;
  std::error_code error;
  CYG_INPUT_CHECK(!std::filesystem::is_directory(path, error), "config file '", path,
                  "' is a directory; expected a YAML file");
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    CYG_INPUT_CHECK(false, "cannot read config file '", path, "'");
  } catch (const YAML::ParserException& e) {
    CYG_INPUT_CHECK(false, path, ":", e.mark.line + 1, ":", e.mark.column + 1, ": malformed YAML: ", e.msg);
  }
  std::set<std::string> given;
  if (root.IsNull()) return given;
  CYG_INPUT_CHECK(root.IsMap(), path, ": expected a mapping of keys at the top level");
  try {
    std::map<std::string, int> lines;
    apply_node(config, root, "", path, given, lines);
  } catch (const YAML::Exception& e) {
    // What the checks above did not foresee still names the file and the place.
    CYG_INPUT_CHECK(false, path, ":", e.mark.line + 1, ": ", e.msg);
  }
  return given;
}

void apply_override(RunConfig& config, const std::string& assignment) {
  const size_t eq = assignment.find('=');
  CYG_INPUT_CHECK(eq != std::string::npos && eq > 0, "override '", assignment, "': expected key=value (e.g. train.epochs=5)");
  const std::string key = assignment.substr(0, eq), value = assignment.substr(eq + 1);
  auto fs = fields(config);
  for (const Field& f : fs)
    if (f.key == key) {
      YAML::Node node;
      try {
        node = YAML::Load(value.empty() ? "''" : value);
      } catch (const YAML::Exception&) {
        node = YAML::Node(value);
      }
      set_field(f, node, "override");
      return;
    }
  const size_t dot = key.rfind('.');
  const std::string section = dot == std::string::npos ? "" : key.substr(0, dot);
  CYG_INPUT_CHECK(false, "override: unknown key '", key, "' (valid keys", section.empty() ? "" : " under '" + section + "'",
            ": ", keys_under(fs, section), ")");
}

const std::vector<std::string>& precision_names() {
  static const std::vector<std::string> names = {"auto", "fp32", "tf32", "bf16"};
  return names;
}

const std::vector<std::string>& best_monitors() {
  static const std::vector<std::string> names = {"val_acc", "val_loss"};
  return names;
}

const std::vector<std::string>& swa_anneal_strategies() {
  static const std::vector<std::string> names = {"cos", "linear"};
  return names;
}

const std::vector<std::string>& plateau_threshold_modes() {
  static const std::vector<std::string> names = {"rel", "abs"};
  return names;
}

const std::vector<std::string>& early_stopping_monitors() {
  static const std::vector<std::string> names = {"val_loss", "val_acc", "ema_val_loss", "ema_val_acc"};
  return names;
}

const std::vector<std::string>& distributed_names() {
  static const std::vector<std::string> names = {"auto", "true", "false"};
  return names;
}

const std::vector<std::string>& memory_format_names() {
  static const std::vector<std::string> names = {"auto", "channels_last", "nchw"};
  return names;
}

const std::vector<std::string>& cudnn_engines_names() {
  static const std::vector<std::string> names = {"both", "legacy", "graph"};
  return names;
}

ConvEngines conv_engines_named(const std::string& name) {
  check_one_of("cudnn_engines", name, cudnn_engines_names());
  return name == "legacy" ? ConvEngines::Legacy : name == "graph" ? ConvEngines::Graph : ConvEngines::Both;
}

void validate(const RunConfig& c) {
  check_device_spec(c.device);
  check_one_of("cudnn_engines", c.cudnn_engines, cudnn_engines_names());
  check_one_of("precision", c.precision, precision_names());
  check_one_of("memory_format", c.memory_format, memory_format_names());
  check_one_of("distributed", c.distributed, distributed_names());
  CYG_INPUT_CHECK(std::isfinite(c.distributed_timeout) && c.distributed_timeout >= 0 &&
                      c.distributed_timeout <= 7 * 24 * 3600,
                  "'distributed_timeout' = ", c.distributed_timeout,
                  ": expected seconds from 0 (wait forever) to a week (604800)");
  CYG_INPUT_CHECK(!c.name.empty() && c.name.find('/') == std::string::npos, "'name' = '", c.name,
            "': expected a non-empty name without '/'");
  check_one_of("model.name", c.model.name, models::model_names());
  CYG_INPUT_CHECK(c.model.width >= 0, "'model.width' = ", c.model.width, ": expected 0 (the model's own) or more");
  validate_data(c.data);
  validate_train(c.train);
  validate_optimizer(c.optimizer);
  check_one_of("schedule.name", c.schedule.name, schedule_names());
  if (max_momentum(c.optimizer.name) < 1 && is_one_cycle(c.schedule.name) && c.schedule.cycle_momentum)
    CYG_INPUT_CHECK(c.schedule.momentum_max < 1, "'schedule.momentum_max' = ", c.schedule.momentum_max,
                    ": it drives Adam's beta1, which must be below 1");
  const std::string width_problem = models::width_problem(c.model.name, c.model.width);
  CYG_INPUT_CHECK(width_problem.empty(), "'model.width' = ", c.model.width, ": ", width_problem);
  validate_schedule(c.schedule);
  CYG_INPUT_CHECK(c.schedule.name != "plateau" || c.schedule.plateau_monitor.rfind("ema_", 0) != 0 ||
                      c.train.ema_decay > 0,
                  "'schedule.plateau_monitor' = '", c.schedule.plateau_monitor, "' watches the moving average of the "
                  "weights, and 'train.ema_decay' is 0 (none): give it a decay, or watch val_loss or val_acc");
  CYG_INPUT_CHECK(c.train.swa_lr == 0 || c.schedule.name != "plateau", "'train.swa_lr' = ", c.train.swa_lr,
                  " sets the lr from train.swa_start_epoch on, and schedule.name plateau cuts it too: use one (or "
                  "train.swa_lr=0, averaging under the plateau rule's lr)");
  validate_lr_find(c.lr_find);
  validate_bounds(c);
  // The synthetic images are held in memory as bytes.
  const double synthetic_bytes = static_cast<double>(c.data.synthetic_train + c.data.synthetic_val) *
                                 static_cast<double>(c.data.synthetic_channels) *
                                 static_cast<double>(c.data.synthetic_size * c.data.synthetic_size);
  CYG_INPUT_CHECK(c.data.dataset != "synthetic" || synthetic_bytes <= kMaxSyntheticBytes, "'data.synthetic_*': ",
                  c.data.synthetic_train + c.data.synthetic_val, " images of ", c.data.synthetic_channels, "x",
                  c.data.synthetic_size, "x", c.data.synthetic_size, " would take ", synthetic_bytes / (1 << 30),
                  " GiB; at most ", kMaxSyntheticBytes / (1 << 30), " GiB of synthetic data");
}

std::string to_yaml(const RunConfig& config) {
  RunConfig copy = config;
  YAML::Emitter out;
  out << YAML::BeginMap;
  std::string open_section;
  for (const Field& f : fields(copy)) {
    const size_t dot = f.key.find('.');
    const std::string section = dot == std::string::npos ? "" : f.key.substr(0, dot);
    const std::string leaf = dot == std::string::npos ? f.key : f.key.substr(dot + 1);
    if (section != open_section) {
      if (!open_section.empty()) out << YAML::EndMap;
      if (!section.empty()) out << YAML::Key << section << YAML::Value << YAML::BeginMap;
      open_section = section;
    }
    out << YAML::Key << leaf << YAML::Value;
    switch (f.kind) {
      case Kind::Int: out << *static_cast<int64_t*>(f.target); break;
      case Kind::Double: out << format_number(*static_cast<double*>(f.target)); break;
      case Kind::Bool: out << *static_cast<bool*>(f.target); break;
      case Kind::String: out << YAML::DoubleQuoted << *static_cast<std::string*>(f.target); break;
      case Kind::DoubleList:
        out << YAML::Flow << YAML::BeginSeq;
        for (double v : *static_cast<std::vector<double>*>(f.target)) out << format_number(v);
        out << YAML::EndSeq;
        break;
      case Kind::IntList:
        out << YAML::Flow << YAML::BeginSeq;
        for (int64_t v : *static_cast<std::vector<int64_t>*>(f.target)) out << v;
        out << YAML::EndSeq;
        break;
      case Kind::StringList:
        out << YAML::Flow << YAML::BeginSeq;
        for (const std::string& v : *static_cast<std::vector<std::string>*>(f.target)) out << YAML::DoubleQuoted << v;
        out << YAML::EndSeq;
        break;
    }
  }
  if (!open_section.empty()) out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

double max_time_seconds(const TrainConfig& train) {
  if (train.max_time.empty()) return 0;
  std::vector<int64_t> parts;
  bool whole = true;
  std::string field;
  std::istringstream fields(train.max_time);
  while (std::getline(fields, field, ':')) {
    const bool digits = !field.empty() && field.size() <= 9 &&
                        std::all_of(field.begin(), field.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
    whole = whole && digits;
    parts.push_back(digits ? std::stoll(field) : 0);
  }
  whole = whole && (parts.size() == 3 || parts.size() == 4) && train.max_time.back() != ':';
  if (parts.size() == 3) parts.insert(parts.begin(), 0);
  const double seconds =
      whole ? ((static_cast<double>(parts[0]) * 24 + static_cast<double>(parts[1])) * 60 + static_cast<double>(parts[2])) *
                      60 +
                  static_cast<double>(parts[3])
            : 0.0;
  CYG_INPUT_CHECK(whole && seconds > 0, "'train.max_time' = '", train.max_time,
                  "': expected a time of training as DD:HH:MM:SS (Lightning's max_time) or HH:MM:SS, such as "
                  "00:11:30:00, more than zero (leave it empty for no limit)");
  return seconds;
}

const std::vector<std::string>& keys_changeable_on_resume() {
  static const std::vector<std::string> keys = {"train.max_steps", "train.max_time", "train.log_every", "device",
                                                "cudnn_benchmark", "cudnn_cache",     "cudnn_engines",   "cuda_graphs",
                                                "threads",
                                                "memory_format",   "tensorboard",     "distributed",
                                                "distributed_timeout", "train.target_val_acc",
                                                "train.save_every_n_epochs", "train.activation_stats_every"};
  return keys;
}

std::string experiment_yaml(const RunConfig& config) {
  RunConfig experiment = config, defaults;
  experiment.resume.clear();
  experiment.name = defaults.name;  // what the run is called and where it lives are not the experiment
  experiment.run_root = defaults.run_root;
  const std::vector<Field> to = fields(experiment), from = fields(defaults);
  const std::vector<std::string>& changeable = keys_changeable_on_resume();
  for (size_t i = 0; i < to.size(); ++i) {
    if (std::find(changeable.begin(), changeable.end(), to[i].key) == changeable.end()) continue;
    switch (to[i].kind) {
      case Kind::Int: *static_cast<int64_t*>(to[i].target) = *static_cast<int64_t*>(from[i].target); break;
      case Kind::Double: *static_cast<double*>(to[i].target) = *static_cast<double*>(from[i].target); break;
      case Kind::Bool: *static_cast<bool*>(to[i].target) = *static_cast<bool*>(from[i].target); break;
      case Kind::String:
        *static_cast<std::string*>(to[i].target) = *static_cast<std::string*>(from[i].target);
        break;
      case Kind::DoubleList:
        *static_cast<std::vector<double>*>(to[i].target) = *static_cast<std::vector<double>*>(from[i].target);
        break;
      case Kind::IntList:
        *static_cast<std::vector<int64_t>*>(to[i].target) = *static_cast<std::vector<int64_t>*>(from[i].target);
        break;
      case Kind::StringList:
        *static_cast<std::vector<std::string>*>(to[i].target) =
            *static_cast<std::vector<std::string>*>(from[i].target);
        break;
    }
  }
  return to_yaml(experiment);
}

namespace {

// The range test's suggestion rules, as the key docs list choices.
std::vector<std::string> lr_rule_names() { return sched::lr_suggestion_rules(); }

// What --help says of each key beyond its type: the names it takes (where it names one of
// a set) and a few words on what it does, with its unit.
struct KeyHelp {
  const char* key;
  std::vector<std::string> (*choices)();  // null: no fixed set
  const char* text;
};

std::vector<std::string> device_choices() { return {"auto", "cpu", "cuda", "cuda:N", "emu"}; }
std::vector<std::string> distributed_choices() { return distributed_names(); }
std::vector<std::string> precision_choices() { return precision_names(); }
std::vector<std::string> monitor_choices() { return early_stopping_monitors(); }
std::vector<std::string> plateau_mode_choices() { return plateau_threshold_modes(); }
std::vector<std::string> best_monitor_choices() { return best_monitors(); }
std::vector<std::string> swa_anneal_choices() { return swa_anneal_strategies(); }
std::vector<std::string> memory_format_choices() { return memory_format_names(); }
std::vector<std::string> cudnn_engines_choices() { return cudnn_engines_names(); }
std::vector<std::string> resize_method_choices() { return resize_method_names(); }
std::vector<std::string> sampler_choices() { return sampler_names(); }

const std::vector<KeyHelp>& key_help() {
  static const std::vector<KeyHelp> help = {
      {"name", nullptr, "the run's name, part of its directory's name"},
      {"seed", nullptr, "seeds the initial weights, the data order and augmentation"},
      {"device", device_choices,
       "where to train: auto takes the GPU when one answers, else the CPU; emu is the emulated CUDA device "
       "(tests)"},
      {"deterministic", nullptr, "GPU: only cuDNN algorithms that give the same bits every run (slower)"},
      {"precision", precision_choices,
       "auto is bf16 on a GPU of compute capability 8.0 or newer, else fp32; tf32: fp32 with TF32 tensor cores; "
       "bf16: PyTorch's bf16 autocast (master weights fp32)"},
      {"memory_format", memory_format_choices,
       "the activations' layout; auto: channels_last on the CPU in fp32 and on a GPU in bf16, else nchw; "
       "checkpoints keep PyTorch's layout either way"},
      {"allow_tf32", nullptr, "GPU, precision auto: TF32 tensor cores for fp32 convolutions"},
      {"cudnn_benchmark", nullptr, "GPU: time cuDNN's algorithms once per shape and keep the fastest"},
      {"cudnn_cache", nullptr, "GPU: a file (path) keeping those choices across runs; empty: none"},
      {"cudnn_engines", cudnn_engines_choices,
       "GPU: what autotuning times: both (cuDNN's legacy algorithms and its graph API's engines, the fastest kept), "
       "legacy, or graph (an engine wherever one runs)"},
      {"cuda_graphs", nullptr, "GPU: each training step is one replayed CUDA graph"},
      {"threads", nullptr, "CPU threads; 0: OMP_NUM_THREADS where set, else every core"},
      {"distributed", distributed_choices,
       "data parallelism over MPI ranks (mpirun -np N, or srun): auto when started as several ranks; true: MPI even "
       "as one; train.batch_size stays the global batch, each rank taking its slice"},
      {"sync_batchnorm", nullptr,
       "data parallelism: batch normalisation over the global batch (statistics summed over the ranks)"},
      {"distributed_timeout", nullptr,
       "data parallelism: seconds a rank waits in a collective before it stops with an error (another rank died); "
       "0: forever"},
      {"tensorboard", nullptr,
       "also write the step loss, lr, momentum and each epoch's metrics as a TensorBoard event file in the run "
       "directory (tensorboard --logdir runs); training apps (the range test has its lr_find.svg)"},
      {"run_root", nullptr, "the folder (path) in which each run makes its directory"},
      {"resume", nullptr, "a run directory (path) to continue from its last checkpoint"},
      {"model.name", models::model_names, "the network (resnet18: the kuangliu CIFAR ResNet-18 of the report)"},
      {"model.width", nullptr, "channels of the first stage, doubled at each later one; 0: the model's own"},
      {"model.init_from", nullptr, "a .safetensors file (path) of weights to start from; empty: random weights"},
      {"data.dataset", dataset_names, "the dataset (folder: your own images, a folder per class under data.root/train and data.root/valid; "
       "synthetic: random images, for trying things out)"},
      {"data.root", nullptr, "the dataset's folder (path); empty: its default"},
      {"data.mean", nullptr, "per-channel mean subtracted from pixels scaled to [0, 1]; empty: the dataset's"},
      {"data.std", nullptr, "per-channel standard deviation the pixels are divided by; empty: the dataset's"},
      {"data.crop_padding", nullptr,
       "random crops after zero padding of this many pixels, fewer than the images' side; 0: none (the report's)"},
      {"data.flip", nullptr, "random horizontal flips (the report uses none)"},
      {"data.cutout", nullptr,
       "cutout (DeVries and Taylor): in each training image a square of this side, its centre drawn anywhere in "
       "the image, set to the mean (0 after normalisation); smaller than the images' side; 0: none (the report's)"},
      {"data.mixup_alpha", nullptr,
       "MixUp (Zhang et al.; fastai's MixUp(alpha)): each training image blended with a partner from its batch, "
       "weights max(l, 1 - l) with l ~ Beta(alpha, alpha) on the pixels and the labels; 0: none (the report's)"},
      {"data.cutmix_alpha", nullptr,
       "CutMix (Yun et al.; fastai's CutMix(alpha)): in each training image a box of its partner's pixels, of "
       "1 - l of the area with l ~ Beta(alpha, alpha), the labels weighted by the pixels' shares; 0: none"},
      {"data.limit_train", nullptr, "use the first N training images (folder: N from the classes in turn); 0: all"},
      {"data.limit_val", nullptr, "use the first N validation images (folder: N from the classes in turn); 0: all"},
      {"data.sampler", sampler_choices,
       "how each training epoch visits the images: shuffle (each once, in a seeded order) or balanced (as many "
       "draws, every class equally likely: PyTorch's WeightedRandomSampler by inverse class counts, for "
       "imbalanced data)"},
      {"data.synthetic_train", nullptr, "synthetic dataset: training images"},
      {"data.synthetic_val", nullptr, "synthetic dataset: validation images"},
      {"data.synthetic_size", nullptr, "synthetic dataset: image side (pixels)"},
      {"data.synthetic_channels", nullptr, "synthetic dataset: channels per pixel"},
      {"data.synthetic_classes", nullptr, "synthetic dataset: classes"},
      {"data.train_folder", nullptr, "folder dataset: the training split's folder under data.root"},
      {"data.valid_folder", nullptr,
       "folder dataset: the validation split's folder under data.root; empty: valid, val or test, the first found"},
      {"data.image_size", nullptr, "folder dataset: each image resized to this side; 0: the images' own (one size)"},
      {"data.channels", nullptr, "folder dataset: 3 (RGB) or 1 (grayscale) channels"},
      {"data.resize_method", resize_method_choices,
       "how an image of another aspect ratio is made square, as fastai's Resize: squish (stretched), crop (its "
       "centre) or pad (black bars); folder images with data.image_size, and cygnet_evaluate --image files"},
      {"data.classes", nullptr,
       "folder dataset: the class names in label order; empty: the training folder's subfolders, sorted, which a "
       "run records here, so that a resume or an evaluation refuses a folder whose classes have changed"},
      {"data.train_files", nullptr,
       "folder dataset: what a run records of its training folder (the image files' count and a hash of their "
       "paths), so that a resume, and an evaluation whose validation images data.valid_pct draws from that "
       "folder, refuse it once files were added, removed or moved"},
      {"data.valid_pct", nullptr,
       "folder dataset: the validation images held out of the training folder, this share of them drawn from "
       "the seed (fastai's valid_pct); 0: a validation folder"},
      {"train.epochs", nullptr, "passes over the training set"},
      {"train.batch_size", nullptr, "images per step"},
      {"train.drop_last", nullptr, "drop each epoch's last, partial batch"},
      {"train.max_steps", nullptr, "stop after this many steps; 0: no limit"},
      {"train.max_time", nullptr,
       "stop once the run has trained this long, DD:HH:MM:SS (Lightning's max_time) or HH:MM:SS, its time "
       "counted over every resume: as train.max_steps, the epoch so far is evaluated and checkpointed, and "
       "a resume (which may give a longer time) continues; empty: no limit"},
      {"train.label_smoothing", nullptr, "cross-entropy label smoothing, in [0, 1)"},
      {"train.target_val_acc", nullptr,
       "time to accuracy (DAWNBench's measure): the first epoch whose validation accuracy reaches this "
       "and the training seconds until then, in the log, summary.json and the run's page; 0: none"},
      {"train.ema_decay", nullptr,
       "a moving average of the weights and batchnorm statistics (PyTorch's AveragedModel with "
       "get_ema_multi_avg_fn, timm's ModelEma): after each step average = decay * average + (1 - decay) * "
       "weight; each epoch evaluates it too, and ema.safetensors keeps it; training apps; 0: none"},
      {"train.ema_warmup", nullptr,
       "the moving average's decay at its n-th update (n from 1; the first copies the weights) is "
       "min(train.ema_decay, (1 + n) / (10 + n)), as TensorFlow's ExponentialMovingAverage with num_updates: "
       "early averages forget the first weights"},
      {"train.early_stopping_patience", nullptr,
       "early stopping (Lightning's EarlyStopping, checked at each epoch's end): the run ends once "
       "train.early_stopping_monitor has not improved by more than train.early_stopping_min_delta for this "
       "many epochs in a row, or at once when it is not finite (best.safetensors stays the best epoch's "
       "by train.best_monitor); training apps; 0: none"},
      {"train.early_stopping_monitor", monitor_choices,
       "the validation metric early stopping watches: a loss improves downwards, an accuracy upwards; "
       "ema_*: the averaged weights' (train.ema_decay)"},
      {"train.best_monitor", best_monitor_choices,
       "what picks best.safetensors and the run's best epoch (Lightning's ModelCheckpoint monitor): the "
       "highest validation accuracy or the lowest validation loss"},
      {"train.save_every_n_epochs", nullptr,
       "snapshots (Lightning's ModelCheckpoint with every_n_epochs and save_top_k=-1): the model's weights "
       "at the end of every n-th epoch are kept as epoch-<e>.safetensors (PyTorch's names, as "
       "best.safetensors), for cygnet_evaluate or PyTorch; training apps; may be given with resume; 0: none"},
      {"train.early_stopping_min_delta", nullptr,
       "the least change of the monitored metric that counts as an improvement (a loss, or an accuracy "
       "as a fraction)"},
      {"train.swa_start_epoch", nullptr,
       "stochastic weight averaging (Lightning's StochasticWeightAveraging, PyTorch's swa_utils): the "
       "weights at the end of this epoch and of every later one are averaged with equal weights; when the "
       "run ends, the average's batchnorm statistics are recomputed over the training images (update_bn) "
       "and it is evaluated and kept in swa.safetensors; training apps; 0: none"},
      {"train.swa_lr", nullptr,
       "SWALR: from train.swa_start_epoch on, the lr anneals epoch by epoch from the schedule's lr at the "
       "first step of train.swa_start_epoch to this one over train.swa_anneal_epochs epochs, then stays; "
       "momentum is held at the schedule's value there; 0: the schedule goes on"},
      {"train.swa_anneal_epochs", nullptr, "SWALR's anneal_epochs: epochs to reach train.swa_lr; 0: at once"},
      {"train.swa_anneal_strategy", swa_anneal_choices, "SWALR's anneal_strategy: the shape of the annealing"},
      {"train.log_every", nullptr, "steps between progress lines (and reads of the metrics from the device)"},
      {"train.activation_stats_every", nullptr,
       "fastai's ActivationStats(with_hist=True): every n-th step, the mean, standard deviation, share at "
       "or below 0.05 and histogram (40 bins over [0, 10]) of each layer's output (convolutions, "
       "batchnorms after their ReLU, the linear layer), in activation_stats.csv and drawn on the run's "
       "page; a recorded step runs eagerly between CUDA graph replays; training apps; may be given with "
       "resume; 0: none"},
      {"train.micro_batches", nullptr,
       "gradient accumulation: each batch in this many micro-batches, run one after another, their "
       "gradients summed into one update (less memory; batchnorm sees each micro-batch, of at least "
       "two images); 1: none"},
      {"optimizer.name", optimizer_names, "the optimizer (adamw: Adam with decoupled weight decay)"},
      {"optimizer.lr", nullptr,
       "learning rate of the constant, step, cosine and plateau schedules (1cycle and the range test set "
       "their own)"},
      {"optimizer.momentum", nullptr, "SGD's momentum; Adam's beta1"},
      {"optimizer.beta2", nullptr, "Adam's beta2"},
      {"optimizer.eps", nullptr, "Adam's epsilon"},
      {"optimizer.weight_decay", nullptr, "L2 weight decay (the report's 5e-4); AdamW: decoupled"},
      {"optimizer.nesterov", nullptr, "SGD: Nesterov momentum"},
      {"optimizer.clip_grad_norm", nullptr,
       "clip the gradients' global L2 norm to this before each update (PyTorch's clip_grad_norm_, "
       "Lightning's gradient_clip_val); 0: no clipping"},
      {"optimizer.decay_bias_and_norm", nullptr,
       "weight decay on biases and batchnorm's weight and bias too (PyTorch's default, the report's); "
       "false: on convolution and linear weights only (timm's default, fastai's wd_bn_bias=False)"},
      {"schedule.name", schedule_names,
       "how the learning rate (and momentum) change over the run; plateau: optimizer.lr, cut when a "
       "validation metric stalls (PyTorch's ReduceLROnPlateau, schedule.plateau_*)"},
      {"schedule.lr_min", nullptr, "one_cycle: learning rate at the cycle's start and end"},
      {"schedule.lr_max", nullptr, "1cycle: the peak learning rate (one_cycle: at the cycle's middle; pytorch_one_cycle: max_lr)"},
      {"schedule.lr_max_from", nullptr,
       "1cycle: a range test's run directory (path): schedule.lr_max becomes its suggested lr (the sweep "
       "at optimizer.weight_decay), as fastai's lr_find feeds fit_one_cycle; empty: lr_max as given"},
      {"schedule.lr_max_rule", lr_rule_names,
       "1cycle, with lr_max_from: which suggestion (fastai's valley, its default)"},
      {"schedule.momentum_min", nullptr, "1cycle: momentum at the lr peak (it moves against the lr)"},
      {"schedule.momentum_max", nullptr, "1cycle: momentum at the cycle's start and end"},
      {"schedule.anneal_percent", nullptr,
       "one_cycle: the last part of training (percent) in which the lr falls from lr_min to lr_min / anneal_div"},
      {"schedule.anneal_div", nullptr, "one_cycle: the annealing's divisor of lr_min"},
      {"schedule.interpolation", interpolation_names, "one_cycle: the shape of the ramps"},
      {"schedule.cycle_momentum", nullptr, "1cycle: drive momentum (Adam: beta1) against the lr"},
      {"schedule.pct_start", nullptr,
       "pytorch_one_cycle: the share of the steps the lr rises (PyTorch's OneCycleLR pct_start)"},
      {"schedule.div_factor", nullptr, "pytorch_one_cycle: the first lr is lr_max / div_factor"},
      {"schedule.final_div_factor", nullptr, "pytorch_one_cycle: the last lr is the first / final_div_factor"},
      {"schedule.three_phase", nullptr,
       "pytorch_one_cycle: fall back to the first lr, then anneal (PyTorch's three_phase)"},
      {"schedule.anneal_strategy", anneal_strategy_names,
       "pytorch_one_cycle: the shape of its phases (PyTorch's anneal_strategy, cos by default)"},
      {"schedule.milestones", nullptr, "step schedule: the epochs at which the lr is multiplied by gamma"},
      {"schedule.gamma", nullptr, "step schedule: that factor"},
      {"schedule.min_lr", nullptr, "cosine: the final learning rate; plateau: the lowest"},
      {"schedule.warmup_steps", nullptr, "a linear warm-up from 1/100 of the first lr over this many steps; 0: none"},
      {"schedule.plateau_monitor", monitor_choices,
       "plateau: the validation metric it watches at each epoch's end (a loss improves downwards, an "
       "accuracy upwards; ema_*: the averaged weights', with train.ema_decay)"},
      {"schedule.plateau_factor", nullptr, "plateau: the lr is multiplied by this at each reduction"},
      {"schedule.plateau_patience", nullptr,
       "plateau: epochs without an improvement allowed; the next one reduces the lr"},
      {"schedule.plateau_threshold", nullptr,
       "plateau: the least improvement that counts, a fraction of the best (rel) or a change (abs)"},
      {"schedule.plateau_threshold_mode", plateau_mode_choices, "plateau: how the threshold is read"},
      {"schedule.plateau_cooldown", nullptr, "plateau: epochs after a reduction that count no bad epoch"},
      {"lr_find.start_lr", nullptr, "range test: the first learning rate"},
      {"lr_find.end_lr", nullptr, "range test: the last learning rate"},
      {"lr_find.steps", nullptr, "range test: steps of the sweep; 0: one epoch"},
      {"lr_find.spacing", sweep_spacing_names, "range test: how the lr grows from step to step"},
      {"lr_find.divergence_factor", nullptr, "range test: stop once the smoothed loss exceeds this many times its best"},
      {"lr_find.smoothing", nullptr, "range test: the loss's exponential smoothing (beta, in [0, 1); 0: none)"},
      {"lr_find.weight_decays", nullptr,
       "range test: one sweep per weight decay (e.g. [1e-3, 1e-4, 1e-5, 0]), each from the same initial weights, "
       "compared on one plot; empty: one sweep at optimizer.weight_decay"},
  };
  return help;
}

const KeyHelp* help_for(const std::string& key) {
  for (const KeyHelp& h : key_help())
    if (key == h.key) return &h;
  return nullptr;
}

std::string format_double(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// A field's value as a config file would write it.
std::string value_text(const Field& f) {
  switch (f.kind) {
    case Kind::Int: return std::to_string(*static_cast<const int64_t*>(f.target));
    case Kind::Double: return format_double(*static_cast<const double*>(f.target));
    case Kind::Bool: return *static_cast<const bool*>(f.target) ? "true" : "false";
    case Kind::String: {
      const std::string& v = *static_cast<const std::string*>(f.target);
      return v.empty() ? "\"\"" : v;
    }
    case Kind::DoubleList: {
      std::string out;
      for (double v : *static_cast<const std::vector<double>*>(f.target)) out += (out.empty() ? "" : ", ") + format_double(v);
      return "[" + out + "]";
    }
    case Kind::IntList: {
      std::string out;
      for (int64_t v : *static_cast<const std::vector<int64_t>*>(f.target))
        out += (out.empty() ? "" : ", ") + std::to_string(v);
      return "[" + out + "]";
    }
    case Kind::StringList: {
      std::string out;
      for (const std::string& v : *static_cast<const std::vector<std::string>*>(f.target))
        out += (out.empty() ? "" : ", ") + v;
      return "[" + out + "]";
    }
  }
  return "?";
}

// Lines longer than `width` broken at spaces, continued after `indent`.
std::string wrap_lines(const std::string& text, size_t width, const std::string& indent) {
  std::istringstream in(text);
  std::string line, out;
  while (std::getline(in, line)) {
    while (line.size() > width) {
      const size_t cut = line.rfind(' ', width);
      if (cut == std::string::npos || cut <= indent.size()) break;
      out += line.substr(0, cut) + "\n";
      line = indent + line.substr(cut + 1);
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace

std::string describe_keys(AppKind kind) {
  RunConfig c = default_config(kind);
  std::ostringstream os;
  for (const Field& f : fields(c)) {
    const KeyHelp* help = help_for(f.key);
    os << "  " << f.key << " = " << value_text(f) << "\n      ";
    if (help != nullptr && help->choices != nullptr) {
      const std::vector<std::string> names = help->choices();
      for (size_t i = 0; i < names.size(); ++i) os << (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") << names[i];
    } else {
      os << kind_name(f.kind);
      if (f.bounded()) os << (f.kind == Kind::IntList ? ", each" : "") << " in [" << f.lo << ", " << f.hi << "]";
    }
    os << ": " << (help != nullptr ? help->text : "(undocumented)") << "\n";
  }
  return wrap_lines(os.str(), 100, "      ");
}

std::vector<std::string> undocumented_keys() {
  RunConfig c;
  std::vector<std::string> out;
  for (const Field& f : fields(c))
    if (help_for(f.key) == nullptr) out.push_back(f.key);
  return out;
}

}  // namespace cyg::app
