// Reading run directories back (config.yaml through the config registry, metrics.csv
// through its record type, summary.json via nlohmann/json) and laying them out as the
// seed's Table I and Fig. 4a.
#include "apps/common/run_table.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <set>

#include "apps/common/config.h"
#include "apps/common/run_dir.h"
#include "kernels/error.h"

namespace cyg::runs {
namespace {

namespace fs = std::filesystem;

const char* const kAbsent = "—";

[[noreturn]] void fail(const std::string& path, const std::string& what) { throw Error(path + ": " + what); }

// ---- config.yaml ----

// A value of the config when the file gives its key, else nothing (a default stands
// for no setting of the run).
template <typename T>
std::optional<T> given_value(const std::set<std::string>& given, const char* key, const T& value) {
  return given.count(key) ? std::optional<T>(value) : std::nullopt;
}

template <typename T>
T required_value(const std::set<std::string>& given, const std::string& path, const char* key, const T& value) {
  if (!given.count(key)) fail(path, std::string("missing '") + key + "'");
  return value;
}

std::string folder_name(const std::string& dir) {
  const std::string name = fs::path(dir).filename().string();
  return name.empty() ? fs::path(dir).parent_path().filename().string() : name;
}

void read_config(const std::string& path, RunRecord& run) {
  app::open_run_file(path);  // a missing config.yaml is reported as the other run files are
  app::RunConfig config;
  const std::set<std::string> given = app::apply_yaml_file(config, path);
  run.name = given.count("name") && !config.name.empty() ? config.name : folder_name(run.dir);
  run.optimizer = required_value(given, path, "optimizer.name", config.optimizer.name);
  run.optimizer_lr = given_value(given, "optimizer.lr", config.optimizer.lr);
  run.schedule = given_value(given, "schedule.name", config.schedule.name).value_or("");
  // Resolved configs carry every schedule key, defaults included: the 1cycle ones only
  // mean something under that schedule.
  if (run.schedule.empty() || run.schedule == "one_cycle" || run.schedule == "pytorch_one_cycle") {
    const app::ScheduleConfig& s = config.schedule;
    run.lr_max = given_value(given, "schedule.lr_max", s.lr_max);
    if (run.schedule == "pytorch_one_cycle") {
      // PyTorch's OneCycleLR starts at max_lr / div_factor and has no annealing share.
      if (run.lr_max) run.lr_min = *run.lr_max / s.div_factor;
    } else {
      run.lr_min = given_value(given, "schedule.lr_min", s.lr_min);
      run.anneal_percent = given_value(given, "schedule.anneal_percent", s.anneal_percent);
    }
    if (s.cycle_momentum) {
      run.momentum_min = given_value(given, "schedule.momentum_min", s.momentum_min);
      run.momentum_max = given_value(given, "schedule.momentum_max", s.momentum_max);
    } else {
      run.momentum_min = run.momentum_max = given_value(given, "optimizer.momentum", config.optimizer.momentum);
    }
  }
  run.epochs = required_value(given, path, "train.epochs", config.train.epochs);
  run.seed = config.seed;
  // The experiment less its seed and where its data lives (a copy staged elsewhere is
  // the same data); train.max_steps, which a resume may change, stays: a run cut short
  // on purpose is another experiment.
  app::RunConfig settings = config;
  settings.seed = app::RunConfig{}.seed;
  settings.data.root = app::RunConfig{}.data.root;
  // Where a peak came from is not the experiment: the lr_max it gave is.
  settings.schedule.lr_max_from.clear();
  settings.schedule.lr_max_rule = app::RunConfig{}.schedule.lr_max_rule;
  run.settings = app::experiment_yaml(settings) + "max_steps: " + std::to_string(config.train.max_steps) + "\n";
}

// ---- summary.json ----

// A run stopped during its first epoch: no values to show.
void mark_unrecorded(RunRecord& run) {
  run.epochs_completed = 0;
  run.recorded = false;
  run.final_val_loss = run.final_val_acc = run.best_val_acc = std::numeric_limits<double>::quiet_NaN();
}

void read_summary(const std::string& path, RunRecord& run) {
  std::ifstream in = app::open_run_file(path);
  nlohmann::json summary;
  try {
    summary = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("not valid JSON: ") + e.what());
  }
  if (!summary.is_object()) fail(path, "expected a JSON object");
  auto number = [&](const char* key) {
    const auto it = summary.find(key);
    if (it == summary.end()) fail(path, std::string("missing key '") + key + "'");
    // JSON has no NaN: writers store a diverged value as null.
    if (it->is_null()) return std::numeric_limits<double>::quiet_NaN();
    if (!it->is_number()) fail(path, std::string("'") + key + "' should be a number, got " + it->dump());
    return it->get<double>();
  };
  if (const auto it = summary.find("epochs_completed"); it != summary.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0)
      fail(path, "'epochs_completed' should be a whole number of epochs, got " + it->dump());
    run.epochs_completed = it->get<int64_t>();
  }
  // A run stopped during its first epoch records no values.
  if (run.epochs_completed == 0 && !summary.contains("final_val_loss")) return mark_unrecorded(run);
  run.final_val_loss = number("final_val_loss");
  run.final_val_acc = number("final_val_acc");
  run.best_val_acc = number("best_val_acc");
  if (const auto it = summary.find("early_stopping"); it != summary.end()) {
    if (!it->is_object()) fail(path, "'early_stopping' should be an object, got " + it->dump());
    const auto stopped = it->find("stopped_epoch");
    if (stopped != it->end() && !stopped->is_null() && !stopped->is_number_integer())
      fail(path, "'early_stopping.stopped_epoch' should be an epoch or null, got " + stopped->dump());
    run.early_stopped = stopped != it->end() && !stopped->is_null();
  }
  run.kept_average = summary.contains("final_ema_val_acc");
  if (run.kept_average) run.final_ema_val_acc = number("final_ema_val_acc");
  if (const auto it = summary.find("swa"); it != summary.end()) {
    if (!it->is_object()) fail(path, "'swa' should be an object, got " + it->dump());
    const auto acc = it->find("val_acc");
    if (acc == it->end() || !(acc->is_null() || acc->is_number()))
      fail(path, "'swa.val_acc' should be an accuracy or null, got " + (acc == it->end() ? "nothing" : acc->dump()));
    run.kept_swa = true;
    if (acc->is_number()) run.swa_val_acc = acc->get<double>();
  }
}

