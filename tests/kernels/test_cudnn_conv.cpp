// kernels/cuda/cudnn_conv.cpp, the cuDNN convolutions' plans and autotuning, on stand-ins
// of the CUDA runtime and of cuDNN (tests/kernels/fake_gpu.h, fake_cudnn_backend.h),
// without a GPU: what a search keeps (by our timing, not cuDNN's), the graph engines
// beside the algorithms and the calls each runs, the settings' filters, the algorithm
// file, the fallbacks (no memory, a refusal, another thread, unaligned pointers, beta 1)
// and the errors. The stand-ins compute with the CPU reference, so every result is
// checked against it. What the real library does is for the GPU tests
// (tests/engine/test_conv_autotune_gpu.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "kernels/common.h"
#include "kernels/conv.h"
#include "kernels/conv_algo_cache.h"
#include "kernels/cpu/channels.h"
#include "kernels/cuda/launch.h"
#include "kernels/error.h"
#include "tests/kernels/fake_cudnn_backend.h"
#include "tests/kernels/fake_gpu.h"
#include "tests/scratch_dir.h"

namespace {

using cyg::ConvData;
using cyg::ConvDirection;
using cyg::ConvEngines;
using cyg::ConvLayout;

// A shape no earlier test planned (plans last for the process): odd sizes, stride 2.
cyg::Conv2dShape fresh_shape(int64_t C = 3) {
  static int64_t n = 1;
  cyg::Conv2dShape s;
  s.N = ++n;
  s.C = C;
  s.H = 5;
  s.W = 7;
  s.OC = 8;
  s.KH = s.KW = 3;
  s.stride_h = s.stride_w = 2;
  s.pad_h = s.pad_w = 1;
  return s;
}

int64_t x_numel(const cyg::Conv2dShape& s) { return s.N * s.C * s.H * s.W; }
int64_t w_numel(const cyg::Conv2dShape& s) { return s.OC * s.C * s.KH * s.KW; }
int64_t y_numel(const cyg::Conv2dShape& s) { return s.N * s.OC * s.OH() * s.OW(); }

std::vector<float> random_values(int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = u(rng);
  return v;
}

// Buffers with one spare element in front, so that a call can be made 4 bytes off the
// 16-byte alignment graph plans are made for.
struct Buffer {
  explicit Buffer(const std::vector<float>& values) : storage(values.size() + 4) {
    std::copy(values.begin(), values.end(), storage.begin() + 4);
  }
  float* aligned() { return storage.data() + 4; }
  float* misaligned() { return storage.data() + 1; }
  std::vector<float> storage;  // 16-byte aligned (operator new's alignment)
};

// A convolution's workspace in the stand-in's device memory, exactly the bytes the plan
// asks for (none where it asks for none), so a run that needs more is refused.
class Workspace {
 public:
  explicit Workspace(size_t bytes) : bytes_(bytes) {
    if (bytes > 0 && cudaMalloc(&p_, bytes) != cudaSuccess) throw std::runtime_error("no workspace");
  }
  ~Workspace() { cudaFree(p_); }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  void* data() const { return p_; }
  size_t bytes() const { return bytes_; }

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

void expect_near_all(const float* got, const std::vector<float>& want, float tolerance) {
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], tolerance) << "at " << i;
}

// [outer, C, inner] to [outer, inner, C] (channels last), and back.
template <typename T>
std::vector<T> channels_last(const std::vector<T>& v, int64_t outer, int64_t C, int64_t inner) {
  std::vector<T> out(v.size());
  cyg::write_channels_last(v.data(), outer, C, inner, out.data());
  return out;
}
template <typename T>
std::vector<T> channels_first(const std::vector<T>& v, int64_t outer, int64_t C, int64_t inner) {
  return cyg::channels_first_copy(v.data(), outer, C, inner);
}

std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
  std::vector<uint16_t> b(v.size());
  for (size_t i = 0; i < v.size(); ++i) b[i] = cyg::float_to_bf16(v[i]);
  return b;
}

fake_gpu::Algorithm algorithm(int algo, double run_ms, float find_ms = 1.0f,
                              cudnnMathType_t math = CUDNN_DEFAULT_MATH, size_t workspace = 0) {
  fake_gpu::Algorithm a;
  a.algo = algo;
  a.run_ms = run_ms;
  a.find_ms = find_ms;
  a.math = math;
  a.workspace = workspace;
  return a;
}

fake_cudnn::Engine engine(int64_t index, std::vector<cudnnBackendNumericalNote_t> notes = {},
                          std::vector<std::pair<cudnnBackendKnobType_t, int64_t>> knobs = {}) {
  return fake_cudnn::make_engine(index, 1024, std::move(notes), std::move(knobs));
}

// The report of `direction` for shape `s`, if there is one.
std::optional<cyg::ConvChoiceReport> report_of(const cyg::Conv2dShape& s, ConvDirection direction) {
  for (const cyg::ConvChoiceReport& r : cyg::cuda::conv2d_choices())
    if (!(r.key.shape < s) && !(s < r.key.shape) && r.key.direction == direction) return r;
  return std::nullopt;
}

// Chooses each direction of `s` (f32, NCHW), as a training step's calls would: a
// direction is chosen on its first call.
void choose_every_direction(const cyg::Conv2dShape& s) {
  for (ConvDirection d : {ConvDirection::Forward, ConvDirection::BackwardData, ConvDirection::BackwardFilter})
    cyg::cuda::conv2d_workspace_bytes_cudnn(s, d);
}

