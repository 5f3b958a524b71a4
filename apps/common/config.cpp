// The configuration registry: one table of (dotted key, type, field) drives reading,
// overriding, printing and the list of valid keys, so they cannot disagree.
#include "apps/common/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <sstream>
#include <system_error>

#include "apps/common/dataset_factory.h"
#include "apps/common/name_table.h"
#include "apps/common/optimizer_factory.h"
#include "apps/common/run_dir.h"
#include "apps/common/schedule_factory.h"
#include "kernels/error.h"
#include "models/registry.h"

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

enum class Kind { Int, Double, Bool, String, DoubleList, IntList };

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
  }
  return "?";
}

std::vector<Field> fields(RunConfig& c) {
  return {
      {"name", Kind::String, &c.name},
      {"seed", Kind::Int, &c.seed},
      {"device", Kind::String, &c.device},
      {"deterministic", Kind::Bool, &c.deterministic},
      {"precision", Kind::String, &c.precision},
      {"memory_format", Kind::String, &c.memory_format},
      {"allow_tf32", Kind::Bool, &c.allow_tf32},
      {"cudnn_benchmark", Kind::Bool, &c.cudnn_benchmark},
      {"cudnn_cache", Kind::String, &c.cudnn_cache},
      {"cuda_graphs", Kind::Bool, &c.cuda_graphs},
      {"threads", Kind::Int, &c.threads, 0, 4096},
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
      {"data.limit_train", Kind::Int, &c.data.limit_train, 0, 1000000000},
      {"data.limit_val", Kind::Int, &c.data.limit_val, 0, 1000000000},
      {"data.synthetic_train", Kind::Int, &c.data.synthetic_train, 1, 10000000},
      {"data.synthetic_val", Kind::Int, &c.data.synthetic_val, 1, 10000000},
      {"data.synthetic_size", Kind::Int, &c.data.synthetic_size, 1, 4096},
      {"data.synthetic_channels", Kind::Int, &c.data.synthetic_channels, 1, 64},
      {"data.synthetic_classes", Kind::Int, &c.data.synthetic_classes, 2, 100000},
      {"train.epochs", Kind::Int, &c.train.epochs, 1, 100000},
      {"train.batch_size", Kind::Int, &c.train.batch_size, 1, 1048576},
      {"train.drop_last", Kind::Bool, &c.train.drop_last},
      {"train.max_steps", Kind::Int, &c.train.max_steps, 0, 1000000000000},
      {"train.label_smoothing", Kind::Double, &c.train.label_smoothing},
      {"train.log_every", Kind::Int, &c.train.log_every, 1, 1000000},
      {"optimizer.name", Kind::String, &c.optimizer.name},
      {"optimizer.lr", Kind::Double, &c.optimizer.lr},
      {"optimizer.momentum", Kind::Double, &c.optimizer.momentum},
      {"optimizer.beta2", Kind::Double, &c.optimizer.beta2},
      {"optimizer.eps", Kind::Double, &c.optimizer.eps},
      {"optimizer.weight_decay", Kind::Double, &c.optimizer.weight_decay},
      {"optimizer.nesterov", Kind::Bool, &c.optimizer.nesterov},
      {"schedule.name", Kind::String, &c.schedule.name},
      {"schedule.lr_min", Kind::Double, &c.schedule.lr_min},
      {"schedule.lr_max", Kind::Double, &c.schedule.lr_max},
      {"schedule.momentum_min", Kind::Double, &c.schedule.momentum_min},
      {"schedule.momentum_max", Kind::Double, &c.schedule.momentum_max},
      {"schedule.anneal_percent", Kind::Double, &c.schedule.anneal_percent},
      {"schedule.anneal_div", Kind::Double, &c.schedule.anneal_div},
      {"schedule.interpolation", Kind::String, &c.schedule.interpolation},
      {"schedule.cycle_momentum", Kind::Bool, &c.schedule.cycle_momentum},
      {"schedule.milestones", Kind::IntList, &c.schedule.milestones, 1, 100000},
      {"schedule.gamma", Kind::Double, &c.schedule.gamma},
      {"schedule.min_lr", Kind::Double, &c.schedule.min_lr},
      {"schedule.warmup_steps", Kind::Int, &c.schedule.warmup_steps, 0, 1000000000000},
      {"lr_find.start_lr", Kind::Double, &c.lr_find.start_lr},
      {"lr_find.end_lr", Kind::Double, &c.lr_find.end_lr},
      {"lr_find.steps", Kind::Int, &c.lr_find.steps, 0, 10000000},
      {"lr_find.spacing", Kind::String, &c.lr_find.spacing},
      {"lr_find.divergence_factor", Kind::Double, &c.lr_find.divergence_factor},
      {"lr_find.smoothing", Kind::Double, &c.lr_find.smoothing},
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
    }
  } catch (const YAML::Exception&) {
    fail(node.IsScalar() ? ", got '" + node.Scalar() + "'" : "");
  }
}

