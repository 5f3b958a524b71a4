// BatchNorm2d forward (training and eval) and training-mode backward, CPU reference.
// Channel statistics are accumulated in double whatever T and S are, two passes (mean, then
// squared deviations) so that a large mean does not eat the variance. Loops walk each
// image's contiguous plane of a channel, so the inner loops vectorise; the sums run in
// kLanes independent double accumulators (one to four vector registers, in a fixed
// order), since one accumulator would make every add wait for the last.
#include "kernels/batchnorm.h"

namespace cyg {

namespace {

constexpr int kLanes = 8;

// Calls f(i, lane) for i in [0, n), element i going to lane i % kLanes (from 0 for the
// tail), in blocks of kLanes that the compiler turns into vector operations.
template <typename F>
void for_lanes(int64_t n, F f) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) f(i + l, l);
  for (int l = 0; i < n; ++i, ++l) f(i, l);
}

double total(const double (&lanes)[kLanes]) {
  return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}

}  // namespace

template <typename T, typename S>
void batchnorm_forward_train_cpu(const S* x, const T* gamma, const T* beta, int64_t N, int64_t C, int64_t HW, T eps,
                                 T momentum, S* y, T* save_mean, T* save_invstd, T* running_mean, T* running_var,
                                 BatchNormFusion<S> fusion) {
  check_batchnorm_train_args(N, HW, gamma, beta, running_mean, running_var);
  check_batchnorm_mask_bits(fusion, false, "batchnorm_forward_train");
  const BatchNormLayout layout{N, C, HW};
  const int64_t m = layout.per_channel();
#pragma omp parallel for if (layout.numel() > 65536)
  for (int64_t c = 0; c < C; ++c) {
    double sums[kLanes] = {};
    for (int64_t n = 0; n < N; ++n) {
      const S* plane = x + layout.plane(n, c);
      for_lanes(HW, [&](int64_t i, int l) { sums[l] += static_cast<double>(widen(plane[i])); });
    }
    const double mean = total(sums) / static_cast<double>(m);
    double squares[kLanes] = {};
    for (int64_t n = 0; n < N; ++n) {
      const S* plane = x + layout.plane(n, c);
      for_lanes(HW, [&](int64_t i, int l) {
        const double d = static_cast<double>(widen(plane[i])) - mean;
        squares[l] += d * d;
      });
    }
    const double var = total(squares) / static_cast<double>(m);
    save_mean[c] = static_cast<T>(mean);
    save_invstd[c] = static_cast<T>(batchnorm_invstd(var, static_cast<double>(eps)));
    if (running_mean != nullptr) {
      running_mean[c] = batchnorm_running_update(running_mean[c], static_cast<T>(mean), momentum);
      running_var[c] =
          batchnorm_running_update(running_var[c], static_cast<T>(batchnorm_unbiased_variance(var, m)), momentum);
    }
    const T g = batchnorm_param(gamma, c, T(1)), b = batchnorm_param(beta, c, T(0));
    const T mean_c = save_mean[c], invstd_c = save_invstd[c];
    for (int64_t n = 0; n < N; ++n) {
      const int64_t p = layout.plane(n, c);
      for (int64_t i = p; i < p + HW; ++i)
        store(&y[i], batchnorm_epilogue(batchnorm_normalise<T>(widen(x[i]), mean_c, invstd_c, g, b), fusion, i));
    }
  }
}

template <typename T, typename S>
void batchnorm_forward_eval_cpu(const S* x, const T* gamma, const T* beta, const T* running_mean, const T* running_var,
                                int64_t N, int64_t C, int64_t HW, T eps, S* y, BatchNormFusion<S> fusion) {
  check_batchnorm_eval_args(gamma, beta, running_mean, running_var);
  check_batchnorm_mask_bits(fusion, false, "batchnorm_forward_eval");
  const BatchNormLayout layout{N, C, HW};
#pragma omp parallel for if (layout.numel() > 65536)
  for (int64_t c = 0; c < C; ++c) {
    const T invstd = batchnorm_invstd(running_var[c], eps);
    const T g = batchnorm_param(gamma, c, T(1)), b = batchnorm_param(beta, c, T(0));
    const T mean_c = running_mean[c];
    for (int64_t n = 0; n < N; ++n) {
      const int64_t p = layout.plane(n, c);
      for (int64_t i = p; i < p + HW; ++i)
        store(&y[i], batchnorm_epilogue(batchnorm_normalise<T>(widen(x[i]), mean_c, invstd, g, b), fusion, i));
    }
  }
}

