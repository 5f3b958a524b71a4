// cuDNN convolutions for kernels/conv.h: per shape (and settings), the descriptors and
// one algorithm per direction are chosen once and cached, each with the math type it was
// chosen for; every call is checked; the caller provides the workspace. The algorithm is
// the first of cuDNN's heuristics that fits the workspace cap or, with autotuning on, the
// fastest of those cudnnFind*AlgorithmEx runs on scratch buffers, each timed again here
// on the GPU alone (or that an earlier run's search chose, from the algorithm file of
// kernels/conv_algo_cache.h). Every choice is reported (conv2d_choices).
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "kernels/conv.h"
#include "kernels/conv_algo_cache.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cudnn_graph.h"
#include "kernels/cuda/launch.h"
#include "kernels/delay.h"

namespace cyg::cuda {
namespace {

// The most workspace one convolution may use, and so what a search offers: cuDNN marks
// an algorithm that needs more CUDNN_STATUS_ALLOC_FAILED.
constexpr size_t kWorkspaceCap = size_t(512) << 20;

// The stream a search runs on: the default stream, as the memsets of its buffers.
const cudaStream_t kSearchStream = nullptr;

// One handle per host thread (cuDNN handles are not thread-safe), for the process; each
// with a serial number no later handle shares (a handle's address may be reused once its
// thread has ended), by which a graph plan knows the handle it was made with.
struct Handle {
  cudnnHandle_t h = nullptr;
  uint64_t serial = 0;
  Handle() {
    static std::atomic<uint64_t> serials{0};
    CYG_CUDNN_CHECK(cudnnCreate(&h));
    serial = serials.fetch_add(1) + 1;
  }
  ~Handle() { cudnnDestroy(h); }
};
const Handle& handle_of_this_thread() {
  thread_local Handle handle;
  return handle;
}
cudnnHandle_t handle_for_this_thread() { return handle_of_this_thread().h; }

std::atomic<bool> g_allow_tf32{true};
std::atomic<bool> g_deterministic{false};
std::atomic<bool> g_benchmark{true};
std::atomic<ConvEngines> g_engines{ConvEngines::Both};
std::atomic<int64_t> g_searches{0};

// conv_algorithm_name (kernels/conv_algo_cache.cpp) names the algorithms by these numbers.
static_assert(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM == 1 && CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED == 7 &&
                  CUDNN_CONVOLUTION_FWD_ALGO_COUNT == 8,
              "cuDNN's forward algorithms are numbered as conv_algorithm_name assumes");
static_assert(CUDNN_CONVOLUTION_BWD_DATA_ALGO_1 == 1 && CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED == 5 &&
                  CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT == 6,
              "cuDNN's backward-data algorithms are numbered as conv_algorithm_name assumes");
static_assert(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3 == 3 && CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING == 6 &&
                  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT == 7,
              "cuDNN's backward-filter algorithms are numbered as conv_algorithm_name assumes");

// Timed runs of each candidate in a search, after its warm-up run: kTimedRuns, or one
// where the warm-up took kTimedBudgetMs (a slow candidate, such as an FFT at a large batch).
constexpr int kTimedRuns = 3;
constexpr double kTimedBudgetMs = 20.0;
// The longest GPU delay the timed runs wait behind.
constexpr double kMaxDelayMs = 50.0;
// The most graph engine configurations a search times per direction: the first the
// settings allow, in the order of cuDNN's heuristics (as PyTorch's cuDNN v8 path filters
// its list, then tries 10 by default), among the first kGraphListed it lists.
constexpr int kGraphCandidates = 10;
constexpr int kGraphListed = 64;

// Guards the plans and the algorithm file.
std::mutex g_mutex;

// The algorithm file (conv2d_algorithm_cache): the choices read at start and those of
// this run's searches.
struct AlgorithmFile {
  std::string path;  // empty: choices are not kept
  WholeFileWriter write = nullptr;
  ConvAlgoCache cache;
  bool may_overwrite = true;
};
AlgorithmFile g_file;

// How each plan's directions were chosen, in the order planned (conv2d_choices).
std::vector<ConvChoiceReport> g_reports;
std::vector<uint64_t> g_report_plans;  // each report's plan (ConvPlan::order)

// The settings a plan was made under: a change makes new plans.
struct Settings {
  bool allow_tf32, deterministic, benchmark;
  ConvEngines engines;
};

// TF32 off keeps float convolutions strict FP32 (CUDNN_FMA_MATH); on, cuDNN may use TF32
// tensor cores (PyTorch's default for cuDNN). bf16 convolutions are planned with tensor
// cores permitted in so many words (CUDNN_TENSOR_OP_MATH, as frameworks set it for 16-bit
// data before asking for algorithms), so that the heuristics and the search offer them;
// the algorithm chosen brings its own math type (adopt).
cudnnMathType_t default_math(const Settings& settings, ConvData data) {
  if (data == ConvData::BF16) return CUDNN_TENSOR_OP_MATH;
  return settings.allow_tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
}

size_t element_bytes(ConvData data) { return data == ConvData::BF16 ? 2 : 4; }

cudnnTensorFormat_t cudnn_format(ConvLayout layout) {
  return layout == ConvLayout::NHWC ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
}

struct PlanKey {
  Conv2dShape shape;
  Settings settings;
  ConvData data;
  ConvLayout layout;
  bool operator<(const PlanKey& o) const {
    if (shape < o.shape || o.shape < shape) return shape < o.shape;
    const Settings &a = settings, &b = o.settings;
    return std::tie(a.allow_tf32, a.deterministic, a.benchmark, a.engines, data, layout) <
           std::tie(b.allow_tf32, b.deterministic, b.benchmark, b.engines, o.data, o.layout);
  }
};

// One direction of a plan. Its convolution descriptor carries the math type the
// algorithm was chosen with (and its workspace sized for). Where a search chose a graph
// engine, its plan runs instead (for backward data's accumulating calls, the same engine
// built on a graph with beta 1, where cuDNN takes it), and the algorithm wherever a plan
// cannot: a call whose pointers lack the alignment the plan was made for.
struct Step {
  Step() = default;
  explicit Step(cudnnConvolutionDescriptor_t c) : conv(c) {}  // nothing chosen yet
  Step(Step&&) = default;
  Step& operator=(Step&&) = default;
  cudnnConvolutionDescriptor_t conv = nullptr;
  int algo = 0;
  size_t workspace = 0;  // for the algorithm and the plans alike
  std::unique_ptr<GraphConvPlan> graph, graph_accumulate;
  uint64_t graph_handle = 0;  // the serial of the handle the plans were made with
  int64_t engine = -1;        // the graph plan's engine and knobs, for the report and the file
  std::string knobs;
  bool algorithm_runs = true;  // false where no legacy algorithm takes it: the plan alone runs
};

// A shape's descriptors, and each direction's choice, made on the direction's first call:
// a shape only evaluated (an epoch's partial last batch of validation images) searches
// its forward alone, and a first layer's data gradient, never asked, is never searched.
struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  Step fwd, bwd_data, bwd_filter;
  bool chosen[3] = {false, false, false};  // by ConvDirection
  uint64_t order = 0;                      // the plan's place among all, for conv2d_choices

