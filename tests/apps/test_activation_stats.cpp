// train.activation_stats_every (fastai's ActivationStats): the statistics from a layer's
// moments, the recorder's hooks on a layer whose outputs are worked out by hand, and the
// pictures' lines.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "apps/common/activation_stats.h"
#include "apps/common/png.h"
#include "kernels/error.h"

namespace {

using cyg::Tensor;
using cyg::Variable;
using cyg::app::ActivationStat;

// The textbook two-pass statistics of `values`: mean, standard deviation with n - 1, and
// the share at or below 0.05.
cyg::app::LayerStats two_pass(const std::vector<float>& values) {
  double sum = 0;
  int below = 0;
  for (float v : values) {
    sum += v;
    below += v <= 0.05f;
  }
  const double n = static_cast<double>(values.size()), mean = sum / n;
  double squares = 0;
  for (float v : values) squares += (v - mean) * (v - mean);
  return {mean, std::sqrt(squares / (n - 1)), below / n};
}

TEST(ActivationStats, LayerStatsAreFastaisFromTheMoments) {
  const std::vector<float> values = {1, 2, 2, -1, 0.5f, -1.5f, 0.05f, 7};
  const cyg::app::LayerStats got =
      cyg::app::layer_stats(cyg::moments(Tensor::from_vector(values, {8}), 0.05f)), want = two_pass(values);
  EXPECT_NEAR(got.mean, want.mean, 1e-7);  // the chunk's sum is a float
  EXPECT_NEAR(got.std, want.std, 1e-7);  // the squares' chunk sum is a float
  EXPECT_EQ(got.near_zero, 3.0 / 8);  // -1, -1.5 and 0.05 itself
  // A constant output has a std of 0, not the square root of a rounding below 0.
  const std::vector<float> constant(5000, 0.1f);
  EXPECT_EQ(cyg::app::layer_stats(cyg::moments(Tensor::from_vector(constant, {5000}), 0.05f)).std, 0.0);
  EXPECT_TRUE(std::isnan(cyg::app::layer_stats(cyg::moments(Tensor::from_vector({3}, {1}), 0.05f)).std));
  EXPECT_TRUE(std::isnan(cyg::app::layer_stats(cyg::Moments{}).mean));
}

// A linear layer y = W x + b with W = [[1, 0], [0, 1], [1, 1]], b = [0, 0, -1]: on
// x = [[1, 2], [-1, 0.5]] its outputs are [1, 2, 2] and [-1, 0.5, -1.5].
TEST(ActivationStats, RecorderHooksEveryNthStepsFirstForwardOnly) {
  cyg::nn::InitSeeds seeds(1);
  auto model = std::make_shared<cyg::nn::Sequential>();
  model->append(std::make_shared<cyg::nn::Linear>(cyg::nn::LinearOptions(2, 3), seeds));
  model->load_state_dict({{"0.weight", Tensor::from_vector({1, 0, 0, 1, 1, 1}, {3, 2})},
                          {"0.bias", Tensor::from_vector({0, 0, -1}, {3})}});
  const Variable x(Tensor::from_vector({1, 2, -1, 0.5f}, {2, 2}));
  const Variable other(Tensor::from_vector({5, 5, 5, 5}, {2, 2}));
  std::vector<ActivationStat> rows;
  {
    cyg::app::ActivationRecorder recorder(*model, 2);
    for (int64_t step = 1; step <= 4; ++step) {
      recorder.start_step(step);
      (*model)(x);
      (*model)(other);  // a second micro-batch: not recorded
      recorder.end_step(rows);
    }
    (*model)(x);  // outside a step: not recorded
  }
  (*model)(x);  // the recorder gone, its hooks with it
  ASSERT_EQ(rows.size(), 2u);
  const cyg::app::LayerStats want = two_pass({1, 2, 2, -1, 0.5f, -1.5f});
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].step, 2 * static_cast<int64_t>(i + 1));
    EXPECT_EQ(rows[i].layer, "0");
    EXPECT_NEAR(rows[i].mean, 0.5, 1e-12);
    EXPECT_NEAR(rows[i].std, want.std, 1e-7);
    EXPECT_NEAR(rows[i].std, std::sqrt(2.2), 1e-7);
    EXPECT_EQ(rows[i].near_zero, 2.0 / 6);
    // 40 bins of 0.25 over [0, 10]: 0.5 in bin 2, 1 in bin 4, 2 twice in bin 8; -1 and -1.5 in none.
    std::vector<int64_t> hist(40, 0);
    hist[2] = 1;
    hist[4] = 1;
    hist[8] = 2;
    EXPECT_EQ(cyg::app::histogram_counts(rows[i].hist), hist) << rows[i].hist;
  }
  // every 0: nothing hooked, nothing recorded.
  cyg::app::ActivationRecorder off(*model, 0);
  off.start_step(2);
  (*model)(x);
  off.end_step(rows);
  EXPECT_EQ(rows.size(), 2u);
}