// ---- Table I ----

// The shortest plain decimal that reads back as the value, as the seed prints its
// hyper-parameters (0.001, 0.85, 3, 10).
std::string format_setting(double value) {
  char buffer[400];
  for (int decimals = 0; decimals <= 12; ++decimals) {
    std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
    if (std::strtod(buffer, nullptr) == value) return buffer;
  }
  std::snprintf(buffer, sizeof buffer, "%.17g", value);
  return buffer;
}

std::string format_setting(const std::optional<double>& value) { return value ? format_setting(*value) : kAbsent; }

std::string format_fixed(double value, int decimals) {
  char buffer[400];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

// Display width: one per UTF-8 code point, so "—" pads like one character.
std::size_t display_width(const std::string& s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string escape_cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += '\\';
    out += c == '\n' ? ' ' : c;
  }
  return out;
}

// An unreadable summary counts as a training run, so that read_run reports it. A range
// test stopped before it wrote its summary says so in the first word of its log.
bool is_range_test(const fs::path& dir) {
  std::error_code error;
  if (!fs::exists(dir / "summary.json", error)) {
    std::ifstream log(dir / "train.log");
    std::string app;
    return log >> app && app == app::app_name(app::AppKind::LrFind);
  }
  return app::read_json_object((dir / "summary.json").string()).contains("lr_find");
}

}  // namespace

RunRecord read_run(const std::string& dir) {
  std::error_code error;
  if (!fs::is_directory(dir, error)) fail(dir, "not a run directory (no such folder)");
  RunRecord run;
  run.dir = dir;
  read_config((fs::path(dir) / "config.yaml").string(), run);
  const fs::path metrics = fs::path(dir) / "metrics.csv", summary = fs::path(dir) / "summary.json";
  if (!fs::exists(metrics, error) && !fs::exists(summary, error)) {
    // A run that ended (killed, crashed) before its first epoch: a row that says so, not
    // an error that would hide the other runs.
    mark_unrecorded(run);
    return run;
  }
  run.metrics = app::read_csv<app::EpochMetrics>(metrics.string());
  read_summary(summary.string(), run);
  return run;
}

