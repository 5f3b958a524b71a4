// BatchNorm2d: the training-mode backward against central differences of the training
// forward (whose statistics depend on x), and the forwards against values worked out
// by hand.
#include "kernels/batchnorm.h"
#include "tests/gradcheck/gradcheck.h"

namespace {

constexpr double kEps = 1e-5, kMomentum = 0.1;

TEST(Gradcheck, BatchNormTraining) {
  const int64_t N = 3, C = 2, HW = 5;
  const size_t n = static_cast<size_t>(N * C * HW);
  std::vector<double> x = cyg::test::random_doubles(n, 1, -1.0, 3.0);
  std::vector<double> gamma = cyg::test::random_doubles(C, 2, 0.5, 1.5);
  std::vector<double> beta = cyg::test::random_doubles(C, 3);
  const std::vector<double> dy = cyg::test::random_doubles(n, 4);
  for (bool affine : {true, false}) {
    SCOPED_TRACE(affine ? "affine" : "no affine");
    const double* g = affine ? gamma.data() : nullptr;
    const double* b = affine ? beta.data() : nullptr;
    auto loss = [&] {
      std::vector<double> y(n), mean(C), invstd(C);
      cyg::batchnorm_forward_train_cpu(x.data(), g, b, N, C, HW, kEps, kMomentum, y.data(), mean.data(), invstd.data(),
                                       static_cast<double*>(nullptr), static_cast<double*>(nullptr));
      return cyg::test::dot(dy, y);
    };
    std::vector<double> y(n), mean(C), invstd(C), dx(n), dgamma(C), dbeta(C);
    cyg::batchnorm_forward_train_cpu(x.data(), g, b, N, C, HW, kEps, kMomentum, y.data(), mean.data(), invstd.data(),
                                     static_cast<double*>(nullptr), static_cast<double*>(nullptr));
    cyg::batchnorm_backward_cpu(dy.data(), x.data(), g, mean.data(), invstd.data(), N, C, HW, dx.data(), dgamma.data(),
                                dbeta.data());
    EXPECT_TRUE(cyg::test::check_gradient(loss, x, dx, "x"));
    if (affine) {
      EXPECT_TRUE(cyg::test::check_gradient(loss, gamma, dgamma, "gamma"));
      EXPECT_TRUE(cyg::test::check_gradient(loss, beta, dbeta, "beta"));
    }
  }
}

// The fused relu(bn(x) + residual), training mode: x, gamma, beta and the residual
// against central differences. The inputs keep every output away from the ReLU's kink,
// where central differences are not a derivative.
TEST(Gradcheck, BatchNormAddReluFused) {
  const int64_t N = 3, C = 2, HW = 5;
  const size_t n = static_cast<size_t>(N * C * HW);
  std::vector<double> x = cyg::test::random_doubles(n, 11, -1.0, 3.0);
  std::vector<double> gamma = cyg::test::random_doubles(C, 12, 0.5, 1.5);
  std::vector<double> beta = cyg::test::random_doubles(C, 13);
  std::vector<double> residual = cyg::test::random_doubles(n, 14);
  const std::vector<double> dy = cyg::test::random_doubles(n, 15);
  auto forward = [&](std::vector<double>& y, std::vector<double>& mean, std::vector<double>& invstd) {
    cyg::batchnorm_forward_train_cpu(x.data(), gamma.data(), beta.data(), N, C, HW, kEps, kMomentum, y.data(),
                                     mean.data(), invstd.data(), static_cast<double*>(nullptr),
                                     static_cast<double*>(nullptr),
                                     cyg::BatchNormFusion<double>{cyg::BatchNormEpilogue::AddRelu, residual.data()});
  };
  std::vector<double> y(n), mean(C), invstd(C);
  // Move the residual so that every pre-ReLU value bn(x) + residual is at least 0.05 from
  // zero: the perturbations below shift it by about 1e-6.
  cyg::batchnorm_forward_train_cpu(x.data(), gamma.data(), beta.data(), N, C, HW, kEps, kMomentum, y.data(),
                                   mean.data(), invstd.data(), static_cast<double*>(nullptr),
                                   static_cast<double*>(nullptr));
  for (size_t i = 0; i < n; ++i) {
    const double pre = y[i] + residual[i];
    if (std::fabs(pre) < 0.05) residual[i] += pre >= 0 ? 0.05 : -0.05;
  }
  forward(y, mean, invstd);
  size_t cut = 0;
  for (double v : y) cut += v == 0.0;
  ASSERT_GT(cut, 0u) << "the ReLU should cut some outputs";
  ASSERT_LT(cut, n) << "and keep others";
  auto loss = [&] {
    std::vector<double> yy(n), mm(C), ii(C);
    forward(yy, mm, ii);
    return cyg::test::dot(dy, yy);
  };
  std::vector<double> dx(n), dgamma(C), dbeta(C), dresidual(n);
  cyg::batchnorm_backward_cpu(dy.data(), x.data(), gamma.data(), mean.data(), invstd.data(), N, C, HW, dx.data(),
                              dgamma.data(), dbeta.data(),
                              cyg::BatchNormBackwardFusion<double>{y.data(), dresidual.data()});
  EXPECT_TRUE(cyg::test::check_gradient(loss, x, dx, "x"));
  EXPECT_TRUE(cyg::test::check_gradient(loss, gamma, dgamma, "gamma"));
  EXPECT_TRUE(cyg::test::check_gradient(loss, beta, dbeta, "beta"));
  EXPECT_TRUE(cyg::test::check_gradient(loss, residual, dresidual, "residual"));
}

// x of shape [N=2, C=2, HW=2]: channel 0 holds 1, 2 (n=0) and 3, 4 (n=1), channel 1
// ten times that, so a wrong layout mixes the channels.
TEST(BatchNormByHand, TrainingForwardAndRunningStats) {
  const std::vector<double> x = {1, 2, 10, 20, 3, 4, 30, 40};
  const std::vector<double> gamma = {2.0, 0.5}, beta = {0.5, -1.0};
  std::vector<double> running_mean = {0.0, 0.0}, running_var = {1.0, 1.0};
  std::vector<double> y(8), mean(2), invstd(2);
  cyg::batchnorm_forward_train_cpu(x.data(), gamma.data(), beta.data(), 2, 2, 2, kEps, kMomentum, y.data(), mean.data(),
                                   invstd.data(), running_mean.data(), running_var.data());
  // Channel 0: mean 2.5, biased variance (2.25 + 0.25 + 0.25 + 2.25)/4 = 1.25, unbiased 5/3.
  // Channel 1: mean 25, biased variance 125, unbiased 500/3.
  EXPECT_DOUBLE_EQ(mean[0], 2.5);
  EXPECT_DOUBLE_EQ(mean[1], 25.0);
  EXPECT_DOUBLE_EQ(invstd[0], 1.0 / std::sqrt(1.25 + 1e-5));
  EXPECT_DOUBLE_EQ(invstd[1], 1.0 / std::sqrt(125.0 + 1e-5));
  EXPECT_DOUBLE_EQ(running_mean[0], 0.25);
  EXPECT_DOUBLE_EQ(running_mean[1], 2.5);
  EXPECT_DOUBLE_EQ(running_var[0], 0.9 + 0.1 * 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(running_var[1], 0.9 + 0.1 * 500.0 / 3.0);
  // y = gamma * (x - mean) * invstd + beta.
  const double s0 = 1.0 / std::sqrt(1.25 + kEps), s1 = 1.0 / std::sqrt(125.0 + kEps);
  const std::vector<double> expected = {2.0 * -1.5 * s0 + 0.5, 2.0 * -0.5 * s0 + 0.5, 0.5 * -15 * s1 - 1.0,
                                        0.5 * -5 * s1 - 1.0,   2.0 * 0.5 * s0 + 0.5,  2.0 * 1.5 * s0 + 0.5,
                                        0.5 * 5 * s1 - 1.0,    0.5 * 15 * s1 - 1.0};
  for (size_t i = 0; i < 8; ++i) EXPECT_NEAR(y[i], expected[i], 1e-12) << "y[" << i << "]";
}

TEST(BatchNormByHand, EvalForwardUsesRunningStats) {
  // var + eps = 4 and 0.25: invstd 0.5 and 2.
  const std::vector<double> x = {1.5, 2.5, -3.0, 0.0, -1.0, 1.0};  // [N=1, C=2, HW=3]
  const std::vector<double> gamma = {2.0, 1.0}, beta = {0.5, 0.0};
  const std::vector<double> running_mean = {0.5, -1.0}, running_var = {4.0 - kEps, 0.25 - kEps};
  std::vector<double> y(6);
  cyg::batchnorm_forward_eval_cpu(x.data(), gamma.data(), beta.data(), running_mean.data(), running_var.data(), 1, 2, 3,
                                  kEps, y.data());
  const std::vector<double> expected = {1.5, 2.5, -3.0, 2.0, 0.0, 4.0};
  for (size_t i = 0; i < 6; ++i) EXPECT_NEAR(y[i], expected[i], 1e-12) << "y[" << i << "]";
}

// dbeta = sum(dy), dgamma = sum(dy * xhat). Shifting a channel's x leaves its output
// unchanged, so dx sums to 0 over the channel; scaling it would too but for eps, so
// sum(dx * xhat) is only the eps term gamma * invstd * dgamma * eps / (var + eps).
TEST(BatchNormByHand, BackwardSumsAndInvariances) {
  const std::vector<double> x = {1, 2, 10, 20, 3, 4, 30, 40};
  const std::vector<double> dy = {1, 0, 0, 2, 0, 0, -1, 0};
  const std::vector<double> gamma = {2.0, 0.5}, beta = {0.5, -1.0};
  std::vector<double> y(8), mean(2), invstd(2), dx(8), dgamma(2), dbeta(2);
  cyg::batchnorm_forward_train_cpu(x.data(), gamma.data(), beta.data(), 2, 2, 2, kEps, kMomentum, y.data(), mean.data(),
                                   invstd.data(), static_cast<double*>(nullptr), static_cast<double*>(nullptr));
  cyg::batchnorm_backward_cpu(dy.data(), x.data(), gamma.data(), mean.data(), invstd.data(), 2, 2, 2, dx.data(),
                              dgamma.data(), dbeta.data());
  EXPECT_DOUBLE_EQ(dbeta[0], 1.0);
  EXPECT_DOUBLE_EQ(dbeta[1], 1.0);
  EXPECT_NEAR(dgamma[0], -1.5 * invstd[0], 1e-12);                       // dy only at x = 1
  EXPECT_NEAR(dgamma[1], (-5.0 * 2.0 + 5.0 * -1.0) * invstd[1], 1e-12);  // at x = 20 and 30
  const int64_t channel_of[8] = {0, 0, 1, 1, 0, 0, 1, 1};
  const double var[2] = {1.25, 125.0};
  for (int64_t c = 0; c < 2; ++c) {
    double sum = 0, sum_xhat = 0;
    for (size_t i = 0; i < 8; ++i)
      if (channel_of[i] == c) {
        sum += dx[i];
        sum_xhat += dx[i] * (x[i] - mean[c]) * invstd[c];
      }
    EXPECT_NEAR(sum, 0.0, 1e-12) << "channel " << c;
    EXPECT_NEAR(sum_xhat, gamma[c] * invstd[c] * dgamma[c] * kEps / (var[c] + kEps), 1e-13) << "channel " << c;
  }
}

}  // namespace

namespace {

// The evaluation-mode backward: the running statistics are constants, so dx is dy
// scaled per channel; dgamma and dbeta are the same sums as in training.
TEST(Gradcheck, BatchNormEvaluation) {
  const int64_t N = 3, C = 2, HW = 5;
  const size_t n = static_cast<size_t>(N * C * HW);
  std::vector<double> x = cyg::test::random_doubles(n, 31), gamma = cyg::test::random_doubles(2, 32, 0.5, 1.5),
                      beta = cyg::test::random_doubles(2, 33);
  const std::vector<double> rmean = {0.3, -0.2}, rvar = {1.7, 0.4}, dy = cyg::test::random_doubles(n, 34);
  const double eps = 1e-5;
  auto loss = [&] {
    std::vector<double> y(n);
    cyg::batchnorm_forward_eval_cpu<double>(x.data(), gamma.data(), beta.data(), rmean.data(), rvar.data(), N, C, HW,
                                            eps, y.data());
    return cyg::test::dot(dy, y);
  };
  std::vector<double> dx(n), dgamma(2), dbeta(2);
  cyg::batchnorm_backward_eval_cpu<double>(dy.data(), x.data(), gamma.data(), rmean.data(), rvar.data(), N, C, HW, eps,
                                           dx.data(), dgamma.data(), dbeta.data());
  EXPECT_TRUE(cyg::test::check_gradient(loss, x, dx, "x"));
  EXPECT_TRUE(cyg::test::check_gradient(loss, gamma, dgamma, "gamma"));
  EXPECT_TRUE(cyg::test::check_gradient(loss, beta, dbeta, "beta"));
  // By hand: element 0 is channel 0, so dx = dy * gamma / sqrt(1.7 + eps).
  EXPECT_NEAR(dx[0], dy[0] * gamma[0] / std::sqrt(1.7 + eps), 1e-12);
}

}  // namespace