class CudnnConv : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_cudnn::reset();
    fake_gpu::reset();
    cyg::cuda::conv2d_allow_tf32(true);
    cyg::cuda::conv2d_deterministic(false);
    cyg::cuda::conv2d_benchmark(true);
    cyg::cuda::conv2d_engines(ConvEngines::Both);
    cyg::cuda::conv2d_algorithm_cache("", nullptr);
    // Three algorithms a direction: cuDNN's search says 0 is fastest, our timing 1, which
    // needs a workspace.
    for (auto& list : fake_gpu::state().algorithms)
      list = {algorithm(0, 3.0, 0.1f), algorithm(1, 0.2, 0.5f, CUDNN_DEFAULT_MATH, 3000), algorithm(2, 1.0, 0.3f)};
    live_allocations_ = fake_gpu::state().live_allocations;
  }
  void TearDown() override {
    // The search's buffers go back once a plan is made, or fails.
    EXPECT_EQ(fake_gpu::state().live_allocations, live_allocations_);
    cyg::cuda::capture_open_on_this_thread() = false;
    fake_gpu::state().failing_call.clear();
    fake_gpu::state().fault = cudaSuccess;
    cudaGetLastError();
  }

  // Runs the forward convolution of `s` (f32, NCHW) on x and w into a fresh y, checks it
  // against the CPU reference, and returns the runs the call itself made.
  std::vector<fake_gpu::Run> forward_checked(const cyg::Conv2dShape& s, bool misaligned = false) {
    const std::vector<float> xv = random_values(x_numel(s), 1), wv = random_values(w_numel(s), 2);
    std::vector<float> want(static_cast<size_t>(y_numel(s)));
    cyg::conv2d_forward_cpu<float>(xv.data(), wv.data(), nullptr, s, want.data());
    Buffer x(xv), w(wv), y(std::vector<float>(want.size(), 7.0f));
    const Workspace workspace(cyg::cuda::conv2d_workspace_bytes_cudnn(s, ConvDirection::Forward));
    const size_t before = fake_gpu::state().runs.size();
    float* yp = misaligned ? y.misaligned() : y.aligned();
    cyg::cuda::conv2d_forward_cudnn(s, misaligned ? x.misaligned() : x.aligned(), w.aligned(), yp, workspace.data(),
                                    workspace.bytes(), kStream);
    if (misaligned) {
      // The same values, placed where the misaligned call's x was.
      std::vector<float> shifted(xv.size());
      std::copy(x.storage.begin() + 1, x.storage.begin() + 1 + static_cast<long>(xv.size()), shifted.begin());
      cyg::conv2d_forward_cpu<float>(shifted.data(), wv.data(), nullptr, s, want.data());
    }
    expect_near_all(yp, want, 1e-5f);
    return std::vector<fake_gpu::Run>(fake_gpu::state().runs.begin() + static_cast<long>(before),
                                      fake_gpu::state().runs.end());
  }

  static inline void* const kStream = reinterpret_cast<void*>(0x5000);
  int64_t live_allocations_ = 0;
};

TEST_F(CudnnConv, ASearchKeepsWhatOurTimingFoundFastestNotCudnns) {
  // A call of another shape first leaves this thread's handle bound to the caller's
  // stream; the search must take it back to its own.
  forward_checked(fresh_shape());
  fake_gpu::state().runs.clear();
  fake_gpu::state().finds = fake_gpu::state().delays = 0;
  const cyg::Conv2dShape s = fresh_shape();
  const std::vector<fake_gpu::Run> runs = forward_checked(s);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].algo, 1);
  EXPECT_EQ(runs[0].engine, -1);
  EXPECT_EQ(runs[0].stream, kStream);
  EXPECT_FALSE(runs[0].on_search_buffers);
  // Each direction is searched on its first call: a forward alone (as a shape only
  // evaluated) searches its forward alone.
  EXPECT_EQ(fake_gpu::state().finds, 1);
  EXPECT_FALSE(report_of(s, ConvDirection::BackwardData).has_value());
  // A failed search of another direction leaves the forward's choice: it is not searched
  // again, and the failed direction is, on its next call.
  fake_gpu::state().failing_call = "cudnnFindConvolutionBackwardDataAlgorithmEx";
  EXPECT_THROW(cyg::cuda::conv2d_workspace_bytes_cudnn(s, ConvDirection::BackwardData), cyg::Error);
  fake_gpu::state().failing_call.clear();
  EXPECT_FALSE(report_of(s, ConvDirection::BackwardData).has_value());
  fake_gpu::state().finds = 0;
  for (ConvDirection d : {ConvDirection::Forward, ConvDirection::BackwardData, ConvDirection::BackwardFilter})
    cyg::cuda::conv2d_workspace_bytes_cudnn(s, d);
  EXPECT_EQ(fake_gpu::state().finds, 2);  // backward data and backward filter, once each
  EXPECT_EQ(fake_gpu::state().heuristics, 0);

  for (ConvDirection d : {ConvDirection::Forward, ConvDirection::BackwardData, ConvDirection::BackwardFilter}) {
    const std::optional<cyg::ConvChoiceReport> r = report_of(s, d);
    ASSERT_TRUE(r.has_value()) << cyg::conv_direction_name(d);
    EXPECT_EQ(r->source, "search");
    EXPECT_EQ(r->choice.algorithm, 1);
    EXPECT_FALSE(r->choice.graph());
    ASSERT_EQ(r->candidates.size(), 3u);
    // cuDNN's times as its search gave them; ours as the clock ran each candidate.
    const double timed[] = {3.0, 0.2, 1.0}, searched[] = {0.1, 0.5, 0.3};
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_NEAR(r->candidates[i].timed_ms, timed[i], 1e-6);
      EXPECT_NEAR(r->candidates[i].search_ms, searched[i], 1e-6);
    }
    EXPECT_EQ(r->chosen, 1);
    EXPECT_EQ(r->key.gpu, "Stand-in GPU");
  }
  // Every candidate ran on the search's own buffers and stream (the legacy default): its
  // warm-up and 3 timed runs (1 where the warm-up took the host 20 ms), behind a delay.
  int trials = 0;
  for (const fake_gpu::Run& r : fake_gpu::state().runs)
    if (r.on_search_buffers) {
      ++trials;
      EXPECT_EQ(r.stream, nullptr) << "a trial on the caller's stream";
    }
  EXPECT_GE(trials, 3 * 3 * 2);
  EXPECT_LE(trials, 3 * 3 * 4);
  EXPECT_EQ(fake_gpu::state().delays, 3 * 3);
}

