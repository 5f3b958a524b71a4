// The differentiable ops: the forward with the kernels of the inputs' device, and the
// backward closure that captures only what it needs.
#include "engine/functional.h"

#include "engine/atomic_file.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "kernels/conv.h"
#include "kernels/error.h"

namespace cyg::fn {

namespace {
// An optional tensor's data as kernels take it: null when it is not there.
float* data_or_null(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

void check_activation(const Variable& v, const char* op) {
  CYG_CHECK(v.defined(), op, ": undefined input");
  CYG_CHECK(v.data().dtype() == DType::F32, op, ": expected f32, got ", dtype_name(v.data().dtype()));
}
}  // namespace

Variable add(const Variable& a, const Variable& b) {
  check_activation(a, "add");
  check_activation(b, "add");
  return make_result(cyg::add(a.data(), b.data()), {a, b}, "add",
                     [](const Tensor& g, const GradientSinks&) { return std::vector<Tensor>{g, g}; });
}

Variable relu(const Variable& x) {
  check_activation(x, "relu");
  Tensor y = cyg::relu(x.data());
  return make_result(y, {x}, "relu", [y](const Tensor& g, const GradientSinks&) { return std::vector<Tensor>{relu_backward(g, y)}; });
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
  return make_result(x.data().reshape(shape), {x}, "reshape",
                     [original](const Tensor& g, const GradientSinks&) { return std::vector<Tensor>{g.reshape(original)}; });
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

void set_cudnn_cache(const std::string& path) {
#if CYGNET_HAVE_CUDA
  cuda::conv2d_algorithm_cache(path, &write_file_atomically);
#else
  (void)path;
#endif
}

Variable conv2d(const Variable& x, const Variable& weight, const Variable& bias, int64_t stride, int64_t padding) {
  check_activation(x, "conv2d");
  check_activation(weight, "conv2d");
  const Tensor xs = x.data().contiguous();
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
  const bool has_bias = bias.defined();
  if (has_bias)
    CYG_CHECK(bias.data().shape() == Shape{s.OC} && bias.data().device() == xs.device(), "conv2d: bias of shape ",
              shape_str(bias.data().shape()), " on ", bias.data().device().str(), " for ", s.OC,
              " output channels on ", xs.device().str());
  const Device dev = xs.device();
  Tensor y = Tensor::empty({s.N, s.OC, s.OH(), s.OW()}, DType::F32, dev);
  kernels_for(dev).conv2d_forward(xs.data<float>(), w.data<float>(), has_bias ? bias.data().data<float>() : nullptr,
                                  s, y.data<float>());
  const bool need_dx = x.requires_grad(), need_dw = weight.requires_grad(),
             need_db = has_bias && bias.requires_grad();
  // The input is kept only when the filter gradient needs it, the weight only for dx.
  Tensor saved_x = need_dw ? xs : Tensor(), saved_w = need_dx ? w : Tensor();
  return make_result(y, {x, weight, bias}, "conv2d", [=](const Tensor& grad, const GradientSinks& sinks) {
    const Tensor g = grad.contiguous();
    const Kernels& k = kernels_for(dev);
    Tensor dx, dw, db;
    if (need_dx) {
      dx = sinks.output(0, {s.N, s.C, s.H, s.W}, dev);
      k.conv2d_backward_data(g.data<float>(), saved_w.data<float>(), s, dx.data<float>());
    }
    if (need_dw) {
      dw = sinks.output(1, {s.OC, s.C, s.KH, s.KW}, dev);
      k.conv2d_backward_filter(g.data<float>(), saved_x.data<float>(), s, dw.data<float>());
    }
    if (need_db) {
      db = sinks.output(2, {s.OC}, dev);
      k.bias_grad(g.data<float>(), s.N, s.OC, s.OH() * s.OW(), db.data<float>());
    }
    return std::vector<Tensor>{dx, dw, db};
  });
}

Variable linear(const Variable& x, const Variable& weight, const Variable& bias) {
  check_activation(x, "linear");
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
  Tensor y = Tensor::empty({N, out}, DType::F32, dev);
  kernels_for(dev).linear_forward(xs.data<float>(), w.data<float>(), has_bias ? bias.data().data<float>() : nullptr,
                                  N, in, out, y.data<float>());
  const bool need_dx = x.requires_grad(), need_dw = weight.requires_grad(),
             need_db = has_bias && bias.requires_grad();
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
  Tensor xs, gamma, residual;  // residual: contiguous, for AddRelu only
  const float* beta = nullptr;
  float* running_mean = nullptr;
  float* running_var = nullptr;
  int64_t N = 0, C = 0, HW = 0;
  Device dev;
  bool affine = false;
  float eps = 0, momentum = 0;
  BatchNormThen then = BatchNormThen::Nothing;

  BatchNormFusion<float> fusion() const {
    const BatchNormEpilogue epilogue = then == BatchNormThen::Nothing ? BatchNormEpilogue::None
                                       : then == BatchNormThen::Relu  ? BatchNormEpilogue::Relu
                                                                      : BatchNormEpilogue::AddRelu;
    return {epilogue, data_or_null(residual)};
  }
};

BatchNormArgs check_batch_norm(const Variable& x, const Variable& weight, const Variable& bias,
                               const Tensor& running_mean, const Tensor& running_var, bool training,
                               BatchNormThen then, const Variable& residual) {
  check_activation(x, "batch_norm");
  BatchNormArgs a;
  a.xs = x.data().contiguous();
  CYG_CHECK(a.xs.dim() == 4, "batch_norm: input ", shape_str(a.xs.shape()), " is not 4-D (NCHW)");
  a.N = a.xs.size(0), a.C = a.xs.size(1), a.HW = a.xs.size(2) * a.xs.size(3);
  a.dev = a.xs.device();
  auto check_channels = [&](const Tensor& t, const char* what) {
    CYG_CHECK(t.defined() && t.shape() == Shape{a.C} && t.dtype() == DType::F32 && t.device() == a.dev &&
                  t.is_contiguous(),
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
    check_activation(residual, "batch_norm");
    a.residual = residual.data().contiguous();
    CYG_CHECK(a.residual.shape() == a.xs.shape() && a.residual.device() == a.dev, "batch_norm: residual ",
              shape_str(a.residual.shape()), " on ", a.residual.device().str(), " for an input ",
              shape_str(a.xs.shape()), " on ", a.dev.str());
  }
  return a;
}

// What a batch_norm backward fills, and hands back for its inputs (x, weight, bias,
// residual). The kernels always produce dgamma and dbeta (dx is built from them).
struct BatchNormGrads {
  Tensor dx, dgamma, dbeta, dresidual;
  // With affine parameters dgamma and dbeta go to their sinks (the parameters' .grad);
  // without, they are scratch.
  BatchNormGrads(const BatchNormArgs& a, bool residual_gradient, const GradientSinks& sinks)
      : dx(sinks.output(0, a.xs.shape(), a.dev)),
        dgamma(a.affine ? sinks.output(1, {a.C}, a.dev) : Tensor::empty({a.C}, DType::F32, a.dev)),
        dbeta(a.affine ? sinks.output(2, {a.C}, a.dev) : Tensor::empty({a.C}, DType::F32, a.dev)),
        dresidual(residual_gradient ? sinks.output(3, a.xs.shape(), a.dev) : Tensor()) {}
  // The fused ReLU's mask is the forward's output y.
  BatchNormBackwardFusion<float> fusion(const BatchNormArgs& a, const Tensor& y) const {
    return {a.then == BatchNormThen::Nothing ? nullptr : y.data<float>(), data_or_null(dresidual)};
  }
  std::vector<Tensor> for_inputs(bool affine) const {
    return {dx, affine ? dgamma : Tensor(), affine ? dbeta : Tensor(), dresidual};
  }
};

Variable batch_norm_eval(const BatchNormArgs& a, const Variable& x, const Variable& weight, const Variable& bias,
                         const Variable& residual, const Tensor& running_mean, const Tensor& running_var) {
  Tensor y = Tensor::empty(a.xs.shape(), DType::F32, a.dev);
  kernels_for(a.dev).batchnorm_forward_eval(a.xs.data<float>(), data_or_null(a.gamma), a.beta, a.running_mean,
                                            a.running_var, a.N, a.C, a.HW, a.eps, y.data<float>(), a.fusion());
  // A backward needs copies (a later training forward would update the running
  // statistics in place); evaluation without gradients makes none.
  const bool recorded = grad_mode_enabled() && (x.requires_grad() || weight.requires_grad() ||
                                                bias.requires_grad() || residual.requires_grad());
  const Tensor saved_mean = recorded ? running_mean.clone() : Tensor();
  const Tensor saved_var = recorded ? running_var.clone() : Tensor();
  const bool residual_gradient = residual.requires_grad();
  return make_result(y, {x, weight, bias, residual}, "batch_norm_eval",
                     [=](const Tensor& grad, const GradientSinks& sinks) {
                       const Tensor g = grad.contiguous();
                       BatchNormGrads d(a, residual_gradient, sinks);
                       kernels_for(a.dev).batchnorm_backward_eval(
                           g.data<float>(), a.xs.data<float>(), data_or_null(a.gamma), saved_mean.data<float>(),
                           saved_var.data<float>(), a.N, a.C, a.HW, a.eps, d.dx.data<float>(), d.dgamma.data<float>(),
                           d.dbeta.data<float>(), d.fusion(a, y));
                       return d.for_inputs(a.affine);
                     });
}

Variable batch_norm_train(const BatchNormArgs& a, const Variable& x, const Variable& weight, const Variable& bias,
                          const Variable& residual) {
  Tensor y = Tensor::empty(a.xs.shape(), DType::F32, a.dev);
  Tensor save_mean = Tensor::empty({a.C}, DType::F32, a.dev), save_invstd = Tensor::empty({a.C}, DType::F32, a.dev);
  kernels_for(a.dev).batchnorm_forward_train(a.xs.data<float>(), data_or_null(a.gamma), a.beta, a.N, a.C, a.HW, a.eps,
                                             a.momentum, y.data<float>(), save_mean.data<float>(),
                                             save_invstd.data<float>(), a.running_mean, a.running_var, a.fusion());
  const bool residual_gradient = residual.requires_grad();
  return make_result(y, {x, weight, bias, residual}, "batch_norm", [=](const Tensor& grad, const GradientSinks& sinks) {
    const Tensor g = grad.contiguous();
    BatchNormGrads d(a, residual_gradient, sinks);
    kernels_for(a.dev).batchnorm_backward(g.data<float>(), a.xs.data<float>(), data_or_null(a.gamma),
                                          save_mean.data<float>(), save_invstd.data<float>(), a.N, a.C, a.HW,
                                          d.dx.data<float>(), d.dgamma.data<float>(), d.dbeta.data<float>(),
                                          d.fusion(a, y));
    return d.for_inputs(a.affine);
  });
}
}  // namespace

Variable batch_norm(const Variable& x, const Variable& weight, const Variable& bias, const Tensor& running_mean,
                    const Tensor& running_var, BatchNormMode mode, double momentum, double eps, BatchNormThen then,
                    const Variable& residual) {
  BatchNormArgs a = check_batch_norm(x, weight, bias, running_mean, running_var, mode == BatchNormMode::Train, then,
                                     residual);
  a.eps = static_cast<float>(eps);
  a.momentum = static_cast<float>(momentum);
  if (mode == BatchNormMode::Eval) return batch_norm_eval(a, x, weight, bias, residual, running_mean, running_var);
  return batch_norm_train(a, x, weight, bias, residual);
}

Variable global_avg_pool2d(const Variable& x) {
  check_activation(x, "global_avg_pool2d");
  const Tensor xs = x.data().contiguous();
  CYG_CHECK(xs.dim() == 4, "global_avg_pool2d: input ", shape_str(xs.shape()), " is not 4-D (NCHW)");
  const int64_t N = xs.size(0), C = xs.size(1), H = xs.size(2), W = xs.size(3);
  const Device dev = xs.device();
  Tensor y = Tensor::empty({N, C}, DType::F32, dev);
  kernels_for(dev).global_avg_pool_forward(xs.data<float>(), N, C, H, W, y.data<float>());
  return make_result(y, {x}, "global_avg_pool2d", [=](const Tensor& grad, const GradientSinks& sinks) {
    const Tensor g = grad.contiguous();
    Tensor dx = sinks.output(0, {N, C, H, W}, dev);
    kernels_for(dev).global_avg_pool_backward(g.data<float>(), N, C, H, W, dx.data<float>());
    return std::vector<Tensor>{dx};
  });
}

CrossEntropy cross_entropy(const Variable& logits, const Tensor& labels, double label_smoothing) {
  check_activation(logits, "cross_entropy");
  const Tensor z = logits.data().contiguous();
  CYG_CHECK(z.dim() == 2, "cross_entropy: logits ", shape_str(z.shape()), " are not [N, K]");
  const int64_t N = z.size(0), K = z.size(1);
  CYG_CHECK(labels.defined() && labels.dtype() == DType::I32 && labels.shape() == Shape{N},
            "cross_entropy: labels must be an i32 [", N, "] tensor");
  const Device dev = z.device();
  CYG_CHECK(labels.device() == dev, "cross_entropy: logits on ", dev.str(), ", labels on ", labels.device().str());
  const Tensor y = labels.contiguous();
  const float s = static_cast<float>(label_smoothing);
  Tensor loss = Tensor::empty({}, DType::F32, dev);
  Tensor correct = Tensor::empty({}, DType::I64, dev);
  Tensor lse = Tensor::empty({N}, DType::F32, dev);
  kernels_for(dev).cross_entropy_forward(z.data<float>(), y.data<int32_t>(), N, K, s, loss.data<float>(),
                                         correct.data<int64_t>(), lse.data<float>());
  Variable out = make_result(loss, {logits}, "cross_entropy", [=](const Tensor& grad, const GradientSinks& sinks) {
    Tensor dz = sinks.output(0, {N, K}, dev);
    kernels_for(dev).cross_entropy_backward(z.data<float>(), y.data<int32_t>(), lse.data<float>(), N, K, s,
                                            grad.contiguous().data<float>(), dz.data<float>());
    return std::vector<Tensor>{dz};
  });
  return {out, correct};
}

Variable subsample_pad_channels(const Variable& x, int64_t stride, int64_t pad_before, int64_t pad_after) {
  check_activation(x, "subsample_pad_channels");
  const Tensor xs = x.data().contiguous();
  CYG_CHECK(xs.dim() == 4 && stride >= 1 && pad_before >= 0 && pad_after >= 0,
            "subsample_pad_channels: input ", shape_str(xs.shape()), ", stride ", stride);
  const int64_t N = xs.size(0), C = xs.size(1), H = xs.size(2), W = xs.size(3);
  const int64_t OH = (H + stride - 1) / stride, OW = (W + stride - 1) / stride, OC = C + pad_before + pad_after;
  // The strided view of the input and the channel window of the output it lands in.
  const Shape window{N, C, OH, OW};
  auto input_view = [=](const Tensor& t) { return t.as_strided(window, {C * H * W, H * W, stride * W, stride}); };
  auto output_view = [=](const Tensor& t) {
    return t.as_strided(window, {OC * OH * OW, OH * OW, OW, 1}, pad_before * OH * OW);
  };
  Tensor y = Tensor::zeros({N, OC, OH, OW}, DType::F32, xs.device());
  output_view(y).copy_(input_view(xs));
  const Device dev = xs.device();
  return make_result(y, {x}, "subsample_pad_channels", [=](const Tensor& grad, const GradientSinks&) {
    Tensor dx = Tensor::zeros({N, C, H, W}, DType::F32, dev);
    input_view(dx).copy_(output_view(grad.contiguous()));
    return std::vector<Tensor>{dx};
  });
}

}  // namespace cyg::fn