TEST(ActivationStats, PicturesDrawTheActivationsAfterEachReluFromLightToDark) {
  std::vector<ActivationStat> rows;
  for (int64_t step : {5, 10})
    for (const char* layer : {"conv1", "bn1+relu", "layer1.0.conv1", "layer1.0.bn2+add+relu", "linear"})
      rows.push_back({step, layer, 0.1 * static_cast<double>(step), 1.0 + static_cast<double>(step), 0.5, "1"});
  const auto charts = cyg::app::activation_charts("run", rows);
  ASSERT_EQ(charts.size(), 3u);
  EXPECT_EQ(charts[0].first, "activations_mean.svg");
  EXPECT_EQ(charts[1].first, "activations_std.svg");
  EXPECT_EQ(charts[2].first, "activations_near_zero.svg");
  for (const auto& [file, chart] : charts) {
    ASSERT_EQ(chart.series.size(), 2u) << file;  // the two outputs after a ReLU
    EXPECT_EQ(chart.series[0].name, "bn1+relu (first)");
    EXPECT_EQ(chart.series[1].name, "layer1.0.bn2+add+relu (last)");
    EXPECT_EQ(chart.series[0].color, "#9ecae1");
    EXPECT_EQ(chart.series[1].color, "#08306b");
    EXPECT_EQ(chart.series[0].x, (std::vector<double>{5, 10}));
  }
  EXPECT_EQ(charts[0].second.series[1].y, (std::vector<double>{0.5, 1.0}));
  EXPECT_EQ(charts[1].second.series[1].y, (std::vector<double>{6, 11}));
  EXPECT_EQ(charts[2].second.series[1].y, (std::vector<double>{0.5, 0.5}));
  // A net without fused ReLUs: every layer.
  std::vector<ActivationStat> plain = {{1, "fc1", 0, 1, 0, "1"}, {1, "fc2", 0, 1, 0, "1"}, {1, "fc3", 0, 1, 0, "1"}};
  EXPECT_EQ(cyg::app::activation_charts("run", plain)[0].second.series.size(), 3u);
  EXPECT_TRUE(cyg::app::activation_charts("run", {}).empty());
  // A long run: at most 400 points a line, every k-th recorded step from the first, and the last.
  std::vector<ActivationStat> many;
  for (int64_t step = 10; step <= 10000; step += 10) many.push_back({step, "bn1+relu", 0, 1, 0, "1"});
  const auto long_run = cyg::app::activation_charts("run", many);
  const cyg::plot::Series& line = long_run[0].second.series[0];
  ASSERT_LE(line.x.size(), 401u);
  ASSERT_GE(line.x.size(), 300u);
  EXPECT_EQ(line.x.front(), 10);
  EXPECT_EQ(line.x[1], 40);  // 1000 recorded steps: every 3rd
  EXPECT_EQ(line.x.back(), 10000);
}