  Step& step(ConvDirection d) {
    return d == ConvDirection::Forward ? fwd : d == ConvDirection::BackwardData ? bwd_data : bwd_filter;
  }
  const Step& step(ConvDirection d) const {
    return d == ConvDirection::Forward ? fwd : d == ConvDirection::BackwardData ? bwd_data : bwd_filter;
  }
  bool any_chosen() const { return chosen[0] || chosen[1] || chosen[2]; }

  ~ConvPlan() {
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (w) cudnnDestroyFilterDescriptor(w);
    for (const Step* s : {&fwd, &bwd_data, &bwd_filter})
      if (s->conv) cudnnDestroyConvolutionDescriptor(s->conv);
  }
};

// Device memory for the search of one direction of a shape: its three tensors and a
// workspace, from cudaMalloc, freed once the direction is chosen (each direction of a
// shape allocates them again). The searches cannot use the caller's tensors
// (cudnnFind*AlgorithmEx overwrites its output with arbitrary values, and the direction
// is chosen before the call's workspace exists, whose size depends on the choice), and
// this layer sits below the engine's caching allocator. A search is rare and blocks the
// host anyway; freeing at once gives the memory back to the driver instead of leaving a
// block of up to the cap in the allocator's cache.
class SearchBuffers {
 public:
  // False when the GPU has no room for the tensors (the heuristics choose then). The
  // workspace is the cap, at most half of the free memory, and less where cudaMalloc
  // refuses; with none, the algorithms that need none are still measured.
  bool allocate(const Conv2dShape& s, ConvData data) {
    // An idle GPU first, so that no work queued on other streams shares the timings.
    CYG_CUDA_CHECK(cudaDeviceSynchronize());
    const size_t e = element_bytes(data);
    const size_t x_bytes = static_cast<size_t>(s.N * s.C * s.H * s.W) * e;
    const size_t w_bytes = static_cast<size_t>(s.OC * s.C * s.KH * s.KW) * e;
    const size_t y_bytes = static_cast<size_t>(s.N * s.OC * s.OH() * s.OW()) * e;
    x = try_malloc(x_bytes);
    w = try_malloc(w_bytes);
    y = try_malloc(y_bytes);
    if (x == nullptr || w == nullptr || y == nullptr) return false;
    // Zeros rather than whatever the memory held, which might be NaNs.
    CYG_CUDA_CHECK(cudaMemset(x, 0, x_bytes));
    CYG_CUDA_CHECK(cudaMemset(w, 0, w_bytes));
    CYG_CUDA_CHECK(cudaMemset(y, 0, y_bytes));
    size_t free_bytes = 0, total_bytes = 0;
    CYG_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    for (size_t bytes = std::min(kWorkspaceCap, free_bytes / 2); bytes >= (size_t(1) << 20); bytes /= 2)
      if ((workspace = try_malloc(bytes)) != nullptr) {
        workspace_bytes = bytes;
        break;
      }
    return true;
  }

  ~SearchBuffers() {
    // The searches block the host until done, but the memsets are queued on the legacy
    // default stream (and still there if no search ran). An error here would be a fault
    // of earlier work, which sticks and the next checked call reports; any other is not
    // the next launch check's.
    if (cudaStreamSynchronize(kSearchStream) != cudaSuccess) cudaGetLastError();
    for (void* p : {x, w, y, workspace})
      if (p != nullptr) cudaFree(p);
  }

  void *x = nullptr, *w = nullptr, *y = nullptr, *workspace = nullptr;
  size_t workspace_bytes = 0;

 private:
  static void* try_malloc(size_t bytes) {
    void* p = nullptr;
    const cudaError_t status = cudaMalloc(&p, bytes);
    if (status == cudaSuccess) return p;
    // Not the next launch check's error to report.
    cudaGetLastError();
    if (status != cudaErrorMemoryAllocation) CYG_CUDA_CHECK_RESULT(status, "cudaMalloc");
    return nullptr;
  }
};

// The cuDNN calls of each direction, under one set of names.
template <ConvDirection D>
struct Api;

template <>
struct Api<ConvDirection::Forward> {
  using Perf = cudnnConvolutionFwdAlgoPerf_t;
  static constexpr int kAlgoCount = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
  static int max_count(cudnnHandle_t h) {
    int n = 0;
    CYG_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &n));
    return n;
  }
  static void heuristics(cudnnHandle_t h, const ConvPlan& p, cudnnConvolutionDescriptor_t c, int n, int* found,
                         Perf* perf) {
    CYG_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, p.x, p.w, c, p.y, n, found, perf));
  }
  static void find(cudnnHandle_t h, const ConvPlan& p, cudnnConvolutionDescriptor_t c, const SearchBuffers& b, int n,
                   int* found, Perf* perf) {
    CYG_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(h, p.x, b.x, p.w, b.w, c, p.y, b.y, n, found, perf,
                                                           b.workspace, b.workspace_bytes));
  }
  // One run on the search's buffers; the caller checks the status.
  static cudnnStatus_t run(cudnnHandle_t h, const ConvPlan& p, cudnnConvolutionDescriptor_t c, const SearchBuffers& b,
                           int algo) {
    const float one = 1.0f, zero = 0.0f;
    return cudnnConvolutionForward(h, &one, p.x, b.x, p.w, b.w, c, static_cast<cudnnConvolutionFwdAlgo_t>(algo),
                                   b.workspace, b.workspace_bytes, &zero, p.y, b.y);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const ConvPlan& p, cudnnConvolutionDescriptor_t c, int algo,
                                 size_t* bytes) {
    return cudnnGetConvolutionForwardWorkspaceSize(h, p.x, p.w, c, p.y, static_cast<cudnnConvolutionFwdAlgo_t>(algo),
                                                   bytes);
  }
};

template <>
struct Api<ConvDirection::BackwardData> {
  using Perf = cudnnConvolutionBwdDataAlgoPerf_t;
  static constexpr int kAlgoCount = CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
  static int max_count(cudnnHandle_t h) {
    int n = 0;
    CYG_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &n));
    return n;
  }
  static void heuristics(cudnnHandle_t h, const ConvPlan& p, cudnnConvolutionDescriptor_t c, int n, int* found,
                         Perf* perf) {
    CYG_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p.w, p.y, c, p.x, n, found, perf));
  }
  // dy is y's buffer, dx is x's.
  static void find(cudnnHandle_t h, const ConvPlan& p, cudnnConvolutionDescriptor_t c, const SearchBuffers& b, int n,
                   int* found, Perf* perf) {
    CYG_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(h, p.w, b.w, p.y, b.y, c, p.x, b.x, n, found, perf,
                                                                b.workspace, b.workspace_bytes));
  }
  static cudnnStatus_t run(cudnnHandle_t h, const ConvPlan& p, cudnnConvolutionDescriptor_t c, const SearchBuffers& b,
                           int algo) {
    const float one = 1.0f, zero = 0.0f;
    return cudnnConvolutionBackwardData(h, &one, p.w, b.w, p.y, b.y, c, static_cast<cudnnConvolutionBwdDataAlgo_t>(algo),
                                        b.workspace, b.workspace_bytes, &zero, p.x, b.x);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const ConvPlan& p, cudnnConvolutionDescriptor_t c, int algo,
                                 size_t* bytes) {
    return cudnnGetConvolutionBackwardDataWorkspaceSize(h, p.w, p.y, c, p.x,
                                                        static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), bytes);
  }
};

