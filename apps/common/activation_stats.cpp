// ActivationStats: forward hooks, the statistics, the pictures.
#include "apps/common/activation_stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

namespace cyg::app {

LayerStats layer_stats(const Moments& m) {
  if (m.count < 1) return {NAN, NAN, NAN};
  const double mean = m.sum / m.count;
  return {mean, m.count > 1 ? std::sqrt(m.centred_squares / (m.count - 1.0)) : NAN, m.at_or_below / m.count};
}

ActivationRecorder::ActivationRecorder(nn::Module& model, int64_t every) : every_(every) {
  if (every_ <= 0) return;
  for (auto& [name, module] : model.named_modules())
    if (module->has_own_parameters()) layers_.push_back({name.empty() ? "model" : name, module});
  recorded_.assign(layers_.size(), false);
  for (size_t i = 0; i < layers_.size(); ++i) {
    layers_[i].module->set_forward_hook([this, i](const Variable& output, const char* fused) {
      if (!armed_ || recorded_[i]) return;
      recorded_[i] = true;
      const LayerStats s = layer_stats(moments(output.data(), static_cast<float>(kNearZero)));
      pending_.push_back({step_, layers_[i].name + fused, s.mean, s.std, s.near_zero});
    });
  }
}

ActivationRecorder::~ActivationRecorder() {
  for (Layer& layer : layers_) layer.module->set_forward_hook(nullptr);
}

void ActivationRecorder::start_step(int64_t step) {
  armed_ = records(step);
  step_ = step;
  std::fill(recorded_.begin(), recorded_.end(), false);
}

void ActivationRecorder::end_step(std::vector<ActivationStat>& rows) {
  rows.insert(rows.end(), pending_.begin(), pending_.end());
  pending_.clear();
  armed_ = false;
}

namespace {

constexpr size_t kMaxPoints = 400;

bool is_activation(const std::string& layer) {
  const std::string suffix = "relu";
  return layer.size() >= suffix.size() && layer.compare(layer.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// From light blue (t = 0, the first layer) to dark blue (t = 1, the last).
std::string depth_color(double t) {
  const double light[3] = {158, 202, 225}, dark[3] = {8, 48, 107};
  char hex[8];
  int c[3];
  for (int k = 0; k < 3; ++k) c[k] = static_cast<int>(std::lround(light[k] + (dark[k] - light[k]) * t));
  std::snprintf(hex, sizeof hex, "#%02x%02x%02x", c[0], c[1], c[2]);
  return hex;
}

}  // namespace

std::vector<std::pair<std::string, plot::Chart>> activation_charts(const std::string& run_name,
                                                                   const std::vector<ActivationStat>& rows) {
  if (rows.empty()) return {};
  const bool only_activations = std::any_of(rows.begin(), rows.end(), [](const ActivationStat& r) {
    return is_activation(r.layer);
  });
  // The layers in the order they ran (the first recorded step's order), and their rows.
  std::vector<std::string> order;
  std::map<std::string, std::vector<const ActivationStat*>> by_layer;
  // At most kMaxPoints recorded steps a line (every k-th), so that a long run's page stays
  // light; the CSV keeps them all.
  std::vector<int64_t> steps;
  for (const ActivationStat& r : rows)
    if (steps.empty() || r.step != steps.back()) steps.push_back(r.step);
  const size_t stride = (steps.size() + kMaxPoints - 1) / kMaxPoints;
  std::set<int64_t> drawn;
  for (size_t i = 0; i < steps.size(); i += stride) drawn.insert(steps[i]);
  drawn.insert(steps.back());
  for (const ActivationStat& r : rows) {
    if (only_activations && !is_activation(r.layer)) continue;
    if (!drawn.count(r.step)) continue;
    auto& list = by_layer[r.layer];
    if (list.empty()) order.push_back(r.layer);
    list.push_back(&r);
  }
  struct Statistic {
    const char* file;
    const char* title;
    const char* axis;
    double ActivationStat::*field;
  };
  const Statistic statistics[] = {
      {"activations_mean.svg", "Mean of each layer's output", "mean", &ActivationStat::mean},
      {"activations_std.svg", "Standard deviation of each layer's output", "standard deviation", &ActivationStat::std},
      {"activations_near_zero.svg", "Share of each layer's output at or below 0.05", "share near zero",
       &ActivationStat::near_zero},
  };
  std::vector<std::pair<std::string, plot::Chart>> out;
  for (const Statistic& s : statistics) {
    plot::Chart chart;
    chart.title = std::string(s.title) + (only_activations ? " after its ReLU" : "") + ": " + run_name;
    chart.x_label = "step";
    chart.y_label = s.axis;
    std::vector<double> all;
    for (size_t i = 0; i < order.size(); ++i) {
      plot::Series series;
      const bool first = i == 0, last = i + 1 == order.size();
      if (first || last) series.name = order[i] + (first ? " (first)" : " (last)");
      if (first && last) series.name = order[i];
      series.color = depth_color(order.size() > 1 ? static_cast<double>(i) / static_cast<double>(order.size() - 1) : 1.0);
      for (const ActivationStat* r : by_layer[order[i]]) {
        series.x.push_back(static_cast<double>(r->step));
        series.y.push_back(r->*s.field);
        all.push_back(r->*s.field);
      }
      chart.series.push_back(std::move(series));
    }
    chart.log_y = s.field == &ActivationStat::std && plot::spans_decades(all);
    out.emplace_back(s.file, std::move(chart));
  }
  return out;
}

}  // namespace cyg::app
