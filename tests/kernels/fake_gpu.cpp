// The stand-in of tests/kernels/fake_gpu.h: the CUDA runtime's calls and cuDNN's legacy
// ones that kernels/cuda/cudnn_conv.cpp makes, over host memory and the CPU reference.
#include "tests/kernels/fake_gpu.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iterator>

#include "kernels/common.h"
#include "kernels/conv.h"
#include "kernels/cpu/channels.h"
#include "kernels/delay.h"
#include "tests/kernels/fake_cudnn_backend.h"

// cuDNN's opaque descriptor types, as the stand-in holds them.
struct cudnnContext {
  cudaStream_t stream = nullptr;
};
struct cudnnTensorStruct {
  cudnnTensorFormat_t format = CUDNN_TENSOR_NCHW;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  int n = 0, c = 0, h = 0, w = 0;
  bool set = false;
};
struct cudnnFilterStruct {
  cudnnTensorFormat_t format = CUDNN_TENSOR_NCHW;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  int k = 0, c = 0, h = 0, w = 0;
  bool set = false;
};
struct cudnnConvolutionStruct {
  int pad_h = 0, pad_w = 0, stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  cudnnConvolutionMode_t mode = CUDNN_CONVOLUTION;
  cudnnDataType_t compute = CUDNN_DATA_FLOAT;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  bool set = false;
};
struct CUevent_st {
  double at_ms = -1.0;  // the clock when recorded; -1 before
  int64_t at_sync = 0;  // the synchronisations before it was recorded
};

