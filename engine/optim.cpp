// The optimizers: parameter/state bookkeeping, the fused update of every tensor through
// the device's kernels, hyperparameter checks, and state save/load.
#include "engine/optim.h"

#include <cmath>

#include "engine/dispatch.h"
#include "kernels/error.h"

namespace cyg {

namespace {

// Whether a range's upper end is a value it holds: [lo, hi] or [lo, hi).
enum class UpperEnd { Included, Excluded };

void check_range(const char* name, double v, double lo, double hi, UpperEnd upper) {
  const bool below_hi = upper == UpperEnd::Included ? v <= hi : v < hi;
  CYG_CHECK(std::isfinite(v) && v >= lo && below_hi, name, " = ", v, ": expected a value in [", lo, ", ", hi,
            upper == UpperEnd::Included ? "]" : ")");
}

}  // namespace

Optimizer::Optimizer(std::vector<Variable> params, int state_slots, std::vector<std::string> state_names)
    : params_(std::move(params)),
      state_(static_cast<size_t>(state_slots)),
      state_names_(std::move(state_names)),
      device_(params_.empty() ? Device::cpu() : params_.front().data().device()),
      tensors_(device_),
      decay_scales_(params_.size(), 1.0f) {
  CYG_CHECK(!params_.empty(), "an optimizer needs at least one parameter");
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i].data();
    CYG_CHECK(p.dtype() == DType::F32, "parameter ", i, ": optimizers update f32 tensors, got ",
              dtype_name(p.dtype()));
    CYG_CHECK(p.is_contiguous(), "parameter ", i, " must be contiguous");
    CYG_CHECK(p.device() == device_, "parameter ", i, " is on ", p.device().str(), ", parameter 0 on ",
              device_.str());
    params_[i].ensure_grad();
    for (auto& slot : state_) slot.push_back(Tensor::zeros(p.shape(), DType::F32, device_));
  }
}

namespace {
// Whether a weight's bf16 copy is a filter's KRSC copy (channels-last convolutions): laid
// out channels-last, or padded to more input channels, which only a channels-last copy
// is. A 1x1 filter's copy is contiguous in both layouts (memory_format says contiguous),
// and its KRSC order is its own unless it is padded.
bool krsc_copy(const Tensor& copy, const Tensor& weight) {
  return copy.dim() == 4 && (copy.memory_format() == MemoryFormat::ChannelsLast || copy.size(1) != weight.size(1));
}
}  // namespace

std::vector<TensorSlot> Optimizer::current_slots() const {
  std::vector<TensorSlot> slots(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i].data();
    const Tensor& g = params_[i].grad();
    CYG_CHECK(g.defined() && g.shape() == p.shape() && g.is_contiguous(), "parameter ", i,
              " has no usable gradient buffer");
    slots[i].param = p.data<float>();
    slots[i].grad = g.data<float>();
    slots[i].state1 = state_.size() > 0 ? state_[0][i].data<float>() : nullptr;
    slots[i].state2 = state_.size() > 1 ? state_[1][i].data<float>() : nullptr;
    slots[i].numel = p.numel();
    slots[i].weight_decay_scale = decay_scales_[i];
    const Tensor& copy = params_[i].bf16_copy();
    slots[i].param_bf16 = copy.defined() && copy.device() == device_ ? copy.data<uint16_t>() : nullptr;
    if (slots[i].param_bf16 != nullptr && krsc_copy(copy, p)) {
      // A filter's copy in KRSC order (channels-last convolutions), its rows perhaps padded.
      slots[i].bf16_channels = p.size(1);
      slots[i].bf16_area = copy.size(2) * copy.size(3);
      slots[i].bf16_row_channels = copy.size(1);
    }
  }
  return slots;
}

void Optimizer::step() {
  prepare_step();
  apply_step();
}

void Optimizer::prepare_step() {
  // A bf16 copy made stale since the last update (weights loaded or written between
  // steps) is cast again here, on the host's side of the step: a replayed CUDA graph
  // reads the copies without checking them.
  for (const Variable& p : params_)
    if (const Tensor& copy = p.bf16_copy(); copy.defined())  // in the layout it is kept in, padding and all
      p.bf16_value(krsc_copy(copy, p.data()) ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous,
                   copy.dim() == 4 ? copy.size(1) : 0);
  ++steps_;
  set_hyper(tensors_);
  kernels_for(device_).upload_tensor_table(tensors_);
}

