// scale, CPU reference.
#include "kernels/scale.h"

namespace cyg {

void scale_cpu(float alpha, const float* x, float* y, int64_t n) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) y[i] = scale_op(alpha, x[i]);
}

}  // namespace cyg
