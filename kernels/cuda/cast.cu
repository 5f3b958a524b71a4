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

__global__ void CYG_LAUNCH_BOUNDS widen_krsc_to_oihw_kernel(const uint16_t* krsc, float* oihw, int64_t n, int64_t C,
                                                            int64_t area, int64_t krsc_C) {
  CYG_GRID_STRIDE_LOOP(i, n) oihw[i] = bf16_to_float(krsc[krsc_offset(i, C, area, krsc_C)]);
}

template <typename S>
__global__ void CYG_LAUNCH_BOUNDS pad_channels_to_bf16_kernel(const S* src, uint16_t* dst, int64_t n, int64_t C,
                                                              int64_t padded_C) {
  CYG_GRID_STRIDE_LOOP(i, n) dst[i] = padded_channel_value(src, i, C, padded_C);
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

void widen_krsc_to_oihw_cuda(const uint16_t* krsc, float* oihw, int64_t OC, int64_t C, int64_t area, int64_t krsc_C,
                             const LaunchConfig& cfg) {
  CYG_CHECK(krsc_C >= C, "a KRSC filter of ", krsc_C, " channels read as ", C);
  const int64_t n = OC * C * area;
  if (n == 0) return;
  count_traffic(__func__, 2 * n, 4 * n);
  CYG_LAUNCH(widen_krsc_to_oihw_kernel, grid_size(n, cfg), block_size(cfg), 0, stream_of(cfg), krsc, oihw, n, C,
             area, krsc_C);
  CYG_CHECK_LAUNCH();
}

template <typename S>
void pad_channels_to_bf16_cuda(const S* src, uint16_t* dst, int64_t rows, int64_t C, int64_t padded_C,
                               const LaunchConfig& cfg) {
  CYG_CHECK(C >= 1 && padded_C >= C, "padding ", C, " channels to ", padded_C);
  const int64_t n = rows * padded_C;
  if (n == 0) return;
  count_traffic(__func__, static_cast<int64_t>(sizeof(S)) * rows * C, 2 * n);
  CYG_LAUNCH(pad_channels_to_bf16_kernel<S>, grid_size(n, cfg), block_size(cfg), 0, stream_of(cfg), src, dst, n, C,
             padded_C);
  CYG_CHECK_LAUNCH();
}
template void pad_channels_to_bf16_cuda<float>(const float*, uint16_t*, int64_t, int64_t, int64_t,
                                               const LaunchConfig&);
template void pad_channels_to_bf16_cuda<uint16_t>(const uint16_t*, uint16_t*, int64_t, int64_t, int64_t,
                                                  const LaunchConfig&);

}  // namespace cyg::CYG_KNS
