// cuDNN autotuning on a real GPU (part of test_engine_gpu): convolutions forward and
// backward with the heuristics' algorithms, the searched ones and the deterministic
// ones each against the CPU in strict FP32; one search per direction of a new shape and
// none after; and the algorithm file taken instead of a search. Each test skips with
// the reason where no GPU answers.
#include <cuda_runtime.h>
#include <cudnn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/atomic_file.h"
#include "engine/device.h"
#include "engine/functional.h"
#include "engine/graph.h"
#include "engine/stream.h"
#include "engine/tensor.h"
#include "kernels/conv.h"
#include "kernels/conv_algo_cache.h"
#include "tests/kernels/check_close.h"
#include "tests/scratch_dir.h"

namespace {

using cyg::ConvDirection;
using cyg::Device;
using cyg::RequiresGrad;
using cyg::Tensor;
using cyg::Variable;
namespace fn = cyg::fn;

#define REQUIRE_GPU() \
  if (!cyg::cuda_available()) GTEST_SKIP() << "no GPU answers: " << cyg::cuda_unavailable_reason()

// The convolution switches for one test, TF32 off (strict FP32, to compare with the CPU);
// the defaults again afterwards.
class ConvSwitches {
 public:
  ConvSwitches(bool benchmark, bool deterministic, cyg::ConvEngines engines = cyg::ConvEngines::Both) {
    fn::set_allow_tf32(false);
    fn::set_cudnn_benchmark(benchmark);
    fn::set_deterministic(deterministic);
    fn::set_cudnn_engines(engines);
  }
  ~ConvSwitches() {
    fn::set_allow_tf32(true);
    fn::set_cudnn_benchmark(true);
    fn::set_deterministic(false);
    fn::set_cudnn_engines(cyg::ConvEngines::Both);
    fn::set_cudnn_cache("");
  }
  ConvSwitches(const ConvSwitches&) = delete;
  ConvSwitches& operator=(const ConvSwitches&) = delete;
};

struct ConvCase {
  cyg::Shape x, w;
  int64_t stride, padding;
  bool bias;
};

// Small odd shapes, ResNet's 1x1 shortcut, and one of ResNet-18's 3x3 layers (batch 8),
// where the searches have FFT and Winograd algorithms to pick from.
const ConvCase kCases[] = {
    {{3, 5, 9, 7}, {6, 5, 3, 3}, 1, 1, true},
    {{3, 5, 9, 7}, {6, 5, 3, 3}, 2, 1, true},
    {{2, 8, 6, 6}, {4, 8, 1, 1}, 2, 0, false},
    {{8, 64, 16, 16}, {64, 64, 3, 3}, 1, 1, false},
};

// Strict FP32 by any algorithm (FFT and Winograd round differently from the CPU's
// GEMM): within 1e-4 of the largest value; TF32 would be off by about ten times that.
::testing::AssertionResult close_to(const Tensor& got, const Tensor& ref) {
  const std::vector<float> r = ref.to_vector();
  double scale = 1.0;
  for (float v : r) scale = std::max(scale, static_cast<double>(std::fabs(v)));
  return cyg::test::all_close(got.to_vector(), r, 1e-4 * scale, 1e-4);
}

struct ConvResult {
  Tensor y, dx, dw;
};

ConvResult run(const ConvCase& c, Device device, uint64_t seed) {
  Variable x(Tensor::uniform(c.x, -1, 1, seed).to(device), RequiresGrad::Yes);
  Variable w(Tensor::uniform(c.w, -0.3, 0.3, seed + 1).to(device), RequiresGrad::Yes);
  const Variable b = c.bias ? Variable(Tensor::uniform({c.w[0]}, -1, 1, seed + 2).to(device), RequiresGrad::Yes)
                            : Variable();
  const Variable y = fn::conv2d(x, w, b, c.stride, c.padding);
  cyg::backward(y, Tensor::uniform(y.data().shape(), -1, 1, seed + 3).to(device));
  return {y.data(), x.grad(), w.grad()};
}

void expect_matches_cpu(const ConvCase& c, uint64_t seed) {
  SCOPED_TRACE("x [" + std::to_string(c.x[0]) + ", " + std::to_string(c.x[1]) + ", " + std::to_string(c.x[2]) + ", " +
               std::to_string(c.x[3]) + "], " + std::to_string(c.w[0]) + " filters " + std::to_string(c.w[2]) + "x" +
               std::to_string(c.w[3]) + ", stride " + std::to_string(c.stride));
  const ConvResult gpu = run(c, Device::cuda(), seed), cpu = run(c, Device::cpu(), seed);
  EXPECT_TRUE(close_to(gpu.y, cpu.y)) << "forward";
  EXPECT_TRUE(close_to(gpu.dx, cpu.dx)) << "backward data";
  EXPECT_TRUE(close_to(gpu.dw, cpu.dw)) << "backward filter";
}

cyg::Conv2dShape shape_of(const ConvCase& c) {
  cyg::Conv2dShape s;
  s.N = c.x[0];
  s.C = c.x[1];
  s.H = c.x[2];
  s.W = c.x[3];
  s.OC = c.w[0];
  s.KH = c.w[2];
  s.KW = c.w[3];
  s.stride_h = s.stride_w = c.stride;
  s.pad_h = s.pad_w = c.padding;
  return s;
}

// The key the cuDNN wrapper files a choice under, TF32 off, not deterministic.
cyg::ConvAlgoKey key_of(const ConvCase& c, ConvDirection direction) {
  cyg::ConvAlgoKey k;
  k.gpu = cyg::cuda_device_info(0).name;
  k.cudnn_version = static_cast<int64_t>(cudnnGetVersion());
  k.shape = shape_of(c);
  k.allow_tf32 = false;
  k.deterministic = false;
  k.direction = direction;
  return k;
}

int64_t searches() { return cyg::cuda::conv2d_searches(); }

TEST(ConvAutotune, EveryModeMatchesTheCpu) {
  REQUIRE_GPU();
  struct Mode {
    const char* name;
    bool benchmark, deterministic;
  };
  const Mode modes[] = {{"heuristics", false, false},
                        {"search", true, false},
                        {"search, deterministic", true, true},
                        {"heuristics, deterministic", false, true}};
  uint64_t seed = 1;
  for (const Mode& m : modes) {
    SCOPED_TRACE(m.name);
    const ConvSwitches switches(m.benchmark, m.deterministic);
    for (const ConvCase& c : kCases) expect_matches_cpu(c, seed += 10);
  }
}

// The data gradient added into what dx holds (cuDNN's beta = 1), as a channels-last bf16
// backward sums the two gradients of a residual block's input: the same as the gradient
// written alone (beta = 0) and then added, within the one rounding of bf16 that the
// blend saves, for ResNet-18's shapes of that sum in every mode.
TEST(ConvAutotune, BackwardDataWithBetaOneAddsToWhatDxHeld) {
  REQUIRE_GPU();
  const ConvCase cases[] = {
      {{8, 64, 32, 32}, {64, 64, 3, 3}, 1, 1, false},   // layer1's conv1
      {{8, 64, 32, 32}, {128, 64, 3, 3}, 2, 1, false},  // layer2's first conv1
      {{8, 64, 32, 32}, {128, 64, 1, 1}, 2, 0, false},  // its shortcut
      {{8, 256, 8, 8}, {512, 256, 3, 3}, 2, 1, false},  // layer4's first conv1
  };
  for (cyg::ConvEngines engines : {cyg::ConvEngines::Legacy, cyg::ConvEngines::Graph})
  for (bool benchmark : {false, true})
    for (bool deterministic : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "benchmark " << benchmark << ", deterministic " << deterministic
                                        << ", graph engines " << (engines == cyg::ConvEngines::Graph));
      const ConvSwitches switches(benchmark, deterministic, engines);
      uint64_t seed = 500;
      for (const ConvCase& c : cases) {
        const cyg::Conv2dShape s = shape_of(c);
        SCOPED_TRACE(::testing::Message() << "C " << s.C << " OC " << s.OC << " kernel " << s.KH << " stride "
                                          << c.stride);
        // Raw NHWC and KRSC buffers: random values whatever their layout.
        const Tensor dy = Tensor::uniform({s.N * s.OC * s.OH() * s.OW()}, -1, 1, seed += 10)
                              .to(cyg::DType::BF16)
                              .to(Device::cuda());
        const Tensor w = Tensor::uniform({s.OC * s.C * s.KH * s.KW}, -0.3, 0.3, seed + 1)
                             .to(cyg::DType::BF16)
                             .to(Device::cuda());
        const Tensor prior = Tensor::uniform({s.N * s.C * s.H * s.W}, -2, 2, seed + 2).to(cyg::DType::BF16);
        Tensor alone = Tensor::empty(prior.shape(), cyg::DType::BF16, Device::cuda());
        Tensor summed = prior.to(Device::cuda());
        const size_t bytes =
            cyg::cuda::conv2d_workspace_bytes_cudnn(s, cyg::ConvDirection::BackwardData, cyg::ConvData::BF16,
                                                    cyg::ConvLayout::NHWC);
        Tensor workspace = Tensor::empty({static_cast<int64_t>(bytes > 0 ? bytes : 1)}, cyg::DType::U8, Device::cuda());
        // The uploads ran on the engine's stream; the calls below use the default one.
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        cyg::cuda::conv2d_backward_data_cudnn(s, dy.data<uint16_t>(), w.data<uint16_t>(), alone.data<uint16_t>(),
                                              workspace.data_ptr(), bytes, nullptr, cyg::ConvLayout::NHWC, false);
        cyg::cuda::conv2d_backward_data_cudnn(s, dy.data<uint16_t>(), w.data<uint16_t>(), summed.data<uint16_t>(),
                                              workspace.data_ptr(), bytes, nullptr, cyg::ConvLayout::NHWC, true);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        const std::vector<float> a = alone.to(cyg::DType::F32).to_vector(), p = prior.to(cyg::DType::F32).to_vector(),
                                 got = summed.to(cyg::DType::F32).to_vector();
        std::vector<float> expected(a.size());
        for (size_t i = 0; i < a.size(); ++i) expected[i] = a[i] + p[i];
        // Two bf16 roundings apart at most (the gradient's, the sum's): 2^-7 of the larger.
        EXPECT_TRUE(cyg::test::all_close(got, expected, 1e-2, 8e-3));
      }
    }
}