TEST_F(CudnnConv, AFasterEngineRunsInPlaceOfTheAlgorithmAndUnalignedCallsRunTheAlgorithm) {
  fake_cudnn::state().catalogue = {engine(11, {}, {{CUDNN_KNOB_TYPE_SPLIT_K, 4}}), engine(12)};
  fake_gpu::state().engine_ms[fake_gpu::kForward] = {{11, 2.0}, {12, 0.05}};
  const cyg::Conv2dShape s = fresh_shape();
  std::vector<fake_gpu::Run> runs = forward_checked(s);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].engine, 12);
  EXPECT_EQ(runs[0].algo, -1);
  EXPECT_EQ(runs[0].stream, kStream);

  const std::optional<cyg::ConvChoiceReport> r = report_of(s, ConvDirection::Forward);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->choice.engine, 12);
  EXPECT_EQ(r->choice.algorithm, 1);  // what unaligned calls run
  ASSERT_EQ(r->candidates.size(), 5u);
  EXPECT_EQ(r->chosen, 4);
  EXPECT_EQ(r->candidates[3].choice.engine, 11);
  EXPECT_EQ(r->candidates[3].choice.knobs, cyg::conv_knobs_text({{CUDNN_KNOB_TYPE_SPLIT_K, 4}}));
  EXPECT_NEAR(r->candidates[3].timed_ms, 2.0, 1e-6);

  runs = forward_checked(s, /*misaligned=*/true);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].algo, 1);
  EXPECT_EQ(runs[0].engine, -1);
}

TEST_F(CudnnConv, EnginesTheSettingsRefuseAreNeverRunAndTheCapCountsOnlyAllowedOnes) {
  cyg::cuda::conv2d_deterministic(true);
  // Three that determinism refuses come first, then eleven it allows: ten of those are
  // timed, as many as a search tries.
  for (int64_t i = 0; i < 3; ++i) fake_cudnn::state().catalogue.push_back(engine(100 + i, {CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC}));
  for (int64_t i = 0; i < 11; ++i) fake_cudnn::state().catalogue.push_back(engine(200 + i));
  for (int64_t i = 0; i < 3; ++i) fake_gpu::state().engine_ms[fake_gpu::kForward][100 + i] = 0.01;
  for (int64_t i = 0; i < 11; ++i) fake_gpu::state().engine_ms[fake_gpu::kForward][200 + i] = 0.5 - 0.01 * i;
  // The algorithm our timing finds fastest adds with atomics: not a choice either.
  fake_gpu::state().algorithms[fake_gpu::kForward][1].determinism = CUDNN_NON_DETERMINISTIC;
  const cyg::Conv2dShape s = fresh_shape();
  const std::vector<fake_gpu::Run> runs = forward_checked(s);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].engine, 200 + 9);  // the fastest of the ten timed; 210 never was

  std::vector<int64_t> executed;
  for (const fake_gpu::Run& r : fake_gpu::state().runs)
    if (r.direction == fake_gpu::kForward && r.engine >= 0) executed.push_back(r.engine);
  for (int64_t e : executed) {
    EXPECT_GE(e, 200) << "engine " << e << " is non-deterministic";
    EXPECT_LT(e, 210) << "engine " << e << " is past the ten a search times";
  }
  for (const fake_gpu::Run& r : fake_gpu::state().runs) {
    if (r.direction == fake_gpu::kForward) {
      EXPECT_NE(r.algo, 1) << "a non-deterministic algorithm ran";
    }
  }
  const std::optional<cyg::ConvChoiceReport> r = report_of(s, ConvDirection::Forward);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->choice.algorithm, 2);  // the deterministic algorithm, for unaligned calls
  // The report says why each candidate was passed over.
  ASSERT_EQ(r->candidates.size(), 3u + 3u + 10u);
  EXPECT_EQ(r->candidates[1].why_not, "non-deterministic");
  EXPECT_EQ(r->candidates[3].why_not, "non-deterministic");
  EXPECT_EQ(r->candidates[3].choice.engine, 100);
  EXPECT_TRUE(r->candidates[6].usable);
  const std::string table = cyg::conv_choices_table({*r});
  EXPECT_NE(table.find("engine 100/fma not usable (non-deterministic)"), std::string::npos) << table;
}

TEST_F(CudnnConv, StrictFp32RunsNoTensorCoreEngineNorAlgorithm) {
  cyg::cuda::conv2d_allow_tf32(false);
  fake_cudnn::state().catalogue = {engine(21, {CUDNN_NUMERICAL_NOTE_TENSOR_CORE}), engine(22)};
  fake_gpu::state().engine_ms[fake_gpu::kForward] = {{21, 0.01}, {22, 0.1}};
  fake_gpu::state().algorithms[fake_gpu::kForward] = {algorithm(0, 0.05, 0.1f, CUDNN_TENSOR_OP_MATH),
                                                      algorithm(1, 0.2, 0.5f, CUDNN_FMA_MATH)};
  const cyg::Conv2dShape s = fresh_shape();
  const std::vector<fake_gpu::Run> runs = forward_checked(s);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].engine, 22);
  for (const fake_gpu::Run& r : fake_gpu::state().runs) {
    EXPECT_NE(r.engine, 21) << "a tensor-core engine ran with TF32 off";
    if (r.algo >= 0) {
      EXPECT_EQ(r.math, CUDNN_FMA_MATH) << "algorithm " << r.algo;
      EXPECT_NE(r.algo, 0);
    }
  }
}