template <>
struct Api<ConvDirection::BackwardFilter> {
  using Perf = cudnnConvolutionBwdFilterAlgoPerf_t;
  static constexpr int kAlgoCount = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
  static int max_count(cudnnHandle_t h) {
    int n = 0;
    CYG_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &n));
    return n;
  }
  static void heuristics(cudnnHandle_t h, const ConvPlan& p, cudnnConvolutionDescriptor_t c, int n, int* found,
                         Perf* perf) {
    CYG_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p.x, p.y, c, p.w, n, found, perf));
  }
  // dy is y's buffer, dw is w's.
  static void find(cudnnHandle_t h, const ConvPlan& p, cudnnConvolutionDescriptor_t c, const SearchBuffers& b, int n,
                   int* found, Perf* perf) {
    CYG_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(h, p.x, b.x, p.y, b.y, c, p.w, b.w, n, found, perf,
                                                                  b.workspace, b.workspace_bytes));
  }
  static cudnnStatus_t run(cudnnHandle_t h, const ConvPlan& p, cudnnConvolutionDescriptor_t c, const SearchBuffers& b,
                           int algo) {
    const float one = 1.0f, zero = 0.0f;
    return cudnnConvolutionBackwardFilter(h, &one, p.x, b.x, p.y, b.y, c,
                                          static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), b.workspace,
                                          b.workspace_bytes, &zero, p.w, b.w);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const ConvPlan& p, cudnnConvolutionDescriptor_t c, int algo,
                                 size_t* bytes) {
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p.x, p.y, c, p.w,
                                                          static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), bytes);
  }
};

// Into `d`, whose holder destroys it also where a call after its creation fails.
void make_conv_descriptor(const Conv2dShape& s, cudnnMathType_t math, cudnnConvolutionDescriptor_t& d) {
  CYG_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d));
  CYG_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(d, static_cast<int>(s.pad_h), static_cast<int>(s.pad_w),
                                                  static_cast<int>(s.stride_h), static_cast<int>(s.stride_w), 1, 1,
                                                  CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  CYG_CUDNN_CHECK(cudnnSetConvolutionMathType(d, math));
}

// The current device's name, asked of the runtime once per device (under g_mutex).
std::string current_gpu_name() {
  static std::map<int, std::string> names;
  int device = 0;
  CYG_CUDA_CHECK(cudaGetDevice(&device));
  auto it = names.find(device);
  if (it == names.end()) {
    cudaDeviceProp prop{};
    CYG_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    it = names.emplace(device, prop.name).first;
  }
  return it->second;
}

// One CUDA event, destroyed with its holder.
struct Event {
  cudaEvent_t e = nullptr;
  Event() { CYG_CUDA_CHECK(cudaEventCreate(&e)); }
  ~Event() { cudaEventDestroy(e); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
};

// Whether this thread is capturing a graph: as the runtime says (the engine captures a
// step on a non-blocking stream, which the legacy stream's answer below does not see), or
// a blocking stream of
// this device being captured, which the legacy default stream then answers with
// cudaErrorStreamCaptureImplicit rather than a status (the query itself is legal during a
// capture and does not invalidate it).
bool capturing_graph() {
  if (capture_open_on_this_thread()) return true;
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  const cudaError_t e = cudaStreamIsCapturing(cudaStreamLegacy, &status);
  if (e == cudaErrorStreamCaptureImplicit) {
    cudaGetLastError();  // not the next launch check's error to report
    return true;
  }
  CYG_CUDA_CHECK_RESULT(e, "cudaStreamIsCapturing(cudaStreamLegacy)");
  return status != cudaStreamCaptureStatusNone;
}

// Chooses the algorithm of a direction of one plan, under g_mutex: from the
// algorithm file, a search, or cuDNN's heuristics, in that order (the first two only
// with autotuning on).
class Chooser {
 public:
  Chooser(const ConvPlan& plan, const Conv2dShape& s, const Settings& settings, ConvData data, ConvLayout layout)
      : plan_(plan),
        shape_(s),
        settings_(settings),
        data_(data),
        layout_(layout),
        handle_(handle_for_this_thread()) {}

  // `step` has its convolution descriptor, at the default math type.
  template <ConvDirection D>
  void choose(Step& step) {
    if (settings_.benchmark) {
      // ConvEngines::Graph (engines wherever one runs, for tests) always searches; Legacy
      // takes a file's engine choice as its algorithm alone.
      const ConvAlgoChoice* known =
          uses_file() && settings_.engines != ConvEngines::Graph ? g_file.cache.find(file_key(D)) : nullptr;
      if (known != nullptr && math_allowed(known->math_type) && adopt<D>(step, *known)) {
        // (Not inside a graph capture, which its trial run would break: the algorithm then.)
        if (known->graph() && settings_.engines != ConvEngines::Legacy && !capturing_graph())
          take_engine<D>(step, GraphEngine{known->engine, parse_conv_knobs(known->knobs), {}});
        report(D, "file", step, {}, -1);
        return;
      }
      if (search<D>(step)) return;
    }
    CYG_CHECK(adopt_heuristics<D>(step), "cuDNN has no ", conv_direction_name(D),
              " algorithm for this convolution within the workspace cap");
    report(D, "heuristics", step, {}, -1);
  }

  // The direction's report, for conv2d_choices: once it is chosen, so a choice that
  // failed halfway (and is made again by the next call) leaves none.
  void publish_reports(uint64_t plan_order) {
    for (ConvChoiceReport& r : reports_) {
      g_reports.push_back(std::move(r));
      g_report_plans.push_back(plan_order);
    }
    reports_.clear();
  }

  // Writes the file when this direction's search chose something new; a failure is
  // reported once, and stops the saving.
  void save_new_choices() {
    if (!searched_ || !uses_file() || !g_file.may_overwrite) return;
    try {
      g_file.write(g_file.path, g_file.cache.serialize());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "cygnet: warning: cuDNN algorithm cache not saved (%s); not trying again\n", e.what());
      g_file.path.clear();
    }
  }

 private:
  enum class Source { Heuristics, Search };

  bool uses_file() const { return !g_file.path.empty(); }

