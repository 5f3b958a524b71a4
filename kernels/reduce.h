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
CYG_CUDA_DECL(void mean_dim_cuda(const float* x, int64_t outer, int64_t reduced, int64_t inner, float* out,
                                 const LaunchConfig& cfg = {}))

}  // namespace cyg
