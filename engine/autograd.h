// The autograd tape. An op on Variables that needs a gradient records a Node: the
// closure that maps the gradient of its output to the gradients of its inputs, and an
// edge per input (to the input's own node, or to the leaf variable that collects the
// gradient). A node keeps only what its closure captured, not its inputs' values.
// backward() runs the nodes reachable from a scalar in reverse topological order,
// accumulates into the leaves' .grad, and frees each node's saved tensors as it goes.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/variable.h"

namespace cyg {

struct Edge {
  std::shared_ptr<Node> node;  // a non-leaf input: its producer
  Variable leaf;               // a leaf input that wants a gradient
  bool active() const { return node != nullptr || leaf.defined(); }
};

// Where a backward may write an input's gradient instead of a new tensor: the .grad
// buffer of a leaf that holds no gradient of this step yet. A parameter's gradient then
// lands in .grad with no copy.
class GradientSinks {
 public:
  explicit GradientSinks(std::vector<Tensor> sinks, std::vector<Tensor> accumulators = {})
      : sinks_(std::move(sinks)), accumulators_(std::move(accumulators)) {}
  // For input k's gradient: its sink, or a new tensor of `shape` and `dtype` on `device`.
  // The backward must write every element.
  // `format`: the layout the backward writes (channels-last activations' gradients).
  Tensor output(size_t k, const Shape& shape, Device device, DType dtype = DType::F32,
                MemoryFormat format = MemoryFormat::Contiguous) const;
  // For input k's gradient, where the input's other consumers have already given it
  // theirs: that sum, which the backward may add its own gradient into, in place, and
  // return (the engine then adds nothing: a convolution's backward adds as it writes).
  // Undefined unless the sum is a 16-byte aligned tensor of `shape`, `dtype` and `format`
  // on `device` whose memory no other tensor shares.
  Tensor accumulator(size_t k, const Shape& shape, Device device, DType dtype,
                     MemoryFormat format = MemoryFormat::Contiguous) const;

 private:
  std::vector<Tensor> sinks_, accumulators_;
};

// gradient of the output -> gradient of each input (undefined where the input needs none)
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output, const GradientSinks& sinks)>;

struct Node {
  std::string name;
  std::vector<Edge> next;  // one per input, inactive where the input needs no gradient
  BackwardFn backward;
};

// Gradients are recorded unless a NoGradGuard is alive on this thread.
bool grad_mode_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// The output of an op: a new Variable holding `value`, recorded on the tape when grad
// mode is on and some input requires a gradient. `backward` receives the output's
// gradient (and where it may write its inputs' gradients) and returns one tensor per
// input (undefined for inputs without gradient).
Variable make_result(Tensor value, const std::vector<Variable>& inputs, const char* name, BackwardFn backward);

// Called for each leaf as soon as this backward has finished its gradient (every node
// that feeds it has run), so that data parallelism can start summing a bucket of
// gradients while the backward goes on. Leaves the backward does not reach are not.
using LeafReady = std::function<void(const Variable& leaf)>;

// Runs backward from `root` with gradient `grad` (ones for a one-element root when
// undefined) and frees the graph.
void backward(const Variable& root, const Tensor& grad = Tensor(), const LeafReady& leaf_ready = {});

}  // namespace cyg
