// Global average pooling of NCHW. Forward: a warp per (n, c) plane, grid-stride over planes,
// a shuffle sum; backward: a thread per element. Memory-bound while planes outnumber the
// resident warps (N*C of a classifier head); a few huge planes would leave SMs idle.
// Channels-last (NHWC): a thread per (n, c) walks its channel down the image's H*W rows,
// neighbouring threads reading neighbouring channels (coalesced); backward a thread per
// element.
#include "kernels/cuda/block_reduce.cuh"
#include "kernels/pool.h"

namespace cyg::CYG_KNS {
namespace {
template <typename S>
__global__ void CYG_LAUNCH_BOUNDS global_avg_pool_forward_kernel(const S* x, int64_t planes, int64_t area, S* y) {
  const unsigned lane = threadIdx.x & 31u;
  const int64_t warps_per_block = blockDim.x >> 5;
  for (int64_t p = int64_t(blockIdx.x) * warps_per_block + (threadIdx.x >> 5); p < planes;
       p += int64_t(gridDim.x) * warps_per_block) {
    const S* plane = x + p * area;
    float sum = 0.0f;
    for (int64_t i = lane; i < area; i += 32) sum += widen(plane[i]);
    sum = warp_reduce_sum(sum);
    if (lane == 0) store(&y[p], divide_by_area(sum, area));
  }
}

template <typename S>
__global__ void CYG_LAUNCH_BOUNDS global_avg_pool_backward_kernel(const S* dy, int64_t area, int64_t n, S* dx) {
  CYG_GRID_STRIDE_LOOP(i, n) store(&dx[i], divide_by_area(widen(dy[i / area]), area));
}

template <typename S>
__global__ void CYG_LAUNCH_BOUNDS global_avg_pool_forward_nhwc_kernel(const S* x, int64_t C, int64_t area, int64_t outputs, S* y) {
  CYG_GRID_STRIDE_LOOP(p, outputs) {
    const int64_t n = p / C;
    const S* column = x + n * area * C + (p - n * C);
    double sum = 0.0;  // one thread walks the whole area: double keeps a large one exact enough
    for (int64_t k = 0; k < area; ++k) sum += widen(column[k * C]);
    store(&y[p], static_cast<float>(divide_by_area(sum, area)));
  }
}

template <typename S>
__global__ void CYG_LAUNCH_BOUNDS global_avg_pool_backward_nhwc_kernel(const S* dy, int64_t C, int64_t area, int64_t n, S* dx) {
  CYG_GRID_STRIDE_LOOP(i, n) {
    const int64_t image = i / (area * C);
    store(&dx[i], divide_by_area(widen(dy[image * C + i % C]), area));
  }
}

void check_area(int64_t H, int64_t W) {
  CYG_CHECK(H >= 1 && W >= 1, "global average pooling of an empty ", H, "x", W, " plane");
}
}  // namespace

template <typename S>
void global_avg_pool_forward_cuda(const S* x, int64_t N, int64_t C, int64_t H, int64_t W, S* y,
                                  const LaunchConfig& cfg) {
  check_area(H, W);
  const int64_t planes = N * C;
  if (planes == 0) return;
  count_traffic(__func__, sizeof(S) * planes * H * W, sizeof(S) * planes);
  check_block_reduce_size(block_size(cfg));
  CYG_LAUNCH(global_avg_pool_forward_kernel<S>, grid_size(planes * 32, cfg), block_size(cfg), 0, stream_of(cfg), x,
             planes, H * W, y);
  CYG_CHECK_LAUNCH();
}

template <typename S>
void global_avg_pool_backward_cuda(const S* dy, int64_t N, int64_t C, int64_t H, int64_t W, S* dx,
                                   const LaunchConfig& cfg) {
  check_area(H, W);
  const int64_t n = N * C * H * W;
  if (n == 0) return;
  count_traffic(__func__, sizeof(S) * N * C, sizeof(S) * n);
  CYG_LAUNCH(global_avg_pool_backward_kernel<S>, grid_size(n, cfg), block_size(cfg), 0, stream_of(cfg), dy, H * W, n,
             dx);
  CYG_CHECK_LAUNCH();
}

template <typename S>
void global_avg_pool_forward_nhwc_cuda(const S* x, int64_t N, int64_t C, int64_t H, int64_t W, S* y,
                                       const LaunchConfig& cfg) {
  check_area(H, W);
  const int64_t outputs = N * C;
  if (outputs == 0) return;
  count_traffic(__func__, sizeof(S) * outputs * H * W, sizeof(S) * outputs);
  CYG_LAUNCH(global_avg_pool_forward_nhwc_kernel<S>, grid_size(outputs, cfg), block_size(cfg), 0, stream_of(cfg), x, C,
             H * W, outputs, y);
  CYG_CHECK_LAUNCH();
}

template <typename S>
void global_avg_pool_backward_nhwc_cuda(const S* dy, int64_t N, int64_t C, int64_t H, int64_t W, S* dx,
                                        const LaunchConfig& cfg) {
  check_area(H, W);
  const int64_t n = N * C * H * W;
  if (n == 0) return;
  count_traffic(__func__, sizeof(S) * N * C, sizeof(S) * n);
  CYG_LAUNCH(global_avg_pool_backward_nhwc_kernel<S>, grid_size(n, cfg), block_size(cfg), 0, stream_of(cfg), dy, C,
             H * W, n, dx);
  CYG_CHECK_LAUNCH();
}

#define CYG_INSTANTIATE_POOL_NHWC(S)                                                                                   \
  template void global_avg_pool_forward_nhwc_cuda<S>(const S*, int64_t, int64_t, int64_t, int64_t, S*,                 \
                                                     const LaunchConfig&);                                             \
  template void global_avg_pool_backward_nhwc_cuda<S>(const S*, int64_t, int64_t, int64_t, int64_t, S*,                \
                                                      const LaunchConfig&);
CYG_INSTANTIATE_POOL_NHWC(float)
CYG_INSTANTIATE_POOL_NHWC(uint16_t)
#undef CYG_INSTANTIATE_POOL_NHWC
template void global_avg_pool_forward_cuda<float>(const float*, int64_t, int64_t, int64_t, int64_t, float*,
                                                  const LaunchConfig&);
template void global_avg_pool_backward_cuda<float>(const float*, int64_t, int64_t, int64_t, int64_t, float*,
                                                   const LaunchConfig&);
template void global_avg_pool_forward_cuda<uint16_t>(const uint16_t*, int64_t, int64_t, int64_t, int64_t, uint16_t*,
                                                     const LaunchConfig&);
template void global_avg_pool_backward_cuda<uint16_t>(const uint16_t*, int64_t, int64_t, int64_t, int64_t, uint16_t*,
                                                      const LaunchConfig&);

}  // namespace cyg::CYG_KNS