std::vector<std::string> find_run_dirs(const std::vector<std::string>& paths) {
  std::vector<std::string> dirs;
  for (const std::string& path : paths) {
    std::error_code error;
    if (!fs::is_directory(path, error)) fail(path, "no such folder");
    if (fs::exists(fs::path(path) / "config.yaml", error)) {
      dirs.push_back(path);
      continue;
    }
    std::vector<std::string> runs;
    for (const fs::directory_entry& entry : fs::directory_iterator(path, error))
      if (entry.is_directory() && fs::exists(entry.path() / "config.yaml") && !is_range_test(entry.path()))
        runs.push_back(entry.path().string());
    if (error) fail(path, "cannot list: " + error.message());
    if (runs.empty()) fail(path, "not a run directory (no config.yaml) and no subfolder holds one");
    std::sort(runs.begin(), runs.end());
    dirs.insert(dirs.end(), runs.begin(), runs.end());
  }
  return dirs;
}

namespace {
// The seed report's Table I (its eight 1cycle runs) and its Adam baseline, by setting.
struct ReportRow {
  double lr_min, lr_max, momentum_min, momentum_max, anneal_percent;
  int64_t epochs;
  double val_acc;
};
const ReportRow kTableI[] = {
    {0.001, 0.01, 0.85, 0.95, 10, 90, 0.8442}, {0.001, 0.01, 0.85, 0.95, 50, 90, 0.8500},
    {0.01, 0.1, 0.85, 0.95, 10, 70, 0.8813},   {0.001, 0.01, 0.9, 0.9, 10, 90, 0.8429},
    {0.01, 0.1, 0.9, 0.9, 10, 70, 0.8865},     {0.001, 0.1, 0.85, 0.95, 10, 90, 0.8878},
    {0.01, 0.01, 0.9, 0.9, 10, 50, 0.8512},    {0.1, 3, 0.85, 0.95, 10, 50, 0.8018},
};
constexpr double kReportAdamBaseline = 0.8354;  // Adam at a constant 1e-3, 90 epochs

bool same(const std::optional<double>& a, double b) { return a && std::fabs(*a - b) <= 1e-9 * std::max(1.0, b); }
}  // namespace

std::optional<double> report_accuracy(const RunRecord& run) {
  for (const ReportRow& r : kTableI)
    if (run.optimizer == "sgd" && same(run.lr_min, r.lr_min) && same(run.lr_max, r.lr_max) && same(run.momentum_min, r.momentum_min) &&
        same(run.momentum_max, r.momentum_max) && same(run.anneal_percent, r.anneal_percent) && run.epochs == r.epochs)
      return r.val_acc;
  const bool constant = run.schedule == "constant" || run.schedule.empty();
  if (run.optimizer == "adam" && constant && same(run.optimizer_lr, 1e-3) && !run.lr_max && run.epochs == 90)
    return kReportAdamBaseline;
  return std::nullopt;
}

