// Evaluation: a model's mean loss and accuracy over a loader's epoch, and the evaluate
// app (a checkpoint's loss and accuracy on the validation split, optionally each
// image's logits as a CSV).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "apps/common/experiment.h"

namespace cyg::app {

struct Evaluation {
  double loss = 0, accuracy = 0;
  int64_t images = 0;
};

// Each image's label and logits, in the loader's order.
struct Predictions {
  std::vector<float> logits;  // images x classes
  std::vector<int32_t> labels;
};

// One pass over the loader in eval mode and without gradients; the model is back in
// training mode afterwards. predictions, when given, receives every image's logits.
// With a communicator of several ranks, each evaluates its slice (a sharded loader) and
// the result is that of every slice together.
Evaluation evaluate(nn::Module& model, Loader& loader, Predictions* predictions = nullptr,
                    Communicator* communicator = nullptr);

// Loads the checkpoint into the experiment's model, prints its loss and accuracy on the
// validation split and, unless predictions_path is empty, writes
// index,label,pred,logit_0,... there. Returns the exit code.
int evaluate_checkpoint(Experiment& experiment, const std::string& checkpoint, const std::string& predictions_path);

}  // namespace cyg::app
