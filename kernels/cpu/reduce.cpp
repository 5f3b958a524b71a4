// Reductions, CPU reference: accumulate in double, so the reference is more accurate
// than any float order of summation the GPU may use.
#include "kernels/reduce.h"

#include <algorithm>
#include <vector>

namespace cyg {

void sum_cpu(const float* x, int64_t n, float* out) {
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) acc += x[i];
  *out = static_cast<float>(acc);
}

void mean_cpu(const float* x, int64_t n, float* out) {
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) acc += x[i];
  *out = n > 0 ? static_cast<float>(acc / static_cast<double>(n)) : 0.0f;
}

void sum_dim_cpu(const float* x, int64_t outer, int64_t reduced, int64_t inner, float* out) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double acc = 0.0;
      for (int64_t r = 0; r < reduced; ++r) acc += x[(o * reduced + r) * inner + i];
      out[o * inner + i] = static_cast<float>(acc);
    }
}

void mean_dim_cpu(const float* x, int64_t outer, int64_t reduced, int64_t inner, float* out) {
  sum_dim_cpu(x, outer, reduced, inner, out);
  for (int64_t k = 0; k < outer * inner; ++k) out[k] = mean_from_sum(out[k], reduced);
}

namespace {
// The reference: each chunk's sums in double, stored as the device's floats.
template <typename T>
void moments_reference(const T* x, int64_t n, float shift, float threshold, float* chunks) {
  // The chunks are independent: the same sums on any number of threads.
#pragma omp parallel for if (n > 65536)
  for (int64_t c = 0; c < moment_chunks(n); ++c) {
    double sum = 0.0, squares = 0.0, at_or_below = 0.0;
    const int64_t end = std::min(n, (c + 1) * kMomentChunk);
    for (int64_t i = c * kMomentChunk; i < end; ++i) add_moments(widen(x[i]), shift, threshold, sum, squares, at_or_below);
    chunks[kMomentsPerChunk * c] = static_cast<float>(sum);
    chunks[kMomentsPerChunk * c + 1] = static_cast<float>(squares);
    chunks[kMomentsPerChunk * c + 2] = static_cast<float>(at_or_below);
  }
}
}  // namespace

namespace {
// Each thread counts its share, then adds its counts: integers, so any order gives the
// same totals.
template <typename T>
void histogram_reference(const T* x, int64_t n, float lo, float hi, int bins, int64_t* counts) {
#pragma omp parallel if (n > 65536)
  {
    std::vector<int64_t> mine(static_cast<size_t>(bins), 0);
#pragma omp for
    for (int64_t i = 0; i < n; ++i) {
      const int b = histogram_bin(widen(x[i]), lo, hi, bins);
      if (b >= 0) ++mine[static_cast<size_t>(b)];
    }
#pragma omp critical
    for (int b = 0; b < bins; ++b) counts[b] += mine[static_cast<size_t>(b)];
  }
}
}  // namespace

void histogram_cpu(const float* x, int64_t n, float lo, float hi, int bins, int64_t* counts) {
  histogram_reference(x, n, lo, hi, bins, counts);
}

void histogram_bf16_cpu(const uint16_t* x, int64_t n, float lo, float hi, int bins, int64_t* counts) {
  histogram_reference(x, n, lo, hi, bins, counts);
}

void moments_cpu(const float* x, int64_t n, float shift, float threshold, float* chunks) {
  moments_reference(x, n, shift, threshold, chunks);
}

void moments_bf16_cpu(const uint16_t* x, int64_t n, float shift, float threshold, float* chunks) {
  moments_reference(x, n, shift, threshold, chunks);
}

}  // namespace cyg
