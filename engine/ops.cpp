// Each op: check dtypes, shapes and devices, make inputs contiguous, then one kernel of
// the tensors' backend (engine/dispatch.h).
#include "engine/ops.h"

#include <cmath>

#include "engine/dispatch.h"
#include "kernels/error.h"
#include "kernels/reduce.h"

namespace cyg {
namespace {
void check_f32(const Tensor& t, const char* op) {
  CYG_CHECK(t.defined(), op, ": undefined tensor");
  CYG_CHECK(t.dtype() == DType::F32, op, ": expected an f32 tensor, got ", dtype_name(t.dtype()));
}

void check_same(const Tensor& a, const Tensor& b, const char* op) {
  check_f32(a, op);
  check_f32(b, op);
  CYG_CHECK(a.shape() == b.shape(), op, ": shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()), " differ");
  CYG_CHECK(a.device() == b.device(), op, ": tensors on ", a.device().str(), " and ", b.device().str());
}

const char* reduction_name(Reduction r) { return r == Reduction::Mean ? "mean" : "sum"; }

Tensor reduce_all(const Tensor& x, Reduction r) {
  check_f32(x, reduction_name(r));
  const Tensor xc = x.contiguous();
  Tensor out = Tensor::empty({}, DType::F32, x.device());
  const Kernels& k = kernels_for(x);
  (r == Reduction::Mean ? k.mean : k.sum)(xc.data<float>(), xc.numel(), out.data<float>());
  return out;
}

Tensor reduce_dim(const Tensor& x, int64_t dim, Reduction r) {
  check_f32(x, reduction_name(r));
  const int64_t nd = x.dim();
  if (dim < 0) dim += nd;
  CYG_CHECK(dim >= 0 && dim < nd, "reduction over dimension ", dim, " of a ", nd, "-D tensor");
  const Tensor xc = x.contiguous();
  int64_t outer = 1, inner = 1;
  Shape out_shape;
  for (int64_t k = 0; k < nd; ++k) {
    if (k < dim) outer *= x.size(k);
    if (k > dim) inner *= x.size(k);
    if (k != dim) out_shape.push_back(x.size(k));
  }
  Tensor out = Tensor::empty(out_shape, DType::F32, x.device());
  const Kernels& k = kernels_for(x);
  (r == Reduction::Mean ? k.mean_dim : k.sum_dim)(xc.data<float>(), outer, x.size(dim), inner, out.data<float>());
  return out;
}
}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  // Two bf16 tensors (activations or their gradients under bf16 autocast) add in float
  // and round once.
  if (a.defined() && b.defined() && a.dtype() == DType::BF16 && b.dtype() == DType::BF16) {
    CYG_CHECK(a.shape() == b.shape() && a.device() == b.device(), "add: shapes ", shape_str(a.shape()), " and ",
              shape_str(b.shape()), " on ", a.device().str(), " and ", b.device().str());
    const MemoryFormat f = a.memory_format();
    const Tensor ac = a.contiguous(f), bc = b.contiguous(f);
    Tensor y = Tensor::empty(a.shape(), DType::BF16, a.device(), f);
    kernels_for(a).add_bf16(ac.data<uint16_t>(), bc.data<uint16_t>(), y.data<uint16_t>(), y.numel());
    return y;
  }
  check_same(a, b, "add");
  const MemoryFormat f = a.memory_format();
  const Tensor ac = a.contiguous(f), bc = b.contiguous(f);
  Tensor y = Tensor::empty(a.shape(), DType::F32, a.device(), f);
  kernels_for(a).add(ac.data<float>(), bc.data<float>(), y.data<float>(), y.numel());
  return y;
}

Tensor& axpy_(Tensor& y, float alpha, const Tensor& x) {
  check_same(y, x, "axpy_");
  CYG_CHECK(y.is_contiguous(), "axpy_: the destination must be contiguous");
  const Tensor xc = x.contiguous();
  kernels_for(y).axpy(alpha, xc.data<float>(), y.data<float>(), y.numel());
  y.storage()->bump_version();
  return y;
}

Tensor& increment_(Tensor& counter, int64_t by) {
  CYG_CHECK(counter.defined() && counter.dtype() == DType::I64 && counter.numel() == 1,
            "increment_: expected a one-element i64 tensor");
  kernels_for(counter).increment(counter.data<int64_t>(), by);
  return counter;
}

void accumulate_metrics(Tensor& loss_sum, Tensor& correct_sum, Tensor& step_losses, Tensor& next_slot,
                        const Tensor& loss, const Tensor& correct, float count, MetricsPart part) {
  CYG_CHECK(loss_sum.dtype() == DType::F32 && correct_sum.dtype() == DType::I64 && step_losses.dtype() == DType::F32 &&
                next_slot.dtype() == DType::I64 && next_slot.numel() == 1 && loss.dtype() == DType::F32 &&
                correct.dtype() == DType::I64,
            "accumulate_metrics: expected f32 sums and losses and i64 counts");
  kernels_for(loss_sum).accumulate_metrics(loss_sum.data<float>(), correct_sum.data<int64_t>(),
                                           step_losses.data<float>(), next_slot.data<int64_t>(), step_losses.numel(),
                                           loss.data<float>(), correct.data<int64_t>(), count, part);
}

Tensor scale(const Tensor& x, float alpha) {
  check_f32(x, "scale");
  const MemoryFormat f = x.memory_format();
  const Tensor xc = x.contiguous(f);
  Tensor y = Tensor::empty(x.shape(), DType::F32, x.device(), f);
  kernels_for(x).scale(alpha, xc.data<float>(), y.data<float>(), y.numel());
  return y;
}

Tensor relu(const Tensor& x) {
  check_f32(x, "relu");
  const MemoryFormat f = x.memory_format();
  const Tensor xc = x.contiguous(f);
  Tensor y = Tensor::empty(x.shape(), DType::F32, x.device(), f);
  kernels_for(x).relu_forward(xc.data<float>(), y.data<float>(), y.numel());
  return y;
}

Tensor relu_backward(const Tensor& grad_out, const Tensor& out) {
  check_same(grad_out, out, "relu_backward");
  const MemoryFormat f = out.memory_format();
  const Tensor gc = grad_out.contiguous(f), oc = out.contiguous(f);
  Tensor dx = Tensor::empty(out.shape(), DType::F32, out.device(), f);
  kernels_for(out).relu_backward(gc.data<float>(), oc.data<float>(), dx.data<float>(), dx.numel());
  return dx;
}

Tensor sum(const Tensor& x) { return reduce_all(x, Reduction::Sum); }
Tensor mean(const Tensor& x) { return reduce_all(x, Reduction::Mean); }
Tensor sum(const Tensor& x, int64_t dim) { return reduce_dim(x, dim, Reduction::Sum); }
Tensor mean(const Tensor& x, int64_t dim) { return reduce_dim(x, dim, Reduction::Mean); }

std::vector<int64_t> histogram(const Tensor& x, float lo, float hi, int bins) {
  CYG_CHECK(x.defined() && (x.dtype() == DType::F32 || x.dtype() == DType::BF16),
            "histogram: expected an f32 or bf16 tensor");
  CYG_CHECK(bins >= 1 && bins <= kMaxHistogramBins && lo < hi && std::isfinite((hi - lo) * static_cast<float>(bins)),
            "histogram of ", bins, " bins over [", lo, ", ", hi, "]: expected 1 to ", kMaxHistogramBins,
            " bins over a finite range, lo < hi");
  const Tensor xc = x.is_dense() ? x : x.contiguous();
  Tensor counts = Tensor::zeros({bins}, DType::I64, x.device());
  const Kernels& k = kernels_for(x);
  if (xc.numel() > 0) {
    if (xc.dtype() == DType::BF16) k.histogram_bf16(xc.data<uint16_t>(), xc.numel(), lo, hi, bins, counts.data<int64_t>());
    else k.histogram(xc.data<float>(), xc.numel(), lo, hi, bins, counts.data<int64_t>());
  }
  const Tensor host = counts.to(Device::cpu());
  return std::vector<int64_t>(host.data<int64_t>(), host.data<int64_t>() + bins);
}

Moments moments(const Tensor& x, float threshold) {
  CYG_CHECK(x.defined() && (x.dtype() == DType::F32 || x.dtype() == DType::BF16),
            "moments: expected an f32 or bf16 tensor");
  // The values' order does not matter: a dense tensor (NCHW or NHWC) is read as it lies.
  const Tensor xc = x.is_dense() ? x : x.contiguous();
  const int64_t n = xc.numel();
  Moments m;
  m.count = static_cast<double>(n);
  if (n == 0) return m;
  Tensor chunks = Tensor::empty({kMomentsPerChunk * moment_chunks(n)}, DType::F32, x.device());
  const Kernels& k = kernels_for(x);
  // One pass: each chunk's (sum, squares about shift, count at or below), added in double.
  const auto pass = [&](float shift) {
    if (xc.dtype() == DType::BF16) k.moments_bf16(xc.data<uint16_t>(), n, shift, threshold, chunks.data<float>());
    else k.moments(xc.data<float>(), n, shift, threshold, chunks.data<float>());
    double totals[kMomentsPerChunk] = {};
    const std::vector<float> sums = chunks.to_vector();
    for (size_t c = 0; c < sums.size(); ++c) totals[c % kMomentsPerChunk] += sums[c];
    return std::vector<double>(totals, totals + kMomentsPerChunk);
  };
  const std::vector<double> first = pass(0.0f);
  m.sum = first[0];
  m.at_or_below = first[2];
  m.centred_squares = pass(static_cast<float>(m.sum / m.count))[1];
  return m;
}

}  // namespace cyg
