// ReLU: y = max(x, 0) (NaN passes through, as in PyTorch); backward dx = dy where y > 0.
#pragma once
#include "kernels/common.h"

namespace cyg {

template <typename T>
CYG_HD T relu_forward_op(T x) {
  return x < T(0) ? T(0) : x;
}
template <typename T>
CYG_HD T relu_backward_op(T dy, T y) {
  return y > T(0) ? dy : T(0);
}

// T = float or double (double for the finite-difference checks).
template <typename T>
void relu_forward_cpu(const T* x, T* y, int64_t n);
template <typename T>
void relu_backward_cpu(const T* dy, const T* y, T* dx, int64_t n);
CYG_CUDA_DECL(void relu_forward_cuda(const float* x, float* y, int64_t n, const LaunchConfig& cfg = {}))
CYG_CUDA_DECL(void relu_backward_cuda(const float* dy, const float* y, float* dx, int64_t n,
                                      const LaunchConfig& cfg = {}))

}  // namespace cyg
