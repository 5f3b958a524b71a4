// Kernels that exercise the emulation shim itself (tests/emu/test_emu_shim.cpp): a
// shared-memory tree reduction with and without its barriers, a divergent barrier, a
// shuffle whose partners never arrive, warp shuffles and votes, dynamic shared memory,
// atomics. Compiled for the shim, and by nvcc so the source stays valid CUDA.
#include "kernels/cuda/launch.h"

namespace cyg::CYG_KNS {
namespace {
constexpr int kMaxThreads = 1024;

// The textbook reduction. Without the barriers a thread reads partial sums that other
// threads have not written yet: the bug the shim must expose.
template <bool kWithBarrier>
__global__ void tree_sum_kernel(const float* x, float* out) {
  __shared__ float partial[kMaxThreads];
  const unsigned t = threadIdx.x;
  partial[t] = x[t];
  if (kWithBarrier) __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (t < s) partial[t] += partial[t + s];
    if (kWithBarrier) __syncthreads();
  }
  if (t == 0) *out = partial[0];
}

__global__ void divergent_barrier_kernel(int* out) {
  if (threadIdx.x < 32) __syncthreads();
  out[threadIdx.x] = 1;
}

__global__ void shuffle_deadlock_kernel(int* out) {
  int v = static_cast<int>(threadIdx.x);
  if ((threadIdx.x & 31) == 0) v = __shfl_sync(0xffffffffu, v, 1);
  __syncthreads();
  out[threadIdx.x] = v;
}

__global__ void warp_ops_kernel(const int* in, int* down, int* xor_out, int* from_lane3, unsigned* ballot) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  const int v = in[i];
  down[i] = __shfl_down_sync(0xffffffffu, v, 5);
  xor_out[i] = __shfl_xor_sync(0xffffffffu, v, 3);
  from_lane3[i] = __shfl_sync(0xffffffffu, v, 3);
  ballot[i] = __ballot_sync(0xffffffffu, v % 3 == 0);
}

__global__ void reverse_in_block_kernel(const float* in, float* out) {
  CYG_DYNAMIC_SHARED(float, tile);
  const unsigned base = blockIdx.x * blockDim.x;
  tile[threadIdx.x] = in[base + threadIdx.x];
  __syncthreads();
  out[base + threadIdx.x] = tile[blockDim.x - 1 - threadIdx.x];
}

__global__ void atomic_count_kernel(int* count, float* total) {
  atomicAdd(count, 1);
  atomicAdd(total, 0.5f);
}
}  // namespace

void probe_tree_sum(const float* x, float* out, int threads, bool with_barrier) {
  if (with_barrier) {
    CYG_LAUNCH(tree_sum_kernel<true>, 1, threads, 0, nullptr, x, out);
  } else {
    CYG_LAUNCH(tree_sum_kernel<false>, 1, threads, 0, nullptr, x, out);
  }
  CYG_CHECK_LAUNCH();
}

void probe_divergent_barrier(int* out, int threads) {
  CYG_LAUNCH(divergent_barrier_kernel, 1, threads, 0, nullptr, out);
  CYG_CHECK_LAUNCH();
}

void probe_shuffle_deadlock(int* out, int threads) {
  CYG_LAUNCH(shuffle_deadlock_kernel, 1, threads, 0, nullptr, out);
  CYG_CHECK_LAUNCH();
}

void probe_warp_ops(const int* in, int* down, int* xor_out, int* from_lane3, unsigned* ballot, int blocks,
                    int threads) {
  CYG_LAUNCH(warp_ops_kernel, blocks, threads, 0, nullptr, in, down, xor_out, from_lane3, ballot);
  CYG_CHECK_LAUNCH();
}

void probe_reverse_in_block(const float* in, float* out, int blocks, int threads) {
  CYG_LAUNCH(reverse_in_block_kernel, blocks, threads, threads * sizeof(float), nullptr, in, out);
  CYG_CHECK_LAUNCH();
}

void probe_atomic_count(int* count, float* total, int blocks, int threads) {
  CYG_LAUNCH(atomic_count_kernel, blocks, threads, 0, nullptr, count, total);
  CYG_CHECK_LAUNCH();
}

}  // namespace cyg::CYG_KNS
