// The stand-in of tests/kernels/fake_cudnn_backend.h. Each descriptor type lists its
// attributes with the type and element count the backend reference gives them (an
// element count of -1: any number), and whether finalize needs them.
#include "tests/kernels/fake_cudnn_backend.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <tuple>

namespace fake_cudnn {
namespace {

struct Rule {
  cudnnBackendAttributeType_t type;
  int64_t count;  // -1: any
  bool required;
  // For descriptor values: the type each must be (-1: any).
  int descriptor_type = -1;
};

using Key = std::pair<int, int>;  // (descriptor type, attribute)

const std::map<Key, Rule>& rules() {
  using T = cudnnBackendAttributeType_t;
  static const std::map<Key, Rule> r = [] {
    std::map<Key, Rule> m;
    const auto add = [&](cudnnBackendDescriptorType_t d, cudnnBackendAttributeName_t a, T t, int64_t n, bool req,
                         int desc = -1) { m[{d, a}] = Rule{t, n, req, desc}; };
    const auto D = CUDNN_TYPE_BACKEND_DESCRIPTOR;
    add(CUDNN_BACKEND_TENSOR_DESCRIPTOR, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, true);
    add(CUDNN_BACKEND_TENSOR_DESCRIPTOR, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, -1, true);
    add(CUDNN_BACKEND_TENSOR_DESCRIPTOR, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, -1, true);
    add(CUDNN_BACKEND_TENSOR_DESCRIPTOR, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, true);
    add(CUDNN_BACKEND_TENSOR_DESCRIPTOR, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, true);
    const auto C = CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR;
    add(C, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, true);
    add(C, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, true);
    add(C, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, true);
    add(C, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, -1, true);
    add(C, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, -1, true);
    add(C, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, -1, true);
    add(C, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, -1, true);
    const int tensor = CUDNN_BACKEND_TENSOR_DESCRIPTOR, conv = CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR;
    const auto F = CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR;
    add(F, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, D, 1, true, tensor);
    add(F, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, D, 1, true, tensor);
    add(F, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, D, 1, true, tensor);
    add(F, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, D, 1, true, conv);
    add(F, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, false);
    add(F, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, false);
    const auto BD = CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR;
    add(BD, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX, D, 1, true, tensor);
    add(BD, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W, D, 1, true, tensor);
    add(BD, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY, D, 1, true, tensor);
    add(BD, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC, D, 1, true, conv);
    add(BD, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA, CUDNN_TYPE_FLOAT, 1, false);
    add(BD, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA, CUDNN_TYPE_FLOAT, 1, false);
    const auto BF = CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR;
    add(BF, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X, D, 1, true, tensor);
    add(BF, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW, D, 1, true, tensor);
    add(BF, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY, D, 1, true, tensor);
    add(BF, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC, D, 1, true, conv);
    add(BF, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA, CUDNN_TYPE_FLOAT, 1, false);
    add(BF, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA, CUDNN_TYPE_FLOAT, 1, false);
    const auto G = CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR;
    add(G, CUDNN_ATTR_OPERATIONGRAPH_OPS, D, -1, true);
    add(G, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, true);
    add(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, D, 1, true, G);
    add(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, true);
    add(CUDNN_BACKEND_ENGINE_DESCRIPTOR, CUDNN_ATTR_ENGINE_OPERATION_GRAPH, D, 1, true, G);
    add(CUDNN_BACKEND_ENGINE_DESCRIPTOR, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, true);
    add(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, CUDNN_ATTR_ENGINECFG_ENGINE, D, 1, true, CUDNN_BACKEND_ENGINE_DESCRIPTOR);
    add(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, CUDNN_ATTR_ENGINECFG_KNOB_CHOICES, D, -1, false,
        CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR);
    add(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR, CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE, CUDNN_TYPE_KNOB_TYPE, 1, true);
    add(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR, CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE, CUDNN_TYPE_INT64, 1, true);
    add(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, true);
    add(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, D, 1, true,
        CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
    const auto V = CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR;
    add(V, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, -1, true);
    add(V, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, -1, true);
    add(V, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, false);
    return m;
  }();
  return r;
}

size_t element_size(cudnnBackendAttributeType_t t) {
  switch (t) {
    case CUDNN_TYPE_HANDLE:
    case CUDNN_TYPE_VOID_PTR:
    case CUDNN_TYPE_BACKEND_DESCRIPTOR: return sizeof(void*);
    case CUDNN_TYPE_INT64: return sizeof(int64_t);
    case CUDNN_TYPE_FLOAT: return sizeof(float);
    case CUDNN_TYPE_DATA_TYPE: return sizeof(cudnnDataType_t);
    case CUDNN_TYPE_CONVOLUTION_MODE: return sizeof(cudnnConvolutionMode_t);
    case CUDNN_TYPE_HEUR_MODE: return sizeof(cudnnBackendHeurMode_t);
    case CUDNN_TYPE_KNOB_TYPE: return sizeof(cudnnBackendKnobType_t);
    case CUDNN_TYPE_NUMERICAL_NOTE: return sizeof(cudnnBackendNumericalNote_t);
    case CUDNN_TYPE_BEHAVIOR_NOTE: return sizeof(cudnnBackendBehaviorNote_t);
    default: return 0;
  }
}

struct Value {
  cudnnBackendAttributeType_t type{};
  int64_t count = 0;
  std::vector<unsigned char> bytes;
  template <typename V>
  V at(int64_t i) const {
    V v;
    std::memcpy(&v, bytes.data() + static_cast<size_t>(i) * sizeof(V), sizeof(V));
    return v;
  }
};

struct Desc {
  cudnnBackendDescriptorType_t type{};
  bool finalized = false;
  std::map<int, Value> attrs;
  // Filled at finalize, or where a result is asked into the descriptor:
  std::vector<Engine> results;  // heuristics
  Engine engine;                // engine, configuration, plan
  std::vector<std::pair<cudnnBackendKnobType_t, int64_t>> knobs;  // configuration
  const Desc* graph = nullptr;  // engine, configuration: the graph
  Convolution conv;             // an operation
};

Desc* as(cudnnBackendDescriptor_t d) { return reinterpret_cast<Desc*>(d); }
std::string g_last_error;

cudnnStatus_t fail(cudnnStatus_t status, const std::string& why) {
  g_last_error = why;
  if (state().on_failure) state().on_failure();
  return status;
}

const Value* find(const Desc& d, cudnnBackendAttributeName_t a) {
  const auto it = d.attrs.find(a);
  return it == d.attrs.end() ? nullptr : &it->second;
}
const Desc* descriptor(const Desc& d, cudnnBackendAttributeName_t a) {
  const Value* v = find(d, a);
  return v == nullptr ? nullptr : as(v->at<cudnnBackendDescriptor_t>(0));
}
std::vector<int64_t> int64s(const Desc& d, cudnnBackendAttributeName_t a) {
  std::vector<int64_t> out;
  if (const Value* v = find(d, a))
    for (int64_t i = 0; i < v->count; ++i) out.push_back(v->at<int64_t>(i));
  return out;
}
Tensor tensor_of(const Desc* t) {
  Tensor out;
  out.uid = int64s(*t, CUDNN_ATTR_TENSOR_UNIQUE_ID).at(0);
  out.alignment = int64s(*t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT).at(0);
  out.type = find(*t, CUDNN_ATTR_TENSOR_DATA_TYPE)->at<cudnnDataType_t>(0);
  out.dims = int64s(*t, CUDNN_ATTR_TENSOR_DIMENSIONS);
  out.strides = int64s(*t, CUDNN_ATTR_TENSOR_STRIDES);
  return out;
}

// The operation of a graph, and its beta.
const Desc* operation_of(const Desc* graph) { return descriptor(*graph, CUDNN_ATTR_OPERATIONGRAPH_OPS); }

cudnnStatus_t finalize_operation(Desc& d) {
  const bool fwd = d.type == CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR,
             data = d.type == CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR;
  const auto pick = [&](cudnnBackendAttributeName_t f, cudnnBackendAttributeName_t bd, cudnnBackendAttributeName_t bf) {
    return fwd ? f : data ? bd : bf;
  };
  Convolution& c = d.conv;
  c.kind = d.type;
  c.x = tensor_of(descriptor(d, pick(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX,
                                     CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X)));
  c.w = tensor_of(descriptor(d, pick(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W,
                                     CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW)));
  c.y = tensor_of(descriptor(d, pick(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY,
                                     CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY)));
  if (c.x.uid == c.w.uid || c.x.uid == c.y.uid || c.w.uid == c.y.uid)
    return fail(CUDNN_STATUS_BAD_PARAM, "two tensors of one operation share a unique id");
  const Desc* conv = descriptor(d, pick(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC,
                                        CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC,
                                        CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC));
  c.strides = int64s(*conv, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES);
  c.pre_paddings = int64s(*conv, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS);
  c.post_paddings = int64s(*conv, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS);
  c.dilations = int64s(*conv, CUDNN_ATTR_CONVOLUTION_DILATIONS);
  c.compute = find(*conv, CUDNN_ATTR_CONVOLUTION_COMP_TYPE)->at<cudnnDataType_t>(0);
  c.mode = find(*conv, CUDNN_ATTR_CONVOLUTION_CONV_MODE)->at<cudnnConvolutionMode_t>(0);
  const Value* alpha = find(d, pick(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA,
                                    CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA,
                                    CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA));
  const Value* beta = find(d, pick(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA,
                                   CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA,
                                   CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA));
  c.alpha = alpha ? alpha->at<float>(0) : 1.0f;
  c.beta = beta ? beta->at<float>(0) : 0.0f;
  state().convolutions.push_back(c);
  return CUDNN_STATUS_SUCCESS;
}

const Engine* catalogued(int64_t index) {
  for (const Engine& e : state().catalogue)
    if (e.global_index == index) return &e;
  return nullptr;
}

}  // namespace

State& state() {
  static State s;
  return s;
}

void reset() {
  const int64_t live = state().live_descriptors;
  state() = State{};
  state().live_descriptors = live;
}

}  // namespace fake_cudnn

using fake_cudnn::Desc;
using fake_cudnn::state;

extern "C" {

const char* cudnnGetErrorString(cudnnStatus_t status) {
  switch (status) {
    case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
    case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
    case CUDNN_STATUS_ALLOC_FAILED: return "CUDNN_STATUS_ALLOC_FAILED";
    case CUDNN_STATUS_INTERNAL_ERROR: return "CUDNN_STATUS_INTERNAL_ERROR";
    case CUDNN_STATUS_EXECUTION_FAILED: return "CUDNN_STATUS_EXECUTION_FAILED";
    default: return "CUDNN_STATUS_(other)";
  }
}

void cudnnGetLastErrorString(char* message, size_t max_size) {
  if (max_size == 0) return;
  std::strncpy(message, fake_cudnn::g_last_error.c_str(), max_size - 1);
  message[max_size - 1] = '\0';
  fake_cudnn::g_last_error.clear();
}

cudnnStatus_t cudnnBackendCreateDescriptor(cudnnBackendDescriptorType_t type, cudnnBackendDescriptor_t* descriptor) {
  auto* d = new Desc;
  d->type = type;
  *descriptor = reinterpret_cast<cudnnBackendDescriptor_t>(d);
  ++state().live_descriptors;
  if (type == CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR) ++state().variant_packs_made;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnBackendDestroyDescriptor(cudnnBackendDescriptor_t descriptor) {
  delete fake_cudnn::as(descriptor);
  --state().live_descriptors;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnBackendInitialize(cudnnBackendDescriptor_t) { return CUDNN_STATUS_NOT_SUPPORTED; }

cudnnStatus_t cudnnBackendSetAttribute(cudnnBackendDescriptor_t descriptor, cudnnBackendAttributeName_t name,
                                       cudnnBackendAttributeType_t type, int64_t count, const void* values) {
  using namespace fake_cudnn;
  Desc& d = *as(descriptor);
  const std::string what = "attribute " + std::to_string(name) + " of descriptor type " + std::to_string(d.type);
  if (d.finalized) return fail(CUDNN_STATUS_BAD_PARAM, what + ": set after finalize");
  if (static_cast<int>(name) == state().refused_attribute) return fail(CUDNN_STATUS_BAD_PARAM, what + ": refused by the test");
  const auto rule = rules().find({d.type, name});
  if (rule == rules().end()) return fail(CUDNN_STATUS_BAD_PARAM, what + ": not an attribute of this type");
  if (rule->second.type != type)
    return fail(CUDNN_STATUS_BAD_PARAM, what + ": type " + std::to_string(type) + ", expected " +
                                            std::to_string(rule->second.type));
  if (count < 1 || (rule->second.count >= 0 && count != rule->second.count))
    return fail(CUDNN_STATUS_BAD_PARAM, what + ": " + std::to_string(count) + " elements");
  if (values == nullptr) return fail(CUDNN_STATUS_BAD_PARAM, what + ": no values");
  Value v;
  v.type = type;
  v.count = count;
  const size_t bytes = element_size(type) * static_cast<size_t>(count);
  v.bytes.assign(static_cast<const unsigned char*>(values), static_cast<const unsigned char*>(values) + bytes);
  if (type == CUDNN_TYPE_BACKEND_DESCRIPTOR)
    for (int64_t i = 0; i < count; ++i) {
      const Desc* given = as(v.at<cudnnBackendDescriptor_t>(i));
      if (given == nullptr || !given->finalized)
        return fail(CUDNN_STATUS_BAD_PARAM, what + ": a descriptor not finalized");
      if (rule->second.descriptor_type >= 0 && given->type != rule->second.descriptor_type)
        return fail(CUDNN_STATUS_BAD_PARAM, what + ": a descriptor of type " + std::to_string(given->type));
    }
  d.attrs[name] = std::move(v);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnBackendFinalize(cudnnBackendDescriptor_t descriptor) {
  using namespace fake_cudnn;
  Desc& d = *as(descriptor);
  const std::string what = "finalize of descriptor type " + std::to_string(d.type);
  if (d.finalized) return fail(CUDNN_STATUS_BAD_PARAM, what + ": twice");
  for (const auto& [key, rule] : rules())
    if (key.first == d.type && rule.required && d.attrs.count(key.second) == 0)
      return fail(CUDNN_STATUS_BAD_PARAM, what + ": attribute " + std::to_string(key.second) + " missing");
  switch (d.type) {
    case CUDNN_BACKEND_TENSOR_DESCRIPTOR: {
      const auto dims = int64s(d, CUDNN_ATTR_TENSOR_DIMENSIONS), strides = int64s(d, CUDNN_ATTR_TENSOR_STRIDES);
      if (dims.size() != strides.size() || dims.size() < 3)
        return fail(CUDNN_STATUS_BAD_PARAM, what + ": dimensions and strides differ in number");
      break;
    }
    case CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR: {
      const int64_t spatial = int64s(d, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS).at(0);
      for (cudnnBackendAttributeName_t a : {CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES,
                                            CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS})
        if (static_cast<int64_t>(int64s(d, a).size()) != spatial)
          return fail(CUDNN_STATUS_BAD_PARAM, what + ": attribute " + std::to_string(a) + " not of spatial_dims");
      break;
    }
    case CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR:
    case CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR:
    case CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR: {
      const cudnnStatus_t s = finalize_operation(d);
      if (s != CUDNN_STATUS_SUCCESS) return s;
      break;
    }
    case CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR: d.results = state().catalogue; break;
    case CUDNN_BACKEND_ENGINE_DESCRIPTOR: {
      const Engine* e = catalogued(int64s(d, CUDNN_ATTR_ENGINE_GLOBAL_INDEX).at(0));
      if (e == nullptr) return fail(CUDNN_STATUS_NOT_SUPPORTED, what + ": no such engine");
      d.engine = *e;
      d.graph = fake_cudnn::descriptor(d, CUDNN_ATTR_ENGINE_OPERATION_GRAPH);
      break;
    }
    case CUDNN_BACKEND_ENGINECFG_DESCRIPTOR: {
      const Desc* engine = fake_cudnn::descriptor(d, CUDNN_ATTR_ENGINECFG_ENGINE);
      d.engine = engine->engine;
      d.graph = engine->graph;
      d.knobs.clear();
      if (const Value* v = find(d, CUDNN_ATTR_ENGINECFG_KNOB_CHOICES))
        for (int64_t i = 0; i < v->count; ++i) {
          const Desc* k = as(v->at<cudnnBackendDescriptor_t>(i));
          d.knobs.emplace_back(find(*k, CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE)->at<cudnnBackendKnobType_t>(0),
                               int64s(*k, CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE).at(0));
        }
      break;
    }
    case CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR: {
      const Desc* config = fake_cudnn::descriptor(d, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG);
      if (config->engine.refuses_plan) return fail(CUDNN_STATUS_NOT_SUPPORTED, what + ": the engine refuses");
      if (config->engine.refuses_beta && operation_of(config->graph)->conv.beta != 0.0f)
        return fail(CUDNN_STATUS_NOT_SUPPORTED, what + ": the engine refuses beta");
      d.engine = config->engine;
      d.knobs = config->knobs;
      d.graph = config->graph;
      // Its workspace on a graph that accumulates, where the test gave one.
      if (d.engine.beta_workspace >= 0 && operation_of(d.graph)->conv.beta != 0.0f)
        d.engine.workspace = d.engine.beta_workspace;
      break;
    }
    case CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR:
      if (find(d, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS)->count != find(d, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS)->count)
        return fail(CUDNN_STATUS_BAD_PARAM, what + ": as many ids as pointers expected");
      break;
    default: break;
  }
  d.finalized = true;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnBackendGetAttribute(cudnnBackendDescriptor_t const descriptor, cudnnBackendAttributeName_t name,
                                       cudnnBackendAttributeType_t type, int64_t requested, int64_t* count,
                                       void* values) {
  using namespace fake_cudnn;
  const Desc& d = *as(descriptor);
  const std::string what = "get attribute " + std::to_string(name) + " of descriptor type " + std::to_string(d.type);
  if (!d.finalized) return fail(CUDNN_STATUS_BAD_PARAM, what + ": not finalized");
  if (count == nullptr || (requested > 0 && values == nullptr)) return fail(CUDNN_STATUS_BAD_PARAM, what + ": no room");
  const auto expect = [&](cudnnBackendAttributeType_t t) { return type == t; };
  // Results into the caller's descriptors: each of `kind`, not yet finalized.
  const auto outputs = [&](cudnnBackendDescriptorType_t kind, int64_t n, std::vector<Desc*>* out) {
    for (int64_t i = 0; i < n; ++i) {
      Desc* o = as(static_cast<cudnnBackendDescriptor_t*>(values)[i]);
      if (o == nullptr || o->type != kind || o->finalized) return false;
      out->push_back(o);
    }
    return true;
  };
  const auto put_int64 = [&](int64_t v) {
    *count = 1;
    if (requested >= 1) std::memcpy(values, &v, sizeof v);
  };
  if (d.type == CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR && name == CUDNN_ATTR_ENGINEHEUR_RESULTS &&
      expect(CUDNN_TYPE_BACKEND_DESCRIPTOR)) {
    const int64_t n = std::min<int64_t>(requested, static_cast<int64_t>(d.results.size()));
    std::vector<Desc*> out;
    if (!outputs(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, n, &out))
      return fail(CUDNN_STATUS_BAD_PARAM, what + ": results go into new engine configuration descriptors");
    for (int64_t i = 0; i < n; ++i) {
      Desc& c = *out[static_cast<size_t>(i)];
      c.engine = d.results[static_cast<size_t>(i)];
      for (const auto& k : c.engine.knobs) c.knobs.push_back(k);
      c.graph = fake_cudnn::descriptor(d, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH);
      c.finalized = true;
    }
    *count = requested == 0 ? static_cast<int64_t>(d.results.size()) : n;
    return CUDNN_STATUS_SUCCESS;
  }
  if (d.type == CUDNN_BACKEND_ENGINECFG_DESCRIPTOR && name == CUDNN_ATTR_ENGINECFG_ENGINE &&
      expect(CUDNN_TYPE_BACKEND_DESCRIPTOR) && requested == 1) {
    std::vector<Desc*> out;
    if (!outputs(CUDNN_BACKEND_ENGINE_DESCRIPTOR, 1, &out))
      return fail(CUDNN_STATUS_BAD_PARAM, what + ": the engine goes into a new engine descriptor");
    if (d.engine.undescribed) return fail(CUDNN_STATUS_BAD_PARAM, what + ": this engine is not described");
    out[0]->engine = d.engine;
    out[0]->graph = d.graph;
    out[0]->finalized = true;
    *count = 1;
    return CUDNN_STATUS_SUCCESS;
  }
  if (d.type == CUDNN_BACKEND_ENGINECFG_DESCRIPTOR && name == CUDNN_ATTR_ENGINECFG_KNOB_CHOICES &&
      expect(CUDNN_TYPE_BACKEND_DESCRIPTOR)) {
    const int64_t n = std::min<int64_t>(requested, static_cast<int64_t>(d.knobs.size()));
    std::vector<Desc*> out;
    if (!outputs(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR, n, &out))
      return fail(CUDNN_STATUS_BAD_PARAM, what + ": knob choices go into new knob choice descriptors");
    for (int64_t i = 0; i < n; ++i) {
      Desc& k = *out[static_cast<size_t>(i)];
      const auto [knob, value] = d.knobs[static_cast<size_t>(i)];
      Value t{CUDNN_TYPE_KNOB_TYPE, 1, {}}, v{CUDNN_TYPE_INT64, 1, {}};
      t.bytes.resize(sizeof knob);
      std::memcpy(t.bytes.data(), &knob, sizeof knob);
      v.bytes.resize(sizeof value);
      std::memcpy(v.bytes.data(), &value, sizeof value);
      k.attrs[CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE] = t;
      k.attrs[CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE] = v;
      k.finalized = true;
    }
    *count = requested == 0 ? static_cast<int64_t>(d.knobs.size()) : n;
    return CUDNN_STATUS_SUCCESS;
  }
  if (d.type == CUDNN_BACKEND_ENGINE_DESCRIPTOR && name == CUDNN_ATTR_ENGINE_GLOBAL_INDEX && expect(CUDNN_TYPE_INT64)) {
    put_int64(d.engine.global_index);
    return CUDNN_STATUS_SUCCESS;
  }
  if (d.type == CUDNN_BACKEND_ENGINE_DESCRIPTOR && name == CUDNN_ATTR_ENGINE_NUMERICAL_NOTE &&
      expect(CUDNN_TYPE_NUMERICAL_NOTE)) {
    const int64_t n = std::min<int64_t>(requested, static_cast<int64_t>(d.engine.notes.size()));
    if (n > 0)  // (none: the vector's data may be null)
      std::memcpy(values, d.engine.notes.data(), static_cast<size_t>(n) * sizeof(cudnnBackendNumericalNote_t));
    *count = requested == 0 ? static_cast<int64_t>(d.engine.notes.size()) : n;
    return CUDNN_STATUS_SUCCESS;
  }
  if (d.type == CUDNN_BACKEND_ENGINE_DESCRIPTOR && name == CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE &&
      expect(CUDNN_TYPE_BEHAVIOR_NOTE)) {
    const int64_t n = std::min<int64_t>(requested, static_cast<int64_t>(d.engine.behaviour.size()));
    if (n > 0)  // (none: the vector's data may be null)
      std::memcpy(values, d.engine.behaviour.data(), static_cast<size_t>(n) * sizeof(cudnnBackendBehaviorNote_t));
    *count = requested == 0 ? static_cast<int64_t>(d.engine.behaviour.size()) : n;
    return CUDNN_STATUS_SUCCESS;
  }
  if (d.type == CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR &&
      ((name == CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE && expect(CUDNN_TYPE_KNOB_TYPE)) ||
       (name == CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE && expect(CUDNN_TYPE_INT64))) &&
      requested == 1) {
    const Value& v = d.attrs.at(name);
    std::memcpy(values, v.bytes.data(), v.bytes.size());
    *count = 1;
    return CUDNN_STATUS_SUCCESS;
  }
  if (d.type == CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR && name == CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE &&
      expect(CUDNN_TYPE_INT64)) {
    put_int64(d.engine.workspace);
    return CUDNN_STATUS_SUCCESS;
  }
  return fail(CUDNN_STATUS_BAD_PARAM, what + ": not an attribute to get as type " + std::to_string(type));
}

cudnnStatus_t cudnnBackendExecute(cudnnHandle_t handle, cudnnBackendDescriptor_t plan,
                                  cudnnBackendDescriptor_t pack) {
  using namespace fake_cudnn;
  const Desc &p = *as(plan), &v = *as(pack);
  if (p.type != CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR || !p.finalized)
    return fail(CUDNN_STATUS_BAD_PARAM, "execute: not a finalized plan");
  if (v.type != CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR || !v.finalized)
    return fail(CUDNN_STATUS_BAD_PARAM, "execute: not a finalized variant pack");
  Execution e;
  e.global_index = p.engine.global_index;
  e.workspace_bytes = p.engine.workspace;
  for (const auto& [knob, value] : p.knobs) e.knobs.emplace_back(static_cast<int64_t>(knob), value);
  e.beta = operation_of(p.graph)->conv.beta;
  e.handle = handle;
  e.uids = int64s(v, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS);
  const Value& pointers = v.attrs.at(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS);
  for (int64_t i = 0; i < pointers.count; ++i) e.pointers.push_back(pointers.at<void*>(i));
  if (const Value* w = find(v, CUDNN_ATTR_VARIANT_PACK_WORKSPACE)) e.workspace = w->at<void*>(0);
  if (p.engine.workspace > 0 && e.workspace == nullptr)
    return fail(CUDNN_STATUS_BAD_PARAM, "execute: the plan needs a workspace and has none");
  const auto& c = operation_of(p.graph)->conv;
  for (int64_t uid : {c.x.uid, c.w.uid, c.y.uid})
    if (std::find(e.uids.begin(), e.uids.end(), uid) == e.uids.end())
      return fail(CUDNN_STATUS_BAD_PARAM, "execute: no pointer for tensor " + std::to_string(uid));
  state().executions.push_back(e);
  if (state().on_execute) {
    const cudnnStatus_t ran = state().on_execute(c, e);
    if (ran != CUDNN_STATUS_SUCCESS) return fail(ran, "execute: the run failed");
  }
  return CUDNN_STATUS_SUCCESS;
}

}  // extern "C"
