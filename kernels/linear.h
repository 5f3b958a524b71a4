// Fully connected layer: y[N, out] = x[N, in] w[out, in]^T + b[out], and its backward.
// CPU reference through gemm_cpu; the CUDA path makes the same three products with
// cuBLAS (engine/functional.cpp).
#pragma once
#include "kernels/common.h"

namespace cyg {

// bias may be null.
template <typename T>
void linear_forward_cpu(const T* x, const T* w, const T* bias, int64_t N, int64_t in, int64_t out, T* y);
// Any of dx, dw, db may be null (not wanted); each is overwritten.
template <typename T>
void linear_backward_cpu(const T* dy, const T* x, const T* w, int64_t N, int64_t in, int64_t out, T* dx, T* dw,
                         T* db);

// bf16 autocast: x and w bf16, products accumulated in fp32; y (the logits) f32, bias f32.
// The backward rounds dy to bf16 (the autocast's cast back) for both products; dx is
// bf16, dw and db f32 (the master weights' gradients).
void linear_forward_bf16_cpu(const uint16_t* x, const uint16_t* w, const float* bias, int64_t N, int64_t in,
                             int64_t out, float* y);
void linear_backward_bf16_cpu(const float* dy, const uint16_t* x, const uint16_t* w, int64_t N, int64_t in,
                              int64_t out, uint16_t* dx, float* dw, float* db);

}  // namespace cyg
