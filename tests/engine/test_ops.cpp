// The functional ops on CPU tensors, against values worked out by hand.
#include <gtest/gtest.h>

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
