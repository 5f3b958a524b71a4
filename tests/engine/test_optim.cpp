// The optimizers on the CPU: three steps on a scalar against values worked out by hand
// (PyTorch's update rules, written out below), hyperparameter checks, and an exact
// resume from saved state.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/optim.h"
#include "kernels/error.h"

namespace {

using cyg::Tensor;
using cyg::RequiresGrad;
using cyg::Variable;

// Runs three steps from p = 1 with gradients 0.5, -1, 2 and returns p after each.
template <typename Opt, typename Options>
std::vector<double> three_steps(const Options& options) {
  Variable p(Tensor::full({1}, 1.0), RequiresGrad::Yes);
  Opt opt({p}, options);
  std::vector<double> out;
  for (double g : {0.5, -1.0, 2.0}) {
    opt.zero_grad();
    p.accumulate_grad(Tensor::full({1}, g));
    opt.step();
    out.push_back(p.data().item());
  }
  return out;
}

void expect_steps(const std::vector<double>& got, const std::vector<double>& expected) {
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], 2e-6) << "after step " << i + 1;
}

TEST(Optimizers, SgdMomentumWeightDecayByHand) {
  // d = g + wd*p; buf = mom*buf + d; p -= lr*buf   (lr 0.1, mom 0.9, wd 0.1)
  // 1: d = 0.6, buf = 0.6, p = 0.94
  // 2: d = -1 + 0.094 = -0.906, buf = 0.54 - 0.906 = -0.366, p = 0.9766
  // 3: d = 2.09766, buf = -0.3294 + 2.09766 = 1.76826, p = 0.799774
  cyg::SgdOptions o;
  o.lr = 0.1;
  o.momentum = 0.9;
  o.weight_decay = 0.1;
  expect_steps(three_steps<cyg::SGD>(o), {0.94, 0.9766, 0.799774});
}

TEST(Optimizers, SgdNesterovByHand) {
  // as above, then d = d + mom*buf: 1: d = 1.14, p = 0.886; 2: buf = -0.3714,
  // d = -1.24566, p = 1.010566; 3: buf = 1.7667966, d = 3.69117354, p = 0.641448646
  cyg::SgdOptions o;
  o.lr = 0.1;
  o.momentum = 0.9;
  o.weight_decay = 0.1;
  o.nesterov = true;
  expect_steps(three_steps<cyg::SGD>(o), {0.886, 1.010566, 0.641448646});
}

TEST(Optimizers, PlainSgdByHand) {
  cyg::SgdOptions o;
  o.lr = 0.5;  // p -= 0.5*g: 0.75, 1.25, 0.25
  expect_steps(three_steps<cyg::SGD>(o), {0.75, 1.25, 0.25});
}

TEST(Optimizers, AdamByHand) {
  // m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
  // (lr 0.1, b1 0.9, b2 0.999, eps 1e-8). Step 1: m = 0.05, v = 0.00025, p = 1 - 1*0.05/0.5 = 0.9.
  cyg::AdamOptions o;
  o.lr = 0.1;
  expect_steps(three_steps<cyg::Adam>(o), {0.900000002, 0.9366103542, 0.8946447927});
}

TEST(Optimizers, AdamL2AndAdamWDecoupledByHand) {
  cyg::AdamOptions o;
  o.lr = 0.1;
  o.weight_decay = 0.1;
  // L2: g += 0.1*p before the moments. Step 1: g = 0.6, same normalised step 0.1.
  expect_steps(three_steps<cyg::Adam>(o), {0.9000000017, 0.9252635194, 0.8776172608});
  // AdamW: p *= 1 - lr*wd = 0.99 first. Step 1: 0.99 - 0.1 = 0.89.
  o.decoupled_weight_decay = true;
  expect_steps(three_steps<cyg::Adam>(o), {0.890000002, 0.9177103542, 0.8665676892});
}

