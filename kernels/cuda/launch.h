// Included first by every kernels/cuda/*.cu. Under nvcc it brings the CUDA runtime and
// makes CYG_LAUNCH an ordinary <<<>>> launch in namespace cyg::cuda; compiled by g++
// with CYGNET_EMU it brings the CPU emulation (kernels/emu/emu.h) and namespace cyg::emu.
// Open the kernels with `namespace cyg::CYG_KNS {`.
#pragma once

#include "kernels/common.h"
#include "kernels/counters.h"
#include "kernels/cuda/check.h"

#if defined(CYGNET_EMU)
#include "kernels/emu/emu.h"
#define CYG_KNS emu
#else
#include <cuda_runtime.h>
#define CYG_KNS cuda
#define CYG_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#define CYG_LAUNCH(kernel, grid, block, shmem, stream, ...) kernel<<<(grid), (block), (shmem), (stream)>>>(__VA_ARGS__)
#endif

// Grid-stride loop over [0, n): each thread takes i, i + all threads, ...
#define CYG_GRID_STRIDE_LOOP(i, n)                                                             \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x, cyg_stride_ = int64_t(blockDim.x) * gridDim.x; \
       i < (n); i += cyg_stride_)

namespace cyg::CYG_KNS {

inline cudaStream_t stream_of(const LaunchConfig& cfg) { return static_cast<cudaStream_t>(cfg.stream); }

}  // namespace cyg::CYG_KNS