void apply_node(RunConfig& config, const YAML::Node& node, const std::string& prefix, const std::string& where,
                std::set<std::string>& given) {
  auto fs = fields(config);
  for (auto it = node.begin(); it != node.end(); ++it) {
    // YAML allows any node as a key ("? a: b" makes a mapping one); a config's are names.
    CYG_INPUT_CHECK(it->first.IsScalar(), where, ":", it->first.Mark().line + 1, ": a key",
                    prefix.empty() ? "" : " under '" + prefix + "'", " is not a name");
    const std::string key = it->first.Scalar();
    const std::string path = prefix.empty() ? key : prefix + "." + key;
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
      apply_node(config, it->second, path, where, given);
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

void validate_data(const DataConfig& d) {
  check_one_of("data.dataset", d.dataset, dataset_names());
  CYG_INPUT_CHECK(d.mean.size() == d.std.size(), "'data.mean' has ", d.mean.size(), " values, 'data.std' ",
                  d.std.size());
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
}

void validate_train(const TrainConfig& t) {
  CYG_INPUT_CHECK(t.epochs >= 1, "'train.epochs' = ", t.epochs, ": expected at least 1");
  CYG_INPUT_CHECK(t.batch_size >= 1, "'train.batch_size' = ", t.batch_size, ": expected at least 1");
  CYG_INPUT_CHECK(t.max_steps >= 0, "'train.max_steps' = ", t.max_steps, ": expected 0 (no limit) or more");
  CYG_INPUT_CHECK(t.log_every >= 1, "'train.log_every' = ", t.log_every, ": expected at least 1");
  CYG_INPUT_CHECK(t.label_smoothing >= 0 && t.label_smoothing < 1, "'train.label_smoothing' = ", t.label_smoothing,
                  ": expected a value in [0, 1)");
}

void validate_optimizer(const OptimizerConfig& o) {
  check_one_of("optimizer.name", o.name, optimizer_names());
  check_positive("optimizer.lr", o.lr);
  check_range("optimizer.momentum", o.momentum, 0, max_momentum(o.name));
  check_range("optimizer.beta2", o.beta2, 0, 0.999999);
  check_positive("optimizer.eps", o.eps);
  check_range("optimizer.weight_decay", o.weight_decay, 0, 1);
}

void validate_one_cycle(const ScheduleConfig& s) {
  check_positive("schedule.lr_min", s.lr_min);
  check_positive("schedule.lr_max", s.lr_max);
  CYG_INPUT_CHECK(s.lr_min <= s.lr_max, "'schedule.lr_min' = ", s.lr_min, " is above 'schedule.lr_max' = ", s.lr_max);
  check_range("schedule.momentum_min", s.momentum_min, 0, 1);
  check_range("schedule.momentum_max", s.momentum_max, 0, 1);
  CYG_INPUT_CHECK(s.momentum_min <= s.momentum_max, "'schedule.momentum_min' = ", s.momentum_min,
                  " is above 'schedule.momentum_max' = ", s.momentum_max);
  check_range("schedule.anneal_percent", s.anneal_percent, 0, 100);
  check_positive("schedule.anneal_div", s.anneal_div);
}

void validate_schedule(const ScheduleConfig& s) {
  if (s.name == "one_cycle") validate_one_cycle(s);
  check_one_of("schedule.interpolation", s.interpolation, interpolation_names());
  check_positive("schedule.gamma", s.gamma);
  CYG_INPUT_CHECK(s.min_lr >= 0, "'schedule.min_lr' = ", s.min_lr, ": expected 0 or more");
  CYG_INPUT_CHECK(s.warmup_steps >= 0, "'schedule.warmup_steps' = ", s.warmup_steps, ": expected 0 or more");
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
    apply_node(config, root, "", path, given);
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

const std::vector<std::string>& memory_format_names() {
  static const std::vector<std::string> names = {"auto", "channels_last", "nchw"};
  return names;
}

void validate(const RunConfig& c) {
  check_one_of("precision", c.precision, precision_names());
  check_one_of("memory_format", c.memory_format, memory_format_names());
  CYG_INPUT_CHECK(!c.name.empty() && c.name.find('/') == std::string::npos, "'name' = '", c.name,
            "': expected a non-empty name without '/'");
  check_one_of("model.name", c.model.name, models::model_names());
  CYG_INPUT_CHECK(c.model.width >= 0, "'model.width' = ", c.model.width, ": expected 0 (the model's own) or more");
  validate_data(c.data);
  validate_train(c.train);
  validate_optimizer(c.optimizer);
  check_one_of("schedule.name", c.schedule.name, schedule_names());
  if (max_momentum(c.optimizer.name) < 1 && c.schedule.name == "one_cycle" && c.schedule.cycle_momentum)
    CYG_INPUT_CHECK(c.schedule.momentum_max < 1, "'schedule.momentum_max' = ", c.schedule.momentum_max,
                    ": it drives Adam's beta1, which must be below 1");
  const std::string width_problem = models::width_problem(c.model.name, c.model.width);
  CYG_INPUT_CHECK(width_problem.empty(), "'model.width' = ", c.model.width, ": ", width_problem);
  validate_schedule(c.schedule);
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
    }
  }
  if (!open_section.empty()) out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

const std::vector<std::string>& keys_changeable_on_resume() {
  static const std::vector<std::string> keys = {"train.max_steps", "train.log_every", "device",     "cudnn_benchmark",
                                                "cudnn_cache",     "cuda_graphs",     "threads",
                                                "memory_format"};
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
    }
  }
  return to_yaml(experiment);
}

std::string describe_keys() {
  RunConfig c;
  std::ostringstream os;
  for (const Field& f : fields(c)) {
    os << "  " << f.key << " (" << kind_name(f.kind);
    if (f.bounded()) os << (f.kind == Kind::IntList ? ", each" : "") << " in [" << f.lo << ", " << f.hi << "]";
    os << ")\n";
  }
  return os.str();
}

}  // namespace cyg::app
