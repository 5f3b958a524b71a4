// MixUp's random draws (Zhang et al., "mixup: Beyond Empirical Risk Minimization", 2018,
// as fastai's MixUp(alpha) callback draws them): each training image gets
//   - the weight of its own pixels and label, w = max(l, 1 - l) with l ~ Beta(alpha, alpha)
//     (fastai's choice, so an image keeps the larger share), and
//   - a partner in the same part of the same batch: a shuffle of the part (fastai's
//     torch.randperm over the batch), so an image may be paired with itself.
// A part is a rank's slice of a global batch, or a micro-batch of it: the images one
// forward pass sees, so the partners are in memory together, and 2 ranks pair images as
// one process running 2 micro-batches does. The draws are counter-based: those of
// (seed, epoch) depend on nothing else, so a resumed run, a sharded run and every device
// see the same.
#pragma once
#include <cstdint>
#include <vector>

namespace cyg {

// A draw of Beta(alpha, alpha), alpha > 0, from the random bits of `key` at counters 0,
// 1, ... (two gamma draws, Marsaglia and Tsang's method, in logarithms so that small
// alphas do not underflow).
double beta_symmetric_draw(uint64_t key, double alpha);

// The smallest alpha a run takes (data.mixup_alpha): below it nearly every draw is 0 or 1,
// and far below it the gamma draws underflow.
constexpr double kMinMixUpAlpha = 1e-3;

// The micro-batches a batch of `images` runs in when `asked` for: at least two images
// each (batchnorm's statistics need two values a channel, and a ResNet's last stage has
// one pixel), so a batch too small runs in fewer; at least one.
int64_t micro_batch_count(int64_t asked, int64_t images);

// How an epoch's batches split into parts: n samples in batches of batch_size (the last
// one smaller, or dropped with drop_last), each cut into `ranks` contiguous slices (sizes
// differing by at most one), each of those into micro_batch_count(micro_batches, the
// batch's smallest slice) contiguous parts.
struct BatchParts {
  int64_t n = 0, batch_size = 1;
  bool drop_last = false;
  int64_t ranks = 1, micro_batches = 1;
};

// An epoch's draws by position in its order: partner[q] counts from the start of q's
// part; a position no batch takes (drop_last) has partner 0 and weight 1 (and an empty
// box), never read. box: CutMix's, 4 values a position (top, left, height, width).
struct MixUpPlan {
  std::vector<int32_t> partner;
  std::vector<float> weight;
  std::vector<int32_t> box;  // CutMix's plans only
};
MixUpPlan mixup_plan(uint64_t seed, int64_t epoch, double alpha, const BatchParts& parts);

// CutMix (Yun et al. 2019, as fastai's CutMix(alpha) draws it, a box per image): l ~
// Beta(alpha, alpha) gives cut = round(H sqrt(1 - l)) rows (and so for columns), the box
// reaching cut / 2 (rounded down) either side of a centre drawn anywhere in the image,
// clipped at the edges (fastai's rand_bbox: about H sqrt(1 - l) before clipping); the
// weight is the share of the image's own pixels left, 1 - box area / (H W), as fastai
// recomputes lam. Partners as MixUp's.
struct CutBox {
  int32_t top, left, height, width;
};
CutBox cutmix_box(uint64_t key, double alpha, int64_t height, int64_t width);
MixUpPlan cutmix_plan(uint64_t seed, int64_t epoch, double alpha, const BatchParts& parts, int64_t height,
                      int64_t width);

}  // namespace cyg
