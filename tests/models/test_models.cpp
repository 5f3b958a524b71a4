// The networks: parameter counts and PyTorch names, shapes through forward, batchnorm
// running statistics, state-dict round trips and their errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "engine/functional.h"
#include "kernels/error.h"
#include "models/registry.h"

namespace {

using cyg::Tensor;
using cyg::Variable;

TEST(Models, ResNet18HasPyTorchsParameterCountAndNames) {
  auto model = cyg::models::make_model("resnet18", {});
  EXPECT_EQ(model->parameter_count(), 11173962);
  const auto params = model->named_parameters();
  EXPECT_EQ(params.size(), 62u);
  EXPECT_EQ(params.front().first, "conv1.weight");
  EXPECT_EQ(params.back().first, "linear.bias");
  const auto state = model->state_dict();
  // 62 parameters + 20 batchnorms x 3 buffers.
  EXPECT_EQ(state.size(), 122u);
  std::vector<std::string> names;
  for (const auto& [name, t] : state) names.push_back(name);
  const std::vector<std::string> head = {"conv1.weight",          "bn1.weight",        "bn1.bias",
                                         "bn1.running_mean",      "bn1.running_var",   "bn1.num_batches_tracked",
                                         "layer1.0.conv1.weight", "layer1.0.bn1.weight"};
  EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + 8), head);
  auto has = [&](const std::string& n) { return std::find(names.begin(), names.end(), n) != names.end(); };
  EXPECT_TRUE(has("layer2.0.shortcut.0.weight"));
  EXPECT_TRUE(has("layer2.0.shortcut.1.running_var"));
  EXPECT_TRUE(has("layer4.1.bn2.bias"));
  EXPECT_FALSE(has("layer1.0.shortcut.0.weight"));
  for (const auto& [name, t] : state) {
    if (name == "layer2.0.shortcut.0.weight") {
      EXPECT_EQ(t.shape(), (cyg::Shape{128, 64, 1, 1}));
    }
  }
}

TEST(Models, CifarResNetsOfHeEtAl) {
  // Worked out in the comments of this file's history: 269,722 and 853,018 with option-A shortcuts.
  EXPECT_EQ(cyg::models::make_model("resnet20", {})->parameter_count(), 269722);
  EXPECT_EQ(cyg::models::make_model("resnet56", {})->parameter_count(), 853018);
}

TEST(Models, CifarResNetsStartFromHeNormalInit) {
  // layer3.1.conv1 of ResNet-20: 64 x 64 x 3 x 3 weights, std sqrt(2 / 576) = 0.0589.
  for (const auto& [name, t] : cyg::models::make_model("resnet20", {})->state_dict()) {
    if (name != "layer3.1.conv1.weight") continue;
    const auto v = t.to_vector();
    double sq = 0;
    for (float x : v) sq += static_cast<double>(x) * x;
    EXPECT_NEAR(std::sqrt(sq / static_cast<double>(v.size())), std::sqrt(2.0 / 576), 0.002);
  }
  // ResNet-18 keeps PyTorch's default: uniform within 1/sqrt(fan_in).
  for (const auto& [name, t] : cyg::models::make_model("resnet18", {})->state_dict()) {
    if (name != "layer1.0.conv1.weight") continue;
    for (float x : t.to_vector()) ASSERT_LE(std::fabs(x), 1.0f / std::sqrt(576.0f));
  }
}

TEST(Models, ForwardShapesAndOptions) {
  cyg::models::ModelOptions o;
  o.in_channels = 1;
  o.num_classes = 7;
  o.width = 4;
  auto model = cyg::models::make_model("resnet18", o);
  const Variable y = (*model)(Variable(Tensor::uniform({2, 1, 28, 28}, -1, 1, 1)));
  EXPECT_EQ(y.data().shape(), (cyg::Shape{2, 7}));
  auto small = cyg::models::make_model("resnet20", o);
  EXPECT_EQ((*small)(Variable(Tensor::uniform({3, 1, 16, 16}, -1, 1, 1))).data().shape(), (cyg::Shape{3, 7}));
  EXPECT_THROW(cyg::models::make_model("vgg", o), cyg::Error);
}

