// Bias add and bias gradient, CPU reference (gradient accumulated in double).
#include "kernels/bias.h"

namespace cyg {

template <typename T>
void bias_add_cpu(T* y, const T* b, int64_t outer, int64_t C, int64_t inner) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < inner; ++i) y[(o * C + c) * inner + i] += b[c];
}

template <typename T>
void bias_grad_cpu(const T* dy, int64_t outer, int64_t C, int64_t inner, T* db) {
  for (int64_t c = 0; c < C; ++c) {
    double acc = 0.0;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) acc += dy[(o * C + c) * inner + i];
    db[c] = static_cast<T>(acc);
  }
}

template void bias_add_cpu<float>(float*, const float*, int64_t, int64_t, int64_t);
template void bias_add_cpu<double>(double*, const double*, int64_t, int64_t, int64_t);
template void bias_grad_cpu<float>(const float*, int64_t, int64_t, int64_t, float*);
template void bias_grad_cpu<double>(const double*, int64_t, int64_t, int64_t, double*);

}  // namespace cyg
