// Modules: registration, recursive naming, state dicts, device moves, and the layers.
#include "engine/nn.h"

#include <cmath>
#include <set>

#include "engine/autograd.h"
#include "engine/functional.h"
#include "engine/ops.h"
#include "engine/profiling.h"
#include "engine/random.h"
#include "kernels/error.h"

namespace cyg::nn {

uint64_t InitSeeds::next() { return random_bits(seed_, counter_++); }

Variable Module::forward(const Variable&) {
  CYG_CHECK(false, "this module has no forward of its own");
  return Variable();
}

Variable Module::operator()(const Variable& x) {
  NvtxRange range(name_.c_str());
  return hooked(forward(x), "");
}

void Module::set_forward_hook(ForwardHook hook) {
  CYG_CHECK(!hook || !hook_, "module '", name_, "' already has a forward hook; remove it first");
  hook_ = std::move(hook);
}

Variable Module::register_parameter(const std::string& name, Tensor value) {
  Variable v(std::move(value), RequiresGrad::Yes);
  params_.emplace_back(name, v);
  return v;
}

void Module::register_buffer(const std::string& name, Tensor* buffer, BufferPlace place) {
  buffers_.push_back({name, buffer, place});
}

void Module::collect(const std::string& prefix, std::vector<std::pair<std::string, Variable>>* params,
                     NamedTensors* buffers, NamedTensors* state) const {
  for (const auto& [name, v] : params_) {
    if (params) params->emplace_back(prefix + name, v);
    if (state) state->emplace_back(prefix + name, v.data());
  }
  for (const Buffer& b : buffers_) {
    if (buffers) buffers->emplace_back(prefix + b.name, *b.tensor);
    if (state) state->emplace_back(prefix + b.name, *b.tensor);
  }
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", params, buffers, state);
}

std::vector<std::pair<std::string, Variable>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Variable>> out;
  collect("", &out, nullptr, nullptr);
  return out;
}

std::vector<Variable> Module::parameters() const {
  std::vector<Variable> out;
  for (auto& [name, v] : named_parameters()) out.push_back(v);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", nullptr, &out, nullptr);
  return out;
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (const auto& [name, v] : named_parameters()) n += v.data().numel();
  return n;
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect("", nullptr, nullptr, &out);
  return out;
}

void Module::load_state_dict(const NamedTensors& state) {
  const NamedTensors mine = state_dict();
  std::set<std::string> given;
  for (const auto& [name, t] : state) {
    CYG_INPUT_CHECK(given.insert(name).second, "state dict: '", name, "' appears twice");
  }
  std::set<std::string> expected;
  for (const auto& [name, t] : mine) expected.insert(name);
  for (const auto& name : given) CYG_INPUT_CHECK(expected.count(name), "state dict: unexpected key '", name, "'");
  for (const auto& name : expected) CYG_INPUT_CHECK(given.count(name), "state dict: missing key '", name, "'");
  for (const auto& [name, src] : state)
    for (const auto& [dst_name, dst] : mine)
      if (dst_name == name) {
        CYG_INPUT_CHECK(src.shape() == dst.shape(), "state dict: '", name, "' has shape ", shape_str(src.shape()),
                  ", the model expects ", shape_str(dst.shape()));
        CYG_INPUT_CHECK(src.dtype() == dst.dtype(), "state dict: '", name, "' has dtype ", dtype_name(src.dtype()),
                  ", the model expects ", dtype_name(dst.dtype()));
        Tensor target = dst;  // shares storage with the module's tensor
        target.copy_(src);
      }
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::count_replayed_forward() {
  for (auto& [name, child] : children_) child->count_replayed_forward();
}

std::vector<Module*> Module::modules() {
  std::vector<Module*> out;
  for (auto& [name, module] : named_modules()) out.push_back(module);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out{{"", this}};
  for (auto& [name, child] : children_)
    for (auto& [below, module] : child->named_modules()) out.emplace_back(below.empty() ? name : name + "." + below, module);
  return out;
}

void Module::to(Device device) {
  for (auto& [name, v] : params_) v.to_device(device);
  for (Buffer& b : buffers_)
    if (b.place == BufferPlace::WithModule) *b.tensor = b.tensor->to(device);
  for (auto& [name, child] : children_) child->to(device);
}

// ---- layers ----

namespace {
Tensor kaiming_uniform(const Shape& shape, int64_t fan_in, uint64_t seed) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  return Tensor::uniform(shape, -bound, bound, seed);
}

Tensor initial_weight(const Shape& shape, int64_t fan_in, uint64_t seed, Init init) {
  if (init == Init::KaimingNormal) return Tensor::normal(shape, 0.0, std::sqrt(2.0 / static_cast<double>(fan_in)), seed);
  return kaiming_uniform(shape, fan_in, seed);
}
}  // namespace

