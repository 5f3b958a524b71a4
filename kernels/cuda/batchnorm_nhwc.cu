// BatchNorm2d on channels-last (NHWC) activations: N*HW rows of C values, the channel
// the fastest index. The reductions run on a grid of (row slices, channel groups). A
// thread reads `width` consecutive channels of a row at once (16 bytes: 8 bf16 or 4 f32
// values, where C is a multiple of that and every activation pointer is 16-byte aligned;
// else one value, kernels/batchnorm.h, batchnorm_nhwc_width): a unit. A block's threads
// form `lanes` columns of consecutive units by block/lanes columns of rows (kernels/
// batchnorm.h, batchnorm_nhwc_lanes), so a warp reads whole runs of a row, or several
// whole short rows: coalesced, and in 16-byte accesses where it can (2-byte ones made a
// warp's bf16 load 64 bytes). Each thread sums its channels over every (block/lanes)-th
// row of its slice, a run of at most kBatchNormNhwcRun rows, in float (as cheap on a
// consumer GPU as double is dear, and half the registers); the runs are then added in
// double, by a fixed tree over the row columns (warp shuffles, then the warps in order
// through shared memory), and the slices' partials in a fixed order, so the result has
// the same bits on every run. The last block of a channel group to write its partials (a
// counter per group, zeroed by the launch wrapper) adds them up, once, into the channels'
// totals, which every block of the second launch reads: each block adding up every slice
// itself (as the NCHW kernels do, whose slices are few) cost the square of the slices
// here (512 for 64 channels), and on an H200 made these the heaviest kernels. Training takes two launches each way, as NCHW;
// evaluation is element-wise (its forward by 16-byte packs where the training kernels'
// width allows).
#include "kernels/cuda/batchnorm_common.cuh"
#include "kernels/cuda/vector.cuh"