void Optimizer::set_grad_clip_norm(double max_norm) {
  CYG_CHECK(std::isfinite(max_norm) && max_norm >= 0, "gradient clipping's max norm = ", max_norm,
            ": expected a finite value >= 0 (0: no clipping)");
  // A step captured in a CUDA graph keeps the clipping it was captured with.
  CYG_CHECK(steps_ == 0 || max_norm == clip_norm_, "gradient clipping is set before the first step (", steps_,
            " taken)");
  clip_norm_ = max_norm;
  if (clip_norm_ > 0 && !clip_.defined()) {
    // A buffer that keeps its address (a captured step reads it), NaN until a step writes it.
    clip_ = Tensor::full({2}, NAN, DType::F32, device_);
  }
}

void Optimizer::set_weight_decay_scales(std::vector<float> scales) {
  CYG_CHECK(scales.size() == params_.size(), "weight decay scales: ", scales.size(), " given, for ", params_.size(),
            " parameters");
  for (size_t i = 0; i < scales.size(); ++i)
    CYG_CHECK(std::isfinite(scales[i]) && scales[i] >= 0, "weight decay scale of parameter ", i, " = ", scales[i],
              ": expected a finite value >= 0");
  // A step captured in a CUDA graph keeps the table it was captured with.
  CYG_CHECK(steps_ == 0 || scales == decay_scales_, "weight decay scales are set before the first step (", steps_,
            " taken)");
  decay_scales_ = std::move(scales);
}

std::vector<float> weight_decay_on_weights_only(const std::vector<Variable>& params) {
  std::vector<float> scales;
  scales.reserve(params.size());
  for (const Variable& p : params) scales.push_back(p.data().dim() <= 1 ? 0.0f : 1.0f);
  return scales;
}

const float* Optimizer::grad_scale() const { return clip_norm_ > 0 ? clip_.data<float>() : nullptr; }

double Optimizer::last_grad_norm() const {
  if (!clip_.defined()) return NAN;
  return clip_.to(Device::cpu()).data<float>()[1];
}

void Optimizer::apply_step() {
  // A parameter no gradient reached since zero_grad() (which only marks the buffer) holds
  // zeros, as after PyTorch's zero_grad(set_to_none=False): not the last step's gradient.
  for (Variable& p : params_)
    if (p.gradient_sink().defined()) p.ensure_grad();
  if (clip_norm_ > 0) kernels_for(device_).grad_norm_clip(tensors_, static_cast<float>(clip_norm_), clip_.data<float>());
  update(tensors_);
  // A bf16 copy the update did not write (made after the table was) is stale now.
  const std::vector<TensorSlot>& written = tensors_.slots();
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i].bf16_copy().defined() && (i >= written.size() || written[i].param_bf16 == nullptr))
      params_[i].value_changed();
}

void Optimizer::zero_grad() {
  for (Variable& p : params_) p.zero_grad();
}

StateDict Optimizer::state_dict() const {
  StateDict out;
  for (size_t s = 0; s < state_.size(); ++s)
    for (size_t i = 0; i < params_.size(); ++i)
      out["state." + std::to_string(i) + "." + state_names_[s]] = state_[s][i].clone();
  out["step"] = Tensor::full({}, static_cast<double>(steps_), DType::I64);
  return out;
}

void Optimizer::load_state_dict(const StateDict& state) {
  auto it = state.find("step");
  CYG_INPUT_CHECK(it != state.end(), "optimizer state: missing 'step'");
  CYG_INPUT_CHECK(it->second.dtype() == DType::I64 && it->second.numel() == 1,
                  "optimizer state: 'step' must be one i64 value, got ", dtype_name(it->second.dtype()), " ",
                  shape_str(it->second.shape()));
  const double step_value = it->second.item();
  CYG_INPUT_CHECK(step_value >= 0 && step_value <= 1e15, "optimizer state: step ", step_value,
                  " is outside [0, 1e15]");
  const int64_t steps = static_cast<int64_t>(step_value);
  const size_t expected = 1 + state_.size() * params_.size();
  CYG_INPUT_CHECK(state.size() == expected, "optimizer state: ", state.size(), " entries, this optimizer has ",
                  expected, " (a state of another optimizer or model?)");
  for (size_t s = 0; s < state_.size(); ++s)
    for (size_t i = 0; i < params_.size(); ++i) {
      const std::string key = "state." + std::to_string(i) + "." + state_names_[s];
      auto found = state.find(key);
      CYG_INPUT_CHECK(found != state.end(), "optimizer state: missing '", key, "'");
      CYG_INPUT_CHECK(found->second.dtype() == DType::F32, "optimizer state: '", key, "' is ",
                      dtype_name(found->second.dtype()), ", expected f32");
      CYG_INPUT_CHECK(found->second.shape() == state_[s][i].shape(), "optimizer state: '", key, "' has shape ",
                shape_str(found->second.shape()), ", the parameter ", shape_str(state_[s][i].shape()));
    }
  for (size_t s = 0; s < state_.size(); ++s)
    for (size_t i = 0; i < params_.size(); ++i)
      state_[s][i].copy_(state.at("state." + std::to_string(i) + "." + state_names_[s]));
  steps_ = steps;
}