namespace {
// The configured epochs, or "13 of 70" for a run that stopped before its end, so that an
// unfinished run is not read as the report's finished one.
// A run ended by early stopping finished: its cell says so.
std::string epochs_cell(const RunRecord& run) {
  if (run.epochs_completed && *run.epochs_completed < run.epochs)
    return std::to_string(*run.epochs_completed) + " of " + std::to_string(run.epochs) +
           (run.early_stopped ? ", early stopping" : "");
  return std::to_string(run.epochs);
}

// The epochs a run completed (an older record without the count: all of them).
int64_t completed(const RunRecord& run) { return run.epochs_completed.value_or(run.epochs); }

// How far a run got towards its end: a run early stopping ended is as finished as one
// that ran all its epochs.
int64_t progress(const RunRecord& run) { return run.early_stopped ? run.epochs : completed(run); }

// The run of a group that got furthest: the others stopped early (interrupted, out of
// time), and their values are not the experiment's. Among finished runs, one that ran
// the most epochs.
const RunRecord& furthest(const std::vector<RunRecord>& group) {
  const RunRecord* best = &group.front();
  for (const RunRecord& run : group)
    if (run.recorded && (!best->recorded || progress(run) > progress(*best) ||
                         (progress(run) == progress(*best) && completed(run) > completed(*best))))
      best = &run;
  return *best;
}

// A value over a group's runs: the mean and sample standard deviation (NaN for one
// value) over the runs that got as far as the furthest with a finite value, and how many
// those are. A group of one: its run's value as recorded (NaN where it diverged).
struct GroupValue {
  double mean = std::numeric_limits<double>::quiet_NaN();
  double sd = std::numeric_limits<double>::quiet_NaN();
  size_t used = 0;
};

GroupValue group_value(const std::vector<RunRecord>& group, double RunRecord::*value) {
  GroupValue out;
  if (group.size() == 1) {
    if (group.front().recorded) out = {group.front().*value, std::numeric_limits<double>::quiet_NaN(), 1};
    return out;
  }
  const int64_t epochs = progress(furthest(group));
  std::vector<double> finite;
  for (const RunRecord& run : group)
    if (run.recorded && progress(run) == epochs && std::isfinite(run.*value)) finite.push_back(run.*value);
  out.used = finite.size();
  if (finite.empty()) return out;
  out.mean = 0;
  for (double v : finite) out.mean += v;
  out.mean /= static_cast<double>(finite.size());
  if (finite.size() > 1) {
    double squares = 0;
    for (double v : finite) squares += (v - out.mean) * (v - out.mean);
    out.sd = std::sqrt(squares / static_cast<double>(finite.size() - 1));
  }
  return out;
}

// The value as a cell: one run's as it is; several runs' mean ± the standard deviation,
// with "(k of n)" where not all counted (a run stopped early, diverged or never recorded).
std::string group_value_cell(const std::vector<RunRecord>& group, double RunRecord::*value, int decimals) {
  const GroupValue v = group_value(group, value);
  if (v.used == 0) return kAbsent;
  if (group.size() == 1) return format_fixed(v.mean, decimals);
  std::string cell = format_fixed(v.mean, decimals);
  if (v.used > 1) cell += " ± " + format_fixed(v.sd, decimals);
  if (v.used < group.size()) cell += " (" + std::to_string(v.used) + " of " + std::to_string(group.size()) + ")";
  return cell;
}

// A row's name: its run's, or its runs' names (each once, in order) with "(3 seeds)", or
// "(3 runs)" where a seed repeats (a run repeated to check that it reproduces, or two
// configs made equal by an override).
std::string group_name(const std::vector<RunRecord>& group) {
  if (group.size() == 1) return group.front().name;
  std::set<int64_t> seeds;
  std::vector<std::string> names;
  for (const RunRecord& run : group) {
    seeds.insert(run.seed);
    if (std::find(names.begin(), names.end(), run.name) == names.end()) names.push_back(run.name);
  }
  std::string name = names.front();
  for (size_t i = 1; i < names.size(); ++i) name += ", " + names[i];
  return name + " (" + std::to_string(group.size()) + (seeds.size() == group.size() ? " seeds)" : " runs)");
}

// A group's epochs: those of its furthest run, whose values the row gives, and how many of
// its finished runs early stopping ended.
std::string group_epochs_cell(const std::vector<RunRecord>& group) {
  const RunRecord& run = furthest(group);
  const int64_t ended = std::count_if(group.begin(), group.end(), [&](const RunRecord& r) {
    return r.recorded && r.early_stopped && progress(r) == progress(run);
  });
  if (run.early_stopped || ended == 0) return epochs_cell(run);
  return epochs_cell(run) + " (" + std::to_string(ended) + " ended by early stopping)";
}
}  // namespace

