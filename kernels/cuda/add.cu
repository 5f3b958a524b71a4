// add (y = a + b) and axpy (y += alpha * x): one thread per element (add: per 16-byte
// pack where a, b and y are aligned, the last n % V elements one by one), grid-stride;
// bound by memory bandwidth. increment: one thread adds to a counter in device memory.
#include "kernels/add.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/vector.cuh"

namespace cyg::CYG_KNS {
namespace {
template <typename P>
__global__ void CYG_LAUNCH_BOUNDS add_kernel(const PackValue<P>* a, const PackValue<P>* b, PackValue<P>* y, int64_t n) {
  using S = PackValue<P>;
  constexpr int V = kPackLength<P>;
  const int64_t packs = n / V;
  CYG_GRID_STRIDE_LOOP(p, packs) {
    const Pack<S, V> pa = load_pack<V>(a + p * V), pb = load_pack<V>(b + p * V);
    Pack<S, V> out;
    for (int j = 0; j < V; ++j) store(&out.v[j], add_op(widen(pa.v[j]), widen(pb.v[j])));
    store_pack<V>(y + p * V, out);
  }
  CYG_GRID_STRIDE_LOOP(t, n - packs * V) {
    const int64_t i = packs * V + t;
    store(&y[i], add_op(widen(a[i]), widen(b[i])));
  }
}

__global__ void CYG_LAUNCH_BOUNDS axpy_kernel(float alpha, const float* x, float* y, int64_t n) {
  CYG_GRID_STRIDE_LOOP(i, n) y[i] = axpy_op(alpha, x[i], y[i]);
}
__global__ void CYG_LAUNCH_BOUNDS increment_kernel(int64_t* counter, int64_t by) {
  if (blockIdx.x == 0 && threadIdx.x == 0) *counter += by;
}
}  // namespace

void increment_cuda(int64_t* counter, int64_t by, const LaunchConfig& cfg) {
  count_traffic(__func__, sizeof(int64_t), sizeof(int64_t));
  CYG_LAUNCH(increment_kernel, 1, 32, 0, stream_of(cfg), counter, by);
  CYG_CHECK_LAUNCH();
}

template <typename S>
void add_cuda(const S* a, const S* b, S* y, int64_t n, const LaunchConfig& cfg) {
  if (n == 0) return;
  count_traffic(__func__, 2 * sizeof(S) * n, sizeof(S) * n);
  with_vector_width<S>(vector_width<S>({a, b, y}), [&](auto width) {
    constexpr int V = decltype(width)::value;
    using P = Pack<S, V>;
    CYG_LAUNCH(add_kernel<P>, grid_size(ceil_div(n, int64_t(V)), cfg), block_size(cfg), 0, stream_of(cfg), a, b, y,
               n);
    CYG_CHECK_LAUNCH();
  });
}
template void add_cuda<float>(const float*, const float*, float*, int64_t, const LaunchConfig&);
template void add_cuda<uint16_t>(const uint16_t*, const uint16_t*, uint16_t*, int64_t, const LaunchConfig&);

void axpy_cuda(float alpha, const float* x, float* y, int64_t n, const LaunchConfig& cfg) {
  if (n == 0) return;
  count_traffic(__func__, 8 * n, 4 * n);
  CYG_LAUNCH(axpy_kernel, grid_size(n, cfg), block_size(cfg), 0, stream_of(cfg), alpha, x, y, n);
  CYG_CHECK_LAUNCH();
}

}  // namespace cyg::CYG_KNS
