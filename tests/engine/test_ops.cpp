// The functional ops on CPU tensors, against values worked out by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/ops.h"
#include "kernels/error.h"

namespace {

using cyg::Tensor;

TEST(Ops, ElementwiseByHand) {
  const Tensor a = Tensor::from_vector({1, -2, 3, -4}, {2, 2});
  const Tensor b = Tensor::from_vector({0.5f, 0.5f, -1, 10}, {2, 2});
  EXPECT_EQ(cyg::add(a, b).to_vector(), (std::vector<float>{1.5f, -1.5f, 2, 6}));
  EXPECT_EQ(cyg::scale(a, -2).to_vector(), (std::vector<float>{-2, 4, -6, 8}));
  const Tensor r = cyg::relu(a);
  EXPECT_EQ(r.to_vector(), (std::vector<float>{1, 0, 3, 0}));
  EXPECT_EQ(cyg::relu_backward(b, r).to_vector(), (std::vector<float>{0.5f, 0, -1, 0}));
  Tensor y = b.clone();
  cyg::axpy_(y, 2, a);
  EXPECT_EQ(y.to_vector(), (std::vector<float>{2.5f, -3.5f, 5, 2}));
}

// moments: the count, sum, sum of squares about the mean and count at or below the
// threshold, over more than one chunk (4096 values), of f32 values, and of bf16 values
// lying channels-last; a constant's squares are 0.
TEST(Ops, MomentsByHand) {
  std::vector<float> values(4096, 1.0f);
  const std::vector<float> tail = {-1.0f, 0.0f, 0.05f, 0.06f, 2.0f};
  values.insert(values.end(), tail.begin(), tail.end());
  const cyg::Moments m = cyg::moments(Tensor::from_vector(values, {static_cast<int64_t>(values.size())}), 0.05f);
  EXPECT_EQ(m.count, 4101);
  double sum = 0, squares = 0;
  for (float v : values) sum += v;
  for (float v : values) squares += (v - sum / 4101) * (v - sum / 4101);
  EXPECT_NEAR(m.sum, sum, 1e-9 * 4101);  // each chunk's sum a float
  EXPECT_NEAR(m.centred_squares, squares, 1e-6 * squares);
  EXPECT_EQ(m.at_or_below, 3);  // -1, 0 and 0.05 itself
  const cyg::Moments constant = cyg::moments(Tensor::full({3, 5000}, 0.1f), 0.05f);
  EXPECT_NEAR(constant.sum, 1500, 1e-3);
  EXPECT_EQ(constant.centred_squares, 0);
  EXPECT_EQ(constant.at_or_below, 0);

  // [1, 2, 2, 2] in channels-last bf16: every value exact in bf16.
  const Tensor nchw = Tensor::from_vector({0.5f, -1, 2, 0, 0.25f, 3, -0.5f, 1}, {1, 2, 2, 2});
  const Tensor x = nchw.contiguous(cyg::MemoryFormat::ChannelsLast).to(cyg::DType::BF16);
  ASSERT_EQ(x.memory_format(), cyg::MemoryFormat::ChannelsLast);
  const cyg::Moments b = cyg::moments(x, 0.05f);
  EXPECT_EQ(b.count, 8);
  EXPECT_EQ(b.sum, 5.25);
  // About the mean 5.25 / 8: the sum of squares 15.5625 less 8 times the mean squared.
  EXPECT_NEAR(b.centred_squares, 15.5625 - 5.25 * 5.25 / 8, 1e-6);
  EXPECT_EQ(b.at_or_below, 3);
  EXPECT_EQ(cyg::moments(Tensor::from_vector({}, {0}), 0.05f).count, 0);
  EXPECT_THROW(cyg::moments(Tensor(), 0.05f), cyg::Error);
}

// histogram as torch.histc(x, 40, 0, 10): bins of 0.25, a value on a bin's edge in the
// bin above, 10 itself in the last, values outside and NaN in none; bf16 channels-last too.
TEST(Ops, HistogramByHand) {
  const std::vector<float> values = {0, 0.1f, 0.25f, 9.99f, 10, 10.01f, -0.01f, NAN, 5, 5};
  std::vector<int64_t> want(40, 0);
  want[0] = 2;   // 0 and 0.1
  want[1] = 1;   // 0.25
  want[20] = 2;  // 5 twice
  want[39] = 2;  // 9.99 and 10
  EXPECT_EQ(cyg::histogram(Tensor::from_vector(values, {10}), 0, 10, 40), want);
  const Tensor x = Tensor::from_vector({0.5f, -1, 2, 0, 0.25f, 3, -0.5f, 1}, {1, 2, 2, 2})
                       .contiguous(cyg::MemoryFormat::ChannelsLast)
                       .to(cyg::DType::BF16);
  // Bins of 1 over [0, 4]: 0.5, 0 and 0.25; 1; 2; 3 (-1 and -0.5 below).
  EXPECT_EQ(cyg::histogram(x, 0, 4, 4), (std::vector<int64_t>{3, 1, 1, 1}));
  EXPECT_THROW(cyg::histogram(x, 1, 1, 4), cyg::Error);
  EXPECT_THROW(cyg::histogram(x, 0, 1, 65), cyg::Error);
  EXPECT_THROW(cyg::histogram(x, -INFINITY, 1, 4), cyg::Error);
}

TEST(Ops, OpsTakeNonContiguousInputs) {
  const Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}).permute({1, 0});  // [[1,4],[2,5],[3,6]]
  EXPECT_EQ(cyg::relu(cyg::scale(a, -1)).to_vector(), (std::vector<float>{0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(cyg::sum(a, 1).to_vector(), (std::vector<float>{5, 7, 9}));
}

TEST(Ops, ReductionsByHand) {
  const Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(cyg::sum(x).item(), 21.0);
  EXPECT_EQ(cyg::mean(x).item(), 3.5);
  EXPECT_EQ(cyg::sum(x, 0).to_vector(), (std::vector<float>{5, 7, 9}));
  EXPECT_EQ(cyg::sum(x, 1).to_vector(), (std::vector<float>{6, 15}));
  EXPECT_EQ(cyg::mean(x, -1).to_vector(), (std::vector<float>{2, 5}));
  EXPECT_EQ(cyg::sum(x, 0).shape(), (cyg::Shape{3}));
  const Tensor t = Tensor::ones({2, 3, 4});
  EXPECT_EQ(cyg::sum(t, 1).shape(), (cyg::Shape{2, 4}));
  EXPECT_EQ(cyg::sum(t, 1).to_vector(), std::vector<float>(8, 3.0f));
}

TEST(Ops, BadInputsAreErrors) {
  const Tensor a = Tensor::ones({2, 2});
  EXPECT_THROW(cyg::add(a, Tensor::ones({4})), cyg::Error);
  EXPECT_THROW(cyg::relu(Tensor::ones({2}, cyg::DType::I32)), cyg::Error);
  EXPECT_THROW(cyg::sum(a, 2), cyg::Error);
}

}  // namespace
