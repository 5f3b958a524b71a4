// MixUp's draws: Beta weights from gamma draws, partners from a shuffle of each part.
#include "data/mixup.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/error.h"
#include "kernels/random.h"

namespace cyg {
namespace {
// Keys of MixUp's two kinds of draw, at counters the loader's streams do not use.
constexpr uint64_t kMixUpWeightStream = (1ull << 63) + 2;
constexpr uint64_t kMixUpPartnerStream = (1ull << 63) + 3;
constexpr uint64_t kCutMixBoxStream = (1ull << 63) + 4;

// Uniform draws in (0, 1) from successive counters of one key.
struct Draws {
  uint64_t key;
  uint64_t counter = 0;
  double uniform() { return (static_cast<double>(random_bits(key, counter++) >> 11) + 0.5) * 0x1p-53; }
  // Box and Muller's standard normal (one of its pair).
  double normal() {
    const double r = std::sqrt(-2.0 * std::log(uniform()));
    return r * std::cos(2.0 * M_PI * uniform());
  }
};

// log of a Gamma(a, 1) draw. a >= 1: Marsaglia and Tsang, "A simple method for generating
// gamma variables" (2000). a < 1: their boost, Gamma(a + 1) * U^(1/a), in logarithms.
double log_gamma_draw(Draws& d, double a) {
  if (a < 1.0) {
    const double log_u = std::log(d.uniform());
    return log_gamma_draw(d, a + 1.0) + log_u / a;
  }
  const double dd = a - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * dd);
  for (;;) {
    const double x = d.normal();
    const double v = 1.0 + c * x;
    if (v <= 0.0) continue;
    const double v3 = v * v * v;
    if (std::log(d.uniform()) < 0.5 * x * x + dd - dd * v3 + dd * std::log(v3)) return std::log(dd) + std::log(v3);
  }
}

uint64_t counter_of(int64_t epoch, int64_t position) {
  return (static_cast<uint64_t>(epoch) << 32) + static_cast<uint64_t>(position);
}
}  // namespace

double beta_symmetric_draw(uint64_t key, double alpha) {
  CYG_CHECK(alpha > 0.0 && std::isfinite(alpha), "a Beta(alpha, alpha) draw needs a finite alpha > 0, not ", alpha);
  Draws d{key};
  const double log_x = log_gamma_draw(d, alpha), log_y = log_gamma_draw(d, alpha);
  // x / (x + y) = 1 / (1 + y / x); an overflow of the ratio gives 0, as it should.
  return 1.0 / (1.0 + std::exp(log_y - log_x));
}

int64_t micro_batch_count(int64_t asked, int64_t images) {
  return std::max<int64_t>(1, std::min(asked, images / 2));
}

namespace {
// Visits every part of an epoch: on_part(first position, images, shuffle of [0, images)).
template <typename OnPart>
void for_each_part(uint64_t seed, int64_t epoch, const BatchParts& p, OnPart on_part) {
  CYG_CHECK(p.n >= 0 && p.n < (int64_t(1) << 32) && p.batch_size >= 1 && p.batch_size < (int64_t(1) << 31) &&
                p.ranks >= 1 && p.micro_batches >= 1 && epoch >= 0,
            "mixing draws of ", p.n, " samples in batches of ", p.batch_size, " over ", p.ranks, " rank(s), ",
            p.micro_batches, " micro-batch(es), epoch ", epoch);
  const uint64_t partner_key = random_bits(seed, kMixUpPartnerStream);
  const int64_t batches = p.drop_last ? p.n / p.batch_size : (p.n + p.batch_size - 1) / p.batch_size;
  std::vector<int32_t> order;
  for (int64_t b = 0; b < batches; ++b) {
    const int64_t first = b * p.batch_size, global = std::min(p.batch_size, p.n - first);
    const int64_t parts = micro_batch_count(p.micro_batches, global / p.ranks);
    for (int64_t r = 0; r < p.ranks; ++r) {
      const int64_t slice_first = first + global * r / p.ranks;
      const int64_t slice = first + global * (r + 1) / p.ranks - slice_first;
      for (int64_t part = 0; part < parts; ++part) {
        const int64_t begin = slice_first + slice * part / parts;
        const int64_t m = slice_first + slice * (part + 1) / parts - begin;
        // A Fisher-Yates shuffle of the part, keyed by its first position.
        order.resize(static_cast<size_t>(m));
        std::iota(order.begin(), order.end(), 0);
        const uint64_t key = random_bits(partner_key, counter_of(epoch, begin));
        for (int64_t i = m - 1; i > 0; --i) {
          const auto j = static_cast<int64_t>(random_bits(key, static_cast<uint64_t>(i)) % static_cast<uint64_t>(i + 1));
          std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
        }
        on_part(begin, m, order);
      }
    }
  }
}

MixUpPlan empty_plan(int64_t n) {
  MixUpPlan plan;
  plan.partner.assign(static_cast<size_t>(std::max<int64_t>(n, 0)), 0);
  plan.weight.assign(static_cast<size_t>(std::max<int64_t>(n, 0)), 1.0f);
  return plan;
}
}  // namespace

