// BatchNorm2d. Training takes two launches each way, both on a grid of (slices,
// channels): the first sums one slice of its channel's N*HW values per block,
// in double (statistics shifted by the channel's first value, so a large mean
// does not cancel the variance; backward: sums of dy and dy*xhat); the second
// finishes its channel from the slices' partials, in a fixed order
// (deterministic: every block of a channel gets the same bits), then normalises
// (or computes dx for) its slice, with the fused epilogue. Evaluation
// normalises one element per thread, grid-stride; its backward finishes the
// sums in a third, per-channel launch. 32-bit index arithmetic where it fits.
// Bound by memory bandwidth.
#include "kernels/cuda/batchnorm_common.cuh"

namespace cyg::CYG_KNS {
namespace {
using namespace batchnorm_detail;

// A channel's statistics from its slices' partials (sums of x - shift and of its
// square over the channel's m values), added in a fixed order, so every block of the
// channel computes the same bits.
__device__ __forceinline__ ChannelStats channel_stats(double shift, int64_t m, int64_t c, int64_t slices,
                                                      const double *partials, float eps) {
  double sum = 0.0, squares = 0.0;
  for (int64_t s = 0; s < slices; ++s) {
    sum += partials[2 * (c * slices + s)];
    squares += partials[2 * (c * slices + s) + 1];
  }
  return batchnorm_stats_from_sums(shift, m, sum, squares, eps);
}

// A channel's sum of dy and of dy * xhat from its slices' partials, in a fixed
// order; as floats, they are dbeta and dgamma.
__device__ __forceinline__ void channel_sums(const double *partials, int64_t c, int64_t slices, float *dgamma,
                                             float *dbeta) {
  double sum_dy = 0.0, sum_dy_xhat = 0.0;
  for (int64_t s = 0; s < slices; ++s) {
    sum_dy += partials[2 * (c * slices + s)];
    sum_dy_xhat += partials[2 * (c * slices + s) + 1];
  }
  *dbeta = static_cast<float>(sum_dy);
  *dgamma = static_cast<float>(sum_dy_xhat);
}

// dgamma and dbeta of every channel from the partials, a thread per channel.
__global__ void CYG_LAUNCH_BOUNDS batchnorm_backward_finish_kernel(int64_t C, int64_t slices, const double *partials, float *dgamma,
                                                 float *dbeta) {
  CYG_GRID_STRIDE_LOOP(c, C)
  channel_sums(partials, c, slices, &dgamma[c], &dbeta[c]);
}

// partials[2 * (c * slices + s)] = sum of (x - shift), [.. + 1] = sum of (x -
// shift)^2.
template <typename Types>
__global__ void CYG_LAUNCH_BOUNDS batchnorm_stats_partial_kernel(const typename Types::S *x, BatchNormLayout layout, int64_t slices,
                                               double *partials) {
  using Index = typename Types::Index;
  const int64_t m = layout.per_channel();
  for (int64_t c = blockIdx.y; c < layout.C; c += gridDim.y) {
    const double shift = widen(x[layout.plane(0, c)]);
    int64_t begin, end;
    slice_range(m, slices, blockIdx.x, &begin, &end);
    double sum = 0.0, squares = 0.0;
    for (int64_t k = begin + threadIdx.x; k < end; k += blockDim.x) {
      const Index i = layout.offset<Index>(static_cast<Index>(c), static_cast<Index>(k));
      const double d = static_cast<double>(widen(x[i])) - shift;
      sum += d;
      squares += d * d;
    }
    sum = block_reduce_sum(sum);
    squares = block_reduce_sum(squares);
    if (threadIdx.x == 0) {
      partials[2 * (c * slices + blockIdx.x)] = sum;
      partials[2 * (c * slices + blockIdx.x) + 1] = squares;
    }
  }
}

// One block per (slice, channel): the channel's statistics from the partials,
// then the slice normalised, with the fused epilogue. The slice-0 block also
// writes the saved and the running statistics.
template <typename Types>
__global__ void CYG_LAUNCH_BOUNDS batchnorm_finish_normalise_kernel(const typename Types::S *x, const float *gamma, const float *beta,
                                                  BatchNormLayout layout, int64_t slices, const double *partials,
                                                  float eps, float momentum, BatchNormFusion<typename Types::S> fusion,
                                                  typename Types::S *y, float *save_mean, float *save_invstd,
                                                  float *running_mean, float *running_var) {
  using Index = typename Types::Index;
  __shared__ float channel_mean, channel_invstd;
  const int64_t m = layout.per_channel();
  for (int64_t c = blockIdx.y; c < layout.C; c += gridDim.y) {
    if (threadIdx.x == 0) {
      const ChannelStats st = channel_stats(widen(x[layout.plane(0, c)]), m, c, slices, partials, eps);
      channel_mean = st.mean;
      channel_invstd = st.invstd;
      if (blockIdx.x == 0) write_channel_stats(st, c, momentum, save_mean, save_invstd, running_mean, running_var);
    }
    __syncthreads();
    const float g = batchnorm_param(gamma, c, 1.0f), b = batchnorm_param(beta, c, 0.0f);
    int64_t begin, end;
    slice_range(m, slices, blockIdx.x, &begin, &end);
    for (int64_t k = begin + threadIdx.x; k < end; k += blockDim.x) {
      const Index i = layout.offset<Index>(static_cast<Index>(c), static_cast<Index>(k));
      store(&y[i], batchnorm_epilogue(batchnorm_normalise(widen(x[i]), channel_mean, channel_invstd, g, b), fusion, i));
    }
    __syncthreads();  // the next channel overwrites the shared statistics
  }
}

// partials[2 * (c * slices + s)] = sum of dy, [.. + 1] = sum of dy * xhat. xhat
// from the saved batch statistics (training) or the running ones
// (Spread::Variance, eval). dy is the masked one of a fused ReLU, which goes to
// dresidual when asked.
template <typename Types>
__global__ void CYG_LAUNCH_BOUNDS batchnorm_backward_partial_kernel(const typename Types::S *dy, const typename Types::S *x,
                                                  const float *mean_of, const float *spread, Spread spread_kind,
                                                  float eps, BatchNormBackwardFusion<typename Types::S> fusion,
                                                  BatchNormLayout layout, int64_t slices, double *partials) {
  using Index = typename Types::Index;
  const int64_t m = layout.per_channel();
  for (int64_t c = blockIdx.y; c < layout.C; c += gridDim.y) {
    const float mean = mean_of[c];
    const float invstd = invstd_from(spread, c, spread_kind, eps);
    int64_t begin, end;
    slice_range(m, slices, blockIdx.x, &begin, &end);
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    for (int64_t k = begin + threadIdx.x; k < end; k += blockDim.x) {
      const Index i = layout.offset<Index>(static_cast<Index>(c), static_cast<Index>(k));
      const float d = batchnorm_masked_dy(widen(dy[i]), fusion, i);
      if (fusion.dresidual != nullptr) store(&fusion.dresidual[i], d);
      sum_dy += d;
      sum_dy_xhat += static_cast<double>(d * batchnorm_xhat(widen(x[i]), mean, invstd));
    }
    sum_dy = block_reduce_sum(sum_dy);
    sum_dy_xhat = block_reduce_sum(sum_dy_xhat);
    if (threadIdx.x == 0) {
      partials[2 * (c * slices + blockIdx.x)] = sum_dy;
      partials[2 * (c * slices + blockIdx.x) + 1] = sum_dy_xhat;
    }
  }
}

// One block per (slice, channel): the channel's dgamma and dbeta from the
// partials, then dx of the slice. The slice-0 block also writes dgamma and
// dbeta.
template <typename Types>
__global__ void CYG_LAUNCH_BOUNDS batchnorm_finish_backward_dx_kernel(const typename Types::S *dy, const typename Types::S *x,
                                                    const float *gamma, const float *save_mean,
                                                    const float *save_invstd,
                                                    BatchNormBackwardFusion<typename Types::S> fusion,
                                                    BatchNormLayout layout, int64_t slices, const double *partials,
                                                    float *dgamma, float *dbeta, typename Types::S *dx) {
  using Index = typename Types::Index;
  __shared__ float channel_dgamma, channel_dbeta;
  const int64_t m = layout.per_channel();
  const float mf = static_cast<float>(m);
  for (int64_t c = blockIdx.y; c < layout.C; c += gridDim.y) {
    if (threadIdx.x == 0) {
      channel_sums(partials, c, slices, &channel_dgamma, &channel_dbeta);
      if (blockIdx.x == 0) {
        dgamma[c] = channel_dgamma;
        dbeta[c] = channel_dbeta;
      }
    }
    __syncthreads();
    const float mean = save_mean[c], invstd = save_invstd[c];
    const float gamma_invstd = batchnorm_param(gamma, c, 1.0f) * invstd;
    int64_t begin, end;
    slice_range(m, slices, blockIdx.x, &begin, &end);
    for (int64_t k = begin + threadIdx.x; k < end; k += blockDim.x) {
      const Index i = layout.offset<Index>(static_cast<Index>(c), static_cast<Index>(k));
      store(&dx[i], batchnorm_backward_dx(batchnorm_masked_dy(widen(dy[i]), fusion, i),
                                          batchnorm_xhat(widen(x[i]), mean, invstd), channel_dbeta / mf,
                                          channel_dgamma / mf, gamma_invstd));
    }
    __syncthreads();  // the next channel overwrites the shared sums
  }
}

// The per-slice partial sums of dy and dy * xhat.
template <typename Index, typename S>
void launch_backward_partials(const S *dy, const S *x, const float *mean, const float *spread, Spread spread_kind,
                              float eps, const BatchNormBackwardFusion<S> &fusion, const BatchNormLayout &layout,
                              int64_t slices, double *workspace, const LaunchConfig &cfg) {
  using Types = KernelTypes<Index, S>;
  CYG_LAUNCH(batchnorm_backward_partial_kernel<Types>, slice_grid(slices, layout.C), block_size(cfg), 0, stream_of(cfg),
             dy, x, mean, spread, spread_kind, eps, fusion, layout, slices, workspace);
  CYG_CHECK_LAUNCH();
}

// dgamma and dbeta of every channel: per-slice partial sums, then their
// fixed-order finish.
template <typename Index, typename S>
void launch_backward_sums(const S *dy, const S *x, const float *mean, const float *spread, Spread spread_kind,
                          float eps, const BatchNormBackwardFusion<S> &fusion, const BatchNormLayout &layout,
                          int64_t slices, double *workspace, float *dgamma, float *dbeta, const LaunchConfig &cfg) {
  launch_backward_partials<Index, S>(dy, x, mean, spread, spread_kind, eps, fusion, layout, slices, workspace, cfg);
  CYG_LAUNCH(batchnorm_backward_finish_kernel, finish_grid(layout.C), 128, 0, stream_of(cfg), layout.C, slices, workspace,
             dgamma, dbeta);
  CYG_CHECK_LAUNCH();
}
}  // namespace

template <typename S>
void batchnorm_forward_train_cuda(const S *x, const float *gamma, const float *beta, int64_t N, int64_t C, int64_t HW,
                                  float eps, float momentum, S *y, float *save_mean, float *save_invstd,
                                  float *running_mean, float *running_var, double *workspace, BatchNormFusion<S> fusion,
                                  const LaunchConfig &cfg) {
  check_batchnorm_train_args(N, HW, gamma, beta, running_mean, running_var);
  check_block(cfg);
  check_batchnorm_mask_bits(fusion, false, "batchnorm_forward_train");
  check_batchnorm_not_in_place(x, y, static_cast<int64_t>(sizeof(S)) * N * C * HW, "batchnorm_forward_train");
  if (C == 0) return;
  const BatchNormLayout layout{N, C, HW};
  const int64_t slices = batchnorm_slices(N, C, HW, cfg);
  // x twice (statistics, then normalisation), y once; per-channel values and
  // the slices' double partials besides.
  const int64_t partial_bytes = 16 * C * slices;
  const int64_t e = static_cast<int64_t>(sizeof(S));
  const int64_t residual_bytes = fusion.residual != nullptr ? e * layout.numel() : 0;
  count_traffic(__func__, 2 * e * layout.numel() + residual_bytes + 16 * C + partial_bytes,
                e * layout.numel() + 16 * C + partial_bytes);
  with_index_type(layout.numel(), [&](auto index) {
    using Index = decltype(index);
    using Types = KernelTypes<Index, S>;
    CYG_LAUNCH(batchnorm_stats_partial_kernel<Types>, slice_grid(slices, C), block_size(cfg), 0, stream_of(cfg), x,
               layout, slices, workspace);
    CYG_CHECK_LAUNCH();
    CYG_LAUNCH(batchnorm_finish_normalise_kernel<Types>, slice_grid(slices, C), block_size(cfg), 0, stream_of(cfg), x,
               gamma, beta, layout, slices, workspace, eps, momentum, fusion, y, save_mean, save_invstd, running_mean,
               running_var);
    CYG_CHECK_LAUNCH();
  });
}

template <typename S>
void batchnorm_forward_eval_cuda(const S *x, const float *gamma, const float *beta, const float *running_mean,
                                 const float *running_var, int64_t N, int64_t C, int64_t HW, float eps, S *y,
                                 BatchNormFusion<S> fusion, const LaunchConfig &cfg) {
  check_batchnorm_eval_args(gamma, beta, running_mean, running_var);
  check_batchnorm_mask_bits(fusion, false, "batchnorm_forward_eval");
  const BatchNormLayout layout{N, C, HW};
  if (layout.numel() == 0) return;
  const int64_t e = static_cast<int64_t>(sizeof(S));
  count_traffic(__func__, (fusion.residual != nullptr ? 2 * e : e) * layout.numel() + 16 * C, e * layout.numel());
  with_index_type(layout.numel(), [&](auto index) {
    using Index = decltype(index);
    using Types = KernelTypes<Index, S>;
    CYG_LAUNCH(batchnorm_normalise_kernel<Types>, grid_size(layout.numel(), cfg), block_size(cfg), 0, stream_of(cfg), x,
               gamma, beta, running_mean, running_var, Spread::Variance, layout, eps, fusion, y);
    CYG_CHECK_LAUNCH();
  });
}

template <typename S>
void batchnorm_backward_cuda(const S *dy, const S *x, const float *gamma, const float *save_mean,
                             const float *save_invstd, int64_t N, int64_t C, int64_t HW, S *dx, float *dgamma,
                             float *dbeta, double *workspace, BatchNormBackwardFusion<S> fusion,
                             const LaunchConfig &cfg) {
  check_batchnorm_backward_args(dgamma, dbeta);
  check_block(cfg);
  if (C == 0) return;
  const BatchNormLayout layout{N, C, HW};
  // dy (backward_dy_bytes) and x for the sums, again for dx; a fused ReLU's dresidual
  // written once.
  const int64_t n = layout.numel(), e = static_cast<int64_t>(sizeof(S));
  count_traffic(__func__,
                backward_dy_bytes(n, fusion) + 2 * e * n + 20 * C,
                e * n + (fusion.dresidual != nullptr ? e * n : 0) + 8 * C);
  const DxSource<S> source = dx_source(dy, fusion);
  with_index_type(layout.numel(), [&](auto index) {
    using Index = decltype(index);
    using Types = KernelTypes<Index, S>;
    const int64_t slices = batchnorm_slices(N, C, HW, cfg);
    launch_backward_partials<Index, S>(dy, x, save_mean, save_invstd, Spread::InvStd, 0.0f, fusion, layout, slices,
                                       workspace, cfg);
    CYG_LAUNCH(batchnorm_finish_backward_dx_kernel<Types>, slice_grid(slices, C), block_size(cfg), 0, stream_of(cfg),
               source.dy, x, gamma, save_mean, save_invstd, source.fusion, layout, slices, workspace, dgamma, dbeta,
               dx);
    CYG_CHECK_LAUNCH();
  });
}

template <typename S>
void batchnorm_backward_eval_cuda(const S *dy, const S *x, const float *gamma, const float *running_mean,
                                  const float *running_var, int64_t N, int64_t C, int64_t HW, float eps, S *dx,
                                  float *dgamma, float *dbeta, double *workspace, BatchNormBackwardFusion<S> fusion,
                                  const LaunchConfig &cfg) {
  check_batchnorm_backward_args(dgamma, dbeta);
  check_block(cfg);
  if (C == 0) return;
  const BatchNormLayout layout{N, C, HW};
  // dy (backward_dy_bytes) and x for the sums, dy again for dx; a fused ReLU's dresidual
  // written once.
  const int64_t n = layout.numel(), e = static_cast<int64_t>(sizeof(S));
  count_traffic(__func__,
                backward_dy_bytes(n, fusion) + e * n + 20 * C,
                e * n + (fusion.dresidual != nullptr ? e * n : 0) + 8 * C);
  const DxSource<S> source = dx_source(dy, fusion);
  with_index_type(layout.numel(), [&](auto index) {
    using Index = decltype(index);
    using Types = KernelTypes<Index, S>;
    launch_backward_sums<Index, S>(dy, x, running_mean, running_var, Spread::Variance, eps, fusion, layout,
                                   batchnorm_slices(N, C, HW, cfg), workspace, dgamma, dbeta, cfg);
    CYG_LAUNCH(batchnorm_backward_dx_eval_kernel<Types>, grid_size(layout.numel(), cfg), block_size(cfg), 0,
               stream_of(cfg), source.dy, gamma, running_var, eps, source.fusion, layout, dx);
    CYG_CHECK_LAUNCH();
  });
}

#define CYG_INSTANTIATE_BATCHNORM(S)                                                                                   \
  template void batchnorm_forward_train_cuda<S>(const S *, const float *, const float *, int64_t, int64_t, int64_t,    \
                                                float, float, S *, float *, float *, float *, float *, double *,       \
                                                BatchNormFusion<S>, const LaunchConfig &);                             \
  template void batchnorm_forward_eval_cuda<S>(const S *, const float *, const float *, const float *, const float *,  \
                                               int64_t, int64_t, int64_t, float, S *, BatchNormFusion<S>,              \
                                               const LaunchConfig &);                                                  \
  template void batchnorm_backward_cuda<S>(const S *, const S *, const float *, const float *, const float *, int64_t, \
                                           int64_t, int64_t, S *, float *, float *, double *,                          \
                                           BatchNormBackwardFusion<S>, const LaunchConfig &);                          \
  template void batchnorm_backward_eval_cuda<S>(const S *, const S *, const float *, const float *, const float *,     \
                                                int64_t, int64_t, int64_t, float, S *, float *, float *, double *,     \
                                                BatchNormBackwardFusion<S>, const LaunchConfig &);
CYG_INSTANTIATE_BATCHNORM(float)
CYG_INSTANTIATE_BATCHNORM(uint16_t)
#undef CYG_INSTANTIATE_BATCHNORM

}  // namespace cyg::CYG_KNS
