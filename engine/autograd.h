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

struct Node {
  std::string name;
  std::vector<Edge> next;  // one per input, inactive where the input needs no gradient
  // gradient of the output -> gradient of each input (undefined where next is inactive)
  std::function<std::vector<Tensor>(const Tensor& grad_output)> backward;
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
// gradient and returns one tensor per input (undefined for inputs without gradient).
Variable make_result(Tensor value, const std::vector<Variable>& inputs, const char* name,
                     std::function<std::vector<Tensor>(const Tensor&)> backward);

// Runs backward from `root` with gradient `grad` (ones for a one-element root when
// undefined) and frees the graph.
void backward(const Variable& root, const Tensor& grad = Tensor());

}  // namespace cyg