// The latest reports of a shape's plan (data and layout as given), one per direction;
// fewer where it has none.
std::vector<cyg::ConvChoiceReport> latest_reports(const cyg::Conv2dShape& s, cyg::ConvData data,
                                                  cyg::ConvLayout layout) {
  std::vector<cyg::ConvChoiceReport> found;
  const std::vector<cyg::ConvChoiceReport> all = cyg::cuda::conv2d_choices();
  for (auto it = all.rbegin(); it != all.rend() && found.size() < 3; ++it)
    if (!(it->key.shape < s) && !(s < it->key.shape) && it->key.data == data && it->key.layout == layout)
      found.push_back(*it);
  return found;
}

// cuDNN's graph API engines, taken wherever one runs (ConvEngines::Graph): every case
// matches the CPU in strict FP32, searched and deterministic; ResNet-18's 64-channel
// shape runs an engine in all three directions (so that the comparison is of the
// engines, TF32 off: f32 engines without tensor cores); and under bf16 autocast channels-last the same shape matches the CPU's bf16
// twins within bf16's rounding.
TEST(ConvAutotune, GraphEnginesMatchTheCpu) {
  REQUIRE_GPU();
  uint64_t seed = 700;
  for (bool deterministic : {false, true}) {
    SCOPED_TRACE(deterministic ? "deterministic" : "fastest");
    const ConvSwitches switches(true, deterministic, cyg::ConvEngines::Graph);
    for (const ConvCase& c : kCases) expect_matches_cpu(c, seed += 10);
    // (With determinism asked for, an engine runs only where the heuristics' first ten
    // hold a deterministic one: the comparison above covers whichever ran.)
    if (deterministic) continue;
    const std::vector<cyg::ConvChoiceReport> reports =
        latest_reports(shape_of(kCases[3]), cyg::ConvData::F32, cyg::ConvLayout::NCHW);
    ASSERT_EQ(reports.size(), 3u);
    for (const cyg::ConvChoiceReport& r : reports)
      EXPECT_TRUE(r.choice.graph()) << cyg::conv_direction_name(r.key.direction) << " ran "
                                    << cyg::conv_choice_name(r.key.direction, r.choice) << "\n"
                                    << fn::cudnn_choices_table();
  }
  const ConvSwitches switches(true, false, cyg::ConvEngines::Graph);
  const ConvCase& c = kCases[3];
  ConvResult gpu, cpu;
  {
    const fn::AutocastBf16 bf16;
    const fn::ChannelsLast channels_last;
    gpu = run(c, Device::cuda(), 900);
    cpu = run(c, Device::cpu(), 900);
  }
  const std::vector<cyg::ConvChoiceReport> reports =
      latest_reports(shape_of(c), cyg::ConvData::BF16, cyg::ConvLayout::NHWC);
  ASSERT_EQ(reports.size(), 3u);
  for (const cyg::ConvChoiceReport& r : reports)
    EXPECT_TRUE(r.choice.graph()) << cyg::conv_direction_name(r.key.direction) << " (bf16) ran "
                                  << cyg::conv_choice_name(r.key.direction, r.choice);
  // Both round each result to bf16 once, after fp32 sums in different orders: 2^-7 of
  // the largest value covers a rounding step either way.
  const auto near = [](const Tensor& got, const Tensor& ref) {
    const std::vector<float> r = ref.to_vector();  // logical order, whatever the layout and type
    double scale = 1.0;
    for (float v : r) scale = std::max(scale, static_cast<double>(std::fabs(v)));
    return cyg::test::all_close(got.to_vector(), r, 8e-3 * scale, 8e-3);
  };
  EXPECT_TRUE(near(gpu.y, cpu.y)) << "forward";
  EXPECT_TRUE(near(gpu.dx, cpu.dx)) << "backward data";
  EXPECT_TRUE(near(gpu.dw, cpu.dw)) << "backward filter";
}

