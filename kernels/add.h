// add: y = a + b, and axpy: y += alpha * x (the residual add and gradient accumulation);
// increment: a counter held in device memory.
#pragma once
#include "kernels/common.h"

namespace cyg {

CYG_HD float add_op(float a, float b) { return a + b; }
CYG_HD float axpy_op(float alpha, float x, float y) { return y + alpha * x; }

// S = float, or uint16_t (bf16 bits: the sum in float, rounded once; bf16 gradients).
template <typename S>
void add_cpu(const S* a, const S* b, S* y, int64_t n);
// A counter in memory: *counter += by (BatchNorm's num_batches_tracked, on its device).
void increment_cpu(int64_t* counter, int64_t by);
CYG_CUDA_DECL(void increment_cuda(int64_t* counter, int64_t by, const LaunchConfig& cfg = {}))
void axpy_cpu(float alpha, const float* x, float* y, int64_t n);
CYG_CUDA_DECL(template <typename S> void add_cuda(const S* a, const S* b, S* y, int64_t n,
                                                  const LaunchConfig& cfg = {}))
CYG_CUDA_DECL(void axpy_cuda(float alpha, const float* x, float* y, int64_t n, const LaunchConfig& cfg = {}))

}  // namespace cyg
