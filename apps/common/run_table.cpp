// Reading run directories back (config.yaml via yaml-cpp, metrics.csv by hand,
// summary.json via nlohmann/json) and laying them out as the seed's Table I and Fig. 4a.
#include "apps/common/run_table.h"

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>

namespace cyg::runs {
namespace {

namespace fs = std::filesystem;

const char* const kAbsent = "—";

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

std::ifstream open_file(const std::string& path) {
  std::error_code error;
  if (!fs::exists(path, error)) fail(path, "missing file");
  if (!fs::is_regular_file(path, error)) fail(path, "not a regular file");
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, std::string("cannot open: ") + (errno ? std::strerror(errno) : "unknown error"));
  return in;
}

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> cells;
  std::string cell;
  std::istringstream in(line);
  while (std::getline(in, cell, ',')) cells.push_back(trim(cell));
  if (!line.empty() && line.back() == ',') cells.emplace_back();
  return cells;
}

// ---- config.yaml ----

struct Config {
  std::string path;
  YAML::Node root;

  YAML::Node section(const char* name) const {
    const YAML::Node node = root[name];
    if (node.IsDefined() && !node.IsNull() && !node.IsMap()) fail(path, std::string("'") + name + "' should be a mapping");
    return node;
  }

  template <typename T>
  std::optional<T> optional(const char* section_name, const char* key, const char* expected) const {
    const YAML::Node s = section(section_name);
    if (!s.IsDefined() || s.IsNull()) return std::nullopt;
    const YAML::Node value = s[key];
    if (!value.IsDefined() || value.IsNull()) return std::nullopt;
    try {
      return value.as<T>();
    } catch (const YAML::Exception&) {
      fail(path, std::string("'") + section_name + '.' + key + "' should be " + expected + ", got '" +
                     (value.IsScalar() ? value.Scalar() : std::string("a ") + (value.IsMap() ? "mapping" : "sequence")) +
                     "'");
    }
  }

  template <typename T>
  T required(const char* section_name, const char* key, const char* expected) const {
    const auto value = optional<T>(section_name, key, expected);
    if (!value) fail(path, std::string("missing '") + section_name + '.' + key + "'");
    return *value;
  }
};

void read_config(const std::string& path, RunRecord& run) {
  std::ifstream in = open_file(path);
  Config config{path, {}};
  try {
    config.root = YAML::Load(in);
  } catch (const YAML::Exception& e) {
    fail(path, std::string("not valid YAML: ") + e.what());
  }
  if (!config.root.IsMap()) fail(path, "expected a mapping at the top level");

  run.name = fs::path(run.dir).filename().string();
  if (run.name.empty()) run.name = fs::path(run.dir).parent_path().filename().string();
  if (const YAML::Node name = config.root["name"]; name.IsDefined() && !name.IsNull()) {
    if (!name.IsScalar()) fail(path, "'name' should be a string");
    run.name = name.Scalar();
  }
  run.optimizer = config.required<std::string>("optimizer", "name", "a string");
  run.optimizer_lr = config.optional<double>("optimizer", "lr", "a number");
  run.schedule = config.optional<std::string>("schedule", "name", "a string").value_or("");
  // Resolved configs carry every schedule key, defaults included: the 1cycle ones only
  // mean something under that schedule.
  if (run.schedule.empty() || run.schedule == "one_cycle") {
    run.lr_min = config.optional<double>("schedule", "lr_min", "a number");
    run.lr_max = config.optional<double>("schedule", "lr_max", "a number");
    run.anneal_percent = config.optional<double>("schedule", "anneal_percent", "a number");
    if (config.optional<bool>("schedule", "cycle_momentum", "true or false").value_or(true)) {
      run.momentum_min = config.optional<double>("schedule", "momentum_min", "a number");
      run.momentum_max = config.optional<double>("schedule", "momentum_max", "a number");
    } else {
      run.momentum_min = run.momentum_max = config.optional<double>("optimizer", "momentum", "a number");
    }
  }
  run.epochs = config.required<int64_t>("train", "epochs", "an integer");
}

// ---- metrics.csv ----

struct NumberColumn {
  const char* name;
  double EpochMetrics::*field;
};
const NumberColumn kNumberColumns[] = {
    {"lr", &EpochMetrics::lr},
    {"momentum", &EpochMetrics::momentum},
    {"train_loss", &EpochMetrics::train_loss},
    {"train_acc", &EpochMetrics::train_acc},
    {"val_loss", &EpochMetrics::val_loss},
    {"val_acc", &EpochMetrics::val_acc},
    {"epoch_seconds", &EpochMetrics::epoch_seconds},
    {"images_per_second", &EpochMetrics::images_per_second},
};

