// The moving average of the weights (engine/ema.h) on the CPU: three training steps of a
// model with batchnorm against PyTorch's AveragedModel rule written out here in double
// (the first update copies, then average = decay * average + (1 - decay) * value, for
// the parameters and the running statistics; counters stay the model's), the exchange
// with the model, loading and bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/ema.h"
#include "engine/functional.h"
#include "engine/optim.h"
#include "kernels/error.h"
#include "models/registry.h"

namespace {

using cyg::Tensor;
using cyg::Variable;

std::shared_ptr<cyg::nn::Module> small_model() {
  cyg::models::ModelOptions options;
  options.width = 4;
  options.seed = 3;
  return cyg::models::make_model("small_cnn", options);
}

void train_step(cyg::nn::Module& model, cyg::Optimizer& optimizer, int step) {
  const Tensor images = Tensor::normal({6, 3, 8, 8}, 0, 1, 40 + static_cast<uint64_t>(step));
  Tensor labels = Tensor::empty({6}, cyg::DType::I32);
  for (int64_t i = 0; i < 6; ++i) labels.data<int32_t>()[i] = static_cast<int32_t>((i + step) % 10);
  optimizer.zero_grad();
  cyg::backward(cyg::fn::cross_entropy(model(Variable(images)), labels).loss);
  optimizer.step();
}

// Two large SGD steps of `model`, `average` updated after each.
void two_averaged_steps(cyg::nn::Module& model, cyg::WeightAverage& average) {
  cyg::SGD optimizer(model.parameters(), cyg::SgdOptions{0.5, 0.9, 0.0, false});
  for (int step = 0; step < 2; ++step) {
    train_step(model, optimizer, step);
    average.update();
  }
}

std::map<std::string, std::vector<float>> values_of(const cyg::nn::NamedTensors& tensors) {
  std::map<std::string, std::vector<float>> out;
  for (const auto& [name, t] : tensors) out[name] = t.to_vector();
  return out;
}

TEST(WeightAverage, FollowsAveragedModelsRuleForParametersAndRunningStatistics) {
  auto model = small_model();
  model->train();
  cyg::SgdOptions o;
  o.lr = 0.5;  // large steps: the average and the weights part visibly
  o.momentum = 0.9;
  cyg::SGD optimizer(model->parameters(), o);
  const double decay = 0.75;
  cyg::WeightAverage average(*model, decay);

  // What is averaged: every parameter and the running statistics, not the counters.
  std::vector<std::string> expected_names;
  for (const auto& [name, v] : model->named_parameters()) expected_names.push_back(name);
  for (const auto& [name, t] : model->named_buffers())
    if (name.find("num_batches_tracked") == std::string::npos) expected_names.push_back(name);
  EXPECT_EQ(average.names(), expected_names);
  EXPECT_EQ(average.updates(), 0);

  std::map<std::string, std::vector<double>> expected;
  for (int step = 0; step < 3; ++step) {
    train_step(*model, optimizer, step);
    average.update();
    const std::map<std::string, std::vector<float>> now = values_of(model->state_dict());
    for (const std::string& name : average.names()) {
      const std::vector<float>& value = now.at(name);
      std::vector<double>& e = expected[name];
      if (step == 0) e.assign(value.begin(), value.end());
      else
        for (size_t i = 0; i < e.size(); ++i) e[i] = decay * e[i] + (1 - decay) * value[i];
    }
  }
  EXPECT_EQ(average.updates(), 3);
  const std::map<std::string, std::vector<float>> model_now = values_of(model->state_dict());
  for (size_t k = 0; k < average.names().size(); ++k) {
    const std::string& name = average.names()[k];
    const std::vector<float> got = average.averages()[k].to_vector();
    const std::vector<double>& want = expected.at(name);
    ASSERT_EQ(got.size(), want.size()) << name;
    double farthest = 0;  // from the model: the average must lag it
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_NEAR(got[i], want[i], 1e-6 * (1 + std::fabs(want[i]))) << name << " [" << i << "]";
      farthest = std::max(farthest, std::fabs(static_cast<double>(got[i]) - model_now.at(name)[i]));
    }
    if (name.find("weight") != std::string::npos) {
      EXPECT_GT(farthest, 1e-4) << name;
    }
  }

  // The state dict: the model's names and order, the averages in place of the averaged
  // tensors, the counters the model's.
  const cyg::nn::NamedTensors state = average.state_dict();
  const cyg::nn::NamedTensors model_state = model->state_dict();
  ASSERT_EQ(state.size(), model_state.size());
  for (size_t i = 0; i < state.size(); ++i) {
    ASSERT_EQ(state[i].first, model_state[i].first);
    const auto at = std::find(average.names().begin(), average.names().end(), state[i].first);
    if (at == average.names().end()) {
      EXPECT_EQ(state[i].second.to_vector(), model_state[i].second.to_vector()) << state[i].first;
    } else {
      const size_t k = static_cast<size_t>(at - average.names().begin());
      EXPECT_EQ(state[i].second.to_vector(), average.averages()[k].to_vector()) << state[i].first;
    }
  }
}

