// cast between f32 and bf16 (bf16 held as its 16 raw bits; round to nearest even).
#pragma once
#include "kernels/common.h"

namespace cyg {

void cast_f32_to_bf16_cpu(const float* x, uint16_t* y, int64_t n);
void cast_bf16_to_f32_cpu(const uint16_t* x, float* y, int64_t n);
CYG_CUDA_DECL(void cast_f32_to_bf16_cuda(const float* x, uint16_t* y, int64_t n, const LaunchConfig& cfg = {}))
CYG_CUDA_DECL(void cast_bf16_to_f32_cuda(const uint16_t* x, float* y, int64_t n, const LaunchConfig& cfg = {}))

}  // namespace cyg
