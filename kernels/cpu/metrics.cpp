// Metric accumulation, CPU reference.
#include "kernels/metrics.h"

namespace cyg {

void accumulate_metrics_cpu(float* loss_sum, int64_t* correct_sum, float* step_losses, int64_t* next_slot,
                            int64_t capacity, const float* loss, const int64_t* correct, float count,
                            MetricsPart part) {
  accumulate_metrics_op(loss_sum, correct_sum, step_losses, next_slot, capacity, *loss, *correct, count, part);
}

}  // namespace cyg
