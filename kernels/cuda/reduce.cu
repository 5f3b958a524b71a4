// Reductions. sum/mean over all elements: pass 1, each block sums a grid-stride share
// into workspace[block]; pass 2, one block sums the partials. Over one axis: one block
// per output element (grid-stride over outputs), threads stride over the reduced axis.
// Moments (a layer's output statistics): one block per chunk, three sums each. Histograms:
// each block's counts in shared memory, added to the total with integer atomics.
// Bound by memory bandwidth; block sizes must be multiples of 32.
#include <cmath>

#include "kernels/cuda/block_reduce.cuh"
#include "kernels/reduce.h"

namespace cyg::CYG_KNS {
namespace {
__global__ void CYG_LAUNCH_BOUNDS partial_sum_kernel(const float* x, int64_t n, float* partials) {
  float acc = 0.0f;
  CYG_GRID_STRIDE_LOOP(i, n) acc += x[i];
  acc = block_reduce_sum(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

__global__ void CYG_LAUNCH_BOUNDS finish_sum_kernel(const float* partials, int64_t count, float* out, int64_t mean_count) {
  float acc = 0.0f;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) acc += partials[i];
  acc = block_reduce_sum(acc);
  if (threadIdx.x == 0) *out = mean_count > 0 ? mean_from_sum(acc, mean_count) : acc;
}

__global__ void CYG_LAUNCH_BOUNDS axis_sum_kernel(const float* x, int64_t outer, int64_t reduced, int64_t inner, float* out,
                                int64_t mean_count) {
  for (int64_t k = blockIdx.x; k < outer * inner; k += gridDim.x) {
    const int64_t o = k / inner, i = k % inner;
    float acc = 0.0f;
    for (int64_t r = threadIdx.x; r < reduced; r += blockDim.x) acc += x[(o * reduced + r) * inner + i];
    acc = block_reduce_sum(acc);
    if (threadIdx.x == 0) out[k] = mean_count > 0 ? mean_from_sum(acc, mean_count) : acc;
  }
}

// Block c sums chunk c (and c + gridDim.x, ...): its threads stride through the chunk,
// then three block reductions; every thread of a block runs the same chunks.
template <typename T>
__global__ void CYG_LAUNCH_BOUNDS moments_kernel(const T* x, int64_t n, float shift, float threshold, float* chunks) {
  const int64_t count = moment_chunks(n);
  for (int64_t c = blockIdx.x; c < count; c += gridDim.x) {
    const int64_t begin = c * kMomentChunk, end = n < begin + kMomentChunk ? n : begin + kMomentChunk;
    float sum = 0.0f, squares = 0.0f, at_or_below = 0.0f;
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
      add_moments(widen(x[i]), shift, threshold, sum, squares, at_or_below);
    sum = block_reduce_sum(sum);
    squares = block_reduce_sum(squares);
    at_or_below = block_reduce_sum(at_or_below);
    if (threadIdx.x == 0) {
      chunks[kMomentsPerChunk * c] = sum;
      chunks[kMomentsPerChunk * c + 1] = squares;
      chunks[kMomentsPerChunk * c + 2] = at_or_below;
    }
  }
}

template <typename T>
__global__ void CYG_LAUNCH_BOUNDS histogram_kernel(const T* x, int64_t n, float lo, float hi, int bins,
                                                   unsigned long long* counts) {
  __shared__ unsigned int block_counts[kMaxHistogramBins];
  for (int b = threadIdx.x; b < bins; b += blockDim.x) block_counts[b] = 0u;
  __syncthreads();
  CYG_GRID_STRIDE_LOOP(i, n) {
    const int b = histogram_bin(widen(x[i]), lo, hi, bins);
    if (b >= 0) atomicAdd(&block_counts[b], 1u);
  }
  __syncthreads();
  for (int b = threadIdx.x; b < bins; b += blockDim.x)
    if (block_counts[b] != 0u) atomicAdd(&counts[b], static_cast<unsigned long long>(block_counts[b]));
}

void check_reduce_block(int block) {
  CYG_CHECK(block % 32 == 0 && block <= 1024, "reduction block size ", block,
            " must be a multiple of 32, at most 1024");
}

void sum_or_mean(const float* x, int64_t n, float* out, float* workspace, const LaunchConfig& cfg, Reduction r) {
  const int block = block_size(cfg);
  check_reduce_block(block);
  const int grid = grid_size(n, cfg);
  CYG_LAUNCH(partial_sum_kernel, grid, block, 0, stream_of(cfg), x, n, workspace);
  CYG_CHECK_LAUNCH();
  CYG_LAUNCH(finish_sum_kernel, 1, block, 0, stream_of(cfg), workspace, int64_t(grid), out,
             r == Reduction::Mean ? n : int64_t(0));
  CYG_CHECK_LAUNCH();
}

void axis_sum_or_mean(const float* x, int64_t outer, int64_t reduced, int64_t inner, float* out,
                      const LaunchConfig& cfg, Reduction r) {
  const int64_t outputs = outer * inner;
  if (outputs == 0) return;
  const int block = block_size(cfg);
  check_reduce_block(block);
  const int64_t cap = cfg.max_blocks > 0 ? cfg.max_blocks : 65535;
  const int grid = static_cast<int>(outputs < cap ? outputs : cap);
  CYG_LAUNCH(axis_sum_kernel, grid, block, 0, stream_of(cfg), x, outer, reduced, inner, out,
             r == Reduction::Mean ? reduced : int64_t(0));
  CYG_CHECK_LAUNCH();
}

template <typename T>
void launch_histogram(const T* x, int64_t n, float lo, float hi, int bins, int64_t* counts, const LaunchConfig& cfg) {
  CYG_CHECK(bins >= 1 && bins <= kMaxHistogramBins && lo < hi && std::isfinite((hi - lo) * static_cast<float>(bins)),
            "histogram of ", bins, " bins over [", lo, ", ", hi, "]: expected 1 to ", kMaxHistogramBins,
            " bins over a finite range, lo < hi");
  if (n == 0) return;
  // A block counts at most 2^32 - 1 values in its shared counters.
  CYG_CHECK(n / grid_size(n, cfg) < (int64_t{1} << 31), "histogram of ", n, " values: too many for each block");
  CYG_LAUNCH(histogram_kernel<T>, grid_size(n, cfg), block_size(cfg), 0, stream_of(cfg), x, n, lo, hi, bins,
             reinterpret_cast<unsigned long long*>(counts));
  CYG_CHECK_LAUNCH();
}

template <typename T>
void launch_moments(const T* x, int64_t n, float shift, float threshold, float* chunks, const LaunchConfig& cfg) {
  const int64_t count = moment_chunks(n);
  if (count == 0) return;
  const int block = block_size(cfg);
  check_reduce_block(block);
  const int64_t cap = cfg.max_blocks > 0 ? cfg.max_blocks : 65535;
  CYG_LAUNCH(moments_kernel<T>, static_cast<int>(count < cap ? count : cap), block, 0, stream_of(cfg), x, n,
             shift, threshold, chunks);
  CYG_CHECK_LAUNCH();
}
}  // namespace

void histogram_cuda(const float* x, int64_t n, float lo, float hi, int bins, int64_t* counts,
                    const LaunchConfig& cfg) {
  count_traffic(__func__, 4 * n, 8 * bins);
  launch_histogram(x, n, lo, hi, bins, counts, cfg);
}

void histogram_bf16_cuda(const uint16_t* x, int64_t n, float lo, float hi, int bins, int64_t* counts,
                         const LaunchConfig& cfg) {
  count_traffic(__func__, 2 * n, 8 * bins);
  launch_histogram(x, n, lo, hi, bins, counts, cfg);
}

void moments_cuda(const float* x, int64_t n, float shift, float threshold, float* chunks, const LaunchConfig& cfg) {
  count_traffic(__func__, 4 * n, 4 * kMomentsPerChunk * moment_chunks(n));
  launch_moments(x, n, shift, threshold, chunks, cfg);
}

void moments_bf16_cuda(const uint16_t* x, int64_t n, float shift, float threshold, float* chunks,
                       const LaunchConfig& cfg) {
  count_traffic(__func__, 2 * n, 4 * kMomentsPerChunk * moment_chunks(n));
  launch_moments(x, n, shift, threshold, chunks, cfg);
}

void sum_cuda(const float* x, int64_t n, float* out, float* workspace, const LaunchConfig& cfg) {
  count_traffic(__func__, 4 * n, 4);
  sum_or_mean(x, n, out, workspace, cfg, Reduction::Sum);
}

void mean_cuda(const float* x, int64_t n, float* out, float* workspace, const LaunchConfig& cfg) {
  count_traffic(__func__, 4 * n, 4);
  sum_or_mean(x, n, out, workspace, cfg, Reduction::Mean);
}

void sum_dim_cuda(const float* x, int64_t outer, int64_t reduced, int64_t inner, float* out,
                  const LaunchConfig& cfg) {
  count_traffic(__func__, 4 * outer * reduced * inner, 4 * outer * inner);
  axis_sum_or_mean(x, outer, reduced, inner, out, cfg, Reduction::Sum);
}

void mean_dim_cuda(const float* x, int64_t outer, int64_t reduced, int64_t inner, float* out,
                   const LaunchConfig& cfg) {
  count_traffic(__func__, 4 * outer * reduced * inner, 4 * outer * inner);
  axis_sum_or_mean(x, outer, reduced, inner, out, cfg, Reduction::Mean);
}

}  // namespace cyg::CYG_KNS
