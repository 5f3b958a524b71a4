// BatchNorm2d on channels-last (NHWC) activations, CPU: the tensor seen as N*H*W rows of
// C channel values, so every inner loop runs along the channels, contiguous in memory,
// and vectorises, at AVX2 width where the CPU has it (kernels/cpu/row_loops.h). The
// per-element math is the shared one of kernels/batchnorm.h and kernels/relu.h, as in the
// CUDA kernels: the statistics in one pass, from the sums of x - shift and of its square
// in double; dy * xhat in T, summed in double. The fused epilogues are template
// arguments, so the inner loops carry no branch. The sums run in fixed blocks of
// kRowsPerBlock rows whose partials are then added in block order: the result has the
// same bits for any thread count, and for either instruction set.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "kernels/batchnorm.h"
#include "kernels/cpu/row_loops.h"

namespace cyg {

namespace {

constexpr int64_t kRowsPerBlock = 64;
constexpr int64_t kParallelElements = 65536;

// Sums over all rows of what add_row(row, acc) adds into `width` double accumulators.
template <typename F>
std::vector<double> sum_rows(int64_t rows, int64_t width, F add_row) {
  return cyg::sum_rows(rows, width, kRowsPerBlock, rows * width > kParallelElements, add_row);
}

// Calls f(row) for every row, rows spread over the threads.
template <typename F>
void for_rows(int64_t rows, int64_t C, F f) {
  cyg::for_rows(rows, rows * C > kParallelElements, f);
}

template <typename T>
std::vector<T> channel_params(const T* p, int64_t C, T fallback) {
  std::vector<T> out(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) out[c] = batchnorm_param(p, c, fallback);
  return out;
}

// y = epilogue(normalise(x)) over the rows, the epilogue fixed at compile time (the same
// values as batchnorm_epilogue).
template <BatchNormEpilogue E, typename T, typename S>
void normalise_rows(const S* x, const S* residual, S* y, int64_t rows, int64_t C, const T* mean, const T* invstd,
                    const T* g, const T* b) {
  for_rows(rows, C, [&](int64_t r) {
    const S* xr = x + r * C;
    S* yr = y + r * C;
    for (int64_t c = 0; c < C; ++c) {
      T v = batchnorm_normalise<T>(widen(xr[c]), mean[c], invstd[c], g[c], b[c]);
      if constexpr (E == BatchNormEpilogue::AddRelu) v = v + static_cast<T>(widen(residual[r * C + c]));
      if constexpr (E != BatchNormEpilogue::None) v = relu_forward_op(v);
      store(&yr[c], v);
    }
  });
}

template <typename T, typename S>
void normalise_rows(const S* x, BatchNormFusion<S> fusion, S* y, int64_t rows, int64_t C, const T* mean,
                    const T* invstd, const T* g, const T* b) {
  switch (fusion.epilogue) {
    case BatchNormEpilogue::None:
      return normalise_rows<BatchNormEpilogue::None>(x, fusion.residual, y, rows, C, mean, invstd, g, b);
    case BatchNormEpilogue::Relu:
      return normalise_rows<BatchNormEpilogue::Relu>(x, fusion.residual, y, rows, C, mean, invstd, g, b);
    case BatchNormEpilogue::AddRelu:
      return normalise_rows<BatchNormEpilogue::AddRelu>(x, fusion.residual, y, rows, C, mean, invstd, g, b);
  }
}

// Where a backward finds the fused ReLU's mask: none, the forward's y, or its bits.
enum class MaskFrom { None, Y, Bits };

// Calls body(std::integral_constant<MaskFrom, where f has it>{}): the inner loops are
// instantiated per source and carry no branch.
template <typename S, typename Body>
auto with_mask_from(const BatchNormBackwardFusion<S>& f, Body body) {
  if (f.mask != nullptr) return body(std::integral_constant<MaskFrom, MaskFrom::Bits>{});
  if (f.y != nullptr) return body(std::integral_constant<MaskFrom, MaskFrom::Y>{});
  return body(std::integral_constant<MaskFrom, MaskFrom::None>{});
}

// dy after the fused ReLU's mask, as batchnorm_masked_dy.
template <MaskFrom kMask, typename T, typename S>
T masked(const S* dy, const BatchNormBackwardFusion<S>& f, int64_t i) {
  const T d = widen(dy[i]);
  if constexpr (kMask == MaskFrom::Y)
    return relu_backward_op(d, static_cast<T>(widen(f.y[i])));
  else if constexpr (kMask == MaskFrom::Bits)
    return relu_backward_from_mask(d, relu_mask_bit(f.mask, i));
  else
    return d;
}

// The forward's mask as bits (BatchNormFusion::mask), from the y it wrote.
template <typename S>
void write_mask_bits(const S* y, int64_t n, uint8_t* mask) {
  const int64_t bytes = relu_mask_bytes(n);
  for_rows(bytes, 8, [&](int64_t b) {
    mask[b] = relu_mask_byte(y + 8 * b, static_cast<int>(std::min<int64_t>(8, n - 8 * b)));
  });
}

// [0, C): sum(dy); [C, 2C): sum(dy * xhat), dy masked; kResidual: the masked dy is also
// the residual's gradient, written as it goes. kEval: dx = dy * gamma_invstd too (the
// evaluation backward, whose dx needs no sums).
template <MaskFrom kMask, bool kResidual, bool kEval, typename T, typename S>
std::vector<double> backward_sums(const S* dy, const S* x, BatchNormBackwardFusion<S> f, int64_t rows, int64_t C,
                                  const T* mean, const T* invstd, S* eval_dx, const T* gamma_invstd) {
  return sum_rows(rows, 2 * C, [&](int64_t r, double* acc) {
    for (int64_t c = 0, i = r * C; c < C; ++c, ++i) {
      const T d = masked<kMask, T>(dy, f, i);
      if constexpr (kResidual) store(&f.dresidual[i], d);
      acc[c] += static_cast<double>(d);
      acc[C + c] += static_cast<double>(d * batchnorm_xhat<T>(widen(x[i]), mean[c], invstd[c]));
      if constexpr (kEval) store(&eval_dx[i], batchnorm_backward_dx_eval(d, gamma_invstd[c]));
    }
  });
}

template <bool kEval, typename T, typename S>
std::vector<double> backward_sums(const S* dy, const S* x, BatchNormBackwardFusion<S> f, int64_t rows, int64_t C,
                                  const T* mean, const T* invstd, S* eval_dx, const T* gamma_invstd) {
  return with_mask_from(f, [&](auto mask) {
    constexpr MaskFrom kMask = decltype(mask)::value;
    return f.dresidual != nullptr
               ? backward_sums<kMask, true, kEval>(dy, x, f, rows, C, mean, invstd, eval_dx, gamma_invstd)
               : backward_sums<kMask, false, kEval>(dy, x, f, rows, C, mean, invstd, eval_dx, gamma_invstd);
  });
}

template <MaskFrom kMask, typename T, typename S>
void backward_dx_rows(const S* dy, const S* x, const BatchNormBackwardFusion<S>& f, S* dx, int64_t rows, int64_t C,
                      const T* mean, const T* invstd, const T* mean_dy, const T* mean_dy_xhat,
                      const T* gamma_invstd) {
  for_rows(rows, C, [&](int64_t r) {
    for (int64_t c = 0, i = r * C; c < C; ++c, ++i)
      store(&dx[i], batchnorm_backward_dx(masked<kMask, T>(dy, f, i), batchnorm_xhat<T>(widen(x[i]), mean[c], invstd[c]),
                                          mean_dy[c], mean_dy_xhat[c], gamma_invstd[c]));
  });
}

}  // namespace

template <typename T, typename S>
void batchnorm_forward_train_nhwc_cpu(const S* x, const T* gamma, const T* beta, int64_t N, int64_t C, int64_t HW,
                                      T eps, T momentum, S* y, T* save_mean, T* save_invstd, T* running_mean,
                                      T* running_var, BatchNormFusion<S> fusion) {
  check_batchnorm_train_args(N, HW, gamma, beta, running_mean, running_var);
  check_batchnorm_mask_bits(fusion, true, "batchnorm_forward_train_nhwc");
  const int64_t rows = N * HW;
  // One pass: the sums of x - shift and of its square, shift the channel's first value (as
  // the CUDA kernels).
  std::vector<double> shift(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) shift[c] = static_cast<double>(widen(x[c]));
  const std::vector<double> sums = sum_rows(rows, 2 * C, [&](int64_t r, double* acc) {
    const S* row = x + r * C;
    for (int64_t c = 0; c < C; ++c) {
      const double d = static_cast<double>(widen(row[c])) - shift[c];
      acc[c] += d;
      acc[C + c] += d * d;
    }
  });
  for (int64_t c = 0; c < C; ++c) {
    const BatchNormStats<T> st =
        batchnorm_stats_from_sums(shift[c], rows, sums[c], sums[C + c], eps);
    save_mean[c] = st.mean;
    save_invstd[c] = st.invstd;
    if (running_mean != nullptr) {
      running_mean[c] = batchnorm_running_update(running_mean[c], st.mean, momentum);
      running_var[c] = batchnorm_running_update(running_var[c], st.unbiased_var, momentum);
    }
  }
  const std::vector<T> g = channel_params(gamma, C, T(1)), b = channel_params(beta, C, T(0));
  normalise_rows(x, fusion, y, rows, C, save_mean, save_invstd, g.data(), b.data());
  if (fusion.mask != nullptr) write_mask_bits(y, rows * C, fusion.mask);
}

template <typename T, typename S>
void batchnorm_forward_eval_nhwc_cpu(const S* x, const T* gamma, const T* beta, const T* running_mean,
                                     const T* running_var, int64_t N, int64_t C, int64_t HW, T eps, S* y,
                                     BatchNormFusion<S> fusion) {
  check_batchnorm_eval_args(gamma, beta, running_mean, running_var);
  check_batchnorm_mask_bits(fusion, false, "batchnorm_forward_eval_nhwc");
  const std::vector<T> g = channel_params(gamma, C, T(1)), b = channel_params(beta, C, T(0));
  std::vector<T> invstd(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) invstd[c] = batchnorm_invstd(running_var[c], eps);
  normalise_rows(x, fusion, y, N * HW, C, running_mean, invstd.data(), g.data(), b.data());
}

template <typename T, typename S>
void batchnorm_backward_nhwc_cpu(const S* dy, const S* x, const T* gamma, const T* save_mean, const T* save_invstd,
                                 int64_t N, int64_t C, int64_t HW, S* dx, T* dgamma, T* dbeta,
                                 BatchNormBackwardFusion<S> fusion) {
  check_batchnorm_backward_args(dgamma, dbeta);
  const int64_t rows = N * HW;
  const std::vector<double> sums =
      backward_sums<false>(dy, x, fusion, rows, C, save_mean, save_invstd, static_cast<S*>(nullptr),
                           static_cast<const T*>(nullptr));
  std::vector<T> mean_dy(static_cast<size_t>(C)), mean_dy_xhat(static_cast<size_t>(C)),
      gamma_invstd(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    dbeta[c] = static_cast<T>(sums[c]);
    dgamma[c] = static_cast<T>(sums[C + c]);
    mean_dy[c] = static_cast<T>(sums[c] / static_cast<double>(rows));
    mean_dy_xhat[c] = static_cast<T>(sums[C + c] / static_cast<double>(rows));
    gamma_invstd[c] = batchnorm_param(gamma, c, T(1)) * save_invstd[c];
  }
  with_mask_from(fusion, [&](auto mask) {
    backward_dx_rows<decltype(mask)::value>(dy, x, fusion, dx, rows, C, save_mean, save_invstd, mean_dy.data(),
                                            mean_dy_xhat.data(), gamma_invstd.data());
  });
}

template <typename T, typename S>
void batchnorm_backward_eval_nhwc_cpu(const S* dy, const S* x, const T* gamma, const T* running_mean,
                                      const T* running_var, int64_t N, int64_t C, int64_t HW, T eps, S* dx, T* dgamma,
                                      T* dbeta, BatchNormBackwardFusion<S> fusion) {
  check_batchnorm_backward_args(dgamma, dbeta);
  std::vector<T> invstd(static_cast<size_t>(C)), gamma_invstd(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    invstd[c] = batchnorm_invstd(running_var[c], eps);
    gamma_invstd[c] = batchnorm_param(gamma, c, T(1)) * invstd[c];
  }
  const std::vector<double> sums =
      backward_sums<true>(dy, x, fusion, N * HW, C, running_mean, invstd.data(), dx, gamma_invstd.data());
  for (int64_t c = 0; c < C; ++c) {
    dbeta[c] = static_cast<T>(sums[c]);
    dgamma[c] = static_cast<T>(sums[C + c]);
  }
}

#define CYG_INSTANTIATE_BATCHNORM_NHWC(T, S)                                                                         \
  template void batchnorm_forward_train_nhwc_cpu<T, S>(const S*, const T*, const T*, int64_t, int64_t, int64_t, T, \
                                                       T, S*, T*, T*, T*, T*, BatchNormFusion<S>);                   \
  template void batchnorm_forward_eval_nhwc_cpu<T, S>(const S*, const T*, const T*, const T*, const T*, int64_t,   \
                                                      int64_t, int64_t, T, S*, BatchNormFusion<S>);                  \
  template void batchnorm_backward_nhwc_cpu<T, S>(const S*, const S*, const T*, const T*, const T*, int64_t,       \
                                                  int64_t, int64_t, S*, T*, T*, BatchNormBackwardFusion<S>);         \
  template void batchnorm_backward_eval_nhwc_cpu<T, S>(const S*, const S*, const T*, const T*, const T*, int64_t,  \
                                                       int64_t, int64_t, T, S*, T*, T*, BatchNormBackwardFusion<S>);
CYG_INSTANTIATE_BATCHNORM_NHWC(float, float)
CYG_INSTANTIATE_BATCHNORM_NHWC(double, double)
CYG_INSTANTIATE_BATCHNORM_NHWC(float, uint16_t)
#undef CYG_INSTANTIATE_BATCHNORM_NHWC

}  // namespace cyg
