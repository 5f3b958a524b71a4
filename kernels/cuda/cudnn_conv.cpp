// cuDNN convolutions for kernels/conv.h: per shape (and TF32 setting), the descriptors
// and the algorithms (cuDNN's heuristics: the first choice that fits the workspace cap,
// with the math type it was chosen for) are made once and cached; every call is
// checked. The caller provides the workspace.
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "kernels/conv.h"
#include "kernels/cuda/check.h"

namespace cyg::cuda {
namespace {

constexpr size_t kWorkspaceCap = size_t(512) << 20;

cudnnHandle_t handle_for_this_thread() {
  // One handle per host thread (cuDNN handles are not thread-safe), for the process.
  struct Handle {
    cudnnHandle_t h = nullptr;
    Handle() { CYG_CUDNN_CHECK(cudnnCreate(&h)); }
    ~Handle() { cudnnDestroy(h); }
  };
  thread_local Handle handle;
  return handle.h;
}

std::atomic<bool> g_allow_tf32{true};
std::atomic<bool> g_deterministic{false};

// The settings a plan was made under: a change makes new plans.
struct PlanKey {
  Conv2dShape shape;
  bool allow_tf32, deterministic;
  bool operator<(const PlanKey& o) const {
    if (shape < o.shape || o.shape < shape) return shape < o.shape;
    return std::tie(allow_tf32, deterministic) < std::tie(o.allow_tf32, o.deterministic);
  }
};

// One convolution descriptor per direction: each carries the math type cuDNN's
// heuristics chose with that direction's algorithm (and sized its workspace for).
struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv_fwd = nullptr, conv_bwd_data = nullptr, conv_bwd_filter = nullptr;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  size_t workspace = 0;

  ~ConvPlan() {
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (w) cudnnDestroyFilterDescriptor(w);
    for (auto* c : {conv_fwd, conv_bwd_data, conv_bwd_filter})
      if (c) cudnnDestroyConvolutionDescriptor(c);
  }
};

// cuDNN's first choice that succeeded, fits the workspace cap and, when asked,
// computes deterministically (some backward algorithms add with atomics).
template <typename Perf>
int first_fitting(const Perf* perf, int count, bool deterministic) {
  for (int i = 0; i < count; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= kWorkspaceCap &&
        (!deterministic || perf[i].determinism == CUDNN_DETERMINISTIC))
      return i;
  return -1;
}

cudnnConvolutionDescriptor_t make_conv_descriptor(const Conv2dShape& s, cudnnMathType_t math) {
  cudnnConvolutionDescriptor_t d = nullptr;
  CYG_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d));
  CYG_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(d, static_cast<int>(s.pad_h), static_cast<int>(s.pad_w),
                                                  static_cast<int>(s.stride_h), static_cast<int>(s.stride_w), 1, 1,
                                                  CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  CYG_CUDNN_CHECK(cudnnSetConvolutionMathType(d, math));
  return d;
}

// allow_tf32: float convolutions may use TF32 tensor cores (PyTorch's default for
// cuDNN); otherwise strict FP32 arithmetic (CUDNN_FMA_MATH).
std::unique_ptr<ConvPlan> make_plan(const Conv2dShape& s, bool allow_tf32, bool deterministic) {
  auto p = std::make_unique<ConvPlan>();
  const int N = static_cast<int>(s.N), C = static_cast<int>(s.C), H = static_cast<int>(s.H),
            W = static_cast<int>(s.W), OC = static_cast<int>(s.OC);
  CYG_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
  CYG_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, N, C, H, W));
  CYG_CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
  CYG_CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, OC, C,
                                             static_cast<int>(s.KH), static_cast<int>(s.KW)));
  const cudnnMathType_t math = allow_tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
  p->conv_fwd = make_conv_descriptor(s, math);
  p->conv_bwd_data = make_conv_descriptor(s, math);
  p->conv_bwd_filter = make_conv_descriptor(s, math);
  int n = 0, c = 0, h = 0, w = 0;
  CYG_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(p->conv_fwd, p->x, p->w, &n, &c, &h, &w));
  CYG_CHECK(h == s.OH() && w == s.OW() && c == OC, "cuDNN output shape ", n, "x", c, "x", h, "x", w,
            " differs from ", s.N, "x", s.OC, "x", s.OH(), "x", s.OW());
  CYG_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
  CYG_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, c, h, w));

  cudnnHandle_t handle = handle_for_this_thread();
  int found = 0;
  size_t bytes = 0;
  cudnnConvolutionFwdAlgoPerf_t fwd[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  CYG_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle, p->x, p->w, p->conv_fwd, p->y,
                                                         CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &found, fwd));
  int k = first_fitting(fwd, found, deterministic);
  CYG_CHECK(k >= 0, "cuDNN has no forward algorithm for this convolution within the workspace cap");
  p->fwd = fwd[k].algo;
  if (allow_tf32) CYG_CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv_fwd, fwd[k].mathType));
  CYG_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(handle, p->x, p->w, p->conv_fwd, p->y, p->fwd, &bytes));
  p->workspace = bytes;

  cudnnConvolutionBwdDataAlgoPerf_t bwd_data[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
  CYG_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, p->w, p->y, p->conv_bwd_data, p->x,
                                                              CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &found, bwd_data));
  k = first_fitting(bwd_data, found, deterministic);
  CYG_CHECK(k >= 0, "cuDNN has no backward-data algorithm for this convolution within the workspace cap");
  p->bwd_data = bwd_data[k].algo;
  if (allow_tf32) CYG_CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv_bwd_data, bwd_data[k].mathType));
  CYG_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(handle, p->w, p->y, p->conv_bwd_data, p->x,
                                                               p->bwd_data, &bytes));
  p->workspace = std::max(p->workspace, bytes);

  cudnnConvolutionBwdFilterAlgoPerf_t bwd_filter[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
  CYG_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
      handle, p->x, p->y, p->conv_bwd_filter, p->w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &found, bwd_filter));
  k = first_fitting(bwd_filter, found, deterministic);
  CYG_CHECK(k >= 0, "cuDNN has no backward-filter algorithm for this convolution within the workspace cap");
  p->bwd_filter = bwd_filter[k].algo;
  if (allow_tf32) CYG_CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv_bwd_filter, bwd_filter[k].mathType));
  CYG_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, p->x, p->y, p->conv_bwd_filter, p->w,
                                                                 p->bwd_filter, &bytes));
  p->workspace = std::max(p->workspace, bytes);
  return p;
}

