// Training metrics kept on the device: after each step, loss_sum += loss * count and
// correct_sum += correct, so the host reads them once per logging interval instead of
// synchronising every step; and the step's loss goes into the next slot of a small ring
// for steps.csv. The slot counter lives on the device too, so that a step captured in a
// CUDA graph fills a new slot at every replay; the host reads the ring and sets the
// counter back to 0 before `capacity` steps (a step past it keeps only the sums).
#pragma once
#include "kernels/common.h"

namespace cyg {

// A step may come in parts (micro-batches whose gradients are summed into one update):
// part `index` of `count`, holding `images` of the step's `step_images`. Each part adds
// its share of the step's mean loss into the step's slot (the first part writes it),
// and only the last part moves on to the next slot. One part: the loss as it is.
struct MetricsPart {
  int index = 0;
  int count = 1;
  float step_images = 0.0f;
};

CYG_HD void accumulate_metrics_op(float* loss_sum, int64_t* correct_sum, float* step_losses, int64_t* next_slot,
                                  int64_t capacity, float loss, int64_t correct, float count,
                                  MetricsPart part = MetricsPart{}) {
  *loss_sum += loss * count;
  *correct_sum += correct;
  const int64_t slot = *next_slot;
  if (slot < capacity) {
    const float share = part.count == 1 ? loss : loss * (count / part.step_images);
    step_losses[slot] = part.index == 0 ? share : step_losses[slot] + share;
  }
  if (part.index == part.count - 1) *next_slot = slot + 1;
}

void accumulate_metrics_cpu(float* loss_sum, int64_t* correct_sum, float* step_losses, int64_t* next_slot,
                            int64_t capacity, const float* loss, const int64_t* correct, float count,
                            MetricsPart part);
CYG_CUDA_DECL(void accumulate_metrics_cuda(float* loss_sum, int64_t* correct_sum, float* step_losses,
                                           int64_t* next_slot, int64_t capacity, const float* loss,
                                           const int64_t* correct, float count, MetricsPart part,
                                           const LaunchConfig& cfg = {}))

}  // namespace cyg
