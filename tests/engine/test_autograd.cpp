// The tape: gradients through chains and diamonds, accumulation into leaves, no-grad
// mode, freed graphs, and the ops' gradients through autograd against finite
// differences in float (the kernel-level checks in tests/gradcheck are in double).
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "engine/functional.h"
#include "kernels/error.h"
#include "tests/kernels/check_close.h"

namespace {

using cyg::Tensor;
using cyg::RequiresGrad;
using cyg::Variable;
namespace fn = cyg::fn;

TEST(Autograd, ChainByHand) {
  Variable x(Tensor::from_vector({-1, 2, 3}, {3}), RequiresGrad::Yes);
  // L = sum(relu(x + x)): dL/dx = 2 where x > 0.
  Variable loss = fn::sum(fn::relu(fn::add(x, x)));
  EXPECT_EQ(loss.data().item(), 10.0);
  cyg::backward(loss);
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{0, 2, 2}));
}

TEST(Autograd, DiamondAccumulatesBothPaths) {
  Variable a(Tensor::from_vector({1, -2}, {2}), RequiresGrad::Yes);
  Variable r = fn::relu(a);
  Variable loss = fn::sum(fn::add(fn::add(a, r), r));  // a + 2 relu(a): d = 1 + 2[a > 0]
  cyg::backward(loss);
  EXPECT_EQ(a.grad().to_vector(), (std::vector<float>{3, 1}));
}

// The leaf-ready hook: each leaf once, as soon as its gradient is final. A leaf used at
// both ends of the graph (a, into the first and the last node) is ready only after the
// first node ran, and then holds its whole gradient; b, used only near the loss, is ready
// before; c, which needs no gradient, never.
TEST(Autograd, LeafReadyComesOncePerLeafWhenItsGradientIsFinal) {
  Variable a(Tensor::from_vector({1, -2}, {2}), RequiresGrad::Yes);
  Variable b(Tensor::from_vector({3, 4}, {2}), RequiresGrad::Yes);
  Variable c(Tensor::from_vector({5, 6}, {2}));
  // L = sum((relu(a) + c) + b + a): dL/da = [a > 0] + 1, dL/db = 1.
  Variable loss = fn::sum(fn::add(fn::add(fn::add(fn::relu(a), c), b), a));
  std::vector<std::string> order;
  std::vector<std::vector<float>> a_grad_then;
  cyg::backward(loss, Tensor(), [&](const Variable& leaf) {
    if (leaf.same(a)) {
      order.push_back("a");
      a_grad_then.push_back(a.grad().to_vector());
    } else if (leaf.same(b)) {
      order.push_back("b");
    } else {
      order.push_back("?");
    }
  });
  EXPECT_EQ(order, (std::vector<std::string>{"b", "a"}));
  ASSERT_EQ(a_grad_then.size(), 1u);
  EXPECT_EQ(a_grad_then[0], (std::vector<float>{2, 1}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<float>{1, 1}));
  // A leaf as the root is ready at once.
  Variable x(Tensor::from_vector({7}, {}), RequiresGrad::Yes);
  int calls = 0;
  cyg::backward(x, Tensor(), [&](const Variable& leaf) { calls += leaf.same(x) ? 1 : 100; });
  EXPECT_EQ(calls, 1);
}

TEST(Autograd, LeafGradientsAccumulateUntilZeroed) {
  Variable x(Tensor::ones({2}), RequiresGrad::Yes);
  cyg::backward(fn::sum(x));
  cyg::backward(fn::mean(x));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{1.5f, 1.5f}));
  const void* buffer = x.grad().data_ptr();
  x.zero_grad();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{0, 0}));
  cyg::backward(fn::sum(x));
  EXPECT_EQ(x.grad().data_ptr(), buffer) << "the gradient buffer must stay where the optimizer points";
}

TEST(Autograd, NoGradRecordsNothing) {
  Variable x(Tensor::ones({2}), RequiresGrad::Yes);
  Variable y;
  {
    cyg::NoGradGuard guard;
    y = fn::relu(x);
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.grad_fn(), nullptr);
  EXPECT_THROW(cyg::backward(y), cyg::Error);
  Variable z = fn::relu(x);
  EXPECT_TRUE(z.requires_grad());
}

TEST(Autograd, InputsWithoutGradGetNone) {
  Variable x(Tensor::ones({2, 3}), RequiresGrad::No);
  Variable w(Tensor::ones({4, 3}), RequiresGrad::Yes);
  cyg::backward(fn::sum(fn::linear(x, w, Variable())));
  EXPECT_FALSE(x.has_grad());
  EXPECT_EQ(w.grad().to_vector(), std::vector<float>(12, 2.0f));
}

