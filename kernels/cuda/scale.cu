// scale (y = alpha * x): one thread per element, grid-stride; bound by memory bandwidth.
#include "kernels/cuda/launch.h"
#include "kernels/scale.h"

namespace cyg::CYG_KNS {
namespace {
__global__ void CYG_LAUNCH_BOUNDS scale_kernel(float alpha, const float* x, float* y, int64_t n) {
  CYG_GRID_STRIDE_LOOP(i, n) y[i] = scale_op(alpha, x[i]);
}
}  // namespace

void scale_cuda(float alpha, const float* x, float* y, int64_t n, const LaunchConfig& cfg) {
  if (n == 0) return;
  count_traffic(__func__, 4 * n, 4 * n);
  CYG_LAUNCH(scale_kernel, grid_size(n, cfg), block_size(cfg), 0, stream_of(cfg), alpha, x, y, n);
  CYG_CHECK_LAUNCH();
}

}  // namespace cyg::CYG_KNS
