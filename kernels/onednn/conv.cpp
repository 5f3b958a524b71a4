// 2-D convolution on the CPU through oneDNN, the library PyTorch uses there, the way
// cuDNN is used on a GPU. The engine's activations are NCHW or channels-last (NHWC),
// its weights OIHW. Each direction of each shape gets oneDNN's preferred layouts,
// chosen once and cached with the primitive, and the operands are reordered into them
// and back where they differ. For NCHW activations oneDNN prefers blocked layouts, so
// every call reorders them; NHWC activations it takes as they are, and only the
// weights (small) are reordered. A primitive runs on oneDNN's OpenMP threads, the same
// pool as the rest of the CPU path.
#include "kernels/conv.h"

#include <omp.h>

#include <map>
#include <tuple>
#include <utility>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/error.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace cyg {

namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// One operand in the engine's layout, and the layout the primitive wants: a reorder
// and a buffer of our own when they differ.
class Operand {
 public:
  Operand() = default;
  Operand(Operand&&) = default;
  Operand& operator=(Operand&&) = default;
  Operand(const Operand&) = delete;  // inner_ wraps buffer_'s memory
  Operand& operator=(const Operand&) = delete;
  Operand(const memory::desc& user, const memory::desc& wanted)
      : user_(user), wanted_(wanted), reordered_(user != wanted) {
    if (reordered_) {
      buffer_.resize(wanted.get_size() / sizeof(float));
      inner_ = memory(wanted_, cpu_engine(), buffer_.data());
      auto& e = cpu_engine();
      to_inner_ = dnnl::reorder(dnnl::reorder::primitive_desc(e, user_, e, wanted_));
      to_user_ = dnnl::reorder(dnnl::reorder::primitive_desc(e, wanted_, e, user_));
    }
  }

  // The memory the primitive reads: `data` itself, or a reorder of it into the buffer.
  memory in(dnnl::stream& s, const float* data) {
    memory user(user_, cpu_engine(), const_cast<float*>(data));
    if (!reordered_) return user;
    to_inner_.execute(s, user, inner_);
    return inner_;
  }
  // The memory the primitive writes; `finish` brings a reordered result to `data`.
  memory out(float* data) { return reordered_ ? inner_ : memory(user_, cpu_engine(), data); }
  void finish(dnnl::stream& s, float* data) {
    if (!reordered_) return;
    memory user(user_, cpu_engine(), data);
    to_user_.execute(s, inner_, user);
  }

 private:
  memory::desc user_, wanted_;
  bool reordered_ = false;
  std::vector<float> buffer_;
  memory inner_;
  dnnl::reorder to_inner_, to_user_;
};

struct Descs {
  memory::desc src, weights, bias, dst;
  memory::desc src_any, weights_any, dst_any;
  memory::dims strides, padding;
};

Descs describe(const Conv2dShape& s, bool nhwc) {
  Descs d;
  const tag activations = nhwc ? tag::nhwc : tag::nchw;
  const memory::dims src{s.N, s.C, s.H, s.W}, weights{s.OC, s.C, s.KH, s.KW}, dst{s.N, s.OC, s.OH(), s.OW()};
  d.src = memory::desc(src, dt::f32, activations);
  d.weights = memory::desc(weights, dt::f32, tag::oihw);
  d.bias = memory::desc({s.OC}, dt::f32, tag::x);
  d.dst = memory::desc(dst, dt::f32, activations);
  // NHWC is what oneDNN's fast kernels take besides its blocked layouts: asked for as is.
  d.src_any = nhwc ? d.src : memory::desc(src, dt::f32, tag::any);
  d.weights_any = memory::desc(weights, dt::f32, tag::any);
  d.dst_any = nhwc ? d.dst : memory::desc(dst, dt::f32, tag::any);
  d.strides = {s.stride_h, s.stride_w};
  d.padding = {s.pad_h, s.pad_w};
  return d;
}

// The three primitives of one shape and the operands around them, built on first use.
// A plan is used by one call at a time (its buffers are its own).
struct Plan {
  std::mutex mutex;
  Descs d;
  dnnl::convolution_forward::primitive_desc forward_pd;
  dnnl::convolution_forward forward, forward_bias;
  Operand fwd_src, fwd_weights, fwd_dst;
  bool backward_ready = false;
  dnnl::convolution_backward_data backward_data;
  Operand bwd_data_diff_dst, bwd_data_weights, bwd_data_diff_src;
  dnnl::convolution_backward_weights backward_weights;
  Operand bwd_weights_src, bwd_weights_diff_dst, bwd_weights_diff_weights;

