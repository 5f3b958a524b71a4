// Bias over channels of a tensor seen as [outer, C, inner] (NCHW conv: outer N, inner
// H*W; linear: outer N, inner 1): y[o, c, i] += b[c], and its gradient
// db[c] = sum over o, i of dy[o, c, i].
#pragma once
#include "kernels/common.h"

namespace cyg {

template <typename T>
void bias_add_cpu(T* y, const T* b, int64_t outer, int64_t C, int64_t inner);
template <typename T>
void bias_grad_cpu(const T* dy, int64_t outer, int64_t C, int64_t inner, T* db);

CYG_CUDA_DECL(void bias_add_cuda(float* y, const float* b, int64_t outer, int64_t C, int64_t inner,
                                 const LaunchConfig& cfg = {}))
CYG_CUDA_DECL(void bias_grad_cuda(const float* dy, int64_t outer, int64_t C, int64_t inner, float* db,
                                  const LaunchConfig& cfg = {}))

}  // namespace cyg
