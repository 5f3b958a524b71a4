// ReLU: y = max(x, 0) (NaN passes through, as in PyTorch); backward dx = dy where y > 0.
#pragma once
#include "kernels/common.h"

namespace cyg {

CYG_HD float relu_forward_op(float x) { return x < 0.0f ? 0.0f : x; }
CYG_HD float relu_backward_op(float dy, float y) { return y > 0.0f ? dy : 0.0f; }

void relu_forward_cpu(const float* x, float* y, int64_t n);
void relu_backward_cpu(const float* dy, const float* y, float* dx, int64_t n);
CYG_CUDA_DECL(void relu_forward_cuda(const float* x, float* y, int64_t n, const LaunchConfig& cfg = {}))
CYG_CUDA_DECL(void relu_backward_cuda(const float* dy, const float* y, float* dx, int64_t n,
                                      const LaunchConfig& cfg = {}))

}  // namespace cyg
