// Checkpoints. <tag>.safetensors holds the model's state dict alone, under PyTorch's
// names, so `model.load_state_dict(safetensors.torch.load_file(path))` works as is;
// <tag>.state.safetensors holds what resuming needs besides: the optimizer's state, the
// loop's position and sums, the run's tables (metrics.csv and steps.csv as they were at
// that step) and the experiment's configuration, in the metadata. Both carry the step.
//
// The pair is written as one unit: first <tag>.next.safetensors and
// <tag>.next.state.safetensors (each atomically), then each renamed onto its place,
// weights first. Whatever a kill or a full disk interrupts, the directory holds a
// complete pair: the previous one (before the first rename) or the new one (a reader
// completes the second rename). The tables travel inside the state, so a resumed run's
// tables always describe its checkpoint's step.
#pragma once
#include <map>
#include <string>

#include "engine/ema.h"
#include "engine/nn.h"
#include "engine/optim.h"

namespace cyg::app {

struct LoopState {
  int64_t step = 0;            // optimizer steps taken
  int64_t epoch = 0;           // the epoch in progress (or the next one, at an epoch boundary)
  int64_t batch_in_epoch = 0;  // batches of `epoch` already taken
  double train_loss_sum = 0;   // of the epoch in progress
  int64_t train_correct = 0, train_seen = 0;
  double epoch_seconds = 0;  // of the epoch in progress, before the stop
  double best_val_acc = -1, best_val_loss = 0;
  int64_t best_epoch = -1;
  double total_seconds = 0;
  int64_t processes = 1;  // the ranks the run trains on (data parallelism)
};

// What a checkpoint carries besides the tensors and the loop state.
struct CheckpointExtras {
  std::string metrics_csv, steps_csv;  // the run's tables at the checkpoint's step
  std::string experiment;              // experiment_yaml() of the run's configuration
  std::string activation_stats_csv;    // train.activation_stats_every's table ("": none)
};

// `average`, where given, goes into the state too (its tensors as "average.<name>", its
// update count in the metadata); an equal average with no update yet does not.
void save_checkpoint(const std::string& dir, const std::string& tag, const nn::Module& model,
                     const Optimizer* optimizer, const LoopState& state, const std::string& model_name,
                     const CheckpointExtras& extras = {}, const WeightAverage* average = nullptr);

struct LoadedCheckpoint {
  LoopState loop;
  CheckpointExtras extras;
  std::string weights_path, state_path;
  nn::NamedTensors weights;  // the model's state dict
  StateDict optimizer;       // the optimizer's state
  // The moving average of the weights, where the run kept one (average_updates -1: none).
  nn::NamedTensors averages;
  int64_t average_updates = -1;
};

// <dir>/ema.safetensors: the moving average of the weights as the model's state dict
// (PyTorch's names; it loads with strict=True), written atomically.
void save_averaged_weights(const std::string& dir, const WeightAverage& average, int64_t step,
                           const std::string& model_name);

// A snapshot's file name (train.save_every_n_epochs): epoch-<e>.safetensors, e padded with
// zeros to at least 3 digits and to the digits of the run's epochs, so that the names sort
// in epoch order.
std::string epoch_weights_file(int64_t epoch, int64_t epochs);
// <dir>/epoch_weights_file(epoch, epochs): the model's state dict (PyTorch's names) at the
// end of that epoch, written atomically; its metadata holds the epoch and the step.
void save_epoch_weights(const std::string& dir, const nn::Module& model, int64_t step, const std::string& model_name,
                        int64_t epoch, int64_t epochs);

// Puts a state dict into the model; an error names `path` (where the weights came from)
// and the first key that does not fit.
void load_state_into(const std::string& path, const nn::NamedTensors& state, nn::Module& model);

// Loads weights from a .safetensors into the model; the error names the file and the
// first key that does not fit (a checkpoint of another model, say).
void load_weights(const std::string& path, nn::Module& model);

// Whether <dir> holds a checkpoint <tag> (completing one whose second rename was cut).
bool has_checkpoint(const std::string& dir, const std::string& tag);

// Reads <dir>/<tag>.safetensors and <dir>/<tag>.state.safetensors (completing a write
// cut between its renames first): the two files must be of one step. A resume compares
// the extras' experiment with its configuration before it puts anything in place.
LoadedCheckpoint read_checkpoint(const std::string& dir, const std::string& tag);

// Puts the checkpoint's weights into the model and its state into the optimizer; an error
// names the file whose tensors do not fit.
void restore_training(const LoadedCheckpoint& checkpoint, nn::Module& model, Optimizer& optimizer);

// <dir>/swa.safetensors: the model's state dict (PyTorch's names), holding stochastic
// weight averaging's average of epochs first_epoch..last_epoch and the batchnorm
// statistics recomputed for it.
void save_swa_weights(const std::string& dir, const nn::Module& model, int64_t step, const std::string& model_name,
                      int64_t first_epoch, int64_t last_epoch);
// Puts the checkpoint's average of the weights into `average`; an error names the state
// file when it holds none (an equal average may hold none: no update yet) or one that does
// not fit.
void restore_average(const LoadedCheckpoint& checkpoint, WeightAverage& average);

}  // namespace cyg::app