// After zero_grad the first gradient is written by the backward straight into the
// .grad buffer (same address, no copy); a weight used twice gets the second added.
TEST(Autograd, TheFirstGradientIsWrittenIntoTheKeptBufferAndLaterOnesAdded) {
  Variable x(Tensor::ones({2, 3}), RequiresGrad::No);
  Variable w(Tensor::ones({4, 3}), RequiresGrad::Yes);
  cyg::backward(fn::sum(fn::linear(x, w, Variable())));
  const void* buffer = w.grad().data_ptr();
  w.zero_grad();
  // Used twice: dL/dw = (2 + 2) per element of x = ones over a batch of 2.
  cyg::backward(fn::add(fn::sum(fn::linear(x, w, Variable())), fn::sum(fn::linear(x, w, Variable()))));
  EXPECT_EQ(w.grad().data_ptr(), buffer);
  EXPECT_EQ(w.grad().to_vector(), std::vector<float>(12, 4.0f));
  w.zero_grad();
  cyg::backward(fn::sum(fn::linear(x, w, Variable())));
  EXPECT_EQ(w.grad().data_ptr(), buffer);
  EXPECT_EQ(w.grad().to_vector(), std::vector<float>(12, 2.0f));
}

// y = factor * x, whose backward adds its gradient into the sum autograd offers
// (GradientSinks::accumulator), as a convolution's does, and records whether it was
// offered one.
Variable scale_adding_in_place(const Variable& x, float factor, std::vector<bool>* offered) {
  std::vector<float> y = x.data().to_vector();
  for (float& v : y) v *= factor;
  const cyg::Shape shape = x.data().shape();
  return cyg::make_result(Tensor::from_vector(y, shape), {x}, "scale_adding_in_place",
                          [=](const Tensor& grad, const cyg::GradientSinks& sinks) {
                            const std::vector<float> g = grad.to_vector();
                            Tensor sum = sinks.accumulator(0, shape, cyg::Device::cpu(), cyg::DType::F32);
                            offered->push_back(sum.defined());
                            if (sum.defined()) {
                              float* p = sum.data<float>();
                              for (size_t i = 0; i < g.size(); ++i) p[i] += factor * g[i];
                              return std::vector<Tensor>{sum};
                            }
                            std::vector<float> dx(g.size());
                            for (size_t i = 0; i < g.size(); ++i) dx[i] = factor * g[i];
                            return std::vector<Tensor>{Tensor::from_vector(dx, shape)};
                          });
}

// Two consumers of h: the one that runs second adds its gradient into the first one's,
// in place, and nothing else adds them.
TEST(Autograd, ASecondGradientIsAddedInPlaceWhereTheBackwardCan) {
  Variable x(Tensor::from_vector({1, 2, -1}, {3}), RequiresGrad::Yes);
  Variable h = fn::relu(x);
  std::vector<bool> offered;
  Variable loss = fn::sum(fn::add(scale_adding_in_place(h, 2.0f, &offered), scale_adding_in_place(h, 3.0f, &offered)));
  cyg::backward(loss);
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{5, 5, 0}));
  EXPECT_EQ(offered, (std::vector<bool>{false, true})) << "the second consumer is offered the first one's gradient";
}

// A gradient some other tensor also holds (here kept by an op's backward, as a view or a
// saved tensor would) is never offered: adding into it would change that tensor too.
TEST(Autograd, AGradientSharedWithAnotherTensorIsNotAddedIntoInPlace) {
  Variable x(Tensor::from_vector({1, 2}, {2}), RequiresGrad::Yes);
  Variable h = fn::relu(x);
  auto kept = std::make_shared<std::vector<Tensor>>();
  // Passes its gradient on as it is, and keeps it.
  Variable passed = cyg::make_result(h.data(), {h}, "pass_and_keep", [kept](const Tensor& grad, const cyg::GradientSinks&) {
    kept->push_back(grad);
    return std::vector<Tensor>{grad};
  });
  std::vector<bool> offered;
  // The sum's backward runs pass_and_keep first, then the scale.
  Variable loss = fn::sum(fn::add(scale_adding_in_place(h, 3.0f, &offered), passed));
  cyg::backward(loss);
  ASSERT_EQ(kept->size(), 1u);
  EXPECT_EQ(offered, (std::vector<bool>{false}));
  EXPECT_EQ(kept->front().to_vector(), (std::vector<float>{1, 1})) << "the kept gradient was written into";
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{4, 4}));
}

