// Global average pooling of NCHW activations: y[n, c] = mean over h, w of x[n, c, h, w];
// backward dx[n, c, h, w] = dy[n, c] / (H * W). Each (n, c) plane is one contiguous row
// of H*W values.
#pragma once
#include "kernels/common.h"

namespace cyg {

// The forward divides a plane's sum, the backward its upstream gradient, by the plane's area.
template <typename T>
CYG_HD T divide_by_area(T value, int64_t area) {
  return value / T(area);
}

// CPU reference, S = float, double (the finite-difference checks) or uint16_t (bf16
// bits, the math in float; bf16 autocast); the forward sums in double. H and W must be
// at least 1 (cyg::Error otherwise).
template <typename S>
void global_avg_pool_forward_cpu(const S* x, int64_t N, int64_t C, int64_t H, int64_t W, S* y);
template <typename S>
void global_avg_pool_backward_cpu(const S* dy, int64_t N, int64_t C, int64_t H, int64_t W, S* dx);
// The same on channels-last (NHWC) activations: x and dx [N, H, W, C]; y and dy [N, C].
template <typename S>
void global_avg_pool_forward_nhwc_cpu(const S* x, int64_t N, int64_t C, int64_t H, int64_t W, S* y);
template <typename S>
void global_avg_pool_backward_nhwc_cpu(const S* dy, int64_t N, int64_t C, int64_t H, int64_t W, S* dx);

// CUDA, S = float or uint16_t; the forward's block size must be a multiple of 32 (a
// warp per plane).
CYG_CUDA_DECL(template <typename S> void global_avg_pool_forward_cuda(const S* x, int64_t N, int64_t C, int64_t H,
                                                                      int64_t W, S* y, const LaunchConfig& cfg = {}))
CYG_CUDA_DECL(template <typename S> void global_avg_pool_backward_cuda(const S* dy, int64_t N, int64_t C, int64_t H,
                                                                       int64_t W, S* dx, const LaunchConfig& cfg = {}))

// The same on channels-last activations (x and dx [N, H, W, C]); any block size.
CYG_CUDA_DECL(template <typename S> void global_avg_pool_forward_nhwc_cuda(const S* x, int64_t N, int64_t C, int64_t H,
                                                                           int64_t W, S* y, const LaunchConfig& cfg = {}))
CYG_CUDA_DECL(template <typename S> void global_avg_pool_backward_nhwc_cuda(const S* dy, int64_t N, int64_t C,
                                                                            int64_t H, int64_t W, S* dx,
                                                                            const LaunchConfig& cfg = {}))

}  // namespace cyg
