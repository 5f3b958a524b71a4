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

}  // namespace cyg
