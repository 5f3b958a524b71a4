// What the NCHW (batchnorm.cu) and channels-last (batchnorm_nhwc.cu) batchnorm kernels
// share: the slices' ranges and statistics type, the element-wise kernels
// (evaluation forward, evaluation dx; a Layout says which channel an offset is in), and
// the launch checks. partials[2 * (c * slices + s)] and [.. + 1] hold slice s's two sums
// of channel c for NCHW, partials[2 * (s * C + c)] for channels-last (whose last block
// of a group then reads each slice's channels in one run).
#pragma once
#include "kernels/batchnorm.h"
#include "kernels/cuda/block_reduce.cuh"

namespace cyg::CYG_KNS::batchnorm_detail {
// Outside the anonymous namespace: the launches' lambdas capture it.
// What the dx pass of a backward reads for dy: where the sums pass wrote the ReLU-masked
// dy to dresidual (dy or 0, so its storage holds it exactly), that tensor alone, in place
// of dy and the mask's y.
template <typename S>
struct DxSource {
  const S *dy;
  BatchNormBackwardFusion<S> fusion;
};
template <typename S>
DxSource<S> dx_source(const S *dy, const BatchNormBackwardFusion<S> &fusion) {
  if (fusion.masked() && fusion.dresidual != nullptr) return {fusion.dresidual, {}};
  return {dy, fusion};
}

// The bytes of dy and a fused ReLU's mask (y, or its bits) that a backward reads: dy
// twice (the sums, then dx), the mask once with each where it is fused, the masked dy in
// place of both in the dx pass where the sums pass writes it (dx_source).
template <typename S>
int64_t backward_dy_bytes(int64_t numel, const BatchNormBackwardFusion<S> &fusion) {
  const int64_t tensor = numel * static_cast<int64_t>(sizeof(S));
  if (!fusion.masked()) return 2 * tensor;
  const int64_t mask = fusion.mask != nullptr ? relu_mask_bytes(numel) : tensor;
  return fusion.dresidual != nullptr ? 2 * tensor + mask : 2 * tensor + 2 * mask;
}

// The channels-last training forward writes the mask as bits in whole packs of 8 values
// (a byte each).
template <typename S>
void check_mask_bits(const BatchNormFusion<S> &fusion, int width, const char *where) {
  check_batchnorm_mask_bits(fusion, true, where);
  CYG_CHECK(fusion.mask == nullptr || width == 8, where, ": the ReLU mask as bits is written 8 values at a time ",
            "(bf16 channels-last, C a multiple of 8, 16-byte aligned pointers); this call reads ", width, " at a time");
}

// Internal linkage: each of the two files gets its own copy of the kernels below.
namespace {

// What the per-channel spread argument holds: the batch's invstd (training), or
// the running variance, from which invstd is derived (evaluation).
enum class Spread { InvStd, Variance };

__device__ __forceinline__ float invstd_from(const float *spread, int64_t c, Spread kind, float eps) {
  return kind == Spread::Variance ? batchnorm_invstd(spread[c], eps) : spread[c];
}

// A kernel's index type (32 bits where they fit), activations' storage (float or bf16
// bits) and layout (BatchNormLayout or BatchNormLayoutNhwc), as one template argument.
template <typename IndexType, typename Storage, typename LayoutType = BatchNormLayout>
struct KernelTypes {
  using Index = IndexType;
  using S = Storage;
  using Layout = LayoutType;
};

// The [begin, end) share of slice s of m values.
__device__ __forceinline__ void slice_range(int64_t m, int64_t slices, int64_t s, int64_t *begin, int64_t *end) {
  const int64_t per = (m + slices - 1) / slices;
  *begin = s * per < m ? s * per : m;
  *end = *begin + per < m ? *begin + per : m;
}

using ChannelStats = BatchNormStats<float>;

// A channel's saved statistics, and its running ones updated, as the slice-0 block of a
// training forward writes them.
__device__ __forceinline__ void write_channel_stats(const ChannelStats &st, int64_t c, float momentum,
                                                    float *save_mean, float *save_invstd, float *running_mean,
                                                    float *running_var) {
  save_mean[c] = st.mean;
  save_invstd[c] = st.invstd;
  if (running_mean != nullptr) {
    running_mean[c] = batchnorm_running_update(running_mean[c], st.mean, momentum);
    running_var[c] = batchnorm_running_update(running_var[c], st.unbiased_var, momentum);
  }
}

// Training normalises with the batch's invstd; eval derives it from the running
// variance (Spread::Variance). The fused epilogue (residual add, ReLU) follows.
template <typename Types>
__global__ void CYG_LAUNCH_BOUNDS batchnorm_normalise_kernel(const typename Types::S *x, const float *gamma, const float *beta,
                                           const float *mean, const float *spread, Spread spread_kind,
                                           typename Types::Layout layout,
                                           float eps, BatchNormFusion<typename Types::S> fusion,
                                           typename Types::S *y) {
  using Index = typename Types::Index;
  const Index n = static_cast<Index>(layout.numel());
  const Index stride = static_cast<Index>(blockDim.x) * gridDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const Index c = layout.template channel_of<Index>(i);
    const float invstd = invstd_from(spread, c, spread_kind, eps);
    const float v = batchnorm_normalise(widen(x[i]), mean[c], invstd, batchnorm_param(gamma, c, 1.0f),
                                        batchnorm_param(beta, c, 0.0f));
    store(&y[i], batchnorm_epilogue(v, fusion, i));
  }
}

template <typename Types>
__global__ void CYG_LAUNCH_BOUNDS batchnorm_backward_dx_eval_kernel(const typename Types::S *dy, const float *gamma,
                                                  const float *running_var, float eps,
                                                  BatchNormBackwardFusion<typename Types::S> fusion,
                                                  typename Types::Layout layout,
                                                  typename Types::S *dx) {
  using Index = typename Types::Index;
  const Index n = static_cast<Index>(layout.numel());
  const Index stride = static_cast<Index>(blockDim.x) * gridDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const Index c = layout.template channel_of<Index>(i);
    store(&dx[i], batchnorm_backward_dx_eval(batchnorm_masked_dy(widen(dy[i]), fusion, i),
                                             batchnorm_param(gamma, c, 1.0f) * batchnorm_invstd(running_var[c], eps)));
  }
}

inline void check_block(const LaunchConfig &cfg) {
  const int block = block_size(cfg);
  CYG_CHECK(block % 32 == 0 && block <= 1024, "batchnorm block size ", block,
            " must be a multiple of 32, at most 1024 (blocks reduce slices of channels)");
}

// The grid of the two-pass kernels: slices by channels (NCHW) or channel groups (NHWC).
inline dim3 slice_grid(int64_t slices, int64_t channels) {
  return dim3(static_cast<unsigned>(slices), static_cast<unsigned>(channels < 65535 ? channels : 65535));
}

// Calls launch(index) with a uint32_t index below 2^31 elements (cheaper to
// divide), else with an int64_t one; the launch picks its kernel instance by
// decltype(index).
template <typename Launch>
void with_index_type(int64_t numel, Launch launch) {
  if (numel < (int64_t(1) << 31)) {
    launch(uint32_t{0});
  } else {
    launch(int64_t{0});
  }
}

inline int finish_grid(int64_t C) {
  return static_cast<int>(ceil_div(C, 128) < 65535 ? ceil_div(C, 128) : 65535);
}

}  // namespace
}  // namespace cyg::CYG_KNS::batchnorm_detail
