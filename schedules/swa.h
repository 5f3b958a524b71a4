// Stochastic weight averaging's learning rate: PyTorch's torch.optim.swa_utils.SWALR,
// created when averaging starts and stepped once per epoch (as Lightning's
// StochasticWeightAveraging callback does). From the lr it starts with, it anneals to
// swa_lr over anneal_epochs epochs and stays there.
#pragma once

#include <cstdint>
#include <string>

#include "schedules/interpolation.h"

namespace cyg::sched {

// SWALR's anneal_strategy: "cos" or "linear"; throws std::invalid_argument otherwise.
Interpolation anneal_of(const std::string& strategy);

// The lr of the epoch `epochs_in` epochs after averaging started (0: the first epoch
// under SWALR, which keeps start_lr unless anneal_epochs is 0), target_lr being SWALR's
// swa_lr: target_lr * alpha + start_lr * (1 - alpha), alpha the annealing function of
// min(1, epochs_in / max(1, anneal_epochs)), and 1 from the first epoch when anneal_epochs
// is 0. Throws std::invalid_argument naming a parameter out of its range.
double swa_lr(double start_lr, double target_lr, int64_t anneal_epochs, Interpolation anneal, int64_t epochs_in);

}  // namespace cyg::sched