std::vector<EpochMetrics> read_metrics(const std::string& path) {
  std::ifstream in = open_file(path);
  std::string line;
  if (!std::getline(in, line)) fail(path, std::string("empty file; expected the header ") + kMetricsHeader);
  const std::vector<std::string> header = split_csv(line);
  std::map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < header.size(); ++i) index.emplace(header[i], i);
  std::string missing;
  std::istringstream expected(kMetricsHeader);
  for (std::string column; std::getline(expected, column, ',');)
    if (!index.count(column)) missing += (missing.empty() ? "" : ", ") + column;
  if (!missing.empty()) {
    fail(path, "bad header '" + trim(line) + "': no column " + missing + " (expected " + kMetricsHeader + ")");
  }

  std::vector<EpochMetrics> rows;
  for (int line_number = 2; std::getline(in, line); ++line_number) {
    if (trim(line).empty()) continue;
    const std::vector<std::string> cells = split_csv(line);
    if (cells.size() != header.size()) {
      fail(path, "line " + std::to_string(line_number) + " has " + std::to_string(cells.size()) +
                     " cells, the header has " + std::to_string(header.size()));
    }
    auto number = [&](const std::string& column) {
      const std::string& cell = cells[index.at(column)];
      char* end = nullptr;
      const double value = std::strtod(cell.c_str(), &end);
      if (cell.empty() || *end != '\0') {
        fail(path, "line " + std::to_string(line_number) + ", column '" + column + "': '" + cell +
                       "' is not a number");
      }
      return value;
    };
    auto integer = [&](const std::string& column) {
      const double value = number(column);
      if (!(std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 9e15)) {
        fail(path, "line " + std::to_string(line_number) + ", column '" + column + "': '" +
                       cells[index.at(column)] + "' is not an integer");
      }
      return static_cast<int64_t>(value);
    };
    EpochMetrics row;
    row.epoch = integer("epoch");
    row.step = integer("step");
    for (const NumberColumn& c : kNumberColumns) row.*(c.field) = number(c.name);
    rows.push_back(row);
  }
  return rows;
}

// ---- summary.json ----

void read_summary(const std::string& path, RunRecord& run) {
  std::ifstream in = open_file(path);
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
  run.final_val_loss = number("final_val_loss");
  run.final_val_acc = number("final_val_acc");
  run.best_val_acc = number("best_val_acc");
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

// An unreadable summary counts as a training run, so that read_run reports it.
bool is_range_test(const fs::path& dir) {
  std::ifstream in(dir / "summary.json");
  if (!in) return false;
  const nlohmann::json summary = nlohmann::json::parse(in, nullptr, false);
  return summary.is_object() && summary.contains("lr_find");
}

}  // namespace

RunRecord read_run(const std::string& dir) {
  std::error_code error;
  if (!fs::is_directory(dir, error)) fail(dir, "not a run directory (no such folder)");
  RunRecord run;
  run.dir = dir;
  read_config((fs::path(dir) / "config.yaml").string(), run);
  run.metrics = read_metrics((fs::path(dir) / "metrics.csv").string());
  read_summary((fs::path(dir) / "summary.json").string(), run);
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

std::string table_markdown(const std::vector<RunRecord>& runs) {
  const std::vector<std::string> header = {"Run",     "LR min", "LR max", "Mom min", "Mom max",
                                           "Ann %",   "Epochs", "Val loss", "Val acc"};
  std::vector<std::vector<std::string>> rows;
  for (const RunRecord& run : runs) {
    const bool cycle = run.lr_min || run.lr_max;
    const bool constant = run.schedule == "constant" || run.schedule.empty();
    rows.push_back({escape_cell(run.name), format_setting(cycle ? run.lr_min : constant ? run.optimizer_lr : std::nullopt),
                    format_setting(cycle ? run.lr_max : run.optimizer_lr), format_setting(run.momentum_min),
                    format_setting(run.momentum_max), format_setting(run.anneal_percent), std::to_string(run.epochs),
                    format_fixed(run.final_val_loss, 6), format_fixed(run.final_val_acc, 4)});
  }
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

plot::Chart accuracy_overlay(const std::vector<RunRecord>& runs, bool with_train) {
  plot::Chart chart;
  chart.title = with_train ? "Training (dashed) and validation accuracy" : "Validation accuracy";
  chart.x_label = "epoch";
  chart.y_label = "accuracy";
  for (std::size_t i = 0; i < runs.size(); ++i) {
    plot::Series validation, training;
    validation.name = runs[i].name;
    validation.color = training.color = plot::palette_color(i);
    training.dashed = true;
    for (const EpochMetrics& m : runs[i].metrics) {
      validation.x.push_back(static_cast<double>(m.epoch));
      validation.y.push_back(m.val_acc);
      training.x.push_back(static_cast<double>(m.epoch));
      training.y.push_back(m.train_acc);
    }
    chart.series.push_back(std::move(validation));
    if (with_train) chart.series.push_back(std::move(training));
  }
  if (with_train && !runs.empty()) {
    // Dataless series: legend keys for the two line styles, since the training lines
    // share their run's colour and stay out of the legend.
    plot::Series solid, dashed;
    solid.name = "validation";
    dashed.name = "training";
    dashed.dashed = true;
    solid.color = dashed.color = "#555555";
    chart.series.push_back(std::move(solid));
    chart.series.push_back(std::move(dashed));
  }
  return chart;
}

}  // namespace cyg::runs
