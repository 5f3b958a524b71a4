// cast f32 <-> bf16: one thread per element, grid-stride; bound by memory bandwidth.
#include "kernels/cast.h"
#include "kernels/cuda/launch.h"

namespace cyg::CYG_KNS {
namespace {
__global__ void cast_f32_to_bf16_kernel(const float* x, uint16_t* y, int64_t n) {
  CYG_GRID_STRIDE_LOOP(i, n) y[i] = float_to_bf16(x[i]);
}

__global__ void cast_bf16_to_f32_kernel(const uint16_t* x, float* y, int64_t n) {
  CYG_GRID_STRIDE_LOOP(i, n) y[i] = bf16_to_float(x[i]);
}
}  // namespace

void cast_f32_to_bf16_cuda(const float* x, uint16_t* y, int64_t n, const LaunchConfig& cfg) {
  if (n == 0) return;
  count_traffic(__func__, 4 * n, 2 * n);
  CYG_LAUNCH(cast_f32_to_bf16_kernel, grid_size(n, cfg), block_size(cfg), 0, stream_of(cfg), x, y, n);
  CYG_CHECK_LAUNCH();
}

void cast_bf16_to_f32_cuda(const uint16_t* x, float* y, int64_t n, const LaunchConfig& cfg) {
  if (n == 0) return;
  count_traffic(__func__, 2 * n, 4 * n);
  CYG_LAUNCH(cast_bf16_to_f32_kernel, grid_size(n, cfg), block_size(cfg), 0, stream_of(cfg), x, y, n);
  CYG_CHECK_LAUNCH();
}

}  // namespace cyg::CYG_KNS
