// cast between f32 and bf16 (bf16 held as its 16 raw bits; round to nearest even).
#pragma once
#include "kernels/common.h"

namespace cyg {

void cast_f32_to_bf16_cpu(const float* x, uint16_t* y, int64_t n);
void cast_bf16_to_f32_cpu(const uint16_t* x, float* y, int64_t n);
CYG_CUDA_DECL(void cast_f32_to_bf16_cuda(const float* x, uint16_t* y, int64_t n, const LaunchConfig& cfg = {}))
CYG_CUDA_DECL(void cast_bf16_to_f32_cuda(const uint16_t* x, float* y, int64_t n, const LaunchConfig& cfg = {}))

// A convolution filter's channels-last copy ([OC, KH, KW, C], cuDNN's KRSC): where
// element i of the [OC, C, KH*KW] (OIHW) filter lives in it.
CYG_HD int64_t krsc_offset(int64_t i, int64_t C, int64_t area) {
  const int64_t per_filter = C * area;
  const int64_t o = i / per_filter, r = i - o * per_filter, c = r / area;
  return (o * area + (r - c * area)) * C + c;
}

// A KRSC bf16 filter gradient widened into the OIHW f32 one (a parameter's .grad), in one
// pass: oihw[i] = krsc[krsc_offset(i, C, area)].
void widen_krsc_to_oihw_cpu(const uint16_t* krsc, float* oihw, int64_t OC, int64_t C, int64_t area);
CYG_CUDA_DECL(void widen_krsc_to_oihw_cuda(const uint16_t* krsc, float* oihw, int64_t OC, int64_t C, int64_t area,
                                           const LaunchConfig& cfg = {}))

}  // namespace cyg
