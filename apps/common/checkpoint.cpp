// Checkpoint files: weights (PyTorch-loadable) and the training state beside them.
#include "apps/common/checkpoint.h"

#include <nlohmann/json.hpp>

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
          {"total_seconds", s.total_seconds}};
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
  s.best_val_loss = j.at("best_val_loss").get<double>();
  s.best_epoch = j.at("best_epoch").get<int64_t>();
  s.total_seconds = j.at("total_seconds").get<double>();
  return s;
}
}  // namespace

void save_checkpoint(const std::string& dir, const std::string& tag, const nn::Module& model,
                     const Optimizer* optimizer, const LoopState& state, const std::string& model_name) {
  const std::string step = std::to_string(state.step);
  // Two files, so two renames: resume checks that their steps agree, and the app holds
  // off a second Ctrl-C while they are written.
  NamedTensorList opt;
  if (optimizer)
    for (const auto& [name, t] : optimizer->state_dict()) opt.emplace_back("optimizer." + name, t);
  save_safetensors(dir + "/" + tag + ".state.safetensors", opt,
                   {{"format", "cygnet-state"}, {"step", step}, {"loop", to_json(state).dump()}});
  save_safetensors(dir + "/" + tag + ".safetensors", model.state_dict(),
                   {{"format", "pt"}, {"model", model_name}, {"step", step}});
}

void load_weights(const std::string& path, nn::Module& model) {
  const SafetensorsContent file = load_safetensors(path);
  nn::NamedTensors state(file.tensors.begin(), file.tensors.end());
  try {
    model.load_state_dict(state);
  } catch (const Error& e) {
    throw Error("weights '" + path + "' do not fit this model: " + e.what());
  }
}

LoopState load_checkpoint(const std::string& dir, const std::string& tag, nn::Module& model, Optimizer& optimizer) {
  const std::string weights_path = dir + "/" + tag + ".safetensors";
  const std::string state_path = dir + "/" + tag + ".state.safetensors";
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
  load_weights(weights_path, model);
  StateDict opt;
  for (const auto& [name, t] : state_file.tensors)
    if (name.rfind("optimizer.", 0) == 0) opt[name.substr(10)] = t;
  optimizer.load_state_dict(opt);
  auto loop = state_file.metadata.find("loop");
  CYG_INPUT_CHECK(loop != state_file.metadata.end(), "'", state_path, "' has no loop state");
  try {
    return from_json(nlohmann::json::parse(loop->second));
  } catch (const nlohmann::json::exception& e) {
    CYG_INPUT_CHECK(false, "'", state_path, "': malformed loop state (", e.what(), ")");
  }
  return {};
}

}  // namespace cyg::app
