// Training metrics kept on the device: after each step, loss_sum += loss * count and
// correct_sum += correct, so the host reads them once per logging interval instead of
// synchronising every step; and the step's loss is kept in a small ring for steps.csv.
#pragma once
#include "kernels/common.h"

namespace cyg {

CYG_HD void accumulate_metrics_op(float* loss_sum, int64_t* correct_sum, float* step_losses, int64_t slot, float loss,
                                  int64_t correct, float count) {
  *loss_sum += loss * count;
  *correct_sum += correct;
  step_losses[slot] = loss;
}

void accumulate_metrics_cpu(float* loss_sum, int64_t* correct_sum, float* step_losses, int64_t slot, const float* loss,
                            const int64_t* correct, float count);
CYG_CUDA_DECL(void accumulate_metrics_cuda(float* loss_sum, int64_t* correct_sum, float* step_losses, int64_t slot,
                                           const float* loss, const int64_t* correct, float count,
                                           const LaunchConfig& cfg = {}))

}  // namespace cyg
