// Softmax cross-entropy for classification, fused with the count of correct predictions.
// logits [N, K] row-major, labels [N] int32, label smoothing s in [0, 1) as in PyTorch:
// target = (1 - s) * onehot(label) + s / K, row loss = logsumexp(z) - sum_k target_k z_k,
// loss = mean of the row losses. A row is correct when its argmax (NaN counts as the
// largest, ties go to the lowest index, as torch.argmax) equals its label.
// Backward: dlogits = grad_loss / N * (softmax(z) - target), from the saved logsumexp.
// With MixUp (LabelMix) a row's one-hot is shared between its own label and its partner
// row's: w onehot(label) + (1 - w) onehot(label of partner), the loss fastai's MixUp
// computes as torch.lerp(loss(z, y[shuffle]), loss(z, y), lam) row by row; the row is
// correct when its argmax is its own label (w >= 1/2 in MixUp: the larger share; CutMix's
// box may leave the image less than half of its own pixels).
#pragma once
#include <cmath>

#include "kernels/common.h"

namespace cyg {

// The float overloads keep device math in single precision.
CYG_HD float exp_of(float x) { return expf(x); }
CYG_HD double exp_of(double x) { return exp(x); }
CYG_HD float log_of(float x) { return logf(x); }
CYG_HD double log_of(double x) { return log(x); }

// NaN wins, so a NaN logit makes its row's logsumexp and loss NaN (as torch.max).
template <typename T>
CYG_HD T max_propagating_nan(T a, T b) {
  return (a != a || a > b) ? a : b;
}

// Whether z is the row's maximum as found by max_propagating_nan.
template <typename T>
CYG_HD bool is_row_max(T z, T row_max) {
  return z == row_max || (row_max != row_max && z != z);
}

// A row's predicted class as the correct count takes it: its argmax, NaN the largest,
// ties to the lowest index.
template <typename T>
CYG_HD int64_t row_argmax(const T* z, int64_t K) {
  T row_max = z[0];
  for (int64_t k = 1; k < K; ++k) row_max = max_propagating_nan(row_max, z[k]);
  int64_t argmax = 0;
  while (!is_row_max(z[argmax], row_max)) ++argmax;
  return argmax;
}

CYG_HD bool label_in_range(int32_t label, int64_t K) { return label >= 0 && label < K; }

// MixUp's (and CutMix's) targets: row r's label has weight[r] of the one-hot and row
// partner[r]'s label (partner[r] in [0, N)) the rest. Both null (the default): every row its own label.
struct LabelMix {
  const int32_t* partner = nullptr;
  const float* weight = nullptr;
  CYG_HD bool on() const { return partner != nullptr; }
};

// The label's logit as a mixed target weighs it: w z_label + (1 - w) z_partner_label.
template <typename T>
CYG_HD T mixed_label_logit(T z_label, T z_partner_label, T weight) {
  return weight * z_label + (T(1) - weight) * z_partner_label;
}

// A class's share of a mixed, smoothed target.
template <typename T>
CYG_HD T mixed_target(bool is_label, bool is_partner_label, T weight, int64_t K, T smoothing) {
  const T share = (is_label ? weight : T(0)) + (is_partner_label ? T(1) - weight : T(0));
  return (T(1) - smoothing) * share + smoothing / T(K);
}

// sum_exp_shifted = sum_k exp(z_k - row_max): shifting by the maximum keeps exp <= 1.
template <typename T>
CYG_HD T logsumexp_from(T row_max, T sum_exp_shifted) {
  return row_max + log_of(sum_exp_shifted);
}

// A row of K float logits' logsumexp, in double: for what the host works out from logits
// it has read back (the evaluate app's averages of views, the highest losses).
inline double row_logsumexp(const float* z, int64_t K) {
  double row_max = z[0];
  for (int64_t k = 1; k < K; ++k) row_max = max_propagating_nan(row_max, static_cast<double>(z[k]));
  double sum = 0;
  for (int64_t k = 0; k < K; ++k) sum += exp_of(static_cast<double>(z[k]) - row_max);
  return logsumexp_from(row_max, sum);
}

template <typename T>
CYG_HD T smoothed_target(bool is_label, int64_t K, T smoothing) {
  return (is_label ? T(1) - smoothing : T(0)) + smoothing / T(K);
}

// sum_k target_k z_k needs only the label's logit (mixed_label_logit with MixUp) and the
// row's sum of logits. Without smoothing sum_z is not read, so the kernel may skip that
// reduction.
template <typename T>
CYG_HD T cross_entropy_row_loss(T logsumexp, T z_label, T sum_z, int64_t K, T smoothing) {
  if (smoothing == T(0)) return logsumexp - z_label;
  return logsumexp - (T(1) - smoothing) * z_label - smoothing / T(K) * sum_z;
}

// scale = grad_loss / N: the mean's share of the upstream gradient.
template <typename T>
CYG_HD T cross_entropy_grad(T z, T logsumexp, T target, T scale) {
  return scale * (exp_of(z - logsumexp) - target);
}

// CPU reference, T = float or double (double for the finite-difference checks); sums
// in double. N >= 1, K >= 1, 0 <= label_smoothing < 1, every label in [0, K), and with a
// LabelMix every partner in [0, N) and weight in [0, 1], else cyg::Error (a bad label,
// partner or weight is named with its row). row_logsumexp [N] is kept for backward.
template <typename T>
void cross_entropy_forward_cpu(const T* logits, const int32_t* labels, int64_t N, int64_t K, T label_smoothing,
                               T* loss_out, int64_t* correct_out, T* row_logsumexp, LabelMix mix = {});
template <typename T>
void cross_entropy_backward_cpu(const T* logits, const int32_t* labels, const T* row_logsumexp, int64_t N, int64_t K,
                                T label_smoothing, T grad_loss, T* dlogits, LabelMix mix = {});

// CUDA. The forward needs cross_entropy_workspace_floats(N) floats of device memory (the
// row losses, then the rows' correct flags); the mean and the count come from one block
// in a fixed order, so they are the same on every run. loss_out, correct_out and
// grad_loss are device pointers: nothing waits for the host.
// A label outside [0, K) is never used as an index: its row's loss (so the mean loss)
// and its row of dlogits are NaN, and it is not counted correct; so is a row whose
// partner is outside [0, N) or whose partner's label is outside [0, K). The NaN loss is
// the signal; the host sees it when it reads the loss. A LabelMix's weights are taken as
// given (the draws check them: data/mixup.h).
inline int64_t cross_entropy_workspace_floats(int64_t N) { return 2 * N; }

CYG_CUDA_DECL(void cross_entropy_forward_cuda(const float* logits, const int32_t* labels, int64_t N, int64_t K,
                                              float label_smoothing, float* loss_out, int64_t* correct_out,
                                              float* row_logsumexp, float* workspace, const LaunchConfig& cfg = {},
                                              LabelMix mix = {}))
CYG_CUDA_DECL(void cross_entropy_backward_cuda(const float* logits, const int32_t* labels,
                                               const float* row_logsumexp, int64_t N, int64_t K,
                                               float label_smoothing, const float* grad_loss, float* dlogits,
                                               const LaunchConfig& cfg = {}, LabelMix mix = {}))

}  // namespace cyg