// Each direction, run by an algorithm (Legacy) and by a graph engine (Graph), in f32 and
// bf16 and both layouts, against the CPU reference: the tensors reach cuDNN in their
// roles, in the layout the descriptors declare.
template <typename T>
void expect_every_direction_matches_the_cpu(ConvLayout layout, ConvEngines engines) {
  const bool bf16 = std::is_same<T, uint16_t>::value, nhwc = layout == ConvLayout::NHWC;
  const ConvData data = bf16 ? ConvData::BF16 : ConvData::F32;
  cyg::cuda::conv2d_engines(engines);
  const cyg::Conv2dShape s = fresh_shape(8);
  auto values = [&](int64_t n, unsigned seed) {
    std::vector<float> v = random_values(n, seed);
    if constexpr (std::is_same<T, float>::value) {
      return v;
    } else {
      return to_bf16(v);
    }
  };
  const int64_t in = s.H * s.W, out = s.OH() * s.OW(), taps = s.KH * s.KW;
  // NCHW values, the reference's.
  const std::vector<T> x = values(x_numel(s), 11), w = values(w_numel(s), 12), dy = values(y_numel(s), 13);
  std::vector<T> y_want(static_cast<size_t>(y_numel(s))), dx_want(x.size()), dw_want(w.size());
  if constexpr (std::is_same<T, float>::value) {
    cyg::conv2d_forward_cpu<float>(x.data(), w.data(), nullptr, s, y_want.data());
    cyg::conv2d_backward_data_cpu<float>(dy.data(), w.data(), s, dx_want.data());
    cyg::conv2d_backward_filter_cpu<float>(dy.data(), x.data(), s, dw_want.data());
  } else {
    cyg::conv2d_forward_bf16_cpu(x.data(), w.data(), s, y_want.data());
    cyg::conv2d_backward_data_bf16_cpu(dy.data(), w.data(), s, dx_want.data());
    cyg::conv2d_backward_filter_bf16_cpu(dy.data(), x.data(), s, dw_want.data());
  }
  // The same values in the layout under test.
  auto laid = [&](const std::vector<T>& v, int64_t outer, int64_t C, int64_t inner) {
    return nhwc ? channels_last(v, outer, C, inner) : v;
  };
  auto back = [&](const std::vector<T>& v, int64_t outer, int64_t C, int64_t inner) {
    return nhwc ? channels_first(v, outer, C, inner) : v;
  };
  const std::vector<T> xl = laid(x, s.N, s.C, in), wl = laid(w, s.OC, s.C, taps), dyl = laid(dy, s.N, s.OC, out);
  std::vector<T> y(y_want.size()), dx(x.size()), dw(w.size());
  // One workspace for the three calls: the most any needs (each direction chosen here).
  const Workspace workspace(std::max({cyg::cuda::conv2d_workspace_bytes_cudnn(s, ConvDirection::Forward, data, layout),
                                      cyg::cuda::conv2d_workspace_bytes_cudnn(s, ConvDirection::BackwardData, data, layout),
                                      cyg::cuda::conv2d_workspace_bytes_cudnn(s, ConvDirection::BackwardFilter, data,
                                                                              layout)}));
  const size_t bytes = workspace.bytes();
  const size_t before = fake_gpu::state().runs.size();
  void* const stream = reinterpret_cast<void*>(0x6000);
  cyg::cuda::conv2d_forward_cudnn(s, xl.data(), wl.data(), y.data(), workspace.data(), bytes, stream, layout);
  cyg::cuda::conv2d_backward_data_cudnn(s, dyl.data(), wl.data(), dx.data(), workspace.data(), bytes, stream, layout,
                                        false);
  cyg::cuda::conv2d_backward_filter_cudnn(s, dyl.data(), xl.data(), dw.data(), workspace.data(), bytes, stream,
                                          layout);
  ASSERT_EQ(fake_gpu::state().runs.size(), before + 3);
  for (size_t i = before; i < before + 3; ++i) {
    const fake_gpu::Run& r = fake_gpu::state().runs[i];
    EXPECT_EQ(r.direction, static_cast<int>(i - before));
    if (engines == ConvEngines::Graph) {
      EXPECT_EQ(r.engine, 7);
    } else {
      EXPECT_EQ(r.algo, 1);
    }
  }
  const struct {
    const char* name;
    std::vector<T> got, want;
  } results[] = {{"y", back(y, s.N, s.OC, out), y_want},
                 {"dx", back(dx, s.N, s.C, in), dx_want},
                 {"dw", back(dw, s.OC, s.C, taps), dw_want}};
  for (const auto& r : results)
    for (size_t i = 0; i < r.want.size(); ++i) {
      const float g = static_cast<float>(bf16 ? cyg::bf16_to_float(r.got[i]) : r.got[i]);
      const float e = static_cast<float>(bf16 ? cyg::bf16_to_float(r.want[i]) : r.want[i]);
      ASSERT_EQ(g, e) << r.name << " at " << i;
    }
}

TEST_F(CudnnConv, EveryDirectionMatchesTheCpuByAlgorithmAndByEngineInEachLayoutAndType) {
  fake_cudnn::state().catalogue = {engine(7)};
  for (ConvEngines engines : {ConvEngines::Legacy, ConvEngines::Graph})
    for (ConvLayout layout : {ConvLayout::NCHW, ConvLayout::NHWC}) {
      SCOPED_TRACE(::testing::Message() << (engines == ConvEngines::Graph ? "engine, " : "algorithm, ")
                                        << (layout == ConvLayout::NHWC ? "nhwc" : "nchw"));
      expect_every_direction_matches_the_cpu<float>(layout, engines);
      expect_every_direction_matches_the_cpu<uint16_t>(layout, engines);
    }
}

// cuDNN may list one algorithm once per math type: each is timed under its own, and the
// choice runs under the math type it was timed with.
TEST_F(CudnnConv, AnAlgorithmListedUnderTwoMathTypesIsTimedAndRunUnderEach) {
  fake_gpu::state().algorithms[fake_gpu::kForward] = {algorithm(1, 2.0, 0.1f, CUDNN_FMA_MATH),
                                                      algorithm(1, 0.2, 0.5f, CUDNN_TENSOR_OP_MATH),
                                                      algorithm(0, 3.0, 0.3f, CUDNN_DEFAULT_MATH)};
  const cyg::Conv2dShape s = fresh_shape();
  const std::vector<fake_gpu::Run> runs = forward_checked(s);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].algo, 1);
  EXPECT_EQ(runs[0].math, CUDNN_TENSOR_OP_MATH);
  const std::optional<cyg::ConvChoiceReport> r = report_of(s, ConvDirection::Forward);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->candidates.size(), 3u);
  EXPECT_NEAR(r->candidates[0].timed_ms, 2.0, 1e-6);
  EXPECT_NEAR(r->candidates[1].timed_ms, 0.2, 1e-6);
  EXPECT_EQ(r->chosen, 1);
  EXPECT_EQ(r->choice.math_type, static_cast<int>(CUDNN_TENSOR_OP_MATH));
}

