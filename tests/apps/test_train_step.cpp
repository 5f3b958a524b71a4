// The training step as the apps run it (apps/common/train_step.h) on the emulated
// device: with CUDA graphs its steps give bit for bit what eager steps give (losses,
// weights, optimizer state, batchnorm statistics and counters), an epoch's partial last
// batch included; a replayed step is one launch that allocates nothing and waits for
// nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "apps/common/train_step.h"
#include "data/mixup.h"
#include "engine/functional.h"
#include "engine/runtime.h"
#include "kernels/counters.h"
#include "models/registry.h"
#include "tests/bf16_copy.h"

namespace {

using cyg::Device;
using cyg::Tensor;
using cyg::app::StepGraphs;

const Device kEmu = Device::emu();

struct Batch {
  Tensor images, labels;
  cyg::fn::Mixing mixing;  // MixUp's pairing, when on
};

Tensor i32_on_emu(const std::vector<int32_t>& values, const cyg::Shape& shape) {
  return Tensor::from_vector_i32(values, shape, kEmu);
}

// How a batch is paired: not, MixUp's or CutMix's draws.
enum class Pairing { None, MixUp, CutMix };

// The draws for a batch of n images of side x side run in `micro_batches` parts (data/mixup.h).
cyg::fn::Mixing mixing_of(int64_t n, uint64_t seed, int64_t micro_batches, Pairing pairing, int64_t side) {
  const cyg::BatchParts parts{n, n, false, 1, micro_batches};
  const cyg::MixUpPlan plan = pairing == Pairing::CutMix ? cyg::cutmix_plan(seed, 0, 1.0, parts, side, side)
                                                         : cyg::mixup_plan(seed, 0, 0.4, parts);
  return {i32_on_emu(plan.partner, {n}), Tensor::from_vector(plan.weight, {n}, kEmu),
          pairing == Pairing::CutMix ? i32_on_emu(plan.box, {n, 4}) : Tensor()};
}

Batch batch(int64_t n, uint64_t seed, int64_t side = 8, int64_t micro_batches = 1,
            Pairing pairing = Pairing::None) {
  Batch b;
  b.images = Tensor::normal({n, 3, side, side}, 0, 1, seed).to(kEmu);
  Tensor labels = Tensor::empty({n}, cyg::DType::I32);
  for (int64_t i = 0; i < n; ++i) labels.data<int32_t>()[i] = static_cast<int32_t>((i * 7 + seed) % 10);
  b.labels = labels.to(kEmu);
  if (pairing != Pairing::None) b.mixing = mixing_of(n, seed, micro_batches, pairing, side);
  return b;
}

// A model, its optimizer and a metrics ring, stepped through one StepRunner.
struct Trainer {
  Trainer(const std::string& model_name, StepGraphs graphs, bool adam, double clip_grad_norm = 0.0,
          int64_t micro_batches = 1, bool decay_weights_only = false, double ema_decay = 0.0)
      : ring(64, kEmu) {
    cyg::models::ModelOptions options;
    options.width = 8;
    options.seed = 3;
    model = cyg::models::make_model(model_name, options);
    model->to(kEmu);
    if (adam) {
      cyg::AdamOptions o;
      o.weight_decay = 5e-4;
      optimizer = std::make_unique<cyg::Adam>(model->parameters(), o);
    } else {
      cyg::SgdOptions o;
      o.lr = 0.05;
      o.momentum = 0.9;
      o.weight_decay = 5e-4;
      optimizer = std::make_unique<cyg::SGD>(model->parameters(), o);
    }
    optimizer->set_grad_clip_norm(clip_grad_norm);
    if (decay_weights_only)
      optimizer->set_weight_decay_scales(cyg::weight_decay_on_weights_only(optimizer->parameters()));
    runner = std::make_unique<cyg::app::StepRunner>(*model, *optimizer, ring, 0.1, graphs, kEmu);
    runner->set_micro_batches(micro_batches);
    if (ema_decay > 0) {
      average = std::make_unique<cyg::WeightAverage>(*model, ema_decay);
      runner->set_weight_average(average.get());
    }
  }