std::vector<std::vector<RunRecord>> group_by_settings(const std::vector<RunRecord>& runs) {
  std::vector<std::vector<RunRecord>> groups;
  for (const RunRecord& run : runs) {
    auto same = std::find_if(groups.begin(), groups.end(),
                             [&](const std::vector<RunRecord>& group) { return group.front().settings == run.settings; });
    if (same == groups.end()) groups.push_back({run});
    else same->push_back(run);
  }
  return groups;
}

namespace {
// Whether a run of the group kept a moving average of its weights.
bool averaged(const std::vector<RunRecord>& group) {
  return std::any_of(group.begin(), group.end(), [](const RunRecord& run) { return run.kept_average; });
}

// Whether any did: the table has its column then.
bool any_averaged(const std::vector<std::vector<RunRecord>>& groups) {
  return std::any_of(groups.begin(), groups.end(), averaged);
}

// Whether a run of the group kept stochastic weight averaging's average, and any group's.
bool swa_kept(const std::vector<RunRecord>& group) {
  return std::any_of(group.begin(), group.end(), [](const RunRecord& run) { return run.kept_swa; });
}
bool any_swa(const std::vector<std::vector<RunRecord>>& groups) {
  return std::any_of(groups.begin(), groups.end(), swa_kept);
}
// The group's SWA accuracy: a run that has not evaluated its average (null) has none, even
// alone (group_value keeps a lone run's value, which for the others is a diverged "nan").
GroupValue swa_value(const std::vector<RunRecord>& group) {
  GroupValue v = group_value(group, &RunRecord::swa_val_acc);
  if (group.size() == 1 && !std::isfinite(v.mean)) v = GroupValue{};
  return v;
}
}  // namespace

std::vector<std::vector<std::string>> grouped_table_cells(const std::vector<std::vector<RunRecord>>& groups) {
  const bool with_averages = any_averaged(groups);
  std::vector<std::vector<std::string>> rows = {
      {"Run", "LR min", "LR max", "Mom min", "Mom max", "Ann %", "Epochs", "Val loss", "Val acc", "Report's acc"}};
  if (with_averages) rows.front().insert(rows.front().end() - 1, "EMA val acc");
  const bool with_swa = any_swa(groups);
  if (with_swa) rows.front().insert(rows.front().end() - 1, "SWA val acc");
  std::vector<std::string> names;  // rows of one name, to tell apart by their seed
  for (const std::vector<RunRecord>& group : groups) {
    CYG_CHECK(!group.empty(), "a table row needs at least one run");
    names.push_back(group.front().name);
  }
  for (const std::vector<RunRecord>& group : groups) {
    const RunRecord& run = group.front();
    std::string name = group_name(group);
    if (group.size() == 1 && std::count(names.begin(), names.end(), run.name) > 1)
      name += " (seed " + std::to_string(run.seed) + ")";
    const bool cycle = run.lr_min || run.lr_max;
    const bool constant = run.schedule == "constant" || run.schedule.empty();
    const std::optional<double> report = report_accuracy(run);
    rows.push_back({name,
                    format_setting(cycle ? run.lr_min : constant ? run.optimizer_lr : std::nullopt),
                    format_setting(cycle ? run.lr_max : run.optimizer_lr), format_setting(run.momentum_min),
                    format_setting(run.momentum_max), format_setting(run.anneal_percent), group_epochs_cell(group),
                    group_value_cell(group, &RunRecord::final_val_loss, 6),
                    group_value_cell(group, &RunRecord::final_val_acc, 4), report ? format_fixed(*report, 4) : "—"});
    if (with_averages)
      rows.back().insert(rows.back().end() - 1,
                         averaged(group) ? group_value_cell(group, &RunRecord::final_ema_val_acc, 4) : kAbsent);
    if (with_swa)
      rows.back().insert(rows.back().end() - 1,
                         swa_kept(group) && swa_value(group).used > 0 ? group_value_cell(group, &RunRecord::swa_val_acc, 4)
                                                                       : kAbsent);
  }
  return rows;
}

namespace {
std::vector<std::vector<RunRecord>> one_run_each(const std::vector<RunRecord>& runs) {
  std::vector<std::vector<RunRecord>> groups;
  for (const RunRecord& run : runs) groups.push_back({run});
  return groups;
}
}  // namespace