// An engine's choice is kept in the algorithm file with its knobs and its fallback
// algorithm, and a plan of the shape made later (here: under other settings, as a second
// run would be) builds the same engine again from the file, without a search. The file
// is written from a Graph search's reports (a Graph run does not write the file itself:
// its engines may be slower than the algorithms).
TEST(ConvAutotune, AFilesEngineIsBuiltAgainWithoutASearch) {
  REQUIRE_GPU();
  const cyg::test::ScratchDir dir("conv_engine_file");
  const std::string file = (dir.path() / "algorithms.txt").string();
  const ConvCase c{{4, 32, 12, 12}, {32, 32, 3, 3}, 1, 1, false};  // a shape no other test uses
  {
    const ConvSwitches switches(true, false, cyg::ConvEngines::Graph);
    expect_matches_cpu(c, 800);
  }
  cyg::ConvAlgoCache cache;
  std::vector<ConvDirection> with_engines;
  for (const cyg::ConvChoiceReport& r : latest_reports(shape_of(c), cyg::ConvData::F32, cyg::ConvLayout::NCHW)) {
    EXPECT_GE(r.choice.algorithm, 0) << "an engine's fallback algorithm";
    cache.insert(key_of(c, r.key.direction), r.choice);
    if (r.choice.graph()) with_engines.push_back(r.key.direction);
  }
  ASSERT_FALSE(with_engines.empty()) << "no engine was chosen, so none could be kept\n" << fn::cudnn_choices_table();
  cyg::write_file_atomically(file, cache.serialize());
  const cyg::ConvAlgoFile saved = cyg::read_conv_algo_file(file);
  ASSERT_EQ(saved.warning, "");
  const ConvSwitches switches(true, false, cyg::ConvEngines::Both);
  fn::set_cudnn_cache(file);
  const int64_t before = searches();
  expect_matches_cpu(c, 900);
  EXPECT_EQ(searches() - before, 0) << "searched although the file had the choices";
  for (const cyg::ConvChoiceReport& r : latest_reports(shape_of(c), cyg::ConvData::F32, cyg::ConvLayout::NCHW)) {
    if (std::find(with_engines.begin(), with_engines.end(), r.key.direction) == with_engines.end()) continue;
    SCOPED_TRACE(cyg::conv_direction_name(r.key.direction));
    EXPECT_EQ(r.source, "file");
    EXPECT_TRUE(r.choice == *saved.cache.find(key_of(c, r.key.direction)))
        << cyg::conv_choice_name(r.key.direction, r.choice) << " is not the file's engine\n"
        << fn::cudnn_choices_table();
  }
}

