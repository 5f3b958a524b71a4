// Convolution (stride 1 and 2, padding, 1x1 and 3x3), bias and linear backwards against
// central differences, in double on the CPU references.
#include <vector>

#include "kernels/bias.h"
#include "kernels/conv.h"
#include "kernels/linear.h"
#include "tests/gradcheck/gradcheck.h"

namespace {

using cyg::test::check_gradient;
using cyg::test::dot;
using cyg::test::random_doubles;

cyg::Conv2dShape shape(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OC, int64_t K, int64_t stride,
                       int64_t pad) {
  cyg::Conv2dShape s;
  s.N = N;
  s.C = C;
  s.H = H;
  s.W = W;
  s.OC = OC;
  s.KH = s.KW = K;
  s.stride_h = s.stride_w = stride;
  s.pad_h = s.pad_w = pad;
  return s;
}

void check_conv(const cyg::Conv2dShape& s) {
  std::vector<double> x = random_doubles(static_cast<size_t>(s.N * s.C * s.H * s.W), 1);
  std::vector<double> w = random_doubles(static_cast<size_t>(s.OC * s.C * s.KH * s.KW), 2);
  std::vector<double> b = random_doubles(static_cast<size_t>(s.OC), 3);
  const size_t ny = static_cast<size_t>(s.N * s.OC * s.OH() * s.OW());
  const std::vector<double> dy = random_doubles(ny, 4);
  auto loss = [&] {
    std::vector<double> y(ny);
    cyg::conv2d_forward_cpu<double>(x.data(), w.data(), b.data(), s, y.data());
    return dot(dy, y);
  };
  std::vector<double> dx(x.size()), dw(w.size()), db(b.size());
  cyg::conv2d_backward_data_cpu<double>(dy.data(), w.data(), s, dx.data());
  cyg::conv2d_backward_filter_cpu<double>(dy.data(), x.data(), s, dw.data());
  cyg::bias_grad_cpu<double>(dy.data(), s.N, s.OC, s.OH() * s.OW(), db.data());
  EXPECT_TRUE(check_gradient(loss, x, dx, "conv x"));
  EXPECT_TRUE(check_gradient(loss, w, dw, "conv weight"));
  EXPECT_TRUE(check_gradient(loss, b, db, "conv bias"));
}

TEST(Gradcheck, Conv3x3Stride1Pad1) { check_conv(shape(2, 3, 5, 4, 4, 3, 1, 1)); }
TEST(Gradcheck, Conv3x3Stride2Pad1) { check_conv(shape(2, 2, 7, 6, 3, 3, 2, 1)); }
TEST(Gradcheck, Conv1x1Stride2NoPad) { check_conv(shape(3, 4, 5, 5, 2, 1, 2, 0)); }
TEST(Gradcheck, Conv3x3NoPad) { check_conv(shape(1, 2, 4, 5, 2, 3, 1, 0)); }

TEST(Gradcheck, Linear) {
  const int64_t N = 4, in = 6, out = 3;
  std::vector<double> x = random_doubles(N * in, 5), w = random_doubles(out * in, 6), b = random_doubles(out, 7);
  const std::vector<double> dy = random_doubles(N * out, 8);
  auto loss = [&] {
    std::vector<double> y(N * out);
    cyg::linear_forward_cpu<double>(x.data(), w.data(), b.data(), N, in, out, y.data());
    return dot(dy, y);
  };
  std::vector<double> dx(x.size()), dw(w.size()), db(b.size());
  cyg::linear_backward_cpu<double>(dy.data(), x.data(), w.data(), N, in, out, dx.data(), dw.data(), db.data());
  EXPECT_TRUE(check_gradient(loss, x, dx, "linear x"));
  EXPECT_TRUE(check_gradient(loss, w, dw, "linear weight"));
  EXPECT_TRUE(check_gradient(loss, b, db, "linear bias"));
}

TEST(Conv, ForwardByHand) {
  // A 1x1x3x3 image of 1..9, one 2x2 filter of ones, stride 1, no padding: 2x2 window sums.
  const cyg::Conv2dShape s = shape(1, 1, 3, 3, 1, 2, 1, 0);
  const std::vector<double> x = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w = {1, 1, 1, 1}, b = {0.5};
  std::vector<double> y(4);
  cyg::conv2d_forward_cpu<double>(x.data(), w.data(), b.data(), s, y.data());
  EXPECT_EQ(y, (std::vector<double>{12.5, 16.5, 24.5, 28.5}));
  // Padding 1, stride 2 on the same image: output 2x2 = windows at (-1,-1), (-1,1), (1,-1), (1,1).
  const cyg::Conv2dShape p = shape(1, 1, 3, 3, 1, 2, 2, 1);
  cyg::conv2d_forward_cpu<double>(x.data(), w.data(), nullptr, p, y.data());
  EXPECT_EQ(y, (std::vector<double>{1, 5, 11, 28}));
}

}  // namespace
