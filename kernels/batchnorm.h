// BatchNorm2d: statistics per channel over the m = N*HW values of that channel of an
// NCHW tensor seen as [N, C, HW]. Numerics follow PyTorch: the batch (biased) variance
// normalises, invstd = 1/sqrt(var + eps); running_var tracks the unbiased variance
// var*m/(m-1) and running_mean the batch mean, each as running = (1 - momentum)*running
// + momentum*batch. eps and momentum are arguments (PyTorch's defaults: 1e-5, 0.1).
//
// What callers (the autograd layer) must know:
// - gamma == beta == nullptr is affine=false: gamma 1, beta 0. Both or neither.
// - Training needs m >= 2 per channel, because the unbiased variance divides by m - 1;
//   m < 2 throws cyg::Error, as PyTorch refuses it. Eval accepts any m.
// - running_mean == running_var == nullptr: no tracking (track_running_stats=False).
//   Both or neither.
// - save_mean and save_invstd (C values each) are always written: the backward reads them.
// - The backward is training mode (gradients through the batch statistics). dgamma and
//   dbeta (C values each, overwritten) are always written, sum(dy*xhat) and sum(dy):
//   dx is built from them, so with affine=false pass C values of scratch for each.
// - Fusion (ResNet's bn -> relu and bn -> + shortcut -> relu, one kernel each): the
//   forward's epilogue adds the residual and applies the ReLU as it writes y; the
//   backward reads the ReLU's mask from that y (dy counts where y > 0) and can write the
//   masked dy, the residual's gradient. The values are those of the unfused chain.
//   Channels-last, the forward can also write the mask as bits (BatchNormFusion::mask),
//   which the backward then reads in place of y: 1 bit an element where y costs 16 (bf16).
#pragma once
#include <cmath>

#include "kernels/common.h"
#include "kernels/error.h"
#include "kernels/relu.h"

