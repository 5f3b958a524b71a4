// Softmax cross-entropy with label smoothing and the correct count, CPU reference: the
// per-row math of kernels/loss.h, sums in double so the reference is more accurate than
// any float order the GPU may use.
#include "kernels/loss.h"

#include "kernels/error.h"

namespace cyg {
namespace {

template <typename T>
void check_arguments(const int32_t* labels, int64_t N, int64_t K, T label_smoothing, LabelMix mix) {
  CYG_CHECK(N >= 1 && K >= 1, "cross-entropy of ", N, " rows of ", K, " classes: both must be at least 1");
  CYG_CHECK(label_smoothing >= T(0) && label_smoothing < T(1), "label smoothing ", label_smoothing,
            " is outside [0, 1)");
  for (int64_t r = 0; r < N; ++r)
    CYG_CHECK(label_in_range(labels[r], K), "row ", r, " has label ", labels[r], ", outside [0, ", K, ")");
  CYG_CHECK((mix.partner == nullptr) == (mix.weight == nullptr), "a label mix needs both partners and weights");
  if (!mix.on()) return;
  for (int64_t r = 0; r < N; ++r) {
    CYG_CHECK(mix.partner[r] >= 0 && mix.partner[r] < N, "row ", r, " has mixing partner ", mix.partner[r],
              ", outside [0, ", N, ")");
    CYG_CHECK(mix.weight[r] >= 0.0f && mix.weight[r] <= 1.0f, "row ", r, " has mixing weight ", mix.weight[r],
              ", outside [0, 1]");
  }
}

// Row r's target share of class k (its label's, mixed with its partner's).
template <typename T>
T target_of(const int32_t* labels, int64_t r, int64_t k, int64_t K, T smoothing, LabelMix mix) {
  if (!mix.on()) return smoothed_target(k == labels[r], K, smoothing);
  return mixed_target(k == labels[r], k == labels[mix.partner[r]], static_cast<T>(mix.weight[r]), K, smoothing);
}

}  // namespace

template <typename T>
void cross_entropy_forward_cpu(const T* logits, const int32_t* labels, int64_t N, int64_t K, T label_smoothing,
                               T* loss_out, int64_t* correct_out, T* row_logsumexp, LabelMix mix) {
  check_arguments(labels, N, K, label_smoothing, mix);
  double total = 0.0;
  int64_t correct = 0;
  for (int64_t r = 0; r < N; ++r) {
    const T* z = logits + r * K;
    const int64_t argmax = row_argmax(z, K);
    const T row_max = z[argmax];
    double sum_exp = 0.0, sum_z = 0.0;
    for (int64_t k = 0; k < K; ++k) {
      sum_exp += exp_of(static_cast<double>(z[k]) - static_cast<double>(row_max));
      sum_z += static_cast<double>(z[k]);
    }
    const double lse = logsumexp_from(static_cast<double>(row_max), sum_exp);
    row_logsumexp[r] = static_cast<T>(lse);
    double z_label = static_cast<double>(z[labels[r]]);
    if (mix.on())
      z_label = mixed_label_logit(z_label, static_cast<double>(z[labels[mix.partner[r]]]),
                                  static_cast<double>(mix.weight[r]));
    total += cross_entropy_row_loss(lse, z_label, sum_z, K, static_cast<double>(label_smoothing));
    correct += argmax == labels[r] ? 1 : 0;
  }
  *loss_out = static_cast<T>(total / static_cast<double>(N));
  *correct_out = correct;
}

template <typename T>
void cross_entropy_backward_cpu(const T* logits, const int32_t* labels, const T* row_logsumexp, int64_t N, int64_t K,
                                T label_smoothing, T grad_loss, T* dlogits, LabelMix mix) {
  check_arguments(labels, N, K, label_smoothing, mix);
  const double scale = static_cast<double>(grad_loss) / static_cast<double>(N);
  const double s = static_cast<double>(label_smoothing);
#pragma omp parallel for if (N * K > 65536)
  for (int64_t r = 0; r < N; ++r)
    for (int64_t k = 0; k < K; ++k)
      dlogits[r * K + k] = static_cast<T>(cross_entropy_grad(static_cast<double>(logits[r * K + k]),
                                                             static_cast<double>(row_logsumexp[r]),
                                                             target_of(labels, r, k, K, s, mix), scale));
}

template void cross_entropy_forward_cpu<float>(const float*, const int32_t*, int64_t, int64_t, float, float*,
                                               int64_t*, float*, LabelMix);
template void cross_entropy_forward_cpu<double>(const double*, const int32_t*, int64_t, int64_t, double, double*,
                                                int64_t*, double*, LabelMix);
template void cross_entropy_backward_cpu<float>(const float*, const int32_t*, const float*, int64_t, int64_t, float,
                                                float, float*, LabelMix);
template void cross_entropy_backward_cpu<double>(const double*, const int32_t*, const double*, int64_t, int64_t,
                                                 double, double, double*, LabelMix);

}  // namespace cyg
