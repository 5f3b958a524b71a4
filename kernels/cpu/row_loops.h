// Parallel loops over the rows of a channels-last tensor (N*H*W rows of C contiguous
// values), compiled twice: for the x86-64 baseline, and under GCC on x86-64 also for AVX2
// (a `#pragma GCC target` region). The caller's per-row lambda is inlined into each copy,
// so its inner loop over the channels vectorises at the width of the variant that
// kernels/cpu/isa.h chose; outside the loops nothing is compiled for AVX2, so no shared
// inline function can end up as an AVX2 copy that a baseline caller links to.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/cpu/isa.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CYG_CPU_AVX2_VARIANT 1
#else
#define CYG_CPU_AVX2_VARIANT 0
#endif

namespace cyg {
namespace row_loops_detail {
namespace baseline {
#include "kernels/cpu/row_loops.inc"
}  // namespace baseline
#if CYG_CPU_AVX2_VARIANT
#pragma GCC push_options
#pragma GCC target("avx2")
namespace avx2 {
#include "kernels/cpu/row_loops.inc"
}  // namespace avx2
#pragma GCC pop_options
#endif
}  // namespace row_loops_detail

// Sums over rows [0, rows) what add_row(row, acc) adds into `width` double accumulators:
// each block of block_rows rows in row order, then the blocks' partials in block order,
// so the result has the same bits for any thread count. Threads when `parallel`.
template <typename F>
std::vector<double> sum_rows(int64_t rows, int64_t width, int64_t block_rows, bool parallel, F add_row) {
#if CYG_CPU_AVX2_VARIANT
  if (cpu_isa() == CpuIsa::Avx2) return row_loops_detail::avx2::sum_rows(rows, width, block_rows, parallel, add_row);
#endif
  return row_loops_detail::baseline::sum_rows(rows, width, block_rows, parallel, add_row);
}

// Calls f(row) for every row, rows spread over the threads when `parallel`.
template <typename F>
void for_rows(int64_t rows, bool parallel, F f) {
#if CYG_CPU_AVX2_VARIANT
  if (cpu_isa() == CpuIsa::Avx2) return row_loops_detail::avx2::for_rows(rows, parallel, f);
#endif
  row_loops_detail::baseline::for_rows(rows, parallel, f);
}

}  // namespace cyg
