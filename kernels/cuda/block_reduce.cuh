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

}  // namespace cyg::CYG_KNS