std::vector<std::vector<std::string>> table_cells(const std::vector<RunRecord>& runs) {
  return grouped_table_cells(one_run_each(runs));
}

std::string table_markdown(const std::vector<RunRecord>& runs) { return grouped_table_markdown(one_run_each(runs)); }

std::string grouped_table_markdown(const std::vector<std::vector<RunRecord>>& groups) {
  std::vector<std::vector<std::string>> rows = grouped_table_cells(groups);
  const std::vector<std::string> header = rows.front();
  rows.erase(rows.begin());
  for (auto& row : rows) row[0] = escape_cell(row[0]);  // a | in a run's name
  std::vector<std::size_t> widths;
  for (const std::string& h : header) widths.push_back(std::max<std::size_t>(3, display_width(h)));
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], display_width(row[c]));

  // The run name reads left-aligned, the numbers right-aligned.
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out = "|";
    for (std::size_t c = 0; c < cells.size(); ++c) {
      const std::string pad(widths[c] - display_width(cells[c]), ' ');
      out += ' ' + (c == 0 ? cells[c] + pad : pad + cells[c]) + " |";
    }
    return out + '\n';
  };
  std::string table = line(header);
  table += '|';
  for (std::size_t c = 0; c < widths.size(); ++c)
    table += (c == 0 ? ':' + std::string(widths[c] + 1, '-') : std::string(widths[c] + 1, '-') + ':') + '|';
  table += '\n';
  for (const auto& row : rows) table += line(row);
  return table;
}

std::string grouped_table_csv(const std::vector<std::vector<RunRecord>>& groups) {
  // Every digit a double needs (the shortest that reads back), empty where there is none.
  auto number = [](double v) { return std::isfinite(v) ? format_setting(v) : std::string(); };
  auto setting = [&](const std::optional<double>& v) { return v ? number(*v) : std::string(); };
  const bool with_averages = any_averaged(groups);
  std::string out =
      "run,runs,lr_min,lr_max,momentum_min,momentum_max,anneal_percent,epochs,epochs_completed,"
      "val_loss_mean,val_loss_sd,val_loss_runs,val_acc_mean,val_acc_sd,val_acc_runs,";
  const bool with_swa = any_swa(groups);
  out += std::string(with_averages ? "ema_val_acc_mean,ema_val_acc_sd,ema_val_acc_runs," : "") +
         (with_swa ? "swa_val_acc_mean,swa_val_acc_sd,swa_val_acc_runs," : "") + "report_val_acc\n";
  for (const std::vector<RunRecord>& group : groups) {
    CYG_CHECK(!group.empty(), "a table row needs at least one run");
    const RunRecord& run = group.front();
    const bool cycle = run.lr_min || run.lr_max;
    const bool constant = run.schedule == "constant" || run.schedule.empty();
    const GroupValue loss = group_value(group, &RunRecord::final_val_loss);
    const GroupValue acc = group_value(group, &RunRecord::final_val_acc);
    const std::optional<double> report = report_accuracy(run);
    out += app::csv_field(group_name(group)) + "," + std::to_string(group.size()) + "," +
           setting(cycle ? run.lr_min : constant ? run.optimizer_lr : std::nullopt) + "," +
           setting(cycle ? run.lr_max : run.optimizer_lr) + "," + setting(run.momentum_min) + "," +
           setting(run.momentum_max) + "," + setting(run.anneal_percent) + "," + std::to_string(run.epochs) + "," +
           std::to_string(completed(furthest(group))) + "," + number(loss.mean) + "," + number(loss.sd) + "," +
           std::to_string(loss.used) + "," + number(acc.mean) + "," + number(acc.sd) + "," +
           std::to_string(acc.used) + ",";
    if (with_averages) {
      const GroupValue ema = averaged(group) ? group_value(group, &RunRecord::final_ema_val_acc) : GroupValue{};
      out += number(ema.mean) + "," + number(ema.sd) + "," + std::to_string(ema.used) + ",";
    }
    if (with_swa) {
      const GroupValue swa = swa_kept(group) ? swa_value(group) : GroupValue{};
      out += number(swa.mean) + "," + number(swa.sd) + "," + std::to_string(swa.used) + ",";
    }
    out += (report ? number(*report) : std::string()) + "\n";
  }
  return out;
}

