// The confusion matrix as one SVG (apps/common/confusion_plot.h).
#include "apps/common/confusion_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "apps/common/plot.h"
#include "kernels/error.h"

namespace cyg::app {
namespace {

// The colour stops of the shade: white, light blue, dark blue, at shares 0, 1/2 and 1.
struct Rgb {
  double r, g, b;
};
constexpr Rgb kShadeStops[3] = {{247, 251, 255}, {107, 174, 214}, {8, 48, 107}};

std::string percent(int64_t part, int64_t whole) {
  if (whole <= 0) return "—";
  char text[32];
  std::snprintf(text, sizeof text, "%.1f%%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
  return text;
}

}  // namespace

std::string confusion_shade(double share) {
  const double s = std::isnan(share) ? 0.0 : std::clamp(share, 0.0, 1.0);
  const int half = s < 0.5 ? 0 : 1;
  const double t = s < 0.5 ? s / 0.5 : (s - 0.5) / 0.5;
  const Rgb &a = kShadeStops[half], &b = kShadeStops[half + 1];
  auto channel = [t](double from, double to) { return static_cast<int>(std::lround(from + (to - from) * t)); };
  char color[8];
  std::snprintf(color, sizeof color, "#%02x%02x%02x", channel(a.r, b.r), channel(a.g, b.g), channel(a.b, b.b));
  return color;
}

std::string confusion_svg(const Confusion& confusion, const std::vector<std::string>& names, const std::string& title,
                          const std::string& subtitle) {
  const int64_t n = confusion.classes;
  CYG_CHECK(n >= 1 && n <= kMostConfusionPictureClasses, "confusion_svg: ", n, " classes; the picture draws 1 to ",
            kMostConfusionPictureClasses);
  CYG_CHECK(static_cast<int64_t>(confusion.counts.size()) == n * n, "confusion_svg: ", confusion.counts.size(),
            " counts for ", n, " classes");
  const double cell = n <= 10 ? 48.0 : std::max(12.0, std::floor(480.0 / static_cast<double>(n)));
  // The class names shrink with the cells (from 28 classes on), so that neighbours'
  // labels do not overlap: rotated by 45 degrees they stand cell / sqrt(2) apart.
  const double label_font = std::min(12.0, std::floor(cell * 0.7));
  const double count_font = std::clamp(std::floor(cell * 0.3), 8.0, 13.0);
  const bool counts = n <= kConfusionCountsUpTo;
  std::vector<std::string> labels;
  double widest = 0;
  for (int64_t k = 0; k < n; ++k) {
    labels.push_back(class_name(names, k));
    widest = std::max(widest, plot::text_width(labels.back(), label_font));
  }
  // Left to right: the axis title "true class", the row labels, the grid, the accuracies.
  // Top to bottom: title, subtitle, the column labels (rotated 45 degrees), the grid, the
  // axis title "predicted class".
  const double diagonal = std::sqrt(0.5);
  const double grid_left = std::round(30 + widest + 10), grid_top = std::round(56 + widest * diagonal + 14);
  const double grid_right = grid_left + cell * static_cast<double>(n), grid_bottom = grid_top + cell * static_cast<double>(n);
  const double column_label_reach = grid_left + cell * (static_cast<double>(n) - 0.5) + widest * diagonal + 12;
  const double width = std::ceil(std::max({grid_right + 70, column_label_reach, 16 + plot::text_width(title, 15) * 1.1,
                                           16 + plot::text_width(subtitle, 11)}));
  const double height = std::ceil(grid_bottom + 40);
  using plot::num;
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << num(width) << "\" height=\"" << num(height)
     << "\" viewBox=\"0 0 " << num(width) << " " << num(height) << "\" font-family=\"sans-serif\">\n";
  os << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  os << "<text x=\"8\" y=\"22\" font-size=\"15\" font-weight=\"bold\">" << plot::escape_xml(title) << "</text>\n";
  os << "<text x=\"8\" y=\"40\" font-size=\"11\" fill=\"#666\">" << plot::escape_xml(subtitle) << "</text>\n";
  // Column labels, rising to the right from each column's centre.
  for (int64_t p = 0; p < n; ++p) {
    const double x = grid_left + cell * (static_cast<double>(p) + 0.5);
    os << "<text transform=\"translate(" << num(x) << " " << num(grid_top - 6) << ") rotate(-45)\" font-size=\""
       << num(label_font) << "\">" << plot::escape_xml(labels[static_cast<size_t>(p)]) << "</text>\n";
  }
  os << "<text x=\"" << num(grid_right + 8) << "\" y=\"" << num(grid_top - 6)
     << "\" font-size=\"11\" fill=\"#666\">accuracy</text>\n";
  for (int64_t t = 0; t < n; ++t) {
    const double y = grid_top + cell * static_cast<double>(t);
    const int64_t images = confusion.images_of(t);
    os << "<text x=\"" << num(grid_left - 6) << "\" y=\"" << num(y + cell / 2 + label_font / 3) << "\" font-size=\""
       << num(label_font) << "\" text-anchor=\"end\">" << plot::escape_xml(labels[static_cast<size_t>(t)]) << "</text>\n";
    for (int64_t p = 0; p < n; ++p) {
      const int64_t count = confusion.counts[static_cast<size_t>(t * n + p)];
      const double share = images > 0 ? static_cast<double>(count) / static_cast<double>(images) : 0.0;
      const double x = grid_left + cell * static_cast<double>(p);
      os << "<rect x=\"" << num(x) << "\" y=\"" << num(y) << "\" width=\"" << num(cell) << "\" height=\"" << num(cell)
         << "\" fill=\"" << confusion_shade(share) << "\" stroke=\"#ddd\" stroke-width=\"0.5\"><title>"
         << plot::escape_xml(labels[static_cast<size_t>(t)] + (t == p ? " predicted right: " : " predicted as " +
                                                                labels[static_cast<size_t>(p)] + ": ") +
                             std::to_string(count) + " of " + std::to_string(images) + " (" + percent(count, images) +
                             ")")
         << "</title></rect>\n";
      if (counts)
        os << "<text x=\"" << num(x + cell / 2) << "\" y=\"" << num(y + cell / 2 + count_font * 0.35)
           << "\" font-size=\"" << num(count_font) << "\" text-anchor=\"middle\" fill=\""
           << (share > 0.5 ? "white" : "#222") << "\">" << count << "</text>\n";
    }
    os << "<text x=\"" << num(grid_right + 8) << "\" y=\"" << num(y + cell / 2 + 4) << "\" font-size=\""
       << num(std::min(11.0, label_font)) << "\" fill=\"#444\">" << percent(confusion.correct_of(t), images)
       << "</text>\n";
  }
  os << "<rect x=\"" << num(grid_left) << "\" y=\"" << num(grid_top) << "\" width=\"" << num(grid_right - grid_left)
     << "\" height=\"" << num(grid_bottom - grid_top) << "\" fill=\"none\" stroke=\"#888\"/>\n";
  os << "<text x=\"" << num((grid_left + grid_right) / 2) << "\" y=\"" << num(grid_bottom + 26)
     << "\" font-size=\"13\" text-anchor=\"middle\">predicted class</text>\n";
  os << "<text transform=\"translate(18 " << num((grid_top + grid_bottom) / 2)
     << ") rotate(-90)\" font-size=\"13\" text-anchor=\"middle\">true class</text>\n";
  os << "</svg>\n";
  return os.str();
}

}  // namespace cyg::app
