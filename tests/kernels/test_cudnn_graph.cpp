// kernels/cuda/cudnn_graph.cpp on a stand-in of cuDNN's backend API
// (tests/kernels/fake_cudnn_backend.h), without a GPU: the operation graph of each
// direction binds its tensors by role with the layout's strides, every attribute has the
// type and element count the backend reference gives it, the heuristics' engines come
// back in order with their notes and knobs, a plan runs with its tensors bound by id, an
// engine rebuilt on a beta-1 graph keeps its knobs, and nothing is left behind. What the
// real library does with them is for the GPU tests (test_conv_autotune_gpu.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/cuda/cudnn_graph.h"
#include "kernels/error.h"
#include "tests/kernels/fake_cudnn_backend.h"

namespace {

using cyg::ConvData;
using cyg::ConvDirection;
using cyg::ConvLayout;
using cyg::cuda::GraphConv;
using cyg::cuda::GraphConvPlan;
using cyg::cuda::GraphEngine;

const cudnnHandle_t kHandle = reinterpret_cast<cudnnHandle_t>(0x1000);
const cudnnHandle_t kOtherHandle = reinterpret_cast<cudnnHandle_t>(0x2000);

// Odd sizes, a stride of 2: OH = (5 + 2 - 3) / 2 + 1 = 3, OW = (7 + 2 - 3) / 2 + 1 = 4.
cyg::Conv2dShape shape() {
  cyg::Conv2dShape s;
  s.N = 2;
  s.C = 8;
  s.H = 5;
  s.W = 7;
  s.OC = 16;
  s.KH = 3;
  s.KW = 3;
  s.stride_h = s.stride_w = 2;
  s.pad_h = s.pad_w = 1;
  return s;
}

class CudnnGraph : public ::testing::Test {
 protected:
  void SetUp() override { fake_cudnn::reset(); }
  void TearDown() override { fake_cudnn::reset(); }
};

fake_cudnn::Engine engine(int64_t index, std::vector<cudnnBackendNumericalNote_t> notes = {},
                          std::vector<std::pair<cudnnBackendKnobType_t, int64_t>> knobs = {}) {
  return fake_cudnn::make_engine(index, 4096 * (index + 1), std::move(notes), std::move(knobs));
}

TEST_F(CudnnGraph, EachDirectionBindsItsTensorsByRoleWithTheLayoutsStrides) {
  const cyg::Conv2dShape s = shape();
  const struct {
    ConvDirection direction;
    cudnnBackendDescriptorType_t kind;
  } directions[] = {{ConvDirection::Forward, CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR},
                    {ConvDirection::BackwardData, CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR},
                    {ConvDirection::BackwardFilter, CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR}};
  for (const auto& d : directions)
    for (ConvLayout layout : {ConvLayout::NCHW, ConvLayout::NHWC}) {
      const ConvData data = layout == ConvLayout::NHWC ? ConvData::BF16 : ConvData::F32;
      SCOPED_TRACE(::testing::Message() << cyg::conv_direction_name(d.direction)
                                        << (layout == ConvLayout::NHWC ? ", nhwc bf16" : ", nchw f32"));
      const float beta = d.direction == ConvDirection::BackwardData ? 1.0f : 0.0f;
      const GraphConv graph(kHandle, s, data, layout, d.direction, beta);
      ASSERT_FALSE(fake_cudnn::state().convolutions.empty());
      const fake_cudnn::Convolution& c = fake_cudnn::state().convolutions.back();
      EXPECT_EQ(c.kind, d.kind);
      const cudnnDataType_t type = data == ConvData::BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
      for (const fake_cudnn::Tensor* t : {&c.x, &c.w, &c.y}) {
        EXPECT_EQ(t->type, type);
        EXPECT_EQ(t->alignment, 16);
      }
      EXPECT_EQ(c.x.uid, 1);
      EXPECT_EQ(c.w.uid, 2);
      EXPECT_EQ(c.y.uid, 3);
      EXPECT_EQ(c.x.dims, (std::vector<int64_t>{2, 8, 5, 7}));
      EXPECT_EQ(c.w.dims, (std::vector<int64_t>{16, 8, 3, 3}));
      EXPECT_EQ(c.y.dims, (std::vector<int64_t>{2, 16, 3, 4}));
      if (layout == ConvLayout::NHWC) {  // C fastest; a filter's KRSC
        EXPECT_EQ(c.x.strides, (std::vector<int64_t>{5 * 7 * 8, 1, 7 * 8, 8}));
        EXPECT_EQ(c.w.strides, (std::vector<int64_t>{3 * 3 * 8, 1, 3 * 8, 8}));
        EXPECT_EQ(c.y.strides, (std::vector<int64_t>{3 * 4 * 16, 1, 4 * 16, 16}));
      } else {
        EXPECT_EQ(c.x.strides, (std::vector<int64_t>{8 * 5 * 7, 5 * 7, 7, 1}));
        EXPECT_EQ(c.w.strides, (std::vector<int64_t>{8 * 3 * 3, 3 * 3, 3, 1}));
        EXPECT_EQ(c.y.strides, (std::vector<int64_t>{16 * 3 * 4, 3 * 4, 4, 1}));
      }
      EXPECT_EQ(c.strides, (std::vector<int64_t>{2, 2}));
      EXPECT_EQ(c.pre_paddings, (std::vector<int64_t>{1, 1}));
      EXPECT_EQ(c.post_paddings, (std::vector<int64_t>{1, 1}));
      EXPECT_EQ(c.dilations, (std::vector<int64_t>{1, 1}));
      EXPECT_EQ(c.compute, CUDNN_DATA_FLOAT);  // fp32 accumulation in either precision
      EXPECT_EQ(c.mode, CUDNN_CROSS_CORRELATION);
      EXPECT_EQ(c.alpha, 1.0f);
      EXPECT_EQ(c.beta, beta);
    }
}

TEST_F(CudnnGraph, EnginesComeInTheHeuristicsOrderWithTheirNotesAndKnobs) {
  fake_cudnn::Engine compiled = engine(9, {CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC, CUDNN_NUMERICAL_NOTE_FFT});
  compiled.behaviour = {CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION};
  fake_cudnn::Engine hidden = engine(4);
  hidden.undescribed = true;
  fake_cudnn::state().catalogue = {
      engine(5, {CUDNN_NUMERICAL_NOTE_TENSOR_CORE}, {{CUDNN_KNOB_TYPE_TILE_SIZE, 7}, {CUDNN_KNOB_TYPE_EDGE, 1}}),
      compiled, hidden,
      engine(2, {CUDNN_NUMERICAL_NOTE_TENSOR_CORE, CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS,
                 CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION})};
  GraphConv graph(kHandle, shape(), ConvData::BF16, ConvLayout::NHWC, ConvDirection::Forward, 0.0f);
  const std::vector<GraphEngine> listed = graph.engines(64);
  ASSERT_EQ(listed.size(), 4u);
  EXPECT_EQ(listed[0].global_index, 5);
  EXPECT_TRUE(listed[0].notes.tensor_core);
  EXPECT_FALSE(listed[0].notes.nondeterministic || listed[0].notes.runtime_compiled);
  EXPECT_EQ(listed[0].knobs_text(), std::to_string(CUDNN_KNOB_TYPE_TILE_SIZE) + "=7 " +
                                        std::to_string(CUDNN_KNOB_TYPE_EDGE) + "=1");
  EXPECT_EQ(listed[1].global_index, 9);
  EXPECT_TRUE(listed[1].notes.nondeterministic);
  EXPECT_TRUE(listed[1].notes.runtime_compiled);
  EXPECT_FALSE(listed[1].notes.tensor_core);
  EXPECT_EQ(listed[1].knobs_text(), "");
  // An engine cuDNN will not describe is listed as unusable; the others still are.
  EXPECT_EQ(listed[2].global_index, -1);
  EXPECT_EQ(listed[3].global_index, 2);
  EXPECT_TRUE(listed[3].notes.down_converts);
  EXPECT_TRUE(listed[3].notes.reduced_precision);
  EXPECT_EQ(graph.engines(2).size(), 2u) << "at most as many as asked";
  fake_cudnn::state().catalogue.clear();
  EXPECT_TRUE(graph.engines(64).empty());
}

TEST_F(CudnnGraph, APlanRunsWithItsTensorsBoundByIdAndTheWorkspace) {
  fake_cudnn::Engine refusing = engine(3);
  refusing.refuses_plan = true;
  fake_cudnn::state().catalogue = {engine(1, {}, {{CUDNN_KNOB_TYPE_TILE_SIZE, 4}}), refusing};
  GraphConv graph(kHandle, shape(), ConvData::F32, ConvLayout::NCHW, ConvDirection::BackwardFilter, 0.0f);
  ASSERT_EQ(graph.engines(10).size(), 2u);
  EXPECT_EQ(graph.plan_listed(1), nullptr) << "an engine that refuses the convolution has no plan";
  std::unique_ptr<GraphConvPlan> plan = graph.plan_listed(0);
  ASSERT_NE(plan, nullptr);
  EXPECT_EQ(plan->workspace_bytes(), 8192u);
  EXPECT_EQ(plan->handle(), kHandle);
  alignas(16) static float x[64], w[64], y[64], workspace[64];
  ASSERT_EQ(plan->run(kOtherHandle, x, w, y, workspace), CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(fake_cudnn::state().executions.size(), 1u);
  const fake_cudnn::Execution& e = fake_cudnn::state().executions[0];
  EXPECT_EQ(e.global_index, 1);
  EXPECT_EQ(e.handle, kOtherHandle);
  EXPECT_EQ(e.uids, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(e.pointers, (std::vector<void*>{x, w, y}));
  EXPECT_EQ(e.workspace, static_cast<void*>(workspace));
  EXPECT_EQ(e.knobs, (std::vector<std::pair<int64_t, int64_t>>{{CUDNN_KNOB_TYPE_TILE_SIZE, 4}}));
  // The same pointers again: the same variant pack; new ones: a new pack.
  EXPECT_EQ(fake_cudnn::state().variant_packs_made, 1);
  ASSERT_EQ(plan->run(kHandle, x, w, y, workspace), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(fake_cudnn::state().variant_packs_made, 1);
  ASSERT_EQ(plan->run(kHandle, y, w, x, workspace), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(fake_cudnn::state().variant_packs_made, 2);
  EXPECT_EQ(fake_cudnn::state().executions.back().pointers, (std::vector<void*>{y, w, x}));
  ASSERT_EQ(plan->run(kHandle, y, w, x, workspace + 4), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(fake_cudnn::state().variant_packs_made, 3) << "another workspace";
  EXPECT_EQ(fake_cudnn::state().executions.back().workspace, static_cast<void*>(workspace + 4));
  // The alignment the tensors were declared with: 16 bytes.
  EXPECT_TRUE(GraphConvPlan::accepts(x, w, y));
  EXPECT_FALSE(GraphConvPlan::accepts(x + 1, w, y));
  EXPECT_FALSE(GraphConvPlan::accepts(x, w, y + 2));
  EXPECT_TRUE(GraphConvPlan::accepts(x + 4, w + 8, y));
}

// Backward data's accumulating calls run the chosen engine on a graph with beta 1: the
// same engine, with the same knobs, or none where it refuses beta.
TEST_F(CudnnGraph, AnEngineRebuiltOnABetaOneGraphKeepsItsKnobs) {
  fake_cudnn::Engine no_beta = engine(6, {}, {{CUDNN_KNOB_TYPE_SWIZZLE, 2}});
  no_beta.refuses_beta = true;
  fake_cudnn::state().catalogue = {engine(8, {CUDNN_NUMERICAL_NOTE_TENSOR_CORE},
                                          {{CUDNN_KNOB_TYPE_TILE_SIZE, 3}, {CUDNN_KNOB_TYPE_SWIZZLE, 1}}),
                                   no_beta};
  GraphConv plain(kHandle, shape(), ConvData::BF16, ConvLayout::NHWC, ConvDirection::BackwardData, 0.0f);
  const std::vector<GraphEngine> listed = plain.engines(10);
  ASSERT_EQ(listed.size(), 2u);
  GraphConv adding(kHandle, shape(), ConvData::BF16, ConvLayout::NHWC, ConvDirection::BackwardData, 1.0f);
  std::unique_ptr<GraphConvPlan> rebuilt = adding.plan_rebuilt(listed[0]);
  ASSERT_NE(rebuilt, nullptr);
  alignas(16) static uint16_t dx[64], w[64], dy[64];
  static std::vector<char> workspace(rebuilt->workspace_bytes());
  EXPECT_EQ(rebuilt->run(kHandle, dx, w, dy, nullptr), CUDNN_STATUS_BAD_PARAM) << "a plan that needs a workspace";
  ASSERT_EQ(rebuilt->run(kHandle, dx, w, dy, workspace.data()), CUDNN_STATUS_SUCCESS);
  const fake_cudnn::Execution& e = fake_cudnn::state().executions.back();
  EXPECT_EQ(e.global_index, 8);
  EXPECT_EQ(e.beta, 1.0f);
  EXPECT_EQ(e.knobs, (std::vector<std::pair<int64_t, int64_t>>{{CUDNN_KNOB_TYPE_TILE_SIZE, 3},
                                                               {CUDNN_KNOB_TYPE_SWIZZLE, 1}}));
  EXPECT_EQ(e.pointers, (std::vector<void*>{dx, w, dy}));
  EXPECT_EQ(adding.plan_rebuilt(listed[1]), nullptr) << "an engine that refuses beta 1";
  ASSERT_NE(plain.plan_rebuilt(listed[1]), nullptr) << "the same engine on the beta-0 graph";
  GraphEngine unknown = listed[0];
  unknown.global_index = 77;
  EXPECT_EQ(adding.plan_rebuilt(unknown), nullptr) << "an engine cuDNN does not have";
}

TEST_F(CudnnGraph, AnAttributeCuDnnRefusesIsAnErrorNamingIt) {
  fake_cudnn::state().refused_attribute = CUDNN_ATTR_CONVOLUTION_CONV_MODE;
  std::string error = "(no error)";
  try {
    GraphConv graph(kHandle, shape(), ConvData::F32, ConvLayout::NCHW, ConvDirection::Forward, 0.0f);
  } catch (const cyg::Error& e) {
    error = e.what();
  }
  EXPECT_NE(error.find("CUDNN_ATTR_CONVOLUTION_CONV_MODE"), std::string::npos) << error;
  EXPECT_NE(error.find("CUDNN_STATUS_BAD_PARAM"), std::string::npos) << error;
  EXPECT_NE(error.find("refused by the test"), std::string::npos) << "cuDNN's own account: " << error;
  // An operation's attribute by its name too.
  fake_cudnn::state().refused_attribute = CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW;
  error = "(no error)";
  try {
    GraphConv graph(kHandle, shape(), ConvData::F32, ConvLayout::NCHW, ConvDirection::BackwardFilter, 0.0f);
  } catch (const cyg::Error& e) {
    error = e.what();
  }
  EXPECT_NE(error.find("CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW"), std::string::npos) << error;
}

// The plans keep the graph's descriptors alive; once all are gone, so are the descriptors.
TEST_F(CudnnGraph, NoDescriptorOutlivesItsOwners) {
  const int64_t before = fake_cudnn::state().live_descriptors;
  fake_cudnn::state().catalogue = {engine(1, {}, {{CUDNN_KNOB_TYPE_TILE_SIZE, 2}}), engine(2)};
  std::unique_ptr<GraphConvPlan> listed, rebuilt;
  {
    GraphConv graph(kHandle, shape(), ConvData::F32, ConvLayout::NHWC, ConvDirection::Forward, 0.0f);
    const std::vector<GraphEngine> engines = graph.engines(10);
    listed = graph.plan_listed(0);
    rebuilt = graph.plan_rebuilt(engines[1]);
    ASSERT_NE(listed, nullptr);
    ASSERT_NE(rebuilt, nullptr);
  }
  alignas(16) static float x[16], w[16], y[16];
  std::vector<char> workspace(std::max(listed->workspace_bytes(), rebuilt->workspace_bytes()));
  EXPECT_EQ(listed->run(kHandle, x, w, y, workspace.data()), CUDNN_STATUS_SUCCESS) << "its graph is kept alive";
  EXPECT_EQ(rebuilt->run(kHandle, x, w, y, workspace.data()), CUDNN_STATUS_SUCCESS);
  EXPECT_GT(fake_cudnn::state().live_descriptors, before);
  listed.reset();
  rebuilt.reset();
  EXPECT_EQ(fake_cudnn::state().live_descriptors, before);
}

}  // namespace
