// The channels-last (NHWC) CPU kernels: each backward against central differences of
// its forward, in double, with fused epilogues; and the forwards against the NCHW
// kernels on the same values transposed, so a layout slip shows.
#include <algorithm>
#include <cmath>

#include "kernels/batchnorm.h"
#include "kernels/pool.h"
#include "tests/gradcheck/gradcheck.h"

namespace {

constexpr double kEps = 1e-5, kMomentum = 0.1;
constexpr int64_t N = 3, C = 4, HW = 5;  // odd sizes: rows of 4 channels, 15 rows
constexpr size_t kElements = static_cast<size_t>(N * C * HW);

// NHWC [N, HW, C] -> NCHW [N, C, HW].
std::vector<double> to_nchw(const std::vector<double>& nhwc) {
  std::vector<double> out(nhwc.size());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < HW; ++i)
      for (int64_t c = 0; c < C; ++c) out[(n * C + c) * HW + i] = nhwc[(n * HW + i) * C + c];
  return out;
}

TEST(Gradcheck, BatchNormTrainingChannelsLast) {
  std::vector<double> x = cyg::test::random_doubles(kElements, 21, -1.0, 3.0);
  std::vector<double> gamma = cyg::test::random_doubles(C, 22, 0.5, 1.5);
  std::vector<double> beta = cyg::test::random_doubles(C, 23);
  const std::vector<double> dy = cyg::test::random_doubles(kElements, 24);
  auto forward = [&](std::vector<double>& y, std::vector<double>& mean, std::vector<double>& invstd) {
    cyg::batchnorm_forward_train_nhwc_cpu(x.data(), gamma.data(), beta.data(), N, C, HW, kEps, kMomentum, y.data(),
                                          mean.data(), invstd.data(), static_cast<double*>(nullptr),
                                          static_cast<double*>(nullptr));
  };
  auto loss = [&] {
    std::vector<double> y(kElements), mean(C), invstd(C);
    forward(y, mean, invstd);
    return cyg::test::dot(dy, y);
  };
  std::vector<double> y(kElements), mean(C), invstd(C), dx(kElements), dgamma(C), dbeta(C);
  forward(y, mean, invstd);
  cyg::batchnorm_backward_nhwc_cpu(dy.data(), x.data(), gamma.data(), mean.data(), invstd.data(), N, C, HW, dx.data(),
                                   dgamma.data(), dbeta.data());
  EXPECT_TRUE(cyg::test::check_gradient(loss, x, dx, "x"));
  EXPECT_TRUE(cyg::test::check_gradient(loss, gamma, dgamma, "gamma"));
  EXPECT_TRUE(cyg::test::check_gradient(loss, beta, dbeta, "beta"));

  // The same values as NCHW through the NCHW kernel: the same statistics and outputs.
  std::vector<double> y_nchw(kElements), mean_nchw(C), invstd_nchw(C);
  const std::vector<double> x_nchw = to_nchw(x);
  cyg::batchnorm_forward_train_cpu(x_nchw.data(), gamma.data(), beta.data(), N, C, HW, kEps, kMomentum, y_nchw.data(),
                                   mean_nchw.data(), invstd_nchw.data(), static_cast<double*>(nullptr),
                                   static_cast<double*>(nullptr));
  forward(y, mean, invstd);
  const std::vector<double> y_as_nchw = to_nchw(y);
  for (size_t i = 0; i < kElements; ++i) EXPECT_NEAR(y_as_nchw[i], y_nchw[i], 1e-12) << i;
  for (int64_t c = 0; c < C; ++c) {
    EXPECT_NEAR(mean[c], mean_nchw[c], 1e-12);
    EXPECT_NEAR(invstd[c], invstd_nchw[c], 1e-12);
  }
}

