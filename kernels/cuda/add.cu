// add (y = a + b) and axpy (y += alpha * x): one thread per element, grid-stride;
// bound by memory bandwidth. increment: one thread adds to a counter in device memory.
#include "kernels/add.h"
#include "kernels/cuda/launch.h"

namespace cyg::CYG_KNS {
namespace {
template <typename S>
__global__ void CYG_LAUNCH_BOUNDS add_kernel(const S* a, const S* b, S* y, int64_t n) {
  CYG_GRID_STRIDE_LOOP(i, n) store(&y[i], add_op(widen(a[i]), widen(b[i])));
}

__global__ void CYG_LAUNCH_BOUNDS axpy_kernel(float alpha, const float* x, float* y, int64_t n) {
  CYG_GRID_STRIDE_LOOP(i, n) y[i] = axpy_op(alpha, x[i], y[i]);
}
__global__ void CYG_LAUNCH_BOUNDS increment_kernel(int64_t* counter, int64_t by) {
  if (blockIdx.x == 0 && threadIdx.x == 0) *counter += by;
}
}  // namespace

void increment_cuda(int64_t* counter, int64_t by, const LaunchConfig& cfg) {
  count_traffic(__func__, sizeof(int64_t), sizeof(int64_t));
  CYG_LAUNCH(increment_kernel, 1, 32, 0, stream_of(cfg), counter, by);
  CYG_CHECK_LAUNCH();
}

template <typename S>
void add_cuda(const S* a, const S* b, S* y, int64_t n, const LaunchConfig& cfg) {
  if (n == 0) return;
  count_traffic(__func__, 2 * sizeof(S) * n, sizeof(S) * n);
  CYG_LAUNCH(add_kernel<S>, grid_size(n, cfg), block_size(cfg), 0, stream_of(cfg), a, b, y, n);
  CYG_CHECK_LAUNCH();
}
template void add_cuda<float>(const float*, const float*, float*, int64_t, const LaunchConfig&);
template void add_cuda<uint16_t>(const uint16_t*, const uint16_t*, uint16_t*, int64_t, const LaunchConfig&);

void axpy_cuda(float alpha, const float* x, float* y, int64_t n, const LaunchConfig& cfg) {
  if (n == 0) return;
  count_traffic(__func__, 8 * n, 4 * n);
  CYG_LAUNCH(axpy_kernel, grid_size(n, cfg), block_size(cfg), 0, stream_of(cfg), alpha, x, y, n);
  CYG_CHECK_LAUNCH();
}

}  // namespace cyg::CYG_KNS
