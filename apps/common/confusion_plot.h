// The confusion matrix as a picture (fastai's ClassificationInterpretation
// .plot_confusion_matrix): one self-contained SVG, a row per true class and a column per
// predicted class, each cell shaded by its share of the row and labelled with its count.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "apps/common/evaluation.h"

namespace cyg::app {

// The most classes the picture draws (beyond it, the cells are too small to read); the
// counts are written in the cells up to kConfusionCountsUpTo classes.
constexpr int64_t kMostConfusionPictureClasses = 40;
constexpr int64_t kConfusionCountsUpTo = 20;

// A cell's fill for the share of its row it holds, in [0, 1]: white through light blue
// to dark blue (as matplotlib's "Blues", which fastai's picture uses), "#rrggbb". A share
// outside [0, 1] (or NaN) is clamped into it (NaN: 0).
std::string confusion_shade(double share);

// The picture: rows the true classes, columns the predicted ones (named by `names` where
// the dataset has names), each cell's fill confusion_shade(count / images of the row) and,
// up to kConfusionCountsUpTo classes, its count written in it; each row's accuracy at its
// right; `title` above and `subtitle` (smaller: the checkpoint, say) under it. Every cell
// has a tooltip: true, predicted, count and share. Throws cyg::Error for no classes or more
// than kMostConfusionPictureClasses.
std::string confusion_svg(const Confusion& confusion, const std::vector<std::string>& names, const std::string& title,
                          const std::string& subtitle);

}  // namespace cyg::app
