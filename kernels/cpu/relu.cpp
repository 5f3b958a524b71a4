// ReLU forward and backward, CPU reference.
#include "kernels/relu.h"

namespace cyg {

template <typename T>
void relu_forward_cpu(const T* x, T* y, int64_t n) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) y[i] = relu_forward_op(x[i]);
}

template <typename T>
void relu_backward_cpu(const T* dy, const T* y, T* dx, int64_t n) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) dx[i] = relu_backward_op(dy[i], y[i]);
}

template void relu_forward_cpu<float>(const float*, float*, int64_t);
template void relu_forward_cpu<double>(const double*, double*, int64_t);
template void relu_backward_cpu<float>(const float*, const float*, float*, int64_t);
template void relu_backward_cpu<double>(const double*, const double*, double*, int64_t);

}  // namespace cyg