// Warm-up: update n's decay is min(decay, (1 + n) / (10 + n)) (TensorFlow's
// ExponentialMovingAverage with num_updates), written out here; the averages follow it.
TEST(WeightAverage, WarmUpUsesTensorFlowsDecayOfTheUpdateCount) {
  auto model = small_model();
  cyg::SGD optimizer(model->parameters(), cyg::SgdOptions{0.5, 0.9, 0.0, false});
  cyg::WeightAverage plain(*model, 0.9), capped(*model, 0.9, true), warmed(*model, 0.5, true);
  EXPECT_FALSE(plain.warm_up());
  EXPECT_TRUE(capped.warm_up());
  EXPECT_EQ(plain.decay_of_update(2), 0.9);
  EXPECT_EQ(capped.decay_of_update(2), 3.0 / 12.0);
  EXPECT_EQ(capped.decay_of_update(50), 51.0 / 60.0);
  EXPECT_EQ(capped.decay_of_update(80), 0.9);  // 81/90 = 0.9 exactly: the decay from here on
  EXPECT_EQ(capped.decay_of_update(1000), 0.9);
  // 0.5 caps the warm-up from update 8 (9/18) on: 12 updates cross it.
  std::map<std::string, std::vector<double>> expected;
  for (int n = 1; n <= 12; ++n) {
    train_step(*model, optimizer, n);
    warmed.update();
    const double d = std::min(0.5, (1.0 + n) / (10.0 + n));
    for (const auto& [name, value] : values_of(model->state_dict())) {
      if (std::find(warmed.names().begin(), warmed.names().end(), name) == warmed.names().end()) continue;
      std::vector<double>& e = expected[name];
      if (n == 1) e.assign(value.begin(), value.end());
      else
        for (size_t i = 0; i < e.size(); ++i) e[i] = d * e[i] + (1 - d) * value[i];
    }
  }
  for (size_t k = 0; k < warmed.names().size(); ++k) {
    const std::vector<float> got = warmed.averages()[k].to_vector();
    const std::vector<double>& want = expected.at(warmed.names()[k]);
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_NEAR(got[i], want[i], 1e-6 * (1 + std::fabs(want[i]))) << warmed.names()[k] << " [" << i << "]";
  }
}

