// The tape: recording results and running backward in reverse topological order.
#include "engine/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "engine/ops.h"
#include "kernels/common.h"
#include "kernels/error.h"

namespace cyg {

namespace {
thread_local bool t_grad_mode = true;
}

bool grad_mode_enabled() { return t_grad_mode; }
NoGradGuard::NoGradGuard() : previous_(t_grad_mode) { t_grad_mode = false; }
NoGradGuard::~NoGradGuard() { t_grad_mode = previous_; }

Tensor GradientSinks::output(size_t k, const Shape& shape, Device device, DType dtype, MemoryFormat format) const {
  if (k < sinks_.size() && sinks_[k].defined() && sinks_[k].shape() == shape && sinks_[k].device() == device &&
      sinks_[k].dtype() == dtype && sinks_[k].is_contiguous(format))
    return sinks_[k];
  return Tensor::empty(shape, dtype, device, format);
}

Tensor GradientSinks::accumulator(size_t k, const Shape& shape, Device device, DType dtype,
                                  MemoryFormat format) const {
  // 16-byte aligned too, as a fresh allocation is (vectorised kernels and libraries may
  // rely on it): a view the table alone holds can start anywhere.
  if (k < accumulators_.size() && accumulators_[k].defined() && accumulators_[k].shape() == shape &&
      accumulators_[k].device() == device && accumulators_[k].dtype() == dtype &&
      accumulators_[k].is_contiguous(format) && aligned_16({accumulators_[k].data_ptr()}))
    return accumulators_[k];
  return Tensor();
}

Variable make_result(Tensor value, const std::vector<Variable>& inputs, const char* name, BackwardFn backward_fn) {
  bool needs_grad = false;
  if (t_grad_mode)
    for (const Variable& v : inputs) needs_grad |= v.requires_grad();
  Variable out(std::move(value), needs_grad ? RequiresGrad::Yes : RequiresGrad::No);
  if (!needs_grad) return out;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->backward = std::move(backward_fn);
  node->next.reserve(inputs.size());
  for (const Variable& v : inputs) {
    Edge e;
    if (v.requires_grad()) {
      if (v.grad_fn()) {
        e.node = v.grad_fn();
      } else {
        e.leaf = v;
      }
    }
    node->next.push_back(std::move(e));
  }
  out.set_grad_fn(std::move(node));
  return out;
}

void backward(const Variable& root, const Tensor& grad, const LeafReady& leaf_ready) {
  CYG_CHECK(root.defined(), "backward of an undefined variable");
  CYG_CHECK(root.requires_grad(), "backward of a variable that does not require a gradient");
  Tensor seed = grad;
  if (!seed.defined()) {
    CYG_CHECK(root.data().numel() == 1, "backward without a gradient needs a one-element output, got shape ",
              shape_str(root.data().shape()));
    seed = Tensor::ones(root.data().shape(), DType::F32, root.data().device());
  }
  CYG_CHECK(seed.shape() == root.data().shape(), "backward: gradient of shape ", shape_str(seed.shape()),
            " for an output of shape ", shape_str(root.data().shape()));
  if (!root.grad_fn()) {
    Variable leaf = root;
    leaf.accumulate_grad(seed);
    if (leaf_ready) leaf_ready(leaf);
    return;
  }

  // Reverse topological order by an iterative depth-first search.
  std::vector<Node*> order;
  std::unordered_set<Node*> seen;
  std::vector<std::pair<Node*, size_t>> stack{{root.grad_fn().get(), 0}};
  seen.insert(root.grad_fn().get());
  while (!stack.empty()) {
    auto& [node, next_index] = stack.back();
    if (next_index < node->next.size()) {
      Node* child = node->next[next_index++].node.get();
      if (child && seen.insert(child).second) stack.push_back({child, 0});
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }

  // For leaf_ready: how many nodes still to run feed each leaf.
  std::unordered_map<const void*, int> feeding;
  if (leaf_ready)
    for (Node* node : order)
      for (const Edge& e : node->next)
        if (e.leaf.defined()) ++feeding[e.leaf.identity()];
  auto node_done = [&](Node* node) {
    if (!leaf_ready) return;
    for (const Edge& e : node->next)
      if (e.leaf.defined() && --feeding[e.leaf.identity()] == 0) leaf_ready(e.leaf);
  };

  std::unordered_map<Node*, Tensor> grads;
  grads[root.grad_fn().get()] = seed;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* node = *it;
    auto found = grads.find(node);
    if (found == grads.end()) {  // nothing flowed into it
      node_done(node);
      continue;
    }
    const Tensor grad_out = std::move(found->second);
    grads.erase(found);
    CYG_CHECK(node->backward, "backward through ", node->name, " a second time: the graph was freed");
    std::vector<Tensor> sinks(node->next.size()), accumulators(node->next.size());
    for (size_t k = 0; k < node->next.size(); ++k) {
      const Edge& e = node->next[k];
      if (e.leaf.defined()) sinks[k] = e.leaf.gradient_sink();
      // A gradient already summed for an inner node, held by the table alone: the
      // backward may add into it (GradientSinks::accumulator).
      if (e.active() && e.node) {
        auto slot = grads.find(e.node.get());
        if (slot != grads.end() && slot->second.sole_owner()) accumulators[k] = slot->second;
      }
    }
    std::vector<Tensor> input_grads = node->backward(grad_out, GradientSinks(sinks, accumulators));
    CYG_CHECK(input_grads.size() == node->next.size(), node->name, " backward returned ", input_grads.size(),
              " gradients for ", node->next.size(), " inputs");
    for (size_t k = 0; k < node->next.size(); ++k) {
      Edge& e = node->next[k];
      if (!e.active() || !input_grads[k].defined()) continue;
      if (e.node) {
        auto slot = grads.find(e.node.get());
        if (slot == grads.end()) {
          grads.emplace(e.node.get(), std::move(input_grads[k]));
        } else if (accumulators[k].defined() && input_grads[k].shares_storage(accumulators[k]) &&
                   input_grads[k].data_ptr() == slot->second.data_ptr()) {
          // added in place by the backward
        } else {
          slot->second = add(slot->second, input_grads[k]);
        }
      } else if (sinks[k].defined() && input_grads[k].data_ptr() == sinks[k].data_ptr()) {
        e.leaf.gradient_written();
      } else {
        e.leaf.accumulate_grad(input_grads[k]);
      }
    }
    // Free what the closure saved; the graph cannot be run twice.
    node->backward = nullptr;
    node_done(node);
  }
}

}  // namespace cyg