  // Each step's lr and momentum change, as a 1cycle schedule's do.
  void step(const Batch& b, int64_t k) {
    optimizer->set_lr(0.05 / (1.0 + static_cast<double>(k)));
    optimizer->set_momentum(0.85 + 0.01 * static_cast<double>(k % 5));
    runner->run(b.images, b.labels, 0, b.mixing);
  }

  std::shared_ptr<cyg::nn::Module> model;
  std::unique_ptr<cyg::Optimizer> optimizer;
  cyg::app::MetricsRing ring;
  std::unique_ptr<cyg::app::StepRunner> runner;
  std::unique_ptr<cyg::WeightAverage> average;
};

// Named tensors (a module's state, in order, or an optimizer's, by name) equal bit for bit.
template <typename Named>
void expect_same_tensors(const Named& a, const Named& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  auto j = b.begin();
  for (auto i = a.begin(); i != a.end(); ++i, ++j) {
    ASSERT_EQ(i->first, j->first) << what;
    EXPECT_EQ(i->second.to_vector(), j->second.to_vector()) << what << ": " << i->first;
  }
}

// A module's tensor of that name.
Tensor named(const cyg::nn::NamedTensors& state, const std::string& name) {
  for (const auto& [n, t] : state)
    if (n == name) return t;
  ADD_FAILURE() << "no tensor named " << name;
  return Tensor();
}

// Steps of 4 images, then a partial batch of 3 (eager in both), then full ones again.
void expect_graphs_change_nothing(const std::string& model_name, bool adam, double clip_grad_norm = 0.0,
                                  int64_t micro_batches = 1, bool decay_weights_only = false, double ema_decay = 0.0,
                                  Pairing pairing = Pairing::None) {
  Trainer eager(model_name, StepGraphs::Off, adam, clip_grad_norm, micro_batches, decay_weights_only, ema_decay);
  Trainer graphed(model_name, StepGraphs::On, adam, clip_grad_norm, micro_batches, decay_weights_only, ema_decay);
  const std::vector<int64_t> sizes = {4, 4, 4, 4, 3, 4, 4};
  for (size_t k = 0; k < sizes.size(); ++k) {
    const Batch b = batch(sizes[k], 100 + k, 8, micro_batches, pairing);
    eager.step(b, static_cast<int64_t>(k));
    graphed.step(b, static_cast<int64_t>(k));
  }
  EXPECT_TRUE(graphed.runner->replaying()) << "the graphed run's last steps were replays";
  const std::vector<float> losses = eager.ring.read_losses();
  ASSERT_EQ(losses.size(), sizes.size());
  EXPECT_EQ(graphed.ring.read_losses(), losses);
  EXPECT_EQ(graphed.ring.loss_sum(), eager.ring.loss_sum());
  EXPECT_EQ(graphed.ring.correct(), eager.ring.correct());
  expect_same_tensors(graphed.model->state_dict(), eager.model->state_dict(), model_name + " state");
  expect_same_tensors(graphed.optimizer->state_dict(), eager.optimizer->state_dict(), model_name + " optimizer");
  if (ema_decay > 0) {
    // Every step updated the average, replays too; it lags the weights.
    EXPECT_EQ(graphed.average->updates(), static_cast<int64_t>(sizes.size()));
    expect_same_tensors(graphed.average->state_dict(), eager.average->state_dict(), model_name + " average");
    const std::string last = graphed.model->named_parameters().back().first;
    EXPECT_NE(named(graphed.average->state_dict(), last).to_vector(),
              named(graphed.model->state_dict(), last).to_vector());
  }
  if (clip_grad_norm > 0) {
    // The replayed norm is the last step's, and above the max norm: the step clipped.
    EXPECT_EQ(graphed.optimizer->last_grad_norm(), eager.optimizer->last_grad_norm());
    EXPECT_GT(eager.optimizer->last_grad_norm(), clip_grad_norm);
  }
  // The later steps really did change the weights: the comparison is not of two
  // untouched models.
  Trainer fresh(model_name, StepGraphs::Off, adam);
  const std::string last = graphed.model->named_parameters().back().first;
  EXPECT_NE(named(fresh.model->state_dict(), last).to_vector(), named(graphed.model->state_dict(), last).to_vector());
}

// A step asked to run eagerly between replays (train.activation_stats_every's recorded
// steps) gives the same results, and runs the model's host code, forward hooks included,
// which a replay does not.
TEST(StepRunner, AnEagerStepBetweenReplaysChangesNothingAndRunsTheHooks) {
  Trainer eager("small_cnn", StepGraphs::Off, false);
  Trainer graphed("small_cnn", StepGraphs::On, false);
  int calls = 0;
  for (auto& [name, module] : graphed.model->named_modules())
    if (name == "linear") module->set_forward_hook([&calls](const cyg::Variable&, const char*) { ++calls; });
  for (int64_t k = 0; k < 8; ++k) {
    const Batch b = batch(4, 300 + static_cast<uint64_t>(k));
    eager.step(b, k);
    const bool replays_before = graphed.runner->replaying();
    const int calls_before = calls;
    graphed.optimizer->set_lr(0.05 / (1.0 + static_cast<double>(k)));
    graphed.optimizer->set_momentum(0.85 + 0.01 * static_cast<double>(k % 5));
    graphed.runner->run(b.images, b.labels, 0, b.mixing, /*eager=*/k == 5);
    if (k == 5) {
      ASSERT_TRUE(replays_before) << "step 6 comes after the capture";
      EXPECT_EQ(calls, calls_before + 1) << "the eager step ran the forward's host code";
    }
    if (k >= 6) {
      EXPECT_EQ(calls, calls_before) << "a replay runs no host code";
    }
  }
  EXPECT_TRUE(graphed.runner->replaying());
  EXPECT_EQ(graphed.ring.read_losses(), eager.ring.read_losses());
  expect_same_tensors(graphed.model->state_dict(), eager.model->state_dict(), "state");
  expect_same_tensors(graphed.optimizer->state_dict(), eager.optimizer->state_dict(), "optimizer");
}

TEST(StepRunner, GraphedStepsEqualEagerStepsForTheSmallCnnWithSgd) { expect_graphs_change_nothing("small_cnn", false); }

TEST(StepRunner, GraphedStepsEqualEagerStepsForResNet18WithAdam) { expect_graphs_change_nothing("resnet18", true); }

// Gradient clipping's norm and factor are computed on the device inside the step, so the
// graph replays them with each step's gradients.
TEST(StepRunner, GraphedStepsEqualEagerStepsWithGradientClipping) {
  expect_graphs_change_nothing("small_cnn", false, 0.05);
  expect_graphs_change_nothing("resnet18", true, 0.05);
}

// Biases and batchnorm exempt from weight decay: each tensor's share rides in the
// update's table, which the graph reads as it was captured.
TEST(StepRunner, GraphedStepsEqualEagerStepsWithWeightDecayOnWeightsOnly) {
  expect_graphs_change_nothing("small_cnn", false, 0.0, 1, true);
}

// The moving average of the weights: its update is in the graph, its weight (a copy at
// the first update) read from device memory.
TEST(StepRunner, GraphedStepsEqualEagerStepsWithAMovingAverage) {
  expect_graphs_change_nothing("small_cnn", false, 0.0, 1, false, 0.9);
  expect_graphs_change_nothing("resnet18", true, 0.0, 2, false, 0.5);
}

// Micro-batches (gradient accumulation): the graph holds every micro-batch's forward and
// backward, on slices of its input buffers; 4 images in 2 parts (3 asked for: each
// takes two images at least), the partial batch of 3 eagerly in one.
TEST(StepRunner, GraphedStepsEqualEagerStepsWithMicroBatches) {
  expect_graphs_change_nothing("small_cnn", false, 0.0, 3);
  expect_graphs_change_nothing("resnet18", true, 0.05, 2);
}

// MixUp: the graph blends each micro-batch's images and shares its targets from the
// pairing copied into its input buffers before each replay.
TEST(StepRunner, GraphedStepsEqualEagerStepsWithMixUp) {
  expect_graphs_change_nothing("small_cnn", false, 0.0, 1, false, 0.0, Pairing::MixUp);
  expect_graphs_change_nothing("resnet18", true, 0.0, 2, false, 0.0, Pairing::MixUp);
}

// CutMix: the graph pastes each micro-batch's boxes from the buffers refreshed before
// each replay.
TEST(StepRunner, GraphedStepsEqualEagerStepsWithCutMix) {
  expect_graphs_change_nothing("small_cnn", false, 0.0, 1, false, 0.0, Pairing::CutMix);
  expect_graphs_change_nothing("resnet18", true, 0.0, 2, false, 0.0, Pairing::CutMix);
}

// A mixed step is the step on the mixed images with the loss w CE(y) + (1 - w) CE(y of
// the partner): with every weight 3/4, worked out here from two plain cross-entropies on
// images mixed in the test, backpropagated with seeds 3/4 and 1/4. MixUp blends the
// images; CutMix pastes a 4x4 box (a quarter of the 8x8 image) at a place of its own in
// each.
void expect_a_mixed_step_as_worked_out(Pairing pairing) {
  const Batch b = batch(6, 77);
  const std::vector<int32_t> perm = {2, 0, 1, 5, 3, 4};
  std::vector<int32_t> boxes;
  for (int32_t i = 0; i < 6; ++i) boxes.insert(boxes.end(), {i % 5, (3 * i) % 5, 4, 4});
  Batch mixed = b;
  mixed.mixing = {i32_on_emu(perm, {6}), Tensor::full({6}, 0.75, cyg::DType::F32, kEmu),
                  pairing == Pairing::CutMix ? i32_on_emu(boxes, {6, 4}) : Tensor()};
  Trainer runner("small_cnn", StepGraphs::Off, false);
  runner.step(mixed, 0);

  Trainer by_hand("small_cnn", StepGraphs::Off, false);
  by_hand.optimizer->set_lr(0.05);
  by_hand.optimizer->set_momentum(0.85);
  const std::vector<float> x = b.images.to_vector();
  const Tensor host_labels = b.labels.to(Device::cpu());
  const int32_t* y = host_labels.data<int32_t>();
  const size_t image = x.size() / 6;  // 3 channels of 8x8, NCHW
  std::vector<float> blended(x.size());
  std::vector<int32_t> partner_labels(6);
  for (size_t i = 0; i < 6; ++i) {
    const size_t p = static_cast<size_t>(perm[i]);
    partner_labels[i] = y[p];
    for (size_t e = 0; e < image; ++e) {
      const float own = x[i * image + e], other = x[p * image + e];
      if (pairing == Pairing::MixUp) {
        blended[i * image + e] = other + 0.75f * (own - other);
      } else {
        const int32_t h = static_cast<int32_t>(e / 8 % 8), w = static_cast<int32_t>(e % 8);
        const int32_t* box = boxes.data() + 4 * i;
        const bool inside = h >= box[0] && h < box[0] + 4 && w >= box[1] && w < box[1] + 4;
        blended[i * image + e] = inside ? other : own;
      }
    }
  }
  const Tensor images = Tensor::from_vector(blended, b.images.shape(), kEmu);
  by_hand.optimizer->zero_grad();
  const cyg::fn::CrossEntropy own = cyg::fn::cross_entropy((*by_hand.model)(cyg::Variable(images)), b.labels, 0.1);
  cyg::backward(own.loss, Tensor::full({}, 0.75, cyg::DType::F32, kEmu));
  const cyg::fn::CrossEntropy theirs =
      cyg::fn::cross_entropy((*by_hand.model)(cyg::Variable(images)), i32_on_emu(partner_labels, {6}), 0.1);
  cyg::backward(theirs.loss, Tensor::full({}, 0.25, cyg::DType::F32, kEmu));
  by_hand.optimizer->step();

  const float expected_loss = 0.75f * own.loss.data().to_vector()[0] + 0.25f * theirs.loss.data().to_vector()[0];
  EXPECT_NEAR(runner.ring.read_losses().at(0), expected_loss, 1e-6f * expected_loss);
  const cyg::nn::NamedTensors got = runner.model->state_dict(), want = by_hand.model->state_dict();
  ASSERT_EQ(got.size(), want.size());
  for (size_t t = 0; t < got.size(); ++t) {
    if (got[t].first.find("running") != std::string::npos || got[t].first.find("num_batches") != std::string::npos)
      continue;  // the hand-made step ran two forwards
    const std::vector<float> g = got[t].second.to_vector(), w = want[t].second.to_vector();
    for (size_t j = 0; j < g.size(); ++j)
      ASSERT_NEAR(g[j], w[j], 1e-5f * std::max(1.0f, std::fabs(w[j]))) << got[t].first << "[" << j << "]";
  }
  // Unmixed, the step is another one.
  Trainer plain("small_cnn", StepGraphs::Off, false);
  plain.step(b, 0);
  EXPECT_NE(named(plain.model->state_dict(), "linear.weight").to_vector(),
            named(runner.model->state_dict(), "linear.weight").to_vector());
}

TEST(StepRunner, AMixUpStepIsTheStepOnBlendedImagesWithSharedTargets) {
  expect_a_mixed_step_as_worked_out(Pairing::MixUp);
}

TEST(StepRunner, ACutMixStepIsTheStepOnPastedImagesWithSharedTargets) {
  expect_a_mixed_step_as_worked_out(Pairing::CutMix);
}

// Micro-batches of 5x5 images (300 bytes each in f32) start where no allocation would:
// each is copied to an aligned buffer first, in the graph as eagerly, with the same
// results as the whole batch's slices on the CPU path would give.
TEST(StepRunner, MisalignedMicroBatchesAreCopiedAndTrainAlike) {
  Trainer eager("small_cnn", StepGraphs::Off, false, 0.0, 3);
  Trainer graphed("small_cnn", StepGraphs::On, false, 0.0, 3);
  for (int64_t k = 0; k < 8; ++k) {
    const Batch b = batch(6, 400 + static_cast<uint64_t>(k), 5);
    eager.step(b, k);
    graphed.step(b, k);
  }
  ASSERT_TRUE(graphed.runner->replaying());
  EXPECT_EQ(graphed.ring.read_losses(), eager.ring.read_losses());
  expect_same_tensors(graphed.model->state_dict(), eager.model->state_dict(), "5x5 micro-batches");
}

// With batchnorm frozen (evaluation mode: running statistics), a step in micro-batches is
// the step on the whole batch but for the order of float sums: the same weights, losses
// and sums to float rounding, for SGD and Adam, batches of 7 in 1, 2 and 3 parts (7 asked
// for: two images a part at least).
TEST(StepRunner, MicroBatchesWithBatchNormFrozenEqualTheWholeBatch) {
  for (bool adam : {false, true}) {
    std::vector<std::unique_ptr<Trainer>> runs;
    for (int64_t parts : {1, 2, 7}) {  // 7: runs as 3
      runs.push_back(std::make_unique<Trainer>("small_cnn", StepGraphs::Off, adam, 0.0, parts));
      runs.back()->model->eval();
    }
    for (int64_t k = 0; k < 4; ++k) {
      const Batch b = batch(7, 300 + static_cast<uint64_t>(k));
      for (auto& run : runs) run->step(b, k);
    }
    const std::vector<float> whole = runs[0]->ring.read_losses();
    const cyg::nn::NamedTensors whole_state = runs[0]->model->state_dict();
    for (size_t r = 1; r < runs.size(); ++r) {
      SCOPED_TRACE(::testing::Message() << (adam ? "adam" : "sgd") << ", run " << r);
      const std::vector<float> losses = runs[r]->ring.read_losses();
      ASSERT_EQ(losses.size(), whole.size());
      for (size_t k = 0; k < whole.size(); ++k) EXPECT_NEAR(losses[k], whole[k], 1e-5 * whole[k]) << "step " << k;
      EXPECT_NEAR(runs[r]->ring.loss_sum(), runs[0]->ring.loss_sum(), 1e-5 * runs[0]->ring.loss_sum());
      EXPECT_EQ(runs[r]->ring.correct(), runs[0]->ring.correct());
      const cyg::nn::NamedTensors state = runs[r]->model->state_dict();
      ASSERT_EQ(state.size(), whole_state.size());
      for (size_t i = 0; i < state.size(); ++i) {
        const std::vector<float> got = state[i].second.to_vector(), want = whole_state[i].second.to_vector();
        double largest = 0, worst = 0;
        for (size_t j = 0; j < want.size(); ++j) {
          largest = std::max(largest, static_cast<double>(std::fabs(want[j])));
          worst = std::max(worst, static_cast<double>(std::fabs(got[j] - want[j])));
        }
        EXPECT_LE(worst, 1e-5 * std::max(largest, 1e-3)) << state[i].first;
      }
    }
    // The steps did move the weights.
    Trainer fresh("small_cnn", StepGraphs::Off, adam);
    EXPECT_NE(named(fresh.model->state_dict(), "linear.weight").to_vector(),
              named(whole_state, "linear.weight").to_vector());
  }
}

// bf16 autocast: the graph replays the optimizer's writes of the weights' bf16 copies, and
// ResNet-20's option-A shortcuts keep bf16 activations.
TEST(StepRunner, GraphedStepsEqualEagerStepsInBf16) {
  const cyg::fn::AutocastBf16 autocast;
  expect_graphs_change_nothing("resnet18", false);
  expect_graphs_change_nothing("resnet20", true);
}

// bf16 with channels-last activations (a GPU's default): the graph replays the writes of
// the filters' KRSC bf16 copies and the NHWC kernels.
TEST(StepRunner, GraphedStepsEqualEagerStepsInBf16ChannelsLast) {
  const cyg::fn::AutocastBf16 autocast;
  const cyg::fn::ChannelsLast layout;
  expect_graphs_change_nothing("resnet18", false);
}

// Weights written between replays (a checkpoint loaded, say) reach the replayed graph: the
// step casts stale bf16 copies again before the replay, as an eager step would; in
// channels-last too, where the copies are KRSC.
void expect_written_weights_reach_the_graph(bool channels_last) {
  const cyg::fn::AutocastBf16 autocast;
  const cyg::fn::ChannelsLast layout(channels_last);
  Trainer eager("resnet18", StepGraphs::Off, false);
  Trainer graphed("resnet18", StepGraphs::On, false);
  const cyg::nn::NamedTensors initial = eager.model->state_dict();
  std::vector<Tensor> saved;
  for (const auto& [name, t] : initial) saved.push_back(t.clone());
  auto steps = [&](int64_t from, int64_t to) {
    for (int64_t k = from; k < to; ++k) {
      const Batch b = batch(4, 200 + static_cast<uint64_t>(k));
      eager.step(b, k);
      graphed.step(b, k);
    }
  };
  steps(0, 8);
  ASSERT_TRUE(graphed.runner->replaying());
  cyg::nn::NamedTensors restore;
  for (size_t i = 0; i < initial.size(); ++i) restore.emplace_back(initial[i].first, saved[i]);
  eager.model->load_state_dict(restore);
  graphed.model->load_state_dict(restore);
  steps(8, 10);
  expect_same_tensors(graphed.model->state_dict(), eager.model->state_dict(), "after the weights were restored");
  for (const cyg::Variable& p : graphed.model->parameters()) {
    if (!p.bf16_copy().defined()) continue;
    EXPECT_TRUE(cyg::test::bf16_copy_is_the_rounded_weight(p));
  }
}

TEST(StepRunner, WeightsWrittenBetweenReplaysReachTheGraphInBf16) { expect_written_weights_reach_the_graph(false); }

TEST(StepRunner, WeightsWrittenBetweenReplaysReachTheGraphInBf16ChannelsLast) {
  expect_written_weights_reach_the_graph(true);
}

// The averaged weights evaluated between replays (what each epoch's end does), in bf16
// channels-last: the evaluation sees the averages (its logits are those of a model loaded
// with them), and the replays after it train as if it had not happened, bit for bit.
TEST(StepRunner, AveragedWeightsEvaluatedBetweenReplaysInBf16) {
  const cyg::fn::AutocastBf16 autocast;
  const cyg::fn::ChannelsLast layout;
  Trainer evaluated("resnet18", StepGraphs::On, false, 0.0, 1, false, 0.5);
  Trainer untouched("resnet18", StepGraphs::On, false, 0.0, 1, false, 0.5);
  auto steps = [&](int64_t from, int64_t to) {
    for (int64_t k = from; k < to; ++k) {
      const Batch b = batch(4, 300 + static_cast<uint64_t>(k));
      evaluated.step(b, k);
      untouched.step(b, k);
    }
  };
  steps(0, 8);
  ASSERT_TRUE(evaluated.runner->replaying());
  const Batch probe = batch(4, 999);
  auto logits_of = [&](cyg::nn::Module& model) {
    model.eval();
    const std::vector<float> logits = model(cyg::Variable(probe.images)).data().to_vector();
    model.train();
    return logits;
  };
  evaluated.average->swap_with_model();
  const std::vector<float> averaged_logits = logits_of(*evaluated.model);
  evaluated.average->swap_with_model();
  Trainer loaded("resnet18", StepGraphs::Off, false);
  loaded.model->load_state_dict(untouched.average->state_dict());
  EXPECT_EQ(averaged_logits, logits_of(*loaded.model)) << "the evaluation saw the averages";
  EXPECT_NE(averaged_logits, logits_of(*untouched.model)) << "not the weights";
  steps(8, 11);
  expect_same_tensors(evaluated.model->state_dict(), untouched.model->state_dict(), "weights after the evaluation");
  expect_same_tensors(evaluated.average->state_dict(), untouched.average->state_dict(), "averages after it");
  EXPECT_EQ(evaluated.ring.read_losses(), untouched.ring.read_losses());
}

// What a replayed step does on the device: warm-ups, then the capture and its first
// replay; the step after is a replay, counted.
cyg::DeviceCounts counts_of_a_replay(Trainer& t, int before = cyg::app::StepRunner::kMaxWarmUps + 1) {
  const Batch b = batch(4, 1);
  for (int k = 0; k < before; ++k) t.step(b, k);
  EXPECT_TRUE(t.runner->replaying());
  cyg::reset_counts();
  cyg::set_counting(true);
  t.step(b, before);
  cyg::set_counting(false);
  return cyg::device_counts();
}

TEST(StepRunner, AReplayedStepIsOneLaunchThatAllocatesAndWaitsForNothing) {
  Trainer t("resnet18", StepGraphs::On, false);
  const int before = cyg::app::StepRunner::kMaxWarmUps + 1;
  const cyg::DeviceCounts c = counts_of_a_replay(t, before);
  ASSERT_TRUE(t.runner->replaying());
  EXPECT_EQ(c.total_launches(), 1u);
  EXPECT_EQ(c.launches.at("cuda graph"), 1u);
  EXPECT_EQ(c.total_library_calls(), 0u) << "cuDNN and cuBLAS run inside the graph";
  EXPECT_EQ(c.allocations, 0u);
  EXPECT_EQ(c.synchronizations, 0u);
  // The batch into the graph's inputs, and the step's hyperparameters.
  EXPECT_EQ(c.copies[static_cast<int>(cyg::CopyDirection::DeviceToDevice)], 2u);
  EXPECT_EQ(c.copies[static_cast<int>(cyg::CopyDirection::HostToDevice)], 1u);
  EXPECT_EQ(c.copies[static_cast<int>(cyg::CopyDirection::DeviceToHost)], 0u);
  EXPECT_EQ(t.ring.pending(), before + 1);
}

// With a moving average of the weights, still one launch: its update is in the graph; one
// more small copy, its weight.
TEST(StepRunner, AReplayedStepWithAMovingAverageIsStillOneLaunch) {
  Trainer t("small_cnn", StepGraphs::On, false, 0.0, 1, false, 0.99);
  const int before = cyg::app::StepRunner::kMaxWarmUps + 1;
  const cyg::DeviceCounts c = counts_of_a_replay(t, before);
  ASSERT_TRUE(t.runner->replaying());
  EXPECT_EQ(c.total_launches(), 1u);
  EXPECT_EQ(c.allocations, 0u);
  EXPECT_EQ(c.synchronizations, 0u);
  EXPECT_EQ(c.copies[static_cast<int>(cyg::CopyDirection::HostToDevice)], 2u);
  EXPECT_EQ(t.average->updates(), before + 1);
}

TEST(StepRunner, OnTheCpuGraphsAreOff) {
  cyg::models::ModelOptions options;
  options.width = 4;
  auto model = cyg::models::make_model("small_cnn", options);
  cyg::SgdOptions o;
  o.lr = 0.1;
  cyg::SGD sgd(model->parameters(), o);
  cyg::app::MetricsRing ring(8, Device::cpu());
  cyg::app::StepRunner runner(*model, sgd, ring, 0.0, StepGraphs::On, Device::cpu());
  Batch b = batch(2, 5);
  b.images = b.images.to(Device::cpu());
  b.labels = b.labels.to(Device::cpu());
  for (int k = 0; k < 3; ++k) runner.run(b.images, b.labels);
  EXPECT_EQ(ring.read_losses().size(), 3u);
}

}  // namespace