// The report says why a candidate was passed over where it was not a setting: cuDNN's
// status, an engine cuDNN would not make a plan of, or would not describe.
TEST_F(CudnnConv, TheReportSaysWhyEachCandidateWasPassedOver) {
  fake_gpu::Algorithm refused = algorithm(3, 0.1), huge = algorithm(4, 0.1, 1.0f, CUDNN_DEFAULT_MATH, size_t(1) << 30);
  refused.status = CUDNN_STATUS_NOT_SUPPORTED;
  fake_gpu::state().algorithms[fake_gpu::kForward].push_back(refused);
  fake_gpu::state().algorithms[fake_gpu::kForward].push_back(huge);
  fake_cudnn::Engine no_plan = engine(5);
  no_plan.refuses_plan = true;
  fake_cudnn::Engine undescribed = engine(6);
  undescribed.undescribed = true;
  fake_cudnn::state().catalogue = {no_plan, undescribed, engine(7, {CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION})};
  const cyg::Conv2dShape s = fresh_shape();
  forward_checked(s);
  const std::optional<cyg::ConvChoiceReport> r = report_of(s, ConvDirection::Forward);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->candidates.size(), 5u + 3u);
  EXPECT_EQ(r->candidates[3].why_not, "CUDNN_STATUS_NOT_SUPPORTED");
  EXPECT_EQ(r->candidates[4].why_not, "CUDNN_STATUS_ALLOC_FAILED");  // more than the search's workspace
  EXPECT_EQ(r->candidates[5].why_not, "no plan");
  EXPECT_EQ(r->candidates[6].why_not, "not described");
  EXPECT_EQ(r->candidates[7].why_not, "reduced-precision reduction");
  const std::string table = cyg::conv_choices_table({*r});
  EXPECT_NE(table.find("engine ?/fma not usable (not described)"), std::string::npos) << table;
  EXPECT_NE(table.find("graph engines passed over:"), std::string::npos) << table;
}

// Where no algorithm ran in the search, an engine that does is the choice: beside the
// heuristics' algorithm for the calls a plan cannot take, or, where cuDNN has none, alone,
// those calls then an error that says why.
TEST_F(CudnnConv, AnEngineRunsWhereNoAlgorithmDoes) {
  fake_cudnn::state().catalogue = {engine(9)};
  for (fake_gpu::Algorithm& a : fake_gpu::state().algorithms[fake_gpu::kForward]) a.status = CUDNN_STATUS_NOT_SUPPORTED;
  cyg::cuda::conv2d_engines(ConvEngines::Legacy);
  EXPECT_THROW(forward_checked(fresh_shape()), cyg::Error);  // the algorithms alone: none

  cyg::cuda::conv2d_engines(ConvEngines::Both);
  const cyg::Conv2dShape alone = fresh_shape();
  std::vector<fake_gpu::Run> runs = forward_checked(alone);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].engine, 9);
  const std::optional<cyg::ConvChoiceReport> r = report_of(alone, ConvDirection::Forward);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->source, "search");
  EXPECT_EQ(r->choice.engine, 9);
  EXPECT_NE(r->note.find("no algorithm"), std::string::npos) << r->note;
  try {
    forward_checked(alone, /*misaligned=*/true);
    FAIL() << "no error";
  } catch (const cyg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("only as the graph plan made on its first call"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("not 16-byte aligned"), std::string::npos) << e.what();
  }

  // An algorithm the search could not run (its workspace is more than the search had)
  // but the heuristics offer: it takes the unaligned calls.
  fake_gpu::state().algorithms[fake_gpu::kForward] = {algorithm(2, 1.0, 1.0f, CUDNN_DEFAULT_MATH, size_t(3) << 20)};
  fake_gpu::state().malloc_limit = size_t(2) << 20;
  const cyg::Conv2dShape beside = fresh_shape();
  cyg::cuda::conv2d_workspace_bytes_cudnn(beside, ConvDirection::Forward);
  fake_gpu::state().malloc_limit = SIZE_MAX;
  runs = forward_checked(beside);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].engine, 9);
  runs = forward_checked(beside, /*misaligned=*/true);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].algo, 2);
  const std::optional<cyg::ConvChoiceReport> b = report_of(beside, ConvDirection::Forward);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->choice.algorithm, 2);
  EXPECT_EQ(b->note.find("no algorithm"), std::string::npos) << b->note;

  // Backward data must also accumulate: with no algorithm, an engine without a beta-1
  // plan is no choice, and planning is the error it was without engines.
  for (fake_gpu::Algorithm& a : fake_gpu::state().algorithms[fake_gpu::kBackwardData])
    a.status = CUDNN_STATUS_NOT_SUPPORTED;
  fake_cudnn::state().catalogue[0].refuses_beta = true;
  const cyg::Conv2dShape no_beta = fresh_shape();
  try {
    cyg::cuda::conv2d_workspace_bytes_cudnn(no_beta, ConvDirection::BackwardData);
    FAIL() << "no error";
  } catch (const cyg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no backward_data algorithm"), std::string::npos) << e.what();
  }
  // With a beta-1 plan it is the choice, and accumulates through it.
  fake_cudnn::state().catalogue[0].refuses_beta = false;
  const cyg::Conv2dShape with_beta = fresh_shape();
  cyg::cuda::conv2d_workspace_bytes_cudnn(with_beta, ConvDirection::BackwardData);
  const std::optional<cyg::ConvChoiceReport> d = report_of(with_beta, ConvDirection::BackwardData);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->choice.engine, 9);
  EXPECT_EQ(d->note, "accumulating: the engine with beta 1; no algorithm: aligned calls on this thread only");
}

TEST_F(CudnnConv, LegacyTimesNoEngineAndGraphTakesOneEvenWhenSlower) {
  fake_cudnn::state().catalogue = {engine(31)};
  fake_gpu::state().engine_ms[fake_gpu::kForward] = {{31, 5.0}};  // slower than algorithm 1's 0.2
  cyg::cuda::conv2d_engines(ConvEngines::Legacy);
  forward_checked(fresh_shape());
  EXPECT_TRUE(fake_cudnn::state().executions.empty());

  cyg::cuda::conv2d_engines(ConvEngines::Both);
  std::vector<fake_gpu::Run> runs = forward_checked(fresh_shape());
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].algo, 1);

  cyg::cuda::conv2d_engines(ConvEngines::Graph);
  runs = forward_checked(fresh_shape());
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].engine, 31);
}

