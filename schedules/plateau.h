// Reduce on plateau: PyTorch's ReduceLROnPlateau stepped once per epoch with a
// validation metric. A function of the metrics seen so far, not of the step, so it is
// computed from a run's history (a resumed run replays it) rather than kept as state.
#pragma once

#include <cstdint>
#include <vector>

namespace cyg::sched {

struct PlateauParams {
  bool lower_is_better = true;  // PyTorch's mode: "min" (a loss), or "max" (an accuracy)
  double factor = 0.1;          // the lr is multiplied by it at each reduction; in (0, 1)
  int64_t patience = 10;        // epochs without an improvement allowed before a reduction
  double threshold = 1e-4;      // the least improvement that counts, relative or absolute
  bool relative = true;         // threshold_mode "rel" (a fraction of the best) or "abs"
  int64_t cooldown = 0;         // epochs after a reduction during which bad epochs are not counted
  double min_lr = 0.0;          // no reduction goes below it
  double eps = 1e-8;            // a reduction smaller than this is not made
};

// What the plateau rule says after each epoch: the lr the next epoch takes and whether
// this epoch reduced it.
struct PlateauEpoch {
  double lr;
  bool reduced;
  double best;           // the best value so far (+-inf before any improvement)
  int64_t best_epoch;    // its epoch, 1-based (0: none yet)
};

// The rule applied to `metrics` (one value per epoch, in order) starting from `lr`:
// element k is the state after epoch k + 1. A value that is not a number is never an
// improvement (PyTorch's comparisons with NaN). Throws std::invalid_argument naming a
// parameter out of its range.
std::vector<PlateauEpoch> plateau_lrs(double lr, const std::vector<double>& metrics, const PlateauParams& params);

}  // namespace cyg::sched
