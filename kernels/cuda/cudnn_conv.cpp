// cuDNN convolutions for kernels/conv.h: per shape, the descriptors and the algorithms
// (cuDNN's heuristics, first choice that fits the workspace cap) are made once and
// cached; every call is checked. The caller provides the workspace.
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>

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

struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  size_t workspace = 0;

  ~ConvPlan() {
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
  }
};

template <typename Perf>
int first_fitting(const Perf* perf, int count) {
  for (int i = 0; i < count; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= kWorkspaceCap) return i;
  return -1;
}

std::unique_ptr<ConvPlan> make_plan(const Conv2dShape& s) {
  auto p = std::make_unique<ConvPlan>();
  const int N = static_cast<int>(s.N), C = static_cast<int>(s.C), H = static_cast<int>(s.H),
            W = static_cast<int>(s.W), OC = static_cast<int>(s.OC);
  CYG_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
  CYG_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, N, C, H, W));
  CYG_CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
  CYG_CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, OC, C,
                                             static_cast<int>(s.KH), static_cast<int>(s.KW)));
  CYG_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
  CYG_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv, static_cast<int>(s.pad_h), static_cast<int>(s.pad_w),
                                                  static_cast<int>(s.stride_h), static_cast<int>(s.stride_w), 1, 1,
                                                  CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  // Tensor cores (TF32 for float) where cuDNN finds them worthwhile, as PyTorch allows.
  CYG_CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION));
  int n = 0, c = 0, h = 0, w = 0;
  CYG_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(p->conv, p->x, p->w, &n, &c, &h, &w));
  CYG_CHECK(h == s.OH() && w == s.OW() && c == OC, "cuDNN output shape ", n, "x", c, "x", h, "x", w,
            " differs from ", s.N, "x", s.OC, "x", s.OH(), "x", s.OW());
  CYG_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
  CYG_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, c, h, w));

  cudnnHandle_t handle = handle_for_this_thread();
  int found = 0;
  cudnnConvolutionFwdAlgoPerf_t fwd[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  CYG_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle, p->x, p->w, p->conv, p->y,
                                                         CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &found, fwd));
  int k = first_fitting(fwd, found);
  CYG_CHECK(k >= 0, "cuDNN has no forward algorithm for this convolution within the workspace cap");
  p->fwd = fwd[k].algo;
  p->workspace = fwd[k].memory;

  cudnnConvolutionBwdDataAlgoPerf_t bwd_data[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
  CYG_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, p->w, p->y, p->conv, p->x,
                                                              CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &found, bwd_data));
  k = first_fitting(bwd_data, found);
  CYG_CHECK(k >= 0, "cuDNN has no backward-data algorithm for this convolution within the workspace cap");
  p->bwd_data = bwd_data[k].algo;
  p->workspace = std::max(p->workspace, bwd_data[k].memory);

  cudnnConvolutionBwdFilterAlgoPerf_t bwd_filter[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
  CYG_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
      handle, p->x, p->y, p->conv, p->w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &found, bwd_filter));
  k = first_fitting(bwd_filter, found);
  CYG_CHECK(k >= 0, "cuDNN has no backward-filter algorithm for this convolution within the workspace cap");
  p->bwd_filter = bwd_filter[k].algo;
  p->workspace = std::max(p->workspace, bwd_filter[k].memory);
  return p;
}

const ConvPlan& plan_for(const Conv2dShape& s) {
  static std::mutex mutex;
  static std::map<Conv2dShape, std::unique_ptr<ConvPlan>> plans;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = plans.find(s);
  if (it == plans.end()) it = plans.emplace(s, make_plan(s)).first;
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

size_t conv2d_workspace_bytes_cudnn(const Conv2dShape& s) { return plan_for(s).workspace; }

void conv2d_forward_cudnn(const Conv2dShape& s, const float* x, const float* w, float* y, void* workspace,
                          size_t workspace_bytes, void* stream) {
  const ConvPlan& p = plan_for(s);
  check_workspace(p, workspace_bytes);
  const float one = 1.0f, zero = 0.0f;
  CYG_CUDNN_CHECK(cudnnConvolutionForward(bound_handle(stream), &one, p.x, x, p.w, w, p.conv, p.fwd, workspace,
                                          workspace_bytes, &zero, p.y, y));
}

void conv2d_backward_data_cudnn(const Conv2dShape& s, const float* dy, const float* w, float* dx, void* workspace,
                                size_t workspace_bytes, void* stream) {
  const ConvPlan& p = plan_for(s);
  check_workspace(p, workspace_bytes);
  const float one = 1.0f, zero = 0.0f;
  CYG_CUDNN_CHECK(cudnnConvolutionBackwardData(bound_handle(stream), &one, p.w, w, p.y, dy, p.conv, p.bwd_data,
                                               workspace, workspace_bytes, &zero, p.x, dx));
}

void conv2d_backward_filter_cudnn(const Conv2dShape& s, const float* dy, const float* x, float* dw, void* workspace,
                                  size_t workspace_bytes, void* stream) {
  const ConvPlan& p = plan_for(s);
  check_workspace(p, workspace_bytes);
  const float one = 1.0f, zero = 0.0f;
  CYG_CUDNN_CHECK(cudnnConvolutionBackwardFilter(bound_handle(stream), &one, p.x, x, p.y, dy, p.conv, p.bwd_filter,
                                                 workspace, workspace_bytes, &zero, p.w, dw));
}

}  // namespace cyg::cuda