// The guard puts the model's weights back when what runs in between throws.
TEST(WeightAverage, TheGuardPutsTheWeightsBackOnAnError) {
  auto model = small_model();
  cyg::WeightAverage average(*model, 0.5);
  two_averaged_steps(*model, average);
  const auto before = values_of(model->state_dict());
  const auto averaged = values_of(average.state_dict());
  try {
    const cyg::WeightAverage::InModel in_model(average);
    EXPECT_EQ(values_of(model->state_dict()), averaged);
    throw std::runtime_error("an evaluation failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(values_of(model->state_dict()), before);
  EXPECT_EQ(values_of(average.state_dict()), averaged);
}

TEST(WeightAverage, SwapsWithTheModelAndBackBitForBit) {
  auto model = small_model();
  cyg::WeightAverage average(*model, 0.5);
  two_averaged_steps(*model, average);
  const auto before = values_of(model->state_dict());
  const auto averaged = values_of(average.state_dict());
  EXPECT_NE(before, averaged);
  average.swap_with_model();
  EXPECT_EQ(values_of(model->state_dict()), averaged);
  average.swap_with_model();
  EXPECT_EQ(values_of(model->state_dict()), before);
  EXPECT_EQ(values_of(average.state_dict()), averaged);
}

TEST(WeightAverage, LoadsItsTensorsAndRefusesOnesThatDoNotFit) {
  auto model = small_model();
  cyg::WeightAverage average(*model, 0.9);
  two_averaged_steps(*model, average);

  auto other_model = small_model();
  cyg::WeightAverage restored(*other_model, 0.9);
  cyg::nn::NamedTensors saved;
  for (size_t k = 0; k < average.names().size(); ++k) saved.emplace_back(average.names()[k], average.averages()[k]);
  restored.load(saved, average.updates());
  EXPECT_EQ(restored.updates(), 2);
  for (size_t k = 0; k < average.names().size(); ++k)
    EXPECT_EQ(restored.averages()[k].to_vector(), average.averages()[k].to_vector()) << average.names()[k];

  cyg::nn::NamedTensors missing(saved.begin() + 1, saved.end());
  EXPECT_THROW(restored.load(missing, 2), cyg::Error);
  cyg::nn::NamedTensors wrong_shape = saved;
  wrong_shape[0].second = Tensor::zeros({3});
  EXPECT_THROW(restored.load(wrong_shape, 2), cyg::Error);
  EXPECT_THROW(restored.load(saved, -1), cyg::Error);
  for (double bad : {0.0, 1.0, -0.5, 1.5, static_cast<double>(NAN)}) EXPECT_THROW(cyg::WeightAverage(*model, bad), cyg::Error) << bad;
}

}  // namespace

// Stochastic weight averaging's equal average (PyTorch's AveragedModel with its default
// averaging function): after n updates every averaged tensor is the mean of the n values
// it was given, computed here in double from copies of the model's state.
TEST(WeightAverage, AnEqualAverageIsTheMeanOfEveryUpdatesValues) {
  auto model = small_model();
  cyg::SGD optimizer(model->parameters(), cyg::SgdOptions{0.5, 0.9, 0.0, false});
  const std::unique_ptr<cyg::WeightAverage> average = cyg::WeightAverage::equal_average(*model);
  EXPECT_TRUE(average->equal());
  EXPECT_EQ(average->weight_of_update(1), 1.0);
  EXPECT_EQ(average->weight_of_update(4), 0.25);
  EXPECT_EQ(average->weight_of_update(3), 1.0 / 3);
  std::map<std::string, std::vector<double>> sums;
  const int updates = 4;
  for (int step = 0; step < updates; ++step) {
    train_step(*model, optimizer, step);
    average->update();
    for (const auto& [name, value] : values_of(model->state_dict())) {
      std::vector<double>& sum = sums[name];
      sum.resize(value.size());
      for (size_t i = 0; i < value.size(); ++i) sum[i] += value[i];
    }
  }
  EXPECT_EQ(average->updates(), updates);
  const std::map<std::string, std::vector<float>> last = values_of(model->state_dict());
  for (size_t k = 0; k < average->names().size(); ++k) {
    const std::string& name = average->names()[k];
    const std::vector<float> got = average->averages()[k].to_vector();
    const std::vector<double>& sum = sums.at(name);
    ASSERT_EQ(got.size(), sum.size()) << name;
    double from_last = 0;  // the mean of four values is not the last of them
    for (size_t i = 0; i < got.size(); ++i) {
      const double mean = sum[i] / updates;
      EXPECT_NEAR(got[i], mean, 1e-6 * (1 + std::fabs(mean))) << name << " [" << i << "]";
      from_last = std::max(from_last, std::fabs(static_cast<double>(got[i]) - last.at(name)[i]));
    }
    if (name.find("weight") != std::string::npos) {
      EXPECT_GT(from_last, 1e-4) << name;
    }
  }
}

// PyTorch's update_bn: the running statistics become the mean over the batches of each
// batch's mean and unbiased variance (momentum=None), whatever they were before, and the
// module's mode and momentum are back after: worked out here from the images themselves.
TEST(BatchNormStatistics, RecomputedAsTheMeanOfEveryBatchsStatistics) {
  cyg::nn::Sequential model;
  auto bn = std::make_shared<cyg::nn::BatchNorm2d>(3);
  model.append(bn);
  // Stale statistics, as an average of weights would have.
  model.train();
  model(Variable(Tensor::normal({4, 3, 2, 2}, 5, 3, 9)));
  model.eval();
  const int batches = 3;
  const int64_t n = 5, hw = 6;  // images of 2 x 3
  std::vector<Tensor> data;
  for (int b = 0; b < batches; ++b) data.push_back(Tensor::normal({n, 3, 2, 3}, 0.5 * b, 1 + b, 20 + b));
  int next = 0;
  cyg::nn::recompute_batchnorm_statistics(model, [&](Tensor& images) {
    if (next == batches) return false;
    images = data[static_cast<size_t>(next++)];
    return true;
  });
  EXPECT_EQ(next, batches);
  EXPECT_FALSE(model.is_training()) << "the model's mode is back";
  std::vector<double> mean(3, 0.0), var(3, 0.0);
  for (const Tensor& images : data) {
    const std::vector<float> x = images.to_vector();
    for (int64_t c = 0; c < 3; ++c) {
      double s = 0, ss = 0;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t k = 0; k < hw; ++k) s += x[static_cast<size_t>((i * 3 + c) * hw + k)];
      const double m = s / (n * hw);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t k = 0; k < hw; ++k) {
          const double d = x[static_cast<size_t>((i * 3 + c) * hw + k)] - m;
          ss += d * d;
        }
      mean[static_cast<size_t>(c)] += m / batches;
      var[static_cast<size_t>(c)] += ss / (n * hw - 1) / batches;
    }
  }
  std::map<std::string, std::vector<float>> state = values_of(model.state_dict());
  for (size_t c = 0; c < 3; ++c) {
    EXPECT_NEAR(state.at("0.running_mean")[c], mean[c], 1e-5 * (1 + std::fabs(mean[c]))) << c;
    EXPECT_NEAR(state.at("0.running_var")[c], var[c], 1e-5 * (1 + var[c])) << c;
  }
  // The momentum is the module's again: a training forward moves the statistics by 0.1.
  const std::vector<float> before = state.at("0.running_mean");
  const Tensor more = Tensor::normal({n, 3, 2, 3}, 4, 1, 77);
  model.train();
  model(Variable(more));
  const std::vector<float> x = more.to_vector();
  const std::vector<float> after = values_of(model.state_dict()).at("0.running_mean");
  for (int64_t c = 0; c < 3; ++c) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < hw; ++k) s += x[static_cast<size_t>((i * 3 + c) * hw + k)];
    const double want = 0.9 * before[static_cast<size_t>(c)] + 0.1 * s / (n * hw);
    EXPECT_NEAR(after[static_cast<size_t>(c)], want, 1e-5 * (1 + std::fabs(want))) << c;
  }
}
