// ReLU backward against central differences (inputs kept away from the kink at 0).
#include "kernels/relu.h"
#include "tests/gradcheck/gradcheck.h"

namespace {

TEST(Gradcheck, Relu) {
  const size_t n = 57;
  std::vector<double> x = cyg::test::random_doubles(n, 1);
  for (double& v : x)
    if (std::fabs(v) < 0.05) v = 0.1;
  const std::vector<double> dy = cyg::test::random_doubles(n, 2);
  std::vector<double> y(n), dx(n);
  cyg::relu_forward_cpu(x.data(), y.data(), static_cast<int64_t>(n));
  cyg::relu_backward_cpu(dy.data(), y.data(), dx.data(), static_cast<int64_t>(n));
  auto loss = [&] {
    std::vector<double> out(n);
    cyg::relu_forward_cpu(x.data(), out.data(), static_cast<int64_t>(n));
    return cyg::test::dot(dy, out);
  };
  EXPECT_TRUE(cyg::test::check_gradient(loss, x, dx, "x"));
}

}  // namespace