namespace fake_gpu {

State& state() {
  static State s;
  return s;
}

namespace {

// Allocations by address, with their sizes.
std::map<const unsigned char*, size_t>& allocations() {
  static std::map<const unsigned char*, size_t> a;
  return a;
}

// Whether [p, p + bytes) lies within one allocation.
bool allocated(const void* p, size_t bytes) {
  const auto* q = static_cast<const unsigned char*>(p);
  auto it = allocations().upper_bound(q);
  if (it == allocations().begin()) return false;
  --it;
  return q >= it->first && q + bytes <= it->first + it->second;
}

bool failing(const char* call) { return state().failing_call == call; }

// A convolution's problem, as the descriptors give it.
struct Problem {
  cyg::Conv2dShape shape;
  bool nhwc = false;
  bool bf16 = false;
};

// [outer, C, inner] from `x` in its layout ([outer, inner, C] when channels last).
template <typename T>
std::vector<T> channels_first(const void* x, int64_t outer, int64_t C, int64_t inner, bool nhwc) {
  const T* p = static_cast<const T*>(x);
  return nhwc ? cyg::channels_first_copy(p, outer, C, inner) : std::vector<T>(p, p + outer * C * inner);
}

float as_float(float v) { return v; }
float as_float(uint16_t v) { return cyg::widen(v); }
void put(float* p, float v) { *p = v; }
void put(uint16_t* p, float v) { cyg::store(p, v); }

// out = alpha * r + beta * out, r given [outer, C, inner], out in its layout. With beta 0
// the output is not read, as cuDNN's.
template <typename T>
void blend(const std::vector<T>& r, void* out, int64_t outer, int64_t C, int64_t inner, bool nhwc, float alpha,
           float beta) {
  T* p = static_cast<T*>(out);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < inner; ++i) {
        T* dst = p + (nhwc ? (o * inner + i) * C + c : (o * C + c) * inner + i);
        const float v = alpha * as_float(r[static_cast<size_t>((o * C + c) * inner + i)]);
        put(dst, beta == 0.0f ? v : v + beta * as_float(*dst));
      }
}

void reference(int direction, const cyg::Conv2dShape& s, const float* a, const float* b, float* out) {
  if (direction == kForward) cyg::conv2d_forward_cpu<float>(a, b, nullptr, s, out);
  if (direction == kBackwardData) cyg::conv2d_backward_data_cpu<float>(a, b, s, out);
  if (direction == kBackwardFilter) cyg::conv2d_backward_filter_cpu<float>(a, b, s, out);
}
void reference(int direction, const cyg::Conv2dShape& s, const uint16_t* a, const uint16_t* b, uint16_t* out) {
  if (direction == kForward) cyg::conv2d_forward_bf16_cpu(a, b, s, out);
  if (direction == kBackwardData) cyg::conv2d_backward_data_bf16_cpu(a, b, s, out);
  if (direction == kBackwardFilter) cyg::conv2d_backward_filter_bf16_cpu(a, b, s, out);
}

// One direction on tensors by role: x is X (or dX), w is W (or dW), y is Y (or dY).
template <typename T>
void compute_as(int direction, const Problem& p, float alpha, float beta, void* x, void* w, void* y) {
  const cyg::Conv2dShape& s = p.shape;
  const int64_t in = s.H * s.W, out = s.OH() * s.OW(), taps = s.KH * s.KW;
  if (direction == kForward) {
    std::vector<T> r(static_cast<size_t>(s.N * s.OC * out));
    reference(direction, s, channels_first<T>(x, s.N, s.C, in, p.nhwc).data(),
              channels_first<T>(w, s.OC, s.C, taps, p.nhwc).data(), r.data());
    blend(r, y, s.N, s.OC, out, p.nhwc, alpha, beta);
  } else if (direction == kBackwardData) {
    std::vector<T> r(static_cast<size_t>(s.N * s.C * in));
    reference(direction, s, channels_first<T>(y, s.N, s.OC, out, p.nhwc).data(),
              channels_first<T>(w, s.OC, s.C, taps, p.nhwc).data(), r.data());
    blend(r, x, s.N, s.C, in, p.nhwc, alpha, beta);
  } else {
    std::vector<T> r(static_cast<size_t>(s.OC * s.C * taps));
    reference(direction, s, channels_first<T>(y, s.N, s.OC, out, p.nhwc).data(),
              channels_first<T>(x, s.N, s.C, in, p.nhwc).data(), r.data());
    blend(r, w, s.OC, s.C, taps, p.nhwc, alpha, beta);
  }
}
void compute(int direction, const Problem& p, float alpha, float beta, const void* x, const void* w, const void* y) {
  void *mx = const_cast<void*>(x), *mw = const_cast<void*>(w), *my = const_cast<void*>(y);
  if (p.bf16)
    compute_as<uint16_t>(direction, p, alpha, beta, mx, mw, my);
  else
    compute_as<float>(direction, p, alpha, beta, mx, mw, my);
}

size_t bytes_of(const Problem& p, int role) {
  const cyg::Conv2dShape& s = p.shape;
  const int64_t n = role == 0 ? s.N * s.C * s.H * s.W : role == 1 ? s.OC * s.C * s.KH * s.KW : s.N * s.OC * s.OH() * s.OW();
  return static_cast<size_t>(n) * (p.bf16 ? 2 : 4);
}

// The legacy descriptors' problem; BAD_PARAM where they do not describe one convolution.
cudnnStatus_t problem_of(const cudnnTensorStruct* x, const cudnnFilterStruct* w, const cudnnConvolutionStruct* c,
                         const cudnnTensorStruct* y, Problem* p) {
  if (x == nullptr || w == nullptr || c == nullptr || y == nullptr || !x->set || !w->set || !c->set || !y->set)
    return CUDNN_STATUS_BAD_PARAM;
  if (x->type != w->type || x->type != y->type || x->format != w->format || x->format != y->format ||
      x->c != w->c || y->c != w->k || y->n != x->n)
    return CUDNN_STATUS_BAD_PARAM;
  cyg::Conv2dShape& s = p->shape;
  s.N = x->n;
  s.C = x->c;
  s.H = x->h;
  s.W = x->w;
  s.OC = w->k;
  s.KH = w->h;
  s.KW = w->w;
  s.stride_h = c->stride_h;
  s.stride_w = c->stride_w;
  s.pad_h = c->pad_h;
  s.pad_w = c->pad_w;
  if (s.OH() != y->h || s.OW() != y->w) return CUDNN_STATUS_BAD_PARAM;
  p->nhwc = x->format == CUDNN_TENSOR_NHWC;
  p->bf16 = x->type == CUDNN_DATA_BFLOAT16;
  return CUDNN_STATUS_SUCCESS;
}

// The entry of `algo` for the math type `math`, else its first.
const Algorithm* algorithm(int direction, int algo, cudnnMathType_t math) {
  const Algorithm* first = nullptr;
  for (const Algorithm& a : state().algorithms[direction]) {
    if (a.algo != algo) continue;
    if (a.math == math) return &a;
    if (first == nullptr) first = &a;
  }
  return first;
}

cudaError_t g_last_error = cudaSuccess;

cudaError_t runtime_result(cudaError_t e) {
  if (e != cudaSuccess) g_last_error = e;
  return e;
}

// A run that failed as a launch fails: its error left as the runtime's last (not sticky).
void launch_failed() { runtime_result(cudaErrorLaunchFailure); }

// An algorithm's run: checks, computes, advances the clock, records it.
cudnnStatus_t run_algorithm(int direction, cudnnHandle_t h, const void* alpha, const cudnnTensorStruct* x,
                            const void* xp, const cudnnFilterStruct* w, const void* wp, const cudnnConvolutionStruct* c,
                            int algo, void* workspace, size_t workspace_bytes, const void* beta,
                            const cudnnTensorStruct* y, const void* yp) {
  Problem p;
  if (h == nullptr || alpha == nullptr || beta == nullptr || problem_of(x, w, c, y, &p) != CUDNN_STATUS_SUCCESS)
    return CUDNN_STATUS_BAD_PARAM;
  const Algorithm* a = algorithm(direction, algo, c->math);
  if (a == nullptr || a->status != CUDNN_STATUS_SUCCESS) return CUDNN_STATUS_NOT_SUPPORTED;
  // The workspace it needs, in device memory, and said to be there.
  if (a->workspace > workspace_bytes || (a->workspace > 0 && !allocated(workspace, a->workspace)))
    return CUDNN_STATUS_BAD_PARAM;
  compute(direction, p, *static_cast<const float*>(alpha), *static_cast<const float*>(beta), xp, wp, yp);
  state().clock_ms += a->run_ms;
  Run r;
  r.direction = direction;
  r.algo = algo;
  r.math = c->math;
  r.beta = *static_cast<const float*>(beta);
  r.handle = h;
  r.stream = h->stream;
  r.on_search_buffers = allocated(xp, bytes_of(p, 0)) && allocated(wp, bytes_of(p, 1)) && allocated(yp, bytes_of(p, 2));
  state().runs.push_back(r);
  return CUDNN_STATUS_SUCCESS;
}

// The search's and the heuristics' list for a direction.
template <typename Perf>
cudnnStatus_t list(int direction, const cudnnTensorStruct* x, const cudnnFilterStruct* w,
                   const cudnnConvolutionStruct* c, const cudnnTensorStruct* y, int requested, int* returned,
                   Perf* perf, bool search, size_t workspace_bytes) {
  Problem p;
  if (returned == nullptr || perf == nullptr || requested < 1 || problem_of(x, w, c, y, &p) != CUDNN_STATUS_SUCCESS)
    return CUDNN_STATUS_BAD_PARAM;
  const std::vector<Algorithm>& all = state().algorithms[direction];
  const int n = std::min(requested, static_cast<int>(all.size()));
  for (int i = 0; i < n; ++i) {
    const Algorithm& a = all[static_cast<size_t>(i)];
    Perf r{};
    r.algo = static_cast<decltype(r.algo)>(a.algo);
    r.status = search && a.workspace > workspace_bytes ? CUDNN_STATUS_ALLOC_FAILED : a.status;
    r.time = search ? a.find_ms : -1.0f;
    r.memory = a.workspace;
    r.determinism = a.determinism;
    r.mathType = a.math;
    perf[i] = r;
  }
  *returned = n;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t workspace_of(int direction, const cudnnTensorStruct* x, const cudnnFilterStruct* w,
                           const cudnnConvolutionStruct* c, const cudnnTensorStruct* y, int algo, size_t* bytes) {
  Problem p;
  if (bytes == nullptr || problem_of(x, w, c, y, &p) != CUDNN_STATUS_SUCCESS) return CUDNN_STATUS_BAD_PARAM;
  const Algorithm* a = algorithm(direction, algo, c->math);
  if (a == nullptr || a->status != CUDNN_STATUS_SUCCESS) return CUDNN_STATUS_NOT_SUPPORTED;
  *bytes = a->workspace;
  return CUDNN_STATUS_SUCCESS;
}

// A graph plan's execution, from the backend stand-in: its convolution node's tensors
// (dims N, C, H, W in any layout; strides say which) bound to the pack's pointers.
cudnnStatus_t execute(const fake_cudnn::Convolution& c, const fake_cudnn::Execution& e) {
  if (state().failing_call == "cudnnBackendExecute") {
    if (state().execute_fault != cudaSuccess) state().fault = state().execute_fault;
    launch_failed();
    return CUDNN_STATUS_EXECUTION_FAILED;
  }
  if (e.workspace_bytes > 0 && !allocated(e.workspace, static_cast<size_t>(e.workspace_bytes)))
    return CUDNN_STATUS_BAD_PARAM;
  auto pointer = [&](int64_t uid) -> void* {
    for (size_t i = 0; i < e.uids.size() && i < e.pointers.size(); ++i)
      if (e.uids[i] == uid) return e.pointers[i];
    return nullptr;
  };
  void *x = pointer(c.x.uid), *w = pointer(c.w.uid), *y = pointer(c.y.uid);
  if (x == nullptr || w == nullptr || y == nullptr || c.x.dims.size() != 4 || c.w.dims.size() != 4 ||
      c.strides.size() != 2 || c.pre_paddings.size() != 2)
    return CUDNN_STATUS_BAD_PARAM;
  for (const void* q : {x, w, y})
    if (reinterpret_cast<uintptr_t>(q) % static_cast<uintptr_t>(std::max<int64_t>(c.x.alignment, 1)) != 0)
      return CUDNN_STATUS_BAD_PARAM;
  Problem p;
  cyg::Conv2dShape& s = p.shape;
  s.N = c.x.dims[0];
  s.C = c.x.dims[1];
  s.H = c.x.dims[2];
  s.W = c.x.dims[3];
  s.OC = c.w.dims[0];
  s.KH = c.w.dims[2];
  s.KW = c.w.dims[3];
  s.stride_h = c.strides[0];
  s.stride_w = c.strides[1];
  s.pad_h = c.pre_paddings[0];
  s.pad_w = c.pre_paddings[1];
  p.nhwc = c.x.strides.size() == 4 && c.x.strides[1] == 1;
  p.bf16 = c.x.type == CUDNN_DATA_BFLOAT16;
  const int direction = c.kind == CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR         ? kForward
                        : c.kind == CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR ? kBackwardData
                                                                                                   : kBackwardFilter;
  compute(direction, p, c.alpha, c.beta, x, w, y);
  const auto ms = state().engine_ms[direction].find(e.global_index);
  state().clock_ms += ms == state().engine_ms[direction].end() ? 1.0 : ms->second;
  Run r;
  r.direction = direction;
  r.engine = e.global_index;
  r.beta = c.beta;
  r.handle = e.handle;
  r.stream = e.handle != nullptr ? e.handle->stream : nullptr;
  r.on_search_buffers = allocated(x, bytes_of(p, 0)) && allocated(w, bytes_of(p, 1)) && allocated(y, bytes_of(p, 2));
  state().runs.push_back(r);
  return CUDNN_STATUS_SUCCESS;
}

// A call the test made fail: its error, also kept as the last error; after a device
// fault, every call returns the fault.
#define FAKE_CUDA_FAILS(name)                                                      \
  if (state().fault != cudaSuccess) return fake_gpu::runtime_result(state().fault); \
  if (failing(name)) return fake_gpu::runtime_result(cudaErrorUnknown)
#define FAKE_CUDNN_FAILS(name) \
  if (failing(name)) return CUDNN_STATUS_INTERNAL_ERROR
// A convolution the test made fail, as a failed launch.
#define FAKE_CUDNN_RUN_FAILS(name) \
  if (failing(name)) return fake_gpu::launch_failed(), CUDNN_STATUS_EXECUTION_FAILED

}  // namespace

void reset() {
  const int64_t allocations_live = state().live_allocations, descriptors_live = state().live_legacy_descriptors;
  state() = State{};
  state().live_allocations = allocations_live;
  state().live_legacy_descriptors = descriptors_live;
  g_last_error = cudaSuccess;
  fake_cudnn::state().on_execute = execute;
}

}  // namespace fake_gpu

