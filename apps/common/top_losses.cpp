// The highest-loss images (apps/common/top_losses.h).
#include "apps/common/top_losses.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "apps/common/image_grid.h"
#include "apps/common/plot.h"
#include "kernels/error.h"
#include "kernels/loss.h"

namespace cyg::app {
namespace {

// The `count` highest losses of `all`, highest first (a NaN loss, of NaN logits, counts as
// the highest), ties in index order.
std::vector<TopLoss> highest(std::vector<TopLoss> all, int64_t count) {
  const size_t kept = std::min(all.size(), static_cast<size_t>(count));
  auto first = [](const TopLoss& a, const TopLoss& b) {
    const bool a_nan = std::isnan(a.loss), b_nan = std::isnan(b.loss);
    if (a_nan != b_nan) return a_nan;
    if (!a_nan && a.loss != b.loss) return a.loss > b.loss;
    return a.index < b.index;
  };
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(kept), all.end(), first);
  all.resize(kept);
  return all;
}

}  // namespace

std::vector<TopLoss> top_losses(const Predictions& predictions, int64_t classes, int64_t count) {
  CYG_CHECK(classes > 0 && predictions.logits.size() == predictions.labels.size() * static_cast<size_t>(classes),
            "top_losses: ", predictions.logits.size(), " logits for ", predictions.labels.size(), " images of ",
            classes, " classes");
  CYG_CHECK(count >= 0, "top_losses: count ", count);
  std::vector<TopLoss> all;
  all.reserve(predictions.labels.size());
  for (size_t i = 0; i < predictions.labels.size(); ++i) {
    const float* row = predictions.logits.data() + i * static_cast<size_t>(classes);
    const double log_sum = row_logsumexp(row, classes);
    TopLoss t;
    t.index = predictions.positions.size() == predictions.labels.size() ? predictions.positions[i]
                                                                       : static_cast<int64_t>(i);
    t.label = predictions.labels[i];
    CYG_CHECK(t.label >= 0 && t.label < classes, "top_losses: label ", t.label, " outside the ", classes, " classes");
    t.pred = row_argmax(row, classes);
    t.loss = log_sum - static_cast<double>(row[t.label]);
    t.label_probability = std::exp(-t.loss);
    t.pred_probability = std::exp(static_cast<double>(row[t.pred]) - log_sum);
    all.push_back(t);
  }
  return highest(std::move(all), count);
}

std::vector<TopLoss> top_losses(const Predictions& predictions, int64_t classes, int64_t count,
                                Communicator* communicator) {
  std::vector<TopLoss> mine = top_losses(predictions, classes, count);
  if (communicator == nullptr || communicator->size() == 1) return mine;
  // Each rank's best `count`, in its own rows of one buffer summed over the ranks: a
  // present flag and the six fields, as doubles (indices stay exact below 2^53).
  constexpr int64_t kFields = 7;
  const int64_t ranks = communicator->size();
  std::vector<double> rows(static_cast<size_t>(ranks * count * kFields), 0.0);
  for (size_t k = 0; k < mine.size(); ++k) {
    double* row = rows.data() + (static_cast<size_t>(communicator->rank() * count) + k) * kFields;
    const TopLoss& t = mine[k];
    const double fields[kFields] = {1.0, static_cast<double>(t.index), static_cast<double>(t.label),
                                    static_cast<double>(t.pred), t.loss, t.label_probability, t.pred_probability};
    std::copy(fields, fields + kFields, row);
  }
  communicator->all_reduce_sum(rows.data(), static_cast<int64_t>(rows.size()));
  std::vector<TopLoss> all;
  for (int64_t r = 0; r < ranks * count; ++r) {
    const double* row = rows.data() + r * kFields;
    if (row[0] == 0.0) continue;
    TopLoss t;
    t.index = static_cast<int64_t>(row[1]);
    t.label = static_cast<int64_t>(row[2]);
    t.pred = static_cast<int64_t>(row[3]);
    t.loss = row[4];
    t.label_probability = row[5];
    t.pred_probability = row[6];
    all.push_back(t);
  }
  return highest(std::move(all), count);
}

std::string top_losses_report(const std::vector<TopLoss>& top, const std::vector<std::string>& names,
                              const std::vector<std::string>& files) {
  std::ostringstream os;
  os << "the " << top.size() << " image" << (top.size() == 1 ? "" : "s")
     << " with the highest loss (true class, predicted class, loss, probability of each):\n";
  char line[256];
  for (size_t r = 0; r < top.size(); ++r) {
    const TopLoss& t = top[r];
    std::snprintf(line, sizeof line, "  %3zu. image %-6lld %-14s as %-14s loss %7.4f  p(true) %.4f  p(pred) %.4f",
                  r + 1, static_cast<long long>(t.index), class_name(names, t.label).substr(0, 14).c_str(),
                  class_name(names, t.pred).substr(0, 14).c_str(), t.loss, t.label_probability, t.pred_probability);
    os << line;
    if (t.index >= 0 && static_cast<size_t>(t.index) < files.size()) os << "  " << files[static_cast<size_t>(t.index)];
    os << "\n";
  }
  return os.str();
}

namespace {

// "image 12", or the image's file name (its last 16 characters, an ellipsis before).
std::string image_said(int64_t index, const std::vector<std::string>& files) {
  if (index < 0 || static_cast<size_t>(index) >= files.size()) return "image " + std::to_string(index);
  std::string name = files[static_cast<size_t>(index)];
  const size_t slash = name.find_last_of('/');
  if (slash != std::string::npos) name = name.substr(slash + 1);
  // Cut on a UTF-8 character's first byte.
  if (name.size() > 16) {
    size_t from = name.size() - 15;
    while (from < name.size() && (static_cast<unsigned char>(name[from]) & 0xC0) == 0x80) ++from;
    name = "\u2026" + name.substr(from);
  }
  return name;
}

}  // namespace

std::string top_losses_svg(const std::vector<TopLoss>& top, const Tensor& images, const std::vector<std::string>& names,
                           const std::string& title, const std::string& subtitle,
                           const std::vector<std::string>& files) {
  std::vector<GridCell> cells;
  char number[64];
  for (size_t k = 0; k < top.size(); ++k) {
    const TopLoss& t = top[k];
    std::snprintf(number, sizeof number, "loss %.2f, p(true) %.4f", t.loss, t.label_probability);
    cells.push_back({t.index,
                     {{plot::escape_xml(class_name(names, t.label)) + " as <tspan fill=\"#c0392b\">" +
                           plot::escape_xml(class_name(names, t.pred)) + "</tspan>",
                       12, "#000"},
                      {number, 11, "#444"},
                      {"#" + std::to_string(k + 1) + ", " + plot::escape_xml(image_said(t.index, files)), 11, "#888"}}});
  }
  return image_grid_svg(cells, images, title, subtitle);
}

}  // namespace cyg::app
