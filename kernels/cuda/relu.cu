// ReLU forward (y = max(x, 0)) and backward (dx = dy where y > 0): one thread per
// element, grid-stride; bound by memory bandwidth.
#include "kernels/cuda/launch.h"
#include "kernels/relu.h"

namespace cyg::CYG_KNS {
namespace {
__global__ void CYG_LAUNCH_BOUNDS relu_forward_kernel(const float* x, float* y, int64_t n) {
  CYG_GRID_STRIDE_LOOP(i, n) y[i] = relu_forward_op(x[i]);
}

__global__ void CYG_LAUNCH_BOUNDS relu_backward_kernel(const float* dy, const float* y, float* dx, int64_t n) {
  CYG_GRID_STRIDE_LOOP(i, n) dx[i] = relu_backward_op(dy[i], y[i]);
}
}  // namespace

void relu_forward_cuda(const float* x, float* y, int64_t n, const LaunchConfig& cfg) {
  if (n == 0) return;
  count_traffic(__func__, 4 * n, 4 * n);
  CYG_LAUNCH(relu_forward_kernel, grid_size(n, cfg), block_size(cfg), 0, stream_of(cfg), x, y, n);
  CYG_CHECK_LAUNCH();
}

void relu_backward_cuda(const float* dy, const float* y, float* dx, int64_t n, const LaunchConfig& cfg) {
  if (n == 0) return;
  count_traffic(__func__, 8 * n, 4 * n);
  CYG_LAUNCH(relu_backward_kernel, grid_size(n, cfg), block_size(cfg), 0, stream_of(cfg), dy, y, dx, n);
  CYG_CHECK_LAUNCH();
}

}  // namespace cyg::CYG_KNS