  // Never down-conversion of the inputs (CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION); with
  // TF32 off, FMA alone for f32.
  bool math_allowed(int math) const {
    if (!settings_.allow_tf32 && data_ == ConvData::F32) return math == static_cast<int>(CUDNN_FMA_MATH);
    return math == static_cast<int>(CUDNN_DEFAULT_MATH) || math == static_cast<int>(CUDNN_TENSOR_OP_MATH) ||
           math == static_cast<int>(CUDNN_FMA_MATH);
  }

  ConvAlgoKey file_key(ConvDirection direction) {
    if (gpu_.empty()) gpu_ = current_gpu_name();
    ConvAlgoKey key;
    key.gpu = gpu_;
    key.cudnn_version = static_cast<int64_t>(cudnnGetVersion());
    key.shape = shape_;
    key.allow_tf32 = settings_.allow_tf32;
    key.deterministic = settings_.deterministic;
    key.direction = direction;
    key.data = data_;
    key.layout = layout_;
    return key;
  }

  // Sets `step` to `choice` when cuDNN accepts the pair (algorithm, math type) for this
  // convolution within the cap; otherwise leaves the descriptor at the default math type.
  template <ConvDirection D>
  bool adopt(Step& step, const ConvAlgoChoice& choice) {
    if (choice.algorithm >= 0 && choice.algorithm < Api<D>::kAlgoCount && choice.workspace_bytes <= kWorkspaceCap &&
        cudnnSetConvolutionMathType(step.conv, static_cast<cudnnMathType_t>(choice.math_type)) ==
            CUDNN_STATUS_SUCCESS) {
      size_t bytes = 0;
      if (Api<D>::workspace(handle_, plan_, step.conv, choice.algorithm, &bytes) == CUDNN_STATUS_SUCCESS &&
          bytes <= kWorkspaceCap) {
        step.algo = choice.algorithm;
        step.workspace = std::max(bytes, choice.workspace_bytes);
        return true;
      }
    }
    CYG_CUDNN_CHECK(cudnnSetConvolutionMathType(step.conv, default_math(settings_, data_)));
    return false;
  }

