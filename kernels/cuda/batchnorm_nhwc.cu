// BatchNorm2d on channels-last (NHWC) activations: N*HW rows of C values, the channel
// the fastest index. The reductions run on a grid of (row slices, channel groups). A
// block's threads form `lanes` columns of consecutive channels by block/lanes columns of
// rows (kernels/batchnorm.h, batchnorm_nhwc_lanes), so a warp reads whole runs of a row,
// or several whole short rows: coalesced. Each thread sums its channel over every
// (block/lanes)-th row of its slice in double; the row columns are then added in shared
// memory by a fixed tree, and the slices' partials finished in a fixed order, so the
// result has the same bits on every run. The last block of a channel group to write its
// partials (a counter per group, zeroed by the launch wrapper) adds them up, once, into
// the channels' totals, which every block of the second launch reads: each block adding
// up every slice itself (as the NCHW kernels do, whose slices are few) cost the square of
// the slices here (512 for 64 channels), and on an H200 made these the heaviest kernels.
// Training takes two launches each way, as NCHW; evaluation is element-wise.
#include "kernels/cuda/batchnorm_common.cuh"

namespace cyg::CYG_KNS {
// Outside the anonymous namespace: the launches' lambdas capture it.
namespace batchnorm_nhwc_detail {
// The grid and tile of the two-pass kernels.
struct NhwcPlan {
  int lanes;
  int64_t slices;
  dim3 grid;
};

inline NhwcPlan nhwc_plan(const BatchNormLayoutNhwc &layout, const LaunchConfig &cfg) {
  const int64_t lanes = batchnorm_nhwc_lanes(layout.C);
  const int64_t slices = batchnorm_nhwc_slices(layout.N, layout.C, layout.HW, cfg);
  return {static_cast<int>(lanes), slices, batchnorm_detail::slice_grid(slices, ceil_div(layout.C, lanes))};
}

// Where the workspace keeps the totals and the counters (kernels/batchnorm.h).
struct NhwcWorkspace {
  double *partials, *totals;
  unsigned int *counters;
  int64_t groups;
};
inline NhwcWorkspace nhwc_workspace(double *workspace, int64_t C, int64_t slices, int lanes) {
  double *totals = workspace + 2 * C * slices;
  return {workspace, totals, reinterpret_cast<unsigned int *>(totals + 2 * C), ceil_div(C, int64_t(lanes))};
}

}  // namespace batchnorm_nhwc_detail

namespace {
using namespace batchnorm_detail;
using batchnorm_nhwc_detail::NhwcPlan;
using batchnorm_nhwc_detail::nhwc_plan;
using batchnorm_nhwc_detail::NhwcWorkspace;
using batchnorm_nhwc_detail::nhwc_workspace;

constexpr int kMaxBlock = 1024;

// This thread's channel lane and row column, and the block's number of row columns.
struct Tile {
  int lane, row, rows;
};

__device__ __forceinline__ Tile tile_of(int lanes) {
  return {static_cast<int>(threadIdx.x) % lanes, static_cast<int>(threadIdx.x) / lanes,
          static_cast<int>(blockDim.x) / lanes};
}

// Adds a and b of the block's row columns, lane by lane, in a fixed tree (any number of
// columns); the totals are valid in row column 0. Every thread of the block calls it.
// (16 KB of static shared memory whatever the block: fine on the GPUs this targets.)
__device__ void add_row_columns(double *a, double *b, const Tile &t, int lanes) {
  __shared__ double shared_a[kMaxBlock], shared_b[kMaxBlock];
  shared_a[threadIdx.x] = *a;
  shared_b[threadIdx.x] = *b;
  __syncthreads();
  for (int span = t.rows; span > 1;) {
    const int half = (span + 1) / 2;  // columns [half, span) fold onto [0, span - half)
    if (t.row < span - half) {
      shared_a[threadIdx.x] += shared_a[threadIdx.x + half * lanes];
      shared_b[threadIdx.x] += shared_b[threadIdx.x + half * lanes];
    }
    __syncthreads();
    span = half;
  }
  *a = shared_a[threadIdx.x];
  *b = shared_b[threadIdx.x];
  __syncthreads();  // the next channel group rewrites the shared sums
}

// The two sums of channel c over its slices' partials: each row column adds every
// rows-th slice, then the columns are added by the fixed tree (the same bits whichever
// block does it, and no thread adds a thousand partials alone). Valid in row column 0;
// every thread of the block calls it. The partials are other blocks' writes of this
// launch: read past this block's cache.
__device__ void add_slice_partials(const double *partials, int64_t c, bool active, int64_t slices, const Tile &t,
                                   int lanes, double *a, double *b) {
  const volatile double *p = partials;
  *a = 0.0;
  *b = 0.0;
  if (active)
    for (int64_t s = t.row; s < slices; s += t.rows) {
      *a += p[2 * (c * slices + s)];
      *b += p[2 * (c * slices + s) + 1];
    }
  add_row_columns(a, b, t, lanes);
}

// Whether this block is the last of its channel group to have written its partials
// (the group's counter counts them); the same answer in every thread. Every thread of
// the block calls it.
__device__ bool last_block_of_group(unsigned int *counter, int64_t slices) {
  __shared__ bool last;
  __threadfence();  // this block's partials, visible to whichever block is last
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(counter, 1u) == static_cast<unsigned int>(slices - 1);
  __syncthreads();
  if (last) __threadfence();  // and the others' visible to this one
  return last;
}

// In the group's last block: every slice's partials added up in the fixed order, into
// totals[2 c] and [2 c + 1].
__device__ void finish_group(const double *partials, int64_t c, bool active, int64_t slices, const Tile &t, int lanes,
                             unsigned int *counter, double *totals) {
  if (!last_block_of_group(counter, slices)) return;
  double a, b;
  add_slice_partials(partials, c, active, slices, t, lanes, &a, &b);
  if (active && t.row == 0) {
    totals[2 * c] = a;
    totals[2 * c + 1] = b;
  }
}

// partials[2 * (c * slices + s)] = sum of (x - shift), [.. + 1] = its squares, shift
// the channel's first value.
template <typename Types>
__global__ void CYG_LAUNCH_BOUNDS nhwc_stats_partial_kernel(const typename Types::S *x, BatchNormLayoutNhwc layout, int lanes,
                                          int64_t slices, double *partials, double *totals,
                                          unsigned int *counters) {
  using Index = typename Types::Index;
  const Tile t = tile_of(lanes);
  int64_t begin, end;
  slice_range(layout.per_channel(), slices, blockIdx.x, &begin, &end);
  for (int64_t group = blockIdx.y; group * lanes < layout.C; group += gridDim.y) {
    const int64_t c = group * lanes + t.lane;
    const bool active = c < layout.C;
    double sum = 0.0, squares = 0.0;
    if (active) {
      const double shift = widen(x[c]);
      for (int64_t k = begin + t.row; k < end; k += t.rows) {
        const double d =
            static_cast<double>(widen(x[layout.offset<Index>(static_cast<Index>(c), static_cast<Index>(k))])) - shift;
        sum += d;
        squares += d * d;
      }
    }
    add_row_columns(&sum, &squares, t, lanes);
    if (active && t.row == 0) {
      partials[2 * (c * slices + blockIdx.x)] = sum;
      partials[2 * (c * slices + blockIdx.x) + 1] = squares;
    }
    finish_group(partials, c, active, slices, t, lanes, counters + group, totals);
  }
}

// The channel group's statistics from the totals (row column 0, one channel each),
// then the slice normalised with the fused epilogue. The slice-0 block also writes the
// saved and the running statistics.
template <typename Types>
__global__ void CYG_LAUNCH_BOUNDS nhwc_finish_normalise_kernel(const typename Types::S *x, const float *gamma, const float *beta,
                                             BatchNormLayoutNhwc layout, int lanes, int64_t slices,
                                             const double *totals, float eps, float momentum,
                                             BatchNormFusion<typename Types::S> fusion, typename Types::S *y,
                                             float *save_mean, float *save_invstd, float *running_mean,
                                             float *running_var) {
  using Index = typename Types::Index;
  __shared__ float group_mean[32], group_invstd[32];
  const Tile t = tile_of(lanes);
  int64_t begin, end;
  slice_range(layout.per_channel(), slices, blockIdx.x, &begin, &end);
  for (int64_t group = blockIdx.y; group * lanes < layout.C; group += gridDim.y) {
    const int64_t c = group * lanes + t.lane;
    const bool active = c < layout.C;
    if (active && t.row == 0) {
      const ChannelStats st =
          batchnorm_stats_from_sums(widen(x[c]), layout.per_channel(), totals[2 * c], totals[2 * c + 1], eps);
      group_mean[t.lane] = st.mean;
      group_invstd[t.lane] = st.invstd;
      if (blockIdx.x == 0) {
        save_mean[c] = st.mean;
        save_invstd[c] = st.invstd;
        if (running_mean != nullptr) {
          running_mean[c] = batchnorm_running_update(running_mean[c], st.mean, momentum);
          running_var[c] = batchnorm_running_update(running_var[c], st.unbiased_var, momentum);
        }
      }
    }
    __syncthreads();
    if (active) {
      const float mean = group_mean[t.lane], invstd = group_invstd[t.lane];
      const float g = batchnorm_param(gamma, c, 1.0f), b = batchnorm_param(beta, c, 0.0f);
      for (int64_t k = begin + t.row; k < end; k += t.rows) {
        const Index i = layout.offset<Index>(static_cast<Index>(c), static_cast<Index>(k));
        store(&y[i], batchnorm_epilogue(batchnorm_normalise(widen(x[i]), mean, invstd, g, b), fusion, i));
      }
    }
    __syncthreads();  // the next group overwrites the shared statistics
  }
}

// partials[2 * (c * slices + s)] = sum of dy, [.. + 1] = sum of dy * xhat, dy masked by
// a fused ReLU (and written to dresidual when asked); xhat from the saved statistics
// (training) or the running ones (Spread::Variance, evaluation).
template <typename Types>
__global__ void CYG_LAUNCH_BOUNDS nhwc_backward_partial_kernel(const typename Types::S *dy, const typename Types::S *x,
                                             const float *mean_of, const float *spread, Spread spread_kind, float eps,
                                             BatchNormBackwardFusion<typename Types::S> fusion,
                                             BatchNormLayoutNhwc layout, int lanes, int64_t slices,
                                             double *partials, double *totals, unsigned int *counters) {
  using Index = typename Types::Index;
  const Tile t = tile_of(lanes);
  int64_t begin, end;
  slice_range(layout.per_channel(), slices, blockIdx.x, &begin, &end);
  for (int64_t group = blockIdx.y; group * lanes < layout.C; group += gridDim.y) {
    const int64_t c = group * lanes + t.lane;
    const bool active = c < layout.C;
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    if (active) {
      const float mean = mean_of[c];
      const float invstd = invstd_from(spread, c, spread_kind, eps);
      for (int64_t k = begin + t.row; k < end; k += t.rows) {
        const Index i = layout.offset<Index>(static_cast<Index>(c), static_cast<Index>(k));
        const float d = batchnorm_masked_dy(widen(dy[i]), fusion, i);
        if (fusion.dresidual != nullptr) store(&fusion.dresidual[i], d);
        sum_dy += d;
        sum_dy_xhat += static_cast<double>(d * batchnorm_xhat(widen(x[i]), mean, invstd));
      }
    }
    add_row_columns(&sum_dy, &sum_dy_xhat, t, lanes);
    if (active && t.row == 0) {
      partials[2 * (c * slices + blockIdx.x)] = sum_dy;
      partials[2 * (c * slices + blockIdx.x) + 1] = sum_dy_xhat;
    }
    finish_group(partials, c, active, slices, t, lanes, counters + group, totals);
  }
}

// The channel group's dgamma and dbeta from the totals, then dx of the slice. The
// slice-0 block also writes dgamma and dbeta.
template <typename Types>
__global__ void CYG_LAUNCH_BOUNDS nhwc_finish_backward_dx_kernel(const typename Types::S *dy, const typename Types::S *x,
                                               const float *gamma, const float *save_mean, const float *save_invstd,
                                               BatchNormBackwardFusion<typename Types::S> fusion,
                                               BatchNormLayoutNhwc layout, int lanes, int64_t slices,
                                               const double *totals, float *dgamma, float *dbeta,
                                               typename Types::S *dx) {
  using Index = typename Types::Index;
  __shared__ float group_dgamma[32], group_dbeta[32];
  const Tile t = tile_of(lanes);
  const float mf = static_cast<float>(layout.per_channel());
  int64_t begin, end;
  slice_range(layout.per_channel(), slices, blockIdx.x, &begin, &end);
  for (int64_t group = blockIdx.y; group * lanes < layout.C; group += gridDim.y) {
    const int64_t c = group * lanes + t.lane;
    const bool active = c < layout.C;
    if (active && t.row == 0) {
      group_dbeta[t.lane] = static_cast<float>(totals[2 * c]);
      group_dgamma[t.lane] = static_cast<float>(totals[2 * c + 1]);
      if (blockIdx.x == 0) {
        dgamma[c] = group_dgamma[t.lane];
        dbeta[c] = group_dbeta[t.lane];
      }
    }
    __syncthreads();
    if (active) {
      const float mean = save_mean[c], invstd = save_invstd[c];
      const float gamma_invstd = batchnorm_param(gamma, c, 1.0f) * invstd;
      const float mean_dy = group_dbeta[t.lane] / mf, mean_dy_xhat = group_dgamma[t.lane] / mf;
      for (int64_t k = begin + t.row; k < end; k += t.rows) {
        const Index i = layout.offset<Index>(static_cast<Index>(c), static_cast<Index>(k));
        store(&dx[i], batchnorm_backward_dx(batchnorm_masked_dy(widen(dy[i]), fusion, i),
                                            batchnorm_xhat(widen(x[i]), mean, invstd), mean_dy, mean_dy_xhat,
                                            gamma_invstd));
      }
    }
    __syncthreads();  // the next group overwrites the shared sums
  }
}

template <typename Index, typename S>
void launch_nhwc_backward_partials(const S *dy, const S *x, const float *mean, const float *spread,
                                   Spread spread_kind, float eps, const BatchNormBackwardFusion<S> &fusion,
                                   const BatchNormLayoutNhwc &layout, const NhwcPlan &plan, double *workspace,
                                   const LaunchConfig &cfg) {
  using Types = KernelTypes<Index, S, BatchNormLayoutNhwc>;
  const NhwcWorkspace w = nhwc_workspace(workspace, layout.C, plan.slices, plan.lanes);
  zero_async(w.counters, sizeof(unsigned int) * static_cast<size_t>(w.groups), stream_of(cfg));
  CYG_LAUNCH(nhwc_backward_partial_kernel<Types>, plan.grid, block_size(cfg), 0, stream_of(cfg), dy,
             x, mean, spread, spread_kind, eps, fusion, layout, plan.lanes, plan.slices, w.partials, w.totals,
             w.counters);
  CYG_CHECK_LAUNCH();
}
}  // namespace

template <typename S>
void batchnorm_forward_train_nhwc_cuda(const S *x, const float *gamma, const float *beta, int64_t N, int64_t C,
                                       int64_t HW, float eps, float momentum, S *y, float *save_mean,
                                       float *save_invstd, float *running_mean, float *running_var, double *workspace,
                                       BatchNormFusion<S> fusion, const LaunchConfig &cfg) {
  check_batchnorm_train_args(N, HW, gamma, beta, running_mean, running_var);
  check_block(cfg);
  if (C == 0) return;
  const BatchNormLayoutNhwc layout{N, C, HW};
  const NhwcPlan plan = nhwc_plan(layout, cfg);
  // x twice (statistics, then normalisation), y once; per-channel values and the
  // slices' double partials besides.
  const int64_t partial_bytes = 16 * C * plan.slices;
  const int64_t e = static_cast<int64_t>(sizeof(S));
  const int64_t residual_bytes = fusion.residual != nullptr ? e * layout.numel() : 0;
  count_traffic(__func__, 2 * e * layout.numel() + residual_bytes + 16 * C + partial_bytes,
                e * layout.numel() + 16 * C + partial_bytes);
  const NhwcWorkspace w = nhwc_workspace(workspace, C, plan.slices, plan.lanes);
  zero_async(w.counters, sizeof(unsigned int) * static_cast<size_t>(w.groups), stream_of(cfg));
  with_index_type(layout.numel(), [&](auto index) {
    using Types = KernelTypes<decltype(index), S, BatchNormLayoutNhwc>;
    CYG_LAUNCH(nhwc_stats_partial_kernel<Types>, plan.grid, block_size(cfg), 0, stream_of(cfg), x, layout, plan.lanes,
               plan.slices, w.partials, w.totals, w.counters);
    CYG_CHECK_LAUNCH();
    CYG_LAUNCH(nhwc_finish_normalise_kernel<Types>, plan.grid, block_size(cfg), 0, stream_of(cfg), x, gamma, beta,
               layout, plan.lanes, plan.slices, w.totals, eps, momentum, fusion, y, save_mean, save_invstd,
               running_mean, running_var);
    CYG_CHECK_LAUNCH();
  });
}

template <typename S>
void batchnorm_forward_eval_nhwc_cuda(const S *x, const float *gamma, const float *beta, const float *running_mean,
                                      const float *running_var, int64_t N, int64_t C, int64_t HW, float eps, S *y,
                                      BatchNormFusion<S> fusion, const LaunchConfig &cfg) {
  check_batchnorm_eval_args(gamma, beta, running_mean, running_var);
  const BatchNormLayoutNhwc layout{N, C, HW};
  if (layout.numel() == 0) return;
  const int64_t e = static_cast<int64_t>(sizeof(S));
  count_traffic(__func__, (fusion.residual != nullptr ? 2 * e : e) * layout.numel() + 16 * C, e * layout.numel());
  with_index_type(layout.numel(), [&](auto index) {
    using Types = KernelTypes<decltype(index), S, BatchNormLayoutNhwc>;
    CYG_LAUNCH(batchnorm_normalise_kernel<Types>, grid_size(layout.numel(), cfg),
               block_size(cfg), 0, stream_of(cfg), x, gamma, beta, running_mean, running_var, Spread::Variance, layout,
               eps, fusion, y);
    CYG_CHECK_LAUNCH();
  });
}

template <typename S>
void batchnorm_backward_nhwc_cuda(const S *dy, const S *x, const float *gamma, const float *save_mean,
                                  const float *save_invstd, int64_t N, int64_t C, int64_t HW, S *dx, float *dgamma,
                                  float *dbeta, double *workspace, BatchNormBackwardFusion<S> fusion,
                                  const LaunchConfig &cfg) {
  check_batchnorm_backward_args(dgamma, dbeta);
  check_block(cfg);
  if (C == 0) return;
  const BatchNormLayoutNhwc layout{N, C, HW};
  const NhwcPlan plan = nhwc_plan(layout, cfg);
  // dy and x for the sums, again for dx; a fused ReLU's y twice, its dresidual once.
  const int64_t n = layout.numel(), e = static_cast<int64_t>(sizeof(S));
  count_traffic(__func__, 4 * e * n + (fusion.y != nullptr ? 2 * e * n : 0) + 20 * C,
                e * n + (fusion.dresidual != nullptr ? e * n : 0) + 8 * C);
  with_index_type(layout.numel(), [&](auto index) {
    using Index = decltype(index);
    launch_nhwc_backward_partials<Index, S>(dy, x, save_mean, save_invstd, Spread::InvStd, 0.0f, fusion, layout, plan,
                                            workspace, cfg);
    using Types = KernelTypes<Index, S, BatchNormLayoutNhwc>;
    CYG_LAUNCH(nhwc_finish_backward_dx_kernel<Types>, plan.grid, block_size(cfg), 0, stream_of(cfg),
               dy, x, gamma, save_mean, save_invstd, fusion, layout, plan.lanes, plan.slices,
               nhwc_workspace(workspace, C, plan.slices, plan.lanes).totals, dgamma, dbeta, dx);
    CYG_CHECK_LAUNCH();
  });
}

template <typename S>
void batchnorm_backward_eval_nhwc_cuda(const S *dy, const S *x, const float *gamma, const float *running_mean,
                                       const float *running_var, int64_t N, int64_t C, int64_t HW, float eps, S *dx,
                                       float *dgamma, float *dbeta, double *workspace,
                                       BatchNormBackwardFusion<S> fusion, const LaunchConfig &cfg) {
  check_batchnorm_backward_args(dgamma, dbeta);
  check_block(cfg);
  if (C == 0) return;
  const BatchNormLayoutNhwc layout{N, C, HW};
  const NhwcPlan plan = nhwc_plan(layout, cfg);
  // dy and x for the sums, dy again for dx; a fused ReLU's y twice, its dresidual once.
  const int64_t n = layout.numel(), e = static_cast<int64_t>(sizeof(S));
  count_traffic(__func__, 3 * e * n + (fusion.y != nullptr ? 2 * e * n : 0) + 20 * C,
                e * n + (fusion.dresidual != nullptr ? e * n : 0) + 8 * C);
  with_index_type(layout.numel(), [&](auto index) {
    using Index = decltype(index);
    launch_nhwc_backward_partials<Index, S>(dy, x, running_mean, running_var, Spread::Variance, eps, fusion, layout,
                                            plan, workspace, cfg);
    CYG_LAUNCH(batchnorm_backward_finish_kernel, finish_grid(C), 128, 0, stream_of(cfg), C, plan.slices, workspace,
               dgamma, dbeta);
    CYG_CHECK_LAUNCH();
    using Types = KernelTypes<Index, S, BatchNormLayoutNhwc>;
    CYG_LAUNCH(batchnorm_backward_dx_eval_kernel<Types>, grid_size(layout.numel(), cfg), block_size(cfg), 0, stream_of(cfg), dy, gamma, running_var, eps, fusion,
               layout, dx);
    CYG_CHECK_LAUNCH();
  });
}

#define CYG_INSTANTIATE_BATCHNORM_NHWC(S)                                                                              \
  template void batchnorm_forward_train_nhwc_cuda<S>(const S *, const float *, const float *, int64_t, int64_t,       \
                                                     int64_t, float, float, S *, float *, float *, float *, float *,   \
                                                     double *, BatchNormFusion<S>, const LaunchConfig &);              \
  template void batchnorm_forward_eval_nhwc_cuda<S>(const S *, const float *, const float *, const float *,            \
                                                    const float *, int64_t, int64_t, int64_t, float, S *,              \
                                                    BatchNormFusion<S>, const LaunchConfig &);                         \
  template void batchnorm_backward_nhwc_cuda<S>(const S *, const S *, const float *, const float *, const float *,    \
                                                int64_t, int64_t, int64_t, S *, float *, float *, double *,            \
                                                BatchNormBackwardFusion<S>, const LaunchConfig &);                     \
  template void batchnorm_backward_eval_nhwc_cuda<S>(const S *, const S *, const float *, const float *,              \
                                                     const float *, int64_t, int64_t, int64_t, float, S *, float *,    \
                                                     float *, double *, BatchNormBackwardFusion<S>,                    \
                                                     const LaunchConfig &);
CYG_INSTANTIATE_BATCHNORM_NHWC(float)
CYG_INSTANTIATE_BATCHNORM_NHWC(uint16_t)
#undef CYG_INSTANTIATE_BATCHNORM_NHWC

}  // namespace cyg::CYG_KNS
