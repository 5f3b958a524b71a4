// The images a model gets most wrong (fastai's plot_top_losses): each validation image's
// loss from its logits, the highest first, as a table and as an SVG of the images with
// their true and predicted classes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "apps/common/evaluation.h"
#include "data/datasets.h"

namespace cyg::app {

struct TopLoss {
  // The image's index in the validation split (Predictions::positions; its place in the
  // predictions where they have none).
  int64_t index = 0;
  int64_t label = 0, pred = 0;
  double loss = 0;              // -log of the softmax probability of the true class
  double label_probability = 0, pred_probability = 0;
};

// The `count` images with the highest loss (all of them where there are fewer), highest
// first (a NaN loss, from NaN logits, first of all), ties in index order. The loss is the cross-entropy of the image's logits (for
// test-time augmentation's predictions, whose logits are log-probabilities, that of the
// averaged probabilities).
std::vector<TopLoss> top_losses(const Predictions& predictions, int64_t classes, int64_t count);
// The same over every rank's predictions (a collective: each rank calls it, and each gets
// the result).
std::vector<TopLoss> top_losses(const Predictions& predictions, int64_t classes, int64_t count,
                                Communicator* communicator);

// How many a finished run's page and summary show, and the evaluate app's picture unless
// --top-losses says; and the most the app lists.
constexpr int64_t kRunTopLosses = 16;
constexpr int64_t kMostTopLosses = 10000;

// One line per image: rank, index, true and predicted class (by name where the dataset
// has names), loss and the two probabilities, and the image's file where `files` (by
// index, a dataset's) has them.
std::string top_losses_report(const std::vector<TopLoss>& top, const std::vector<std::string>& names,
                              const std::vector<std::string>& files = {});

// A self-contained SVG: each image (from `images`, u8 [N, C, H, W] with C 1 or 3, indexed
// by TopLoss::index) enlarged to about 96 pixels a side without smoothing, under it its
// true and predicted classes, the loss and the true class's probability; `title` above,
// and `subtitle` (smaller: the checkpoint, say) under it. Where `files` (by index, a
// dataset's) has the images' files, each is named by its file's name (its last 16
// characters) instead of its index.
std::string top_losses_svg(const std::vector<TopLoss>& top, const Tensor& images, const std::vector<std::string>& names,
                           const std::string& title, const std::string& subtitle,
                           const std::vector<std::string>& files = {});

}  // namespace cyg::app
