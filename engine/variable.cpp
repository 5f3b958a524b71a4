// Variable's gradient buffer management.
#include "engine/variable.h"

#include "engine/dispatch.h"
#include "engine/ops.h"
#include "kernels/error.h"

namespace cyg {

Variable::Variable(Tensor data, RequiresGrad requires_grad) : impl_(std::make_shared<Impl>()) {
  CYG_CHECK(data.defined(), "a Variable needs a defined tensor");
  impl_->data = std::move(data);
  impl_->requires_grad = requires_grad == RequiresGrad::Yes;
}

const Tensor& Variable::data() const {
  CYG_CHECK(defined(), "data() of an undefined Variable");
  return impl_->data;
}

void Variable::set_data(const Tensor& value) {
  CYG_CHECK(defined(), "set_data() of an undefined Variable");
  const Tensor& d = impl_->data;
  CYG_CHECK(value.shape() == d.shape() && value.dtype() == d.dtype() && value.device() == d.device(),
            "set_data: a ", shape_str(value.shape()), " ", dtype_name(value.dtype()), " tensor on ",
            value.device().str(), " for a variable of ", shape_str(d.shape()), " ", dtype_name(d.dtype()), " on ",
            d.device().str());
  impl_->data = value;
}

void Variable::to_device(Device device) {
  CYG_CHECK(defined(), "to_device() of an undefined Variable");
  if (impl_->data.device() == device) return;
  impl_->data = impl_->data.to(device);
  impl_->bf16 = Tensor();
  impl_->bf16_source = Tensor();
  if (impl_->grad.defined()) impl_->grad = grad().to(device);
}

Tensor Variable::bf16_value(MemoryFormat format, int64_t channels) const {
  CYG_CHECK(defined(), "bf16_value() of an undefined Variable");
  Impl& m = *impl_;
  const Tensor& d = m.data;
  CYG_CHECK(d.dtype() == DType::F32, "bf16_value() of a ", dtype_name(d.dtype()), " variable");
  Shape shape = d.shape();
  const bool padded = channels > 0 && channels != (d.dim() >= 2 ? d.size(1) : 0);
  if (padded) {
    CYG_CHECK(d.dim() == 4 && format == MemoryFormat::ChannelsLast && channels > d.size(1), "bf16_value: ",
              channels, " channels asked of a ", shape_str(d.shape()), " variable in ",
              format == MemoryFormat::ChannelsLast ? "channels-last" : "contiguous",
              " order: expected a channels-last 4-D filter padded to more than its own channels");
    shape[1] = channels;
  }
  const bool laid_out = m.bf16.defined() && m.bf16.shape() == shape && m.bf16.device() == d.device() &&
                        m.bf16.is_contiguous(format);
  const bool current = laid_out && m.bf16_source.shares_storage(d) &&
                       m.bf16_source.storage_offset() == d.storage_offset() && m.bf16_version == d.storage()->version();
  if (current) return m.bf16;
  if (!laid_out) m.bf16 = Tensor::empty(shape, DType::BF16, d.device(), format);
  // The cast runs in memory order, so the source is laid out as the copy; a padded copy's
  // rows (one per filter position, KRSC) get their zero channels in the same pass.
  const Tensor src = d.contiguous(format);
  if (padded)
    kernels_for(d).pad_channels_f32_to_bf16(src.data<float>(), m.bf16.data<uint16_t>(),
                                            d.size(0) * d.size(2) * d.size(3), d.size(1), channels);
  else
    kernels_for(d).cast_f32_to_bf16(src.data<float>(), m.bf16.data<uint16_t>(), d.numel());
  m.bf16_source = d;
  m.bf16_version = d.storage()->version();
  return m.bf16;
}

const Tensor& Variable::bf16_copy() const {
  CYG_CHECK(defined(), "bf16_copy() of an undefined Variable");
  return impl_->bf16;
}

void Variable::value_changed() {
  CYG_CHECK(defined(), "value_changed() of an undefined Variable");
  impl_->data.storage()->bump_version();
}

bool Variable::requires_grad() const { return defined() && impl_->requires_grad; }

const Tensor& Variable::grad() const {
  CYG_CHECK(defined(), "grad() of an undefined Variable");
  if (impl_->grad_is_zero) {
    impl_->grad.fill_(0.0);
    impl_->grad_is_zero = false;
  }
  return impl_->grad;
}

bool Variable::has_grad() const { return defined() && impl_->grad.defined(); }

Tensor& Variable::ensure_grad() {
  CYG_CHECK(defined(), "ensure_grad() of an undefined Variable");
  if (!impl_->grad.defined())
    impl_->grad = Tensor::zeros(impl_->data.shape(), impl_->data.dtype(), impl_->data.device());
  if (impl_->grad_is_zero) {
    impl_->grad.fill_(0.0);
    impl_->grad_is_zero = false;
  }
  return impl_->grad;
}

void Variable::accumulate_grad(const Tensor& g) {
  CYG_CHECK(defined(), "accumulate_grad() of an undefined Variable");
  CYG_CHECK(g.shape() == impl_->data.shape(), "gradient of shape ", shape_str(g.shape()), " for a variable of shape ",
            shape_str(impl_->data.shape()));
  if (!impl_->grad.defined()) {
    impl_->grad = g.contiguous().clone();
  } else if (impl_->grad_is_zero) {
    impl_->grad.copy_(g);
    impl_->grad_is_zero = false;
  } else {
    axpy_(impl_->grad, 1.0f, g);
  }
}

Tensor Variable::gradient_sink() const {
  return defined() && impl_->grad.defined() && impl_->grad_is_zero ? impl_->grad : Tensor();
}

void Variable::gradient_written() {
  CYG_CHECK(defined() && impl_->grad.defined(), "gradient_written() without a gradient buffer");
  impl_->grad_is_zero = false;
}

void Variable::zero_grad() {
  if (has_grad()) impl_->grad_is_zero = true;
}

const std::shared_ptr<Node>& Variable::grad_fn() const {
  CYG_CHECK(defined(), "grad_fn() of an undefined Variable");
  return impl_->grad_fn;
}

void Variable::set_grad_fn(std::shared_ptr<Node> node) {
  CYG_CHECK(defined(), "set_grad_fn() of an undefined Variable");
  impl_->grad_fn = std::move(node);
}

}  // namespace cyg