// relu(bn(x) + residual) channels-last; the residual is moved away from the ReLU's kink.
TEST(Gradcheck, BatchNormAddReluFusedChannelsLast) {
  std::vector<double> x = cyg::test::random_doubles(kElements, 31, -1.0, 3.0);
  std::vector<double> gamma = cyg::test::random_doubles(C, 32, 0.5, 1.5);
  std::vector<double> beta = cyg::test::random_doubles(C, 33);
  std::vector<double> residual = cyg::test::random_doubles(kElements, 34);
  const std::vector<double> dy = cyg::test::random_doubles(kElements, 35);
  auto forward = [&](std::vector<double>& y, std::vector<double>& mean, std::vector<double>& invstd,
                     cyg::BatchNormEpilogue epilogue) {
    cyg::batchnorm_forward_train_nhwc_cpu(x.data(), gamma.data(), beta.data(), N, C, HW, kEps, kMomentum, y.data(),
                                          mean.data(), invstd.data(), static_cast<double*>(nullptr),
                                          static_cast<double*>(nullptr),
                                          cyg::BatchNormFusion<double>{epilogue, residual.data()});
  };
  std::vector<double> y(kElements), mean(C), invstd(C);
  forward(y, mean, invstd, cyg::BatchNormEpilogue::None);
  for (size_t i = 0; i < kElements; ++i) {
    const double pre = y[i] + residual[i];
    if (std::fabs(pre) < 0.05) residual[i] += pre >= 0 ? 0.05 : -0.05;
  }
  forward(y, mean, invstd, cyg::BatchNormEpilogue::AddRelu);
  size_t cut = 0;
  for (double v : y) cut += v == 0.0;
  ASSERT_GT(cut, 0u) << "the ReLU should cut some outputs";
  ASSERT_LT(cut, kElements) << "and keep others";
  auto loss = [&] {
    std::vector<double> yy(kElements), mm(C), ii(C);
    forward(yy, mm, ii, cyg::BatchNormEpilogue::AddRelu);
    return cyg::test::dot(dy, yy);
  };
  std::vector<double> dx(kElements), dgamma(C), dbeta(C), dresidual(kElements);
  cyg::batchnorm_backward_nhwc_cpu(dy.data(), x.data(), gamma.data(), mean.data(), invstd.data(), N, C, HW, dx.data(),
                                   dgamma.data(), dbeta.data(),
                                   cyg::BatchNormBackwardFusion<double>{y.data(), dresidual.data()});
  EXPECT_TRUE(cyg::test::check_gradient(loss, x, dx, "x"));
  EXPECT_TRUE(cyg::test::check_gradient(loss, gamma, dgamma, "gamma"));
  EXPECT_TRUE(cyg::test::check_gradient(loss, beta, dbeta, "beta"));
  EXPECT_TRUE(cyg::test::check_gradient(loss, residual, dresidual, "residual"));

  // The mask as bits (60 values: 7 whole bytes and 4 bits), written by the forward and
  // read by the backward in place of y: the same gradients against the differences.
  std::vector<uint8_t> mask(static_cast<size_t>(cyg::relu_mask_bytes(kElements)), 0xFF);
  cyg::BatchNormFusion<double> with_bits{cyg::BatchNormEpilogue::AddRelu, residual.data()};
  with_bits.mask = mask.data();
  cyg::batchnorm_forward_train_nhwc_cpu(x.data(), gamma.data(), beta.data(), N, C, HW, kEps, kMomentum, y.data(),
                                        mean.data(), invstd.data(), static_cast<double*>(nullptr),
                                        static_cast<double*>(nullptr), with_bits);
  for (std::vector<double>* g : {&dx, &dgamma, &dbeta, &dresidual}) std::fill(g->begin(), g->end(), NAN);
  cyg::BatchNormBackwardFusion<double> from_bits{nullptr, dresidual.data()};
  from_bits.mask = mask.data();
  cyg::batchnorm_backward_nhwc_cpu(dy.data(), x.data(), gamma.data(), mean.data(), invstd.data(), N, C, HW, dx.data(),
                                   dgamma.data(), dbeta.data(), from_bits);
  EXPECT_TRUE(cyg::test::check_gradient(loss, x, dx, "x, from the mask's bits"));
  EXPECT_TRUE(cyg::test::check_gradient(loss, gamma, dgamma, "gamma, from the mask's bits"));
  EXPECT_TRUE(cyg::test::check_gradient(loss, beta, dbeta, "beta, from the mask's bits"));
  EXPECT_TRUE(cyg::test::check_gradient(loss, residual, dresidual, "residual, from the mask's bits"));
}

