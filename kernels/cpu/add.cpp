// add and axpy, CPU reference.
#include "kernels/add.h"

namespace cyg {

void add_cpu(const float* a, const float* b, float* y, int64_t n) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) y[i] = add_op(a[i], b[i]);
}

void axpy_cpu(float alpha, const float* x, float* y, int64_t n) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) y[i] = axpy_op(alpha, x[i], y[i]);
}

void increment_cpu(int64_t* counter, int64_t by) { *counter += by; }

}  // namespace cyg
