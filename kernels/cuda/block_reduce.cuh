// Block-wide sum: warp shuffles inside each warp, then one value per warp through
// shared memory. Every thread of the block must call it (it holds barriers);
// blockDim.x must be a multiple of 32. Batchnorm and the loss reuse it.
#pragma once
#include "kernels/cuda/launch.h"

namespace cyg::CYG_KNS {

template <typename T>
__device__ __forceinline__ T warp_reduce_sum(T v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

// The block's total, valid in thread 0.
template <typename T>
__device__ T block_reduce_sum(T v) {
  __shared__ T warp_totals[32];
  const unsigned lane = threadIdx.x & 31u;
  const unsigned warp = threadIdx.x >> 5;
  v = warp_reduce_sum(v);
  if (lane == 0) warp_totals[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < (blockDim.x >> 5) ? warp_totals[lane] : T(0);
    v = warp_reduce_sum(v);
  }
  // warp_totals may be reused by the caller's next reduction.
  __syncthreads();
  return v;
}

// Warp-wide combine with an associative, commutative op (max, min, ...); the result in lane 0.
template <typename T, typename Op>
__device__ __forceinline__ T warp_reduce(T v, Op op) {
  for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_down_sync(0xffffffffu, v, offset));
  return v;
}

// The block's combination of v under op, returned to every thread (a softmax needs the
// row's maximum in each thread). `identity` stands in for the warps the block lacks.
// Same calling rules as block_reduce_sum.
template <typename T, typename Op>
__device__ T block_allreduce(T v, Op op, T identity) {
  __shared__ T warp_totals[32];
  __shared__ T total;
  const unsigned lane = threadIdx.x & 31u;
  const unsigned warp = threadIdx.x >> 5;
  v = warp_reduce(v, op);
  if (lane == 0) warp_totals[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = warp_reduce(lane < (blockDim.x >> 5) ? warp_totals[lane] : identity, op);
    if (lane == 0) total = v;
  }
  __syncthreads();
  // No third barrier: a next call rewrites warp_totals only once every thread is past the
  // barrier above (so warp 0 has read them), and total only after its own first barrier,
  // which every thread reaches after reading total here.
  return total;
}

// Host side: block reductions need whole warps and at most 32 of them.
inline void check_block_reduce_size(int block) {
  CYG_CHECK(block % 32 == 0 && block >= 32 && block <= 1024, "block size ", block,
            " of a reducing kernel must be a multiple of 32 in [32, 1024]");
}

}  // namespace cyg::CYG_KNS