// Evaluation mode (running statistics) with a fused ReLU: x, gamma and beta.
TEST(Gradcheck, BatchNormEvalReluChannelsLast) {
  std::vector<double> x = cyg::test::random_doubles(kElements, 41, -1.0, 3.0);
  std::vector<double> gamma = cyg::test::random_doubles(C, 42, 0.5, 1.5);
  std::vector<double> beta = cyg::test::random_doubles(C, 43, 0.2, 0.6);
  const std::vector<double> running_mean = cyg::test::random_doubles(C, 44),
                            running_var = cyg::test::random_doubles(C, 45, 0.5, 2.0);
  const std::vector<double> dy = cyg::test::random_doubles(kElements, 46);
  const cyg::BatchNormFusion<double> relu{cyg::BatchNormEpilogue::Relu, nullptr};
  auto forward = [&](std::vector<double>& y) {
    cyg::batchnorm_forward_eval_nhwc_cpu(x.data(), gamma.data(), beta.data(), running_mean.data(), running_var.data(),
                                         N, C, HW, kEps, y.data(), relu);
  };
  std::vector<double> y(kElements);
  forward(y);
  // Keep x away from where the output crosses zero.
  for (size_t i = 0; i < kElements; ++i)
    if (std::fabs(y[i]) < 1e-3 && y[i] != 0.0) x[i] += 0.1;
  forward(y);
  auto loss = [&] {
    std::vector<double> yy(kElements);
    forward(yy);
    return cyg::test::dot(dy, yy);
  };
  std::vector<double> dx(kElements), dgamma(C), dbeta(C);
  cyg::batchnorm_backward_eval_nhwc_cpu(dy.data(), x.data(), gamma.data(), running_mean.data(), running_var.data(), N,
                                        C, HW, kEps, dx.data(), dgamma.data(), dbeta.data(),
                                        cyg::BatchNormBackwardFusion<double>{y.data(), nullptr});
  EXPECT_TRUE(cyg::test::check_gradient(loss, x, dx, "x"));
  EXPECT_TRUE(cyg::test::check_gradient(loss, gamma, dgamma, "gamma"));
  EXPECT_TRUE(cyg::test::check_gradient(loss, beta, dbeta, "beta"));
}

TEST(Gradcheck, GlobalAvgPoolChannelsLast) {
  const int64_t H = 3, W = 2;  // HW = 6 would not be kElements' HW: its own sizes
  std::vector<double> x = cyg::test::random_doubles(static_cast<size_t>(N * H * W * C), 51);
  const std::vector<double> dy = cyg::test::random_doubles(static_cast<size_t>(N * C), 52);
  std::vector<double> dx(x.size());
  cyg::global_avg_pool_backward_nhwc_cpu(dy.data(), N, C, H, W, dx.data());
  auto loss = [&] {
    std::vector<double> y(dy.size());
    cyg::global_avg_pool_forward_nhwc_cpu(x.data(), N, C, H, W, y.data());
    return cyg::test::dot(dy, y);
  };
  EXPECT_TRUE(cyg::test::check_gradient(loss, x, dx, "x"));
  // By hand: one image of 2 pixels and 2 channels, [[1, 10], [3, 30]] -> means 2 and 20.
  const std::vector<double> one = {1, 10, 3, 30};
  std::vector<double> y(2);
  cyg::global_avg_pool_forward_nhwc_cpu(one.data(), 1, 2, 1, 2, y.data());
  EXPECT_EQ(y, (std::vector<double>{2.0, 20.0}));
}

}  // namespace
