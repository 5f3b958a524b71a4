// BatchNorm2d on channels-last (NHWC) activations, CPU: the tensor seen as N*H*W rows of
// C channel values, so every inner loop runs along the channels, contiguous in memory,
// and vectorises. The numerics are those of the NCHW kernels (kernels/cpu/batchnorm.cpp):
// the same per-element functions, statistics in double. The statistics are summed in
// fixed blocks of kRowsPerBlock rows, each block's per-channel partials then added in
// block order, so the result has the same bits for any thread count.
#include <algorithm>
#include <vector>

#include "kernels/batchnorm.h"

namespace cyg {

namespace {

constexpr int64_t kRowsPerBlock = 64;
constexpr int64_t kParallelElements = 65536;

// Sums over all rows of what add_row(row, partial) adds into `width` per-channel doubles.
template <typename F>
std::vector<double> sum_rows(int64_t rows, int64_t width, F add_row) {
  const int64_t blocks = ceil_div(rows, kRowsPerBlock);
  std::vector<double> partials(static_cast<size_t>(blocks * width), 0.0);
#pragma omp parallel for schedule(static) if (rows * width > kParallelElements)
  for (int64_t b = 0; b < blocks; ++b) {
    double* partial = partials.data() + b * width;
    const int64_t end = std::min(rows, (b + 1) * kRowsPerBlock);
    for (int64_t r = b * kRowsPerBlock; r < end; ++r) add_row(r, partial);
  }
  std::vector<double> total(static_cast<size_t>(width), 0.0);
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t c = 0; c < width; ++c) total[c] += partials[b * width + c];
  return total;
}

// Calls f(row) for every row, rows spread over the threads.
template <typename F>
void for_rows(int64_t rows, int64_t C, F f) {
#pragma omp parallel for schedule(static) if (rows * C > kParallelElements)
  for (int64_t r = 0; r < rows; ++r) f(r);
}

template <typename T>
std::vector<T> channel_params(const T* p, int64_t C, T fallback) {
  std::vector<T> out(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) out[c] = batchnorm_param(p, c, fallback);
  return out;
}

}  // namespace

template <typename T, typename S>
void batchnorm_forward_train_nhwc_cpu(const S* x, const T* gamma, const T* beta, int64_t N, int64_t C, int64_t HW,
                                      T eps, T momentum, S* y, T* save_mean, T* save_invstd, T* running_mean,
                                      T* running_var, BatchNormFusion<S> fusion) {
  check_batchnorm_train_args(N, HW, gamma, beta, running_mean, running_var);
  const int64_t rows = N * HW;
  const std::vector<double> sums = sum_rows(rows, C, [&](int64_t r, double* p) {
    const S* row = x + r * C;
    for (int64_t c = 0; c < C; ++c) p[c] += static_cast<double>(widen(row[c]));
  });
  std::vector<double> mean(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) mean[c] = sums[c] / static_cast<double>(rows);
  const std::vector<double> squares = sum_rows(rows, C, [&](int64_t r, double* p) {
    const S* row = x + r * C;
    for (int64_t c = 0; c < C; ++c) {
      const double d = static_cast<double>(widen(row[c])) - mean[c];
      p[c] += d * d;
    }
  });
  for (int64_t c = 0; c < C; ++c) {
    const double var = squares[c] / static_cast<double>(rows);
    save_mean[c] = static_cast<T>(mean[c]);
    save_invstd[c] = static_cast<T>(batchnorm_invstd(var, static_cast<double>(eps)));
    if (running_mean != nullptr) {
      running_mean[c] = batchnorm_running_update(running_mean[c], static_cast<T>(mean[c]), momentum);
      running_var[c] = batchnorm_running_update(running_var[c], static_cast<T>(batchnorm_unbiased_variance(var, rows)),
                                                momentum);
    }
  }
  const std::vector<T> g = channel_params(gamma, C, T(1)), b = channel_params(beta, C, T(0));
  for_rows(rows, C, [&](int64_t r) {
    for (int64_t c = 0, i = r * C; c < C; ++c, ++i)
      store(&y[i], batchnorm_epilogue(batchnorm_normalise<T>(widen(x[i]), save_mean[c], save_invstd[c], g[c], b[c]),
                                      fusion, i));
  });
}

template <typename T, typename S>
void batchnorm_forward_eval_nhwc_cpu(const S* x, const T* gamma, const T* beta, const T* running_mean,
                                     const T* running_var, int64_t N, int64_t C, int64_t HW, T eps, S* y,
                                     BatchNormFusion<S> fusion) {
  check_batchnorm_eval_args(gamma, beta, running_mean, running_var);
  const std::vector<T> g = channel_params(gamma, C, T(1)), b = channel_params(beta, C, T(0));
  std::vector<T> invstd(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) invstd[c] = batchnorm_invstd(running_var[c], eps);
  for_rows(N * HW, C, [&](int64_t r) {
    for (int64_t c = 0, i = r * C; c < C; ++c, ++i)
      store(&y[i], batchnorm_epilogue(batchnorm_normalise<T>(widen(x[i]), running_mean[c], invstd[c], g[c], b[c]),
                                      fusion, i));
  });
}

