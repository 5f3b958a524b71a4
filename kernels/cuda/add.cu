// add (y = a + b) and axpy (y += alpha * x): one thread per element, grid-stride;
// bound by memory bandwidth. increment: one thread adds to a counter in device memory.
#include "kernels/add.h"
#include "kernels/cuda/launch.h"

namespace cyg::CYG_KNS {
namespace {
__global__ void add_kernel(const float* a, const float* b, float* y, int64_t n) {
  CYG_GRID_STRIDE_LOOP(i, n) y[i] = add_op(a[i], b[i]);
}

__global__ void axpy_kernel(float alpha, const float* x, float* y, int64_t n) {
  CYG_GRID_STRIDE_LOOP(i, n) y[i] = axpy_op(alpha, x[i], y[i]);
}
__global__ void increment_kernel(int64_t* counter, int64_t by) {
  if (blockIdx.x == 0 && threadIdx.x == 0) *counter += by;
}
}  // namespace

void increment_cuda(int64_t* counter, int64_t by, const LaunchConfig& cfg) {
  count_traffic(__func__, sizeof(int64_t), sizeof(int64_t));
  CYG_LAUNCH(increment_kernel, 1, 32, 0, stream_of(cfg), counter, by);
  CYG_CHECK_LAUNCH();
}

void add_cuda(const float* a, const float* b, float* y, int64_t n, const LaunchConfig& cfg) {
  if (n == 0) return;
  count_traffic(__func__, 8 * n, 4 * n);
  CYG_LAUNCH(add_kernel, grid_size(n, cfg), block_size(cfg), 0, stream_of(cfg), a, b, y, n);
  CYG_CHECK_LAUNCH();
}

void axpy_cuda(float alpha, const float* x, float* y, int64_t n, const LaunchConfig& cfg) {
  if (n == 0) return;
  count_traffic(__func__, 8 * n, 4 * n);
  CYG_LAUNCH(axpy_kernel, grid_size(n, cfg), block_size(cfg), 0, stream_of(cfg), alpha, x, y, n);
  CYG_CHECK_LAUNCH();
}

}  // namespace cyg::CYG_KNS
