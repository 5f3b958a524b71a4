// The differentiable ops: the forward with the kernels of the inputs' device, and the
// backward closure that captures only what it needs.
#include "engine/functional.h"

#include <omp.h>

#include <type_traits>
#include <vector>

#include "engine/atomic_file.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "kernels/conv.h"
#include "kernels/conv_algo_cache.h"
#include "kernels/error.h"

namespace cyg::fn {

namespace {
// An optional tensor's data as kernels take it: null when it is not there.
float* data_or_null(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

void check_activation(const Variable& v, const char* op) {
  CYG_CHECK(v.defined(), op, ": undefined input");
  CYG_CHECK(v.data().dtype() == DType::F32, op, ": expected f32, got ", dtype_name(v.data().dtype()));
}

// Ops that keep bf16 activations take f32 or bf16.
void check_f32_or_bf16(const Variable& v, const char* op) {
  CYG_CHECK(v.defined(), op, ": undefined input");
  const DType t = v.data().dtype();
  CYG_CHECK(t == DType::F32 || t == DType::BF16, op, ": expected f32 or bf16, got ", dtype_name(t));
}

// conv2d and linear: bf16 inputs only under autocast.
void check_input(const Variable& x, const char* op) {
  check_f32_or_bf16(x, op);
  CYG_CHECK(x.data().dtype() == DType::F32 || autocast_bf16_enabled(), op,
            ": a bf16 input outside bf16 autocast (fn::AutocastBf16); cast it with .to(DType::F32)");
}

thread_local bool t_autocast_bf16 = false;
thread_local bool t_channels_last = false;
thread_local Communicator* t_sync_batch_norm = nullptr;

// The gradient as the backward's kernels take it: dense in `format`, in the forward's dtype.
Tensor incoming(const Tensor& grad, DType dtype, MemoryFormat format = MemoryFormat::Contiguous) {
  return grad.to(dtype).contiguous(format);
}

// Whether an op runs its channels-last kernels on `t`: a 4-D tensor laid out NHWC (and
// not also NCHW) on a device whose table has them for its dtype.
bool runs_channels_last(const Tensor& t) {
  return t.dim() == 4 && t.memory_format() == MemoryFormat::ChannelsLast && kernels_for(t).has_channels_last(t.dtype());
}

// A bf16 gradient (dense) handed back as `dtype` (the input's): itself, or widened into
// the sink (a parameter's .grad) or a new f32 tensor, in the same layout.
Tensor gradient_as(const Tensor& bf16, DType dtype, size_t k, const GradientSinks& sinks) {
  if (dtype == DType::BF16) return bf16;
  Tensor out = sinks.output(k, bf16.shape(), bf16.device(), DType::F32, bf16.memory_format());
  kernels_for(out).cast_bf16_to_f32(bf16.data<uint16_t>(), out.data<float>(), out.numel());
  return out;
}
}  // namespace

AutocastBf16::AutocastBf16(bool enabled) : previous_(t_autocast_bf16) { t_autocast_bf16 = enabled; }
AutocastBf16::~AutocastBf16() { t_autocast_bf16 = previous_; }
bool autocast_bf16_enabled() { return t_autocast_bf16; }

ChannelsLast::ChannelsLast(bool enabled) : previous_(t_channels_last) { t_channels_last = enabled; }
ChannelsLast::~ChannelsLast() { t_channels_last = previous_; }
bool channels_last_enabled() { return t_channels_last; }

SyncBatchNorm::SyncBatchNorm(Communicator* communicator) : previous_(t_sync_batch_norm) {
  t_sync_batch_norm = communicator;
}
SyncBatchNorm::~SyncBatchNorm() { t_sync_batch_norm = previous_; }

Variable add(const Variable& a, const Variable& b) {
  check_f32_or_bf16(a, "add");
  check_f32_or_bf16(b, "add");
  return make_result(cyg::add(a.data(), b.data()), {a, b}, "add", [](const Tensor& g, const GradientSinks&) {
    return std::vector<Tensor>{g, g};
  });
}

Variable relu(const Variable& x) {
  check_activation(x, "relu");
  Tensor y = cyg::relu(x.data());
  return make_result(y, {x}, "relu",
                     [y](const Tensor& g, const GradientSinks&) { return std::vector<Tensor>{relu_backward(g, y)}; });
}

Variable sum(const Variable& x) {
  check_activation(x, "sum");
  const Shape shape = x.data().shape();
  return make_result(cyg::sum(x.data()), {x}, "sum", [shape](const Tensor& g, const GradientSinks&) {
    return std::vector<Tensor>{Tensor::full(shape, g.item(), DType::F32, g.device())};
  });
}

Variable mean(const Variable& x) {
  check_activation(x, "mean");
  const Shape shape = x.data().shape();
  const double count = static_cast<double>(x.data().numel());
  return make_result(cyg::mean(x.data()), {x}, "mean", [shape, count](const Tensor& g, const GradientSinks&) {
    return std::vector<Tensor>{Tensor::full(shape, g.item() / count, DType::F32, g.device())};
  });
}

Variable reshape(const Variable& x, const Shape& shape) {
  CYG_CHECK(x.defined(), "reshape: undefined input");
  const Shape original = x.data().shape();
  return make_result(x.data().reshape(shape), {x}, "reshape", [original](const Tensor& g, const GradientSinks&) {
    return std::vector<Tensor>{g.reshape(original)};
  });
}

Variable flatten(const Variable& x) {
  CYG_CHECK(x.defined() && x.data().dim() >= 1, "flatten: needs at least one dimension");
  return reshape(x, {x.data().size(0), -1});
}

void set_allow_tf32(bool allow) {
#if CYGNET_HAVE_CUDA
  cuda::conv2d_allow_tf32(allow);
#else
  (void)allow;
#endif
}

void set_deterministic(bool deterministic) {
#if CYGNET_HAVE_CUDA
  cuda::conv2d_deterministic(deterministic);
#else
  (void)deterministic;
#endif
}

void set_cudnn_benchmark(bool benchmark) {
#if CYGNET_HAVE_CUDA
  cuda::conv2d_benchmark(benchmark);
#else
  (void)benchmark;
#endif
}

void set_cudnn_engines(ConvEngines engines) {
#if CYGNET_HAVE_CUDA
  cuda::conv2d_engines(engines);
#else
  (void)engines;
#endif
}

void set_cpu_threads(int64_t threads) {
  static const int openmp_default = omp_get_max_threads();  // before anyone changed it
  CYG_CHECK(threads >= 0, "a thread count of ", threads);
  omp_set_num_threads(threads > 0 ? static_cast<int>(threads) : openmp_default);
}

int cpu_threads() { return omp_get_max_threads(); }

void set_cudnn_cache(const std::string& path) {
#if CYGNET_HAVE_CUDA
  cuda::conv2d_algorithm_cache(path, &write_file_atomically);
#else
  (void)path;
#endif
}

std::string cudnn_choices_table() {
#if CYGNET_HAVE_CUDA
  return conv_choices_table(cuda::conv2d_choices());
#else
  return "";
#endif
}

int64_t cudnn_searches() {
#if CYGNET_HAVE_CUDA
  return cuda::conv2d_searches();
#else
  return 0;
#endif
}

namespace {
// cuDNN's bf16 channels-last tensor-core kernels take channel counts that are multiples
// of 8. A convolution with fewer input channels (an RGB input's 3) gets its input and its
// filter padded with zero channels, which add nothing to any sum, so that it runs on them
// too; only where x asks no gradient (the padding's would be thrown away). The padded
// shape's C, or s.C where nothing is padded.
int64_t padded_channels(const Variable& x, const Conv2dShape& s, bool nhwc) {
  constexpr int64_t kMultiple = 8;
  if (!nhwc || s.C % kMultiple == 0 || x.requires_grad()) return s.C;
  return (s.C + kMultiple - 1) / kMultiple * kMultiple;
}

// conv2d under bf16 autocast: x cast to bf16 where it is f32, the weight's bf16 copy (cast
// only when the weight changed other than by an optimizer that keeps the copy: see
// Variable::bf16_value), y bf16; the weight's gradient widened into its .grad.
// Channels-last (nhwc): x, y, dy and dx NHWC, and the filter and its gradient in KRSC
// order, a channels-last copy of the weight's bf16 copy; both padded as padded_channels says.
Variable conv2d_bf16(const Variable& x, const Variable& weight, const Tensor& xs, const Conv2dShape& s, bool nhwc) {
  const Device dev = xs.device();
  const DType x_dtype = xs.dtype();
  const MemoryFormat format = nhwc ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous;
  const Kernels& kernels = kernels_for(dev);
  const int64_t padded_C = padded_channels(x, s, nhwc);
  Conv2dShape sp = s;  // the shape cuDNN sees
  sp.C = padded_C;
  Tensor xb, wb;
  if (padded_C != s.C) {
    // Cast (where x is f32) and padded in one pass; the filter's copy is kept padded.
    const Tensor xc = xs.contiguous(format);
    xb = Tensor::empty({s.N, padded_C, s.H, s.W}, DType::BF16, dev, format);
    if (x_dtype == DType::BF16)
      kernels.pad_channels_bf16(xc.data<uint16_t>(), xb.data<uint16_t>(), s.N * s.H * s.W, s.C, padded_C);
    else
      kernels.pad_channels_f32_to_bf16(xc.data<float>(), xb.data<uint16_t>(), s.N * s.H * s.W, s.C, padded_C);
    wb = weight.bf16_value(format, padded_C);  // kept padded, as the optimizer writes it
  } else {
    xb = xs.to(DType::BF16).contiguous(format);
    wb = weight.bf16_value(format);
  }
  Tensor y = Tensor::empty({s.N, s.OC, s.OH(), s.OW()}, DType::BF16, dev, format);
  (nhwc ? kernels.conv2d_forward_nhwc_bf16 : kernels.conv2d_forward_bf16)(xb.data<uint16_t>(), wb.data<uint16_t>(), sp,
                                                                          y.data<uint16_t>());
  const bool need_dx = x.requires_grad(), need_dw = weight.requires_grad();
  Tensor saved_x = need_dw ? xb : Tensor(), saved_w = need_dx ? wb : Tensor();
  return make_result(y, {x, weight}, "conv2d", [=](const Tensor& grad, const GradientSinks& sinks) {
    const Tensor g = incoming(grad, DType::BF16, format);
    const Kernels& k = kernels_for(dev);
    Tensor dx, dw;
    if (need_dx) {  // never padded
      // Where x's other consumers have given it their gradients already (a residual
      // block's input: the shortcut's), channels-last adds this one to theirs in the
      // convolution's own pass.
      const Tensor sum = x_dtype == DType::BF16 && nhwc
                             ? sinks.accumulator(0, {s.N, s.C, s.H, s.W}, dev, DType::BF16, format)
                             : Tensor();
      if (sum.defined()) {
        k.conv2d_backward_data_nhwc_bf16_accumulate(g.data<uint16_t>(), saved_w.data<uint16_t>(), s,
                                                    sum.data<uint16_t>());
        dx = sum;
      } else {
        Tensor dxb = x_dtype == DType::BF16 ? sinks.output(0, {s.N, s.C, s.H, s.W}, dev, DType::BF16, format)
                                            : Tensor::empty({s.N, s.C, s.H, s.W}, DType::BF16, dev, format);
        (nhwc ? k.conv2d_backward_data_nhwc_bf16 : k.conv2d_backward_data_bf16)(
            g.data<uint16_t>(), saved_w.data<uint16_t>(), s, dxb.data<uint16_t>());
        dx = gradient_as(dxb, x_dtype, 0, sinks);
      }
    }
    if (need_dw) {
      Tensor dwb = Tensor::empty({sp.OC, sp.C, sp.KH, sp.KW}, DType::BF16, dev, format);
      (nhwc ? k.conv2d_backward_filter_nhwc_bf16 : k.conv2d_backward_filter_bf16)(
          g.data<uint16_t>(), saved_x.data<uint16_t>(), sp, dwb.data<uint16_t>());
      if (nhwc) {  // widened into the parameter's layout as it is read, the padding left out
        dw = sinks.output(1, {s.OC, s.C, s.KH, s.KW}, dev);
        k.widen_krsc_filter(dwb.data<uint16_t>(), dw.data<float>(), s.OC, s.C, s.KH * s.KW, sp.C);
      } else {
        dw = gradient_as(dwb, DType::F32, 1, sinks);
      }
    }
    return std::vector<Tensor>{dx, dw};
  });
}
}  // namespace

Variable conv2d(const Variable& x, const Variable& weight, const Variable& bias, int64_t stride, int64_t padding) {
  check_input(x, "conv2d");
  check_activation(weight, "conv2d");
  const Tensor& xd = x.data();
  const bool has_bias = bias.defined();
  // Channels-last where the guard asks for it and the device has the kernels of the
  // convolution's precision (bf16 under autocast, whatever x's dtype); not with a bias.
  const bool nhwc = t_channels_last && !has_bias && xd.dim() == 4 &&
                    (autocast_bf16_enabled() ? kernels_for(xd).has_channels_last_bf16()
                                             : xd.dtype() == DType::F32 && kernels_for(xd).has_channels_last());
  const MemoryFormat format = nhwc ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous;
  const Tensor xs = xd.contiguous(format);
  const Tensor w = weight.data().contiguous();
  CYG_CHECK(xs.dim() == 4 && w.dim() == 4, "conv2d: input ", shape_str(xs.shape()), " and weight ",
            shape_str(w.shape()), " must be 4-D (NCHW, [OC, C, KH, KW])");
  CYG_CHECK(xs.size(1) == w.size(1), "conv2d: input has ", xs.size(1), " channels, weight expects ", w.size(1));
  CYG_CHECK(stride >= 1 && padding >= 0, "conv2d: stride ", stride, " and padding ", padding);
  CYG_CHECK(xs.device() == w.device(), "conv2d: input on ", xs.device().str(), ", weight on ", w.device().str());
  Conv2dShape s;
  s.N = xs.size(0);
  s.C = xs.size(1);
  s.H = xs.size(2);
  s.W = xs.size(3);
  s.OC = w.size(0);
  s.KH = w.size(2);
  s.KW = w.size(3);
  s.stride_h = s.stride_w = stride;
  s.pad_h = s.pad_w = padding;
  CYG_CHECK(s.OH() >= 1 && s.OW() >= 1, "conv2d: a ", s.KH, "x", s.KW, " kernel does not fit a ", s.H, "x", s.W,
            " input with padding ", padding);
  if (has_bias)
    CYG_CHECK(bias.data().shape() == Shape{s.OC} && bias.data().device() == xs.device(), "conv2d: bias of shape ",
              shape_str(bias.data().shape()), " on ", bias.data().device().str(), " for ", s.OC, " output channels on ",
              xs.device().str());
  const Device dev = xs.device();
  if (autocast_bf16_enabled()) {
    CYG_CHECK(!has_bias,
              "conv2d: a bias under bf16 autocast is not supported (batchnorm follows the ResNets' "
              "convolutions, which have none)");
    return conv2d_bf16(x, weight, xs, s, nhwc);
  }
  Tensor y = Tensor::empty({s.N, s.OC, s.OH(), s.OW()}, DType::F32, dev, format);
  const Kernels& kernels = kernels_for(dev);
  (nhwc ? kernels.conv2d_forward_nhwc : kernels.conv2d_forward)(
      xs.data<float>(), w.data<float>(), has_bias ? bias.data().data<float>() : nullptr, s, y.data<float>());
  const bool need_dx = x.requires_grad(), need_dw = weight.requires_grad(), need_db = has_bias && bias.requires_grad();
  // The input is kept only when the filter gradient needs it, the weight only for dx.
  Tensor saved_x = need_dw ? xs : Tensor(), saved_w = need_dx ? w : Tensor();
  return make_result(y, {x, weight, bias}, "conv2d", [=](const Tensor& grad, const GradientSinks& sinks) {
    const Tensor g = grad.contiguous(format);
    const Kernels& k = kernels_for(dev);
    Tensor dx, dw, db;
    if (need_dx) {
      dx = sinks.output(0, {s.N, s.C, s.H, s.W}, dev, DType::F32, format);
      (nhwc ? k.conv2d_backward_data_nhwc : k.conv2d_backward_data)(g.data<float>(), saved_w.data<float>(), s,
                                                                    dx.data<float>());
    }
    if (need_dw) {
      dw = sinks.output(1, {s.OC, s.C, s.KH, s.KW}, dev);
      (nhwc ? k.conv2d_backward_filter_nhwc : k.conv2d_backward_filter)(g.data<float>(), saved_x.data<float>(), s,
                                                                        dw.data<float>());
    }
    if (need_db) {
      CYG_CHECK(!nhwc, "conv2d: the bias gradient kernel reads NCHW");  // nhwc is off with a bias
      db = sinks.output(2, {s.OC}, dev);
      k.bias_grad(g.data<float>(), s.N, s.OC, s.OH() * s.OW(), db.data<float>());
    }
    return std::vector<Tensor>{dx, dw, db};
  });
}

namespace {
// linear under bf16 autocast: bf16 products, the output (the logits) f32.
Variable linear_bf16(const Variable& x, const Variable& weight, const Variable& bias, const Tensor& xs,
                     const Tensor& w) {
  const Device dev = xs.device();
  const DType x_dtype = xs.dtype();
  const int64_t N = xs.size(0), in = xs.size(1), out = w.size(0);
  const bool has_bias = bias.defined();
  const Tensor xb = xs.to(DType::BF16), wb = weight.bf16_value();
  Tensor y = Tensor::empty({N, out}, DType::F32, dev);
  kernels_for(dev).linear_forward_bf16(xb.data<uint16_t>(), wb.data<uint16_t>(),
                                       has_bias ? bias.data().data<float>() : nullptr, N, in, out, y.data<float>());
  const bool need_dx = x.requires_grad(), need_dw = weight.requires_grad(), need_db = has_bias && bias.requires_grad();
  Tensor saved_x = need_dw ? xb : Tensor(), saved_w = need_dx ? wb : Tensor();
  return make_result(y, {x, weight, bias}, "linear", [=](const Tensor& grad, const GradientSinks& sinks) {
    const Tensor g = incoming(grad, DType::F32);
    Tensor dxb, dw, db;
    if (need_dx)
      dxb = x_dtype == DType::BF16 ? sinks.output(0, {N, in}, dev, DType::BF16)
                                   : Tensor::empty({N, in}, DType::BF16, dev);
    if (need_dw) dw = sinks.output(1, {out, in}, dev);
    if (need_db) db = sinks.output(2, {out}, dev);
    kernels_for(dev).linear_backward_bf16(g.data<float>(), saved_x.defined() ? saved_x.data<uint16_t>() : nullptr,
                                          saved_w.defined() ? saved_w.data<uint16_t>() : nullptr, N, in, out,
                                          dxb.defined() ? dxb.data<uint16_t>() : nullptr, data_or_null(dw),
                                          data_or_null(db));
    return std::vector<Tensor>{need_dx ? gradient_as(dxb, x_dtype, 0, sinks) : Tensor(), dw, db};
  });
}
}  // namespace

Variable linear(const Variable& x, const Variable& weight, const Variable& bias) {
  check_input(x, "linear");
  check_activation(weight, "linear");
  const Tensor xs = x.data().contiguous();
  const Tensor w = weight.data().contiguous();
  CYG_CHECK(xs.dim() == 2 && w.dim() == 2 && xs.size(1) == w.size(1), "linear: input ", shape_str(xs.shape()),
            " and weight ", shape_str(w.shape()), " do not fit ([N, in] and [out, in])");
  CYG_CHECK(xs.device() == w.device(), "linear: input on ", xs.device().str(), ", weight on ", w.device().str());
  const int64_t N = xs.size(0), in = xs.size(1), out = w.size(0);
  const bool has_bias = bias.defined();
  if (has_bias)
    CYG_CHECK(bias.data().shape() == Shape{out} && bias.data().device() == xs.device(), "linear: bias of shape ",
              shape_str(bias.data().shape()), " on ", bias.data().device().str(), " for ", out, " outputs on ",
              xs.device().str());
  const Device dev = xs.device();
  if (autocast_bf16_enabled()) return linear_bf16(x, weight, bias, xs, w);
  Tensor y = Tensor::empty({N, out}, DType::F32, dev);
  kernels_for(dev).linear_forward(xs.data<float>(), w.data<float>(), has_bias ? bias.data().data<float>() : nullptr, N,
                                  in, out, y.data<float>());
  const bool need_dx = x.requires_grad(), need_dw = weight.requires_grad(), need_db = has_bias && bias.requires_grad();
  Tensor saved_x = need_dw ? xs : Tensor(), saved_w = need_dx ? w : Tensor();
  return make_result(y, {x, weight, bias}, "linear", [=](const Tensor& grad, const GradientSinks& sinks) {
    const Tensor g = grad.contiguous();
    Tensor dx, dw, db;
    if (need_dx) dx = sinks.output(0, {N, in}, dev);
    if (need_dw) dw = sinks.output(1, {out, in}, dev);
    if (need_db) db = sinks.output(2, {out}, dev);
    kernels_for(dev).linear_backward(g.data<float>(), data_or_null(saved_x), data_or_null(saved_w), N, in, out,
                                     data_or_null(dx), data_or_null(dw), data_or_null(db));
    return std::vector<Tensor>{dx, dw, db};
  });
}

namespace {
// batch_norm's arguments, checked, as the kernels take them.
struct BatchNormArgs {
  Tensor xs, gamma, residual;  // residual: dense as xs, for AddRelu only, in x's dtype
  const float* beta = nullptr;
  float* running_mean = nullptr;
  float* running_var = nullptr;
  int64_t N = 0, C = 0, HW = 0;
  Device dev;
  bool affine = false;
  float eps = 0, momentum = 0;
  BatchNormThen then = BatchNormThen::Nothing;
  bool nhwc = false;  // channels-last activations
  MemoryFormat format = MemoryFormat::Contiguous;