TEST(Autograd, GraphIsFreedAfterBackward) {
  Variable x(Tensor::ones({2}), RequiresGrad::Yes);
  Variable loss = fn::sum(fn::relu(x));
  cyg::backward(loss);
  EXPECT_THROW(cyg::backward(loss), cyg::Error);
}

TEST(Autograd, NonScalarNeedsAGradient) {
  Variable x(Tensor::ones({2}), RequiresGrad::Yes);
  Variable y = fn::relu(x);
  EXPECT_THROW(cyg::backward(y), cyg::Error);
  cyg::backward(y, Tensor::from_vector({3, 4}, {2}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{3, 4}));
}

// Central differences in float through the Variable ops, for composite graphs.
void check_variable_gradient(const std::function<Variable()>& loss, Variable& x, double tol) {
  cyg::backward(loss());
  const std::vector<float> analytic = x.grad().to_vector();
  Tensor data = x.data();
  float* p = data.data<float>();
  const double eps = 1e-2;
  for (int64_t i = 0; i < data.numel(); ++i) {
    const float saved = p[i];
    p[i] = saved + static_cast<float>(eps);
    const double up = loss().data().item();
    p[i] = saved - static_cast<float>(eps);
    const double down = loss().data().item();
    p[i] = saved;
    EXPECT_NEAR(analytic[static_cast<size_t>(i)], (up - down) / (2 * eps), tol) << "element " << i;
  }
}

TEST(Autograd, SubsamplePadChannelsGradient) {
  Variable x(Tensor::uniform({2, 3, 5, 4}, -1, 1, 3), RequiresGrad::Yes);
  const Tensor weights = Tensor::uniform({2, 7, 3, 2}, -1, 1, 4);
  Variable y = fn::subsample_pad_channels(x, 2, 1, 3);
  EXPECT_EQ(y.data().shape(), (cyg::Shape{2, 7, 3, 2}));
  // Channel 0 is padding; channel 1 is input channel 0 at even rows and columns.
  const auto yv = y.data().to_vector(), xv = x.data().to_vector();
  EXPECT_EQ(yv[0], 0.0f);
  EXPECT_EQ(yv[6 + 1], xv[2]);  // y[0,1,0,1] = x[0,0,0,2]
  check_variable_gradient([&] { return fn::sum(fn::add(fn::subsample_pad_channels(x, 2, 1, 3), Variable(weights))); },
                          x, 1e-3);
}

TEST(Autograd, ConvLinearThroughTheTape) {
  Variable x(Tensor::uniform({2, 2, 5, 5}, -1, 1, 5), RequiresGrad::Yes);
  Variable w(Tensor::uniform({3, 2, 3, 3}, -0.5, 0.5, 6), RequiresGrad::Yes);
  Variable lw(Tensor::uniform({4, 27}, -0.5, 0.5, 7), RequiresGrad::Yes);
  auto loss = [&] {
    Variable h = fn::relu(fn::conv2d(x, w, Variable(), 2, 1));
    return fn::mean(fn::linear(fn::flatten(h), lw, Variable()));
  };
  check_variable_gradient(loss, x, 2e-3);
}

}  // namespace

namespace {

TEST(Autograd, BatchNormInEvaluationModeHasAGradient) {
  // Frozen statistics: dx = dy * gamma / sqrt(running_var + eps), per channel.
  Variable x(cyg::Tensor::uniform({2, 2, 3, 3}, -1, 1, 8), RequiresGrad::Yes);
  Variable gamma(cyg::Tensor::from_vector({2.0f, 0.5f}, {2}), RequiresGrad::Yes),
      beta(cyg::Tensor::zeros({2}), RequiresGrad::Yes);
  const cyg::Tensor rmean = cyg::Tensor::from_vector({0.1f, -0.3f}, {2}), rvar = cyg::Tensor::from_vector({4.0f, 0.25f}, {2});
  cyg::backward(fn::sum(fn::batch_norm(x, gamma, beta, rmean, rvar, fn::BatchNormMode::Eval, 0.1, 1e-5)));
  const auto dx = x.grad().to_vector();
  EXPECT_NEAR(dx[0], 2.0 / std::sqrt(4.0 + 1e-5), 1e-6);   // channel 0
  EXPECT_NEAR(dx[9], 0.5 / std::sqrt(0.25 + 1e-5), 1e-6);  // channel 1
  EXPECT_NEAR(beta.grad().to_vector()[0], 18.0, 1e-5);     // 2 images x 9 pixels
  EXPECT_EQ(rvar.to_vector(), (std::vector<float>{4.0f, 0.25f})) << "evaluation leaves the statistics alone";
}

}  // namespace