TEST(ConvAutotune, DeterministicAlgorithmsRepeatTheirBits) {
  REQUIRE_GPU();
  for (bool benchmark : {true, false}) {
    SCOPED_TRACE(benchmark ? "search" : "heuristics");
    const ConvSwitches switches(benchmark, true);
    const ConvCase& c = kCases[3];
    const ConvResult first = run(c, Device::cuda(), 5), second = run(c, Device::cuda(), 5);
    EXPECT_EQ(first.y.to_vector(), second.y.to_vector());
    EXPECT_EQ(first.dx.to_vector(), second.dx.to_vector());
    EXPECT_EQ(first.dw.to_vector(), second.dw.to_vector());
  }
}

TEST(ConvAutotune, ASecondCallOfAShapeDoesNotSearchAgain) {
  REQUIRE_GPU();
  const ConvSwitches switches(true, false);
  const ConvCase fresh{{2, 3, 11, 13}, {5, 3, 3, 3}, 1, 1, false};  // a shape no other test uses
  const int64_t before = searches();
  expect_matches_cpu(fresh, 100);
  EXPECT_EQ(searches() - before, 3) << "one search per direction";
  expect_matches_cpu(fresh, 200);
  EXPECT_EQ(searches() - before, 3) << "the second call searched again";
  fn::set_cudnn_benchmark(false);
  expect_matches_cpu({{2, 3, 13, 11}, {5, 3, 3, 3}, 1, 1, false}, 300);
  EXPECT_EQ(searches() - before, 3) << "the heuristics searched";
}