// Backward data in bf16 channels-last, as the residual blocks run it: the call that adds
// into dx (beta 1) runs the engine rebuilt on a beta-1 graph, or, where cuDNN will not
// build that, the algorithm with beta 1; both add to what dx held.
TEST_F(CudnnConv, BackwardDataAccumulatesThroughTheEngineOnABetaOneGraphOrTheAlgorithm) {
  for (bool refuses_beta : {false, true}) {
    SCOPED_TRACE(refuses_beta ? "the engine refuses beta 1" : "the engine takes beta 1");
    fake_cudnn::reset();
    fake_gpu::reset();
    for (auto& list : fake_gpu::state().algorithms) list = {algorithm(0, 3.0), algorithm(1, 0.2)};
    fake_cudnn::Engine e = engine(41, {CUDNN_NUMERICAL_NOTE_TENSOR_CORE});
    e.refuses_beta = refuses_beta;
    e.beta_workspace = 8192;  // more than the beta-0 plan and every algorithm: the plan's workspace
    fake_cudnn::state().catalogue = {e};
    fake_gpu::state().engine_ms[fake_gpu::kBackwardData] = {{41, 0.05}};
    const cyg::Conv2dShape s = fresh_shape(8);
    // NHWC values: dy [N, OH, OW, OC], w [OC, KH, KW, C] (KRSC), dx [N, H, W, C].
    const std::vector<uint16_t> dy = to_bf16(random_values(y_numel(s), 3)), w = to_bf16(random_values(w_numel(s), 4)),
                                held = to_bf16(random_values(x_numel(s), 5));
    // The reference in NCHW, from the same values transposed.
    const auto to_nchw = channels_first<uint16_t>;
    std::vector<uint16_t> grad(held.size());
    cyg::conv2d_backward_data_bf16_cpu(to_nchw(dy, s.N, s.OC, s.OH() * s.OW()).data(),
                                       to_nchw(w, s.OC, s.C, s.KH * s.KW).data(), s, grad.data());
    const std::vector<uint16_t> held_nchw = to_nchw(held, s.N, s.C, s.H * s.W);

    std::vector<uint16_t> dx = held;
    const Workspace workspace(
        cyg::cuda::conv2d_workspace_bytes_cudnn(s, ConvDirection::BackwardData, ConvData::BF16, ConvLayout::NHWC));
    const size_t before = fake_gpu::state().runs.size();
    cyg::cuda::conv2d_backward_data_cudnn(s, dy.data(), w.data(), dx.data(), workspace.data(), workspace.bytes(),
                                          kStream, ConvLayout::NHWC, /*accumulate=*/true);
    ASSERT_EQ(fake_gpu::state().runs.size(), before + 1);
    const fake_gpu::Run& run = fake_gpu::state().runs.back();
    EXPECT_EQ(run.beta, 1.0f);
    EXPECT_EQ(run.engine, refuses_beta ? -1 : 41);
    const std::vector<uint16_t> got = to_nchw(dx, s.N, s.C, s.H * s.W);
    for (size_t i = 0; i < got.size(); ++i) {
      const float want = cyg::bf16_to_float(held_nchw[i]) + cyg::bf16_to_float(grad[i]);
      ASSERT_NEAR(cyg::bf16_to_float(got[i]), want, 0.02f * (1.0f + std::fabs(want))) << "at " << i;
    }
    // Without accumulating: the engine, beta 0.
    cyg::cuda::conv2d_backward_data_cudnn(s, dy.data(), w.data(), dx.data(), workspace.data(), workspace.bytes(),
                                          kStream, ConvLayout::NHWC, /*accumulate=*/false);
    EXPECT_EQ(fake_gpu::state().runs.back().engine, 41);
    EXPECT_EQ(fake_gpu::state().runs.back().beta, 0.0f);
    const std::optional<cyg::ConvChoiceReport> r = report_of(s, ConvDirection::BackwardData);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->note, refuses_beta ? "accumulating: the algorithm" : "accumulating: the engine with beta 1");
  }
}

TEST_F(CudnnConv, AnotherThreadRunsTheAlgorithmOnItsOwnHandle) {
  fake_cudnn::state().catalogue = {engine(51)};
  fake_gpu::state().engine_ms[fake_gpu::kForward] = {{51, 0.05}};
  const cyg::Conv2dShape s = fresh_shape();
  std::vector<fake_gpu::Run> runs = forward_checked(s);
  ASSERT_EQ(runs.size(), 1u);
  ASSERT_EQ(runs[0].engine, 51);
  const cudnnHandle_t mine = runs[0].handle;
  std::thread other([&] { runs = forward_checked(s); });
  other.join();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].algo, 1);
  EXPECT_NE(runs[0].handle, mine);
}

// What the file writer was given, for the test to read.
std::string g_written;
void write_to_memory(const std::string&, const std::string& bytes) { g_written = bytes; }

TEST_F(CudnnConv, ASearchedEngineGoesToTheFileAndAFilesEngineIsBuiltAgainWithoutASearch) {
  const std::vector<std::pair<cudnnBackendKnobType_t, int64_t>> knobs = {{CUDNN_KNOB_TYPE_TILE_SIZE, 3},
                                                                        {CUDNN_KNOB_TYPE_SPLIT_K, 2}};
  fake_cudnn::state().catalogue = {engine(61, {}, knobs)};
  for (auto& ms : fake_gpu::state().engine_ms) ms = {{61, 0.05}};
  const cyg::test::ScratchDir dir("cudnn_conv");
  const std::string path = (dir.path() / "algorithms.tsv").string();
  g_written.clear();
  cyg::cuda::conv2d_algorithm_cache(path, write_to_memory);
  const cyg::Conv2dShape searched = fresh_shape();
  forward_checked(searched);
  choose_every_direction(searched);
  ASSERT_FALSE(g_written.empty());
  const cyg::ConvAlgoCache saved = cyg::ConvAlgoCache::parse(g_written);
  EXPECT_EQ(saved.size(), 3u);
  const std::optional<cyg::ConvChoiceReport> r = report_of(searched, ConvDirection::Forward);
  ASSERT_TRUE(r.has_value());
  const cyg::ConvAlgoChoice* kept = saved.find(r->key);
  ASSERT_NE(kept, nullptr);
  EXPECT_EQ(kept->engine, 61);
  EXPECT_EQ(kept->algorithm, 1);
  EXPECT_EQ(kept->knobs, cyg::conv_knobs_text({{CUDNN_KNOB_TYPE_TILE_SIZE, 3}, {CUDNN_KNOB_TYPE_SPLIT_K, 2}}));

  // A file with the same choice for a shape not planned yet, read as a new run reads it.
  const cyg::Conv2dShape filed = fresh_shape();
  cyg::ConvAlgoCache cache;
  for (ConvDirection d : {ConvDirection::Forward, ConvDirection::BackwardData, ConvDirection::BackwardFilter}) {
    cyg::ConvAlgoKey key = r->key;
    key.shape = filed;
    key.direction = d;
    cache.insert(key, *kept);
  }
  {
    std::ofstream out(path, std::ios::binary);
    out << cache.serialize();
  }
  cyg::cuda::conv2d_algorithm_cache(path, write_to_memory);
  fake_gpu::state().finds = 0;
  fake_cudnn::state().executions.clear();
  const size_t before = fake_gpu::state().runs.size();
  const std::vector<fake_gpu::Run> runs = forward_checked(filed);
  choose_every_direction(filed);
  EXPECT_EQ(fake_gpu::state().finds, 0);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].engine, 61);
  // Each plan was run once on scratch buffers before it was kept: one a direction, and
  // backward data's beta-1 plan.
  int trials = 0;
  for (size_t i = before; i < fake_gpu::state().runs.size(); ++i)
    trials += fake_gpu::state().runs[i].on_search_buffers && fake_gpu::state().runs[i].engine == 61;
  EXPECT_EQ(trials, 4);
  // The plan was built with the file's knobs.
  ASSERT_FALSE(fake_cudnn::state().executions.empty());
  const std::vector<std::pair<int64_t, int64_t>> want = {{CUDNN_KNOB_TYPE_TILE_SIZE, 3}, {CUDNN_KNOB_TYPE_SPLIT_K, 2}};
  EXPECT_EQ(fake_cudnn::state().executions.back().knobs, want);
  const std::optional<cyg::ConvChoiceReport> f = report_of(filed, ConvDirection::Forward);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->source, "file");
  EXPECT_EQ(f->choice.engine, 61);
  cyg::cuda::conv2d_algorithm_cache("", nullptr);
}

