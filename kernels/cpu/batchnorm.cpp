// BatchNorm2d forward (training and eval) and training-mode backward, CPU reference.
// Channel statistics are accumulated in double whatever T and S are, two passes (mean, then
// squared deviations) so that a large mean does not eat the variance. Loops walk each
// image's contiguous plane of a channel, so the inner loops vectorise.
#include "kernels/batchnorm.h"

namespace cyg {

template <typename T, typename S>
void batchnorm_forward_train_cpu(const S* x, const T* gamma, const T* beta, int64_t N, int64_t C, int64_t HW, T eps,
                                 T momentum, S* y, T* save_mean, T* save_invstd, T* running_mean, T* running_var,
                                 BatchNormFusion<S> fusion) {
  check_batchnorm_train_args(N, HW, gamma, beta, running_mean, running_var);
  const BatchNormLayout layout{N, C, HW};
  const int64_t m = layout.per_channel();
#pragma omp parallel for if (layout.numel() > 65536)
  for (int64_t c = 0; c < C; ++c) {
    double sum = 0;
    for (int64_t n = 0; n < N; ++n) {
      const S* plane = x + layout.plane(n, c);
      for (int64_t i = 0; i < HW; ++i) sum += static_cast<double>(widen(plane[i]));
    }
    const double mean = sum / static_cast<double>(m);
    double squares = 0;
    for (int64_t n = 0; n < N; ++n) {
      const S* plane = x + layout.plane(n, c);
      for (int64_t i = 0; i < HW; ++i) {
        const double d = static_cast<double>(widen(plane[i])) - mean;
        squares += d * d;
      }
    }
    const double var = squares / static_cast<double>(m);
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
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t n = 0; n < N; ++n) {
      const int64_t p = layout.plane(n, c);
      for (int64_t i = p; i < p + HW; ++i) {
        const T masked = batchnorm_masked_dy<T>(widen(dy[i]), fusion, i);
        if (fusion.dresidual != nullptr) store(&fusion.dresidual[i], masked);
        const double d = static_cast<double>(masked);
        sum_dy += d;
        sum_dy_xhat += d * batchnorm_xhat(static_cast<double>(widen(x[i])), static_cast<double>(mean),
                                          static_cast<double>(invstd));
      }
    }
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
