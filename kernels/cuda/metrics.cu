// Metric accumulation: a single thread reads the step's loss and correct count from
// device memory and adds them to the running sums; bound by launch latency.
#include "kernels/cuda/launch.h"
#include "kernels/metrics.h"

namespace cyg::CYG_KNS {
namespace {
__global__ void CYG_LAUNCH_BOUNDS accumulate_metrics_kernel(float* loss_sum, int64_t* correct_sum, float* step_losses,
                                          int64_t* next_slot, int64_t capacity, const float* loss,
                                          const int64_t* correct, float count, MetricsPart part) {
  if (blockIdx.x == 0 && threadIdx.x == 0)
    accumulate_metrics_op(loss_sum, correct_sum, step_losses, next_slot, capacity, *loss, *correct, count, part);
}
}  // namespace

void accumulate_metrics_cuda(float* loss_sum, int64_t* correct_sum, float* step_losses, int64_t* next_slot,
                             int64_t capacity, const float* loss, const int64_t* correct, float count,
                             MetricsPart part, const LaunchConfig& cfg) {
  count_traffic(__func__, 4 + 8 + 8 + 4 + 8, 4 + 8 + 8 + 4);
  CYG_LAUNCH(accumulate_metrics_kernel, 1, 32, 0, stream_of(cfg), loss_sum, correct_sum, step_losses, next_slot,
             capacity, loss, correct, count, part);
  CYG_CHECK_LAUNCH();
}

}  // namespace cyg::CYG_KNS
