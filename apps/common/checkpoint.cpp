// Checkpoint files: weights (PyTorch-loadable) and the training state beside them.
#include "apps/common/checkpoint.h"

#include <algorithm>
#include <cmath>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <system_error>

#include "apps/common/run_dir.h"
#include "engine/atomic_file.h"
#include "engine/safetensors.h"
#include "kernels/error.h"

namespace cyg::app {

namespace {
nlohmann::json to_json(const LoopState& s) {
  return {{"step", s.step},
          {"epoch", s.epoch},
          {"batch_in_epoch", s.batch_in_epoch},
          {"train_loss_sum", s.train_loss_sum},
          {"train_correct", s.train_correct},
          {"train_seen", s.train_seen},
          {"epoch_seconds", s.epoch_seconds},
          {"best_val_acc", s.best_val_acc},
          {"best_val_loss", s.best_val_loss},
          {"best_epoch", s.best_epoch},
          {"total_seconds", s.total_seconds},
          {"processes", s.processes}};
}

LoopState from_json(const nlohmann::json& j) {
  LoopState s;
  s.step = j.at("step").get<int64_t>();
  s.epoch = j.at("epoch").get<int64_t>();
  s.batch_in_epoch = j.at("batch_in_epoch").get<int64_t>();
  s.train_loss_sum = j.at("train_loss_sum").get<double>();
  s.train_correct = j.at("train_correct").get<int64_t>();
  s.train_seen = j.at("train_seen").get<int64_t>();
  s.epoch_seconds = j.at("epoch_seconds").get<double>();
  s.best_val_acc = j.at("best_val_acc").get<double>();
  // JSON has no NaN: a best epoch (by accuracy) whose loss was not finite is written null.
  s.best_val_loss = j.at("best_val_loss").is_null() ? NAN : j.at("best_val_loss").get<double>();
  s.best_epoch = j.at("best_epoch").get<int64_t>();
  s.total_seconds = j.at("total_seconds").get<double>();
  s.processes = j.value("processes", int64_t(1));  // checkpoints from before data parallelism: one
  return s;
}
}  // namespace

namespace {
// The state file's names of a moving average's tensors.
const std::string kAveragePrefix = "average.";
// train.activation_stats_every's table in a state file (apps/common/activation_stats.h).
const std::string kActivationStats = "activation_stats_csv";

struct PairPaths {
  std::string weights, state, next_weights, next_state;
};

PairPaths pair_paths(const std::string& dir, const std::string& tag) {
  const std::string base = dir + "/" + tag;
  return {base + ".safetensors", base + ".state.safetensors", base + ".next.safetensors",
          base + ".next.state.safetensors"};
}

bool exists(const std::string& path) { return std::filesystem::is_regular_file(path); }

// The step in a checkpoint file's metadata; "" where the file cannot be read.
std::string step_in(const std::string& path) {
  if (!exists(path)) return "";
  try {
    const SafetensorsContent f = load_safetensors(path);
    auto it = f.metadata.find("step");
    return it == f.metadata.end() ? "" : it->second;
  } catch (const Error&) {
    return "";
  }
}

void rename_onto(const std::string& from, const std::string& to) {
  file_operation_point();
  std::error_code error;
  std::filesystem::rename(from, to, error);
  CYG_INPUT_CHECK(!error, "cannot rename '", from, "' to '", to, "': ", error.message());
}

// A write cut between its two renames left the new weights in place and the new state
// beside it: finish it. A new pair written in full but not yet renamed is complete too.
// Leftovers of a write cut earlier are removed.
void complete_interrupted_write(const PairPaths& p) {
  const bool next_weights = exists(p.next_weights), next_state = exists(p.next_state);
  if (!next_weights && !next_state) return;
  const std::string new_step = next_state ? step_in(p.next_state) : "";
  if (next_state && !new_step.empty() && !next_weights && step_in(p.weights) == new_step) {
    rename_onto(p.next_state, p.state);
    return;
  }
  if (next_weights && next_state && !new_step.empty() && step_in(p.next_weights) == new_step) {
    rename_onto(p.next_weights, p.weights);
    rename_onto(p.next_state, p.state);
    return;
  }
  std::error_code ignored;
  std::filesystem::remove(p.next_weights, ignored);
  std::filesystem::remove(p.next_state, ignored);
}
}  // namespace

void save_checkpoint(const std::string& dir, const std::string& tag, const nn::Module& model,
                     const Optimizer* optimizer, const LoopState& state, const std::string& model_name,
                     const CheckpointExtras& extras, const WeightAverage* average) {
  const std::string step = std::to_string(state.step);
  const PairPaths p = pair_paths(dir, tag);
  NamedTensorList opt;
  if (optimizer)
    for (const auto& [name, t] : optimizer->state_dict()) opt.emplace_back("optimizer." + name, t);
  std::map<std::string, std::string> metadata = {{"format", "cygnet-state"},
                                                 {"step", step},
                                                 {"loop", to_json(state).dump()},
                                                 {"metrics_csv", extras.metrics_csv},
                                                 {"steps_csv", extras.steps_csv},
                                                 {"experiment", extras.experiment}};
  // The activation statistics' table grows with the run: its text as bytes, in a tensor,
  // since the file's header (metadata) is bounded.
  if (!extras.activation_stats_csv.empty()) {
    const std::string& text = extras.activation_stats_csv;
    Tensor bytes = Tensor::empty({static_cast<int64_t>(text.size())}, DType::U8);
    std::memcpy(bytes.data<uint8_t>(), text.data(), text.size());
    opt.emplace_back(kActivationStats, bytes);
  }
  // An equal average (stochastic weight averaging) before its first epoch holds nothing
  // yet: not written, so that the state file is no larger than the run's.
  if (average && (average->updates() > 0 || !average->equal())) {
    for (size_t i = 0; i < average->names().size(); ++i)
      opt.emplace_back(kAveragePrefix + average->names()[i], average->averages()[i]);
    metadata["average_updates"] = std::to_string(average->updates());
  }
  save_safetensors(p.next_state, opt, metadata);
  save_safetensors(p.next_weights, model.state_dict(), {{"format", "pt"}, {"model", model_name}, {"step", step}});
  rename_onto(p.next_weights, p.weights);
  rename_onto(p.next_state, p.state);
}

void save_averaged_weights(const std::string& dir, const WeightAverage& average, int64_t step,
                           const std::string& model_name) {
  save_safetensors(dir + "/ema.safetensors", average.state_dict(),
                   {{"format", "pt"},
                    {"model", model_name},
                    {"step", std::to_string(step)},
                    {"ema_decay", format_number(average.decay())}});
}

std::string epoch_weights_file(int64_t epoch, int64_t epochs) {
  const int digits = std::max(3, static_cast<int>(std::to_string(std::max<int64_t>(epochs, 0)).size()));
  const std::string number = std::to_string(epoch);
  return "epoch-" + std::string(number.size() < static_cast<size_t>(digits) ? digits - number.size() : 0, '0') +
         number + ".safetensors";
}

void save_epoch_weights(const std::string& dir, const nn::Module& model, int64_t step, const std::string& model_name,
                        int64_t epoch, int64_t epochs) {
  save_safetensors(dir + "/" + epoch_weights_file(epoch, epochs), model.state_dict(),
                   {{"format", "pt"},
                    {"model", model_name},
                    {"step", std::to_string(step)},
                    {"epoch", std::to_string(epoch)}});
}

void save_swa_weights(const std::string& dir, const nn::Module& model, int64_t step, const std::string& model_name,
                      int64_t first_epoch, int64_t last_epoch) {
  save_safetensors(dir + "/swa.safetensors", model.state_dict(),
                   {{"format", "pt"},
                    {"model", model_name},
                    {"step", std::to_string(step)},
                    {"swa_epochs", std::to_string(first_epoch) + "-" + std::to_string(last_epoch)}});
}

void restore_average(const LoadedCheckpoint& checkpoint, WeightAverage& average) {
  // Stochastic weight averaging's average is written once it has an epoch: until then,
  // none (the resume checks the count against the epochs).
  if (average.equal() && checkpoint.average_updates < 0 && checkpoint.averages.empty()) return;
  CYG_INPUT_CHECK(checkpoint.average_updates >= 0 && !checkpoint.averages.empty(), "'", checkpoint.state_path,
                  "' holds no average of the weights, which this run keeps (",
                  average.equal() ? "train.swa_start_epoch" : "train.ema_decay", ")");
  try {
    average.load(checkpoint.averages, checkpoint.average_updates);
  } catch (const Error& e) {
    throw Error("'" + checkpoint.state_path + "': its average of the weights does not fit this model: " +
                e.what());
  }
}

bool has_checkpoint(const std::string& dir, const std::string& tag) {
  const PairPaths p = pair_paths(dir, tag);
  complete_interrupted_write(p);
  return exists(p.weights) && exists(p.state);
}

void load_state_into(const std::string& path, const nn::NamedTensors& state, nn::Module& model) {
  try {
    model.load_state_dict(state);
  } catch (const Error& e) {
    throw Error("weights '" + path + "' do not fit this model: " + e.what());
  }
}

void load_weights(const std::string& path, nn::Module& model) {
  const SafetensorsContent file = load_safetensors(path);
  load_state_into(path, nn::NamedTensors(file.tensors.begin(), file.tensors.end()), model);
}

void restore_training(const LoadedCheckpoint& checkpoint, nn::Module& model, Optimizer& optimizer) {
  load_state_into(checkpoint.weights_path, checkpoint.weights, model);
  optimizer.load_state_dict(checkpoint.optimizer);
}

LoadedCheckpoint read_checkpoint(const std::string& dir, const std::string& tag) {
  const PairPaths p = pair_paths(dir, tag);
  complete_interrupted_write(p);
  const std::string& weights_path = p.weights;
  const std::string& state_path = p.state;
  const SafetensorsContent state_file = load_safetensors(state_path);
  const SafetensorsContent weights_file = load_safetensors(weights_path);
  auto step_of = [](const SafetensorsContent& f, const std::string& path) {
    auto it = f.metadata.find("step");
    CYG_INPUT_CHECK(it != f.metadata.end(), "'", path, "' has no step in its metadata");
    return it->second;
  };
  CYG_INPUT_CHECK(step_of(state_file, state_path) == step_of(weights_file, weights_path), "checkpoint '", weights_path,
                  "' (step ", step_of(weights_file, weights_path), ") and '", state_path, "' (step ",
                  step_of(state_file, state_path), ") are from different steps");
  LoadedCheckpoint out;
  out.weights_path = weights_path;
  out.weights.assign(weights_file.tensors.begin(), weights_file.tensors.end());
  for (const auto& [name, t] : state_file.tensors) {
    if (name.rfind("optimizer.", 0) == 0) out.optimizer[name.substr(10)] = t;
    if (name.rfind(kAveragePrefix, 0) == 0) out.averages.emplace_back(name.substr(kAveragePrefix.size()), t);
  }
  auto text = [&](const char* key) {
    auto it = state_file.metadata.find(key);
    CYG_INPUT_CHECK(it != state_file.metadata.end(), "'", state_path, "' has no ", key,
                    " (a checkpoint from an older version cannot be resumed)");
    return it->second;
  };
  try {
    out.loop = from_json(nlohmann::json::parse(text("loop")));
  } catch (const nlohmann::json::exception& e) {
    CYG_INPUT_CHECK(false, "'", state_path, "': malformed loop state (", e.what(), ")");
  }
  out.extras = {text("metrics_csv"), text("steps_csv"), text("experiment"), ""};
  for (const auto& [name, t] : state_file.tensors) {
    if (name != kActivationStats) continue;
    CYG_INPUT_CHECK(t.dtype() == DType::U8 && t.dim() == 1, "'", state_path, "': its ", kActivationStats,
                    " is not a table's text (1-D U8)");
    out.extras.activation_stats_csv.assign(reinterpret_cast<const char*>(t.data<uint8_t>()),
                                           static_cast<size_t>(t.numel()));
  }
  out.state_path = state_path;
  const auto updates = state_file.metadata.find("average_updates");
  if (updates != state_file.metadata.end()) {
    const std::string& count = updates->second;
    CYG_INPUT_CHECK(!count.empty() && count.size() < 19 && count.find_first_not_of("0123456789") == std::string::npos,
                    "'", state_path, "': its average_updates '", count, "' is not a count of updates");
    out.average_updates = std::stoll(count);
  }
  return out;
}

}  // namespace cyg::app
