// Included first by every kernels/cuda/*.cu. Under nvcc it brings the CUDA runtime and
// makes CYG_LAUNCH an ordinary <<<>>> launch in namespace cyg::cuda, counted
// (kernels/counters.h) and, with the debug switch CYGNET_SYNC_LAUNCHES=1, followed by a
// synchronisation and check; compiled by g++
// with CYGNET_EMU it brings the CPU emulation (kernels/emu/emu.h) and namespace cyg::emu.
// Open the kernels with `namespace cyg::CYG_KNS {`.
#pragma once

#include "kernels/common.h"
#include "kernels/counters.h"
#include "kernels/cuda/check.h"

// Written after `__global__ void` of every kernel: any of them may be launched with up to
// 1024 threads a block (the reducing kernels are tested at 1024), and the bound keeps the
// compiler within 64 registers a thread, so that such a launch never fails for want of
// registers (65,536 a block on sm_70 to sm_90). The emulation ignores it.
#define CYG_LAUNCH_BOUNDS __launch_bounds__(1024)

#if defined(CYGNET_EMU)
#include "kernels/emu/emu.h"
#define CYG_KNS emu
#else
#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <string>
#define CYG_KNS cuda
#define CYG_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
// With the debug switch on (CYGNET_SYNC_LAUNCHES=1 or CUDA_LAUNCH_BLOCKING=1), every
// launch waits for its kernel, so a device fault is reported at the kernel that made it.
#define CYG_LAUNCH(kernel, grid, block, shmem, stream, ...)                                            \
  do {                                                                                                  \
    ::cyg::count_launch(#kernel);                                                                       \
    kernel<<<(grid), (block), (shmem), (stream)>>>(__VA_ARGS__);                                        \
    if (::cyg::cuda::sync_launches())                                                                   \
      ::cyg::cuda::check_synchronised_launch(#kernel, (stream), __FILE__, __LINE__);                    \
  } while (0)

namespace cyg::cuda {

// Whether either variable is "1"; read once per process by sync_launches().
inline bool launch_sync_requested(const char* cygnet_sync_launches, const char* cuda_launch_blocking) {
  auto on = [](const char* value) { return value != nullptr && std::strcmp(value, "1") == 0; };
  return on(cygnet_sync_launches) || on(cuda_launch_blocking);
}

inline bool sync_launches() {
  static const bool on = launch_sync_requested(std::getenv("CYGNET_SYNC_LAUNCHES"), std::getenv("CUDA_LAUNCH_BLOCKING"));
  return on;
}

// Whether this thread has a CUDA graph capture open: the runtime's begin and end of a
// capture set it (engine/cuda_runtime.cpp). Captures are thread-local, so while one is
// open a synchronisation invalidates it, whatever stream the launch was on.
inline bool& capture_open_on_this_thread() {
  static thread_local bool open = false;
  return open;
}

// The launch's own error, then, unless this thread is capturing a graph or the stream is
// being captured (where a synchronisation is illegal), whatever the kernel did on the
// device.
inline void check_synchronised_launch(const char* kernel, cudaStream_t stream, const char* file, int line) {
  cudaError_t status = cudaGetLastError();
  if (status == cudaSuccess && !capture_open_on_this_thread()) {
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    status = cudaStreamIsCapturing(stream, &capture);
    if (status == cudaSuccess && capture == cudaStreamCaptureStatusNone) status = cudaDeviceSynchronize();
  }
  if (status != cudaSuccess)
    ::cyg::throw_error("CUDA", cudaGetErrorString(status), (std::string("kernel ") + kernel).c_str(), file, line);
}

}  // namespace cyg::cuda
#endif

// Grid-stride loop over [0, n): each thread takes i, i + all threads, ...
#define CYG_GRID_STRIDE_LOOP(i, n)                                                             \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x, cyg_stride_ = int64_t(blockDim.x) * gridDim.x; \
       i < (n); i += cyg_stride_)

namespace cyg::CYG_KNS {

inline cudaStream_t stream_of(const LaunchConfig& cfg) { return static_cast<cudaStream_t>(cfg.stream); }

#if !defined(CYGNET_EMU)
// Zeroes `bytes` of device memory in stream order (a memset, not a kernel launch).
inline void zero_async(void* p, size_t bytes, cudaStream_t stream) {
  if (bytes > 0) CYG_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream));
}
#endif

}  // namespace cyg::CYG_KNS