std::string run_label(const RunRecord& run, const std::vector<RunRecord>& runs) {
  const auto same = std::count_if(runs.begin(), runs.end(), [&](const RunRecord& r) { return r.name == run.name; });
  return same > 1 ? run.name + " (seed " + std::to_string(run.seed) + ")" : run.name;
}

plot::Chart accuracy_overlay(const std::vector<RunRecord>& runs, TrainingAccuracy training) {
  return grouped_accuracy_overlay(one_run_each(runs), training);
}

namespace {

// One metric's overlay: validation solid, training (where asked) dashed in the run's
// colour, a row's runs in one colour under one legend entry.
plot::Chart grouped_overlay(const std::vector<std::vector<RunRecord>>& groups, TrainingAccuracy training,
                            const std::string& what, const std::string& y_label, double app::EpochMetrics::*train_metric,
                            double app::EpochMetrics::*val_metric) {
  const bool with_train = training == TrainingAccuracy::Dashed;
  plot::Chart chart;
  chart.title = with_train ? "Training (dashed) and validation " + what : "Validation " + what;
  chart.x_label = "epoch";
  chart.y_label = y_label;
  std::vector<RunRecord> all;  // runs of one name, to tell apart by their seed
  for (const std::vector<RunRecord>& group : groups) all.insert(all.end(), group.begin(), group.end());
  std::vector<double> drawn;  // every value drawn, for the axis
  for (std::size_t g = 0; g < groups.size(); ++g) {
    for (std::size_t k = 0; k < groups[g].size(); ++k) {
      const RunRecord& run = groups[g][k];
      plot::Series validation, training;
      // A row over seeds: one colour, one legend entry (the other seeds' lines stay out
      // of the legend, as the training lines do).
      validation.name = groups[g].size() == 1 ? run_label(run, all) : k == 0 ? group_name(groups[g]) : "";
      validation.color = training.color = plot::palette_color(g);
      training.style = plot::LineStyle::Dashed;
      for (const app::EpochMetrics& m : run.metrics) {
        validation.x.push_back(static_cast<double>(m.epoch));
        validation.y.push_back(m.*val_metric);
        training.x.push_back(static_cast<double>(m.epoch));
        training.y.push_back(m.*train_metric);
        drawn.push_back(m.*val_metric);
        if (with_train) drawn.push_back(m.*train_metric);
      }
      chart.series.push_back(std::move(validation));
      if (with_train) chart.series.push_back(std::move(training));
    }
  }
  const bool any_run = !groups.empty();
  if (with_train && any_run) {
    // Dataless series: legend keys for the two line styles, since the training lines
    // share their run's colour and stay out of the legend.
    plot::Series solid, dashed;
    solid.name = "validation";
    dashed.name = "training";
    dashed.style = plot::LineStyle::Dashed;
    solid.color = dashed.color = "#555555";
    chart.series.push_back(std::move(solid));
    chart.series.push_back(std::move(dashed));
  }
  // A loss that spikes at a very high lr (Fig. 5) would flatten every other run's curve.
  chart.log_y = val_metric == &app::EpochMetrics::val_loss && plot::spans_decades(drawn);
  return chart;
}

}  // namespace

plot::Chart grouped_accuracy_overlay(const std::vector<std::vector<RunRecord>>& groups, TrainingAccuracy training) {
  return grouped_overlay(groups, training, "accuracy", "accuracy", &app::EpochMetrics::train_acc,
                         &app::EpochMetrics::val_acc);
}

plot::Chart loss_overlay(const std::vector<RunRecord>& runs, TrainingAccuracy training) {
  return grouped_loss_overlay(one_run_each(runs), training);
}

plot::Chart grouped_loss_overlay(const std::vector<std::vector<RunRecord>>& groups, TrainingAccuracy training) {
  return grouped_overlay(groups, training, "loss", "cross-entropy", &app::EpochMetrics::train_loss,
                         &app::EpochMetrics::val_loss);
}

}  // namespace cyg::runs