TEST(ActivationStats, AModuleHoldsOneHookAndARootLayerIsCalledModel) {
  cyg::nn::InitSeeds seeds(1);
  cyg::nn::Linear layer(cyg::nn::LinearOptions(2, 2), seeds);
  std::vector<ActivationStat> rows;
  {
    cyg::app::ActivationRecorder recorder(layer, 1);
    EXPECT_THROW(layer.set_forward_hook([](const Variable&, const char*) {}), cyg::Error);
    recorder.start_step(1);
    layer(Variable(Tensor::from_vector({1, 2}, {1, 2})));
    recorder.end_step(rows);
  }
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].layer, "model");
  layer.set_forward_hook([](const Variable&, const char*) {});  // the recorder's is gone
}

// RFC 4648 base64 back to bytes (the pictures' PNG panels).
std::string unbase64(const std::string& text) {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t bits = 0;
  int held = 0;
  for (char c : text) {
    if (c == '=') break;
    bits = (bits << 6) | static_cast<uint32_t>(alphabet.find(c));
    held += 6;
    if (held >= 8) {
      held -= 8;
      out += static_cast<char>((bits >> held) & 0xff);
    }
  }
  return out;
}

// fastai's color_dim: a panel per output after a ReLU, each column a step, each row a bin
// from 0 (bottom) to 10 (top); the most counted bin dark blue, an empty one white.
TEST(ActivationStats, HistogramPanelsDrawEachStepsBinsFromTheBottom) {
  std::vector<std::string> low(40, "0"), high(40, "0");
  low[0] = "500";   // every value in the first bin, [0, 0.25)
  high[39] = "500"; // every value in the last, [9.75, 10]
  std::string low_text, high_text;
  for (int b = 0; b < 40; ++b) {
    low_text += (b ? " " : "") + low[b];
    high_text += (b ? " " : "") + high[b];
  }
  const std::vector<ActivationStat> rows = {{1, "conv1", 0, 1, 0, low_text},
                                            {1, "bn1+relu", 0, 1, 0, low_text},
                                            {2, "conv1", 0, 1, 0, low_text},
                                            {2, "bn1+relu", 0, 1, 0, high_text}};
  const std::string svg = cyg::app::activation_histograms_svg("run", rows);
  EXPECT_NE(svg.find("Histograms of each layer&apos;s output after its ReLU: run"), std::string::npos) << svg;
  EXPECT_NE(svg.find(">bn1+relu</text>"), std::string::npos);
  EXPECT_EQ(svg.find(">conv1</text>"), std::string::npos) << "only the outputs after a ReLU";
  EXPECT_NE(svg.find(">step 1</text>"), std::string::npos);
  const std::string key = "href=\"data:image/png;base64,";
  const size_t at = svg.find(key);
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(svg.find(key, at + 1), std::string::npos) << "one panel";
  const size_t begin = at + key.size(), end = svg.find('"', begin);
  const cyg::app::DecodedImage panel = cyg::app::png_decode(unbase64(svg.substr(begin, end - begin)), "panel");
  ASSERT_EQ(panel.channels, 3);
  const auto pixel = [&](int64_t x, int64_t y) {
    const size_t i = static_cast<size_t>((y * panel.width + x) * 3);
    return std::vector<int>{panel.pixels[i], panel.pixels[i + 1], panel.pixels[i + 2]};
  };
  const std::vector<int> white = {255, 255, 255}, dark = {8, 48, 107};
  const int64_t left = 0, right = panel.width - 1, bottom_row = panel.height - 1, top_row = 0;
  EXPECT_EQ(pixel(left, bottom_row), dark) << "step 1: bin 0";
  EXPECT_EQ(pixel(left, top_row), white);
  EXPECT_EQ(pixel(right, top_row), dark) << "step 2: bin 39";
  EXPECT_EQ(pixel(right, bottom_row), white);
  EXPECT_EQ(cyg::app::activation_histograms_svg("run", {}), "");
}

}  // namespace
