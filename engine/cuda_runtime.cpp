// The CUDA half of engine/device.h, through the runtime API only (cudart is linked
// statically and finds the driver at run time, so no driver means "no GPU", not a
// failure to start).
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <nvtx3/nvToolsExt.h>

#include "engine/device.h"
#include "engine/profiling.h"
#include "engine/runtime.h"
#include "kernels/conv.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.h"
#include "kernels/gemm.h"

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
  static const char kHex[] = "0123456789abcdef";
  for (char byte : prop.uuid.bytes) {
    info.uuid += kHex[(static_cast<unsigned char>(byte) >> 4) & 0xf];
    info.uuid += kHex[static_cast<unsigned char>(byte) & 0xf];
  }
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

void cuda_set_device(int index) { CYG_CUDA_CHECK(cudaSetDevice(index)); }

namespace {

cudaStream_t as_stream(void* stream) { return static_cast<cudaStream_t>(stream); }
cudaEvent_t as_event(void* event) { return static_cast<cudaEvent_t>(event); }

// Whether this thread is capturing a stream into a graph (begin_capture to end_capture):
// cuda::capture_open_on_this_thread(), which the launch check reads too.
bool capturing_on_this_thread() { return cuda::capture_open_on_this_thread(); }

class CudaRuntime final : public DeviceRuntime {
 public:
  void* do_malloc(size_t bytes) override {
    // A thread-local capture refuses cudaMalloc (and is invalidated by it): during one,
    // the allocation is made in relaxed mode, as PyTorch's allocator does, so that a
    // captured step that needs one more block gets it in the graph's pool, and memory
    // that runs out is reported as such.
    cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
    const bool relax = capturing_on_this_thread();
    if (relax) CYG_CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&mode));
    void* p = nullptr;
    const cudaError_t status = cudaMalloc(&p, bytes);
    if (relax) CYG_CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&mode));  // back to the capture's mode
    if (status != cudaSuccess) {
      // The caching allocator may recover (empty its cache, retry): do not leave the
      // failure as the runtime's last error for the next kernel launch to report.
      cudaGetLastError();
      if (status == cudaErrorMemoryAllocation)
        throw OutOfMemory(std::string("CUDA error: ") + cudaGetErrorString(status) + " allocating " +
                          std::to_string(bytes) + " bytes");
      CYG_CUDA_CHECK_RESULT(status, "cudaMalloc");
    }
    return p;
  }

  void free(void* p) override { CYG_CUDA_CHECK(cudaFree(p)); }

  void do_memcpy(void* dst, const void* src, size_t bytes, CopyKind kind, void* stream) override {
    const cudaMemcpyKind k = kind == CopyKind::HostToDevice   ? cudaMemcpyHostToDevice
                             : kind == CopyKind::DeviceToHost ? cudaMemcpyDeviceToHost
                                                              : cudaMemcpyDeviceToDevice;
    CYG_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, k, as_stream(stream)));
    // A copy to the host is only useful once it has arrived.
    if (kind == CopyKind::DeviceToHost) CYG_CUDA_CHECK(cudaStreamSynchronize(as_stream(stream)));
  }

  void memset(void* dst, int value, size_t bytes, void* stream) override {
    CYG_CUDA_CHECK(cudaMemsetAsync(dst, value, bytes, as_stream(stream)));
  }

  void do_synchronize() override { CYG_CUDA_CHECK(cudaDeviceSynchronize()); }

  // The legacy default stream.
  void* default_stream() override { return nullptr; }

  void* stream_create() override {
    cudaStream_t s = nullptr;
    // Ordered with the default stream, which uploads go through.
    CYG_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamDefault));
    return s;
  }

  void* stream_create_non_blocking() override {
    cudaStream_t s = nullptr;
    CYG_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    return s;
  }

  void stream_destroy(void* stream) override { CYG_CUDA_CHECK(cudaStreamDestroy(as_stream(stream))); }
  void do_stream_synchronize(void* stream) override { CYG_CUDA_CHECK(cudaStreamSynchronize(as_stream(stream))); }

  void* event_create() override {
    cudaEvent_t e = nullptr;
    CYG_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    return e;
  }

  void event_destroy(void* event) override { CYG_CUDA_CHECK(cudaEventDestroy(as_event(event))); }
  void event_record(void* event, void* stream) override {
    CYG_CUDA_CHECK(cudaEventRecord(as_event(event), as_stream(stream)));
  }
  void stream_wait_event(void* stream, void* event) override {
    CYG_CUDA_CHECK(cudaStreamWaitEvent(as_stream(stream), as_event(event), 0));
  }
  void do_event_synchronize(void* event) override { CYG_CUDA_CHECK(cudaEventSynchronize(as_event(event))); }

  bool event_query(void* event) override {
    const cudaError_t status = cudaEventQuery(as_event(event));
    if (status == cudaErrorNotReady) {
      cudaGetLastError();
      return false;
    }
    CYG_CUDA_CHECK_RESULT(status, "cudaEventQuery");
    return true;
  }

  // The thread's cuDNN and cuBLAS handles are made first: creating one allocates device
  // memory, which the capture would forbid.
  void begin_capture(void* stream) override {
    cuda::gemm_prepare_thread();
    cuda::conv2d_prepare_thread();
    CYG_CUDA_CHECK(cudaStreamBeginCapture(as_stream(stream), cudaStreamCaptureModeThreadLocal));
    cuda::capture_open_on_this_thread() = true;
  }

  // The graph is instantiated at once: what is launched is the executable graph.
  void* end_capture(void* stream) override {
    cuda::capture_open_on_this_thread() = false;
    cudaGraph_t graph = nullptr;
    const cudaError_t ended = cudaStreamEndCapture(as_stream(stream), &graph);
    // A capture that failed leaves its error as the runtime's last one: cleared here, so
    // that the next launch's check does not report it against an unrelated kernel.
    if (ended != cudaSuccess) cudaGetLastError();
    CYG_CUDA_CHECK_RESULT(ended, "cudaStreamEndCapture");
    cudaGraphExec_t exec = nullptr;
    const cudaError_t instantiated = cudaGraphInstantiate(&exec, graph, 0);
    if (instantiated != cudaSuccess) cudaGetLastError();
    const cudaError_t destroyed = cudaGraphDestroy(graph);
    CYG_CUDA_CHECK_RESULT(instantiated, "cudaGraphInstantiate");
    CYG_CUDA_CHECK_RESULT(destroyed, "cudaGraphDestroy");
    return exec;
  }

  void graph_launch(void* graph, void* stream) override {
    CYG_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(graph), as_stream(stream)));
  }

  void graph_destroy(void* graph) override { CYG_CUDA_CHECK(cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(graph))); }

  bool poisons_released_blocks() const override { return false; }
};

}  // namespace

DeviceRuntime& cuda_runtime() {
  // Never destroyed: the CUDA runtime tears itself down at exit.
  static CudaRuntime* runtime = new CudaRuntime();
  return *runtime;
}
}  // namespace cyg
