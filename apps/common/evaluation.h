// Evaluation: a model's mean loss and accuracy over a loader's epoch, and the evaluate
// app (a checkpoint's loss and accuracy on the validation split, optionally each
// image's logits as a CSV).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "apps/common/command_line.h"
#include "apps/common/experiment.h"

namespace cyg::app {

struct Evaluation {
  double loss = 0, accuracy = 0;
  int64_t images = 0;
};

// Each image's label and logits, in the loader's order, and where it stands in the
// epoch's order (Batch::first_position on): for the unshuffled validation loader, the
// image's index in the dataset, also when each rank evaluates its slice.
struct Predictions {
  std::vector<float> logits;  // images x classes
  std::vector<int32_t> labels;
  std::vector<int64_t> positions;
};

// One pass over the loader in eval mode and without gradients; the model is back in
// training mode afterwards. predictions, when given, receives every image's logits.
// With a communicator of several ranks, each evaluates its slice (a sharded loader) and
// the result is that of every slice together.
Evaluation evaluate(nn::Module& model, Loader& loader, Predictions* predictions = nullptr,
                    Communicator* communicator = nullptr);

// Test-time augmentation (fastai's tta): two views' predictions of the same images, in
// the same order (their labels must agree), combined by averaging each image's class
// probabilities. The loss is the mean over images of -log of the true class's averaged
// probability; the prediction is the average's argmax. averaged, when given, receives
// each image's log of the averaged probabilities: logits whose softmax is the average.
// The evaluate app's --tta takes each image and its mirror (Experiment::mirrored_val_loader).
Evaluation average_of_views(const Predictions& a, const Predictions& b, int64_t classes, Predictions* averaged);

// Each class's images and how they were predicted: counts[label * classes + pred], the
// prediction being the row's argmax as the correct count takes it (kernels/loss.h).
struct Confusion {
  int64_t classes = 0;
  std::vector<int64_t> counts;
  int64_t images_of(int64_t label) const;
  int64_t correct_of(int64_t label) const { return counts[static_cast<size_t>(label * classes + label)]; }
};
Confusion confusion_of(const Predictions& predictions, int64_t classes);
// A class's scores as scikit-learn's classification_report gives them: precision (of the
// images predicted as the class, the share that are), recall (of the class's images, the
// share predicted as it: its accuracy), F1 (their harmonic mean) and support (its
// images). A ratio with nothing to divide by is 0, as sklearn's zero_division default
// makes it.
struct ClassScores {
  double precision = 0, recall = 0, f1 = 0;
  int64_t support = 0, predicted = 0;
};
ClassScores class_scores(const Confusion& c, int64_t label);
// Their averages over the classes that have images or predictions (sklearn's labels):
// unweighted (macro) and weighted by support; support: all the images.
ClassScores macro_average(const Confusion& c);
ClassScores weighted_average(const Confusion& c);
// The same over every rank's predictions (a collective: each rank calls it).
Confusion confusion_of(const Predictions& predictions, int64_t classes, Communicator* communicator);
// The most frequent mistakes (fastai's most_confused): up to `count` (true, predicted)
// pairs of different classes, each made at least once, the most images first, ties in
// (true, predicted) order.
struct ConfusedPair {
  int64_t label = 0, pred = 0, images = 0;
};
std::vector<ConfusedPair> most_confused(const Confusion& c, int64_t count);
// A class's name: the dataset's, or "class k".
std::string class_name(const std::vector<std::string>& names, int64_t label);
// The per-class accuracies, the classification report (precision, recall, F1 and support
// per class up to 20 classes, and their macro and weighted averages), the five most
// confused pairs and, for up to 12 classes, the matrix, as printed; names where the
// dataset has them.
std::string confusion_report(const Confusion& c, const std::vector<std::string>& names);
// label,name,pred_0,...,images,accuracy,precision,f1: one row per true class.
std::string confusion_csv(const Confusion& c, const std::vector<std::string>& names);

// Loads the checkpoint into the experiment's model and evaluates it on the validation
// split as `request` says. Returns the exit code.
int evaluate_checkpoint(Experiment& experiment, const EvaluateRequest& request);

}  // namespace cyg::app
