// Training metrics kept on the device: after each step, loss_sum += loss * count and
// correct_sum += correct, so the host reads them once per logging interval instead of
// synchronising every step; and the step's loss goes into the next slot of a small ring
// for steps.csv. The slot counter lives on the device too, so that a step captured in a
// CUDA graph fills a new slot at every replay; the host reads the ring and sets the
// counter back to 0 before `capacity` steps (a step past it keeps only the sums).
#pragma once
#include "kernels/common.h"

namespace cyg {

CYG_HD void accumulate_metrics_op(float* loss_sum, int64_t* correct_sum, float* step_losses, int64_t* next_slot,
                                  int64_t capacity, float loss, int64_t correct, float count) {
  *loss_sum += loss * count;
  *correct_sum += correct;
  const int64_t slot = *next_slot;
  if (slot < capacity) step_losses[slot] = loss;
  *next_slot = slot + 1;
}

void accumulate_metrics_cpu(float* loss_sum, int64_t* correct_sum, float* step_losses, int64_t* next_slot,
                            int64_t capacity, const float* loss, const int64_t* correct, float count);
CYG_CUDA_DECL(void accumulate_metrics_cuda(float* loss_sum, int64_t* correct_sum, float* step_losses,
                                           int64_t* next_slot, int64_t capacity, const float* loss,
                                           const int64_t* correct, float count, const LaunchConfig& cfg = {}))

}  // namespace cyg
