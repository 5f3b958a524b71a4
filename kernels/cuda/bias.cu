// Bias add: one thread per element, grid-stride, bound by memory bandwidth. Bias
// gradient: one block per channel (grid-stride over channels), threads stride over the
// outer*inner elements of that channel, then a block reduction; bound by memory.
#include "kernels/bias.h"
#include "kernels/cuda/block_reduce.cuh"

namespace cyg::CYG_KNS {
namespace {
__global__ void CYG_LAUNCH_BOUNDS bias_add_kernel(float* y, const float* b, int64_t n, int64_t C, int64_t inner) {
  CYG_GRID_STRIDE_LOOP(k, n) y[k] += b[(k / inner) % C];
}

__global__ void CYG_LAUNCH_BOUNDS bias_grad_kernel(const float* dy, int64_t outer, int64_t C, int64_t inner, float* db) {
  const int64_t per_channel = outer * inner;
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    float acc = 0.0f;
    for (int64_t j = threadIdx.x; j < per_channel; j += blockDim.x) {
      const int64_t o = j / inner, i = j % inner;
      acc += dy[(o * C + c) * inner + i];
    }
    acc = block_reduce_sum(acc);
    if (threadIdx.x == 0) db[c] = acc;
  }
}
}  // namespace

void bias_add_cuda(float* y, const float* b, int64_t outer, int64_t C, int64_t inner, const LaunchConfig& cfg) {
  const int64_t n = outer * C * inner;
  if (n == 0) return;
  count_traffic(__func__, 4 * n + 4 * C, 4 * n);
  CYG_LAUNCH(bias_add_kernel, grid_size(n, cfg), block_size(cfg), 0, stream_of(cfg), y, b, n, C, inner);
  CYG_CHECK_LAUNCH();
}

void bias_grad_cuda(const float* dy, int64_t outer, int64_t C, int64_t inner, float* db, const LaunchConfig& cfg) {
  if (C == 0) return;
  count_traffic(__func__, 4 * outer * C * inner, 4 * C);
  const int block = block_size(cfg);
  CYG_CHECK(block % 32 == 0 && block <= 1024, "bias_grad: block size ", block, " must be a multiple of 32, at most 1024");
  const int64_t cap = cfg.max_blocks > 0 ? cfg.max_blocks : 65535;
  CYG_LAUNCH(bias_grad_kernel, static_cast<int>(C < cap ? C : cap), block, 0, stream_of(cfg), dy, outer, C, inner,
             db);
  CYG_CHECK_LAUNCH();
}

}  // namespace cyg::CYG_KNS
