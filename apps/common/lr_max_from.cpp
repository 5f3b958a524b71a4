// Reading a range test's suggestions back from its summary.json.
#include "apps/common/lr_max_from.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <vector>

#include "apps/common/run_dir.h"
#include "kernels/error.h"

namespace cyg::app {

namespace {

// The range test's own settings that set the scale of its learning rates: a test of
// another model, data, batch or optimizer suggests for that one.
void expect_same_setup(const std::string& config_path, const RunConfig& test, const RunConfig& run) {
  std::string differ;
  auto compare = [&](const char* key, const std::string& theirs, const std::string& ours) {
    if (theirs != ours) differ += std::string(differ.empty() ? "" : ", ") + key + " " + theirs + " (this run: " + ours + ")";
  };
  compare("model.name", test.model.name, run.model.name);
  compare("model.width", std::to_string(test.model.width), std::to_string(run.model.width));
  compare("data.dataset", test.data.dataset, run.data.dataset);
  if (test.data.dataset == "folder" && run.data.dataset == "folder") {  // one's own images: which, and how made
    auto where = [](const std::string& root) {
      std::error_code error;
      const std::filesystem::path canonical = std::filesystem::weakly_canonical(root, error);
      return error ? root : canonical.string();
    };
    compare("data.root", where(test.data.root), where(run.data.root));
    compare("data.image_size", std::to_string(test.data.image_size), std::to_string(run.data.image_size));
    compare("data.channels", std::to_string(test.data.channels), std::to_string(run.data.channels));
    if (test.data.image_size > 0) compare("data.resize_method", test.data.resize_method, run.data.resize_method);
    compare("data.valid_pct", format_number(test.data.valid_pct), format_number(run.data.valid_pct));
  }
  compare("train.batch_size", std::to_string(test.train.batch_size), std::to_string(run.train.batch_size));
  compare("optimizer.name", test.optimizer.name, run.optimizer.name);
  CYG_INPUT_CHECK(differ.empty(), "schedule.lr_max_from: the range test in '", config_path,
                  "' ran another setup: ", differ, "; run the range test with this run's settings");
}

}  // namespace

double suggested_lr(const std::string& range_test_dir, const std::string& rule, double weight_decay) {
  const std::string where = "schedule.lr_max_from: '" + range_test_dir + "'";
  std::error_code error;
  CYG_INPUT_CHECK(std::filesystem::is_directory(range_test_dir, error), where, " is not a folder");
  const std::string path = (std::filesystem::path(range_test_dir) / "summary.json").string();
  CYG_INPUT_CHECK(std::filesystem::exists(path, error), where,
                  " has no summary.json (not a run directory, or a range test that has not finished)");
  const nlohmann::json summary = read_json_object(path);
  CYG_INPUT_CHECK(!summary.empty(), path, ": not a JSON object");
  const auto found = summary.find("lr_find");
  CYG_INPUT_CHECK(found != summary.end() && found->is_object(), path,
                  ": not a range test's summary (no 'lr_find'); give the directory of a cygnet_lr_find run");
  CYG_INPUT_CHECK(!summary.value("stopped_early", false), path,
                  ": the range test was stopped before its end; its suggestions are of part of the sweep");
  const nlohmann::json& test = *found;

  // One sweep at the top level, or several under "sweeps", each with its weight decay.
  std::vector<nlohmann::json> sweeps;
  if (test.contains("sweeps") && test["sweeps"].is_array()) {
    for (const nlohmann::json& sweep : test["sweeps"]) sweeps.push_back(sweep);
  } else {
    sweeps.push_back(test);
  }
  const nlohmann::json* chosen = nullptr;
  std::string decays;
  for (const nlohmann::json& sweep : sweeps) {
    const auto decay = sweep.find("weight_decay");
    CYG_INPUT_CHECK(decay != sweep.end() && decay->is_number(), path, ": a sweep without its 'weight_decay'");
    const double d = decay->get<double>();
    decays += (decays.empty() ? "" : ", ") + format_number(d);
    // The summary keeps the decay as the run's double; a config's text reads back the same.
    if (d == weight_decay) chosen = &sweep;
  }
  // The suggestions depend on the weight decay (Smith's range tests over several values).
  CYG_INPUT_CHECK(chosen != nullptr, path, ": no sweep at optimizer.weight_decay = ", format_number(weight_decay),
                  "; its ", sweeps.size() == 1 ? "sweep is" : "sweeps are", " at ", decays,
                  " (lr_find.weight_decays runs a sweep per value)");
  if (const auto reason = chosen->find("stop_reason"); reason != chosen->end() && *reason == "interrupted")
    CYG_INPUT_CHECK(false, path, ": the range test was stopped before its end; its suggestions are of part of the sweep");
  if (const auto reason = chosen->find("error"); reason != chosen->end() && reason->is_string())
    CYG_INPUT_CHECK(false, path, ": the range test suggested no learning rate: ", reason->get<std::string>());
  const auto suggestions = chosen->find("suggestions");
  CYG_INPUT_CHECK(suggestions != chosen->end() && suggestions->is_array(), path, ": no 'suggestions'");
  for (const nlohmann::json& s : *suggestions) {
    if (!s.is_object() || s.value("rule", "") != rule) continue;
    const auto lr = s.find("lr");
    CYG_INPUT_CHECK(lr != s.end() && lr->is_number() && std::isfinite(lr->get<double>()) && lr->get<double>() > 0,
                    path, ": the '", rule, "' suggestion is not a positive learning rate");
    return lr->get<double>();
  }
  CYG_INPUT_CHECK(false, path, ": no '", rule, "' suggestion (schedule.lr_max_rule)");
  return 0.0;  // not reached
}

void resolve_lr_max_from(RunConfig& config) {
  ScheduleConfig& s = config.schedule;
  if (s.lr_max_from.empty()) return;
  // Recorded as an absolute path: the run's config.yaml then names the same test from
  // wherever it is read.
  std::filesystem::path where = std::filesystem::absolute(s.lr_max_from).lexically_normal();
  if (where.filename().empty()) where = where.parent_path();
  s.lr_max_from = where.string();
  const double lr = suggested_lr(s.lr_max_from, s.lr_max_rule, config.optimizer.weight_decay);
  const std::string test_config = (where / "config.yaml").string();
  std::error_code error;
  CYG_INPUT_CHECK(std::filesystem::exists(test_config, error), "schedule.lr_max_from: '", s.lr_max_from,
                  "' has no config.yaml (not a run directory)");
  RunConfig test = default_config(AppKind::LrFind);
  apply_yaml_file(test, test_config);
  expect_same_setup(test_config, test, config);
  // The report's 1cycle starts at lr_min; PyTorch's at lr_max / div_factor.
  CYG_INPUT_CHECK(s.name != "one_cycle" || lr >= s.lr_min, "schedule.lr_max_from: the range test in '", s.lr_max_from, "' suggests ", lr,
                  " (", s.lr_max_rule, "), below 'schedule.lr_min' = ", s.lr_min,
                  "; lower schedule.lr_min (the report's rows use lr_max / 10)");
  s.lr_max = lr;
}

}  // namespace cyg::app