  // Whether a result ran, fits the cap and, when asked, computes deterministically (some
  // backward algorithms add with atomics), and as what choice. A measured time holds only
  // for the math type it was measured with, so a search's result must have an allowed
  // one; the heuristics' choice runs with TF32 off in FMA.
  // Where not, why (into *why_not, when given).
  template <typename Perf>
  bool usable(const Perf& r, Source source, ConvAlgoChoice* choice, std::string* why_not = nullptr) const {
    const char* why = nullptr;
    const bool keep_math = source == Source::Search || settings_.allow_tf32 || data_ == ConvData::BF16;
    *choice = ConvAlgoChoice{static_cast<int>(r.algo), static_cast<int>(keep_math ? r.mathType : CUDNN_FMA_MATH),
                             r.memory};
    if (r.status != CUDNN_STATUS_SUCCESS)
      why = cudnnGetErrorString(r.status);
    else if (r.memory > kWorkspaceCap)
      why = "workspace over the cap";
    else if (settings_.deterministic && r.determinism != CUDNN_DETERMINISTIC)
      why = "non-deterministic";
    else if (choice->math_type == static_cast<int>(CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
      why = "down-converts inputs";
    else if (!math_allowed(choice->math_type))
      why = "math type, TF32 off";
    if (why != nullptr && why_not != nullptr) *why_not = why;
    return why == nullptr;
  }

  // The first usable algorithm of cuDNN's heuristics that cuDNN accepts; false where none.
  template <ConvDirection D>
  bool adopt_heuristics(Step& step) {
    using Perf = typename Api<D>::Perf;
    std::vector<Perf> perf(static_cast<size_t>(std::max(Api<D>::max_count(handle_), Api<D>::kAlgoCount)));
    int found = 0;
    Api<D>::heuristics(handle_, plan_, step.conv, static_cast<int>(perf.size()), &found, perf.data());
    return adopt_first<D>(step, perf.data(), found, Source::Heuristics);
  }

  // The first usable result (cuDNN lists them best first) that cuDNN accepts.
  template <ConvDirection D, typename Perf>
  bool adopt_first(Step& step, const Perf* perf, int count, Source source) {
    ConvAlgoChoice choice;
    for (int i = 0; i < count; ++i)
      if (usable(perf[i], source, &choice) && adopt<D>(step, choice)) return true;
    return false;
  }

  // Runs one candidate on the search's buffers once (its warm-up, which also loads its
  // kernels), then kTimedRuns times queued behind a GPU delay (kernels/delay.h) long
  // enough for the host to queue them all, an event between runs: the fastest run's GPU
  // time in ms, as a CUDA graph replays it (without cuDNN's host work or the launch), or
  // -1 when cuDNN does not take the candidate (math type, workspace) or does not run it.
  // Should the host be slower than the delay, a run is timed with its host work, as
  // without it. A warm-up of kTimedBudgetMs or more (a slow candidate, such as an FFT at
  // a large batch) is timed once more only.
  template <ConvDirection D>
  double time_candidate(Step& step, const ConvAlgoChoice& choice, std::string* why_not) {
    *why_not = "did not run";
    if (cudnnSetConvolutionMathType(step.conv, static_cast<cudnnMathType_t>(choice.math_type)) != CUDNN_STATUS_SUCCESS) {
      *why_not = "math type refused";
      return -1.0;
    }
    size_t bytes = 0;
    if (Api<D>::workspace(handle_, plan_, step.conv, choice.algorithm, &bytes) != CUDNN_STATUS_SUCCESS) return -1.0;
    if (bytes > buffers_->workspace_bytes) {
      *why_not = "workspace over the search's";
      return -1.0;
    }
    return time_runs([&] { return Api<D>::run(handle_, plan_, step.conv, *buffers_, choice.algorithm); });
  }

  // The timing of time_candidate, of any one run on the search's buffers: `run` queues it
  // and returns cuDNN's status.
  template <typename Run>
  double time_runs(Run run) {
    const auto t0 = std::chrono::steady_clock::now();
    if (run() != CUDNN_STATUS_SUCCESS) return refused();
    CYG_CUDA_CHECK(cudaStreamSynchronize(kSearchStream));
    // The host and the GPU together: more than the host needs to queue one run.
    const double warm_up_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const int runs = warm_up_ms < kTimedBudgetMs ? kTimedRuns : 1;
    if (events_.empty())
      for (int i = 0; i <= kTimedRuns; ++i) events_.push_back(std::make_unique<Event>());
    LaunchConfig on_search_stream;
    on_search_stream.stream = kSearchStream;
    gpu_delay_cuda(static_cast<int64_t>(std::min(kMaxDelayMs, 2.0 * runs * warm_up_ms + 0.1) * 1000.0),
                   on_search_stream);
    CYG_CUDA_CHECK(cudaEventRecord(events_[0]->e, kSearchStream));
    bool ran = true;
    for (int i = 0; i < runs && ran; ++i) {
      ran = run() == CUDNN_STATUS_SUCCESS;
      CYG_CUDA_CHECK(cudaEventRecord(events_[static_cast<size_t>(i) + 1]->e, kSearchStream));
    }
    CYG_CUDA_CHECK(cudaStreamSynchronize(kSearchStream));
    if (!ran) return refused();
    double fastest = -1.0;
    for (int i = 0; i < runs; ++i) {
      float ms = 0.0f;
      CYG_CUDA_CHECK(cudaEventElapsedTime(&ms, events_[static_cast<size_t>(i)]->e, events_[static_cast<size_t>(i) + 1]->e));
      if (fastest < 0.0 || ms < fastest) fastest = ms;
    }
    return fastest;
  }

  // The engines cuDNN's graph API lists for this direction (kernels/cuda/cudnn_graph.h),
  // appended to `candidates` from `first` on until kGraphCandidates of them were allowed
  // by the settings, each allowed one timed as time_candidate times an algorithm where it
  // fits the search's workspace; `engines` and `plans` (the usable ones' plans, else null)
  // in the same order. Where the graph API refuses
  // the convolution, none, with a warning (once per process).
  struct GraphCandidates {
    size_t first = 0;
    std::vector<GraphEngine> engines;
    std::vector<std::unique_ptr<GraphConvPlan>> plans;
  };
  template <ConvDirection D>
  GraphCandidates graph_candidates(std::vector<ConvCandidate>& candidates) {
    GraphCandidates g;
    g.first = candidates.size();
    const bool listed = graph_api([&] {
      GraphConv graph(handle_, shape_, data_, layout_, D, 0.0f);
      g.engines = graph.engines(kGraphListed);
      int tried = 0;
      for (size_t i = 0; i < g.engines.size() && tried < kGraphCandidates; ++i) {
        const GraphEngine& e = g.engines[i];
        ConvCandidate c;
        c.engine = true;
        c.choice = ConvAlgoChoice{-1, static_cast<int>(e.notes.tensor_core ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH), 0,
                                  e.global_index, e.knobs_text()};
        std::unique_ptr<GraphConvPlan> plan;
        const char* refusal = conv_engine_refusal(e.notes, data_, settings_.allow_tf32, settings_.deterministic);
        if (e.global_index < 0) {
          c.why_not = "not described";
        } else if (refusal != nullptr) {
          c.why_not = refusal;
        } else {
          ++tried;
          plan = graph.plan_listed(i);
          if (!plan) c.why_not = "no plan";
        }
        if (plan && plan->workspace_bytes() > buffers_->workspace_bytes) c.why_not = "workspace over the search's";
        if (plan && plan->workspace_bytes() <= buffers_->workspace_bytes) {
          c.choice.workspace_bytes = plan->workspace_bytes();
          const GraphConvPlan& p = *plan;
          const SearchBuffers& b = *buffers_;
          c.timed_ms = time_runs([&] { return p.run(handle_, b.x, b.w, b.y, b.workspace); });
          c.usable = c.timed_ms >= 0.0;
          if (!c.usable) c.why_not = "did not run";
        }
        if (!c.usable) plan.reset();
        candidates.push_back(std::move(c));
        g.plans.push_back(std::move(plan));
      }
      g.engines.resize(g.plans.size());
    });
    if (!listed) {
      candidates.resize(g.first);
      g.engines.clear();
      g.plans.clear();
    }
    return g;
  }

  // Makes `plan`, of `engine`, the direction's: its workspace counted, and for backward
  // data the same engine with beta 1 for the accumulating calls where cuDNN takes it.
  template <ConvDirection D>
  void set_engine(Step& step, std::unique_ptr<GraphConvPlan> plan, const GraphEngine& engine) {
    step.graph = std::move(plan);
    step.graph_handle = handle_of_this_thread().serial;
    step.engine = engine.global_index;
    step.knobs = engine.knobs_text();
    step.workspace = std::max(step.workspace, step.graph->workspace_bytes());
    if (D == ConvDirection::BackwardData) {
      step.graph_accumulate = accumulating_plan(engine);
      if (step.graph_accumulate) step.workspace = std::max(step.workspace, step.graph_accumulate->workspace_bytes());
    }
  }

  // The algorithm file's engine for this direction, built again on this convolution's
  // graph and run once on the search's buffers; where cuDNN no longer builds or runs it,
  // the file's algorithm runs alone.
  template <ConvDirection D>
  void take_engine(Step& step, const GraphEngine& engine) {
    std::unique_ptr<GraphConvPlan> plan;
    graph_api([&] {
      GraphConv graph(handle_, shape_, data_, layout_, D, 0.0f);
      plan = graph.plan_rebuilt(engine);
      if (plan && !runs_once(*plan)) plan.reset();
    });
    if (plan) set_engine<D>(step, std::move(plan), engine);
  }

  // Whether a plan runs on the search's buffers (false where they cannot be had or its
  // workspace is more than theirs).
  bool runs_once(const GraphConvPlan& plan) {
    if (!ensure_buffers("cuDNN's trial runs") || plan.workspace_bytes() > buffers_->workspace_bytes) return false;
    const SearchBuffers& b = *buffers_;
    const cudnnStatus_t ran = plan.run(handle_, b.x, b.w, b.y, b.workspace);
    CYG_CUDA_CHECK(cudaStreamSynchronize(kSearchStream));
    if (ran == CUDNN_STATUS_SUCCESS) return true;
    refused();
    return false;
  }

  // After an error in the graph API's calls: the fault the GPU holds, if any (which
  // sticks, and is to be reported as such) rather than cuDNN having refused; cudaSuccess
  // where none. Not asked inside a graph capture, where a synchronisation would break it.
  static cudaError_t gpu_fault() {
    if (capture_open_on_this_thread()) return cudaSuccess;
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    const cudaError_t asked = cudaStreamIsCapturing(cudaStreamLegacy, &status);
    if (asked == cudaErrorStreamCaptureImplicit) {
      cudaGetLastError();  // a capture, not a fault
      return cudaSuccess;
    }
    if (asked != cudaSuccess) return asked;
    return status == cudaStreamCaptureStatusNone ? cudaDeviceSynchronize() : cudaSuccess;
  }

  // The search's buffers, allocated at the first need (false where the GPU has no room;
  // a warning then says which `use` goes without).
  bool ensure_buffers(const char* use) {
    if (!buffers_) {
      buffers_ = std::make_unique<SearchBuffers>();
      buffers_allocated_ = buffers_->allocate(shape_, data_);
      if (!buffers_allocated_) std::fprintf(stderr, "cygnet: warning: no GPU memory for %s\n", use);
      // The buffers are this search's own: the legacy default stream orders it after
      // their memsets, and the caller's stream is bound again at its call.
      CYG_CUDNN_CHECK(cudnnSetStream(handle_, kSearchStream));
    }
    return buffers_allocated_;
  }

  // Backward data's chosen engine on a graph that adds into dx (beta 1), for the calls
  // that accumulate, run once on the search's buffers; null where cuDNN does not take it
  // there or does not run it (those calls then run the algorithm).
  std::unique_ptr<GraphConvPlan> accumulating_plan(const GraphEngine& engine) {
    std::unique_ptr<GraphConvPlan> plan;
    graph_api([&] {
      GraphConv graph(handle_, shape_, data_, layout_, ConvDirection::BackwardData, 1.0f);
      plan = graph.plan_rebuilt(engine);
      if (plan && !runs_once(*plan)) plan.reset();
    });
    return plan;
  }

  // Runs `work`, calls of the graph API: false where cuDNN refused one, with a warning
  // (once per process) that the algorithms run instead. A fault of the GPU (an engine
  // that ran wild) is no refusal: it sticks, and goes on as the error it is.
  template <typename Work>
  static bool graph_api(Work&& work) {
    try {
      work();
      return true;
    } catch (const std::exception& e) {
      const cudaError_t fault = gpu_fault();
      if (fault != cudaSuccess)
        throw Error(std::string(e.what()) + "; the GPU then reported a fault: " + cudaGetErrorString(fault));
      warn_refused(e.what());
      return false;
    }
  }
  static void warn_refused(const char* reason) {  // (not in the template: one flag for all)
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true))
      std::fprintf(stderr, "cygnet: warning: cuDNN's graph API refused a convolution (%s); it runs the legacy "
                   "algorithms\n", reason);
  }

