// fill: dst[i] = value for i < n. One thread per element, grid-stride; bound by memory
// bandwidth (writes only).
#include "kernels/cuda/launch.h"
#include "kernels/fill.h"

namespace cyg::CYG_KNS {
namespace {
template <typename U>
__global__ void CYG_LAUNCH_BOUNDS fill_kernel(U* dst, int64_t n, U value) {
  CYG_GRID_STRIDE_LOOP(i, n) dst[i] = value;
}

template <typename U>
void launch_fill(void* dst, int64_t n, uint64_t bits, const LaunchConfig& cfg) {
  CYG_LAUNCH(fill_kernel<U>, grid_size(n, cfg), block_size(cfg), 0, stream_of(cfg), static_cast<U*>(dst), n,
             static_cast<U>(bits));
  CYG_CHECK_LAUNCH();
}
}  // namespace

void fill_cuda(void* dst, int64_t n, int elem_size, uint64_t bits, const LaunchConfig& cfg) {
  if (n == 0) return;
  count_traffic(__func__, 0, n * elem_size);
  switch (elem_size) {
    case 1: return launch_fill<uint8_t>(dst, n, bits, cfg);
    case 2: return launch_fill<uint16_t>(dst, n, bits, cfg);
    case 4: return launch_fill<uint32_t>(dst, n, bits, cfg);
    case 8: return launch_fill<uint64_t>(dst, n, bits, cfg);
  }
  CYG_CHECK(false, "fill: element size ", elem_size, " is not 1, 2, 4 or 8 bytes");
}

}  // namespace cyg::CYG_KNS
