// One convolution direction through cuDNN's graph API (the backend descriptors): the
// operation graph of a single convolution node, the engine configurations its
// heuristics list, and execution plans made from them. kernels/cuda/cudnn_conv.cpp times
// these plans beside the legacy API's algorithms and keeps the fastest.
//
// Every direction binds three tensors by the same unique ids, whatever their roles: x
// (the activation: X, or DX for backward data), w (the filter: W, or DW for backward
// filter) and y (Y, or DY). Each is declared 16-byte aligned; a call with a pointer that
// is not must take the legacy path instead (GraphConvPlan::accepts).
#pragma once
#include <cudnn.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kernels/conv.h"
#include "kernels/conv_algo_cache.h"

namespace cyg::cuda {

// cuDNN's element type of a convolution's tensors (both APIs).
inline cudnnDataType_t cudnn_type(ConvData data) {
  return data == ConvData::BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
}

// A backend descriptor, destroyed with its holder.
class BackendDescriptor {
 public:
  explicit BackendDescriptor(cudnnBackendDescriptorType_t type);
  ~BackendDescriptor();
  BackendDescriptor(const BackendDescriptor&) = delete;
  BackendDescriptor& operator=(const BackendDescriptor&) = delete;
  cudnnBackendDescriptor_t get() const { return d_; }
  cudnnBackendDescriptor_t* address() { return &d_; }

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
};

// An engine as the heuristics gave it: its global index, knob settings and notes. A
// configuration cuDNN would not describe has global_index -1 and is not to be used.
struct GraphEngine {
  int64_t global_index = -1;
  std::vector<std::pair<int64_t, int64_t>> knobs;  // (cudnnBackendKnobType_t, value)
  ConvEngineNotes notes;
  std::string knobs_text() const;  // "type=value" pairs, space-separated
};

// A finalized execution plan of one engine configuration.
class GraphConvPlan {
 public:
  size_t workspace_bytes() const { return workspace_; }
  // The handle the plan was finalized with.
  cudnnHandle_t handle() const { return handle_; }
  // Whether the pointers meet the alignment the tensors were declared with.
  static bool accepts(const void* x, const void* w, const void* y);
  // Runs the plan on `handle`'s stream; the status is the caller's to check. The variant
  // pack of the last call is kept, and used again while the pointers are the same (the
  // caching allocator hands a step the same buffers each time): a plan is for one thread.
  cudnnStatus_t run(cudnnHandle_t handle, const void* x, const void* w, const void* y, void* workspace) const;

 private:
  friend class GraphConv;
  // What the plan refers to, kept alive with it: the operation graph's descriptors, and
  // the configuration with the descriptors it was made of.
  std::shared_ptr<const std::vector<std::unique_ptr<BackendDescriptor>>> graph_;
  std::vector<std::shared_ptr<BackendDescriptor>> config_;
  std::unique_ptr<BackendDescriptor> plan_;
  mutable std::unique_ptr<BackendDescriptor> pack_;  // the last call's variant pack
  mutable const void* packed_[4] = {nullptr, nullptr, nullptr, nullptr};  // its x, w, y and workspace
  size_t workspace_ = 0;
  cudnnHandle_t handle_ = nullptr;
};

// The operation graph of one convolution direction, with its scaling factors fixed (beta
// 1 for backward data that adds into dx).
class GraphConv {
 public:
  // Throws when cuDNN refuses the graph itself.
  GraphConv(cudnnHandle_t handle, const Conv2dShape& s, ConvData data, ConvLayout layout, ConvDirection direction,
            float beta);
  // Up to `most` engine configurations, in the order of cuDNN's heuristics (mode A),
  // each with its engine's description; an empty list where the heuristics have none.
  std::vector<GraphEngine> engines(int most);
  // A plan of the heuristics' configuration `index` (as engines() listed them), or of
  // `engine` rebuilt from its global index and knobs on this graph (to run a choice
  // made on another graph of the same convolution); null where cuDNN refuses it.
  std::unique_ptr<GraphConvPlan> plan_listed(size_t index);
  std::unique_ptr<GraphConvPlan> plan_rebuilt(const GraphEngine& engine);

 private:
  // The plan of a finalized configuration, made of the descriptors `config` (its last the
  // configuration itself); null where cuDNN refuses it.
  std::unique_ptr<GraphConvPlan> finish(std::vector<std::shared_ptr<BackendDescriptor>> config);
  // The engine of one of the heuristics' configurations, its notes and knobs.
  static GraphEngine describe(cudnnBackendDescriptor_t config);

  cudnnHandle_t handle_;
  std::shared_ptr<std::vector<std::unique_ptr<BackendDescriptor>>> graph_parts_;  // tensors, conv, op, graph
  cudnnBackendDescriptor_t graph_ = nullptr;
  std::vector<std::shared_ptr<BackendDescriptor>> configs_;  // the heuristics' results
};

}  // namespace cyg::cuda