// ---- SGD ----

SGD::SGD(std::vector<Variable> params, const SgdOptions& options)
    : Optimizer(std::move(params), 1, {"momentum_buffer"}), options_(options) {
  set_lr(options.lr);
  set_momentum(options.momentum);
  set_weight_decay(options.weight_decay);
  CYG_CHECK(!options.nesterov || options.momentum > 0, "SGD: nesterov needs momentum > 0");
}

void SGD::set_lr(double lr) {
  check_range("SGD lr", lr, 0, INFINITY, UpperEnd::Excluded);
  options_.lr = lr;
}
void SGD::set_momentum(double momentum) {
  check_range("SGD momentum", momentum, 0, 1, UpperEnd::Included);
  options_.momentum = momentum;
}
void SGD::set_weight_decay(double weight_decay) {
  check_range("SGD weight_decay", weight_decay, 0, INFINITY, UpperEnd::Excluded);
  options_.weight_decay = weight_decay;
}

SgdHyper SGD::hyper() const {
  SgdHyper h;
  h.lr = static_cast<float>(options_.lr);
  h.momentum = static_cast<float>(options_.momentum);
  h.weight_decay = static_cast<float>(options_.weight_decay);
  h.nesterov = options_.nesterov ? 1 : 0;
  h.grad_scale = grad_scale();
  return h;
}

void SGD::set_hyper(MultiTensorTable& tensors) const { tensors.set(current_slots(), hyper()); }
void SGD::update(const MultiTensorTable& tensors) const { kernels_for(device()).sgd_step(tensors); }

// ---- Adam / AdamW ----

Adam::Adam(std::vector<Variable> params, const AdamOptions& options)
    : Optimizer(std::move(params), 2, {"exp_avg", "exp_avg_sq"}), options_(options) {
  set_lr(options.lr);
  set_momentum(options.beta1);
  set_weight_decay(options.weight_decay);
  check_range("Adam beta2", options.beta2, 0, 1, UpperEnd::Excluded);
  check_range("Adam eps", options.eps, 0, INFINITY, UpperEnd::Excluded);
}

void Adam::set_lr(double lr) {
  check_range("Adam lr", lr, 0, INFINITY, UpperEnd::Excluded);
  options_.lr = lr;
}
void Adam::set_momentum(double beta1) {
  check_range("Adam beta1", beta1, 0, 1, UpperEnd::Excluded);
  options_.beta1 = beta1;
}
void Adam::set_weight_decay(double weight_decay) {
  check_range("Adam weight_decay", weight_decay, 0, INFINITY, UpperEnd::Excluded);
  options_.weight_decay = weight_decay;
}

AdamHyper Adam::hyper() const {
  // The bias corrections use the current betas and the step just begun, as PyTorch does.
  const double t = static_cast<double>(steps_taken());
  AdamHyper h;
  h.lr = static_cast<float>(options_.lr);
  h.beta1 = static_cast<float>(options_.beta1);
  h.beta2 = static_cast<float>(options_.beta2);
  h.eps = static_cast<float>(options_.eps);
  h.weight_decay = static_cast<float>(options_.weight_decay);
  h.decoupled_weight_decay = options_.decoupled_weight_decay ? 1 : 0;
  h.bias_correction1 = static_cast<float>(1.0 - std::pow(options_.beta1, t));
  h.bias_correction2 = static_cast<float>(1.0 - std::pow(options_.beta2, t));
  h.grad_scale = grad_scale();
  return h;
}

void Adam::set_hyper(MultiTensorTable& tensors) const { tensors.set(current_slots(), hyper()); }
void Adam::update(const MultiTensorTable& tensors) const { kernels_for(device()).adam_step(tensors); }

}  // namespace cyg