  // A candidate cuDNN did not run: its launch error, if any, is not the next launch
  // check's to report (a fault that sticks is, and the next checked call reports it).
  static double refused() {
    cudaGetLastError();
    return -1.0;
  }

  // Records how `step` was chosen, with its math type as the descriptor now holds it.
  // A chosen engine comes with the algorithm its unaligned calls run (and the workspace
  // of both).
  const ConvChoiceReport& report(ConvDirection direction, const char* source, const Step& step,
                                 std::vector<ConvCandidate> candidates, int chosen) {
    cudnnMathType_t math{};
    CYG_CUDNN_CHECK(cudnnGetConvolutionMathType(step.conv, &math));
    ConvChoiceReport r;
    r.key = file_key(direction);
    r.source = source;
    r.choice = ConvAlgoChoice{step.algo, static_cast<int>(math), step.workspace, step.graph ? step.engine : -1,
                              step.graph ? step.knobs : std::string()};
    r.candidates = std::move(candidates);
    r.chosen = chosen;
    if (direction == ConvDirection::BackwardData && step.graph)
      r.note = step.graph_accumulate ? "accumulating: the engine with beta 1" : "accumulating: the algorithm";
    if (!step.algorithm_runs)
      r.note += std::string(r.note.empty() ? "" : "; ") + "no algorithm: aligned calls on this thread only";
    reports_.push_back(std::move(r));
    return reports_.back();
  }

  // Has cuDNN run every algorithm on scratch buffers (cudnnFind*AlgorithmEx), times each
  // usable one again (time_candidate) and adopts the fastest, remembering it for the file.
  // False when there is no room for the search or no usable result. A search
  // synchronises, so it must not happen while a CUDA graph is captured: an eager step
  // first chooses every direction the step calls.
  template <ConvDirection D>
  bool search(Step& step) {
    CYG_CHECK(!capturing_graph(), "the first ", conv_direction_name(D), " call of a cuDNN convolution (", shape_.N,
              "x", shape_.C, "x", shape_.H, "x", shape_.W, ", ", shape_.OC,
              " filters) inside a CUDA graph capture: its algorithm search synchronises and allocates, which a "
              "capture forbids; run the step once eagerly before capturing it");
    if (!ensure_buffers("timing cuDNN's algorithms; its heuristics choose")) return false;
    using Perf = typename Api<D>::Perf;
    std::vector<Perf> perf(static_cast<size_t>(std::max(Api<D>::max_count(handle_), Api<D>::kAlgoCount)));
    int found = 0;
    Api<D>::find(handle_, plan_, step.conv, *buffers_, static_cast<int>(perf.size()), &found, perf.data());
    g_searches.fetch_add(1);
    std::vector<ConvCandidate> candidates;
    for (int i = 0; i < found; ++i) {
      ConvCandidate c;
      const Perf& r = perf[static_cast<size_t>(i)];
      c.choice = ConvAlgoChoice{static_cast<int>(r.algo), static_cast<int>(r.mathType), r.memory};
      c.usable = usable(r, Source::Search, &c.choice, &c.why_not);
      if (r.status == CUDNN_STATUS_SUCCESS) c.search_ms = r.time;
      if (c.usable) {
        std::string why_not;
        c.timed_ms = time_candidate<D>(step, c.choice, &why_not);
        c.usable = c.timed_ms >= 0.0;
        if (!c.usable) c.why_not = why_not;
      }
      candidates.push_back(c);
    }
    int chosen = pick_conv_candidate(candidates);
    // cuDNN took each candidate a moment ago; should it refuse the choice now, the next.
    while (chosen >= 0 && !adopt<D>(step, candidates[static_cast<size_t>(chosen)].choice)) {
      candidates[static_cast<size_t>(chosen)].usable = false;
      candidates[static_cast<size_t>(chosen)].why_not = "refused when adopted";
      chosen = pick_conv_candidate(candidates);
    }
    if (chosen < 0) {
      CYG_CUDNN_CHECK(cudnnSetConvolutionMathType(step.conv, default_math(settings_, data_)));
      // No algorithm ran: where an engine does, it is the choice, beside the heuristics'
      // algorithm for the calls a plan cannot take (where cuDNN has one: else those calls
      // are an error that says so).
      if (settings_.engines == ConvEngines::Legacy) return false;
      GraphCandidates graph = graph_candidates<D>(candidates);
      chosen = pick_conv_engine(candidates, graph.first, -1, settings_.engines);
      if (chosen < 0) return false;
      step.algorithm_runs = adopt_heuristics<D>(step);
      if (!step.algorithm_runs) step.algo = -1;
      const size_t k = static_cast<size_t>(chosen) - graph.first;
      set_engine<D>(step, std::move(graph.plans[k]), graph.engines[k]);
      // Backward data must also accumulate (beta 1, the residual sums): with no algorithm,
      // only the engine's beta-1 plan can, and without one the heuristics' error stands.
      if (D == ConvDirection::BackwardData && !step.algorithm_runs && !step.graph_accumulate) {
        step = Step{step.conv};
        return false;
      }
    } else if (settings_.engines != ConvEngines::Legacy) {
      // The graph API's engines, timed the same way; the algorithm stays adopted, for the
      // calls a plan cannot take.
      GraphCandidates graph = graph_candidates<D>(candidates);
      const int picked = pick_conv_engine(candidates, graph.first, chosen, settings_.engines);
      if (picked != chosen) {
        const size_t k = static_cast<size_t>(picked) - graph.first;
        set_engine<D>(step, std::move(graph.plans[k]), graph.engines[k]);
        chosen = picked;
      }
    }
    const ConvChoiceReport& made = report(D, "search", step, std::move(candidates), chosen);
    // Graph's engines may be slower than the algorithm: not a choice for the file; nor is
    // an engine without an algorithm beside it, which the file cannot say.
    if (uses_file() && settings_.engines != ConvEngines::Graph && step.algorithm_runs) {
      g_file.cache.insert(made.key, made.choice);
      searched_ = true;
    }
    return true;
  }

