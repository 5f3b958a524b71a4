// cuDNN's graph API for one convolution direction (kernels/cuda/cudnn_graph.h). Every
// call that must succeed is checked and names its attribute; the calls that may refuse
// a configuration (finalizing an engine, its configuration or its plan) give a null plan
// instead, as the legacy search marks an algorithm that does not run.
#include "kernels/cuda/cudnn_graph.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "kernels/cuda/check.h"
#include "kernels/error.h"

namespace cyg::cuda {
namespace {

// The unique ids the three tensors are bound by in every direction.
constexpr int64_t kUidX = 1, kUidW = 2, kUidY = 3;
// The alignment every tensor is declared with, in bytes.
constexpr int64_t kAlignment = 16;

// cuDNN's own account of its last error, where it keeps one.
std::string last_error() {
  char text[512] = {0};
  cudnnGetLastErrorString(text, sizeof text);
  return text[0] != '\0' ? std::string(": ") + text : std::string();
}

[[noreturn]] void refused(cudnnStatus_t status, const char* what, const char* file, int line) {
  throw_error("cuDNN", std::string(cudnnGetErrorString(status)) + last_error(), what, file, line);
}

// A checked call that names what it set or asked for.
#define CYG_BACKEND_CHECK(expr, what)                      \
  do {                                                     \
    const cudnnStatus_t cyg_status_ = (expr);              \
    if (cyg_status_ != CUDNN_STATUS_SUCCESS) refused(cyg_status_, what, __FILE__, __LINE__); \
  } while (0)

void set(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type,
         int64_t count, const void* values, const char* what) {
  CYG_BACKEND_CHECK(cudnnBackendSetAttribute(d, name, type, count, values), what);
}
void set_descriptor(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name, cudnnBackendDescriptor_t value,
                    const char* what) {
  set(d, name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &value, what);
}
void set_int64s(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name, const std::vector<int64_t>& values,
                const char* what) {
  set(d, name, CUDNN_TYPE_INT64, static_cast<int64_t>(values.size()), values.data(), what);
}

// Dimensions in cuDNN's logical order (N, C, H, W; a filter's K, C, R, S) with the
// strides of the layout: NCHW (KCRS), or channels last (NHWC, KRSC).
std::vector<int64_t> strides(ConvLayout layout, int64_t c, int64_t h, int64_t w) {
  if (layout == ConvLayout::NHWC) return {h * w * c, 1, w * c, c};
  return {c * h * w, h * w, w, 1};
}

std::unique_ptr<BackendDescriptor> tensor(int64_t uid, ConvData data, ConvLayout layout, int64_t n, int64_t c,
                                          int64_t h, int64_t w) {
  auto t = std::make_unique<BackendDescriptor>(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  const cudnnDataType_t type = cudnn_type(data);
  set(t->get(), CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type, "CUDNN_ATTR_TENSOR_DATA_TYPE");
  set_int64s(t->get(), CUDNN_ATTR_TENSOR_DIMENSIONS, {n, c, h, w}, "CUDNN_ATTR_TENSOR_DIMENSIONS");
  set_int64s(t->get(), CUDNN_ATTR_TENSOR_STRIDES, strides(layout, c, h, w), "CUDNN_ATTR_TENSOR_STRIDES");
  set_int64s(t->get(), CUDNN_ATTR_TENSOR_UNIQUE_ID, {uid}, "CUDNN_ATTR_TENSOR_UNIQUE_ID");
  set_int64s(t->get(), CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, {kAlignment}, "CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT");
  CYG_BACKEND_CHECK(cudnnBackendFinalize(t->get()), "cudnnBackendFinalize(tensor)");
  return t;
}

// How many elements an attribute holds (an array asked for with none requested).
int64_t element_count(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name,
                      cudnnBackendAttributeType_t type, const char* what) {
  int64_t n = 0;
  CYG_BACKEND_CHECK(cudnnBackendGetAttribute(d, name, type, 0, &n, nullptr), what);
  return n;
}

// An attribute with the name an error gives it.
struct NamedAttribute {
  cudnnBackendAttributeName_t name;
  const char* text;
};
#define CYG_NAMED(attribute) \
  NamedAttribute { attribute, #attribute }

// A direction's operation: its descriptor type and the attributes of its tensors by role
// (x: X or DX, w: W or DW, y: Y or DY), its convolution, alpha and beta.
struct OperationAttributes {
  cudnnBackendDescriptorType_t type;
  NamedAttribute x, w, y, conv, alpha, beta;
};

const OperationAttributes& operation_attributes(ConvDirection direction) {
  static const OperationAttributes forward{CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR,
                                           CYG_NAMED(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X),
                                           CYG_NAMED(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W),
                                           CYG_NAMED(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y),
                                           CYG_NAMED(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC),
                                           CYG_NAMED(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA),
                                           CYG_NAMED(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA)};
  static const OperationAttributes data{CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR,
                                        CYG_NAMED(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX),
                                        CYG_NAMED(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W),
                                        CYG_NAMED(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY),
                                        CYG_NAMED(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC),
                                        CYG_NAMED(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA),
                                        CYG_NAMED(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA)};
  static const OperationAttributes filter{CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR,
                                          CYG_NAMED(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X),
                                          CYG_NAMED(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW),
                                          CYG_NAMED(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY),
                                          CYG_NAMED(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC),
                                          CYG_NAMED(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA),
                                          CYG_NAMED(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA)};
  return direction == ConvDirection::Forward ? forward : direction == ConvDirection::BackwardData ? data : filter;
}

bool has_note(const std::vector<cudnnBackendNumericalNote_t>& notes, cudnnBackendNumericalNote_t note) {
  for (cudnnBackendNumericalNote_t n : notes)
    if (n == note) return true;
  return false;
}

}  // namespace

BackendDescriptor::BackendDescriptor(cudnnBackendDescriptorType_t type) {
  CYG_BACKEND_CHECK(cudnnBackendCreateDescriptor(type, &d_), "cudnnBackendCreateDescriptor");
}

BackendDescriptor::~BackendDescriptor() {
  if (d_ != nullptr) cudnnBackendDestroyDescriptor(d_);
}

std::string GraphEngine::knobs_text() const { return conv_knobs_text(knobs); }

bool GraphConvPlan::accepts(const void* x, const void* w, const void* y) {
  for (const void* p : {x, w, y})
    if (reinterpret_cast<uintptr_t>(p) % static_cast<uintptr_t>(kAlignment) != 0) return false;
  return true;
}

cudnnStatus_t GraphConvPlan::run(cudnnHandle_t handle, const void* x, const void* w, const void* y,
                                 void* workspace) const {
  const void* now[4] = {x, w, y, workspace};
  if (!pack_ || !std::equal(now, now + 4, packed_)) {
    pack_.reset();  // a pack half made is not kept
    auto pack = std::make_unique<BackendDescriptor>(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
    const int64_t uids[3] = {kUidX, kUidW, kUidY};
    void* pointers[3] = {const_cast<void*>(x), const_cast<void*>(w), const_cast<void*>(y)};
    set(pack->get(), CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 3, uids,
        "CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS");
    set(pack->get(), CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 3, pointers,
        "CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS");
    set(pack->get(), CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace,
        "CUDNN_ATTR_VARIANT_PACK_WORKSPACE");
    CYG_BACKEND_CHECK(cudnnBackendFinalize(pack->get()), "cudnnBackendFinalize(variant pack)");
    pack_ = std::move(pack);
    std::copy(now, now + 4, packed_);
  }
  return cudnnBackendExecute(handle, plan_->get(), pack_->get());
}

GraphConv::GraphConv(cudnnHandle_t handle, const Conv2dShape& s, ConvData data, ConvLayout layout,
                     ConvDirection direction, float beta)
    : handle_(handle), graph_parts_(std::make_shared<std::vector<std::unique_ptr<BackendDescriptor>>>()) {
  auto& parts = *graph_parts_;
  parts.push_back(tensor(kUidX, data, layout, s.N, s.C, s.H, s.W));
  parts.push_back(tensor(kUidW, data, layout, s.OC, s.C, s.KH, s.KW));
  parts.push_back(tensor(kUidY, data, layout, s.N, s.OC, s.OH(), s.OW()));
  const cudnnBackendDescriptor_t x = parts[0]->get(), w = parts[1]->get(), y = parts[2]->get();

  auto conv = std::make_unique<BackendDescriptor>(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
  const int64_t spatial = 2;
  const cudnnDataType_t compute = CUDNN_DATA_FLOAT;
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  set_int64s(conv->get(), CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, {spatial}, "CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS");
  set(conv->get(), CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &compute,
      "CUDNN_ATTR_CONVOLUTION_COMP_TYPE");
  set(conv->get(), CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode,
      "CUDNN_ATTR_CONVOLUTION_CONV_MODE");
  set_int64s(conv->get(), CUDNN_ATTR_CONVOLUTION_DILATIONS, {1, 1}, "CUDNN_ATTR_CONVOLUTION_DILATIONS");
  set_int64s(conv->get(), CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, {s.stride_h, s.stride_w},
             "CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES");
  set_int64s(conv->get(), CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, {s.pad_h, s.pad_w},
             "CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS");
  set_int64s(conv->get(), CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, {s.pad_h, s.pad_w},
             "CUDNN_ATTR_CONVOLUTION_POST_PADDINGS");
  CYG_BACKEND_CHECK(cudnnBackendFinalize(conv->get()), "cudnnBackendFinalize(convolution)");

  // The node: its tensors by role, the convolution, and alpha = 1 and beta as float (the
  // compute type's).
  const OperationAttributes& a = operation_attributes(direction);
  const float alpha = 1.0f;
  auto op = std::make_unique<BackendDescriptor>(a.type);
  const std::pair<NamedAttribute, cudnnBackendDescriptor_t> bound[] = {
      {a.x, x}, {a.w, w}, {a.y, y}, {a.conv, conv->get()}};
  for (const auto& [attribute, value] : bound) set_descriptor(op->get(), attribute.name, value, attribute.text);
  set(op->get(), a.alpha.name, CUDNN_TYPE_FLOAT, 1, &alpha, a.alpha.text);
  set(op->get(), a.beta.name, CUDNN_TYPE_FLOAT, 1, &beta, a.beta.text);
  CYG_BACKEND_CHECK(cudnnBackendFinalize(op->get()), "cudnnBackendFinalize(convolution operation)");

  auto graph = std::make_unique<BackendDescriptor>(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  const cudnnBackendDescriptor_t ops = op->get();
  set(graph->get(), CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &ops,
      "CUDNN_ATTR_OPERATIONGRAPH_OPS");
  set(graph->get(), CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle_,
      "CUDNN_ATTR_OPERATIONGRAPH_HANDLE");
  CYG_BACKEND_CHECK(cudnnBackendFinalize(graph->get()), "cudnnBackendFinalize(operation graph)");
  graph_ = graph->get();
  parts.push_back(std::move(conv));
  parts.push_back(std::move(op));
  parts.push_back(std::move(graph));
}

std::vector<GraphEngine> GraphConv::engines(int most) {
  BackendDescriptor heuristics(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  const cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_A;
  set_descriptor(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph_, "CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH");
  set(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode, "CUDNN_ATTR_ENGINEHEUR_MODE");
  CYG_BACKEND_CHECK(cudnnBackendFinalize(heuristics.get()), "cudnnBackendFinalize(engine heuristics)");
  const int64_t listed = element_count(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                       CUDNN_TYPE_BACKEND_DESCRIPTOR, "CUDNN_ATTR_ENGINEHEUR_RESULTS (count)");
  const int64_t wanted = std::min<int64_t>(listed, most);
  configs_.clear();
  std::vector<cudnnBackendDescriptor_t> raw;
  for (int64_t i = 0; i < wanted; ++i) {
    configs_.push_back(std::make_shared<BackendDescriptor>(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR));
    raw.push_back(configs_.back()->get());
  }
  int64_t got = 0;
  if (wanted > 0)
    CYG_BACKEND_CHECK(cudnnBackendGetAttribute(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                               CUDNN_TYPE_BACKEND_DESCRIPTOR, wanted, &got, raw.data()),
                      "CUDNN_ATTR_ENGINEHEUR_RESULTS");
  configs_.resize(static_cast<size_t>(std::min(got, wanted)));

  std::vector<GraphEngine> engines;
  for (const auto& config : configs_) {
    engines.push_back(describe(config->get()));
  }
  return engines;
}

GraphEngine GraphConv::describe(cudnnBackendDescriptor_t config) {
  GraphEngine e;
  try {
    BackendDescriptor engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
    cudnnBackendDescriptor_t engine_raw = engine.get();
    int64_t n = 0;
    CYG_BACKEND_CHECK(cudnnBackendGetAttribute(config, CUDNN_ATTR_ENGINECFG_ENGINE,
                                               CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &engine_raw),
                      "CUDNN_ATTR_ENGINECFG_ENGINE");
    CYG_BACKEND_CHECK(cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &n,
                                               &e.global_index),
                      "CUDNN_ATTR_ENGINE_GLOBAL_INDEX");
    std::vector<cudnnBackendNumericalNote_t> notes(CUDNN_NUMERICAL_NOTE_TYPE_COUNT);
    CYG_BACKEND_CHECK(cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_NUMERICAL_NOTE,
                                               CUDNN_TYPE_NUMERICAL_NOTE, static_cast<int64_t>(notes.size()), &n,
                                               notes.data()),
                      "CUDNN_ATTR_ENGINE_NUMERICAL_NOTE");
    notes.resize(static_cast<size_t>(std::min<int64_t>(n, static_cast<int64_t>(notes.size()))));
    e.notes.tensor_core = has_note(notes, CUDNN_NUMERICAL_NOTE_TENSOR_CORE);
    e.notes.nondeterministic = has_note(notes, CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC);
    e.notes.down_converts = has_note(notes, CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS);
    e.notes.reduced_precision = has_note(notes, CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION);
    std::vector<cudnnBackendBehaviorNote_t> behaviour(CUDNN_BEHAVIOR_NOTE_TYPE_COUNT);
    CYG_BACKEND_CHECK(cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE,
                                               CUDNN_TYPE_BEHAVIOR_NOTE, static_cast<int64_t>(behaviour.size()), &n,
                                               behaviour.data()),
                      "CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE");
    for (int64_t i = 0; i < n && i < static_cast<int64_t>(behaviour.size()); ++i)
      if (behaviour[static_cast<size_t>(i)] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION) e.notes.runtime_compiled = true;

    std::vector<std::unique_ptr<BackendDescriptor>> choices;
    std::vector<cudnnBackendDescriptor_t> choices_raw;
    for (int i = 0; i < CUDNN_KNOB_TYPE_COUNTS; ++i) {
      choices.push_back(std::make_unique<BackendDescriptor>(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR));
      choices_raw.push_back(choices.back()->get());
    }
    CYG_BACKEND_CHECK(cudnnBackendGetAttribute(config, CUDNN_ATTR_ENGINECFG_KNOB_CHOICES,
                                               CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                               static_cast<int64_t>(choices_raw.size()), &n, choices_raw.data()),
                      "CUDNN_ATTR_ENGINECFG_KNOB_CHOICES");
    for (int64_t i = 0; i < n && i < static_cast<int64_t>(choices.size()); ++i) {
      cudnnBackendKnobType_t type{};
      int64_t value = 0, m = 0;
      CYG_BACKEND_CHECK(cudnnBackendGetAttribute(choices_raw[static_cast<size_t>(i)], CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE,
                                                 CUDNN_TYPE_KNOB_TYPE, 1, &m, &type),
                        "CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE");
      CYG_BACKEND_CHECK(cudnnBackendGetAttribute(choices_raw[static_cast<size_t>(i)], CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE,
                                                 CUDNN_TYPE_INT64, 1, &m, &value),
                        "CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE");
      e.knobs.emplace_back(static_cast<int64_t>(type), value);
    }
  } catch (const Error&) {
    return GraphEngine{};  // not described: not used (the others still are)
  }
  return e;
}

std::unique_ptr<GraphConvPlan> GraphConv::finish(std::vector<std::shared_ptr<BackendDescriptor>> config) {
  auto plan = std::make_unique<GraphConvPlan>();
  plan->graph_ = graph_parts_;
  plan->handle_ = handle_;
  plan->plan_ = std::make_unique<BackendDescriptor>(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
  const cudnnBackendDescriptor_t config_raw = config.back()->get();
  set(plan->plan_->get(), CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle_,
      "CUDNN_ATTR_EXECUTION_PLAN_HANDLE");
  set_descriptor(plan->plan_->get(), CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, config_raw,
                 "CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG");
  // An engine may refuse this convolution at this point: not an error, no plan.
  if (cudnnBackendFinalize(plan->plan_->get()) != CUDNN_STATUS_SUCCESS) return nullptr;
  int64_t bytes = 0, n = 0;
  CYG_BACKEND_CHECK(cudnnBackendGetAttribute(plan->plan_->get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                             CUDNN_TYPE_INT64, 1, &n, &bytes),
                    "CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE");
  if (bytes < 0) return nullptr;
  plan->workspace_ = static_cast<size_t>(bytes);
  plan->config_ = std::move(config);
  return plan;
}

std::unique_ptr<GraphConvPlan> GraphConv::plan_listed(size_t index) {
  CYG_CHECK(index < configs_.size(), "graph engine configuration ", index, " of ", configs_.size());
  return finish({configs_[index]});
}

std::unique_ptr<GraphConvPlan> GraphConv::plan_rebuilt(const GraphEngine& wanted) {
  std::vector<std::shared_ptr<BackendDescriptor>> parts;
  auto engine = std::make_shared<BackendDescriptor>(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  set_descriptor(engine->get(), CUDNN_ATTR_ENGINE_OPERATION_GRAPH, graph_, "CUDNN_ATTR_ENGINE_OPERATION_GRAPH");
  set(engine->get(), CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &wanted.global_index,
      "CUDNN_ATTR_ENGINE_GLOBAL_INDEX");
  if (cudnnBackendFinalize(engine->get()) != CUDNN_STATUS_SUCCESS) return nullptr;
  parts.push_back(engine);
  std::vector<cudnnBackendDescriptor_t> choices;
  for (const auto& [type, value] : wanted.knobs) {
    auto choice = std::make_shared<BackendDescriptor>(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR);
    const cudnnBackendKnobType_t knob = static_cast<cudnnBackendKnobType_t>(type);
    set(choice->get(), CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE, CUDNN_TYPE_KNOB_TYPE, 1, &knob,
        "CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE");
    set(choice->get(), CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE, CUDNN_TYPE_INT64, 1, &value,
        "CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE");
    if (cudnnBackendFinalize(choice->get()) != CUDNN_STATUS_SUCCESS) return nullptr;
    parts.push_back(choice);
    choices.push_back(choice->get());
  }
  auto config = std::make_shared<BackendDescriptor>(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
  set_descriptor(config->get(), CUDNN_ATTR_ENGINECFG_ENGINE, engine->get(), "CUDNN_ATTR_ENGINECFG_ENGINE");
  if (!choices.empty())
    set(config->get(), CUDNN_ATTR_ENGINECFG_KNOB_CHOICES, CUDNN_TYPE_BACKEND_DESCRIPTOR,
        static_cast<int64_t>(choices.size()), choices.data(), "CUDNN_ATTR_ENGINECFG_KNOB_CHOICES");
  if (cudnnBackendFinalize(config->get()) != CUDNN_STATUS_SUCCESS) return nullptr;
  parts.push_back(config);
  return finish(std::move(parts));
}

}  // namespace cyg::cuda