Conv2d::Conv2d(const Conv2dOptions& o, InitSeeds& seeds) : stride_(o.stride_), padding_(o.padding_) {
  CYG_CHECK(o.in_channels_ > 0 && o.out_channels_ > 0 && o.kernel_size_ > 0, "Conv2d(", o.in_channels_, ", ",
            o.out_channels_, ", ", o.kernel_size_, "): sizes must be positive");
  const int64_t k = o.kernel_size_;
  const int64_t fan_in = o.in_channels_ * k * k;
  weight_ = register_parameter("weight", initial_weight({o.out_channels_, o.in_channels_, k, k}, fan_in, seeds.next(),
                                                        o.init_));
  if (o.bias_) bias_ = register_parameter("bias", kaiming_uniform({o.out_channels_}, fan_in, seeds.next()));
}

Variable Conv2d::forward(const Variable& x) { return fn::conv2d(x, weight_, bias_, stride_, padding_); }

BatchNorm2d::BatchNorm2d(int64_t channels, double eps, double momentum) : eps_(eps), momentum_(momentum) {
  CYG_CHECK(channels > 0, "BatchNorm2d(", channels, "): channels must be positive");
  weight_ = register_parameter("weight", Tensor::ones({channels}));
  bias_ = register_parameter("bias", Tensor::zeros({channels}));
  running_mean_ = Tensor::zeros({channels});
  running_var_ = Tensor::ones({channels});
  num_batches_tracked_ = Tensor::zeros({}, DType::I64);
  register_buffer("running_mean", &running_mean_);
  register_buffer("running_var", &running_var_);
  // Counted on the host: no launch per forward for a counter.
  register_buffer("num_batches_tracked", &num_batches_tracked_, BufferPlace::Host);
}

Variable BatchNorm2d::forward(const Variable& x) { return apply(x, fn::BatchNormThen::Nothing, Variable()); }

Variable BatchNorm2d::forward_relu(const Variable& x) {
  NvtxRange range(name().c_str());
  return hooked(apply(x, fn::BatchNormThen::Relu, Variable()), "+relu");
}

Variable BatchNorm2d::forward_add_relu(const Variable& x, const Variable& residual) {
  NvtxRange range(name().c_str());
  return hooked(apply(x, fn::BatchNormThen::AddRelu, residual), "+add+relu");
}

void BatchNorm2d::count_replayed_forward() { increment_(num_batches_tracked_, 1); }

void BatchNorm2d::reset_running_stats() {
  running_mean_.copy_(Tensor::zeros(running_mean_.shape(), DType::F32, running_mean_.device()));
  running_var_.copy_(Tensor::ones(running_var_.shape(), DType::F32, running_var_.device()));
  num_batches_tracked_.copy_(Tensor::zeros({}, DType::I64));
}

Variable BatchNorm2d::apply(const Variable& x, fn::BatchNormThen then, const Variable& residual) {
  if (is_training()) increment_(num_batches_tracked_, 1);
  const fn::BatchNormMode mode = is_training() ? fn::BatchNormMode::Train : fn::BatchNormMode::Eval;
  // momentum=None: the batch counted just above is the n-th since the reset.
  const double momentum =
      cumulative_ && is_training() ? 1.0 / static_cast<double>(num_batches_tracked_.data<int64_t>()[0]) : momentum_;
  return fn::batch_norm(x, weight_, bias_, running_mean_, running_var_, mode, momentum, eps_, then, residual);
}

void recompute_batchnorm_statistics(Module& model, const std::function<bool(Tensor& images)>& next) {
  std::vector<BatchNorm2d*> norms;
  for (Module* m : model.modules())
    if (auto* bn = dynamic_cast<BatchNorm2d*>(m)) norms.push_back(bn);
  if (norms.empty()) return;
  const bool was_training = model.is_training();
  struct Restore {
    Module& model;
    const std::vector<BatchNorm2d*>& norms;
    bool training;
    ~Restore() {
      for (BatchNorm2d* bn : norms) bn->set_cumulative_average(false);
      model.train(training);
    }
  } restore{model, norms, was_training};
  for (BatchNorm2d* bn : norms) {
    bn->reset_running_stats();
    bn->set_cumulative_average(true);
  }
  NoGradGuard no_grad;
  model.train();
  Tensor images;
  while (next(images)) model(Variable(images));
}

Linear::Linear(const LinearOptions& o, InitSeeds& seeds) {
  CYG_CHECK(o.in_features_ > 0 && o.out_features_ > 0, "Linear(", o.in_features_, ", ", o.out_features_,
            "): sizes must be positive");
  const int64_t fan_in = o.in_features_;
  weight_ = register_parameter("weight", initial_weight({o.out_features_, fan_in}, fan_in, seeds.next(), o.init_));
  if (o.bias_) bias_ = register_parameter("bias", kaiming_uniform({o.out_features_}, fan_in, seeds.next()));
}

Variable Linear::forward(const Variable& x) { return fn::linear(x, weight_, bias_); }

void Sequential::append(std::shared_ptr<Module> module) {
  register_module(std::to_string(layers_.size()), module);
  layers_.push_back(std::move(module));
}

Variable Sequential::forward(const Variable& x) {
  Variable h = x;
  for (auto& layer : layers_) h = (*layer)(h);
  return h;
}

}  // namespace cyg::nn
