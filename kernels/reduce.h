// Reductions: sum and mean over all elements, and over one axis of a tensor seen as
// [outer, reduced, inner] (out has outer*inner elements).
#pragma once
#include "kernels/common.h"

namespace cyg {

// What a reduction computes.
enum class Reduction { Sum, Mean };

CYG_HD float mean_from_sum(float sum, int64_t count) { return count > 0 ? sum / static_cast<float>(count) : 0.0f; }

void sum_cpu(const float* x, int64_t n, float* out);
void mean_cpu(const float* x, int64_t n, float* out);
void sum_dim_cpu(const float* x, int64_t outer, int64_t reduced, int64_t inner, float* out);
void mean_dim_cpu(const float* x, int64_t outer, int64_t reduced, int64_t inner, float* out);

// sum_cuda and mean_cuda reduce in two passes (per-block partials, then one block)
// with no atomics, so the result is the same on every run; `workspace` holds the
// partials: reduce_workspace_floats(n, cfg) floats of device memory.
inline int64_t reduce_workspace_floats(int64_t n, const LaunchConfig& cfg) { return grid_size(n, cfg); }

CYG_CUDA_DECL(void sum_cuda(const float* x, int64_t n, float* out, float* workspace, const LaunchConfig& cfg = {}))
CYG_CUDA_DECL(void mean_cuda(const float* x, int64_t n, float* out, float* workspace, const LaunchConfig& cfg = {}))
CYG_CUDA_DECL(void sum_dim_cuda(const float* x, int64_t outer, int64_t reduced, int64_t inner, float* out,
                                const LaunchConfig& cfg = {}))
// Moments of a tensor's values, for a layer's output statistics (fastai's ActivationStats:
// mean, standard deviation, share at or below a threshold): for each chunk of
// kMomentChunk consecutive elements, three floats, its sum, its sum of squares about
// `shift` and its count of values at or below `threshold` (exact: a chunk is far below
// 2^24). The caller adds the chunks in double, so the rounding of a whole tensor's sums
// stays one chunk's, and takes the squares about the mean (a second pass with the first's
// mean as the shift), so a near-constant output loses nothing to cancellation. `chunks`
// holds kMomentsPerChunk * moment_chunks(n) floats. The elements' order does not matter:
// any layout of an activation (NCHW, NHWC) gives its moments.
inline constexpr int64_t kMomentChunk = 4096;
inline constexpr int64_t kMomentsPerChunk = 3;
CYG_HD int64_t moment_chunks(int64_t n) { return (n + kMomentChunk - 1) / kMomentChunk; }

// One value into a chunk's three sums (Acc: float on the device, double in the reference).
template <typename Acc>
CYG_HD void add_moments(float x, float shift, float threshold, Acc& sum, Acc& squares, Acc& at_or_below) {
  const Acc d = static_cast<Acc>(x) - static_cast<Acc>(shift);
  sum += x;
  squares += d * d;
  at_or_below += x <= threshold ? Acc(1) : Acc(0);
}

void moments_cpu(const float* x, int64_t n, float shift, float threshold, float* chunks);
void moments_bf16_cpu(const uint16_t* x, int64_t n, float shift, float threshold, float* chunks);
// One block per chunk (grid-stride over the chunks); no atomics, the same bits every run.
CYG_CUDA_DECL(void moments_cuda(const float* x, int64_t n, float shift, float threshold, float* chunks,
                                const LaunchConfig& cfg = {}))
CYG_CUDA_DECL(void moments_bf16_cuda(const uint16_t* x, int64_t n, float shift, float threshold, float* chunks,
                                     const LaunchConfig& cfg = {}))

// A histogram of a tensor's values, as torch.histc(x, bins, lo, hi) counts them (fastai's
// ActivationStats(with_hist=True)): `bins` equal bins over [lo, hi], a value equal to hi
// in the last, values outside [lo, hi] and NaN in none. Each value's bin is added to
// counts[bins] (the caller zeroes them); integer counts, so the same on every run.
inline constexpr int kMaxHistogramBins = 64;
CYG_HD int histogram_bin(float x, float lo, float hi, int bins) {
  if (!(x >= lo && x <= hi)) return -1;  // NaN too
  const int b = static_cast<int>((x - lo) * static_cast<float>(bins) / (hi - lo));
  return b < bins ? b : bins - 1;
}
void histogram_cpu(const float* x, int64_t n, float lo, float hi, int bins, int64_t* counts);
void histogram_bf16_cpu(const uint16_t* x, int64_t n, float lo, float hi, int bins, int64_t* counts);
// Each block counts its grid-stride share in shared memory, then adds its counts to
// `counts` with integer atomics. bins at most kMaxHistogramBins.
CYG_CUDA_DECL(void histogram_cuda(const float* x, int64_t n, float lo, float hi, int bins, int64_t* counts,
                                  const LaunchConfig& cfg = {}))
CYG_CUDA_DECL(void histogram_bf16_cuda(const uint16_t* x, int64_t n, float lo, float hi, int bins, int64_t* counts,
                                       const LaunchConfig& cfg = {}))

CYG_CUDA_DECL(void mean_dim_cuda(const float* x, int64_t outer, int64_t reduced, int64_t inner, float* out,
                                 const LaunchConfig& cfg = {}))

}  // namespace cyg
