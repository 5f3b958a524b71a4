// MixUp's draws (data/mixup.h): the Beta weights against the distribution's CDF worked
// out by quadrature, the partners as shuffles of each part, the same pairs for 2 ranks as
// for one process in 2 micro-batches, and the loader's batches carrying their epoch's
// draws on the CPU and the emulated device, sharded and resumed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "data/loader.h"
#include "data/mixup.h"
#include "kernels/random.h"
#include "tests/data/data_helpers.h"

namespace {

using cyg::BatchParts;
using cyg::MixUpPlan;

// P(X <= x) for X ~ Beta(a, a), by Simpson's rule on the density from 1/2 (the symmetric
// distribution's median), where the density is finite for every a.
double beta_cdf(double x, double a) {
  if (x < 0.5) return 1.0 - beta_cdf(1.0 - x, a);
  const double log_norm = std::lgamma(2 * a) - 2 * std::lgamma(a);
  auto density = [&](double t) { return std::exp(log_norm + (a - 1) * (std::log(t) + std::log(1 - t))); };
  const int steps = 20000;
  const double h = (x - 0.5) / steps;
  double sum = density(0.5) + density(x);
  for (int i = 1; i < steps; ++i) sum += density(0.5 + i * h) * (i % 2 ? 4 : 2);
  return 0.5 + sum * h / 3;
}

TEST(MixUp, BetaDrawsFollowTheirDistribution) {
  const int n = 40000;
  for (double alpha : {0.4, 1.0, 2.0}) {
    SCOPED_TRACE(alpha);
    std::vector<double> draws(n);
    for (int i = 0; i < n; ++i) draws[static_cast<size_t>(i)] = cyg::beta_symmetric_draw(cyg::random_bits(7, i), alpha);
    double mean = 0, var = 0;
    for (double d : draws) {
      ASSERT_TRUE(d >= 0 && d <= 1) << d;
      mean += d / n;
    }
    for (double d : draws) var += (d - mean) * (d - mean) / n;
    EXPECT_NEAR(mean, 0.5, 0.01);
    EXPECT_NEAR(var, 1 / (4 * (2 * alpha + 1)), 0.01 * var + 0.002);  // Beta(a, a)'s variance
    // The empirical CDF within 4 standard errors of the true one (a standard error is at
    // most sqrt(1/4 / 40000) = 0.0025).
    std::sort(draws.begin(), draws.end());
    for (double x : {0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95}) {
      const double empirical =
          static_cast<double>(std::upper_bound(draws.begin(), draws.end(), x) - draws.begin()) / n;
      EXPECT_NEAR(empirical, beta_cdf(x, alpha), 0.01) << "at " << x;
    }
  }
  // A tiny alpha puts nearly every draw at an end, without NaN from underflow.
  int ends = 0;
  for (int i = 0; i < 1000; ++i) {
    const double d = cyg::beta_symmetric_draw(cyg::random_bits(8, i), 0.01);
    ASSERT_TRUE(d >= 0 && d <= 1) << d;
    ends += d < 1e-3 || d > 1 - 1e-3;
  }
  EXPECT_GT(ends, 900);
  // The smallest alpha a run takes still draws weights in [1/2, 1].
  const MixUpPlan smallest = cyg::mixup_plan(1, 0, cyg::kMinMixUpAlpha, BatchParts{1000, 100, false, 1, 1});
  for (float w : smallest.weight) ASSERT_TRUE(w >= 0.5f && w <= 1.0f) << w;
  cyg::test::expect_error([] { cyg::beta_symmetric_draw(1, 0.0); }, {"finite alpha > 0"});
}

// Each part's partners are a permutation of its places, its weights in [1/2, 1], for
// parts cut as the step cuts them.
void expect_shuffled_parts(const MixUpPlan& plan, const BatchParts& p) {
  const int64_t batches = p.drop_last ? p.n / p.batch_size : (p.n + p.batch_size - 1) / p.batch_size;
  int64_t covered = 0;
  for (int64_t b = 0; b < batches; ++b) {
    const int64_t first = b * p.batch_size, global = std::min(p.batch_size, p.n - first);
    const int64_t parts = cyg::micro_batch_count(p.micro_batches, global / p.ranks);
    for (int64_t r = 0; r < p.ranks; ++r) {
      const int64_t s0 = first + global * r / p.ranks, slice = first + global * (r + 1) / p.ranks - s0;
      for (int64_t k = 0; k < parts; ++k) {
        const int64_t begin = s0 + slice * k / parts, m = s0 + slice * (k + 1) / parts - begin;
        std::vector<int32_t> got(plan.partner.begin() + begin, plan.partner.begin() + begin + m), all(m);
        std::sort(got.begin(), got.end());
        std::iota(all.begin(), all.end(), 0);
        EXPECT_EQ(got, all) << "batch " << b << " rank " << r << " part " << k;
        for (int64_t q = begin; q < begin + m; ++q) {
          EXPECT_GE(plan.weight[static_cast<size_t>(q)], 0.5f);
          EXPECT_LE(plan.weight[static_cast<size_t>(q)], 1.0f);
        }
        covered += m;
      }
    }
  }
  EXPECT_EQ(covered, batches * p.batch_size - (p.drop_last ? 0 : batches * p.batch_size - p.n));
}

TEST(MixUp, PartnersAreAShuffleOfEachPart) {
  for (const BatchParts& p : {BatchParts{11, 4, false, 1, 1}, BatchParts{11, 4, false, 2, 1},
                              BatchParts{11, 4, true, 1, 2}, BatchParts{100, 32, false, 3, 2},
                              BatchParts{1, 1, false, 1, 1}}) {
    SCOPED_TRACE(::testing::Message() << p.n << " in " << p.batch_size << ", " << p.ranks << " ranks, "
                                      << p.micro_batches << " micro-batches");
    const MixUpPlan plan = cyg::mixup_plan(3, 1, 0.4, p);
    ASSERT_EQ(plan.partner.size(), static_cast<size_t>(p.n));
    expect_shuffled_parts(plan, p);
  }
  // The weights are not all one: 0.4 puts few draws at the ends.
  const MixUpPlan plan = cyg::mixup_plan(3, 1, 0.4, BatchParts{100, 32, false, 1, 1});
  EXPECT_GT(std::count_if(plan.weight.begin(), plan.weight.end(), [](float w) { return w < 0.9f; }), 30);
  // And the partners are not the identity.
  int64_t moved = 0;
  for (int64_t q = 0; q < 96; ++q) moved += plan.partner[static_cast<size_t>(q)] != q % 32;
  EXPECT_GT(moved, 60);
}

TEST(MixUp, AnEpochsDrawsDependOnItsSeedAndNumberOnly) {
  const BatchParts p{50, 8, false, 1, 1};
  const MixUpPlan a = cyg::mixup_plan(5, 2, 0.4, p), b = cyg::mixup_plan(5, 2, 0.4, p);
  EXPECT_EQ(a.partner, b.partner);
  EXPECT_EQ(a.weight, b.weight);
  EXPECT_NE(cyg::mixup_plan(5, 3, 0.4, p).weight, a.weight);
  EXPECT_NE(cyg::mixup_plan(6, 2, 0.4, p).weight, a.weight);
  EXPECT_NE(cyg::mixup_plan(5, 3, 0.4, p).partner, a.partner);
}

// 2 ranks pair images as one process in 2 micro-batches does (the same parts), so a
// data-parallel run is the same experiment; 3 micro-batches are other parts.
TEST(MixUp, TwoRanksPairAsTwoMicroBatches) {
  for (int64_t n : {16, 24}) {  // last batches of 4 and of 6: two images a part at least
    const MixUpPlan ranks = cyg::mixup_plan(9, 0, 0.4, BatchParts{n, 6, false, 2, 1});
    const MixUpPlan micro = cyg::mixup_plan(9, 0, 0.4, BatchParts{n, 6, false, 1, 2});
    EXPECT_EQ(ranks.partner, micro.partner);
    EXPECT_EQ(ranks.weight, micro.weight);
    EXPECT_NE(cyg::mixup_plan(9, 0, 0.4, BatchParts{n, 6, false, 1, 3}).partner, micro.partner);
  }
}

// CutMix's boxes lie inside the image, each weight is the own pixels' share, and the
// mean share matches fastai's rule worked out by quadrature: with alpha 1, l is uniform,
// the side round(32 sqrt(1 - l)) and the centre uniform, so the expected box fraction is
// the integral over l of (mean clipped length / 32)^2.
TEST(CutMix, BoxesFollowFastaisRule) {
  const int64_t side = 32;
  const BatchParts parts{20000, 100, false, 1, 1};
  const MixUpPlan plan = cyg::cutmix_plan(2, 0, 1.0, parts, side, side);
  ASSERT_EQ(plan.box.size(), 4u * 20000);
  double mean_weight = 0;
  for (size_t q = 0; q < 20000; ++q) {
    const int32_t* b = plan.box.data() + 4 * q;
    ASSERT_TRUE(b[0] >= 0 && b[1] >= 0 && b[2] >= 0 && b[3] >= 0 && b[0] + b[2] <= side && b[1] + b[3] <= side)
        << "box " << q;
    ASSERT_EQ(plan.weight[q], static_cast<float>(1.0 - static_cast<double>(b[2]) * b[3] / (side * side))) << q;
    mean_weight += plan.weight[q] / 20000.0;
  }
  const int steps = 4000;
  double expected_fraction = 0;
  for (int k = 0; k < steps; ++k) {
    const double l = (k + 0.5) / steps;
    const auto cut = static_cast<int64_t>(std::nearbyint(side * std::sqrt(1 - l)));
    double length = 0;  // the clipped length, averaged over the centre's places
    for (int64_t c = 0; c < side; ++c)
      length += static_cast<double>(std::min(c + cut / 2, side) - std::max<int64_t>(c - cut / 2, 0)) / side;
    expected_fraction += (length / side) * (length / side) / steps;
  }
  EXPECT_NEAR(mean_weight, 1 - expected_fraction, 0.006);  // a standard error is about 0.002
  // Partners as MixUp's: the same shuffles.
  EXPECT_EQ(plan.partner, cyg::mixup_plan(2, 0, 1.0, parts).partner);
}

// A dataset of n images of 1 channel of 6x9 pixels, each pixel its image's index.
cyg::Dataset indexed(int64_t n) {
  cyg::Dataset d;
  d.name = "indexed";
  d.num_classes = 10;
  d.images = cyg::Tensor::empty({n, 1, 6, 9}, cyg::DType::U8);
  d.labels = cyg::Tensor::empty({n}, cyg::DType::I32);
  for (int64_t i = 0; i < n * 54; ++i) d.images.data<uint8_t>()[i] = static_cast<uint8_t>(i / 54);
  for (int64_t i = 0; i < n; ++i) d.labels.data<int32_t>()[i] = static_cast<int32_t>(i % 10);
  return d;
}

// The loader's batches carry their epoch's draws at their positions, on every device,
// in every shard and after a resume, MixUp's and CutMix's; without either, none.
TEST(Loader, MixUpBatchesCarryTheirEpochsDraws) {
  const cyg::Dataset d = indexed(23);
  const cyg::Normalization identity{{0.0f}, {1.0f}};
  for (bool cut : {false, true})
    for (cyg::Device device : {cyg::Device::cpu(), cyg::Device::emu()}) {
      SCOPED_TRACE(::testing::Message() << device.str() << (cut ? ", CutMix" : ", MixUp"));
      for (int64_t ranks : {1, 2}) {
        const cyg::LoaderOptions base =
            cyg::LoaderOptions(8).shuffle(true).seed(4).normalization(identity).device(device);
        const cyg::LoaderOptions options = cut ? cyg::LoaderOptions(base).cutmix(1.0, 2)
                                               : cyg::LoaderOptions(base).mixup(0.4, 2);
        const BatchParts parts{23, 8, false, ranks, 2};
        const MixUpPlan plan = cut ? cyg::cutmix_plan(4, 1, 1.0, parts, 6, 9) : cyg::mixup_plan(4, 1, 0.4, parts);
        int64_t boxes = 0;  // non-empty ones seen
        for (int64_t r = 0; r < ranks; ++r) {
          cyg::Loader loader(d, cyg::LoaderOptions(options).shard(r, ranks));
          loader.start_epoch(1, 1);  // resumed at the second batch
          cyg::Batch batch;
          int64_t batches = 0;
          while (loader.next(batch)) {
            ++batches;
            ASSERT_TRUE(batch.mixing.on());
            ASSERT_EQ(batch.mixing.cuts(), cut);
            const int64_t n = batch.labels.numel();
            const cyg::Tensor partner = batch.mixing.partner.to(cyg::Device::cpu());
            const std::vector<float> weight = batch.mixing.weight.to_vector();
            ASSERT_EQ(weight.size(), static_cast<size_t>(n));
            const cyg::Tensor box = cut ? batch.mixing.box.to(cyg::Device::cpu()) : cyg::Tensor();
            for (int64_t i = 0; i < n; ++i) {
              const auto q = static_cast<size_t>(batch.first_position + i);
              EXPECT_EQ(partner.data<int32_t>()[i], plan.partner[q]) << "position " << q;
              EXPECT_EQ(weight[static_cast<size_t>(i)], plan.weight[q]) << "position " << q;
              if (cut) {
                for (size_t k = 0; k < 4; ++k) EXPECT_EQ(box.data<int32_t>()[4 * i + k], plan.box[4 * q + k]);
                boxes += box.data<int32_t>()[4 * i + 2] > 0 && box.data<int32_t>()[4 * i + 3] > 0;
              }
            }
          }
          EXPECT_EQ(batches, 2);
        }
        if (cut) {
          EXPECT_GT(boxes, 4) << "boxes of 6x9 images, most of them not empty";
        }
      }
      cyg::Loader plain(d, cyg::LoaderOptions(8).normalization(identity).device(device));
      cyg::Batch batch;
      ASSERT_TRUE(plain.next(batch));
      EXPECT_FALSE(batch.mixing.on());
    }
  cyg::test::expect_error([&] { cyg::Loader(d, cyg::LoaderOptions(8).normalization(identity).mixup(-1)); },
                          {"mixup alpha -1"});
}

}  // namespace
