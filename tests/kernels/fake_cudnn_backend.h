// A stand-in for cuDNN's backend (graph) API, for testing kernels/cuda/cudnn_graph.cpp
// without a GPU or libcudnn: it defines cudnnBackend* (and the two error-string calls)
// over descriptors that hold what was set. It refuses what the backend reference refuses
// as far as this project uses it: an attribute a descriptor type does not have, an
// attribute type or element count other than the reference's, a change after finalize,
// finalizing without a required attribute or with an unfinalized descriptor in one, and
// results asked into descriptors of the wrong type. Engines come from a catalogue the test
// sets; a plan's finalize refuses where its catalogue entry says so.
#pragma once
#include <cudnn.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace fake_cudnn {

struct Engine {
  int64_t global_index = 0;
  std::vector<cudnnBackendNumericalNote_t> notes;
  std::vector<cudnnBackendBehaviorNote_t> behaviour;
  std::vector<std::pair<cudnnBackendKnobType_t, int64_t>> knobs;
  int64_t workspace = 0;
  int64_t beta_workspace = -1;  // its plan's workspace on a graph whose beta is not 0 (-1: workspace)
  bool refuses_plan = false;   // its plan does not finalize
  bool refuses_beta = false;   // its plan does not finalize on a graph whose beta is not 0
  bool undescribed = false;    // asking for its engine fails
};

// A catalogue entry: its global index, workspace, numerical notes and knobs.
inline Engine make_engine(int64_t index, int64_t workspace, std::vector<cudnnBackendNumericalNote_t> notes = {},
                          std::vector<std::pair<cudnnBackendKnobType_t, int64_t>> knobs = {}) {
  Engine e;
  e.global_index = index;
  e.workspace = workspace;
  e.notes = std::move(notes);
  e.knobs = std::move(knobs);
  return e;
}

// A convolution node as it was finalized: its kind, its tensors by role and the rest.
struct Tensor {
  int64_t uid = -1, alignment = 0;
  cudnnDataType_t type{};
  std::vector<int64_t> dims, strides;
};
struct Convolution {
  cudnnBackendDescriptorType_t kind{};
  Tensor x, w, y;  // x: X or DX; w: W or DW; y: Y or DY
  std::vector<int64_t> strides, pre_paddings, post_paddings, dilations;
  cudnnDataType_t compute{};
  cudnnConvolutionMode_t mode{};
  float alpha = 0, beta = 0;
};

// What one cudnnBackendExecute was given.
struct Execution {
  int64_t global_index = -1;
  std::vector<std::pair<int64_t, int64_t>> knobs;  // (type, value) of the plan's configuration
  float beta = 0;
  cudnnHandle_t handle = nullptr;
  std::vector<int64_t> uids;
  std::vector<void*> pointers;
  void* workspace = nullptr;
  int64_t workspace_bytes = 0;  // what the plan's engine needs there
};

// The state of the stand-in, for a test to set and read.
struct State {
  std::vector<Engine> catalogue;  // what the heuristics list, in order
  int refused_attribute = -1;  // an attribute (cudnnBackendAttributeName_t) set fails; -1: none
  std::vector<Convolution> convolutions;  // every finalized convolution node, in order
  std::vector<Execution> executions;
  int64_t live_descriptors = 0;
  int64_t variant_packs_made = 0;
  // Called by each execution once its plan and pack are checked (the GPU stand-in,
  // fake_gpu.h, computes the convolution there); a status other than success fails it.
  std::function<cudnnStatus_t(const Convolution&, const Execution&)> on_execute;
  // Called by each refusal (the GPU stand-in may leave a device fault behind one).
  std::function<void()> on_failure;
};
State& state();
void reset();  // an empty catalogue, nothing refused or recorded (live descriptors kept)

}  // namespace fake_cudnn