namespace cyg::CYG_KNS {
// Outside the anonymous namespace: the launches' lambdas capture it.
namespace batchnorm_nhwc_detail {
// The grid and tile of the two-pass kernels, for a width.
struct NhwcPlan {
  int width, lanes;
  int64_t slices;
  dim3 grid;
};

inline NhwcPlan nhwc_plan(const BatchNormLayoutNhwc &layout, const LaunchConfig &cfg, int width) {
  const int64_t lanes = batchnorm_nhwc_lanes(layout.C, width);
  const int64_t slices = batchnorm_nhwc_slices(layout.N, layout.C, layout.HW, cfg, width);
  return {width, static_cast<int>(lanes), slices,
          batchnorm_detail::slice_grid(slices, batchnorm_nhwc_groups(layout.C, width))};
}

// Where the workspace keeps the totals and the counters (kernels/batchnorm.h).
struct NhwcWorkspace {
  double *partials, *totals;
  unsigned int *counters;
  int64_t groups;
};
inline NhwcWorkspace nhwc_workspace(double *workspace, int64_t C, const NhwcPlan &plan) {
  double *totals = workspace + 2 * C * plan.slices;
  return {workspace, totals, reinterpret_cast<unsigned int *>(totals + 2 * C), batchnorm_nhwc_groups(C, plan.width)};
}

// The width a call takes (kernels/batchnorm.h).
template <typename S>
int nhwc_width(int64_t C, std::initializer_list<const void *> pointers) {
  return static_cast<int>(batchnorm_nhwc_width_for(C, sizeof(S), pointers));
}

}  // namespace batchnorm_nhwc_detail

namespace {
using namespace batchnorm_detail;
using batchnorm_nhwc_detail::NhwcPlan;
using batchnorm_nhwc_detail::nhwc_plan;
using batchnorm_nhwc_detail::NhwcWorkspace;
using batchnorm_nhwc_detail::nhwc_workspace;
using batchnorm_nhwc_detail::nhwc_width;

constexpr int kMaxBlock = 1024;
constexpr unsigned kFullWarp = 0xffffffffu;

// A kernel's index type, storage and width, as one template argument.
template <typename IndexType, typename Storage, int Width>
struct NhwcTypes : KernelTypes<IndexType, Storage, BatchNormLayoutNhwc> {
  static constexpr int V = Width;
};

// This thread's unit lane and row column, and the block's number of row columns.
struct Tile {
  int lane, row, rows;
};

__device__ __forceinline__ Tile tile_of(int lanes) {
  return {static_cast<int>(threadIdx.x) % lanes, static_cast<int>(threadIdx.x) / lanes,
          static_cast<int>(blockDim.x) / lanes};
}

// Adds each of a[j] and b[j] over the block's row columns, lane by lane, in a fixed tree:
// the row columns of a warp by shuffles (a butterfly, so that each of its threads holds
// the warp's sum), then the warps' sums in warp order through shared memory (16 KB of
// static shared memory whatever the block). The totals are valid in row column 0.
// Every thread of the block calls it.
template <int V>
__device__ void add_row_columns(double (&a)[V], double (&b)[V], const Tile &t, int lanes) {
  __shared__ double shared_a[kMaxBlock], shared_b[kMaxBlock];
  for (int offset = lanes; offset < 32; offset *= 2)
    for (int j = 0; j < V; ++j) {
      a[j] += __shfl_xor_sync(kFullWarp, a[j], offset);
      b[j] += __shfl_xor_sync(kFullWarp, b[j], offset);
    }
  const int warp = static_cast<int>(threadIdx.x) / 32, warps = static_cast<int>(blockDim.x) / 32;
  const bool first_in_warp = static_cast<int>(threadIdx.x) % 32 < lanes;  // its warp's first row column
  for (int j = 0; j < V; ++j) {
    if (first_in_warp) {
      shared_a[warp * lanes + t.lane] = a[j];
      shared_b[warp * lanes + t.lane] = b[j];
    }
    __syncthreads();
    if (t.row == 0) {
      double sa = 0.0, sb = 0.0;
      for (int w = 0; w < warps; ++w) {
        sa += shared_a[w * lanes + t.lane];
        sb += shared_b[w * lanes + t.lane];
      }
      a[j] = sa;
      b[j] = sb;
    }
    __syncthreads();  // the next component (or channel group) rewrites the shared sums
  }
}

// The two sums of channels c0 .. c0 + V - 1 over their slices' partials: each row column
// adds every rows-th slice, then the columns are added by the fixed tree (the same bits
// whichever block does it, and no thread adds a thousand partials alone). Valid in row
// column 0; every thread of the block calls it. The partials are other blocks' writes of
// this launch: read past this block's cache.
template <int V>
__device__ void add_slice_partials(const double *partials, int64_t C, int64_t c0, bool active, int64_t slices,
                                   const Tile &t, int lanes, double (&a)[V], double (&b)[V]) {
  const volatile double *p = partials;
  for (int j = 0; j < V; ++j) {
    a[j] = 0.0;
    b[j] = 0.0;
  }
  if (active)
    for (int64_t s = t.row; s < slices; s += t.rows)
      for (int j = 0; j < V; ++j) {
        a[j] += p[2 * (s * C + c0 + j)];
        b[j] += p[2 * (s * C + c0 + j) + 1];
      }
  add_row_columns<V>(a, b, t, lanes);
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

// This block's sums of channels c0 .. c0 + V - 1 (valid in row column 0) as slice s's
// partials; then, in the group's last block, every slice's partials added up in the fixed
// order, into totals[2 c] and [2 c + 1].
template <int V>
__device__ void write_partials_and_finish(double (&a)[V], double (&b)[V], double *partials, int64_t C, int64_t c0,
                                          bool active, int64_t slices, const Tile &t, int lanes,
                                          unsigned int *counter, double *totals) {
  if (active && t.row == 0)
    for (int j = 0; j < V; ++j) {
      partials[2 * (blockIdx.x * C + c0 + j)] = a[j];
      partials[2 * (blockIdx.x * C + c0 + j) + 1] = b[j];
    }
  if (!last_block_of_group(counter, slices)) return;
  add_slice_partials<V>(partials, C, c0, active, slices, t, lanes, a, b);
  if (active && t.row == 0)
    for (int j = 0; j < V; ++j) {
      totals[2 * (c0 + j)] = a[j];
      totals[2 * (c0 + j) + 1] = b[j];
    }
}

// The first channel of this thread's unit in channel group `group`.
__device__ __forceinline__ int64_t unit_channel(int64_t group, const Tile &t, int lanes, int V) {
  return (group * lanes + t.lane) * V;
}

// A fused ReLU's mask for the pack of V values at offset i (a multiple of V, which
// divides 8): its bits (bit j for value j) where the forward wrote them, else y's pack
// read into *y where fused.
template <int V, typename S>
__device__ __forceinline__ unsigned load_mask(const BatchNormBackwardFusion<S> &fusion, int64_t i, Pack<S, V> *y) {
  static_assert(8 % V == 0, "a pack's mask bits lie in one byte");
  if (fusion.mask != nullptr) return (static_cast<unsigned>(fusion.mask[i >> 3]) >> (i & 7)) & ((1u << V) - 1u);
  if (fusion.y != nullptr) *y = load_pack<V>(fusion.y + i);
  return 0;
}

// Value j's dy through the fused ReLU's mask (load_mask), as batchnorm_masked_dy.
template <int V, typename S>
__device__ __forceinline__ float masked_dy(float dy, const BatchNormBackwardFusion<S> &fusion, unsigned bits,
                                           const Pack<S, V> &y, int j) {
  if (fusion.mask != nullptr) return relu_backward_from_mask(dy, ((bits >> j) & 1u) != 0);
  return batchnorm_masked_dy_of(dy, fusion.y != nullptr, fusion.y != nullptr ? widen(y.v[j]) : 0.0f);
}

// partials[2 * (s * C + c)] = sum of (x - shift), [.. + 1] = its squares, shift
// the channel's first value.
template <typename Types>
__global__ void CYG_LAUNCH_BOUNDS nhwc_stats_partial_kernel(const typename Types::S *x, BatchNormLayoutNhwc layout,
                                                            int lanes, int64_t slices, double *partials,
                                                            double *totals, unsigned int *counters) {
  using Index = typename Types::Index;
  using S = typename Types::S;
  constexpr int V = Types::V;
  const Tile t = tile_of(lanes);
  int64_t begin, end;
  slice_range(layout.per_channel(), slices, blockIdx.x, &begin, &end);
  for (int64_t group = blockIdx.y; group * lanes * V < layout.C; group += gridDim.y) {
    const int64_t c0 = unit_channel(group, t, lanes, V);
    const bool active = c0 < layout.C;
    float run_sum[V], run_squares[V];  // this thread's run: at most kBatchNormNhwcRun rows
    for (int j = 0; j < V; ++j) run_sum[j] = run_squares[j] = 0.0f;
    if (active) {
      const Pack<S, V> first = load_pack<V>(x + c0);
      for (int64_t k = begin + t.row; k < end; k += t.rows) {
        const Pack<S, V> row = load_pack<V>(x + layout.offset<Index>(static_cast<Index>(c0), static_cast<Index>(k)));
        for (int j = 0; j < V; ++j) {
          const float d = widen(row.v[j]) - widen(first.v[j]);
          run_sum[j] += d;
          run_squares[j] += d * d;
        }
      }
    }
    double sum[V], squares[V];
    for (int j = 0; j < V; ++j) {
      sum[j] = run_sum[j];
      squares[j] = run_squares[j];
    }
    add_row_columns<V>(sum, squares, t, lanes);
    write_partials_and_finish<V>(sum, squares, partials, layout.C, c0, active, slices, t, lanes, counters + group, totals);
  }
}

// The channel group's statistics from the totals (row column 0, one unit each), then the
// slice normalised with the fused epilogue. The slice-0 block also writes the saved and
// the running statistics.
template <typename Types>
__global__ void CYG_LAUNCH_BOUNDS nhwc_finish_normalise_kernel(
    const typename Types::S *x, const float *gamma, const float *beta, BatchNormLayoutNhwc layout, int lanes,
    int64_t slices, const double *totals, float eps, float momentum, BatchNormFusion<typename Types::S> fusion,
    typename Types::S *y, float *save_mean, float *save_invstd, float *running_mean, float *running_var) {
  using Index = typename Types::Index;
  using S = typename Types::S;
  constexpr int V = Types::V;
  __shared__ float group_mean[32 * V], group_invstd[32 * V];
  const Tile t = tile_of(lanes);
  int64_t begin, end;
  slice_range(layout.per_channel(), slices, blockIdx.x, &begin, &end);
  for (int64_t group = blockIdx.y; group * lanes * V < layout.C; group += gridDim.y) {
    const int64_t c0 = unit_channel(group, t, lanes, V);
    const bool active = c0 < layout.C;
    if (active && t.row == 0) {
      const Pack<S, V> first = load_pack<V>(x + c0);
      for (int j = 0; j < V; ++j) {
        const int64_t c = c0 + j;
        const ChannelStats st =
            batchnorm_stats_from_sums(widen(first.v[j]), layout.per_channel(), totals[2 * c], totals[2 * c + 1], eps);
        group_mean[t.lane * V + j] = st.mean;
        group_invstd[t.lane * V + j] = st.invstd;
        if (blockIdx.x == 0) write_channel_stats(st, c, momentum, save_mean, save_invstd, running_mean, running_var);
      }
    }
    __syncthreads();
    if (active) {
      float mean[V], invstd[V], g[V], b[V];
      for (int j = 0; j < V; ++j) {
        mean[j] = group_mean[t.lane * V + j];
        invstd[j] = group_invstd[t.lane * V + j];
        g[j] = batchnorm_param(gamma, c0 + j, 1.0f);
        b[j] = batchnorm_param(beta, c0 + j, 0.0f);
      }
      const bool add = fusion.epilogue == BatchNormEpilogue::AddRelu;
      for (int64_t k = begin + t.row; k < end; k += t.rows) {
        const Index i = layout.offset<Index>(static_cast<Index>(c0), static_cast<Index>(k));
        const Pack<S, V> in = load_pack<V>(x + i);
        Pack<S, V> residual{};
        if (add) residual = load_pack<V>(fusion.residual + i);
        Pack<S, V> out;
        for (int j = 0; j < V; ++j)
          store(&out.v[j], batchnorm_epilogue_of(batchnorm_normalise(widen(in.v[j]), mean[j], invstd[j], g[j], b[j]),
                                                 fusion.epilogue, add ? widen(residual.v[j]) : 0.0f));
        store_pack<V>(y + i, out);
        if constexpr (V == 8) {  // i is a multiple of 8: the pack's byte of the mask
          if (fusion.mask != nullptr) fusion.mask[i >> 3] = relu_mask_byte(out.v, V);
        }
      }
    }
    __syncthreads();  // the next group overwrites the shared statistics
  }
}

// partials[2 * (s * C + c)] = sum of dy, [.. + 1] = sum of dy * xhat, dy masked by
// a fused ReLU (and written to dresidual when asked); xhat from the saved statistics
// (training) or the running ones (Spread::Variance, evaluation).
template <typename Types>
__global__ void CYG_LAUNCH_BOUNDS nhwc_backward_partial_kernel(
    const typename Types::S *dy, const typename Types::S *x, const float *mean_of, const float *spread,
    Spread spread_kind, float eps, BatchNormBackwardFusion<typename Types::S> fusion, BatchNormLayoutNhwc layout,
    int lanes, int64_t slices, double *partials, double *totals, unsigned int *counters) {
  using Index = typename Types::Index;
  using S = typename Types::S;
  constexpr int V = Types::V;
  const Tile t = tile_of(lanes);
  int64_t begin, end;
  slice_range(layout.per_channel(), slices, blockIdx.x, &begin, &end);
  for (int64_t group = blockIdx.y; group * lanes * V < layout.C; group += gridDim.y) {
    const int64_t c0 = unit_channel(group, t, lanes, V);
    const bool active = c0 < layout.C;
    float run_dy[V], run_dy_xhat[V];  // this thread's run: at most kBatchNormNhwcRun rows
    for (int j = 0; j < V; ++j) run_dy[j] = run_dy_xhat[j] = 0.0f;
    if (active) {
      float mean[V], invstd[V];
      for (int j = 0; j < V; ++j) {
        mean[j] = mean_of[c0 + j];
        invstd[j] = invstd_from(spread, c0 + j, spread_kind, eps);
      }
      for (int64_t k = begin + t.row; k < end; k += t.rows) {
        const Index i = layout.offset<Index>(static_cast<Index>(c0), static_cast<Index>(k));
        const Pack<S, V> g = load_pack<V>(dy + i), in = load_pack<V>(x + i);
        Pack<S, V> out{};
        const unsigned bits = load_mask<V>(fusion, i, &out);
        for (int j = 0; j < V; ++j) {
          const float d = masked_dy<V>(widen(g.v[j]), fusion, bits, out, j);
          store(&out.v[j], d);
          run_dy[j] += d;
          run_dy_xhat[j] += d * batchnorm_xhat(widen(in.v[j]), mean[j], invstd[j]);
        }
        if (fusion.dresidual != nullptr) store_pack<V>(fusion.dresidual + i, out);
      }
    }
    double sum_dy[V], sum_dy_xhat[V];
    for (int j = 0; j < V; ++j) {
      sum_dy[j] = run_dy[j];
      sum_dy_xhat[j] = run_dy_xhat[j];
    }
    add_row_columns<V>(sum_dy, sum_dy_xhat, t, lanes);
    write_partials_and_finish<V>(sum_dy, sum_dy_xhat, partials, layout.C, c0, active, slices, t, lanes, counters + group,
                                 totals);
  }
}

// The channel group's dgamma and dbeta from the totals, then dx of the slice. The
// slice-0 block also writes dgamma and dbeta.
template <typename Types>
__global__ void CYG_LAUNCH_BOUNDS nhwc_finish_backward_dx_kernel(
    const typename Types::S *dy, const typename Types::S *x, const float *gamma, const float *save_mean,
    const float *save_invstd, BatchNormBackwardFusion<typename Types::S> fusion, BatchNormLayoutNhwc layout,
    int lanes, int64_t slices, const double *totals, float *dgamma, float *dbeta, typename Types::S *dx) {
  using Index = typename Types::Index;
  using S = typename Types::S;
  constexpr int V = Types::V;
  __shared__ float group_dgamma[32 * V], group_dbeta[32 * V];
  const Tile t = tile_of(lanes);
  const float mf = static_cast<float>(layout.per_channel());
  int64_t begin, end;
  slice_range(layout.per_channel(), slices, blockIdx.x, &begin, &end);
  for (int64_t group = blockIdx.y; group * lanes * V < layout.C; group += gridDim.y) {
    const int64_t c0 = unit_channel(group, t, lanes, V);
    const bool active = c0 < layout.C;
    if (active && t.row == 0)
      for (int j = 0; j < V; ++j) {
        const int64_t c = c0 + j;
        group_dbeta[t.lane * V + j] = static_cast<float>(totals[2 * c]);
        group_dgamma[t.lane * V + j] = static_cast<float>(totals[2 * c + 1]);
        if (blockIdx.x == 0) {
          dgamma[c] = group_dgamma[t.lane * V + j];
          dbeta[c] = group_dbeta[t.lane * V + j];
        }
      }
    __syncthreads();
    if (active) {
      float mean[V], invstd[V], gamma_invstd[V], mean_dy[V], mean_dy_xhat[V];
      for (int j = 0; j < V; ++j) {
        mean[j] = save_mean[c0 + j];
        invstd[j] = save_invstd[c0 + j];
        gamma_invstd[j] = batchnorm_param(gamma, c0 + j, 1.0f) * invstd[j];
        mean_dy[j] = group_dbeta[t.lane * V + j] / mf;
        mean_dy_xhat[j] = group_dgamma[t.lane * V + j] / mf;
      }
      for (int64_t k = begin + t.row; k < end; k += t.rows) {
        const Index i = layout.offset<Index>(static_cast<Index>(c0), static_cast<Index>(k));
        const Pack<S, V> g = load_pack<V>(dy + i), in = load_pack<V>(x + i);
        Pack<S, V> out{};
        const unsigned bits = load_mask<V>(fusion, i, &out);
        for (int j = 0; j < V; ++j)
          store(&out.v[j], batchnorm_backward_dx(masked_dy<V>(widen(g.v[j]), fusion, bits, out, j),
                                                 batchnorm_xhat(widen(in.v[j]), mean[j], invstd[j]), mean_dy[j],
                                                 mean_dy_xhat[j], gamma_invstd[j]));
        store_pack<V>(dx + i, out);
      }
    }
    __syncthreads();  // the next group overwrites the shared sums
  }
}

// Evaluation 16 bytes at a time (C a multiple of V): pack p holds channels (p V) % C to
// that + V - 1 of one row; per element the math of batchnorm_normalise_kernel.
template <typename Types>
__global__ void CYG_LAUNCH_BOUNDS nhwc_normalise_eval_kernel(const typename Types::S *x, const float *gamma,
                                                             const float *beta, const float *running_mean,
                                                             const float *running_var, BatchNormLayoutNhwc layout,
                                                             float eps, BatchNormFusion<typename Types::S> fusion,
                                                             typename Types::S *y) {
  using Index = typename Types::Index;
  using S = typename Types::S;
  constexpr int V = Types::V;
  const Index C = static_cast<Index>(layout.C);
  const bool add = fusion.epilogue == BatchNormEpilogue::AddRelu;
  CYG_GRID_STRIDE_LOOP(p, layout.numel() / V) {
    const Index i = static_cast<Index>(p) * V, c0 = i % C;
    const Pack<S, V> in = load_pack<V>(x + i);
    Pack<S, V> residual{};
    if (add) residual = load_pack<V>(fusion.residual + i);
    Pack<S, V> out;
    for (int j = 0; j < V; ++j) {
      const Index c = c0 + j;
      const float v = batchnorm_normalise(widen(in.v[j]), running_mean[c], batchnorm_invstd(running_var[c], eps),
                                          batchnorm_param(gamma, c, 1.0f), batchnorm_param(beta, c, 0.0f));
      store(&out.v[j], batchnorm_epilogue_of(v, fusion.epilogue, add ? widen(residual.v[j]) : 0.0f));
    }
    store_pack<V>(y + i, out);
  }
}

// dgamma and dbeta of every channel from the totals the last blocks wrote.
__global__ void CYG_LAUNCH_BOUNDS nhwc_totals_to_dgamma_dbeta_kernel(int64_t C, const double *totals, float *dgamma,
                                                                     float *dbeta) {
  CYG_GRID_STRIDE_LOOP(c, C) {
    dbeta[c] = static_cast<float>(totals[2 * c]);
    dgamma[c] = static_cast<float>(totals[2 * c + 1]);
  }
}

template <typename Types, typename S>
void launch_nhwc_backward_partials(const S *dy, const S *x, const float *mean, const float *spread,
                                   Spread spread_kind, float eps, const BatchNormBackwardFusion<S> &fusion,
                                   const BatchNormLayoutNhwc &layout, const NhwcPlan &plan, double *workspace,
                                   const LaunchConfig &cfg) {
  const NhwcWorkspace w = nhwc_workspace(workspace, layout.C, plan);
  zero_async(w.counters, sizeof(unsigned int) * static_cast<size_t>(w.groups), stream_of(cfg));
  CYG_LAUNCH(nhwc_backward_partial_kernel<Types>, plan.grid, block_size(cfg), 0, stream_of(cfg), dy, x, mean,
             spread, spread_kind, eps, fusion, layout, plan.lanes, plan.slices, w.partials, w.totals, w.counters);
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
  check_batchnorm_not_in_place(x, y, static_cast<int64_t>(sizeof(S)) * N * C * HW, "batchnorm_forward_train_nhwc");
  if (C == 0) return;
  const BatchNormLayoutNhwc layout{N, C, HW};
  const NhwcPlan plan = nhwc_plan(layout, cfg, nhwc_width<S>(C, {x, y, fusion.residual}));
  check_mask_bits(fusion, plan.width, "batchnorm_forward_train_nhwc");
  // x twice (statistics, then normalisation), y once (and the mask's bits); per-channel
  // values and the slices' double partials besides.
  const int64_t partial_bytes = 16 * C * plan.slices;
  const int64_t e = static_cast<int64_t>(sizeof(S));
  const int64_t residual_bytes = fusion.residual != nullptr ? e * layout.numel() : 0;
  const int64_t mask_bytes = fusion.mask != nullptr ? relu_mask_bytes(layout.numel()) : 0;
  count_traffic(__func__, 2 * e * layout.numel() + residual_bytes + 16 * C + partial_bytes,
                e * layout.numel() + mask_bytes + 16 * C + partial_bytes);
  const NhwcWorkspace w = nhwc_workspace(workspace, C, plan);
  zero_async(w.counters, sizeof(unsigned int) * static_cast<size_t>(w.groups), stream_of(cfg));
  with_index_type(layout.numel(), [&](auto index) {
    with_vector_width<S>(plan.width, [&](auto width) {
      using Types = NhwcTypes<decltype(index), S, decltype(width)::value>;
      CYG_LAUNCH(nhwc_stats_partial_kernel<Types>, plan.grid, block_size(cfg), 0, stream_of(cfg), x, layout,
                 plan.lanes, plan.slices, w.partials, w.totals, w.counters);
      CYG_CHECK_LAUNCH();
      CYG_LAUNCH(nhwc_finish_normalise_kernel<Types>, plan.grid, block_size(cfg), 0, stream_of(cfg), x, gamma,
                 beta, layout, plan.lanes, plan.slices, w.totals, eps, momentum, fusion, y, save_mean, save_invstd,
                 running_mean, running_var);
      CYG_CHECK_LAUNCH();
    });
  });
}

template <typename S>
void batchnorm_forward_eval_nhwc_cuda(const S *x, const float *gamma, const float *beta, const float *running_mean,
                                      const float *running_var, int64_t N, int64_t C, int64_t HW, float eps, S *y,
                                      BatchNormFusion<S> fusion, const LaunchConfig &cfg) {
  check_batchnorm_eval_args(gamma, beta, running_mean, running_var);
  check_batchnorm_mask_bits(fusion, false, "batchnorm_forward_eval_nhwc");
  const BatchNormLayoutNhwc layout{N, C, HW};
  if (layout.numel() == 0) return;
  const int64_t e = static_cast<int64_t>(sizeof(S));
  count_traffic(__func__, (fusion.residual != nullptr ? 2 * e : e) * layout.numel() + 16 * C, e * layout.numel());
  const bool packs = nhwc_width<S>(C, {x, y, fusion.residual}) == kPackWidth<S>;
  with_index_type(layout.numel(), [&](auto index) {
    if (packs) {
      using Types = NhwcTypes<decltype(index), S, kPackWidth<S>>;
      CYG_LAUNCH(nhwc_normalise_eval_kernel<Types>, grid_size(layout.numel() / kPackWidth<S>, cfg), block_size(cfg),
                 0, stream_of(cfg), x, gamma, beta, running_mean, running_var, layout, eps, fusion, y);
      CYG_CHECK_LAUNCH();
      return;
    }
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
  const NhwcPlan plan = nhwc_plan(layout, cfg, nhwc_width<S>(C, {dy, x, dx, fusion.y, fusion.dresidual}));
  // dy (backward_dy_bytes) and x for the sums, again for dx; a fused ReLU's dresidual
  // written once; the slices' double partials written, and read once by the last block
  // of their group.
  const int64_t n = layout.numel(), e = static_cast<int64_t>(sizeof(S));
  const int64_t partial_bytes = 16 * C * plan.slices;
  count_traffic(__func__,
                backward_dy_bytes(n, fusion) + 2 * e * n + 20 * C +
                    partial_bytes,
                e * n + (fusion.dresidual != nullptr ? e * n : 0) + 8 * C + partial_bytes);
  const DxSource<S> source = dx_source(dy, fusion);
  with_index_type(layout.numel(), [&](auto index) {
    with_vector_width<S>(plan.width, [&](auto width) {
      using Types = NhwcTypes<decltype(index), S, decltype(width)::value>;
      launch_nhwc_backward_partials<Types, S>(dy, x, save_mean, save_invstd, Spread::InvStd, 0.0f, fusion, layout,
                                              plan, workspace, cfg);
      CYG_LAUNCH(nhwc_finish_backward_dx_kernel<Types>, plan.grid, block_size(cfg), 0, stream_of(cfg), source.dy,
                 x, gamma, save_mean, save_invstd, source.fusion, layout, plan.lanes, plan.slices,
                 nhwc_workspace(workspace, C, plan).totals, dgamma, dbeta, dx);
      CYG_CHECK_LAUNCH();
    });
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
  const NhwcPlan plan = nhwc_plan(layout, cfg, nhwc_width<S>(C, {dy, x, fusion.y, fusion.dresidual}));
  // dy (backward_dy_bytes) and x for the sums, dy again for dx; a fused ReLU's dresidual
  // written once; the partials as in training.
  const int64_t n = layout.numel(), e = static_cast<int64_t>(sizeof(S));
  const int64_t partial_bytes = 16 * C * plan.slices;
  count_traffic(__func__,
                backward_dy_bytes(n, fusion) + e * n + 36 * C +
                    partial_bytes,
                e * n + (fusion.dresidual != nullptr ? e * n : 0) + 8 * C + partial_bytes);
  const DxSource<S> source = dx_source(dy, fusion);
  with_index_type(layout.numel(), [&](auto index) {
    with_vector_width<S>(plan.width, [&](auto width) {
      using Types = NhwcTypes<decltype(index), S, decltype(width)::value>;
      launch_nhwc_backward_partials<Types, S>(dy, x, running_mean, running_var, Spread::Variance, eps, fusion, layout,
                                              plan, workspace, cfg);
    });
    CYG_LAUNCH(nhwc_totals_to_dgamma_dbeta_kernel, finish_grid(C), 128, 0, stream_of(cfg), C,
               nhwc_workspace(workspace, C, plan).totals, dgamma, dbeta);
    CYG_CHECK_LAUNCH();
    using Types = KernelTypes<decltype(index), S, BatchNormLayoutNhwc>;
    CYG_LAUNCH(batchnorm_backward_dx_eval_kernel<Types>, grid_size(layout.numel(), cfg), block_size(cfg), 0,
               stream_of(cfg), source.dy, gamma, running_var, eps, source.fusion, layout, dx);
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