namespace cyg {

// Where the k-th value (k in [0, m)) of channel c lives, and which channel the element at
// offset i belongs to, in the index type a launch chose (32 bits where they fit). NCHW;
// BatchNormLayoutNhwc below is the channels-last one.
struct BatchNormLayout {
  int64_t N, C, HW;
  CYG_HD int64_t per_channel() const { return N * HW; }
  CYG_HD int64_t numel() const { return N * C * HW; }
  template <typename Index = int64_t>
  CYG_HD Index offset(Index c, Index k) const {
    const Index hw = static_cast<Index>(HW);
    const Index n = k / hw;
    return (n * static_cast<Index>(C) + c) * hw + (k - n * hw);
  }
  template <typename Index = int64_t>
  CYG_HD Index channel_of(Index i) const {
    return (i / static_cast<Index>(HW)) % static_cast<Index>(C);
  }
  // Where image n's values of channel c start; HW of them follow contiguously.
  CYG_HD int64_t plane(int64_t n, int64_t c) const { return (n * C + c) * HW; }
};

// Channels-last (NHWC): N*HW rows of C values, the channel the fastest index.
struct BatchNormLayoutNhwc {
  int64_t N, C, HW;
  CYG_HD int64_t per_channel() const { return N * HW; }
  CYG_HD int64_t numel() const { return N * C * HW; }
  template <typename Index = int64_t>
  CYG_HD Index offset(Index c, Index k) const {
    return k * static_cast<Index>(C) + c;
  }
  template <typename Index = int64_t>
  CYG_HD Index channel_of(Index i) const {
    return i % static_cast<Index>(C);
  }
};

// What the normalisation is followed by in the same kernel.
enum class BatchNormEpilogue { None, Relu, AddRelu };

template <typename T>
struct BatchNormFusion {
  BatchNormEpilogue epilogue = BatchNormEpilogue::None;
  const T* residual = nullptr;  // AddRelu: added before the ReLU, laid out as y
  // A ReLU epilogue's mask, written as bits (kernels/relu.h) besides y where set: by the
  // channels-last training forward only. The CUDA kernels write it where they read whole
  // packs of 8 values (batchnorm_nhwc_width_for gives 8: bf16, C a multiple of 8, aligned)
  // and refuse it elsewhere; the CPU twin writes it at any width.
  uint8_t* mask = nullptr;
};

// The backward of a fused forward.
template <typename T>
struct BatchNormBackwardFusion {
  const T* y = nullptr;    // the fused forward's output: the ReLU's mask (null: no ReLU)
  T* dresidual = nullptr;  // AddRelu: receives the masked dy, the residual's gradient
  const uint8_t* mask = nullptr;  // the ReLU's mask as the forward wrote its bits, in place of y
  CYG_HD bool masked() const { return y != nullptr || mask != nullptr; }
};

// y[i] from the normalised value v, as the unfused add and ReLU would make it. S is the
// activations' storage (float, double or bf16 bits); the math runs in T, and a bf16 y is
// rounded once, after the epilogue.
// The _of forms take the residual and y already read (the vectorised kernels read
// several at once); the others read element i.
template <typename T>
CYG_HD T batchnorm_epilogue_of(T v, BatchNormEpilogue epilogue, T residual) {
  if (epilogue == BatchNormEpilogue::AddRelu) v = v + residual;
  return epilogue == BatchNormEpilogue::None ? v : relu_forward_op(v);
}
template <typename T, typename S>
CYG_HD T batchnorm_epilogue(T v, const BatchNormFusion<S>& f, int64_t i) {
  return batchnorm_epilogue_of(
      v, f.epilogue, f.epilogue == BatchNormEpilogue::AddRelu ? static_cast<T>(widen(f.residual[i])) : T(0));
}

// The gradient reaching the normalisation: dy through the fused ReLU's mask.
template <typename T>
CYG_HD T batchnorm_masked_dy_of(T dy, bool masked, T y) {
  return masked ? relu_backward_op(dy, y) : dy;
}
template <typename T, typename S>
CYG_HD T batchnorm_masked_dy(T dy, const BatchNormBackwardFusion<S>& f, int64_t i) {
  if (f.mask != nullptr) return relu_backward_from_mask(dy, relu_mask_bit(f.mask, i));
  return batchnorm_masked_dy_of(dy, f.y != nullptr, f.y != nullptr ? static_cast<T>(widen(f.y[i])) : T(0));
}

template <typename T>
CYG_HD T batchnorm_invstd(T var, T eps) {
  return T(1) / std::sqrt(var + eps);
}
template <typename T>
CYG_HD T batchnorm_unbiased_variance(T biased_var, int64_t m) {
  return biased_var * T(m) / T(m - 1);
}
template <typename T>
CYG_HD T batchnorm_running_update(T running, T batch, T momentum) {
  return (T(1) - momentum) * running + momentum * batch;
}
// A channel's statistics from its sums, over its m values, of x - shift and of its square,
// in double: one pass over the channel. shift is one of the channel's values, so that a
// mean far from zero costs no precision.
template <typename T>
struct BatchNormStats {
  T mean, invstd, unbiased_var;
};
template <typename T>
CYG_HD BatchNormStats<T> batchnorm_stats_from_sums(double shift, int64_t m, double sum, double squares, T eps) {
  const double shifted_mean = sum / static_cast<double>(m);
  double var = squares / static_cast<double>(m) - shifted_mean * shifted_mean;
  var = var < 0.0 ? 0.0 : var;  // rounding below 0; a NaN stays NaN
  return {static_cast<T>(shifted_mean + shift), static_cast<T>(batchnorm_invstd(var, static_cast<double>(eps))),
          static_cast<T>(batchnorm_unbiased_variance(var, m))};
}
// A missing affine parameter (affine=false) reads as its identity value.
template <typename T>
CYG_HD T batchnorm_param(const T* p, int64_t c, T identity) {
  return p != nullptr ? p[c] : identity;
}
template <typename T>
CYG_HD T batchnorm_xhat(T x, T mean, T invstd) {
  return (x - mean) * invstd;
}
template <typename T>
CYG_HD T batchnorm_normalise(T x, T mean, T invstd, T gamma, T beta) {
  return batchnorm_xhat(x, mean, invstd) * gamma + beta;
}
// mean and invstd are functions of every x of the channel, hence the channel means of
// dy and of dy*xhat subtracted from dy.
template <typename T>
CYG_HD T batchnorm_backward_dx(T dy, T xhat, T mean_dy, T mean_dy_xhat, T gamma_invstd) {
  return gamma_invstd * (dy - mean_dy - xhat * mean_dy_xhat);
}

// In evaluation the statistics are constants: dx is dy scaled per channel.
template <typename T>
CYG_HD T batchnorm_backward_dx_eval(T dy, T gamma_invstd) {
  return gamma_invstd * dy;
}

inline void check_batchnorm_train_args(int64_t N, int64_t HW, const void* gamma, const void* beta,
                                       const void* running_mean, const void* running_var) {
  CYG_CHECK(N * HW > 1, "batchnorm training needs more than one value per channel (N*H*W = ", N * HW,
            "): the unbiased running variance divides by N*H*W - 1");
  CYG_CHECK((gamma == nullptr) == (beta == nullptr), "batchnorm: gamma and beta must both be given or both be null");
  CYG_CHECK((running_mean == nullptr) == (running_var == nullptr),
            "batchnorm: running_mean and running_var must both be given or both be null");
}

// A training forward reads x twice (the statistics, then the normalisation), and on a GPU
// every block reads the channel's first row again as its shift: y written over x would
// change values other blocks have yet to read. So y may not overlap x.
inline void check_batchnorm_not_in_place(const void* x, const void* y, int64_t bytes, const char* where) {
  const auto xa = reinterpret_cast<uintptr_t>(x), ya = reinterpret_cast<uintptr_t>(y);
  const auto n = static_cast<uintptr_t>(bytes > 0 ? bytes : 0);
  CYG_CHECK(n == 0 || ya + n <= xa || xa + n <= ya, where,
            ": y overlaps x; a training forward cannot run in place (give y memory of its own)");
}

inline void check_batchnorm_eval_args(const void* gamma, const void* beta, const void* running_mean,
                                      const void* running_var) {
  CYG_CHECK((gamma == nullptr) == (beta == nullptr), "batchnorm: gamma and beta must both be given or both be null");
  CYG_CHECK(running_mean != nullptr && running_var != nullptr, "batchnorm eval needs the running statistics");
}

// The ReLU's mask as bits is written by the channels-last training forward only
// (`writes_bits`), after a ReLU.
template <typename S>
void check_batchnorm_mask_bits(const BatchNormFusion<S>& fusion, bool writes_bits, const char* where) {
  if (fusion.mask == nullptr) return;
  CYG_CHECK(writes_bits, where, ": the ReLU mask as bits is written by the channels-last training forward only");
  CYG_CHECK(fusion.epilogue != BatchNormEpilogue::None, where, ": a ReLU mask as bits without a ReLU epilogue");
}

inline void check_batchnorm_backward_args(const void* dgamma, const void* dbeta) {
  CYG_CHECK(dgamma != nullptr && dbeta != nullptr,
            "batchnorm backward writes dgamma and dbeta (scratch when affine=false): dx is built from them");
}

// y (and dx) must not alias x (or dy): every block reads x while others write y.
//
// T = float or double (double for the finite-difference checks): the parameters,
// statistics and math. S = the activations' storage (x, y, dy, dx, the residual):
// T itself, or uint16_t (bf16 bits) with T = float, as bf16 autocast runs batchnorm.
template <typename T, typename S = T>
void batchnorm_forward_train_cpu(const S* x, const T* gamma, const T* beta, int64_t N, int64_t C, int64_t HW, T eps,
                                 T momentum, S* y, T* save_mean, T* save_invstd, T* running_mean, T* running_var,
                                 BatchNormFusion<S> fusion = {});
template <typename T, typename S = T>
void batchnorm_forward_eval_cpu(const S* x, const T* gamma, const T* beta, const T* running_mean, const T* running_var,
                                int64_t N, int64_t C, int64_t HW, T eps, S* y, BatchNormFusion<S> fusion = {});
template <typename T, typename S = T>
void batchnorm_backward_cpu(const S* dy, const S* x, const T* gamma, const T* save_mean, const T* save_invstd,
                            int64_t N, int64_t C, int64_t HW, S* dx, T* dgamma, T* dbeta,
                            BatchNormBackwardFusion<S> fusion = {});
// Backward of the evaluation forward (running statistics, e.g. a frozen batchnorm
// being fine-tuned through): dgamma and dbeta as in training, dx = gamma*invstd*dy.
template <typename T, typename S = T>
void batchnorm_backward_eval_cpu(const S* dy, const S* x, const T* gamma, const T* running_mean,
                                 const T* running_var, int64_t N, int64_t C, int64_t HW, T eps, S* dx, T* dgamma,
                                 T* dbeta, BatchNormBackwardFusion<S> fusion = {});

// The same four on channels-last (NHWC) activations, seen as N*HW rows of C values
// (kernels/cpu/batchnorm_nhwc.cpp); fused epilogues and offsets i index that layout.
template <typename T, typename S = T>
void batchnorm_forward_train_nhwc_cpu(const S* x, const T* gamma, const T* beta, int64_t N, int64_t C, int64_t HW,
                                      T eps, T momentum, S* y, T* save_mean, T* save_invstd, T* running_mean,
                                      T* running_var, BatchNormFusion<S> fusion = {});
template <typename T, typename S = T>
void batchnorm_forward_eval_nhwc_cpu(const S* x, const T* gamma, const T* beta, const T* running_mean,
                                     const T* running_var, int64_t N, int64_t C, int64_t HW, T eps, S* y,
                                     BatchNormFusion<S> fusion = {});
template <typename T, typename S = T>
void batchnorm_backward_nhwc_cpu(const S* dy, const S* x, const T* gamma, const T* save_mean, const T* save_invstd,
                                 int64_t N, int64_t C, int64_t HW, S* dx, T* dgamma, T* dbeta,
                                 BatchNormBackwardFusion<S> fusion = {});
template <typename T, typename S = T>
void batchnorm_backward_eval_nhwc_cpu(const S* dy, const S* x, const T* gamma, const T* running_mean,
                                      const T* running_var, int64_t N, int64_t C, int64_t HW, T eps, S* dx, T* dgamma,
                                      T* dbeta, BatchNormBackwardFusion<S> fusion = {});

// The CUDA reductions split each channel into `slices` pieces, one block each (so a
// GPU fills up even at 64 channels), and finish the per-slice double partials in a
// second, fixed-order pass: deterministic. Block sizes must be multiples of 32, at most
// 1024. `workspace` holds batchnorm_workspace_doubles(...) doubles of device memory.
inline int64_t batchnorm_slices(int64_t N, int64_t C, int64_t HW, const LaunchConfig& cfg) {
  const int64_t target = cfg.max_blocks > 0 ? cfg.max_blocks : 1024;  // blocks for the whole launch
  const int64_t by_work = ceil_div(N * HW, block_size(cfg));           // no block without work
  int64_t slices = C > 0 ? target / C : 1;
  if (slices > by_work) slices = by_work;
  return slices < 1 ? 1 : slices;
}
inline int64_t batchnorm_workspace_doubles(int64_t N, int64_t C, int64_t HW, const LaunchConfig& cfg = {}) {
  return 2 * C * batchnorm_slices(N, C, HW, cfg);
}

// Channels-last: the kernels read `width` consecutive channels of a row at once, 16 bytes
// (8 bf16 or 4 f32 values: batchnorm_nhwc_width), where C is a multiple of that and every
// activation pointer is 16-byte aligned, else one. A block's threads form `lanes` columns
// of consecutive such units of channels (batchnorm_nhwc_lanes: up to 32 channels, a group)
// by block/lanes columns of rows, so each warp reads whole runs of a row; a grid of (row
// slices, channel groups), the slices' partials added up in a fixed order by the last
// block of each group to finish (its second pass reads the totals; see
// batchnorm_nhwc_workspace_doubles).
inline int64_t batchnorm_nhwc_width(int64_t C, int64_t element_bytes) {
  const int64_t width = 16 / element_bytes;
  return width > 1 && C % width == 0 ? width : 1;
}
// The width a call takes: batchnorm_nhwc_width where every activation pointer it reads or
// writes (null ones aside) is 16-byte aligned, else 1.
inline int64_t batchnorm_nhwc_width_for(int64_t C, int64_t element_bytes, std::initializer_list<const void*> pointers) {
  return aligned_16(pointers) ? batchnorm_nhwc_width(C, element_bytes) : 1;
}
// Lanes of `width` channels: a power of two, 32 channels in all at most (fewer where C
// has fewer), so that a group's last block adds up the partials of 32 channels at most.
CYG_HD int64_t batchnorm_nhwc_lanes(int64_t C, int64_t width) {
  const int64_t units = C / width, most = 32 / width;
  int64_t lanes = 1;
  while (lanes < most && lanes < units) lanes *= 2;
  return lanes;
}
inline int64_t batchnorm_nhwc_groups(int64_t C, int64_t width) {
  return ceil_div(C / width, batchnorm_nhwc_lanes(C, width));
}
// A thread sums at most this many rows in float before its sums go on in double.
constexpr int64_t kBatchNormNhwcRun = 64;
// The slices of a channel group, at most, unless more are needed to keep each thread's
// run within kBatchNormNhwcRun: its last block adds up this many partials per channel.
constexpr int64_t kBatchNormNhwcMaxSlices = 256;
inline int64_t batchnorm_nhwc_slices(int64_t N, int64_t C, int64_t HW, const LaunchConfig& cfg, int64_t width = 1) {
  const int64_t target = cfg.max_blocks > 0 ? cfg.max_blocks : 1024;  // blocks for the whole launch
  const int64_t lanes = batchnorm_nhwc_lanes(C, width), groups = batchnorm_nhwc_groups(C, width);
  const int64_t rows = block_size(cfg) / lanes;  // a block's row columns (a block below 32 is refused later)
  const int64_t by_work = ceil_div(N * HW, rows > 0 ? rows : 1);  // no block without work
  const int64_t by_run = ceil_div(by_work, kBatchNormNhwcRun);    // no thread's run over kBatchNormNhwcRun
  int64_t slices = groups > 0 ? target / groups : 1;
  if (slices > kBatchNormNhwcMaxSlices) slices = kBatchNormNhwcMaxSlices;
  if (slices < by_run) slices = by_run;
  if (slices > by_work) slices = by_work;
  return slices < 1 ? 1 : slices;
}
// The workspace of one width: the slices' partials (2 C slices doubles, slice by slice:
// partials[2 (s C + c)] and [.. + 1]), the channels' totals (2 C), then a counter per
// channel group (uint32, two to a double), which the call zeroes: the last block of a
// group to finish its partials adds them up once, for every block of the second pass to
// read.
inline int64_t batchnorm_nhwc_workspace_doubles_of(int64_t N, int64_t C, int64_t HW, const LaunchConfig& cfg,
                                                   int64_t width) {
  return 2 * C * batchnorm_nhwc_slices(N, C, HW, cfg, width) + 2 * C + ceil_div(batchnorm_nhwc_groups(C, width), 2);
}
// Enough for any width a call may take (f32 or bf16, aligned or not).
inline int64_t batchnorm_nhwc_workspace_doubles(int64_t N, int64_t C, int64_t HW, const LaunchConfig& cfg = {}) {
  int64_t most = 0;
  for (int64_t width : {int64_t(1), batchnorm_nhwc_width(C, 4), batchnorm_nhwc_width(C, 2)}) {
    const int64_t doubles = batchnorm_nhwc_workspace_doubles_of(N, C, HW, cfg, width);
    most = doubles > most ? doubles : most;
  }
  return most;
}

// S = float or uint16_t (bf16 bits): the activations' storage; everything else is f32.
CYG_CUDA_DECL(template <typename S> void batchnorm_forward_train_cuda(
    const S* x, const float* gamma, const float* beta, int64_t N, int64_t C, int64_t HW, float eps, float momentum,
    S* y, float* save_mean, float* save_invstd, float* running_mean, float* running_var, double* workspace,
    BatchNormFusion<S> fusion = {}, const LaunchConfig& cfg = {}))
CYG_CUDA_DECL(template <typename S> void batchnorm_forward_eval_cuda(
    const S* x, const float* gamma, const float* beta, const float* running_mean, const float* running_var,
    int64_t N, int64_t C, int64_t HW, float eps, S* y, BatchNormFusion<S> fusion = {}, const LaunchConfig& cfg = {}))
CYG_CUDA_DECL(template <typename S> void batchnorm_backward_cuda(
    const S* dy, const S* x, const float* gamma, const float* save_mean, const float* save_invstd, int64_t N,
    int64_t C, int64_t HW, S* dx, float* dgamma, float* dbeta, double* workspace,
    BatchNormBackwardFusion<S> fusion = {}, const LaunchConfig& cfg = {}))
CYG_CUDA_DECL(template <typename S> void batchnorm_backward_eval_cuda(
    const S* dy, const S* x, const float* gamma, const float* running_mean, const float* running_var, int64_t N,
    int64_t C, int64_t HW, float eps, S* dx, float* dgamma, float* dbeta, double* workspace,
    BatchNormBackwardFusion<S> fusion = {}, const LaunchConfig& cfg = {}))

// The same four on channels-last activations (kernels/cuda/batchnorm_nhwc.cu); workspace:
// batchnorm_nhwc_workspace_doubles(...) doubles.
CYG_CUDA_DECL(template <typename S> void batchnorm_forward_train_nhwc_cuda(
    const S* x, const float* gamma, const float* beta, int64_t N, int64_t C, int64_t HW, float eps, float momentum,
    S* y, float* save_mean, float* save_invstd, float* running_mean, float* running_var, double* workspace,
    BatchNormFusion<S> fusion = {}, const LaunchConfig& cfg = {}))
CYG_CUDA_DECL(template <typename S> void batchnorm_forward_eval_nhwc_cuda(
    const S* x, const float* gamma, const float* beta, const float* running_mean, const float* running_var,
    int64_t N, int64_t C, int64_t HW, float eps, S* y, BatchNormFusion<S> fusion = {}, const LaunchConfig& cfg = {}))
CYG_CUDA_DECL(template <typename S> void batchnorm_backward_nhwc_cuda(
    const S* dy, const S* x, const float* gamma, const float* save_mean, const float* save_invstd, int64_t N,
    int64_t C, int64_t HW, S* dx, float* dgamma, float* dbeta, double* workspace,
    BatchNormBackwardFusion<S> fusion = {}, const LaunchConfig& cfg = {}))
CYG_CUDA_DECL(template <typename S> void batchnorm_backward_eval_nhwc_cuda(
    const S* dy, const S* x, const float* gamma, const float* running_mean, const float* running_var, int64_t N,
    int64_t C, int64_t HW, float eps, S* dx, float* dgamma, float* dbeta, double* workspace,
    BatchNormBackwardFusion<S> fusion = {}, const LaunchConfig& cfg = {}))

}  // namespace cyg
