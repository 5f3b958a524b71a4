// BatchNorm2d. Channel sums (mean then squared deviations; backward: sum(dy), sum(dy*xhat)):
// one block per channel, grid-stride over channels, threads stride over its N*HW values.
// Normalisation and dx: one thread per element, grid-stride. Bound by memory bandwidth.
#include "kernels/batchnorm.h"
#include "kernels/cuda/block_reduce.cuh"

namespace cyg::CYG_KNS {
namespace {
__global__ void batchnorm_stats_kernel(const float* x, BatchNormLayout layout, float eps, float momentum,
                                       float* save_mean, float* save_invstd, float* running_mean, float* running_var) {
  __shared__ float channel_mean;
  const int64_t m = layout.per_channel();
  for (int64_t c = blockIdx.x; c < layout.C; c += gridDim.x) {
    float sum = 0.0f;
    for (int64_t k = threadIdx.x; k < m; k += blockDim.x) sum += x[layout.offset(c, k)];
    sum = block_reduce_sum(sum);
    if (threadIdx.x == 0) channel_mean = sum / static_cast<float>(m);
    __syncthreads();
    const float mean = channel_mean;
    float squares = 0.0f;
    for (int64_t k = threadIdx.x; k < m; k += blockDim.x) {
      const float d = x[layout.offset(c, k)] - mean;
      squares += d * d;
    }
    // Its barriers also hold thread 0 back from writing the next channel's mean until
    // every thread has read this one.
    squares = block_reduce_sum(squares);
    if (threadIdx.x == 0) {
      const float var = squares / static_cast<float>(m);
      save_mean[c] = mean;
      save_invstd[c] = batchnorm_invstd(var, eps);
      if (running_mean != nullptr) {
        running_mean[c] = batchnorm_running_update(running_mean[c], mean, momentum);
        running_var[c] = batchnorm_running_update(running_var[c], batchnorm_unbiased_variance(var, m), momentum);
      }
    }
  }
}

// Training normalises with the batch's invstd; eval derives it from the running variance.
template <bool kSpreadIsVariance>
__global__ void batchnorm_normalise_kernel(const float* x, const float* gamma, const float* beta, const float* mean,
                                           const float* spread, BatchNormLayout layout, float eps, float* y) {
  const int64_t n = layout.numel();
  CYG_GRID_STRIDE_LOOP(i, n) {
    const int64_t c = layout.channel_of(i);
    const float invstd = kSpreadIsVariance ? batchnorm_invstd(spread[c], eps) : spread[c];
    y[i] = batchnorm_normalise(x[i], mean[c], invstd, batchnorm_param(gamma, c, 1.0f), batchnorm_param(beta, c, 0.0f));
  }
}

__global__ void batchnorm_backward_reduce_kernel(const float* dy, const float* x, const float* save_mean,
                                                 const float* save_invstd, BatchNormLayout layout, float* dgamma,
                                                 float* dbeta) {
  const int64_t m = layout.per_channel();
  for (int64_t c = blockIdx.x; c < layout.C; c += gridDim.x) {
    const float mean = save_mean[c], invstd = save_invstd[c];
    float sum_dy = 0.0f, sum_dy_xhat = 0.0f;
    for (int64_t k = threadIdx.x; k < m; k += blockDim.x) {
      const int64_t i = layout.offset(c, k);
      sum_dy += dy[i];
      sum_dy_xhat += dy[i] * batchnorm_xhat(x[i], mean, invstd);
    }
    sum_dy = block_reduce_sum(sum_dy);
    sum_dy_xhat = block_reduce_sum(sum_dy_xhat);
    if (threadIdx.x == 0) {
      dgamma[c] = sum_dy_xhat;
      dbeta[c] = sum_dy;
    }
  }
}

__global__ void batchnorm_backward_dx_kernel(const float* dy, const float* x, const float* gamma,
                                             const float* save_mean, const float* save_invstd, const float* dgamma,
                                             const float* dbeta, BatchNormLayout layout, float* dx) {
  const int64_t n = layout.numel();
  const float m = static_cast<float>(layout.per_channel());
  CYG_GRID_STRIDE_LOOP(i, n) {
    const int64_t c = layout.channel_of(i);
    const float invstd = save_invstd[c];
    dx[i] = batchnorm_backward_dx(dy[i], batchnorm_xhat(x[i], save_mean[c], invstd), dbeta[c] / m, dgamma[c] / m,
                                  batchnorm_param(gamma, c, 1.0f) * invstd);
  }
}

// One block per channel, looping over channels past the cap.
int channel_grid(int64_t C, const LaunchConfig& cfg) {
  const int block = block_size(cfg);
  CYG_CHECK(block % 32 == 0 && block <= 1024, "batchnorm block size ", block,
            " must be a multiple of 32, at most 1024 (a block reduces each channel)");
  const int64_t cap = cfg.max_blocks > 0 ? cfg.max_blocks : 65535;
  return static_cast<int>(C < cap ? C : cap);
}
}  // namespace

void batchnorm_forward_train_cuda(const float* x, const float* gamma, const float* beta, int64_t N, int64_t C,
                                  int64_t HW, float eps, float momentum, float* y, float* save_mean, float* save_invstd,
                                  float* running_mean, float* running_var, const LaunchConfig& cfg) {
  check_batchnorm_train_args(N, HW, gamma, beta, running_mean, running_var);
  if (C == 0) return;
  const BatchNormLayout layout{N, C, HW};
  CYG_LAUNCH(batchnorm_stats_kernel, channel_grid(C, cfg), block_size(cfg), 0, stream_of(cfg), x, layout, eps, momentum,
             save_mean, save_invstd, running_mean, running_var);
  CYG_CHECK_LAUNCH();
  CYG_LAUNCH(batchnorm_normalise_kernel<false>, grid_size(layout.numel(), cfg), block_size(cfg), 0, stream_of(cfg), x,
             gamma, beta, save_mean, save_invstd, layout, eps, y);
  CYG_CHECK_LAUNCH();
}

void batchnorm_forward_eval_cuda(const float* x, const float* gamma, const float* beta, const float* running_mean,
                                 const float* running_var, int64_t N, int64_t C, int64_t HW, float eps, float* y,
                                 const LaunchConfig& cfg) {
  check_batchnorm_eval_args(gamma, beta, running_mean, running_var);
  const BatchNormLayout layout{N, C, HW};
  if (layout.numel() == 0) return;
  CYG_LAUNCH(batchnorm_normalise_kernel<true>, grid_size(layout.numel(), cfg), block_size(cfg), 0, stream_of(cfg), x,
             gamma, beta, running_mean, running_var, layout, eps, y);
  CYG_CHECK_LAUNCH();
}

void batchnorm_backward_cuda(const float* dy, const float* x, const float* gamma, const float* save_mean,
                             const float* save_invstd, int64_t N, int64_t C, int64_t HW, float* dx, float* dgamma,
                             float* dbeta, const LaunchConfig& cfg) {
  check_batchnorm_backward_args(dgamma, dbeta);
  if (C == 0) return;
  const BatchNormLayout layout{N, C, HW};
  CYG_LAUNCH(batchnorm_backward_reduce_kernel, channel_grid(C, cfg), block_size(cfg), 0, stream_of(cfg), dy, x,
             save_mean, save_invstd, layout, dgamma, dbeta);
  CYG_CHECK_LAUNCH();
  CYG_LAUNCH(batchnorm_backward_dx_kernel, grid_size(layout.numel(), cfg), block_size(cfg), 0, stream_of(cfg), dy, x,
             gamma, save_mean, save_invstd, dgamma, dbeta, layout, dx);
  CYG_CHECK_LAUNCH();
}

}  // namespace cyg::CYG_KNS
