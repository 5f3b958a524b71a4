// ReLU forward and backward, CPU reference.
#include "kernels/relu.h"

namespace cyg {

void relu_forward_cpu(const float* x, float* y, int64_t n) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) y[i] = relu_forward_op(x[i]);
}

void relu_backward_cpu(const float* dy, const float* y, float* dx, int64_t n) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) dx[i] = relu_backward_op(dy[i], y[i]);
}

}  // namespace cyg
