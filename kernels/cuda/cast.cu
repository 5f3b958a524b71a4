// cast f32 <-> bf16: one thread per element, grid-stride; bound by memory bandwidth.
// The KRSC filter gradient's widening writes in order and gathers its reads (a filter is
// small: its reads stay in L2).
#include "kernels/cast.h"
#include "kernels/cuda/launch.h"

namespace cyg::CYG_KNS {
namespace {
__global__ void CYG_LAUNCH_BOUNDS cast_f32_to_bf16_kernel(const float* x, uint16_t* y, int64_t n) {
  CYG_GRID_STRIDE_LOOP(i, n) y[i] = float_to_bf16(x[i]);
}

__global__ void CYG_LAUNCH_BOUNDS cast_bf16_to_f32_kernel(const uint16_t* x, float* y, int64_t n) {
  CYG_GRID_STRIDE_LOOP(i, n) y[i] = bf16_to_float(x[i]);
}

__global__ void CYG_LAUNCH_BOUNDS widen_krsc_to_oihw_kernel(const uint16_t* krsc, float* oihw, int64_t n, int64_t C, int64_t area) {
  CYG_GRID_STRIDE_LOOP(i, n) oihw[i] = bf16_to_float(krsc[krsc_offset(i, C, area)]);
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

void widen_krsc_to_oihw_cuda(const uint16_t* krsc, float* oihw, int64_t OC, int64_t C, int64_t area,
                             const LaunchConfig& cfg) {
  const int64_t n = OC * C * area;
  if (n == 0) return;
  count_traffic(__func__, 2 * n, 4 * n);
  CYG_LAUNCH(widen_krsc_to_oihw_kernel, grid_size(n, cfg), block_size(cfg), 0, stream_of(cfg), krsc, oihw, n, C,
             area);
  CYG_CHECK_LAUNCH();
}

}  // namespace cyg::CYG_KNS