using fake_gpu::failing;
using fake_gpu::state;

// The search's GPU delay: nothing to wait for here.
namespace cyg::cuda {
void gpu_delay_cuda(int64_t microseconds, const LaunchConfig&) {
  ++state().delays;
  state().clock_ms += static_cast<double>(microseconds) / 1000.0;
}
}  // namespace cyg::cuda

extern "C" {

// ---- the CUDA runtime ----

cudaError_t cudaMalloc(void** p, size_t bytes) {
  FAKE_CUDA_FAILS("cudaMalloc");
  if (p == nullptr) return fake_gpu::runtime_result(cudaErrorInvalidValue);
  if (bytes > state().malloc_limit) return fake_gpu::runtime_result(cudaErrorMemoryAllocation);
  const size_t rounded = (std::max<size_t>(bytes, 1) + 255) / 256 * 256;
  *p = std::aligned_alloc(256, rounded);
  if (*p == nullptr) return fake_gpu::runtime_result(cudaErrorMemoryAllocation);
  fake_gpu::allocations()[static_cast<const unsigned char*>(*p)] = bytes;
  ++state().live_allocations;
  return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
  // (After a fault the memory still goes, and the fault is returned.)
  if (p == nullptr) return fake_gpu::runtime_result(state().fault);
  const auto it = fake_gpu::allocations().find(static_cast<const unsigned char*>(p));
  if (it == fake_gpu::allocations().end()) return fake_gpu::runtime_result(cudaErrorInvalidValue);
  fake_gpu::allocations().erase(it);
  std::free(p);
  --state().live_allocations;
  return fake_gpu::runtime_result(state().fault);
}

cudaError_t cudaMemset(void* p, int value, size_t bytes) {
  FAKE_CUDA_FAILS("cudaMemset");
  if (!fake_gpu::allocated(p, bytes)) return fake_gpu::runtime_result(cudaErrorInvalidValue);
  std::memset(p, value, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  FAKE_CUDA_FAILS("cudaMemGetInfo");
  *free_bytes = state().free_bytes;
  *total_bytes = state().total_bytes;
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) {
  FAKE_CUDA_FAILS("cudaDeviceSynchronize");
  ++state().syncs;
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t) {
  FAKE_CUDA_FAILS("cudaStreamSynchronize");
  ++state().syncs;
  return cudaSuccess;
}

cudaError_t cudaGetLastError(void) {
  const cudaError_t e = fake_gpu::g_last_error;
  // A fault sticks; any other error is cleared by reading it.
  fake_gpu::g_last_error = state().fault;
  return e;
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorStreamCaptureImplicit: return "operation would make the legacy stream depend on a capturing blocking stream";
    default: return "unknown error";
  }
}

cudaError_t cudaGetDevice(int* device) {
  FAKE_CUDA_FAILS("cudaGetDevice");
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  FAKE_CUDA_FAILS("cudaGetDeviceProperties");
  if (device != 0) return fake_gpu::runtime_result(cudaErrorInvalidDevice);
  *prop = cudaDeviceProp{};
  std::strncpy(prop->name, state().device_name.c_str(), sizeof(prop->name) - 1);
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  FAKE_CUDA_FAILS("cudaEventCreate");
  *event = new CUevent_st;
  return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  delete event;
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t) {
  FAKE_CUDA_FAILS("cudaEventRecord");
  event->at_ms = state().clock_ms;
  event->at_sync = state().syncs;
  return cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  FAKE_CUDA_FAILS("cudaEventElapsedTime");
  if (start->at_ms < 0.0 || end->at_ms < 0.0) return fake_gpu::runtime_result(cudaErrorInvalidResourceHandle);
  // Not before the host has waited for both.
  if (start->at_sync >= state().syncs || end->at_sync >= state().syncs)
    return fake_gpu::runtime_result(cudaErrorNotReady);
  *ms = static_cast<float>(end->at_ms - start->at_ms);
  return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status) {
  FAKE_CUDA_FAILS("cudaStreamIsCapturing");
  if (state().stream_capturing && stream == cudaStreamLegacy)
    return fake_gpu::runtime_result(cudaErrorStreamCaptureImplicit);
  *status = state().stream_capturing ? cudaStreamCaptureStatusActive : cudaStreamCaptureStatusNone;
  return cudaSuccess;
}

// ---- cuDNN's legacy API ----

size_t cudnnGetVersion(void) { return 91900; }

cudnnStatus_t cudnnCreate(cudnnHandle_t* handle) {
  FAKE_CUDNN_FAILS("cudnnCreate");
  *handle = new cudnnContext;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroy(cudnnHandle_t handle) {
  delete handle;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t stream) {
  FAKE_CUDNN_FAILS("cudnnSetStream");
  if (handle == nullptr) return CUDNN_STATUS_BAD_PARAM;
  handle->stream = stream;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t* d) {
  FAKE_CUDNN_FAILS("cudnnCreateTensorDescriptor");
  *d = new cudnnTensorStruct;
  ++state().live_legacy_descriptors;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t d) {
  delete d;
  --state().live_legacy_descriptors;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t d, cudnnTensorFormat_t format, cudnnDataType_t type,
                                         int n, int c, int h, int w) {
  FAKE_CUDNN_FAILS("cudnnSetTensor4dDescriptor");
  if (n < 1 || c < 1 || h < 1 || w < 1 || (format != CUDNN_TENSOR_NCHW && format != CUDNN_TENSOR_NHWC))
    return CUDNN_STATUS_BAD_PARAM;
  *d = cudnnTensorStruct{format, type, n, c, h, w, true};
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t* d) {
  FAKE_CUDNN_FAILS("cudnnCreateFilterDescriptor");
  *d = new cudnnFilterStruct;
  ++state().live_legacy_descriptors;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t d) {
  delete d;
  --state().live_legacy_descriptors;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t type, cudnnTensorFormat_t format,
                                         int k, int c, int h, int w) {
  FAKE_CUDNN_FAILS("cudnnSetFilter4dDescriptor");
  if (k < 1 || c < 1 || h < 1 || w < 1 || (format != CUDNN_TENSOR_NCHW && format != CUDNN_TENSOR_NHWC))
    return CUDNN_STATUS_BAD_PARAM;
  *d = cudnnFilterStruct{format, type, k, c, h, w, true};
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t* d) {
  FAKE_CUDNN_FAILS("cudnnCreateConvolutionDescriptor");
  *d = new cudnnConvolutionStruct;
  ++state().live_legacy_descriptors;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t d) {
  delete d;
  --state().live_legacy_descriptors;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int pad_h, int pad_w, int u, int v,
                                              int dilation_h, int dilation_w, cudnnConvolutionMode_t mode,
                                              cudnnDataType_t compute) {
  FAKE_CUDNN_FAILS("cudnnSetConvolution2dDescriptor");
  // The CPU reference is a cross-correlation, without dilation.
  if (pad_h < 0 || pad_w < 0 || u < 1 || v < 1 || dilation_h != 1 || dilation_w != 1 ||
      mode != CUDNN_CROSS_CORRELATION || compute != CUDNN_DATA_FLOAT)
    return CUDNN_STATUS_NOT_SUPPORTED;
  const cudnnMathType_t math = d->math;
  *d = cudnnConvolutionStruct{pad_h, pad_w, u, v, dilation_h, dilation_w, mode, compute, math, true};
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t math) {
  FAKE_CUDNN_FAILS("cudnnSetConvolutionMathType");
  if (math != CUDNN_DEFAULT_MATH && math != CUDNN_TENSOR_OP_MATH && math != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION &&
      math != CUDNN_FMA_MATH)
    return CUDNN_STATUS_BAD_PARAM;
  d->math = math;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t* math) {
  FAKE_CUDNN_FAILS("cudnnGetConvolutionMathType");
  *math = d->math;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolution2dForwardOutputDim(const cudnnConvolutionDescriptor_t c,
                                                    const cudnnTensorDescriptor_t x, const cudnnFilterDescriptor_t w,
                                                    int* n, int* k, int* h, int* wo) {
  FAKE_CUDNN_FAILS("cudnnGetConvolution2dForwardOutputDim");
  if (!c->set || !x->set || !w->set || x->c != w->c) return CUDNN_STATUS_BAD_PARAM;
  *n = x->n;
  *k = w->k;
  *h = (x->h + 2 * c->pad_h - w->h) / c->stride_h + 1;
  *wo = (x->w + 2 * c->pad_w - w->w) / c->stride_w + 1;
  return CUDNN_STATUS_SUCCESS;
}

#define FAKE_MAX_COUNT(name, count)                   \
  cudnnStatus_t name(cudnnHandle_t, int* n) {         \
    FAKE_CUDNN_FAILS(#name);                          \
    *n = count;                                       \
    return CUDNN_STATUS_SUCCESS;                      \
  }
FAKE_MAX_COUNT(cudnnGetConvolutionForwardAlgorithmMaxCount, CUDNN_CONVOLUTION_FWD_ALGO_COUNT)
FAKE_MAX_COUNT(cudnnGetConvolutionBackwardDataAlgorithmMaxCount, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT)
FAKE_MAX_COUNT(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT)

cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t, const cudnnTensorDescriptor_t x,
                                                     const cudnnFilterDescriptor_t w,
                                                     const cudnnConvolutionDescriptor_t c,
                                                     const cudnnTensorDescriptor_t y, const int requested,
                                                     int* returned, cudnnConvolutionFwdAlgoPerf_t* perf) {
  FAKE_CUDNN_FAILS("cudnnGetConvolutionForwardAlgorithm_v7");
  ++state().heuristics;
  return fake_gpu::list(fake_gpu::kForward, x, w, c, y, requested, returned, perf, false, 0);
}
cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnnHandle_t, const cudnnFilterDescriptor_t w,
                                                          const cudnnTensorDescriptor_t dy,
                                                          const cudnnConvolutionDescriptor_t c,
                                                          const cudnnTensorDescriptor_t dx, const int requested,
                                                          int* returned, cudnnConvolutionBwdDataAlgoPerf_t* perf) {
  FAKE_CUDNN_FAILS("cudnnGetConvolutionBackwardDataAlgorithm_v7");
  ++state().heuristics;
  return fake_gpu::list(fake_gpu::kBackwardData, dx, w, c, dy, requested, returned, perf, false, 0);
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnnHandle_t, const cudnnTensorDescriptor_t x,
                                                            const cudnnTensorDescriptor_t dy,
                                                            const cudnnConvolutionDescriptor_t c,
                                                            const cudnnFilterDescriptor_t dw, const int requested,
                                                            int* returned, cudnnConvolutionBwdFilterAlgoPerf_t* perf) {
  FAKE_CUDNN_FAILS("cudnnGetConvolutionBackwardFilterAlgorithm_v7");
  ++state().heuristics;
  return fake_gpu::list(fake_gpu::kBackwardFilter, x, dw, c, dy, requested, returned, perf, false, 0);
}

// The searches: the buffers must be device memory (cudaMalloc), as cuDNN's must.
cudnnStatus_t cudnnFindConvolutionForwardAlgorithmEx(cudnnHandle_t, const cudnnTensorDescriptor_t xd, const void* x,
                                                     const cudnnFilterDescriptor_t wd, const void* w,
                                                     const cudnnConvolutionDescriptor_t c,
                                                     const cudnnTensorDescriptor_t yd, void* y, const int requested,
                                                     int* returned, cudnnConvolutionFwdAlgoPerf_t* perf,
                                                     void* workspace, size_t workspace_bytes) {
  FAKE_CUDNN_FAILS("cudnnFindConvolutionForwardAlgorithmEx");
  if (!fake_gpu::allocated(x, 1) || !fake_gpu::allocated(w, 1) || !fake_gpu::allocated(y, 1) ||
      (workspace_bytes > 0 && !fake_gpu::allocated(workspace, workspace_bytes)))
    return CUDNN_STATUS_BAD_PARAM;
  ++state().finds;
  return fake_gpu::list(fake_gpu::kForward, xd, wd, c, yd, requested, returned, perf, true, workspace_bytes);
}
cudnnStatus_t cudnnFindConvolutionBackwardDataAlgorithmEx(cudnnHandle_t, const cudnnFilterDescriptor_t wd,
                                                          const void* w, const cudnnTensorDescriptor_t dyd,
                                                          const void* dy, const cudnnConvolutionDescriptor_t c,
                                                          const cudnnTensorDescriptor_t dxd, void* dx,
                                                          const int requested, int* returned,
                                                          cudnnConvolutionBwdDataAlgoPerf_t* perf, void* workspace,
                                                          size_t workspace_bytes) {
  FAKE_CUDNN_FAILS("cudnnFindConvolutionBackwardDataAlgorithmEx");
  if (!fake_gpu::allocated(dx, 1) || !fake_gpu::allocated(w, 1) || !fake_gpu::allocated(dy, 1) ||
      (workspace_bytes > 0 && !fake_gpu::allocated(workspace, workspace_bytes)))
    return CUDNN_STATUS_BAD_PARAM;
  ++state().finds;
  return fake_gpu::list(fake_gpu::kBackwardData, dxd, wd, c, dyd, requested, returned, perf, true, workspace_bytes);
}
cudnnStatus_t cudnnFindConvolutionBackwardFilterAlgorithmEx(cudnnHandle_t, const cudnnTensorDescriptor_t xd,
                                                            const void* x, const cudnnTensorDescriptor_t dyd,
                                                            const void* dy, const cudnnConvolutionDescriptor_t c,
                                                            const cudnnFilterDescriptor_t dwd, void* dw,
                                                            const int requested, int* returned,
                                                            cudnnConvolutionBwdFilterAlgoPerf_t* perf,
                                                            void* workspace, size_t workspace_bytes) {
  FAKE_CUDNN_FAILS("cudnnFindConvolutionBackwardFilterAlgorithmEx");
  if (!fake_gpu::allocated(x, 1) || !fake_gpu::allocated(dw, 1) || !fake_gpu::allocated(dy, 1) ||
      (workspace_bytes > 0 && !fake_gpu::allocated(workspace, workspace_bytes)))
    return CUDNN_STATUS_BAD_PARAM;
  ++state().finds;
  return fake_gpu::list(fake_gpu::kBackwardFilter, xd, dwd, c, dyd, requested, returned, perf, true,
                        workspace_bytes);
}

cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t, const cudnnTensorDescriptor_t x,
                                                      const cudnnFilterDescriptor_t w,
                                                      const cudnnConvolutionDescriptor_t c,
                                                      const cudnnTensorDescriptor_t y, cudnnConvolutionFwdAlgo_t algo,
                                                      size_t* bytes) {
  FAKE_CUDNN_FAILS("cudnnGetConvolutionForwardWorkspaceSize");
  return fake_gpu::workspace_of(fake_gpu::kForward, x, w, c, y, algo, bytes);
}
cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(cudnnHandle_t, const cudnnFilterDescriptor_t w,
                                                           const cudnnTensorDescriptor_t dy,
                                                           const cudnnConvolutionDescriptor_t c,
                                                           const cudnnTensorDescriptor_t dx,
                                                           cudnnConvolutionBwdDataAlgo_t algo, size_t* bytes) {
  FAKE_CUDNN_FAILS("cudnnGetConvolutionBackwardDataWorkspaceSize");
  return fake_gpu::workspace_of(fake_gpu::kBackwardData, dx, w, c, dy, algo, bytes);
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnnHandle_t, const cudnnTensorDescriptor_t x,
                                                             const cudnnTensorDescriptor_t dy,
                                                             const cudnnConvolutionDescriptor_t c,
                                                             const cudnnFilterDescriptor_t dw,
                                                             cudnnConvolutionBwdFilterAlgo_t algo, size_t* bytes) {
  FAKE_CUDNN_FAILS("cudnnGetConvolutionBackwardFilterWorkspaceSize");
  return fake_gpu::workspace_of(fake_gpu::kBackwardFilter, x, dw, c, dy, algo, bytes);
}

cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t h, const void* alpha, const cudnnTensorDescriptor_t xd,
                                      const void* x, const cudnnFilterDescriptor_t wd, const void* w,
                                      const cudnnConvolutionDescriptor_t c, cudnnConvolutionFwdAlgo_t algo,
                                      void* workspace, size_t workspace_bytes, const void* beta,
                                      const cudnnTensorDescriptor_t yd, void* y) {
  FAKE_CUDNN_RUN_FAILS("cudnnConvolutionForward");
  return fake_gpu::run_algorithm(fake_gpu::kForward, h, alpha, xd, x, wd, w, c, algo, workspace, workspace_bytes,
                                 beta, yd, y);
}
cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t h, const void* alpha, const cudnnFilterDescriptor_t wd,
                                           const void* w, const cudnnTensorDescriptor_t dyd, const void* dy,
                                           const cudnnConvolutionDescriptor_t c, cudnnConvolutionBwdDataAlgo_t algo,
                                           void* workspace, size_t workspace_bytes, const void* beta,
                                           const cudnnTensorDescriptor_t dxd, void* dx) {
  FAKE_CUDNN_RUN_FAILS("cudnnConvolutionBackwardData");
  return fake_gpu::run_algorithm(fake_gpu::kBackwardData, h, alpha, dxd, dx, wd, w, c, algo, workspace,
                                 workspace_bytes, beta, dyd, dy);
}
cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t h, const void* alpha, const cudnnTensorDescriptor_t xd,
                                             const void* x, const cudnnTensorDescriptor_t dyd, const void* dy,
                                             const cudnnConvolutionDescriptor_t c,
                                             cudnnConvolutionBwdFilterAlgo_t algo, void* workspace,
                                             size_t workspace_bytes, const void* beta,
                                             const cudnnFilterDescriptor_t dwd, void* dw) {
  FAKE_CUDNN_RUN_FAILS("cudnnConvolutionBackwardFilter");
  return fake_gpu::run_algorithm(fake_gpu::kBackwardFilter, h, alpha, xd, x, dwd, dw, c, algo, workspace,
                                 workspace_bytes, beta, dyd, dy);
}

}  // extern "C"
