// Fully connected layer, CPU reference: dx = dy w, dw = dy^T x, db = column sums of dy.
#include "kernels/linear.h"

#include <vector>

#include "kernels/bias.h"
#include "kernels/cast.h"
#include "kernels/gemm.h"

namespace cyg {

template <typename T>
void linear_forward_cpu(const T* x, const T* w, const T* bias, int64_t N, int64_t in, int64_t out, T* y) {
  gemm_cpu<T>(Transpose::No, Transpose::Yes, N, out, in, T(1), x, w, T(0), y);
  if (bias) bias_add_cpu<T>(y, bias, N, out, 1);
}

template <typename T>
void linear_backward_cpu(const T* dy, const T* x, const T* w, int64_t N, int64_t in, int64_t out, T* dx, T* dw,
                         T* db) {
  if (dx) gemm_cpu<T>(Transpose::No, Transpose::No, N, in, out, T(1), dy, w, T(0), dx);
  if (dw) gemm_cpu<T>(Transpose::Yes, Transpose::No, out, in, N, T(1), dy, x, T(0), dw);
  if (db) bias_grad_cpu<T>(dy, N, out, 1, db);
}

void linear_forward_bf16_cpu(const uint16_t* x, const uint16_t* w, const float* bias, int64_t N, int64_t in,
                             int64_t out, float* y) {
  gemm_bf16_cpu<float>(Transpose::No, Transpose::Yes, N, out, in, 1.0f, x, w, 0.0f, y);
  if (bias) bias_add_cpu<float>(y, bias, N, out, 1);
}

void linear_backward_bf16_cpu(const float* dy, const uint16_t* x, const uint16_t* w, int64_t N, int64_t in,
                              int64_t out, uint16_t* dx, float* dw, float* db) {
  std::vector<uint16_t> dy_bf16(static_cast<size_t>(N * out));
  cast_f32_to_bf16_cpu(dy, dy_bf16.data(), N * out);
  if (dx) gemm_bf16_cpu<uint16_t>(Transpose::No, Transpose::No, N, in, out, 1.0f, dy_bf16.data(), w, 0.0f, dx);
  if (dw) gemm_bf16_cpu<float>(Transpose::Yes, Transpose::No, out, in, N, 1.0f, dy_bf16.data(), x, 0.0f, dw);
  if (db) bias_grad_cpu<float>(dy, N, out, 1, db);
}

template void linear_forward_cpu<float>(const float*, const float*, const float*, int64_t, int64_t, int64_t, float*);
template void linear_forward_cpu<double>(const double*, const double*, const double*, int64_t, int64_t, int64_t,
                                         double*);
template void linear_backward_cpu<float>(const float*, const float*, const float*, int64_t, int64_t, int64_t, float*,
                                         float*, float*);
template void linear_backward_cpu<double>(const double*, const double*, const double*, int64_t, int64_t, int64_t,
                                          double*, double*, double*);

}  // namespace cyg
