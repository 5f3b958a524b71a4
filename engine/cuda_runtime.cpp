// The CUDA half of engine/device.h, through the runtime API only (cudart is linked
// statically and finds the driver at run time, so no driver means "no GPU", not a
// failure to start).
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <nvtx3/nvToolsExt.h>

#include "engine/device.h"
#include "engine/profiling.h"
#include "kernels/cuda/check.h"

namespace cyg {

bool built_with_cuda() { return true; }

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver"/"no device" error
    return 0;
  }
  return n;
}

bool cuda_available() { return cuda_device_count() > 0; }

std::string cuda_unavailable_reason() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  cudaGetLastError();
  if (e == cudaErrorInsufficientDriver || e == cudaErrorNoDevice)
    return std::string("no NVIDIA GPU and driver found (CUDA runtime: ") + cudaGetErrorString(e) + ")";
  if (e != cudaSuccess) return std::string("the CUDA runtime says: ") + cudaGetErrorString(e);
  if (n == 0) return "no CUDA device found";
  return "";
}

CudaDeviceInfo cuda_device_info(int index) {
  cudaDeviceProp prop{};
  CYG_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  CudaDeviceInfo info;
  info.name = prop.name;
  info.compute_major = prop.major;
  info.compute_minor = prop.minor;
  info.multiprocessors = prop.multiProcessorCount;
  info.total_memory = prop.totalGlobalMem;
  CYG_CUDA_CHECK(cudaDriverGetVersion(&info.driver_version));
  CYG_CUDA_CHECK(cudaRuntimeGetVersion(&info.runtime_version));
  return info;
}

NvtxRange::NvtxRange(const char* name) { nvtxRangePushA(name); }
NvtxRange::~NvtxRange() { nvtxRangePop(); }

std::string cuda_library_versions() {
  int runtime = 0;
  cudaRuntimeGetVersion(&runtime);
  const size_t cudnn = cudnnGetVersion();
  int major = 0, minor = 0, patch = 0;
  cublasGetProperty(MAJOR_VERSION, &major);
  cublasGetProperty(MINOR_VERSION, &minor);
  cublasGetProperty(PATCH_LEVEL, &patch);
  // cuDNN 9 encodes its version as major * 10000 + minor * 100 + patch.
  return "CUDA runtime " + std::to_string(runtime / 1000) + "." + std::to_string(runtime % 1000 / 10) + ", cuDNN " +
         std::to_string(cudnn / 10000) + "." + std::to_string(cudnn % 10000 / 100) + "." + std::to_string(cudnn % 100) +
         ", cuBLAS " + std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

namespace rt {

void* cuda_malloc(size_t bytes) {
  void* p = nullptr;
  const cudaError_t status = cudaMalloc(&p, bytes);
  if (status != cudaSuccess) {
    // The caching allocator may recover (empty its cache, retry): do not leave the
    // failure as the runtime's last error for the next kernel launch to report.
    cudaGetLastError();
    CYG_CUDA_CHECK(status);
  }
  return p;
}

void cuda_free(void* p) { CYG_CUDA_CHECK(cudaFree(p)); }

void cuda_memcpy(void* dst, const void* src, size_t bytes, CopyKind kind, void* stream) {
  const cudaMemcpyKind k = kind == CopyKind::HostToDevice   ? cudaMemcpyHostToDevice
                           : kind == CopyKind::DeviceToHost ? cudaMemcpyDeviceToHost
                                                            : cudaMemcpyDeviceToDevice;
  CYG_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, k, static_cast<cudaStream_t>(stream)));
  // A copy to the host is only useful once it has arrived.
  if (kind == CopyKind::DeviceToHost) CYG_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)));
}

void cuda_synchronize() { CYG_CUDA_CHECK(cudaDeviceSynchronize()); }

void cuda_set_device(int index) { CYG_CUDA_CHECK(cudaSetDevice(index)); }

void* cuda_stream_create() {
  cudaStream_t s = nullptr;
  // Ordered with the default stream: the caching allocator hands blocks out without
  // tracking streams, and uploads go through the default stream.
  CYG_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamDefault));
  return s;
}

void cuda_stream_destroy(void* stream) { CYG_CUDA_CHECK(cudaStreamDestroy(static_cast<cudaStream_t>(stream))); }

void cuda_stream_synchronize(void* stream) {
  CYG_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)));
}

}  // namespace rt
}  // namespace cyg
