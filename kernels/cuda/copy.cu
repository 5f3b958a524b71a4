// copy between strided layouts: one thread per element of the destination shape,
// grid-stride; index arithmetic per element, bound by memory bandwidth.
#include "kernels/copy.h"
#include "kernels/cuda/launch.h"

namespace cyg::CYG_KNS {
namespace {
template <typename U>
__global__ void CYG_LAUNCH_BOUNDS copy_strided_kernel(const U* src, U* dst, int64_t n, StridedLayout layout) {
  CYG_GRID_STRIDE_LOOP(i, n) {
    int64_t s, d;
    strided_offsets(layout, i, &s, &d);
    dst[d] = src[s];
  }
}

template <typename U>
void launch_copy(const void* src, void* dst, int64_t n, const StridedLayout& layout, const LaunchConfig& cfg) {
  CYG_LAUNCH(copy_strided_kernel<U>, grid_size(n, cfg), block_size(cfg), 0, stream_of(cfg),
             static_cast<const U*>(src), static_cast<U*>(dst), n, layout);
  CYG_CHECK_LAUNCH();
}
}  // namespace

void copy_strided_cuda(const void* src, void* dst, int64_t n, int elem_size, const StridedLayout& layout,
                       const LaunchConfig& cfg) {
  if (n == 0) return;
  count_traffic(__func__, n * elem_size, n * elem_size);
  switch (elem_size) {
    case 1: return launch_copy<uint8_t>(src, dst, n, layout, cfg);
    case 2: return launch_copy<uint16_t>(src, dst, n, layout, cfg);
    case 4: return launch_copy<uint32_t>(src, dst, n, layout, cfg);
    case 8: return launch_copy<uint64_t>(src, dst, n, layout, cfg);
  }
  CYG_CHECK(false, "copy: element size ", elem_size, " is not 1, 2, 4 or 8 bytes");
}

}  // namespace cyg::CYG_KNS