  const ConvPlan& plan_;
  const Conv2dShape& shape_;
  const Settings settings_;
  const ConvData data_;
  const ConvLayout layout_;
  const cudnnHandle_t handle_;
  std::string gpu_;
  std::unique_ptr<SearchBuffers> buffers_;  // at the direction's search
  std::vector<std::unique_ptr<Event>> events_;  // the timed runs' bounds, at the first timing
  std::vector<ConvChoiceReport> reports_;
  bool buffers_allocated_ = true;
  bool searched_ = false;
};

std::unique_ptr<ConvPlan> make_plan(const Conv2dShape& s, const Settings& settings, ConvData data, ConvLayout layout) {
  auto p = std::make_unique<ConvPlan>();
  const int N = static_cast<int>(s.N), C = static_cast<int>(s.C), H = static_cast<int>(s.H),
            W = static_cast<int>(s.W), OC = static_cast<int>(s.OC);
  CYG_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
  // The dimensions are given as N, C, H, W in either format; the format says the order
  // in memory (NHWC: C fastest; a filter's KRSC likewise).
  CYG_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, cudnn_format(layout), cudnn_type(data), N, C, H, W));
  CYG_CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
  CYG_CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, cudnn_type(data), cudnn_format(layout), OC, C,
                                             static_cast<int>(s.KH), static_cast<int>(s.KW)));
  // Each direction's descriptor, at the default math type (its choice sets the math type
  // of the algorithm chosen).
  for (Step* step : {&p->fwd, &p->bwd_data, &p->bwd_filter})
    make_conv_descriptor(s, default_math(settings, data), step->conv);
  int n = 0, c = 0, h = 0, w = 0;
  CYG_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(p->fwd.conv, p->x, p->w, &n, &c, &h, &w));
  CYG_CHECK(h == s.OH() && w == s.OW() && c == OC, "cuDNN output shape ", n, "x", c, "x", h, "x", w,
            " differs from ", s.N, "x", s.OC, "x", s.OH(), "x", s.OW());
  CYG_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
  CYG_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, cudnn_format(layout), cudnn_type(data), n, c, h, w));

  return p;
}

// Chooses one direction of `p`, which has its descriptors (the direction's convolution
// descriptor made again where a failed choice took it away).
void choose_direction(ConvPlan& p, const PlanKey& key, ConvDirection direction) {
  Step& step = p.step(direction);
  if (step.conv == nullptr) make_conv_descriptor(key.shape, default_math(key.settings, key.data), step.conv);
  Chooser chooser(p, key.shape, key.settings, key.data, key.layout);
  switch (direction) {
    case ConvDirection::Forward: chooser.choose<ConvDirection::Forward>(step); break;
    case ConvDirection::BackwardData: chooser.choose<ConvDirection::BackwardData>(step); break;
    case ConvDirection::BackwardFilter: chooser.choose<ConvDirection::BackwardFilter>(step); break;
  }
  chooser.save_new_choices();
  chooser.publish_reports(p.order);
  p.chosen[static_cast<int>(direction)] = true;
}

// The plan of a shape under the current settings, with `direction` chosen.
const ConvPlan& plan_for(const Conv2dShape& s, ConvData data, ConvLayout layout, ConvDirection direction) {
  // Never destroyed: cuDNN's execution plans must not be torn down at exit, after the
  // threads' handles and perhaps the CUDA context are gone.
  static auto& plans = *new std::map<PlanKey, std::unique_ptr<ConvPlan>>;
  static uint64_t plans_made = 0;
  const PlanKey key{s, {g_allow_tf32.load(), g_deterministic.load(), g_benchmark.load(), g_engines.load()}, data,
                    layout};
  std::lock_guard<std::mutex> lock(g_mutex);
  auto it = plans.find(key);
  if (it == plans.end()) {
    it = plans.emplace(key, make_plan(s, key.settings, data, layout)).first;
    it->second->order = plans_made++;
  }
  ConvPlan& p = *it->second;
  if (!p.chosen[static_cast<int>(direction)]) {
    try {
      choose_direction(p, key, direction);
    } catch (...) {
      // Nothing of a failed choice stays: a plan with no direction chosen goes whole (no
      // descriptor left behind), else the direction's step, for the next call to choose
      // afresh.
      if (!p.any_chosen()) {
        plans.erase(it);
      } else {
        Step& step = p.step(direction);
        if (step.conv != nullptr) cudnnDestroyConvolutionDescriptor(step.conv);
        step = Step{};
      }
      throw;
    }
  }
  return p;
}

cudnnHandle_t bound_handle(void* stream) {
  cudnnHandle_t h = handle_for_this_thread();
  CYG_CUDNN_CHECK(cudnnSetStream(h, static_cast<cudaStream_t>(stream)));
  return h;
}

// Whether a call runs a direction's graph plan: one was chosen, on this thread's handle
// (cuDNN's plans are not shared between threads), and the pointers are as aligned as the
// plan was made for. Otherwise the algorithm runs.
bool runs_plan(const Step& step, const GraphConvPlan* plan, const void* x, const void* w, const void* y) {
  return plan != nullptr && step.graph_handle == handle_of_this_thread().serial && GraphConvPlan::accepts(x, w, y);
}

// Before a call runs a direction's algorithm: that it has one (a direction only an engine
// takes runs its plan alone), else an error saying why this call could not run the plan.
void check_algorithm_runs(const Step& step, ConvDirection direction, const void* x, const void* w, const void* y) {
  if (step.algorithm_runs) return;
  const char* why = step.graph_handle != handle_of_this_thread().serial ? "this call comes from another thread"
                    : !GraphConvPlan::accepts(x, w, y)                  ? "a tensor of this call is not 16-byte aligned"
                                                                        : "this call accumulates (beta 1)";
  throw Error(detail::concat("cuDNN runs this convolution's ", conv_direction_name(direction),
                             " only as the graph plan made on its first call (no legacy algorithm takes it), and ",
                             why, ", which the plan cannot take"));
}

void check_workspace(const Step& step, size_t given) {
  CYG_CHECK(given >= step.workspace, "cuDNN convolution needs ", step.workspace, " workspace bytes, got ", given);
}

}  // namespace

void conv2d_allow_tf32(bool allow) { g_allow_tf32.store(allow); }
void conv2d_deterministic(bool deterministic) { g_deterministic.store(deterministic); }
void conv2d_benchmark(bool benchmark) { g_benchmark.store(benchmark); }
void conv2d_engines(ConvEngines engines) { g_engines.store(engines); }
int64_t conv2d_searches() { return g_searches.load(); }