TEST_F(CudnnConv, AGraphApiRefusalLeavesTheAlgorithms) {
  fake_cudnn::state().catalogue = {engine(71)};
  fake_gpu::state().engine_ms[fake_gpu::kForward] = {{71, 0.05}};
  fake_cudnn::state().refused_attribute = CUDNN_ATTR_CONVOLUTION_COMP_TYPE;
  const std::vector<fake_gpu::Run> runs = forward_checked(fresh_shape());
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].algo, 1);
  EXPECT_TRUE(fake_cudnn::state().executions.empty());
}

TEST_F(CudnnConv, AnEngineThatFailsToRunIsPassedOverButAFaultIsReported) {
  fake_cudnn::state().catalogue = {engine(81)};
  fake_gpu::state().engine_ms[fake_gpu::kForward] = {{81, 0.05}};
  fake_gpu::state().failing_call = "cudnnBackendExecute";
  const cyg::Conv2dShape s = fresh_shape();
  std::vector<fake_gpu::Run> runs = forward_checked(s);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].algo, 1);
  const std::optional<cyg::ConvChoiceReport> r = report_of(s, ConvDirection::Forward);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->candidates.size(), 4u);
  EXPECT_EQ(r->candidates[3].why_not, "did not run");
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);

  // The same failure leaving a fault on the device: the fault is reported, not taken for
  // a refusal (by the next call that reaches the device, every one failing from then on).
  fake_gpu::state().execute_fault = cudaErrorIllegalAddress;
  try {
    forward_checked(fresh_shape());
    FAIL() << "no error";
  } catch (const cyg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("illegal memory access"), std::string::npos) << e.what();
  }
  fake_gpu::state().fault = cudaSuccess;
  cudaGetLastError();
}

// A graph-API call that fails while the device holds a fault: that is no refusal to warn
// about and go on from, but the error it is.
TEST_F(CudnnConv, AGraphApiFailureWithTheDeviceFaultedIsReportedWithTheFault) {
  fake_cudnn::state().catalogue = {engine(85)};
  fake_cudnn::state().refused_attribute = CUDNN_ATTR_CONVOLUTION_COMP_TYPE;
  fake_cudnn::state().on_failure = [] { fake_gpu::state().fault = cudaErrorIllegalAddress; };
  try {
    forward_checked(fresh_shape());
    FAIL() << "no error";
  } catch (const cyg::Error& e) {
    // The graph API's own error, with the fault the GPU reported after it.
    EXPECT_NE(std::string(e.what()).find("refused by the test"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("the GPU then reported a fault: an illegal memory access"), std::string::npos)
        << e.what();
  }
}

TEST_F(CudnnConv, WithoutRoomForASearchOrWithAutotuningOffTheHeuristicsChoose) {
  fake_cudnn::state().catalogue = {engine(91)};
  fake_gpu::state().malloc_limit = 0;
  testing::internal::CaptureStderr();
  std::vector<fake_gpu::Run> runs = forward_checked(fresh_shape());
  const std::string warned = testing::internal::GetCapturedStderr();
  EXPECT_NE(warned.find("no GPU memory"), std::string::npos) << warned;
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].algo, 0);  // the heuristics' first
  EXPECT_EQ(fake_gpu::state().finds, 0);
  EXPECT_GT(fake_gpu::state().heuristics, 0);
  EXPECT_TRUE(fake_cudnn::state().executions.empty());

  fake_gpu::state().malloc_limit = SIZE_MAX;
  cyg::cuda::conv2d_benchmark(false);
  cyg::cuda::conv2d_deterministic(true);
  fake_gpu::state().algorithms[fake_gpu::kForward][0].determinism = CUDNN_NON_DETERMINISTIC;
  const cyg::Conv2dShape s = fresh_shape();
  runs = forward_checked(s);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].algo, 1);  // the first deterministic one
  EXPECT_EQ(fake_gpu::state().finds, 0);
  const std::optional<cyg::ConvChoiceReport> r = report_of(s, ConvDirection::Forward);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->source, "heuristics");
}

