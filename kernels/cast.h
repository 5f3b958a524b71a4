// cast between f32 and bf16 (bf16 held as its 16 raw bits; round to nearest even).
#pragma once
#include "kernels/common.h"

namespace cyg {

void cast_f32_to_bf16_cpu(const float* x, uint16_t* y, int64_t n);
void cast_bf16_to_f32_cpu(const uint16_t* x, float* y, int64_t n);
CYG_CUDA_DECL(void cast_f32_to_bf16_cuda(const float* x, uint16_t* y, int64_t n, const LaunchConfig& cfg = {}))
CYG_CUDA_DECL(void cast_bf16_to_f32_cuda(const uint16_t* x, float* y, int64_t n, const LaunchConfig& cfg = {}))

// A convolution filter's channels-last copy ([OC, KH, KW, C], cuDNN's KRSC): where
// element i of the [OC, C, KH*KW] (OIHW) filter lives in it. A copy padded to
// krsc_C >= C channels (the padding past C) keeps rows of krsc_C.
CYG_HD int64_t krsc_offset(int64_t i, int64_t C, int64_t area, int64_t krsc_C) {
  const int64_t per_filter = C * area;
  const int64_t o = i / per_filter, r = i - o * per_filter, c = r / area;
  return (o * area + (r - c * area)) * krsc_C + c;
}
CYG_HD int64_t krsc_offset(int64_t i, int64_t C, int64_t area) { return krsc_offset(i, C, area, C); }

// A KRSC bf16 filter gradient widened into the OIHW f32 one (a parameter's .grad), in one
// pass: oihw[i] = krsc[krsc_offset(i, C, area, krsc_C)], the gradient of a filter padded
// to krsc_C channels (pad_channels_to_bf16) read without its padding.
void widen_krsc_to_oihw_cpu(const uint16_t* krsc, float* oihw, int64_t OC, int64_t C, int64_t area, int64_t krsc_C);
CYG_CUDA_DECL(void widen_krsc_to_oihw_cuda(const uint16_t* krsc, float* oihw, int64_t OC, int64_t C, int64_t area,
                                           int64_t krsc_C, const LaunchConfig& cfg = {}))

// Channels-last rows of C values copied into rows of padded_C >= C bf16 values, the
// channels past C zero: a convolution's channels-last input and KRSC filter padded to a
// channel count cuDNN's tensor-core kernels take (bf16 NHWC: a multiple of 8). An f32
// source is rounded to bf16 on the way (the input batch, cast and padded in one pass).
// Element i of dst: channel i % padded_C of row i / padded_C.
template <typename S>
CYG_HD uint16_t padded_channel_value(const S* src, int64_t i, int64_t C, int64_t padded_C) {
  const int64_t row = i / padded_C, c = i - row * padded_C;
  if (c >= C) return 0;  // +0.0 in bf16
  if constexpr (sizeof(S) == 2) {
    return src[row * C + c];
  } else {
    return float_to_bf16(src[row * C + c]);
  }
}
template <typename S>
void pad_channels_to_bf16_cpu(const S* src, uint16_t* dst, int64_t rows, int64_t C, int64_t padded_C);
CYG_CUDA_DECL(template <typename S> void pad_channels_to_bf16_cuda(const S* src, uint16_t* dst, int64_t rows,
                                                                   int64_t C, int64_t padded_C,
                                                                   const LaunchConfig& cfg = {}))

}  // namespace cyg