// Each plan's directions together, in the order the plans were made (a shape's
// directions are chosen as first called: its forward, and its gradients a step later).
std::vector<ConvChoiceReport> conv2d_choices() {
  std::lock_guard<std::mutex> lock(g_mutex);
  std::vector<size_t> index(g_reports.size());
  for (size_t i = 0; i < index.size(); ++i) index[i] = i;
  std::stable_sort(index.begin(), index.end(), [](size_t a, size_t b) {
    return std::make_pair(g_report_plans[a], static_cast<int>(g_reports[a].key.direction)) <
           std::make_pair(g_report_plans[b], static_cast<int>(g_reports[b].key.direction));
  });
  std::vector<ConvChoiceReport> out;
  out.reserve(index.size());
  for (size_t i : index) out.push_back(g_reports[i]);
  return out;
}
void conv2d_prepare_thread() { handle_for_this_thread(); }

void conv2d_algorithm_cache(const std::string& path, WholeFileWriter write) {
  CYG_CHECK(path.empty() || write != nullptr, "conv2d_algorithm_cache: no writer for '", path, "'");
  ConvAlgoFile file = path.empty() ? ConvAlgoFile{} : read_conv_algo_file(path);
  if (!file.warning.empty()) std::fprintf(stderr, "cygnet: warning: %s\n", file.warning.c_str());
  std::lock_guard<std::mutex> lock(g_mutex);
  g_file = AlgorithmFile{path, write, std::move(file.cache), file.may_overwrite};
}

size_t conv2d_workspace_bytes_cudnn(const Conv2dShape& s, ConvDirection direction, ConvData data, ConvLayout layout) {
  return plan_for(s, data, layout, direction).step(direction).workspace;
}

namespace {
// The three directions for either element type; the scaling factors are float for both.
void forward(const Conv2dShape& s, ConvData data, ConvLayout layout, const void* x, const void* w, void* y,
             void* workspace, size_t workspace_bytes, void* stream) {
  const ConvPlan& p = plan_for(s, data, layout, ConvDirection::Forward);
  check_workspace(p.fwd, workspace_bytes);
  const cudnnHandle_t h = bound_handle(stream);
  if (runs_plan(p.fwd, p.fwd.graph.get(), x, w, y)) {
    CYG_CUDNN_CHECK(p.fwd.graph->run(h, x, w, y, workspace));
    return;
  }
  check_algorithm_runs(p.fwd, ConvDirection::Forward, x, w, y);
  const float one = 1.0f, zero = 0.0f;
  CYG_CUDNN_CHECK(cudnnConvolutionForward(h, &one, p.x, x, p.w, w, p.fwd.conv,
                                          static_cast<cudnnConvolutionFwdAlgo_t>(p.fwd.algo), workspace,
                                          workspace_bytes, &zero, p.y, y));
}

void backward_data(const Conv2dShape& s, ConvData data, ConvLayout layout, const void* dy, const void* w, void* dx,
                   void* workspace, size_t workspace_bytes, void* stream, bool accumulate) {
  const ConvPlan& p = plan_for(s, data, layout, ConvDirection::BackwardData);
  check_workspace(p.bwd_data, workspace_bytes);
  const cudnnHandle_t h = bound_handle(stream);
  const GraphConvPlan* graph = accumulate ? p.bwd_data.graph_accumulate.get() : p.bwd_data.graph.get();
  if (runs_plan(p.bwd_data, graph, dx, w, dy)) {
    CYG_CUDNN_CHECK(graph->run(h, dx, w, dy, workspace));
    return;
  }
  check_algorithm_runs(p.bwd_data, ConvDirection::BackwardData, dx, w, dy);
  const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  CYG_CUDNN_CHECK(cudnnConvolutionBackwardData(h, &one, p.w, w, p.y, dy, p.bwd_data.conv,
                                               static_cast<cudnnConvolutionBwdDataAlgo_t>(p.bwd_data.algo), workspace,
                                               workspace_bytes, &beta, p.x, dx));
}

void backward_filter(const Conv2dShape& s, ConvData data, ConvLayout layout, const void* dy, const void* x,
                     void* dw, void* workspace, size_t workspace_bytes, void* stream) {
  const ConvPlan& p = plan_for(s, data, layout, ConvDirection::BackwardFilter);
  check_workspace(p.bwd_filter, workspace_bytes);
  const cudnnHandle_t h = bound_handle(stream);
  if (runs_plan(p.bwd_filter, p.bwd_filter.graph.get(), x, dw, dy)) {
    CYG_CUDNN_CHECK(p.bwd_filter.graph->run(h, x, dw, dy, workspace));
    return;
  }
  check_algorithm_runs(p.bwd_filter, ConvDirection::BackwardFilter, x, dw, dy);
  const float one = 1.0f, zero = 0.0f;
  CYG_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &one, p.x, x, p.y, dy, p.bwd_filter.conv,
                                                 static_cast<cudnnConvolutionBwdFilterAlgo_t>(p.bwd_filter.algo),
                                                 workspace, workspace_bytes, &zero, p.w, dw));
}
}  // namespace

void conv2d_forward_cudnn(const Conv2dShape& s, const float* x, const float* w, float* y, void* workspace,
                          size_t workspace_bytes, void* stream, ConvLayout layout) {
  forward(s, ConvData::F32, layout, x, w, y, workspace, workspace_bytes, stream);
}

void conv2d_backward_data_cudnn(const Conv2dShape& s, const float* dy, const float* w, float* dx, void* workspace,
                                size_t workspace_bytes, void* stream, ConvLayout layout, bool accumulate) {
  backward_data(s, ConvData::F32, layout, dy, w, dx, workspace, workspace_bytes, stream, accumulate);
}

void conv2d_backward_filter_cudnn(const Conv2dShape& s, const float* dy, const float* x, float* dw, void* workspace,
                                  size_t workspace_bytes, void* stream, ConvLayout layout) {
  backward_filter(s, ConvData::F32, layout, dy, x, dw, workspace, workspace_bytes, stream);
}

void conv2d_forward_cudnn(const Conv2dShape& s, const uint16_t* x, const uint16_t* w, uint16_t* y, void* workspace,
                          size_t workspace_bytes, void* stream, ConvLayout layout) {
  forward(s, ConvData::BF16, layout, x, w, y, workspace, workspace_bytes, stream);
}

void conv2d_backward_data_cudnn(const Conv2dShape& s, const uint16_t* dy, const uint16_t* w, uint16_t* dx,
                                void* workspace, size_t workspace_bytes, void* stream, ConvLayout layout,
                                bool accumulate) {
  backward_data(s, ConvData::BF16, layout, dy, w, dx, workspace, workspace_bytes, stream, accumulate);
}

void conv2d_backward_filter_cudnn(const Conv2dShape& s, const uint16_t* dy, const uint16_t* x, uint16_t* dw,
                                  void* workspace, size_t workspace_bytes, void* stream, ConvLayout layout) {
  backward_filter(s, ConvData::BF16, layout, dy, x, dw, workspace, workspace_bytes, stream);
}

}  // namespace cyg::cuda