// Gradient clipping as PyTorch's clip_grad_norm_(max_norm) before step(): gradients
// (3, 0, 4) and (1, 2) have the global norm sqrt(30); with max_norm 1 every gradient is
// scaled by 1 / (sqrt(30) + 1e-6), the same factor for both tensors. A second step whose
// norm is under max_norm is not scaled.
TEST(Optimizers, GradientClippingScalesByTheGlobalNorm) {
  Variable a(Tensor::from_vector({1.0f, 2.0f, 3.0f}, {3}), RequiresGrad::Yes);
  Variable b(Tensor::from_vector({-1.0f, 0.5f}, {2}), RequiresGrad::Yes);
  cyg::SgdOptions o;
  o.lr = 0.5;
  cyg::SGD sgd({a, b}, o);
  EXPECT_EQ(sgd.grad_clip_norm(), 0.0);
  EXPECT_TRUE(std::isnan(sgd.last_grad_norm()));
  sgd.set_grad_clip_norm(1.0);
  a.accumulate_grad(Tensor::from_vector({3.0f, 0.0f, 4.0f}, {3}));
  b.accumulate_grad(Tensor::from_vector({1.0f, 2.0f}, {2}));
  sgd.step();
  const double f = 1.0 / (std::sqrt(30.0) + 1e-6);
  EXPECT_NEAR(sgd.last_grad_norm(), std::sqrt(30.0), 1e-5);
  const std::vector<float> pa = a.data().to_vector(), pb = b.data().to_vector();
  const double want_a[] = {1 - 0.5 * 3 * f, 2.0, 3 - 0.5 * 4 * f}, want_b[] = {-1 - 0.5 * f, 0.5 - 0.5 * 2 * f};
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(pa[i], want_a[i], 1e-6) << "a[" << i << "]";
  for (int i = 0; i < 2; ++i) EXPECT_NEAR(pb[i], want_b[i], 1e-6) << "b[" << i << "]";
  // The gradients keep their values (the update scales them as it reads them).
  EXPECT_EQ(a.grad().to_vector(), (std::vector<float>{3.0f, 0.0f, 4.0f}));

  sgd.zero_grad();
  a.accumulate_grad(Tensor::from_vector({0.3f, 0.0f, 0.4f}, {3}));  // norm 0.5
  sgd.step();
  EXPECT_NEAR(sgd.last_grad_norm(), 0.5, 1e-6);
  EXPECT_NEAR(a.data().to_vector()[0], pa[0] - 0.5 * 0.3, 1e-6);

  // Adam: the first moment takes the clipped gradient, (1 - beta1) * g * f.
  Variable c(Tensor::from_vector({0.0f, 0.0f}, {2}), RequiresGrad::Yes);
  cyg::Adam adam({c}, cyg::AdamOptions{});
  adam.set_grad_clip_norm(2.0);
  c.accumulate_grad(Tensor::from_vector({6.0f, 8.0f}, {2}));  // norm 10, factor 2 / (10 + 1e-6)
  adam.step();
  const std::vector<float> m = adam.state_dict().at("state.0.exp_avg").to_vector();
  EXPECT_NEAR(m[0], 0.1 * 6 * 0.2, 1e-6);
  EXPECT_NEAR(m[1], 0.1 * 8 * 0.2, 1e-6);

  EXPECT_THROW(sgd.set_grad_clip_norm(-1.0), cyg::Error);
  EXPECT_THROW(sgd.set_grad_clip_norm(NAN), cyg::Error);
  EXPECT_THROW(sgd.set_grad_clip_norm(INFINITY), cyg::Error);
  // Set before the first step: a captured step would keep the old setting.
  EXPECT_THROW(sgd.set_grad_clip_norm(0.0), cyg::Error);
  EXPECT_NO_THROW(sgd.set_grad_clip_norm(1.0));
}

