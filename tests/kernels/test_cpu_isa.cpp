// The CPU kernels' instruction-set variants (kernels/cpu/isa.h, row_loops.h): every
// variant this CPU runs gives the channels-last batchnorm's outputs with the same bits as
// the baseline, at odd sizes (channels not a multiple of a vector, a single channel, a
// size large enough for the threaded loops), in f32 and bf16, with each fused epilogue;
// a NaN reaches the statistics in either layout; CYGNET_CPU_ISA's values are checked.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/batchnorm.h"
#include "kernels/cpu/isa.h"
#include "kernels/error.h"

namespace {

struct Shape {
  int64_t N, C, HW;
};
const Shape kShapes[] = {{2, 1, 1}, {2, 3, 7}, {3, 13, 5}, {2, 67, 33}, {4, 64, 64}, {1, 16, 300}, {8, 64, 256}};

template <typename S>
std::vector<S> random_storage(size_t n, unsigned seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<S> out(n);
  for (S& v : out) cyg::store(&v, dist(rng));
  return out;
}

template <typename T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

// Every output of a training forward, its backward and the evaluation forward and
// backward, for one shape and epilogue, under the variant chosen now.
template <typename S>
struct Outputs {
  std::vector<S> y, eval_y, dx, dresidual, eval_dx;
  std::vector<float> mean, invstd, running_mean, running_var, dgamma, dbeta, eval_dgamma, eval_dbeta;