// Each search is reported: every candidate cuDNN's search ran is timed again by ours, and
// the choice is the usable candidate our timing found fastest (not cuDNN's first). The
// heuristics' choice is reported untimed. The report's table names each shape once per
// direction.
TEST(ConvAutotune, ASearchReportsItsCandidatesAndKeepsTheFastestByOurTiming) {
  REQUIRE_GPU();
  const ConvSwitches switches(true, false);
  const ConvCase fresh{{4, 16, 12, 10}, {24, 16, 3, 3}, 1, 1, false};  // shapes no other test uses
  const ConvCase heuristic{{4, 16, 10, 12}, {24, 16, 3, 3}, 1, 1, false};
  expect_matches_cpu(fresh, 500);
  fn::set_cudnn_benchmark(false);
  expect_matches_cpu(heuristic, 600);
  // The reports of one shape, whatever else this process planned.
  const auto reports_of = [](const ConvCase& c) {
    std::vector<cyg::ConvChoiceReport> found;
    for (const cyg::ConvChoiceReport& r : cyg::cuda::conv2d_choices())
      if (!(r.key.shape < shape_of(c)) && !(shape_of(c) < r.key.shape)) found.push_back(r);
    return found;
  };
  const std::vector<cyg::ConvChoiceReport> searched = reports_of(fresh), chosen_by_heuristics = reports_of(heuristic);
  ASSERT_EQ(searched.size(), 3u) << "one report per direction";
  ASSERT_EQ(chosen_by_heuristics.size(), 3u) << "one report per direction";
  for (const cyg::ConvChoiceReport& r : searched) {
    SCOPED_TRACE(cyg::conv_direction_name(r.key.direction));
    EXPECT_EQ(r.source, "search");
    ASSERT_GE(r.chosen, 0);
    ASSERT_LT(static_cast<size_t>(r.chosen), r.candidates.size());
    const cyg::ConvCandidate& chosen = r.candidates[static_cast<size_t>(r.chosen)];
    EXPECT_TRUE(chosen.usable);
    if (chosen.choice.graph()) {  // an engine, with the algorithm its unaligned calls run
      EXPECT_EQ(chosen.choice.engine, r.choice.engine);
      EXPECT_EQ(chosen.choice.knobs, r.choice.knobs);
      EXPECT_GE(r.choice.algorithm, 0);
    } else {
      EXPECT_EQ(chosen.choice.algorithm, r.choice.algorithm);
      EXPECT_EQ(chosen.choice.math_type, r.choice.math_type);
      EXPECT_FALSE(r.choice.graph());
    }
    EXPECT_GT(chosen.timed_ms, 0.0);
    for (const cyg::ConvCandidate& c : r.candidates)
      if (c.usable) {
        EXPECT_GT(c.timed_ms, 0.0) << "a usable candidate went untimed";
        EXPECT_LE(chosen.timed_ms, c.timed_ms) << cyg::conv_choice_name(r.key.direction, c.choice);
      }
  }
  // The graph API's engines were timed beside the algorithms (the default, Both).
  for (const cyg::ConvChoiceReport& r : searched) {
    size_t engines = 0;
    for (const cyg::ConvCandidate& c : r.candidates) engines += c.choice.graph() && c.usable ? 1 : 0;
    EXPECT_GT(engines, 0u) << cyg::conv_direction_name(r.key.direction) << ": no graph engine ran\n"
                           << fn::cudnn_choices_table();
  }
  for (const cyg::ConvChoiceReport& r : chosen_by_heuristics) {
    EXPECT_EQ(r.source, "heuristics");
    EXPECT_TRUE(r.candidates.empty());
  }
  const std::string table = fn::cudnn_choices_table();
  EXPECT_NE(table.find("4x16x12x10 > 24 3x3 s1 p1 f32 nchw"), std::string::npos) << table;
  EXPECT_NE(table.find("4x16x10x12 > 24 3x3 s1 p1 f32 nchw"), std::string::npos) << table;
}

