// Reductions, CPU reference: accumulate in double, so the reference is more accurate
// than any float order of summation the GPU may use.
#include "kernels/reduce.h"

namespace cyg {

void sum_cpu(const float* x, int64_t n, float* out) {
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) acc += x[i];
  *out = static_cast<float>(acc);
}

void mean_cpu(const float* x, int64_t n, float* out) {
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) acc += x[i];
  *out = n > 0 ? static_cast<float>(acc / static_cast<double>(n)) : 0.0f;
}

void sum_dim_cpu(const float* x, int64_t outer, int64_t reduced, int64_t inner, float* out) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double acc = 0.0;
      for (int64_t r = 0; r < reduced; ++r) acc += x[(o * reduced + r) * inner + i];
      out[o * inner + i] = static_cast<float>(acc);
    }
}

void mean_dim_cpu(const float* x, int64_t outer, int64_t reduced, int64_t inner, float* out) {
  sum_dim_cpu(x, outer, reduced, inner, out);
  for (int64_t k = 0; k < outer * inner; ++k) out[k] = mean_from_sum(out[k], reduced);
}

}  // namespace cyg
