// Checkpoints. <tag>.safetensors holds the model's state dict alone, under PyTorch's
// names, so `model.load_state_dict(safetensors.torch.load_file(path))` works as is;
// <tag>.state.safetensors holds what resuming needs besides: the optimizer's state and
// the loop's position, sums and history (in the metadata). Both carry the step, which
// must agree when they are read back.
#pragma once
#include <map>
#include <string>

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
};

void save_checkpoint(const std::string& dir, const std::string& tag, const nn::Module& model,
                     const Optimizer* optimizer, const LoopState& state, const std::string& model_name);

// Loads weights from a .safetensors into the model; the error names the file and the
// first key that does not fit (a checkpoint of another model, say).
void load_weights(const std::string& path, nn::Module& model);

// Reads <dir>/<tag>.safetensors and <dir>/<tag>.state.safetensors into the model and
// optimizer and returns the loop state.
LoopState load_checkpoint(const std::string& dir, const std::string& tag, nn::Module& model, Optimizer& optimizer);

}  // namespace cyg::app