// A parameter that gets no gradient in a step is updated with zeros (plain SGD: it stays
// where it is), not with the previous step's gradient left in its buffer.
TEST(Optimizers, AParameterWithoutAGradientThisStepDoesNotMove) {
  Variable a(Tensor::from_vector({1.0f}, {1}), RequiresGrad::Yes);
  Variable b(Tensor::from_vector({2.0f}, {1}), RequiresGrad::Yes);
  cyg::SgdOptions o;
  o.lr = 0.5;
  cyg::SGD sgd({a, b}, o);
  a.accumulate_grad(Tensor::from_vector({1.0f}, {1}));
  b.accumulate_grad(Tensor::from_vector({1.0f}, {1}));
  sgd.step();
  EXPECT_EQ(b.data().item(), 1.5);
  // In a training step's order: the host's half first, then the clearing, the backward
  // (which reaches a alone) and the device's half.
  sgd.prepare_step();
  sgd.zero_grad();
  a.accumulate_grad(Tensor::from_vector({1.0f}, {1}));
  sgd.apply_step();
  EXPECT_EQ(a.data().item(), 0.0);
  EXPECT_EQ(b.data().item(), 1.5);
}

// Biases and normalisation weights exempt from weight decay, as a PyTorch parameter group
// with weight_decay 0: a 4-d weight w = 2 and a bias b = 2, gradient 1 each, lr 0.5,
// weight decay 0.1. SGD: w -= 0.5 * (1 + 0.1 * 2) = 1.4, b -= 0.5 * 1 = 1.5. Adam (L2):
// the first step moves each by lr whatever the gradient, so the second step shows it;
// AdamW: w *= 1 - 0.5 * 0.1 first, b does not.
TEST(Optimizers, WeightDecayOnWeightsOnlyExemptsBiasesAndNormWeights) {
  Variable w(Tensor::full({1, 1, 1, 1}, 2.0), RequiresGrad::Yes);
  Variable b(Tensor::full({1}, 2.0), RequiresGrad::Yes);
  Variable linear(Tensor::full({1, 1}, 2.0), RequiresGrad::Yes);
  EXPECT_EQ(cyg::weight_decay_on_weights_only({w, b, linear}), (std::vector<float>{1.0f, 0.0f, 1.0f}));

  cyg::SgdOptions o;
  o.lr = 0.5;
  o.weight_decay = 0.1;
  cyg::SGD sgd({w, b}, o);
  EXPECT_EQ(sgd.weight_decay_scales(), (std::vector<float>{1.0f, 1.0f}));  // PyTorch's default: all
  sgd.set_weight_decay_scales(cyg::weight_decay_on_weights_only(sgd.parameters()));
  w.accumulate_grad(Tensor::full({1, 1, 1, 1}, 1.0));
  b.accumulate_grad(Tensor::full({1}, 1.0));
  sgd.step();
  EXPECT_NEAR(w.data().item(), 2.0 - 0.5 * 1.2, 1e-7);
  EXPECT_EQ(b.data().item(), 1.5);

  for (bool decoupled : {false, true}) {
    SCOPED_TRACE(decoupled ? "adamw" : "adam");
    Variable aw(Tensor::full({1, 1}, 2.0), RequiresGrad::Yes);
    Variable ab(Tensor::full({1}, 2.0), RequiresGrad::Yes);
    cyg::AdamOptions a;
    a.lr = 0.5;
    a.weight_decay = 0.1;
    a.decoupled_weight_decay = decoupled;
    cyg::Adam adam({aw, ab}, a);
    adam.set_weight_decay_scales({1.0f, 0.0f});
    for (int step = 0; step < 2; ++step) {
      adam.zero_grad();
      aw.accumulate_grad(Tensor::full({1, 1}, 1.0));
      ab.accumulate_grad(Tensor::full({1}, 1.0));
      adam.step();
    }
    // The exempt bias: two steps of lr (equal gradients: m_hat / sqrt(v_hat) = 1). The
    // update's float 1 - beta2 is 1.3e-5 off 0.001, hence 2e-5; decaying the bias would
    // move it by 7e-4 (Adam) or 0.17 (AdamW).
    EXPECT_NEAR(ab.data().item(), 1.0, 2e-5);
    // The weight: with L2, step 2's gradient is 1 + 0.1 * w1 against step 1's 1.2, so
    // m_hat / sqrt(v_hat) differs from 1; AdamW multiplies by 0.95 before each step.
    const double g1 = decoupled ? 1.0 : 1.2;
    const double w1 = (decoupled ? 2.0 * 0.95 : 2.0) - 0.5;
    const double g2 = decoupled ? 1.0 : 1.0 + 0.1 * w1;
    const double m = (0.9 * 0.1 * g1 + 0.1 * g2) / (1 - 0.81), v = (0.999 * 0.001 * g1 * g1 + 0.001 * g2 * g2) / (1 - 0.998001);
    const double w2 = (decoupled ? w1 * 0.95 : w1) - 0.5 * m / (std::sqrt(v) + 1e-8);
    EXPECT_NEAR(aw.data().item(), w2, 2e-5);
  }

  EXPECT_THROW(sgd.set_weight_decay_scales({1.0f}), cyg::Error);  // one per parameter
  Variable c(Tensor::full({1}, 0.0), RequiresGrad::Yes);
  cyg::SGD fresh({c}, o);
  EXPECT_THROW(fresh.set_weight_decay_scales({-1.0f}), cyg::Error);
  EXPECT_THROW(fresh.set_weight_decay_scales({NAN}), cyg::Error);
  // Set before the first step: a captured step would keep the old table.
  EXPECT_THROW(sgd.set_weight_decay_scales({1.0f, 1.0f}), cyg::Error);
  EXPECT_NO_THROW(sgd.set_weight_decay_scales({1.0f, 0.0f}));
}