template <typename T, typename S>
void batchnorm_backward_cpu(const S* dy, const S* x, const T* gamma, const T* save_mean, const T* save_invstd,
                            int64_t N, int64_t C, int64_t HW, S* dx, T* dgamma, T* dbeta,
                            BatchNormBackwardFusion<S> fusion) {
  check_batchnorm_backward_args(dgamma, dbeta);
  const BatchNormLayout layout{N, C, HW};
  const int64_t m = layout.per_channel();
#pragma omp parallel for if (layout.numel() > 65536)
  for (int64_t c = 0; c < C; ++c) {
    const T mean = save_mean[c], invstd = save_invstd[c];
    double sums_dy[kLanes] = {}, sums_dy_xhat[kLanes] = {};
    for (int64_t n = 0; n < N; ++n) {
      const int64_t p = layout.plane(n, c);
      for_lanes(HW, [&](int64_t k, int l) {
        const int64_t i = p + k;
        const T masked = batchnorm_masked_dy<T>(widen(dy[i]), fusion, i);
        if (fusion.dresidual != nullptr) store(&fusion.dresidual[i], masked);
        const double d = static_cast<double>(masked);
        sums_dy[l] += d;
        sums_dy_xhat[l] += d * batchnorm_xhat(static_cast<double>(widen(x[i])), static_cast<double>(mean),
                                              static_cast<double>(invstd));
      });
    }
    const double sum_dy = total(sums_dy), sum_dy_xhat = total(sums_dy_xhat);
    dgamma[c] = static_cast<T>(sum_dy_xhat);
    dbeta[c] = static_cast<T>(sum_dy);
    const T mean_dy = static_cast<T>(sum_dy / static_cast<double>(m));
    const T mean_dy_xhat = static_cast<T>(sum_dy_xhat / static_cast<double>(m));
    const T gamma_invstd = batchnorm_param(gamma, c, T(1)) * invstd;
    for (int64_t n = 0; n < N; ++n) {
      const int64_t p = layout.plane(n, c);
      for (int64_t i = p; i < p + HW; ++i)
        store(&dx[i], batchnorm_backward_dx(batchnorm_masked_dy<T>(widen(dy[i]), fusion, i),
                                            batchnorm_xhat<T>(widen(x[i]), mean, invstd), mean_dy, mean_dy_xhat,
                                            gamma_invstd));
    }
  }
}

template <typename T, typename S>
void batchnorm_backward_eval_cpu(const S* dy, const S* x, const T* gamma, const T* running_mean,
                                 const T* running_var, int64_t N, int64_t C, int64_t HW, T eps, S* dx, T* dgamma,
                                 T* dbeta, BatchNormBackwardFusion<S> fusion) {
  check_batchnorm_backward_args(dgamma, dbeta);
  const BatchNormLayout layout{N, C, HW};
#pragma omp parallel for if (layout.numel() > 65536)
  for (int64_t c = 0; c < C; ++c) {
    const T mean = running_mean[c], invstd = batchnorm_invstd(running_var[c], eps);
    double sum_dy = 0, sum_dy_xhat = 0;
    const T gamma_invstd = batchnorm_param(gamma, c, T(1)) * invstd;
    for (int64_t n = 0; n < N; ++n) {
      const int64_t p = layout.plane(n, c);
      for (int64_t i = p; i < p + HW; ++i) {
        const T masked = batchnorm_masked_dy<T>(widen(dy[i]), fusion, i);
        if (fusion.dresidual != nullptr) store(&fusion.dresidual[i], masked);
        sum_dy += static_cast<double>(masked);
        sum_dy_xhat += static_cast<double>(masked) * batchnorm_xhat(static_cast<double>(widen(x[i])),
                                                                    static_cast<double>(mean),
                                                                    static_cast<double>(invstd));
        store(&dx[i], batchnorm_backward_dx_eval(masked, gamma_invstd));
      }
    }
    dgamma[c] = static_cast<T>(sum_dy_xhat);
    dbeta[c] = static_cast<T>(sum_dy);
  }
}

#define CYG_INSTANTIATE_BATCHNORM(T, S)                                                                          \
  template void batchnorm_forward_train_cpu<T, S>(const S*, const T*, const T*, int64_t, int64_t, int64_t, T, T, S*, \
                                                  T*, T*, T*, T*, BatchNormFusion<S>);                               \
  template void batchnorm_forward_eval_cpu<T, S>(const S*, const T*, const T*, const T*, const T*, int64_t, int64_t,  \
                                                 int64_t, T, S*, BatchNormFusion<S>);                                \
  template void batchnorm_backward_cpu<T, S>(const S*, const S*, const T*, const T*, const T*, int64_t, int64_t,      \
                                             int64_t, S*, T*, T*, BatchNormBackwardFusion<S>);                       \
  template void batchnorm_backward_eval_cpu<T, S>(const S*, const S*, const T*, const T*, const T*, int64_t, int64_t, \
                                                  int64_t, T, S*, T*, T*, BatchNormBackwardFusion<S>);
CYG_INSTANTIATE_BATCHNORM(float, float)
CYG_INSTANTIATE_BATCHNORM(double, double)
CYG_INSTANTIATE_BATCHNORM(float, uint16_t)
#undef CYG_INSTANTIATE_BATCHNORM

}  // namespace cyg
