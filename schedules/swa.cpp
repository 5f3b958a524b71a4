// SWALR's closed form. PyTorch computes it recursively from the previous epoch's lr
// (undoing the previous alpha, then applying the new one); both give
// target_lr * alpha + start_lr * (1 - alpha).
#include "schedules/swa.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace cyg::sched {

Interpolation anneal_of(const std::string& strategy) {
  if (strategy == "cos") return Interpolation::Cosine;
  if (strategy == "linear") return Interpolation::Linear;
  throw std::invalid_argument("anneal strategy '" + strategy + "': expected cos or linear");
}

double swa_lr(double start_lr, double target_lr, int64_t anneal_epochs, Interpolation anneal, int64_t epochs_in) {
  if (!(std::isfinite(start_lr) && start_lr >= 0)) throw std::invalid_argument("start lr must be finite and >= 0");
  if (!(std::isfinite(target_lr) && target_lr >= 0)) throw std::invalid_argument("swa_lr must be finite and >= 0");
  if (anneal_epochs < 0) throw std::invalid_argument("anneal_epochs must be >= 0");
  if (epochs_in < 0) throw std::invalid_argument("epochs_in must be >= 0");
  // SWALR: with anneal_epochs 0, its first step already counts as step 1.
  const int64_t step = anneal_epochs == 0 ? std::max<int64_t>(1, epochs_in) : epochs_in;
  const double t = std::min(1.0, static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, anneal_epochs)));
  return interpolate(start_lr, target_lr, t, anneal);
}

}  // namespace cyg::sched
