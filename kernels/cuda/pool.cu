// Global average pooling of NCHW. Forward: a warp per (n, c) plane, grid-stride over planes,
// a shuffle sum; backward: a thread per element. Memory-bound while planes outnumber the
// resident warps (N*C of a classifier head); a few huge planes would leave SMs idle.
#include "kernels/cuda/block_reduce.cuh"
#include "kernels/pool.h"

namespace cyg::CYG_KNS {
namespace {
__global__ void global_avg_pool_forward_kernel(const float* x, int64_t planes, int64_t area, float* y) {
  const unsigned lane = threadIdx.x & 31u;
  const int64_t warps_per_block = blockDim.x >> 5;
  for (int64_t p = int64_t(blockIdx.x) * warps_per_block + (threadIdx.x >> 5); p < planes;
       p += int64_t(gridDim.x) * warps_per_block) {
    const float* plane = x + p * area;
    float sum = 0.0f;
    for (int64_t i = lane; i < area; i += 32) sum += plane[i];
    sum = warp_reduce_sum(sum);
    if (lane == 0) y[p] = divide_by_area(sum, area);
  }
}

__global__ void global_avg_pool_backward_kernel(const float* dy, int64_t area, int64_t n, float* dx) {
  CYG_GRID_STRIDE_LOOP(i, n) dx[i] = divide_by_area(dy[i / area], area);
}

void check_area(int64_t H, int64_t W) {
  CYG_CHECK(H >= 1 && W >= 1, "global average pooling of an empty ", H, "x", W, " plane");
}
}  // namespace

void global_avg_pool_forward_cuda(const float* x, int64_t N, int64_t C, int64_t H, int64_t W, float* y,
                                  const LaunchConfig& cfg) {
  check_area(H, W);
  const int64_t planes = N * C;
  if (planes == 0) return;
  count_traffic(__func__, 4 * planes * H * W, 4 * planes);
  check_block_reduce_size(block_size(cfg));
  CYG_LAUNCH(global_avg_pool_forward_kernel, grid_size(planes * 32, cfg), block_size(cfg), 0, stream_of(cfg), x,
             planes, H * W, y);
  CYG_CHECK_LAUNCH();
}

void global_avg_pool_backward_cuda(const float* dy, int64_t N, int64_t C, int64_t H, int64_t W, float* dx,
                                   const LaunchConfig& cfg) {
  check_area(H, W);
  const int64_t n = N * C * H * W;
  if (n == 0) return;
  count_traffic(__func__, 4 * N * C, 4 * n);
  CYG_LAUNCH(global_avg_pool_backward_kernel, grid_size(n, cfg), block_size(cfg), 0, stream_of(cfg), dy, H * W, n,
             dx);
  CYG_CHECK_LAUNCH();
}

}  // namespace cyg::CYG_KNS
