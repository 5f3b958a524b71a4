// scale: y = alpha * x (in place when y == x).
#pragma once
#include "kernels/common.h"

namespace cyg {

CYG_HD float scale_op(float alpha, float x) { return alpha * x; }

void scale_cpu(float alpha, const float* x, float* y, int64_t n);
CYG_CUDA_DECL(void scale_cuda(float alpha, const float* x, float* y, int64_t n, const LaunchConfig& cfg = {}))

}  // namespace cyg