  Plan(const Conv2dShape& s, bool nhwc) : d(describe(s, nhwc)) {
    auto& engine = cpu_engine();
    const auto algo = dnnl::algorithm::convolution_direct;
    const auto prop = dnnl::prop_kind::forward_training;
    forward_pd = dnnl::convolution_forward::primitive_desc(
        dnnl::convolution_forward::desc(prop, algo, d.src_any, d.weights_any, d.dst_any, d.strides, d.padding,
                                        d.padding),
        engine);
    forward = dnnl::convolution_forward(forward_pd);
    // The same layouts with a bias: the bias joins the forward primitive (one pass).
    const dnnl::convolution_forward::primitive_desc with_bias(
        dnnl::convolution_forward::desc(prop, algo, forward_pd.src_desc(), forward_pd.weights_desc(), d.bias,
                                        forward_pd.dst_desc(), d.strides, d.padding, d.padding),
        engine);
    forward_bias = dnnl::convolution_forward(with_bias);
    fwd_src = Operand(d.src, forward_pd.src_desc());
    fwd_weights = Operand(d.weights, forward_pd.weights_desc());
    fwd_dst = Operand(d.dst, forward_pd.dst_desc());
  }

  void prepare_backward() {
    if (backward_ready) return;
    auto& engine = cpu_engine();
    const auto algo = dnnl::algorithm::convolution_direct;
    const dnnl::convolution_backward_data::primitive_desc data_pd(
        dnnl::convolution_backward_data::desc(algo, d.src_any, d.weights_any, d.dst_any, d.strides, d.padding,
                                              d.padding),
        engine, forward_pd);
    backward_data = dnnl::convolution_backward_data(data_pd);
    bwd_data_diff_dst = Operand(d.dst, data_pd.diff_dst_desc());
    bwd_data_weights = Operand(d.weights, data_pd.weights_desc());
    bwd_data_diff_src = Operand(d.src, data_pd.diff_src_desc());
    const dnnl::convolution_backward_weights::primitive_desc weights_pd(
        dnnl::convolution_backward_weights::desc(algo, d.src_any, d.weights_any, d.dst_any, d.strides, d.padding,
                                                 d.padding),
        engine, forward_pd);
    backward_weights = dnnl::convolution_backward_weights(weights_pd);
    bwd_weights_src = Operand(d.src, weights_pd.src_desc());
    bwd_weights_diff_dst = Operand(d.dst, weights_pd.diff_dst_desc());
    bwd_weights_diff_weights = Operand(d.weights, weights_pd.diff_weights_desc());
    backward_ready = true;
  }
};

// Keyed by the thread count too: oneDNN fixes a primitive's threads when it builds it.
Plan& plan_for(const Conv2dShape& s, bool nhwc) {
  static std::mutex mutex;
  static std::map<std::tuple<Conv2dShape, bool, int>, std::unique_ptr<Plan>> plans;
  std::lock_guard<std::mutex> lock(mutex);
  auto& p = plans[{s, nhwc, omp_get_max_threads()}];
  if (!p) p = std::make_unique<Plan>(s, nhwc);
  return *p;
}

// oneDNN reports failures as dnnl::error; the engine's callers expect cyg::Error.
template <typename F>
void checked(const char* what, const Conv2dShape& s, F&& f) {
  try {
    f();
  } catch (const dnnl::error& e) {
    throw Error(std::string("oneDNN ") + what + " failed for a convolution of input [" + std::to_string(s.N) + "," +
                std::to_string(s.C) + "," + std::to_string(s.H) + "," + std::to_string(s.W) + "], filters [" +
                std::to_string(s.OC) + "," + std::to_string(s.C) + "," + std::to_string(s.KH) + "," +
                std::to_string(s.KW) + "]: " + e.what() + " (status " + std::to_string(static_cast<int>(e.status)) +
                ")");
  }
}

}  // namespace

namespace {

// One call on the shape's plan: the plan locked, its backward primitives built where
// needed, `body` queued on a fresh stream, which is then waited for; oneDNN's errors
// become cyg::Error.
template <typename F>
void on_plan(const char* what, const Conv2dShape& s, bool nhwc, bool backward, F body) {
  checked(what, s, [&] {
    Plan& p = plan_for(s, nhwc);
    std::lock_guard<std::mutex> lock(p.mutex);
    if (backward) p.prepare_backward();
    dnnl::stream stream(cpu_engine());
    body(p, stream);
    stream.wait();
  });
}

void forward(const float* x, const float* w, const float* bias, const Conv2dShape& s, float* y, bool nhwc) {
  on_plan("convolution forward", s, nhwc, false, [&](Plan& p, dnnl::stream& stream) {
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, p.fwd_src.in(stream, x)},
                                         {DNNL_ARG_WEIGHTS, p.fwd_weights.in(stream, w)},
                                         {DNNL_ARG_DST, p.fwd_dst.out(y)}};
    if (bias) {
      args.emplace(DNNL_ARG_BIAS, memory(p.d.bias, cpu_engine(), const_cast<float*>(bias)));
      p.forward_bias.execute(stream, args);
    } else {
      p.forward.execute(stream, args);
    }
    p.fwd_dst.finish(stream, y);
  });
}