MixUpPlan mixup_plan(uint64_t seed, int64_t epoch, double alpha, const BatchParts& p) {
  MixUpPlan plan = empty_plan(p.n);
  const uint64_t weight_key = random_bits(seed, kMixUpWeightStream);
  for_each_part(seed, epoch, p, [&](int64_t begin, int64_t m, const std::vector<int32_t>& order) {
    for (int64_t i = 0; i < m; ++i) {
      const auto q = static_cast<size_t>(begin + i);
      plan.partner[q] = order[static_cast<size_t>(i)];
      const double l = beta_symmetric_draw(random_bits(weight_key, counter_of(epoch, begin + i)), alpha);
      plan.weight[q] = static_cast<float>(std::max(l, 1.0 - l));
      // The device's kernels take the weights as given: none may leave [1/2, 1].
      CYG_CHECK(plan.weight[q] >= 0.5f && plan.weight[q] <= 1.0f, "MixUp weight ", plan.weight[q],
                " drawn with alpha ", alpha, " at position ", q, " of epoch ", epoch, ": expected a value in [1/2, 1]");
    }
  });
  return plan;
}

CutBox cutmix_box(uint64_t key, double alpha, int64_t height, int64_t width) {
  CYG_CHECK(height >= 1 && width >= 1, "a CutMix box in ", height, "x", width, " images");
  const double l = beta_symmetric_draw(random_bits(key, 0), alpha);
  const double side = std::sqrt(1.0 - l);
  const auto cut_h = static_cast<int64_t>(std::nearbyint(static_cast<double>(height) * side));
  const auto cut_w = static_cast<int64_t>(std::nearbyint(static_cast<double>(width) * side));
  // The centre anywhere in the image, from a key of its own.
  const uint64_t centre_key = random_bits(key, ~0ull);
  const auto cy = static_cast<int64_t>(random_bits(centre_key, 0) % static_cast<uint64_t>(height));
  const auto cx = static_cast<int64_t>(random_bits(centre_key, 1) % static_cast<uint64_t>(width));
  const int64_t top = std::clamp<int64_t>(cy - cut_h / 2, 0, height), bottom = std::clamp<int64_t>(cy + cut_h / 2, 0, height);
  const int64_t left = std::clamp<int64_t>(cx - cut_w / 2, 0, width), right = std::clamp<int64_t>(cx + cut_w / 2, 0, width);
  return {static_cast<int32_t>(top), static_cast<int32_t>(left), static_cast<int32_t>(bottom - top),
          static_cast<int32_t>(right - left)};
}

MixUpPlan cutmix_plan(uint64_t seed, int64_t epoch, double alpha, const BatchParts& p, int64_t height,
                      int64_t width) {
  CYG_CHECK(height >= 1 && width >= 1 && height < (int64_t(1) << 30) && width < (int64_t(1) << 30),
            "CutMix's draws for ", height, "x", width, " images");
  MixUpPlan plan = empty_plan(p.n);
  plan.box.assign(static_cast<size_t>(4 * p.n), 0);
  const uint64_t box_key = random_bits(seed, kCutMixBoxStream);
  const double pixels = static_cast<double>(height) * static_cast<double>(width);
  for_each_part(seed, epoch, p, [&](int64_t begin, int64_t m, const std::vector<int32_t>& order) {
    for (int64_t i = 0; i < m; ++i) {
      const auto q = static_cast<size_t>(begin + i);
      plan.partner[q] = order[static_cast<size_t>(i)];
      const CutBox b = cutmix_box(random_bits(box_key, counter_of(epoch, begin + i)), alpha, height, width);
      plan.box[4 * q] = b.top, plan.box[4 * q + 1] = b.left, plan.box[4 * q + 2] = b.height, plan.box[4 * q + 3] = b.width;
      // The own image's share of the pixels, as fastai recomputes lam from the clipped box.
      plan.weight[q] = static_cast<float>(1.0 - static_cast<double>(b.height) * static_cast<double>(b.width) / pixels);
    }
  });
  return plan;
}

}  // namespace cyg
