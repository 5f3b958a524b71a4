// add and axpy, CPU reference.
#include "kernels/add.h"

namespace cyg {

template <typename S>
void add_cpu(const S* a, const S* b, S* y, int64_t n) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) store(&y[i], add_op(widen(a[i]), widen(b[i])));
}
template void add_cpu<float>(const float*, const float*, float*, int64_t);
template void add_cpu<uint16_t>(const uint16_t*, const uint16_t*, uint16_t*, int64_t);

void axpy_cpu(float alpha, const float* x, float* y, int64_t n) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) y[i] = axpy_op(alpha, x[i], y[i]);
}

void increment_cpu(int64_t* counter, int64_t by) { *counter += by; }

}  // namespace cyg
