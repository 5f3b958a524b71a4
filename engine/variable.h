// Variable: a tensor in the autograd sense — its value, its gradient (accumulated by
// backward into one buffer that stays at the same address, so the fused optimizers can
// keep pointers to it), and whether it wants one. Copies share the same variable.
#pragma once
#include <memory>
#include <string>

#include "engine/tensor.h"

namespace cyg {

struct Node;

// Whether backward() computes a gradient for a leaf (PyTorch's requires_grad).
enum class RequiresGrad { No, Yes };

class Variable {
 public:
  Variable() = default;
  explicit Variable(Tensor data, RequiresGrad requires_grad = RequiresGrad::No);

  bool defined() const { return impl_ != nullptr; }
  const Tensor& data() const;
  // Replaces the value by a tensor of the same shape, dtype and device (loading weights).
  void set_data(const Tensor& value);
  // Moves the value (and the gradient, if any) to the device, in place: every copy of
  // this variable sees the move.
  void to_device(Device device);
  bool requires_grad() const;

  // Undefined until a gradient arrives or ensure_grad() makes one.
  const Tensor& grad() const;
  bool has_grad() const;
  // A zero gradient buffer of the value's shape on its device, if there is none yet.
  Tensor& ensure_grad();
  // grad += g (or grad = g, copied into the existing buffer when there is one).
  void accumulate_grad(const Tensor& g);
  // Zeros the gradient; the buffer, and so its address, is kept. The zeros are written
  // only if the gradient is read before a new one arrives (which is then written into
  // the buffer rather than added): a training step pays no fill for its gradients.
  void zero_grad();
  // The gradient buffer while it holds no gradient of the current step (after
  // zero_grad), so that a backward can write the first gradient straight into it;
  // undefined otherwise. gradient_written() says the backward did.
  Tensor gradient_sink() const;
  void gradient_written();

  // The autograd node that produced this variable (null for leaves).
  const std::shared_ptr<Node>& grad_fn() const;
  void set_grad_fn(std::shared_ptr<Node> node);

  bool same(const Variable& other) const { return impl_ == other.impl_; }
  // What every copy of this variable shares (for maps keyed by variable).
  const void* identity() const { return impl_.get(); }

  // bf16 autocast: the value as bf16, kept between steps in one buffer. It is cast again
  // (one launch into the same buffer) only when the value has changed since: written
  // through Tensor's in-place methods, replaced, or updated by an optimizer that said so
  // with value_changed(). An optimizer that writes the copy in its own update (see
  // kernels/optim.h) keeps it current at no cost.
  // `format`: the copy's layout. A channels-last copy of a 4-D filter is in cuDNN's KRSC
  // order, as channels-last convolutions read it; an optimizer writing the copy keeps
  // that order (kernels/optim.h). Asking for the other layout makes a new copy.
  // `channels` > 0: a channels-last filter's copy of that many input channels, the
  // channels past the filter's own zero (cuDNN's tensor cores take multiples of 8); an
  // optimizer writing the copy leaves the padding as it is. 0: the filter's own count.
  Tensor bf16_value(MemoryFormat format = MemoryFormat::Contiguous, int64_t channels = 0) const;
  // The copy's buffer (undefined until bf16_value() made one), for an optimizer to write.
  const Tensor& bf16_copy() const;
  // The value was changed by a kernel that did not also write the bf16 copy.
  void value_changed();

 private:
  struct Impl {
    Tensor data;
    Tensor bf16;          // bf16_value()'s buffer
    Tensor bf16_source;   // the value it was cast from (its storage kept alive: identity)
    uint64_t bf16_version = 0;  // and that storage's version then
    Tensor grad;
    bool grad_is_zero = false;  // zero_grad() was called and nothing accumulated since
    bool requires_grad = false;
    std::shared_ptr<Node> grad_fn;
  };
  std::shared_ptr<Impl> impl_;
};

}  // namespace cyg