  // S: the activations' storage, float (f32) or uint16_t (bf16).
  template <typename S>
  BatchNormFusion<S> fusion() const {
    const BatchNormEpilogue epilogue = then == BatchNormThen::Nothing ? BatchNormEpilogue::None
                                       : then == BatchNormThen::Relu  ? BatchNormEpilogue::Relu
                                                                      : BatchNormEpilogue::AddRelu;
    return {epilogue, residual.defined() ? residual.data<S>() : nullptr};
  }
};

BatchNormArgs check_batch_norm(const Variable& x, const Variable& weight, const Variable& bias,
                               const Tensor& running_mean, const Tensor& running_var, bool training, BatchNormThen then,
                               const Variable& residual) {
  check_f32_or_bf16(x, "batch_norm");
  BatchNormArgs a;
  a.nhwc = runs_channels_last(x.data());
  a.format = a.nhwc ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous;
  a.xs = x.data().contiguous(a.format);
  CYG_CHECK(a.xs.dim() == 4, "batch_norm: input ", shape_str(a.xs.shape()), " is not 4-D (NCHW)");
  a.N = a.xs.size(0), a.C = a.xs.size(1), a.HW = a.xs.size(2) * a.xs.size(3);
  a.dev = a.xs.device();
  auto check_channels = [&](const Tensor& t, const char* what) {
    CYG_CHECK(
        t.defined() && t.shape() == Shape{a.C} && t.dtype() == DType::F32 && t.device() == a.dev && t.is_contiguous(),
        "batch_norm: ", what, " must be a contiguous f32 [", a.C, "] tensor on ", a.dev.str());
  };
  CYG_CHECK(weight.defined() == bias.defined(), "batch_norm: weight and bias come together");
  a.affine = weight.defined();
  if (a.affine) {
    check_channels(weight.data(), "weight");
    check_channels(bias.data(), "bias");
    a.gamma = weight.data();
    a.beta = bias.data().data<float>();
  }
  CYG_CHECK(training || running_mean.defined(), "batch_norm: evaluation needs running statistics");
  if (running_mean.defined()) {
    check_channels(running_mean, "running_mean");
    check_channels(running_var, "running_var");
    a.running_mean = running_mean.data<float>();
    a.running_var = running_var.data<float>();
  }
  a.then = then;
  CYG_CHECK(residual.defined() == (then == BatchNormThen::AddRelu), "batch_norm: a residual goes with AddRelu only");
  if (residual.defined()) {
    check_f32_or_bf16(residual, "batch_norm");
    a.residual = residual.data().contiguous(a.format);
    CYG_CHECK(a.residual.shape() == a.xs.shape() && a.residual.device() == a.dev && a.residual.dtype() == a.xs.dtype(),
              "batch_norm: residual ", shape_str(a.residual.shape()), " ", dtype_name(a.residual.dtype()), " on ",
              a.residual.device().str(), " for an input ", shape_str(a.xs.shape()), " ", dtype_name(a.xs.dtype()),
              " on ", a.dev.str());
  }
  return a;
}

// What a batch_norm backward fills, and hands back for its inputs (x, weight, bias,
// residual). The kernels always produce dgamma and dbeta (dx is built from them).
struct BatchNormGrads {
  Tensor dx, dgamma, dbeta, dresidual;
  // With affine parameters dgamma and dbeta go to their sinks (the parameters' .grad);
  // without, they are scratch. dx and dresidual have x's dtype.
  BatchNormGrads(const BatchNormArgs& a, bool residual_gradient, const GradientSinks& sinks)
      : dx(sinks.output(0, a.xs.shape(), a.dev, a.xs.dtype(), a.format)),
        dgamma(a.affine ? sinks.output(1, {a.C}, a.dev) : Tensor::empty({a.C}, DType::F32, a.dev)),
        dbeta(a.affine ? sinks.output(2, {a.C}, a.dev) : Tensor::empty({a.C}, DType::F32, a.dev)),
        dresidual(residual_gradient ? sinks.output(3, a.xs.shape(), a.dev, a.xs.dtype(), a.format) : Tensor()) {}
  // The fused ReLU's mask: the bits the forward wrote where it did (mask_bits), else
  // its output y.
  template <typename S>
  BatchNormBackwardFusion<S> fusion(const BatchNormArgs& a, const Tensor& y, const Tensor& mask = Tensor()) const {
    const bool relu = a.then != BatchNormThen::Nothing;
    return {relu && !mask.defined() ? y.data<S>() : nullptr, dresidual.defined() ? dresidual.data<S>() : nullptr,
            relu && mask.defined() ? mask.data<uint8_t>() : nullptr};
  }
  std::vector<Tensor> for_inputs(bool affine) const {
    return {dx, affine ? dgamma : Tensor(), affine ? dbeta : Tensor(), dresidual};
  }
};

// The table's batchnorm entries for activations stored as S, channels-last or not.
template <typename S>
struct BatchNormEntries {
  static constexpr bool kBf16 = std::is_same_v<S, uint16_t>;
  static const auto& forward_train(const Kernels& k, bool nhwc) {
    if constexpr (kBf16)
      return nhwc ? k.batchnorm_forward_train_nhwc_bf16 : k.batchnorm_forward_train_bf16;
    else
      return nhwc ? k.batchnorm_forward_train_nhwc : k.batchnorm_forward_train;
  }
  static const auto& forward_eval(const Kernels& k, bool nhwc) {
    if constexpr (kBf16)
      return nhwc ? k.batchnorm_forward_eval_nhwc_bf16 : k.batchnorm_forward_eval_bf16;
    else
      return nhwc ? k.batchnorm_forward_eval_nhwc : k.batchnorm_forward_eval;
  }
  static const auto& backward(const Kernels& k, bool nhwc) {
    if constexpr (kBf16)
      return nhwc ? k.batchnorm_backward_nhwc_bf16 : k.batchnorm_backward_bf16;
    else
      return nhwc ? k.batchnorm_backward_nhwc : k.batchnorm_backward;
  }
  static const auto& backward_eval(const Kernels& k, bool nhwc) {
    if constexpr (kBf16)
      return nhwc ? k.batchnorm_backward_eval_nhwc_bf16 : k.batchnorm_backward_eval_bf16;
    else
      return nhwc ? k.batchnorm_backward_eval_nhwc : k.batchnorm_backward_eval;
  }
};

template <typename S>
Variable batch_norm_eval(const BatchNormArgs& a, const Variable& x, const Variable& weight, const Variable& bias,
                         const Variable& residual, const Tensor& running_mean, const Tensor& running_var) {
  using Entries = BatchNormEntries<S>;
  Tensor y = Tensor::empty(a.xs.shape(), a.xs.dtype(), a.dev, a.format);
  Entries::forward_eval(kernels_for(a.dev), a.nhwc)(a.xs.data<S>(), data_or_null(a.gamma), a.beta, a.running_mean,
                                            a.running_var, a.N, a.C, a.HW, a.eps, y.data<S>(), a.fusion<S>());
  // A backward needs copies (a later training forward would update the running
  // statistics in place); evaluation without gradients makes none.
  const bool recorded = grad_mode_enabled() && (x.requires_grad() || weight.requires_grad() || bias.requires_grad() ||
                                                residual.requires_grad());
  const Tensor saved_mean = recorded ? running_mean.clone() : Tensor();
  const Tensor saved_var = recorded ? running_var.clone() : Tensor();
  const bool residual_gradient = residual.requires_grad();
  return make_result(
      y, {x, weight, bias, residual}, "batch_norm_eval", [=](const Tensor& grad, const GradientSinks& sinks) {
        const Tensor g = incoming(grad, a.xs.dtype(), a.format);
        BatchNormGrads d(a, residual_gradient, sinks);
        Entries::backward_eval(kernels_for(a.dev), a.nhwc)(
            g.data<S>(), a.xs.data<S>(), data_or_null(a.gamma), saved_mean.data<float>(), saved_var.data<float>(), a.N,
            a.C, a.HW, a.eps, d.dx.data<S>(), d.dgamma.data<float>(), d.dbeta.data<float>(), d.fusion<S>(a, y));
        return d.for_inputs(a.affine);
      });
}

// The fused ReLU's mask as bits (BatchNormFusion::mask), for the backward to read in
// place of y: 1 bit an element where y is 16. Written by the channels-last bf16 training
// forward where its kernels read whole packs of 8 values, when a backward will read it
// (`recorded`); undefined elsewhere.
template <typename S>
Tensor mask_bits_for(const BatchNormArgs& a, const Tensor& y, bool recorded) {
  if (!recorded || !std::is_same_v<S, uint16_t> || !a.nhwc || a.then == BatchNormThen::Nothing) return Tensor();
  const void* residual = a.residual.defined() ? a.residual.data_ptr() : nullptr;
  if (batchnorm_nhwc_width_for(a.C, sizeof(S), {a.xs.data_ptr(), y.data_ptr(), residual}) != 8) return Tensor();
  return Tensor::empty({relu_mask_bytes(a.xs.numel())}, DType::U8, a.dev);
}

template <typename S>
Variable batch_norm_train(const BatchNormArgs& a, const Variable& x, const Variable& weight, const Variable& bias,
                          const Variable& residual) {
  using Entries = BatchNormEntries<S>;
  Tensor y = Tensor::empty(a.xs.shape(), a.xs.dtype(), a.dev, a.format);
  Tensor save_mean = Tensor::empty({a.C}, DType::F32, a.dev), save_invstd = Tensor::empty({a.C}, DType::F32, a.dev);
  const bool recorded = grad_mode_enabled() && (x.requires_grad() || weight.requires_grad() || bias.requires_grad() ||
                                                residual.requires_grad());
  const Tensor mask = mask_bits_for<S>(a, y, recorded);
  BatchNormFusion<S> fusion = a.fusion<S>();
  fusion.mask = mask.defined() ? mask.data<uint8_t>() : nullptr;
  Entries::forward_train(kernels_for(a.dev), a.nhwc)(a.xs.data<S>(), data_or_null(a.gamma), a.beta, a.N, a.C, a.HW, a.eps,
                                             a.momentum, y.data<S>(), save_mean.data<float>(),
                                             save_invstd.data<float>(), a.running_mean, a.running_var, fusion);
  const bool residual_gradient = residual.requires_grad();
  return make_result(y, {x, weight, bias, residual}, "batch_norm", [=](const Tensor& grad, const GradientSinks& sinks) {
    const Tensor g = incoming(grad, a.xs.dtype(), a.format);
    BatchNormGrads d(a, residual_gradient, sinks);
    Entries::backward(kernels_for(a.dev), a.nhwc)(g.data<S>(), a.xs.data<S>(), data_or_null(a.gamma), save_mean.data<float>(),
                                          save_invstd.data<float>(), a.N, a.C, a.HW, d.dx.data<S>(),
                                          d.dgamma.data<float>(), d.dbeta.data<float>(), d.fusion<S>(a, y, mask));
    return d.for_inputs(a.affine);
  });
}

// Synchronised batch normalisation (SyncBatchNorm above) on the CPU in f32: the channel
// sums of this rank, summed over the ranks, then the math of kernels/batchnorm.h. L is
// the activations' layout (NCHW or NHWC); sums in double, as the kernels'.
template <typename L>
void sync_batch_norm_forward(const BatchNormArgs& a, const L& layout, Communicator& comm, float* y, float* save_mean,
                             float* save_invstd) {
  const float* x = a.xs.data<float>();
  const float* gamma = data_or_null(a.gamma);
  const int64_t C = a.C, m = layout.per_channel();
  const BatchNormFusion<float> fusion = a.fusion<float>();
  // The global count and mean, then the squared deviations from it.
  std::vector<double> sums(static_cast<size_t>(C) + 1, 0.0);
#pragma omp parallel for if (layout.numel() > 65536)
  for (int64_t c = 0; c < C; ++c) {
    double s = 0;
    for (int64_t k = 0; k < m; ++k) s += static_cast<double>(x[layout.offset(c, k)]);
    sums[c] = s;
  }
  sums[C] = static_cast<double>(m);
  comm.all_reduce_sum(sums.data(), C + 1);
  const auto count = static_cast<int64_t>(sums[C]);
  CYG_CHECK(count > 1, "batch_norm: ", count, " value(s) per channel over every rank; training needs more than 1");
  std::vector<double> mean(static_cast<size_t>(C)), squares(static_cast<size_t>(C), 0.0);
  for (int64_t c = 0; c < C; ++c) mean[c] = sums[c] / static_cast<double>(count);
#pragma omp parallel for if (layout.numel() > 65536)
  for (int64_t c = 0; c < C; ++c) {
    double q = 0;
    for (int64_t k = 0; k < m; ++k) {
      const double d = static_cast<double>(x[layout.offset(c, k)]) - mean[c];
      q += d * d;
    }
    squares[c] = q;
  }
  comm.all_reduce_sum(squares.data(), C);
#pragma omp parallel for if (layout.numel() > 65536)
  for (int64_t c = 0; c < C; ++c) {
    const double var = squares[c] / static_cast<double>(count);
    const auto mean_c = static_cast<float>(mean[c]);
    const auto invstd = static_cast<float>(batchnorm_invstd(var, static_cast<double>(a.eps)));
    const float g = batchnorm_param(gamma, c, 1.0f), b = batchnorm_param(a.beta, c, 0.0f);
    for (int64_t k = 0; k < m; ++k) {
      const int64_t i = layout.offset(c, k);
      y[i] = batchnorm_epilogue(batchnorm_normalise(x[i], mean_c, invstd, g, b), fusion, i);
    }
    save_mean[c] = mean_c;
    save_invstd[c] = invstd;
    if (a.running_mean != nullptr) {
      a.running_mean[c] = batchnorm_running_update(a.running_mean[c], mean_c, a.momentum);
      a.running_var[c] = batchnorm_running_update(
          a.running_var[c], static_cast<float>(batchnorm_unbiased_variance(var, count)), a.momentum);
    }
  }
}

template <typename L>
void sync_batch_norm_backward(const BatchNormArgs& a, const L& layout, Communicator& comm, const float* dy,
                              const float* y, const float* save_mean, const float* save_invstd, float* dx,
                              float* dgamma, float* dbeta, float* dresidual) {
  const float* x = a.xs.data<float>();
  const float* gamma = data_or_null(a.gamma);
  const int64_t C = a.C, m = layout.per_channel();
  const BatchNormBackwardFusion<float> fusion{a.then == BatchNormThen::Nothing ? nullptr : y, dresidual};
  // This rank's sums of dy and dy*xhat (dy through the fused ReLU's mask), then the
  // global ones.
  std::vector<double> sums(2 * static_cast<size_t>(C) + 1, 0.0);
#pragma omp parallel for if (layout.numel() > 65536)
  for (int64_t c = 0; c < C; ++c) {
    double sum_dy = 0, sum_dy_xhat = 0;
    const auto mean = static_cast<double>(save_mean[c]), invstd = static_cast<double>(save_invstd[c]);
    for (int64_t k = 0; k < m; ++k) {
      const int64_t i = layout.offset(c, k);
      const float masked = batchnorm_masked_dy(dy[i], fusion, i);
      if (dresidual != nullptr) dresidual[i] = masked;
      sum_dy += static_cast<double>(masked);
      sum_dy_xhat += static_cast<double>(masked) * batchnorm_xhat(static_cast<double>(x[i]), mean, invstd);
    }
    sums[c] = sum_dy;
    sums[C + c] = sum_dy_xhat;
    dbeta[c] = static_cast<float>(sum_dy);
    dgamma[c] = static_cast<float>(sum_dy_xhat);
  }
  sums[2 * C] = static_cast<double>(m);
  comm.all_reduce_sum(sums.data(), 2 * C + 1);
  const double count = sums[2 * C];
#pragma omp parallel for if (layout.numel() > 65536)
  for (int64_t c = 0; c < C; ++c) {
    const float mean = save_mean[c], invstd = save_invstd[c];
    const auto mean_dy = static_cast<float>(sums[c] / count), mean_dy_xhat = static_cast<float>(sums[C + c] / count);
    const float gamma_invstd = batchnorm_param(gamma, c, 1.0f) * invstd;
    for (int64_t k = 0; k < m; ++k) {
      const int64_t i = layout.offset(c, k);
      const float masked = batchnorm_masked_dy(dy[i], fusion, i);
      dx[i] = batchnorm_backward_dx(masked, batchnorm_xhat(x[i], mean, invstd), mean_dy, mean_dy_xhat, gamma_invstd);
    }
  }
}

template <typename F>
void with_batch_norm_layout(const BatchNormArgs& a, F f) {
  if (a.nhwc)
    f(BatchNormLayoutNhwc{a.N, a.C, a.HW});
  else
    f(BatchNormLayout{a.N, a.C, a.HW});
}

// Synchronised batch normalisation on any device and dtype, from the batchnorm kernels
// the device has: this rank's statistics (the training kernel), combined over the ranks
// on the host in double (counts, means, and variances about the global mean), then the
// normalisation by the global statistics (the evaluation kernel, with the fused
// epilogue). The backward: the evaluation backward gives this rank's sums of dy and
// dy*xhat (and dy*gamma*invstd, dresidual); summed over the ranks, they give the
// per-channel correction dx += A_c + B_c x, applied by the evaluation kernel once more
// (gamma = B, beta = A, mean 0, invstd 1). The [C]-sized sums go through the host: a
// wait per layer, the price of correctness first on a GPU.
template <typename S>
Variable batch_norm_train_sync_kernels(const BatchNormArgs& a, const Variable& x, const Variable& weight,
                                       const Variable& bias, const Variable& residual, const Tensor& running_mean,
                                       const Tensor& running_var, Communicator& comm) {
  using Entries = BatchNormEntries<S>;
  const Kernels& k = kernels_for(a.dev);
  const size_t C = static_cast<size_t>(a.C);
  Tensor y = Tensor::empty(a.xs.shape(), a.xs.dtype(), a.dev, a.format);
  // This rank's means and variances: the training kernel's, or, for one value per
  // channel (which the kernel refuses), the value itself and 0.
  std::vector<float> m(C);
  std::vector<double> local_var(C, 0.0);
  if (a.N * a.HW == 1) {
    m = a.xs.to_vector();
  } else {
    Tensor local_mean = Tensor::empty({a.C}, DType::F32, a.dev);
    Tensor local_invstd = Tensor::empty({a.C}, DType::F32, a.dev);
    Entries::forward_train(k, a.nhwc)(a.xs.data<S>(), nullptr, nullptr, a.N, a.C, a.HW, a.eps, a.momentum,
                                      y.data<S>(), local_mean.data<float>(), local_invstd.data<float>(), nullptr,
                                      nullptr, BatchNormFusion<S>{});
    m = local_mean.to_vector();
    const std::vector<float> is = local_invstd.to_vector();
    for (size_t c = 0; c < C; ++c) {
      const double invstd = is[c];
      local_var[c] = std::max(1.0 / (invstd * invstd) - static_cast<double>(a.eps), 0.0);
    }
  }
  const auto n = static_cast<double>(a.N * a.HW);
  std::vector<double> sums(2 * C + 1);
  for (size_t c = 0; c < C; ++c) {
    sums[c] = n * m[c];
    sums[C + c] = n * (local_var[c] + static_cast<double>(m[c]) * m[c]);
  }
  sums[2 * C] = n;
  comm.all_reduce_sum(sums.data(), static_cast<int64_t>(sums.size()));
  const double count = sums[2 * C];
  CYG_CHECK(count > 1, "batch_norm: ", count, " value(s) per channel over every rank; training needs more than 1");
  std::vector<float> mean(C), var(C), invstd(C);
  for (size_t c = 0; c < C; ++c) {
    const double mu = sums[c] / count;
    const double v = std::max(sums[C + c] / count - mu * mu, 0.0);
    mean[c] = static_cast<float>(mu);
    var[c] = static_cast<float>(v);
    invstd[c] = batchnorm_invstd(var[c], a.eps);
  }
  const Tensor mean_t = Tensor::from_vector(mean, {a.C}, a.dev), var_t = Tensor::from_vector(var, {a.C}, a.dev);
  Entries::forward_eval(k, a.nhwc)(a.xs.data<S>(), data_or_null(a.gamma), a.beta, mean_t.data<float>(),
                                   var_t.data<float>(), a.N, a.C, a.HW, a.eps, y.data<S>(), a.fusion<S>());
  if (running_mean.defined()) {
    std::vector<float> rm = running_mean.to_vector(), rv = running_var.to_vector();
    for (size_t c = 0; c < C; ++c) {
      rm[c] = batchnorm_running_update(rm[c], mean[c], a.momentum);
      rv[c] = batchnorm_running_update(
          rv[c], static_cast<float>(batchnorm_unbiased_variance(static_cast<double>(var[c]),
                                                                static_cast<int64_t>(count))),
          a.momentum);
    }
    Tensor(running_mean).copy_(Tensor::from_vector(rm, {a.C}, a.dev));
    Tensor(running_var).copy_(Tensor::from_vector(rv, {a.C}, a.dev));
  }
  const bool residual_gradient = residual.requires_grad();
  const std::vector<float> gamma = a.affine ? a.gamma.to_vector() : std::vector<float>(C, 1.0f);
  Communicator* c_ptr = &comm;
  return make_result(
      y, {x, weight, bias, residual}, "sync_batch_norm", [=](const Tensor& grad, const GradientSinks& sinks) {
        const Tensor g = incoming(grad, a.xs.dtype(), a.format);
        BatchNormGrads d(a, residual_gradient, sinks);
        const Kernels& kk = kernels_for(a.dev);
        Entries::backward_eval(kk, a.nhwc)(g.data<S>(), a.xs.data<S>(), data_or_null(a.gamma),
                                           mean_t.data<float>(), var_t.data<float>(), a.N, a.C, a.HW, a.eps,
                                           d.dx.data<S>(), d.dgamma.data<float>(), d.dbeta.data<float>(),
                                           d.fusion<S>(a, y));
        // This rank's sums (its share of the parameters' gradients), then the global ones.
        const std::vector<float> dgamma = d.dgamma.to_vector(), dbeta = d.dbeta.to_vector();
        std::vector<double> global(2 * C);
        for (size_t c = 0; c < C; ++c) {
          global[c] = dgamma[c];
          global[C + c] = dbeta[c];
        }
        c_ptr->all_reduce_sum(global.data(), static_cast<int64_t>(global.size()));
        // dx = gamma invstd (dy - mean(dy) - xhat mean(dy xhat)): the first term is the
        // evaluation backward's; the rest is xhat gamma' + beta' with
        // gamma' = -gamma invstd mean(dy xhat) and beta' = -gamma invstd mean(dy), which
        // the evaluation kernel makes from x and the global statistics (xhat as the
        // backward made it).
        std::vector<float> slope(C), offset(C);
        for (size_t c = 0; c < C; ++c) {
          const double scale = static_cast<double>(gamma[c]) * invstd[c] / count;
          slope[c] = static_cast<float>(-scale * global[c]);
          offset[c] = static_cast<float>(-scale * global[C + c]);
        }
        const Tensor slope_t = Tensor::from_vector(slope, {a.C}, a.dev);
        const Tensor offset_t = Tensor::from_vector(offset, {a.C}, a.dev);
        Tensor correction = Tensor::empty(a.xs.shape(), a.xs.dtype(), a.dev, a.format);
        Entries::forward_eval(kk, a.nhwc)(a.xs.data<S>(), slope_t.data<float>(), offset_t.data<float>(),
                                          mean_t.data<float>(), var_t.data<float>(), a.N, a.C, a.HW, a.eps,
                                          correction.data<S>(), BatchNormFusion<S>{});
        const Tensor dx = cyg::add(d.dx, correction);
        return std::vector<Tensor>{dx, a.affine ? d.dgamma : Tensor(), a.affine ? d.dbeta : Tensor(), d.dresidual};
      });
}

// x as `dtype`, its gradient cast back.
Variable cast_to(const Variable& x, DType dtype) {
  const DType from = x.data().dtype();
  if (from == dtype) return x;
  return make_result(x.data().to(dtype), {x}, "cast", [from](const Tensor& grad, const GradientSinks&) {
    return std::vector<Tensor>{grad.to(from)};
  });
}

Variable batch_norm_train_sync(const BatchNormArgs& a, const Variable& x, const Variable& weight, const Variable& bias,
                               const Variable& residual, const Tensor& running_mean, const Tensor& running_var,
                               Communicator& comm);

// bf16 activations: the synchronised batchnorm of their f32 values (the output and the
// gradients each rounded to bf16 once, as the bf16 kernels round them).
Variable batch_norm_train_sync_bf16(const BatchNormArgs& a, const Variable& x, const Variable& weight,
                                    const Variable& bias, const Variable& residual, const Tensor& running_mean,
                                    const Tensor& running_var, Communicator& comm) {
  const Variable x32 = cast_to(x, DType::F32);
  const Variable residual32 = residual.defined() ? cast_to(residual, DType::F32) : Variable();
  BatchNormArgs a32 = check_batch_norm(x32, weight, bias, running_mean, running_var, true, a.then, residual32);
  a32.eps = a.eps;
  a32.momentum = a.momentum;
  return cast_to(batch_norm_train_sync(a32, x32, weight, bias, residual32, running_mean, running_var, comm),
                 DType::BF16);
}

// The CPU in f32: loops over the activations (two passes in double, as the kernels');
// elsewhere, the kernels' composition above; bf16 through f32.
Variable batch_norm_train_sync(const BatchNormArgs& a, const Variable& x, const Variable& weight, const Variable& bias,
                               const Variable& residual, const Tensor& running_mean, const Tensor& running_var,
                               Communicator& comm) {
  if (a.xs.dtype() == DType::BF16)
    return batch_norm_train_sync_bf16(a, x, weight, bias, residual, running_mean, running_var, comm);
  if (!a.dev.is_cpu())
    return batch_norm_train_sync_kernels<float>(a, x, weight, bias, residual, running_mean, running_var, comm);
  Tensor y = Tensor::empty(a.xs.shape(), DType::F32, a.dev, a.format);
  Tensor save_mean = Tensor::empty({a.C}, DType::F32, a.dev), save_invstd = Tensor::empty({a.C}, DType::F32, a.dev);
  with_batch_norm_layout(a, [&](const auto& layout) {
    sync_batch_norm_forward(a, layout, comm, y.data<float>(), save_mean.data<float>(), save_invstd.data<float>());
  });
  const bool residual_gradient = residual.requires_grad();
  Communicator* c = &comm;
  return make_result(
      y, {x, weight, bias, residual}, "sync_batch_norm", [=](const Tensor& grad, const GradientSinks& sinks) {
        const Tensor g = incoming(grad, DType::F32, a.format);
        BatchNormGrads d(a, residual_gradient, sinks);
        with_batch_norm_layout(a, [&](const auto& layout) {
          sync_batch_norm_backward(a, layout, *c, g.data<float>(), y.data<float>(), save_mean.data<float>(),
                                   save_invstd.data<float>(), d.dx.data<float>(), d.dgamma.data<float>(),
                                   d.dbeta.data<float>(), d.dresidual.defined() ? d.dresidual.data<float>() : nullptr);
        });
        return d.for_inputs(a.affine);
      });
}

template <typename S>
const auto& pool_forward(const Kernels& k, bool nhwc) {
  if constexpr (std::is_same_v<S, uint16_t>)
    return nhwc ? k.global_avg_pool_forward_nhwc_bf16 : k.global_avg_pool_forward_bf16;
  else
    return nhwc ? k.global_avg_pool_forward_nhwc : k.global_avg_pool_forward;
}
template <typename S>
const auto& pool_backward(const Kernels& k, bool nhwc) {
  if constexpr (std::is_same_v<S, uint16_t>)
    return nhwc ? k.global_avg_pool_backward_nhwc_bf16 : k.global_avg_pool_backward_bf16;
  else
    return nhwc ? k.global_avg_pool_backward_nhwc : k.global_avg_pool_backward;
}

// xs: dense in `format`.
template <typename S>
Variable global_avg_pool2d_as(const Variable& x, const Tensor& xs, MemoryFormat format) {
  const int64_t N = xs.size(0), C = xs.size(1), H = xs.size(2), W = xs.size(3);
  const Device dev = xs.device();
  const DType dtype = xs.dtype();
  const bool nhwc = format == MemoryFormat::ChannelsLast;
  Tensor y = Tensor::empty({N, C}, dtype, dev);
  pool_forward<S>(kernels_for(dev), nhwc)(xs.data<S>(), N, C, H, W, y.data<S>());
  return make_result(y, {x}, "global_avg_pool2d", [=](const Tensor& grad, const GradientSinks& sinks) {
    const Tensor g = incoming(grad, dtype);
    Tensor dx = sinks.output(0, {N, C, H, W}, dev, dtype, format);
    pool_backward<S>(kernels_for(dev), nhwc)(g.data<S>(), N, C, H, W, dx.data<S>());
    return std::vector<Tensor>{dx};
  });
}
}  // namespace

Variable batch_norm(const Variable& x, const Variable& weight, const Variable& bias, const Tensor& running_mean,
                    const Tensor& running_var, BatchNormMode mode, double momentum, double eps, BatchNormThen then,
                    const Variable& residual) {
  BatchNormArgs a =
      check_batch_norm(x, weight, bias, running_mean, running_var, mode == BatchNormMode::Train, then, residual);
  a.eps = static_cast<float>(eps);
  a.momentum = static_cast<float>(momentum);
  const bool bf16 = a.xs.dtype() == DType::BF16;
  if (mode == BatchNormMode::Eval)
    return bf16 ? batch_norm_eval<uint16_t>(a, x, weight, bias, residual, running_mean, running_var)
                : batch_norm_eval<float>(a, x, weight, bias, residual, running_mean, running_var);
  if (t_sync_batch_norm != nullptr)
    return batch_norm_train_sync(a, x, weight, bias, residual, running_mean, running_var, *t_sync_batch_norm);
  return bf16 ? batch_norm_train<uint16_t>(a, x, weight, bias, residual)
              : batch_norm_train<float>(a, x, weight, bias, residual);
}

Variable global_avg_pool2d(const Variable& x) {
  check_f32_or_bf16(x, "global_avg_pool2d");
  const MemoryFormat format = runs_channels_last(x.data()) ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous;
  const Tensor xs = x.data().contiguous(format);
  CYG_CHECK(xs.dim() == 4, "global_avg_pool2d: input ", shape_str(xs.shape()), " is not 4-D (NCHW)");
  return xs.dtype() == DType::BF16 ? global_avg_pool2d_as<uint16_t>(x, xs, format)
                                   : global_avg_pool2d_as<float>(x, xs, format);
}

Mixing Mixing::slice(int64_t begin, int64_t end) const {
  if (!on()) return {};
  CYG_CHECK(weight.defined(), "a mixing (MixUp) needs both partners and weights; it has no weights");
  return {partner.slice(begin, end), weight.slice(begin, end), cuts() ? box.slice(begin, end) : Tensor()};
}

namespace {
// A mixing's tensors checked against a batch of N on `dev`, made contiguous.
Mixing checked_mixing(const Mixing& mixing, int64_t N, Device dev, const char* op) {
  if (!mixing.on()) return {};
  CYG_CHECK(mixing.weight.defined(), op, ": a mixing (MixUp) needs both partners and weights; it has no weights");
  CYG_CHECK(mixing.partner.dtype() == DType::I32 && mixing.partner.shape() == Shape{N} && mixing.weight.dtype() == DType::F32 && mixing.weight.shape() == Shape{N},
            op, ": a mixing of a batch of ", N, " needs i32 [", N, "] partners and f32 [", N, "] weights");
  CYG_CHECK(mixing.partner.device() == dev && mixing.weight.device() == dev, op, ": mixing on ",
            mixing.partner.device().str(), ", the batch on ", dev.str());
  if (mixing.cuts())
    CYG_CHECK(mixing.box.dtype() == DType::I32 && mixing.box.shape() == (Shape{N, 4}) && mixing.box.device() == dev,
              op, ": CutMix's boxes of a batch of ", N, " must be i32 [", N, ", 4] on ", dev.str());
  return {mixing.partner.contiguous(), mixing.weight.contiguous(),
          mixing.cuts() ? mixing.box.contiguous() : Tensor()};
}

LabelMix label_mix_of(const Mixing& m) {
  if (!m.on()) return {};
  return {m.partner.data<int32_t>(), m.weight.data<float>()};
}
}  // namespace

CrossEntropy cross_entropy(const Variable& logits, const Tensor& labels, double label_smoothing,
                           const Mixing& mixing) {
  check_activation(logits, "cross_entropy");
  const Tensor z = logits.data().contiguous();
  CYG_CHECK(z.dim() == 2, "cross_entropy: logits ", shape_str(z.shape()), " are not [N, K]");
  const int64_t N = z.size(0), K = z.size(1);
  CYG_CHECK(labels.defined() && labels.dtype() == DType::I32 && labels.shape() == Shape{N},
            "cross_entropy: labels must be an i32 [", N, "] tensor");
  const Device dev = z.device();
  CYG_CHECK(labels.device() == dev, "cross_entropy: logits on ", dev.str(), ", labels on ", labels.device().str());
  const Tensor y = labels.contiguous();
  const Mixing mix = checked_mixing(mixing, N, dev, "cross_entropy");
  const float s = static_cast<float>(label_smoothing);
  Tensor loss = Tensor::empty({}, DType::F32, dev);
  Tensor correct = Tensor::empty({}, DType::I64, dev);
  Tensor lse = Tensor::empty({N}, DType::F32, dev);
  kernels_for(dev).cross_entropy_forward(z.data<float>(), y.data<int32_t>(), N, K, s, loss.data<float>(),
                                         correct.data<int64_t>(), lse.data<float>(), label_mix_of(mix));
  Variable out = make_result(loss, {logits}, "cross_entropy", [=](const Tensor& grad, const GradientSinks& sinks) {
    Tensor dz = sinks.output(0, {N, K}, dev);
    kernels_for(dev).cross_entropy_backward(z.data<float>(), y.data<int32_t>(), lse.data<float>(), N, K, s,
                                            grad.contiguous().data<float>(), dz.data<float>(), label_mix_of(mix));
    return std::vector<Tensor>{dz};
  });
  return {out, correct};
}

Tensor mix_images(const Tensor& images, const Mixing& mixing) {
  CYG_CHECK(images.defined() && images.dtype() == DType::F32 && images.dim() >= 1,
            "mix_images: images must be an f32 tensor [N, ...]");
  const int64_t N = images.size(0);
  const Mixing mix = checked_mixing(mixing, N, images.device(), "mix_images");
  CYG_CHECK(mix.on(), "mix_images: no mixing given");
  // Each image is one block of values in either layout: keep the batch's.
  const MemoryFormat format = images.dim() == 4 && images.memory_format() == MemoryFormat::ChannelsLast
                                  ? MemoryFormat::ChannelsLast
                                  : MemoryFormat::Contiguous;
  const Tensor x = images.contiguous(format);
  Tensor y = Tensor::empty(x.shape(), DType::F32, x.device(), format);
  if (mix.cuts()) {
    CYG_CHECK(x.dim() == 4, "cutmix: images ", shape_str(x.shape()), " are not [N, C, H, W]");
    kernels_for(x.device()).cutmix_images(x.data<float>(), mix.partner.data<int32_t>(), mix.box.data<int32_t>(), N,
                                          x.size(1), x.size(2), x.size(3),
                                          format == MemoryFormat::ChannelsLast ? 1 : 0, y.data<float>());
    return y;
  }
  kernels_for(x.device()).mix_images(x.data<float>(), mix.partner.data<int32_t>(), mix.weight.data<float>(), N,
                                     N > 0 ? x.numel() / N : 0, y.data<float>());
  return y;
}

Variable subsample_pad_channels(const Variable& x, int64_t stride, int64_t pad_before, int64_t pad_after) {
  check_f32_or_bf16(x, "subsample_pad_channels");
  const Tensor xs = x.data().contiguous();
  const DType dtype = xs.dtype();
  CYG_CHECK(xs.dim() == 4 && stride >= 1 && pad_before >= 0 && pad_after >= 0, "subsample_pad_channels: input ",
            shape_str(xs.shape()), ", stride ", stride);
  const int64_t N = xs.size(0), C = xs.size(1), H = xs.size(2), W = xs.size(3);
  const int64_t OH = (H + stride - 1) / stride, OW = (W + stride - 1) / stride, OC = C + pad_before + pad_after;
  // The strided view of the input and the channel window of the output it lands in.
  const Shape window{N, C, OH, OW};
  auto input_view = [=](const Tensor& t) { return t.as_strided(window, {C * H * W, H * W, stride * W, stride}); };
  auto output_view = [=](const Tensor& t) {
    return t.as_strided(window, {OC * OH * OW, OH * OW, OW, 1}, pad_before * OH * OW);
  };
  Tensor y = Tensor::zeros({N, OC, OH, OW}, dtype, xs.device());
  output_view(y).copy_(input_view(xs));
  const Device dev = xs.device();
  return make_result(y, {x}, "subsample_pad_channels", [=](const Tensor& grad, const GradientSinks&) {
    Tensor dx = Tensor::zeros({N, C, H, W}, dtype, dev);
    input_view(dx).copy_(output_view(incoming(grad, dtype)));
    return std::vector<Tensor>{dx};
  });
}

}  // namespace cyg::fn