template <typename T, typename S>
void batchnorm_backward_nhwc_cpu(const S* dy, const S* x, const T* gamma, const T* save_mean, const T* save_invstd,
                                 int64_t N, int64_t C, int64_t HW, S* dx, T* dgamma, T* dbeta,
                                 BatchNormBackwardFusion<S> fusion) {
  check_batchnorm_backward_args(dgamma, dbeta);
  const int64_t rows = N * HW;
  // [0, C): sum(dy); [C, 2C): sum(dy * xhat); dy after the fused ReLU's mask.
  const std::vector<double> sums = sum_rows(rows, 2 * C, [&](int64_t r, double* p) {
    for (int64_t c = 0, i = r * C; c < C; ++c, ++i) {
      const T masked = batchnorm_masked_dy<T>(widen(dy[i]), fusion, i);
      if (fusion.dresidual != nullptr) store(&fusion.dresidual[i], masked);
      const double d = static_cast<double>(masked);
      p[c] += d;
      p[C + c] += d * batchnorm_xhat(static_cast<double>(widen(x[i])), static_cast<double>(save_mean[c]),
                                     static_cast<double>(save_invstd[c]));
    }
  });
  std::vector<T> mean_dy(static_cast<size_t>(C)), mean_dy_xhat(static_cast<size_t>(C)),
      gamma_invstd(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    dbeta[c] = static_cast<T>(sums[c]);
    dgamma[c] = static_cast<T>(sums[C + c]);
    mean_dy[c] = static_cast<T>(sums[c] / static_cast<double>(rows));
    mean_dy_xhat[c] = static_cast<T>(sums[C + c] / static_cast<double>(rows));
    gamma_invstd[c] = batchnorm_param(gamma, c, T(1)) * save_invstd[c];
  }
  for_rows(rows, C, [&](int64_t r) {
    for (int64_t c = 0, i = r * C; c < C; ++c, ++i)
      store(&dx[i], batchnorm_backward_dx(batchnorm_masked_dy<T>(widen(dy[i]), fusion, i),
                                          batchnorm_xhat<T>(widen(x[i]), save_mean[c], save_invstd[c]), mean_dy[c],
                                          mean_dy_xhat[c], gamma_invstd[c]));
  });
}

template <typename T, typename S>
void batchnorm_backward_eval_nhwc_cpu(const S* dy, const S* x, const T* gamma, const T* running_mean,
                                      const T* running_var, int64_t N, int64_t C, int64_t HW, T eps, S* dx, T* dgamma,
                                      T* dbeta, BatchNormBackwardFusion<S> fusion) {
  check_batchnorm_backward_args(dgamma, dbeta);
  std::vector<T> invstd(static_cast<size_t>(C)), gamma_invstd(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    invstd[c] = batchnorm_invstd(running_var[c], eps);
    gamma_invstd[c] = batchnorm_param(gamma, c, T(1)) * invstd[c];
  }
  const std::vector<double> sums = sum_rows(N * HW, 2 * C, [&](int64_t r, double* p) {
    for (int64_t c = 0, i = r * C; c < C; ++c, ++i) {
      const T masked = batchnorm_masked_dy<T>(widen(dy[i]), fusion, i);
      if (fusion.dresidual != nullptr) store(&fusion.dresidual[i], masked);
      const double d = static_cast<double>(masked);
      p[c] += d;
      p[C + c] += d * batchnorm_xhat(static_cast<double>(widen(x[i])), static_cast<double>(running_mean[c]),
                                     static_cast<double>(invstd[c]));
      store(&dx[i], batchnorm_backward_dx_eval(masked, gamma_invstd[c]));
    }
  });
  for (int64_t c = 0; c < C; ++c) {
    dbeta[c] = static_cast<T>(sums[c]);
    dgamma[c] = static_cast<T>(sums[C + c]);
  }
}

#define CYG_INSTANTIATE_BATCHNORM_NHWC(T, S)                                                                         \
  template void batchnorm_forward_train_nhwc_cpu<T, S>(const S*, const T*, const T*, int64_t, int64_t, int64_t, T, \
                                                       T, S*, T*, T*, T*, T*, BatchNormFusion<S>);                   \
  template void batchnorm_forward_eval_nhwc_cpu<T, S>(const S*, const T*, const T*, const T*, const T*, int64_t,   \
                                                      int64_t, int64_t, T, S*, BatchNormFusion<S>);                  \
  template void batchnorm_backward_nhwc_cpu<T, S>(const S*, const S*, const T*, const T*, const T*, int64_t,       \
                                                  int64_t, int64_t, S*, T*, T*, BatchNormBackwardFusion<S>);         \
  template void batchnorm_backward_eval_nhwc_cpu<T, S>(const S*, const S*, const T*, const T*, const T*, int64_t,  \
                                                       int64_t, int64_t, T, S*, T*, T*, BatchNormBackwardFusion<S>);
CYG_INSTANTIATE_BATCHNORM_NHWC(float, float)
CYG_INSTANTIATE_BATCHNORM_NHWC(double, double)
CYG_INSTANTIATE_BATCHNORM_NHWC(float, uint16_t)
#undef CYG_INSTANTIATE_BATCHNORM_NHWC

}  // namespace cyg