// A direction's choice that fails halfway leaves nothing of itself for the next call:
// here backward data has taken an engine (a larger workspace than the algorithms') when
// its report fails; the next call chooses afresh, an algorithm now that the engine is
// slower, and neither runs the engine nor keeps its workspace.
TEST_F(CudnnConv, AFailedChoiceLeavesNothingOfItForTheNextCall) {
  fake_cudnn::state().catalogue = {fake_cudnn::make_engine(71, 8000, {}, {})};
  for (auto& ms : fake_gpu::state().engine_ms) ms = {{71, 0.05}};  // faster than the algorithms
  const cyg::Conv2dShape s = fresh_shape();
  forward_checked(s);
  fake_gpu::state().failing_call = "cudnnGetConvolutionMathType";
  EXPECT_THROW(cyg::cuda::conv2d_workspace_bytes_cudnn(s, ConvDirection::BackwardData), cyg::Error);
  fake_gpu::state().failing_call.clear();
  for (auto& ms : fake_gpu::state().engine_ms) ms = {{71, 5.0}};  // now slower than algorithm 1
  const size_t bytes = cyg::cuda::conv2d_workspace_bytes_cudnn(s, ConvDirection::BackwardData);
  EXPECT_EQ(bytes, 3000u);  // algorithm 1's, not the engine's 8000
  const std::vector<float> dyv = random_values(y_numel(s), 3), wv = random_values(w_numel(s), 4);
  Buffer dy(dyv), w(wv), dx(std::vector<float>(static_cast<size_t>(x_numel(s)), 0.0f));
  const Workspace workspace(bytes);
  const size_t before = fake_gpu::state().runs.size();
  cyg::cuda::conv2d_backward_data_cudnn(s, dy.aligned(), w.aligned(), dx.aligned(), workspace.data(),
                                        workspace.bytes(), kStream);
  ASSERT_EQ(fake_gpu::state().runs.size(), before + 1);
  EXPECT_EQ(fake_gpu::state().runs.back().engine, -1);
  EXPECT_EQ(fake_gpu::state().runs.back().algo, 1);
  const std::optional<cyg::ConvChoiceReport> r = report_of(s, ConvDirection::BackwardData);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->choice.graph());
}

// The reports list each plan's directions together, in the order the plans were made,
// whatever order the directions were chosen in.
TEST_F(CudnnConv, TheReportsListAPlansDirectionsTogether) {
  const cyg::Conv2dShape a = fresh_shape(), b = fresh_shape();
  forward_checked(a);
  forward_checked(b);
  cyg::cuda::conv2d_workspace_bytes_cudnn(a, ConvDirection::BackwardFilter);
  std::vector<std::pair<bool, ConvDirection>> order;  // (shape a?, direction)
  for (const cyg::ConvChoiceReport& r : cyg::cuda::conv2d_choices()) {
    const bool is_a = !(r.key.shape < a) && !(a < r.key.shape), is_b = !(r.key.shape < b) && !(b < r.key.shape);
    if (is_a || is_b) order.emplace_back(is_a, r.key.direction);
  }
  const std::vector<std::pair<bool, ConvDirection>> want = {
      {true, ConvDirection::Forward}, {true, ConvDirection::BackwardFilter}, {false, ConvDirection::Forward}};
  EXPECT_EQ(order, want);
}

TEST_F(CudnnConv, ANewShapeInsideAGraphCaptureIsAnErrorThatSaysWhatToDo) {
  cyg::cuda::capture_open_on_this_thread() = true;
  try {
    forward_checked(fresh_shape());
    FAIL() << "no error";
  } catch (const cyg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("run the step once eagerly before capturing it"), std::string::npos)
        << e.what();
  }
  cyg::cuda::capture_open_on_this_thread() = false;
  // A blocking stream captured another way than the engine's: the legacy stream's query
  // fails with cudaErrorStreamCaptureImplicit, which says so (and is not left behind for
  // the next launch check).
  fake_gpu::state().stream_capturing = true;
  try {
    forward_checked(fresh_shape());
    FAIL() << "no error";
  } catch (const cyg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("run the step once eagerly before capturing it"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  fake_gpu::state().stream_capturing = false;
}

// Every call that can fail is checked: its failure is an error naming the call, a plan
// half made leaves no descriptor behind, and the same convolution works once the call
// does again. (The device's name is asked once per process, so cudaGetDevice and
// cudaGetDeviceProperties are not among them.)
TEST_F(CudnnConv, EveryFailingCallIsAnErrorNamingIt) {
  fake_cudnn::state().catalogue = {engine(95)};
  const char* calls[] = {
      "cudnnCreateTensorDescriptor", "cudnnSetTensor4dDescriptor", "cudnnCreateFilterDescriptor",
      "cudnnSetFilter4dDescriptor", "cudnnCreateConvolutionDescriptor", "cudnnSetConvolution2dDescriptor",
      "cudnnSetConvolutionMathType", "cudnnGetConvolutionMathType", "cudnnGetConvolution2dForwardOutputDim",
      "cudnnGetConvolutionForwardAlgorithmMaxCount", "cudnnGetConvolutionBackwardDataAlgorithmMaxCount",
      "cudnnGetConvolutionBackwardFilterAlgorithmMaxCount", "cudnnFindConvolutionForwardAlgorithmEx",
      "cudnnFindConvolutionBackwardDataAlgorithmEx", "cudnnFindConvolutionBackwardFilterAlgorithmEx",
      "cudnnSetStream", "cudnnConvolutionForward", "cudaMemset", "cudaMemGetInfo", "cudaDeviceSynchronize",
      "cudaStreamSynchronize", "cudaEventCreate", "cudaEventRecord", "cudaEventElapsedTime",
      "cudaStreamIsCapturing", "cudaMalloc"};
  for (const char* call : calls) {
    SCOPED_TRACE(call);
    const cyg::Conv2dShape s = fresh_shape();
    const int64_t descriptors = fake_gpu::state().live_legacy_descriptors;
    fake_gpu::state().failing_call = call;
    try {
      choose_every_direction(s);
      // Where no algorithm runs, the engine is chosen: the algorithm's call, then, is an
      // unaligned one's.
      forward_checked(s, /*misaligned=*/std::string(call) == "cudnnConvolutionForward");
      ADD_FAILURE() << "no error";
    } catch (const cyg::Error& e) {
      EXPECT_NE(std::string(e.what()).find(call), std::string::npos) << e.what();
    }
    fake_gpu::state().failing_call.clear();
    EXPECT_EQ(cudaGetLastError(), cudaSuccess) << "an error left for the next launch check";
    choose_every_direction(s);
    forward_checked(s);
    // One plan's descriptors (x, y, w and a convolution's per direction): none of a plan
    // that failed halfway.
    EXPECT_EQ(fake_gpu::state().live_legacy_descriptors, descriptors + 6);
  }
}

}  // namespace
