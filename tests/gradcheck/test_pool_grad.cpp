// Global average pooling: the backward against central differences, and a case by hand.
#include "kernels/pool.h"
#include "tests/gradcheck/gradcheck.h"

namespace {

TEST(Gradcheck, GlobalAvgPool) {
  const int64_t N = 2, C = 3, H = 4, W = 5;
  std::vector<double> x = cyg::test::random_doubles(static_cast<size_t>(N * C * H * W), 4);
  const std::vector<double> dy = cyg::test::random_doubles(static_cast<size_t>(N * C), 5);
  std::vector<double> dx(x.size());
  cyg::global_avg_pool_backward_cpu(dy.data(), N, C, H, W, dx.data());
  auto loss = [&] {
    std::vector<double> y(dy.size());
    cyg::global_avg_pool_forward_cpu(x.data(), N, C, H, W, y.data());
    return cyg::test::dot(dy, y);
  };
  EXPECT_TRUE(cyg::test::check_gradient(loss, x, dx, "x"));
}

TEST(Gradcheck, GlobalAvgPoolByHand) {
  const std::vector<double> x = {1, 2, 3, 4, -1, -1, 5, 5};  // [1, 2, 2, 2]
  std::vector<double> y(2), dx(8);
  cyg::global_avg_pool_forward_cpu(x.data(), 1, 2, 2, 2, y.data());
  EXPECT_DOUBLE_EQ(y[0], 2.5);
  EXPECT_DOUBLE_EQ(y[1], 2.0);
  const std::vector<double> dy = {2.0, -4.0};
  cyg::global_avg_pool_backward_cpu(dy.data(), 1, 2, 2, 2, dx.data());
  EXPECT_EQ(dx, (std::vector<double>{0.5, 0.5, 0.5, 0.5, -1, -1, -1, -1}));
}

}  // namespace