// A convolution of a new shape inside a graph capture on a non-blocking stream (as the
// training step is captured): its search would synchronise and break the capture, so it
// is refused with the message that says what to do; the device works on after it.
TEST(ConvAutotune, ASearchInsideACaptureIsRefusedWithAMessage) {
  REQUIRE_GPU();
  const ConvSwitches switches(true, false);
  const Variable x(Tensor::uniform({2, 3, 7, 9}, -1, 1, 5).to(Device::cuda()));  // a shape no other test uses
  const Variable w(Tensor::uniform({4, 3, 3, 3}, -0.3, 0.3, 6).to(Device::cuda()));
  const cyg::Stream stream(Device::cuda(), true);
  cyg::Graph graph(stream);
  std::string error = "(no error)";
  try {
    graph.capture([&] { fn::conv2d(x, w, Variable(), 1, 1); });
  } catch (const std::exception& e) {
    error = e.what();
  }
  EXPECT_NE(error.find("inside a CUDA graph capture"), std::string::npos) << error;
  EXPECT_NE(error.find("run the step once eagerly"), std::string::npos) << error;
  expect_matches_cpu({{2, 3, 7, 9}, {4, 3, 3, 3}, 1, 1, false}, 400);
}

TEST(ConvAutotune, TheAlgorithmFileKeepsChoicesAcrossRuns) {
  REQUIRE_GPU();
  const cyg::test::ScratchDir dir("conv_autotune");
  const std::string file = (dir.path() / "algorithms.txt").string();
  // Algorithms alone, so that the file's lines are theirs (engines in the file:
  // AFilesEngineIsBuiltAgainWithoutASearch).
  const ConvSwitches switches(true, false, cyg::ConvEngines::Legacy);
  fn::set_cudnn_cache(file);

  // A search's choices are saved, one line per direction.
  const ConvCase searched{{2, 4, 10, 10}, {6, 4, 3, 3}, 1, 1, false};
  int64_t before = searches();
  expect_matches_cpu(searched, 400);
  EXPECT_EQ(searches() - before, 3);
  cyg::ConvAlgoFile saved = cyg::read_conv_algo_file(file);
  EXPECT_EQ(saved.warning, "");
  EXPECT_EQ(saved.cache.size(), 3u);
  for (ConvDirection d : {ConvDirection::Forward, ConvDirection::BackwardData, ConvDirection::BackwardFilter})
    EXPECT_NE(saved.cache.find(key_of(searched, d)), nullptr) << cyg::conv_direction_name(d);

  // A choice in the file is taken without a search: as a second run would, for a shape
  // this process has no plan for yet. (cuDNN's generic algorithms, in strict FP32.)
  const ConvCase known{{2, 4, 10, 10}, {6, 4, 3, 3}, 2, 1, false};
  saved.cache.insert(key_of(known, ConvDirection::Forward),
                     {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, CUDNN_FMA_MATH, 0});
  saved.cache.insert(key_of(known, ConvDirection::BackwardData), {CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, CUDNN_FMA_MATH, 0});
  saved.cache.insert(key_of(known, ConvDirection::BackwardFilter),
                     {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, CUDNN_FMA_MATH, 0});
  cyg::write_file_atomically(file, saved.cache.serialize());
  fn::set_cudnn_cache(file);
  before = searches();
  expect_matches_cpu(known, 500);
  EXPECT_EQ(searches() - before, 0) << "searched although the file had the choices";

  // A damaged file is ignored (with a warning on stderr): the next shape is searched,
  // and the file replaced with its choices.
  std::string damaged = saved.cache.serialize();
  damaged.resize(damaged.size() - 3);
  cyg::write_file_atomically(file, damaged);
  fn::set_cudnn_cache(file);
  const ConvCase after_damage{{2, 4, 10, 10}, {6, 4, 1, 1}, 1, 0, false};
  before = searches();
  expect_matches_cpu(after_damage, 600);
  EXPECT_EQ(searches() - before, 3);
  const cyg::ConvAlgoFile rewritten = cyg::read_conv_algo_file(file);
  EXPECT_EQ(rewritten.warning, "");
  EXPECT_EQ(rewritten.cache.size(), 3u);
  EXPECT_NE(rewritten.cache.find(key_of(after_damage, ConvDirection::Forward)), nullptr);
}

}  // namespace
