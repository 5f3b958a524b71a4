// Softmax cross-entropy + correct count. Forward: a block per row (grid-stride over rows)
// reduces max, sum of exp, sum, first argmax; then one block averages; backward: a thread
// per logit. Memory-bound: the forward reads each logit twice (the second from cache).
#include "kernels/cuda/block_reduce.cuh"
#include "kernels/loss.h"
#include "kernels/reduce.h"

namespace cyg::CYG_KNS {
namespace {
// Row r's partner's label, or -1 where the partner or its label is out of range (the row
// is then NaN, as for a bad label of its own).
__device__ int32_t partner_label_of(const int32_t* labels, LabelMix mix, int64_t r, int64_t N, int64_t K) {
  const int32_t partner = mix.partner[r];
  if (partner < 0 || partner >= N) return -1;
  const int32_t label = labels[partner];
  return label_in_range(label, K) ? label : -1;
}

__global__ void CYG_LAUNCH_BOUNDS cross_entropy_rows_kernel(const float* logits, const int32_t* labels, int64_t N, int64_t K,
                                          float smoothing, LabelMix mix, float* row_logsumexp, float* row_loss,
                                          float* row_correct) {
  for (int64_t r = blockIdx.x; r < N; r += gridDim.x) {
    const float* z = logits + r * K;
    float row_max = -INFINITY;
    for (int64_t k = threadIdx.x; k < K; k += blockDim.x) row_max = max_propagating_nan(row_max, z[k]);
    row_max = block_allreduce(row_max, [](float a, float b) { return max_propagating_nan(a, b); }, -INFINITY);

    float sum_exp = 0.0f, sum_z = 0.0f;
    int64_t argmax = K;  // each thread's first maximum; its k only grows
    for (int64_t k = threadIdx.x; k < K; k += blockDim.x) {
      sum_exp += exp_of(z[k] - row_max);
      sum_z += z[k];
      if (argmax == K && is_row_max(z[k], row_max)) argmax = k;
    }
    sum_exp = block_reduce_sum(sum_exp);
    if (smoothing != 0.0f) sum_z = block_reduce_sum(sum_z);  // the same branch in every thread
    argmax = block_allreduce(argmax, [](int64_t a, int64_t b) { return a < b ? a : b; }, K);

    if (threadIdx.x == 0) {
      const int32_t label = labels[r];
      const float lse = logsumexp_from(row_max, sum_exp);
      row_logsumexp[r] = lse;
      bool valid = label_in_range(label, K);
      float z_label = valid ? z[label] : NAN;
      if (mix.on()) {
        const int32_t partner_label = partner_label_of(labels, mix, r, N, K);
        valid = valid && partner_label >= 0;
        if (valid) z_label = mixed_label_logit(z_label, z[partner_label], mix.weight[r]);
      }
      row_loss[r] = valid ? cross_entropy_row_loss(lse, z_label, sum_z, K, smoothing) : NAN;
      row_correct[r] = valid && argmax == label ? 1.0f : 0.0f;
    }
  }
}

__global__ void CYG_LAUNCH_BOUNDS cross_entropy_mean_kernel(const float* row_loss, const float* row_correct, int64_t N,
                                          float* loss_out, int64_t* correct_out) {
  float total = 0.0f;
  int64_t correct = 0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) {
    total += row_loss[i];
    correct += row_correct[i] != 0.0f ? 1 : 0;
  }
  total = block_reduce_sum(total);
  correct = block_reduce_sum(correct);
  if (threadIdx.x == 0) {
    *loss_out = mean_from_sum(total, N);
    *correct_out = correct;
  }
}

__global__ void CYG_LAUNCH_BOUNDS cross_entropy_backward_kernel(const float* logits, const int32_t* labels,
                                              const float* row_logsumexp, int64_t N, int64_t K, float smoothing,
                                              LabelMix mix, const float* grad_loss, float* dlogits) {
  const float scale = *grad_loss / static_cast<float>(N);
  CYG_GRID_STRIDE_LOOP(i, N * K) {
    const int64_t r = i / K;
    const int32_t label = labels[r];
    const int32_t partner_label = mix.on() ? partner_label_of(labels, mix, r, N, K) : 0;
    if (!label_in_range(label, K) || partner_label < 0) {
      dlogits[i] = NAN;
      continue;
    }
    const int64_t k = i - r * K;
    const float target = mix.on() ? mixed_target(k == label, k == partner_label, mix.weight[r], K, smoothing)
                                  : smoothed_target(k == label, K, smoothing);
    dlogits[i] = cross_entropy_grad(logits[i], row_logsumexp[r], target, scale);
  }
}

void check_arguments(int64_t N, int64_t K, float label_smoothing, LabelMix mix) {
  CYG_CHECK(N >= 1 && K >= 1, "cross-entropy of ", N, " rows of ", K, " classes: both must be at least 1");
  CYG_CHECK(label_smoothing >= 0.0f && label_smoothing < 1.0f, "label smoothing ", label_smoothing,
            " is outside [0, 1)");
  CYG_CHECK((mix.partner == nullptr) == (mix.weight == nullptr), "a label mix needs both partners and weights");
}

// Unless the caller says, a block as wide as the row (whole warps), capped: ten classes
// would leave most of a 256-thread block idle.
int row_block(int64_t K, const LaunchConfig& cfg) {
  if (cfg.block > 0) return cfg.block;
  const int64_t warps = ceil_div(K, 32);
  return static_cast<int>(warps < kDefaultBlock / 32 ? warps * 32 : kDefaultBlock);
}
}  // namespace