TEST(Optimizers, ScheduleDrivesHyperparameters) {
  Variable p(Tensor::full({1}, 0.0), RequiresGrad::Yes);
  cyg::SGD opt({p}, cyg::SgdOptions{});
  for (double lr : {1.0, 0.5, 0.25}) {
    opt.set_lr(lr);
    opt.zero_grad();
    p.accumulate_grad(Tensor::full({1}, 1.0));
    opt.step();
  }
  EXPECT_DOUBLE_EQ(p.data().item(), -1.75);
  EXPECT_EQ(opt.steps_taken(), 3);
}

TEST(Optimizers, BadHyperparametersNameTheirKey) {
  Variable p(Tensor::full({1}, 0.0), RequiresGrad::Yes);
  cyg::SGD sgd({p}, cyg::SgdOptions{});
  try {
    sgd.set_lr(-0.1);
    FAIL() << "negative lr accepted";
  } catch (const cyg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("SGD lr = -0.1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(sgd.set_momentum(1.5), cyg::Error);
  EXPECT_THROW(sgd.set_lr(NAN), cyg::Error);
  cyg::AdamOptions bad;
  bad.beta2 = 1.0;
  EXPECT_THROW(cyg::Adam({p}, bad), cyg::Error);
  cyg::SgdOptions nesterov_without_momentum;
  nesterov_without_momentum.nesterov = true;
  EXPECT_THROW(cyg::SGD({p}, nesterov_without_momentum), cyg::Error);
}

// Two runs of 6 steps on the same data: one straight, one saved after 3 steps and
// continued by a fresh optimizer that loads the state. The results are bit-identical.
template <typename Opt, typename Options>
void expect_exact_resume(const Options& options) {
  const Tensor init = Tensor::uniform({5, 7}, -1, 1, 11);
  auto grad_at = [](int step) { return Tensor::normal({5, 7}, 0, 1, 100 + static_cast<uint64_t>(step)); };

  Variable straight(init.clone(), RequiresGrad::Yes);
  Opt a({straight}, options);
  for (int s = 0; s < 6; ++s) {
    a.zero_grad();
    straight.accumulate_grad(grad_at(s));
    a.step();
  }

  Variable first(init.clone(), RequiresGrad::Yes);
  cyg::StateDict saved;
  Tensor weights;
  {
    Opt b({first}, options);
    for (int s = 0; s < 3; ++s) {
      b.zero_grad();
      first.accumulate_grad(grad_at(s));
      b.step();
    }
    saved = b.state_dict();
    weights = first.data().clone();
  }
  Variable resumed(weights, RequiresGrad::Yes);
  Opt c({resumed}, options);
  c.load_state_dict(saved);
  EXPECT_EQ(c.steps_taken(), 3);
  for (int s = 3; s < 6; ++s) {
    c.zero_grad();
    resumed.accumulate_grad(grad_at(s));
    c.step();
  }
  EXPECT_EQ(resumed.data().to_vector(), straight.data().to_vector());
}

TEST(Optimizers, SgdResumesExactly) {
  cyg::SgdOptions o;
  o.lr = 0.05;
  o.momentum = 0.9;
  o.weight_decay = 5e-4;
  expect_exact_resume<cyg::SGD>(o);
}

TEST(Optimizers, AdamResumesExactly) {
  cyg::AdamOptions o;
  o.weight_decay = 5e-4;
  expect_exact_resume<cyg::Adam>(o);
}

TEST(Optimizers, StateDictNamesAndShapeChecks) {
  Variable p(Tensor::zeros({2, 3}), RequiresGrad::Yes);
  cyg::Adam opt({p}, cyg::AdamOptions{});
  const cyg::StateDict s = opt.state_dict();
  EXPECT_EQ(s.count("state.0.exp_avg"), 1u);
  EXPECT_EQ(s.count("state.0.exp_avg_sq"), 1u);
  EXPECT_EQ(s.count("step"), 1u);
  cyg::StateDict wrong = s;
  wrong["state.0.exp_avg"] = Tensor::zeros({3, 2});
  EXPECT_THROW(opt.load_state_dict(wrong), cyg::Error);
  wrong.erase("state.0.exp_avg");
  EXPECT_THROW(opt.load_state_dict(wrong), cyg::Error);
}

// A resumed state is checked entry by entry before any of it is used: the step's dtype
// and range, each buffer's dtype, and no entry this optimizer does not have. A refused
// state leaves the optimizer as it was.
TEST(Optimizers, ALoadedStateIsCheckedEntryByEntry) {
  Variable p(Tensor::full({2, 3}, 1.0), RequiresGrad::Yes);
  cyg::Adam opt({p}, cyg::AdamOptions{});
  p.accumulate_grad(Tensor::full({2, 3}, 0.5));
  opt.step();
  const cyg::StateDict before = opt.state_dict();
  auto refusal = [&](const std::string& key, const Tensor& value) -> std::string {
    cyg::StateDict edited = before;
    edited[key] = value;
    try {
      opt.load_state_dict(edited);
    } catch (const cyg::Error& e) {
      return e.what();
    }
    return "accepted";
  };
  EXPECT_EQ(refusal("step", Tensor::full({}, 1e30, cyg::DType::F32)),
            "optimizer state: 'step' must be one i64 value, got f32 []");
  EXPECT_EQ(refusal("step", Tensor::full({}, -5.0, cyg::DType::I64)), "optimizer state: step -5 is outside [0, 1e15]");
  EXPECT_EQ(refusal("state.0.exp_avg", Tensor::full({2, 3}, 0.0, cyg::DType::I32)),
            "optimizer state: 'state.0.exp_avg' is i32, expected f32");
  EXPECT_EQ(refusal("state.0.momentum_buffer", Tensor::zeros({2, 3})),
            "optimizer state: 4 entries, this optimizer has 3 (a state of another optimizer or model?)");
  const cyg::StateDict after = opt.state_dict();
  ASSERT_EQ(after.size(), before.size());
  for (const auto& [key, value] : before) EXPECT_EQ(after.at(key).to_vector(), value.to_vector()) << key;
}

}  // namespace

namespace {

TEST(Optimizers, AZeroedGradientReadsAsZeros) {
  // zero_grad writes its zeros lazily: a step without a new gradient must still see them.
  Variable p(Tensor::full({3}, 1.0), RequiresGrad::Yes);
  cyg::SgdOptions o;
  o.lr = 0.5;
  cyg::SGD opt({p}, o);
  p.accumulate_grad(Tensor::full({3}, 2.0));
  opt.zero_grad();
  opt.step();
  EXPECT_EQ(p.data().to_vector(), (std::vector<float>{1, 1, 1}));
  // A gradient arriving after zero_grad replaces the zeros (no stale sum).
  opt.zero_grad();
  p.accumulate_grad(Tensor::full({3}, 4.0));
  p.accumulate_grad(Tensor::full({3}, 1.0));
  EXPECT_EQ(p.grad().to_vector(), (std::vector<float>{5, 5, 5}));
}

}  // namespace
