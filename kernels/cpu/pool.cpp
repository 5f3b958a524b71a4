// Global average pooling, CPU reference: each plane summed in double, then divided by its area.
#include "kernels/pool.h"

#include <vector>

#include "kernels/error.h"

namespace cyg {
namespace {
void check_area(int64_t H, int64_t W) {
  CYG_CHECK(H >= 1 && W >= 1, "global average pooling of an empty ", H, "x", W, " plane");
}
}  // namespace

template <typename S>
void global_avg_pool_forward_cpu(const S* x, int64_t N, int64_t C, int64_t H, int64_t W, S* y) {
  check_area(H, W);
  const int64_t planes = N * C, area = H * W;
#pragma omp parallel for if (planes * area > 65536)
  for (int64_t p = 0; p < planes; ++p) {
    double sum = 0.0;
    for (int64_t i = 0; i < area; ++i) sum += static_cast<double>(widen(x[p * area + i]));
    store(&y[p], static_cast<compute_t<S>>(divide_by_area(sum, area)));
  }
}

template <typename S>
void global_avg_pool_backward_cpu(const S* dy, int64_t N, int64_t C, int64_t H, int64_t W, S* dx) {
  check_area(H, W);
  const int64_t planes = N * C, area = H * W;
#pragma omp parallel for if (planes * area > 65536)
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t i = 0; i < area; ++i) store(&dx[p * area + i], divide_by_area(widen(dy[p]), area));
}

template <typename S>
void global_avg_pool_forward_nhwc_cpu(const S* x, int64_t N, int64_t C, int64_t H, int64_t W, S* y) {
  check_area(H, W);
  const int64_t area = H * W;
#pragma omp parallel for if (N * C * area > 65536)
  for (int64_t n = 0; n < N; ++n) {
    std::vector<double> sums(static_cast<size_t>(C), 0.0);
    for (int64_t i = 0; i < area; ++i) {
      const S* row = x + (n * area + i) * C;
      for (int64_t c = 0; c < C; ++c) sums[c] += static_cast<double>(widen(row[c]));
    }
    for (int64_t c = 0; c < C; ++c) store(&y[n * C + c], static_cast<compute_t<S>>(divide_by_area(sums[c], area)));
  }
}

template <typename S>
void global_avg_pool_backward_nhwc_cpu(const S* dy, int64_t N, int64_t C, int64_t H, int64_t W, S* dx) {
  check_area(H, W);
  const int64_t area = H * W;
#pragma omp parallel for if (N * C * area > 65536)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < area; ++i)
      for (int64_t c = 0; c < C; ++c) store(&dx[(n * area + i) * C + c], divide_by_area(widen(dy[n * C + c]), area));
}

#define CYG_INSTANTIATE_POOL(S)                                                                                   \
  template void global_avg_pool_forward_nhwc_cpu<S>(const S*, int64_t, int64_t, int64_t, int64_t, S*);          \
  template void global_avg_pool_backward_nhwc_cpu<S>(const S*, int64_t, int64_t, int64_t, int64_t, S*);
CYG_INSTANTIATE_POOL(float)
CYG_INSTANTIATE_POOL(double)
CYG_INSTANTIATE_POOL(uint16_t)
#undef CYG_INSTANTIATE_POOL

template void global_avg_pool_forward_cpu<float>(const float*, int64_t, int64_t, int64_t, int64_t, float*);
template void global_avg_pool_forward_cpu<double>(const double*, int64_t, int64_t, int64_t, int64_t, double*);
template void global_avg_pool_backward_cpu<float>(const float*, int64_t, int64_t, int64_t, int64_t, float*);
template void global_avg_pool_backward_cpu<double>(const double*, int64_t, int64_t, int64_t, int64_t, double*);
template void global_avg_pool_forward_cpu<uint16_t>(const uint16_t*, int64_t, int64_t, int64_t, int64_t, uint16_t*);
template void global_avg_pool_backward_cpu<uint16_t>(const uint16_t*, int64_t, int64_t, int64_t, int64_t, uint16_t*);

}  // namespace cyg