void backward_data(const float* dy, const float* w, const Conv2dShape& s, float* dx, bool nhwc) {
  on_plan("convolution backward data", s, nhwc, true, [&](Plan& p, dnnl::stream& stream) {
    p.backward_data.execute(stream, {{DNNL_ARG_DIFF_DST, p.bwd_data_diff_dst.in(stream, dy)},
                                     {DNNL_ARG_WEIGHTS, p.bwd_data_weights.in(stream, w)},
                                     {DNNL_ARG_DIFF_SRC, p.bwd_data_diff_src.out(dx)}});
    p.bwd_data_diff_src.finish(stream, dx);
  });
}

// oneDNN 2.6's jit_1x1 backward-weights kernel, for a 1x1 convolution with a stride
// and fewer input channels than its 16-wide blocks (ResNet's shortcut at widths under 16),
// corrupts the heap or never returns when several threads share the batch: a batch of 3
// on 2 threads, of 2 on 4. Such a convolution's weight gradient is that of the unstrided
// 1x1 convolution of every stride-th pixel of its input, which that kernel computes
// right; tests/kernels/test_onednn_conv.cpp checks both on several thread counts. Every
// channel count that does not fill the blocks takes this road: the counts over 16 tried
// (20 to 48) did not fail, but they share the partial block that the others break on.
bool strided_pointwise_of_few_channels(const Conv2dShape& s) {
  return s.KH == 1 && s.KW == 1 && (s.stride_h > 1 || s.stride_w > 1) && s.pad_h == 0 && s.pad_w == 0 &&
         s.C % 16 != 0;
}

void backward_filter(const float* dy, const float* x, const Conv2dShape& s, float* dw, bool nhwc) {
  if (strided_pointwise_of_few_channels(s)) {
    Conv2dShape unstrided = s;
    unstrided.H = s.OH();
    unstrided.W = s.OW();
    unstrided.stride_h = unstrided.stride_w = 1;
    const int64_t OH = s.OH(), OW = s.OW();
    std::vector<float> sampled(static_cast<size_t>(s.N * s.C * OH * OW));
    for (int64_t n = 0; n < s.N; ++n)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow)
          for (int64_t c = 0; c < s.C; ++c) {
            const int64_t h = oh * s.stride_h, w = ow * s.stride_w;
            sampled[static_cast<size_t>(nhwc ? ((n * OH + oh) * OW + ow) * s.C + c : ((n * s.C + c) * OH + oh) * OW + ow)] =
                x[nhwc ? ((n * s.H + h) * s.W + w) * s.C + c : ((n * s.C + c) * s.H + h) * s.W + w];
          }
    backward_filter(dy, sampled.data(), unstrided, dw, nhwc);
    return;
  }
  on_plan("convolution backward weights", s, nhwc, true, [&](Plan& p, dnnl::stream& stream) {
    p.backward_weights.execute(stream, {{DNNL_ARG_SRC, p.bwd_weights_src.in(stream, x)},
                                        {DNNL_ARG_DIFF_DST, p.bwd_weights_diff_dst.in(stream, dy)},
                                        {DNNL_ARG_DIFF_WEIGHTS, p.bwd_weights_diff_weights.out(dw)}});
    p.bwd_weights_diff_weights.finish(stream, dw);
  });
}

}  // namespace

void conv2d_forward_onednn(const float* x, const float* w, const float* bias, const Conv2dShape& s, float* y) {
  forward(x, w, bias, s, y, false);
}
void conv2d_backward_data_onednn(const float* dy, const float* w, const Conv2dShape& s, float* dx) {
  backward_data(dy, w, s, dx, false);
}
void conv2d_backward_filter_onednn(const float* dy, const float* x, const Conv2dShape& s, float* dw) {
  backward_filter(dy, x, s, dw, false);
}
void conv2d_forward_nhwc_onednn(const float* x, const float* w, const float* bias, const Conv2dShape& s, float* y) {
  forward(x, w, bias, s, y, true);
}
void conv2d_backward_data_nhwc_onednn(const float* dy, const float* w, const Conv2dShape& s, float* dx) {
  backward_data(dy, w, s, dx, true);
}
void conv2d_backward_filter_nhwc_onednn(const float* dy, const float* x, const Conv2dShape& s, float* dw) {
  backward_filter(dy, x, s, dw, true);
}

}  // namespace cyg