  bool operator==(const Outputs& o) const {
    return same_bits(y, o.y) && same_bits(eval_y, o.eval_y) && same_bits(dx, o.dx) &&
           same_bits(dresidual, o.dresidual) && same_bits(eval_dx, o.eval_dx) && same_bits(mean, o.mean) &&
           same_bits(invstd, o.invstd) && same_bits(running_mean, o.running_mean) &&
           same_bits(running_var, o.running_var) && same_bits(dgamma, o.dgamma) && same_bits(dbeta, o.dbeta) &&
           same_bits(eval_dgamma, o.eval_dgamma) && same_bits(eval_dbeta, o.eval_dbeta);
  }
};

template <typename S>
Outputs<S> run_all(const Shape& s, cyg::BatchNormEpilogue epilogue) {
  const size_t n = static_cast<size_t>(s.N * s.C * s.HW), C = static_cast<size_t>(s.C);
  // A mean far from zero, so that the one-pass statistics' shift matters.
  const std::vector<S> x = random_storage<S>(n, 1, 3.0f, 5.0f), dy = random_storage<S>(n, 2, -1.0f, 1.0f),
                       residual = random_storage<S>(n, 3, -1.0f, 1.0f);
  const std::vector<float> gamma = random_storage<float>(C, 4, 0.5f, 1.5f),
                           beta = random_storage<float>(C, 5, -0.5f, 0.5f);
  Outputs<S> o;
  o.y.resize(n);
  o.eval_y.resize(n);
  o.dx.resize(n);
  o.eval_dx.resize(n);
  o.mean.resize(C);
  o.invstd.resize(C);
  o.running_mean.assign(C, 0.1f);
  o.running_var.assign(C, 0.9f);
  o.dgamma.resize(C);
  o.dbeta.resize(C);
  o.eval_dgamma.resize(C);
  o.eval_dbeta.resize(C);
  const bool fused = epilogue != cyg::BatchNormEpilogue::None;
  if (fused) o.dresidual.resize(n);
  const cyg::BatchNormFusion<S> fusion{epilogue, residual.data()};
  cyg::batchnorm_forward_train_nhwc_cpu<float, S>(x.data(), gamma.data(), beta.data(), s.N, s.C, s.HW, 1e-5f, 0.1f,
                                                  o.y.data(), o.mean.data(), o.invstd.data(), o.running_mean.data(),
                                                  o.running_var.data(), fusion);
  cyg::batchnorm_forward_eval_nhwc_cpu<float, S>(x.data(), gamma.data(), beta.data(), o.running_mean.data(),
                                                 o.running_var.data(), s.N, s.C, s.HW, 1e-5f, o.eval_y.data(), fusion);
  const cyg::BatchNormBackwardFusion<S> backward{fused ? o.y.data() : nullptr,
                                                 fused ? o.dresidual.data() : nullptr};
  cyg::batchnorm_backward_nhwc_cpu<float, S>(dy.data(), x.data(), gamma.data(), o.mean.data(), o.invstd.data(), s.N,
                                             s.C, s.HW, o.dx.data(), o.dgamma.data(), o.dbeta.data(), backward);
  cyg::batchnorm_backward_eval_nhwc_cpu<float, S>(dy.data(), x.data(), gamma.data(), o.running_mean.data(),
                                                  o.running_var.data(), s.N, s.C, s.HW, 1e-5f, o.eval_dx.data(),
                                                  o.eval_dgamma.data(), o.eval_dbeta.data(), backward);
  return o;
}

// Restores the variant chosen before the test.
struct IsaScope {
  cyg::CpuIsa before = cyg::cpu_isa();
  ~IsaScope() { cyg::set_cpu_isa(before); }
};

template <typename S>
void expect_every_variant_equals_the_baseline() {
  const IsaScope scope;
  const std::vector<cyg::CpuIsa> variants = cyg::cpu_isas_available();
  ASSERT_FALSE(variants.empty());
  ASSERT_EQ(variants.front(), cyg::CpuIsa::Baseline);
  if (variants.size() == 1)
    std::printf("note: this CPU or build has only the baseline variant: it is compared with itself\n");
  for (const Shape& s : kShapes)
    for (cyg::BatchNormEpilogue e :
         {cyg::BatchNormEpilogue::None, cyg::BatchNormEpilogue::Relu, cyg::BatchNormEpilogue::AddRelu}) {
      SCOPED_TRACE(::testing::Message() << "N=" << s.N << " C=" << s.C << " HW=" << s.HW << " epilogue "
                                        << static_cast<int>(e));
      cyg::set_cpu_isa(cyg::CpuIsa::Baseline);
      const Outputs<S> reference = run_all<S>(s, e);
      for (cyg::CpuIsa isa : variants) {
        cyg::set_cpu_isa(isa);
        EXPECT_TRUE(run_all<S>(s, e) == reference) << cyg::cpu_isa_name(isa) << " differs from the baseline";
      }
    }
}

TEST(CpuIsa, EveryVariantGivesTheBaselinesBitsF32) { expect_every_variant_equals_the_baseline<float>(); }
TEST(CpuIsa, EveryVariantGivesTheBaselinesBitsBf16) { expect_every_variant_equals_the_baseline<uint16_t>(); }

// A NaN in a channel makes its statistics NaN, channels-last as NCHW, and leaves the other
// channels alone (the variance is clamped at 0 from below only).
TEST(CpuIsa, ANanReachesTheStatisticsInEitherLayout) {
  const int64_t N = 2, C = 3, HW = 4;
  std::vector<float> nhwc(static_cast<size_t>(N * C * HW)), nchw(nhwc.size());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < HW; ++p) {
        const float v = static_cast<float>(n * 7 + c * 3 + p) * 0.25f;
        nhwc[static_cast<size_t>((n * HW + p) * C + c)] = v;
        nchw[static_cast<size_t>((n * C + c) * HW + p)] = v;
      }
  nhwc[static_cast<size_t>((1 * HW + 2) * C + 1)] = NAN;  // channel 1
  nchw[static_cast<size_t>((1 * C + 1) * HW + 2)] = NAN;
  std::vector<float> y(nhwc.size()), mean(C), invstd(C), rmean(C, 0.0f), rvar(C, 1.0f);
  std::vector<float> mean2(C), invstd2(C), rmean2(C, 0.0f), rvar2(C, 1.0f);
  for (cyg::CpuIsa isa : cyg::cpu_isas_available()) {
    const IsaScope scope;
    cyg::set_cpu_isa(isa);
    SCOPED_TRACE(cyg::cpu_isa_name(isa));
    cyg::batchnorm_forward_train_nhwc_cpu<float, float>(nhwc.data(), nullptr, nullptr, N, C, HW, 1e-5f, 0.1f,
                                                        y.data(), mean.data(), invstd.data(), rmean.data(),
                                                        rvar.data(), {});
    cyg::batchnorm_forward_train_cpu<float>(nchw.data(), nullptr, nullptr, N, C, HW, 1e-5f, 0.1f, y.data(),
                                            mean2.data(), invstd2.data(), rmean2.data(), rvar2.data());
    for (int64_t c = 0; c < C; ++c) {
      EXPECT_EQ(std::isnan(invstd[c]), c == 1) << "channel " << c;
      EXPECT_EQ(std::isnan(rvar[c]), c == 1) << "channel " << c;
      EXPECT_EQ(std::isnan(invstd2[c]), c == 1) << "channel " << c << " (NCHW)";
    }
  }
}

TEST(CpuIsa, SettingsAreChecked) {
  const std::vector<cyg::CpuIsa> variants = cyg::cpu_isas_available();
  EXPECT_EQ(cyg::cpu_isa_from_setting(nullptr), variants.back());
  EXPECT_EQ(cyg::cpu_isa_from_setting(""), variants.back());
  EXPECT_EQ(cyg::cpu_isa_from_setting("auto"), variants.back());
  EXPECT_EQ(cyg::cpu_isa_from_setting("baseline"), cyg::CpuIsa::Baseline);
  try {
    cyg::cpu_isa_from_setting("avx9");
    FAIL() << "an unknown CYGNET_CPU_ISA was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("CYGNET_CPU_ISA=avx9: expected baseline, avx2 or auto"), std::string::npos)
        << e.what();
  }
  if (variants.back() != cyg::CpuIsa::Avx2) {
    EXPECT_THROW(cyg::cpu_isa_from_setting("avx2"), std::exception);
    EXPECT_THROW(cyg::set_cpu_isa(cyg::CpuIsa::Avx2), std::exception);
  } else {
    EXPECT_EQ(cyg::cpu_isa_from_setting("avx2"), cyg::CpuIsa::Avx2);
  }
}

}  // namespace
