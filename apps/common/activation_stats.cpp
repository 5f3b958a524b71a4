// ActivationStats: forward hooks, the statistics, the pictures.
#include "apps/common/activation_stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <set>

#include "apps/common/png.h"

namespace cyg::app {

bool after_relu(const std::string& layer) {
  const std::string suffix = "relu";
  return layer.size() >= suffix.size() && layer.compare(layer.size() - suffix.size(), suffix.size(), suffix) == 0;
}

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
      std::string hist;
      for (int64_t count : histogram(output.data(), kHistLow, kHistHigh, kHistBins))
        hist += (hist.empty() ? "" : " ") + std::to_string(count);
      pending_.push_back({step_, layers_[i].name + fused, s.mean, s.std, s.near_zero, hist});
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

namespace {

// The layers a picture draws, in the order they ran (the first recorded step's), each
// with its rows: the outputs after a ReLU where the net has any, else every layer; at
// most kMaxPoints recorded steps (every k-th from the first, and the last), so that a
// long run's page stays light (the CSV keeps them all).
struct DrawnLayers {
  bool only_activations = false;
  std::vector<std::string> order;
  std::map<std::string, std::vector<const ActivationStat*>> rows;
};

DrawnLayers drawn_layers(const std::vector<ActivationStat>& rows) {
  DrawnLayers d;
  d.only_activations =
      std::any_of(rows.begin(), rows.end(), [](const ActivationStat& r) { return after_relu(r.layer); });
  std::vector<int64_t> steps;
  for (const ActivationStat& r : rows)
    if (steps.empty() || r.step != steps.back()) steps.push_back(r.step);
  if (steps.empty()) return d;
  const size_t stride = (steps.size() + kMaxPoints - 1) / kMaxPoints;
  std::set<int64_t> drawn;
  for (size_t i = 0; i < steps.size(); i += stride) drawn.insert(steps[i]);
  drawn.insert(steps.back());
  for (const ActivationStat& r : rows) {
    if ((d.only_activations && !after_relu(r.layer)) || !drawn.count(r.step)) continue;
    auto& list = d.rows[r.layer];
    if (list.empty()) d.order.push_back(r.layer);
    list.push_back(&r);
  }
  return d;
}

}  // namespace

std::vector<std::pair<std::string, plot::Chart>> activation_charts(const std::string& run_name,
                                                                   const std::vector<ActivationStat>& rows) {
  if (rows.empty()) return {};
  const DrawnLayers drawn = drawn_layers(rows);
  const bool only_activations = drawn.only_activations;
  const std::vector<std::string>& order = drawn.order;
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
      for (const ActivationStat* r : drawn.rows.at(order[i])) {
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

std::vector<int64_t> histogram_counts(const std::string& hist) {
  std::vector<int64_t> counts;
  std::istringstream in(hist);
  for (std::string cell; in >> cell;) {
    char* end = nullptr;
    const long long v = std::strtoll(cell.c_str(), &end, 10);
    counts.push_back(*end == '\0' && v >= 0 ? v : 0);
  }
  return counts;
}

std::string activation_histograms_svg(const std::string& run_name, const std::vector<ActivationStat>& rows) {
  const DrawnLayers drawn = drawn_layers(rows);
  if (drawn.order.empty()) return "";
  constexpr int64_t kColumns = 4, kPanelW = 200, kPanelH = 80, kCellW = 236, kCellH = 124, kTop = 58;
  const auto n = static_cast<int64_t>(drawn.order.size());
  const int64_t columns = std::min(n, kColumns), width = columns * kCellW + 16;
  const int64_t height = kTop + (n + kColumns - 1) / kColumns * kCellH + 8;
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
     << "\" viewBox=\"0 0 " << width << " " << height << "\" font-family=\"sans-serif\">\n";
  os << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  os << "<text x=\"8\" y=\"22\" font-size=\"15\" font-weight=\"bold\">"
     << plot::escape_xml("Histograms of each layer's output" +
                         std::string(drawn.only_activations ? " after its ReLU" : "") + ": " + run_name)
     << "</text>\n";
  os << "<text x=\"8\" y=\"40\" font-size=\"11\" fill=\"#666\">"
     << "each column a recorded step, each row a bin of 0.25 from 0 (bottom) to 10 (top); darker: more values "
        "(log scale, each panel its own)</text>\n";
  for (int64_t k = 0; k < n; ++k) {
    const std::vector<const ActivationStat*>& layer_rows = drawn.rows.at(drawn.order[static_cast<size_t>(k)]);
    std::vector<std::vector<int64_t>> columns_counts;
    int64_t most = 0;
    for (const ActivationStat* r : layer_rows) {
      columns_counts.push_back(histogram_counts(r->hist));
      columns_counts.back().resize(kHistBins, 0);
      for (int64_t c : columns_counts.back()) most = std::max(most, c);
    }
    // The panel's pixels: nearest step and bin, white (none) to dark blue (the most).
    std::vector<uint8_t> pixels(static_cast<size_t>(kPanelW * kPanelH * 3));
    const double light[3] = {255, 255, 255}, dark[3] = {8, 48, 107};
    const auto steps = static_cast<int64_t>(columns_counts.size());
    for (int64_t y = 0; y < kPanelH; ++y)
      for (int64_t x = 0; x < kPanelW; ++x) {
        const int64_t bin = kHistBins - 1 - y * kHistBins / kPanelH;
        const int64_t c = columns_counts[static_cast<size_t>(x * steps / kPanelW)][static_cast<size_t>(bin)];
        const double t = most > 0 ? std::log1p(static_cast<double>(c)) / std::log1p(static_cast<double>(most)) : 0.0;
        for (int ch = 0; ch < 3; ++ch)
          pixels[static_cast<size_t>((y * kPanelW + x) * 3 + ch)] =
              static_cast<uint8_t>(std::lround(light[ch] + (dark[ch] - light[ch]) * t));
      }
    const int64_t x0 = (k % kColumns) * kCellW + 30, y0 = kTop + (k / kColumns) * kCellH;
    os << "<text x=\"" << x0 << "\" y=\"" << y0 + 12 << "\" font-size=\"11\">"
       << plot::escape_xml(drawn.order[static_cast<size_t>(k)]) << "</text>\n";
    os << "<image x=\"" << x0 << "\" y=\"" << y0 + 18 << "\" width=\"" << kPanelW << "\" height=\"" << kPanelH
       << "\" href=\"data:image/png;base64," << base64(png_bytes(pixels.data(), kPanelW, kPanelH, 3)) << "\"/>\n";
    os << "<rect x=\"" << x0 << "\" y=\"" << y0 + 18 << "\" width=\"" << kPanelW << "\" height=\"" << kPanelH
       << "\" fill=\"none\" stroke=\"#999\"/>\n";
    os << "<text x=\"" << x0 - 3 << "\" y=\"" << y0 + 26 << "\" font-size=\"9\" text-anchor=\"end\">10</text>\n";
    os << "<text x=\"" << x0 - 3 << "\" y=\"" << y0 + 18 + kPanelH << "\" font-size=\"9\" text-anchor=\"end\">0</text>\n";
    os << "<text x=\"" << x0 << "\" y=\"" << y0 + 30 + kPanelH << "\" font-size=\"9\">step "
       << layer_rows.front()->step << "</text>\n";
    os << "<text x=\"" << x0 + kPanelW << "\" y=\"" << y0 + 30 + kPanelH << "\" font-size=\"9\" text-anchor=\"end\">"
       << layer_rows.back()->step << "</text>\n";
  }
  os << "</svg>\n";
  return os.str();
}

}  // namespace cyg::app
