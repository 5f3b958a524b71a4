// ReLU: y = max(x, 0) (NaN passes through, as in PyTorch); backward dx = dy where y > 0.
#pragma once
#include "kernels/common.h"

namespace cyg {

template <typename T>
CYG_HD T relu_forward_op(T x) {
  return x < T(0) ? T(0) : x;
}
// Whether the ReLU passed its input on (y > 0): where its backward lets dy through.
template <typename T>
CYG_HD bool relu_passes(T y) {
  return y > T(0);
}
// dy through the ReLU, from whether it passed (relu_passes).
template <typename T>
CYG_HD T relu_backward_from_mask(T dy, bool passes) {
  return passes ? dy : T(0);
}
template <typename T>
CYG_HD T relu_backward_op(T dy, T y) {
  return relu_backward_from_mask(dy, relu_passes(y));
}

// The ReLU's mask as bits (a fused batchnorm's, kernels/batchnorm.h): bit i % 8 of byte
// i / 8 set where relu_passes(y[i]), i the value's offset in memory; ceil(numel / 8) bytes.
CYG_HD int64_t relu_mask_bytes(int64_t numel) { return (numel + 7) / 8; }
CYG_HD bool relu_mask_bit(const uint8_t* mask, int64_t i) { return ((mask[i >> 3] >> (i & 7)) & 1) != 0; }
// The byte of `count` (at most 8) consecutive outputs from y[0] (in bit 0), y stored as S
// (float, double or bf16 bits).
template <typename S>
CYG_HD uint8_t relu_mask_byte(const S* y, int count) {
  unsigned bits = 0;
  for (int k = 0; k < count; ++k) bits |= (relu_passes(widen(y[k])) ? 1u : 0u) << k;
  return static_cast<uint8_t>(bits);
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