void cross_entropy_forward_cuda(const float* logits, const int32_t* labels, int64_t N, int64_t K,
                                float label_smoothing, float* loss_out, int64_t* correct_out, float* row_logsumexp,
                                float* workspace, const LaunchConfig& cfg, LabelMix mix) {
  check_arguments(N, K, label_smoothing, mix);
  // Logits and labels (and a mix's partners, weights and partners' labels) in; per-row
  // log-sum-exp, loss and hit out, then their means.
  count_traffic(__func__, 4 * N * K + 4 * N + 8 * N + (mix.on() ? 12 * N : 0), 4 * N + 8 * N + 4 + 8);
  const int block = row_block(K, cfg);
  check_block_reduce_size(block);
  check_block_reduce_size(block_size(cfg));
  const int64_t cap = cfg.max_blocks > 0 ? cfg.max_blocks : kDefaultMaxBlocks;
  const int grid = static_cast<int>(N < cap ? N : cap);
  float* row_loss = workspace;
  float* row_correct = workspace + N;
  CYG_LAUNCH(cross_entropy_rows_kernel, grid, block, 0, stream_of(cfg), logits, labels, N, K, label_smoothing, mix,
             row_logsumexp, row_loss, row_correct);
  CYG_CHECK_LAUNCH();
  CYG_LAUNCH(cross_entropy_mean_kernel, 1, block_size(cfg), 0, stream_of(cfg), row_loss, row_correct, N, loss_out,
             correct_out);
  CYG_CHECK_LAUNCH();
}

void cross_entropy_backward_cuda(const float* logits, const int32_t* labels, const float* row_logsumexp, int64_t N,
                                 int64_t K, float label_smoothing, const float* grad_loss, float* dlogits,
                                 const LaunchConfig& cfg, LabelMix mix) {
  check_arguments(N, K, label_smoothing, mix);
  count_traffic(__func__, 4 * N * K + 8 * N + 4 + (mix.on() ? 12 * N : 0), 4 * N * K);
  CYG_LAUNCH(cross_entropy_backward_kernel, grid_size(N * K, cfg), block_size(cfg), 0, stream_of(cfg), logits, labels,
             row_logsumexp, N, K, label_smoothing, mix, grad_loss, dlogits);
  CYG_CHECK_LAUNCH();
}

}  // namespace cyg::CYG_KNS