const ConvPlan& plan_for(const Conv2dShape& s) {
  static std::mutex mutex;
  static std::map<PlanKey, std::unique_ptr<ConvPlan>> plans;
  const PlanKey key{s, g_allow_tf32.load(), g_deterministic.load()};
  std::lock_guard<std::mutex> lock(mutex);
  auto it = plans.find(key);
  if (it == plans.end()) it = plans.emplace(key, make_plan(s, key.allow_tf32, key.deterministic)).first;
  return *it->second;
}

cudnnHandle_t bound_handle(void* stream) {
  cudnnHandle_t h = handle_for_this_thread();
  CYG_CUDNN_CHECK(cudnnSetStream(h, static_cast<cudaStream_t>(stream)));
  return h;
}

void check_workspace(const ConvPlan& p, size_t given) {
  CYG_CHECK(given >= p.workspace, "cuDNN convolution needs ", p.workspace, " workspace bytes, got ", given);
}

}  // namespace

void conv2d_allow_tf32(bool allow) { g_allow_tf32.store(allow); }
void conv2d_deterministic(bool deterministic) { g_deterministic.store(deterministic); }

size_t conv2d_workspace_bytes_cudnn(const Conv2dShape& s) { return plan_for(s).workspace; }

void conv2d_forward_cudnn(const Conv2dShape& s, const float* x, const float* w, float* y, void* workspace,
                          size_t workspace_bytes, void* stream) {
  const ConvPlan& p = plan_for(s);
  check_workspace(p, workspace_bytes);
  const float one = 1.0f, zero = 0.0f;
  CYG_CUDNN_CHECK(cudnnConvolutionForward(bound_handle(stream), &one, p.x, x, p.w, w, p.conv_fwd, p.fwd, workspace,
                                          workspace_bytes, &zero, p.y, y));
}

void conv2d_backward_data_cudnn(const Conv2dShape& s, const float* dy, const float* w, float* dx, void* workspace,
                                size_t workspace_bytes, void* stream) {
  const ConvPlan& p = plan_for(s);
  check_workspace(p, workspace_bytes);
  const float one = 1.0f, zero = 0.0f;
  CYG_CUDNN_CHECK(cudnnConvolutionBackwardData(bound_handle(stream), &one, p.w, w, p.y, dy, p.conv_bwd_data, p.bwd_data,
                                               workspace, workspace_bytes, &zero, p.x, dx));
}

void conv2d_backward_filter_cudnn(const Conv2dShape& s, const float* dy, const float* x, float* dw, void* workspace,
                                  size_t workspace_bytes, void* stream) {
  const ConvPlan& p = plan_for(s);
  check_workspace(p, workspace_bytes);
  const float one = 1.0f, zero = 0.0f;
  CYG_CUDNN_CHECK(cudnnConvolutionBackwardFilter(bound_handle(stream), &one, p.x, x, p.y, dy, p.conv_bwd_filter, p.bwd_filter,
                                                 workspace, workspace_bytes, &zero, p.w, dw));
}

}  // namespace cyg::cuda