// Forward hooks (PyTorch's register_forward_hook) on every layer that holds parameters:
// each is called once per forward with its output, in the order the layers run (a block's
// shortcut before its second convolution), batchnorms with what their forward fused; the
// last is the logits the model returns. named_modules names them as the state dict does.
TEST(Models, ForwardHooksSeeEachLayersOutputInOrder) {
  cyg::models::ModelOptions o;
  o.width = 4;
  auto model = cyg::models::make_model("resnet18", o);
  std::vector<std::string> seen;
  Tensor last;
  int hooked = 0;
  for (auto& [name, module] : model->named_modules()) {
    if (!module->has_own_parameters()) continue;
    ++hooked;
    module->set_forward_hook([&seen, &last, name = name](const Variable& out, const char* fused) {
      seen.push_back(name + fused);
      last = out.data();
    });
  }
  EXPECT_EQ(hooked, 20 + 20 + 1);  // ResNet-18: 20 convolutions (3 shortcuts), 20 batchnorms, 1 linear
  const Variable y = (*model)(Variable(Tensor::uniform({2, 3, 8, 8}, -1, 1, 1)));
  ASSERT_EQ(seen.size(), 41u);
  const std::vector<std::string> first = {"conv1",          "bn1+relu",          "layer1.0.conv1",
                                          "layer1.0.bn1+relu", "layer1.0.conv2", "layer1.0.bn2+add+relu"};
  EXPECT_EQ(std::vector<std::string>(seen.begin(), seen.begin() + 6), first);
  const auto at = [&](const std::string& layer) { return std::find(seen.begin(), seen.end(), layer) - seen.begin(); };
  EXPECT_LT(at("layer2.0.bn1+relu"), at("layer2.0.shortcut.0"));
  EXPECT_EQ(at("layer2.0.shortcut.0") + 1, at("layer2.0.shortcut.1"));  // a plain batchnorm: nothing fused
  EXPECT_LT(at("layer2.0.shortcut.1"), at("layer2.0.conv2"));
  EXPECT_EQ(seen.back(), "linear");
  EXPECT_EQ(last.to_vector(), y.data().to_vector());
  // Removed, a hook is not called.
  for (cyg::nn::Module* module : model->modules()) module->set_forward_hook(nullptr);
  (*model)(Variable(Tensor::uniform({2, 3, 8, 8}, -1, 1, 2)));
  EXPECT_EQ(seen.size(), 41u);
  std::vector<std::string> names;
  for (auto& [name, module] : model->named_modules()) names.push_back(name);
  EXPECT_EQ(names.front(), "");
  EXPECT_NE(std::find(names.begin(), names.end(), "layer4.1.bn2"), names.end());
}

TEST(Models, SameSeedSameWeights) {
  cyg::models::ModelOptions o;
  o.width = 4;
  o.seed = 9;
  const auto a = cyg::models::make_model("resnet18", o)->state_dict();
  const auto b = cyg::models::make_model("resnet18", o)->state_dict();
  o.seed = 10;
  const auto c = cyg::models::make_model("resnet18", o)->state_dict();
  EXPECT_EQ(a.front().second.to_vector(), b.front().second.to_vector());
  EXPECT_NE(a.front().second.to_vector(), c.front().second.to_vector());
  // Kaiming-uniform bound 1/sqrt(fan_in) = 1/sqrt(27) for the stem.
  for (float v : a.front().second.to_vector()) ASSERT_LE(std::fabs(v), 1.0f / std::sqrt(27.0f));
}

TEST(Models, BatchNormUpdatesRunningStatisticsOnlyInTraining) {
  cyg::models::ModelOptions o;
  o.width = 4;
  auto model = cyg::models::make_model("small_cnn", o);
  const Variable x(Tensor::uniform({4, 3, 8, 8}, 0, 2, 3));
  auto running_mean = [&] { return model->named_buffers()[0].second.to_vector(); };
  const auto before = running_mean();
  (*model)(x);
  const auto trained = running_mean();
  EXPECT_NE(trained, before);
  EXPECT_EQ(model->named_buffers()[2].second.item(), 1.0);  // bn1.num_batches_tracked
  model->eval();
  (*model)(x);
  EXPECT_EQ(running_mean(), trained);
  EXPECT_EQ(model->named_buffers()[2].second.item(), 1.0);
}

TEST(Models, StateDictRoundTripAndErrors) {
  cyg::models::ModelOptions o;
  o.width = 4;
  o.seed = 1;
  auto a = cyg::models::make_model("small_cnn", o);
  o.seed = 2;
  auto b = cyg::models::make_model("small_cnn", o);
  b->load_state_dict(a->state_dict());
  const Variable x(Tensor::uniform({2, 3, 8, 8}, -1, 1, 3));
  a->eval();
  b->eval();
  EXPECT_EQ((*a)(x).data().to_vector(), (*b)(x).data().to_vector());

  auto state = a->state_dict();
  state.pop_back();
  try {
    b->load_state_dict(state);
    FAIL() << "a missing key was accepted";
  } catch (const cyg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing key 'linear.bias'"), std::string::npos) << e.what();
  }
  state = a->state_dict();
  state.front().second = Tensor::zeros({1});
  EXPECT_THROW(b->load_state_dict(state), cyg::Error);
  state = a->state_dict();
  state.emplace_back("extra.weight", Tensor::zeros({1}));
  EXPECT_THROW(b->load_state_dict(state), cyg::Error);
  // Another model's checkpoint names the first difference.
  EXPECT_THROW(b->load_state_dict(cyg::models::make_model("resnet20", o)->state_dict()), cyg::Error);
}

}  // namespace
