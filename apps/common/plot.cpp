// SVG rendering of cyg::plot charts: axis ranges and nice ticks, series as polylines
// broken at undrawable points, marker labels stacked so they don't collide, and the
// legend wherever in the plot it covers the least data.
#include "apps/common/plot.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace cyg::plot {
namespace {

constexpr std::array<const char*, 9> kPalette = {"#332288", "#CC6677", "#117733", "#88CCEE", "#882255",
                                                 "#44AA99", "#999933", "#AA4499", "#DDCC77"};

constexpr double kTickFont = 11.0;
constexpr double kAxisLabelFont = 13.0;
constexpr double kTitleFont = 16.0;
constexpr double kLegendRow = 16.0;
constexpr double kMarkerRow = 14.0;
constexpr double kLineWidth = 1.8;
// Average advance of a sans-serif glyph as a share of the font size, on the generous
// side so that estimated boxes contain their text.
constexpr double kGlyphAdvance = 0.57;
// More labelled decades than this crowd the axis; the rest keep grid lines only.
constexpr int kMaxDecadeLabels = 10;

using Point = std::pair<double, double>;

// Pixel coordinates with at most two decimals and no trailing zeros.
std::string num(double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.2f", v);
  std::string s = buffer;
  if (s.find('.') != std::string::npos) {
    s.erase(s.find_last_not_of('0') + 1);
    if (s.back() == '.') s.pop_back();
  }
  return s == "-0" ? "0" : s;
}

std::string fixed(double v, int decimals) {
  char buffer[400];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v);
  return buffer;
}

std::string strip_zeros(std::string s) {
  if (s.find('.') != std::string::npos && s.find('e') == std::string::npos) {
    s.erase(s.find_last_not_of('0') + 1);
    if (s.back() == '.') s.pop_back();
  }
  return s == "-0" ? "0" : s;
}

double text_width(const std::string& utf8, double font_size) {
  const auto glyphs = std::count_if(utf8.begin(), utf8.end(),
                                    [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
  return static_cast<double>(glyphs) * kGlyphAdvance * font_size;
}

// Labels of linear ticks: the fewest decimals that still tell every tick apart and
// round-trip, trailing zeros dropped per label ("0, 0.2, 0.4"); scientific notation
// for very large or very fine axes.
std::vector<std::string> linear_labels(const std::vector<double>& ticks) {
  const double step = ticks[1] - ticks[0];
  const double tolerance = step * 1e-6;
  double largest = 0.0;
  for (double t : ticks) largest = std::max(largest, std::fabs(t));
  auto round_trips = [&](const char* format, int precision) {
    for (double t : ticks) {
      char buffer[400];
      std::snprintf(buffer, sizeof buffer, format, precision, t);
      if (std::fabs(std::strtod(buffer, nullptr) - t) > tolerance) return false;
    }
    return true;
  };
  const char* format = "%.*f";
  int precision = 0;
  while (precision < 7 && !round_trips(format, precision)) ++precision;
  if (largest >= 1e7 || !round_trips(format, precision)) {
    format = "%.*g";
    precision = 1;
    while (precision < 17 && !round_trips(format, precision)) ++precision;
  }
  std::vector<std::string> labels;
  for (double t : ticks) {
    char buffer[400];
    std::snprintf(buffer, sizeof buffer, format, precision, std::fabs(t) < tolerance ? 0.0 : t);
    labels.push_back(strip_zeros(buffer));
  }
  return labels;
}

// Decades read as plain numbers while they are short (0.001 ... 1000), otherwise all
// as 1eK so the axis stays in one notation.
std::vector<std::string> decade_labels(const std::vector<double>& ticks) {
  std::vector<int> exponents;
  for (double t : ticks) exponents.push_back(static_cast<int>(std::lround(std::log10(t))));
  const bool plain = exponents.front() >= -3 && exponents.back() <= 3;
  std::vector<std::string> labels;
  for (int k : exponents) {
    labels.push_back(plain ? fixed(k >= 0 ? std::pow(10.0, k) : 1.0 / std::pow(10.0, -k), std::max(0, -k))
                           : "1e" + std::to_string(k));
  }
  return labels;
}

struct Extent {
  double lo = 0.0, hi = 0.0;
  bool empty = true;
  void add(double v) {
    lo = empty ? v : std::min(lo, v);
    hi = empty ? v : std::max(hi, v);
    empty = false;
  }
};

struct Axis {
  std::vector<double> ticks;  // the first and the last are the axis' ends
  bool log = false;
  double pixel_lo = 0.0, pixel_hi = 0.0;  // where ticks.front() and ticks.back() land

  Axis(const Extent& extent, bool log_scale, double from, double to) : log(log_scale), pixel_lo(from), pixel_hi(to) {
    if (extent.empty) ticks = log ? decade_ticks(1.0, 10.0) : linear_ticks(0.0, 1.0);
    else ticks = log ? decade_ticks(extent.lo, extent.hi) : linear_ticks(extent.lo, extent.hi);
  }

  double pixel(double v) const {
    const double a = ticks.front(), b = ticks.back();
    const double t = log ? (std::log10(v) - std::log10(a)) / (std::log10(b) - std::log10(a)) : (v - a) / (b - a);
    return pixel_lo + t * (pixel_hi - pixel_lo);
  }

  std::vector<std::string> labels() const { return log ? decade_labels(ticks) : linear_labels(ticks); }
};

struct Box {
  double x0, y0, x1, y1;
  bool contains(const Point& p) const { return p.first >= x0 && p.first <= x1 && p.second >= y0 && p.second <= y1; }
  bool overlaps(const Box& o, double gap) const {
    return x0 < o.x1 + gap && o.x0 < x1 + gap && y0 < o.y1 + gap && o.y0 < y1 + gap;
  }
};

// Points every few pixels along a polyline: what the legend should not cover.
void sample_polyline(const std::vector<Point>& line, std::vector<Point>& out) {
  constexpr double kSpacing = 6.0;
  if (line.size() == 1) out.push_back(line[0]);
  for (std::size_t i = 1; i < line.size(); ++i) {
    const auto [x0, y0] = line[i - 1];
    const auto [x1, y1] = line[i];
    const int pieces = std::max(1, static_cast<int>(std::hypot(x1 - x0, y1 - y0) / kSpacing));
    for (int k = 0; k <= pieces; ++k) {
      const double t = static_cast<double>(k) / pieces;
      out.emplace_back(x0 + t * (x1 - x0), y0 + t * (y1 - y0));
    }
  }
}

void validate(const Chart& chart) {
  for (const Series& s : chart.series) {
    if (s.x.size() != s.y.size()) {
      throw std::invalid_argument("plot: series '" + s.name + "' has " + std::to_string(s.x.size()) + " x values but " +
                                  std::to_string(s.y.size()) + " y values");
    }
    if (s.axis != 0 && s.axis != 1) {
      throw std::invalid_argument("plot: series '" + s.name + "' has axis " + std::to_string(s.axis) +
                                  " (0: left, 1: right)");
    }
  }
}

}  // namespace

std::vector<double> linear_ticks(double lo, double hi) {
  if (!(std::isfinite(lo) && std::isfinite(hi) && lo <= hi)) {
    throw std::invalid_argument("linear_ticks: need finite lo <= hi, got [" + std::to_string(lo) + ", " +
                                std::to_string(hi) + "]");
  }
  if (lo == hi) {
    const double pad = lo == 0.0 ? 1.0 : std::fabs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const double raw_step = (hi - lo) / 6.0;
  int exponent = static_cast<int>(std::floor(std::log10(raw_step)));
  const double mantissa = raw_step / std::pow(10.0, exponent);
  long long multiple = mantissa < 1.5 ? 1 : mantissa < 3.0 ? 2 : mantissa < 7.0 ? 5 : 10;
  if (multiple == 10) {
    multiple = 1;
    ++exponent;
  }
  // An integer scaled by an exact power of ten, so 3 * 0.1 comes out as the double
  // nearest 0.3 (what a reader's literal gives), not 0.30000000000000004.
  auto tick = [&](long long k) {
    const auto units = static_cast<double>(k * multiple);
    return exponent >= 0 ? units * std::pow(10.0, exponent) : units / std::pow(10.0, -exponent);
  };
  const double step = tick(1);
  const auto first = static_cast<long long>(std::floor(lo / step + 1e-9));
  const auto last = static_cast<long long>(std::ceil(hi / step - 1e-9));
  std::vector<double> ticks;
  for (long long k = first; k <= last; ++k) ticks.push_back(tick(k));
  return ticks;
}

std::vector<double> decade_ticks(double lo, double hi) {
  if (!(std::isfinite(lo) && std::isfinite(hi) && lo > 0.0 && lo <= hi)) {
    throw std::invalid_argument("decade_ticks: need finite 0 < lo <= hi, got [" + std::to_string(lo) + ", " +
                                std::to_string(hi) + "]");
  }
  // The tolerance keeps an exact power of ten (whose log10 may be off by an ulp) as
  // its own end rather than widening by a decade.
  auto first = static_cast<int>(std::floor(std::log10(lo) + 1e-9));
  auto last = static_cast<int>(std::ceil(std::log10(hi) - 1e-9));
  if (first == last) {
    --first;
    ++last;
  }
  std::vector<double> ticks;
  for (int k = first; k <= last; ++k) ticks.push_back(k >= 0 ? std::pow(10.0, k) : 1.0 / std::pow(10.0, -k));
  return ticks;
}

std::string palette_color(std::size_t index) { return kPalette[index % kPalette.size()]; }

std::string escape_xml(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string render_svg(const Chart& chart) {
  validate(chart);
  const bool has_right_axis =
      std::any_of(chart.series.begin(), chart.series.end(), [](const Series& s) { return s.axis == 1; });
  const double left = kMarginLeft;
  const double right = kWidth - (has_right_axis ? kMarginRightWithAxis : kMarginRight);
  const double top = kMarginTop;
  const double bottom = kHeight - kMarginBottom;
  const double mid_x = (left + right) / 2.0, mid_y = (top + bottom) / 2.0;

  auto drawable_x = [&](double x) { return std::isfinite(x) && (!chart.log_x || x > 0.0); };
  Extent x_extent;
  std::array<Extent, 2> y_extent;
  for (const Series& s : chart.series) {
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (drawable_x(s.x[i]) && std::isfinite(s.y[i])) {
        x_extent.add(s.x[i]);
        y_extent[static_cast<std::size_t>(s.axis)].add(s.y[i]);
      }
    }
  }
  std::vector<const Marker*> markers;
  for (const Marker& m : chart.markers) {
    if (drawable_x(m.x)) {
      markers.push_back(&m);
      x_extent.add(m.x);
    }
  }
  const Axis x_axis(x_extent, chart.log_x, left, right);
  const std::array<Axis, 2> y_axes = {Axis(y_extent[0], false, bottom, top), Axis(y_extent[1], false, bottom, top)};
  // The grid follows the left axis unless only the right one carries data.
  const Axis& grid_axis = y_extent[0].empty && !y_extent[1].empty ? y_axes[1] : y_axes[0];

  std::ostringstream svg;
  svg << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " << num(kWidth) << ' ' << num(kHeight)
      << "\" width=\"" << num(kWidth) << "\" height=\"" << num(kHeight)
      << "\" font-family=\"Helvetica, Arial, sans-serif\">\n";
  if (!chart.title.empty()) svg << "<title>" << escape_xml(chart.title) << "</title>\n";
  svg << "<rect width=\"" << num(kWidth) << "\" height=\"" << num(kHeight) << "\" fill=\"white\"/>\n";

  auto vertical = [&](double x, double y0, double y1) {
    svg << "<line x1=\"" << num(x) << "\" y1=\"" << num(y0) << "\" x2=\"" << num(x) << "\" y2=\"" << num(y1)
        << "\"/>\n";
  };
  auto horizontal = [&](double y, double x0, double x1) {
    svg << "<line x1=\"" << num(x0) << "\" y1=\"" << num(y) << "\" x2=\"" << num(x1) << "\" y2=\"" << num(y)
        << "\"/>\n";
  };
  auto text = [&](double x, double y, const char* anchor, const std::string& s, const std::string& extra = "") {
    svg << "<text x=\"" << num(x) << "\" y=\"" << num(y) << "\" text-anchor=\"" << anchor << '"' << extra << '>'
        << escape_xml(s) << "</text>\n";
  };

  // Minor decades (2..9 x 10^k) as fainter lines: the reader can place a value between
  // labelled decades, as on log paper.
  std::vector<double> minor_x;
  if (x_axis.log && x_axis.ticks.size() <= static_cast<std::size_t>(2 * kMaxDecadeLabels)) {
    for (std::size_t i = 0; i + 1 < x_axis.ticks.size(); ++i)
      for (int m = 2; m <= 9; ++m) minor_x.push_back(x_axis.ticks[i] * m);
  }
  svg << "<g stroke=\"#f0f0f0\" stroke-width=\"1\">\n";
  for (double v : minor_x) vertical(x_axis.pixel(v), top, bottom);
  svg << "</g>\n<g stroke=\"#dddddd\" stroke-width=\"1\">\n";
  for (double v : x_axis.ticks) vertical(x_axis.pixel(v), top, bottom);
  for (double v : grid_axis.ticks) horizontal(grid_axis.pixel(v), left, right);
  svg << "</g>\n";
  svg << "<rect x=\"" << num(left) << "\" y=\"" << num(top) << "\" width=\"" << num(right - left) << "\" height=\""
      << num(bottom - top) << "\" fill=\"none\" stroke=\"#444444\" stroke-width=\"1\"/>\n";

  svg << "<g stroke=\"#444444\" stroke-width=\"1\">\n";
  for (double v : x_axis.ticks) vertical(x_axis.pixel(v), bottom, bottom + 5.0);
  for (double v : minor_x) vertical(x_axis.pixel(v), bottom, bottom + 3.0);
  for (double v : y_axes[0].ticks) horizontal(y_axes[0].pixel(v), left - 5.0, left);
  if (has_right_axis)
    for (double v : y_axes[1].ticks) horizontal(y_axes[1].pixel(v), right, right + 5.0);
  svg << "</g>\n";

  const double baseline_shift = 0.35 * kTickFont;  // puts a label's middle on its tick
  svg << "<g font-size=\"" << num(kTickFont) << "\" fill=\"#333333\">\n";
  {
    const auto labels = x_axis.labels();
    const std::size_t stride =
        x_axis.log ? (labels.size() + kMaxDecadeLabels - 1) / static_cast<std::size_t>(kMaxDecadeLabels) : 1;
    for (std::size_t i = 0; i < labels.size(); i += stride)
      text(x_axis.pixel(x_axis.ticks[i]), bottom + 8.0 + kTickFont, "middle", labels[i]);
  }
  {
    const auto labels = y_axes[0].labels();
    for (std::size_t i = 0; i < labels.size(); ++i)
      text(left - 8.0, y_axes[0].pixel(y_axes[0].ticks[i]) + baseline_shift, "end", labels[i]);
  }
  if (has_right_axis) {
    const auto labels = y_axes[1].labels();
    for (std::size_t i = 0; i < labels.size(); ++i)
      text(right + 8.0, y_axes[1].pixel(y_axes[1].ticks[i]) + baseline_shift, "start", labels[i]);
  }
  svg << "</g>\n";

  svg << "<g font-size=\"" << num(kAxisLabelFont) << "\" fill=\"#222222\">\n";
  if (!chart.x_label.empty()) text(mid_x, kHeight - 14.0, "middle", chart.x_label);
  if (!chart.y_label.empty())
    text(0.0, 0.0, "middle", chart.y_label, " transform=\"translate(18 " + num(mid_y) + ") rotate(-90)\"");
  if (has_right_axis && !chart.y2_label.empty()) {
    text(0.0, 0.0, "middle", chart.y2_label,
         " transform=\"translate(" + num(kWidth - 14.0) + ' ' + num(mid_y) + ") rotate(90)\"");
  }
  svg << "</g>\n";
  if (!chart.title.empty()) {
    text(mid_x, 26.0, "middle", chart.title,
         " font-size=\"" + num(kTitleFont) + "\" font-weight=\"600\" fill=\"#111111\"");
  }

  // Everything the legend should keep clear of, in pixels.
  std::vector<Point> occupied;

  svg << "<g stroke=\"#555555\" stroke-width=\"1\" stroke-dasharray=\"4 3\">\n";
  for (const Marker* m : markers) {
    const double x = x_axis.pixel(m->x);
    vertical(x, top, bottom);
    sample_polyline({{x, top}, {x, bottom}}, occupied);
  }
  svg << "</g>\n";

  for (std::size_t i = 0; i < chart.series.size(); ++i) {
    const Series& s = chart.series[i];
    const Axis& y_axis = y_axes[static_cast<std::size_t>(s.axis)];
    const std::string color = escape_xml(s.color.empty() ? palette_color(i) : s.color);
    std::vector<std::vector<Point>> pieces(1);
    for (std::size_t k = 0; k < s.x.size(); ++k) {
      if (drawable_x(s.x[k]) && std::isfinite(s.y[k])) pieces.back().emplace_back(x_axis.pixel(s.x[k]), y_axis.pixel(s.y[k]));
      else if (!pieces.back().empty()) pieces.emplace_back();
    }
    for (const auto& piece : pieces) {
      if (piece.empty()) continue;
      sample_polyline(piece, occupied);
      if (piece.size() == 1) {
        svg << "<circle cx=\"" << num(piece[0].first) << "\" cy=\"" << num(piece[0].second) << "\" r=\"2.5\" fill=\""
            << color << "\"/>\n";
        continue;
      }
      svg << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"" << num(kLineWidth)
          << "\" stroke-linejoin=\"round\"" << (s.dashed ? " stroke-dasharray=\"6 4\"" : "") << " points=\"";
      for (std::size_t k = 0; k < piece.size(); ++k)
        svg << (k ? " " : "") << num(piece[k].first) << ',' << num(piece[k].second);
      svg << "\"/>\n";
    }
  }

  if (x_extent.empty && y_extent[0].empty && y_extent[1].empty)
    text(mid_x, mid_y, "middle", "no data", " font-size=\"" + num(kAxisLabelFont) + "\" fill=\"#888888\"");

  // Marker labels along the top of the plot, each on the first row where it overlaps
  // no other, read left to right.
  std::vector<const Marker*> by_x = markers;
  std::stable_sort(by_x.begin(), by_x.end(), [](const Marker* a, const Marker* b) { return a->x < b->x; });
  std::vector<std::vector<Box>> rows;
  const auto max_rows = static_cast<std::size_t>(std::max(1.0, std::floor((bottom - top) / kMarkerRow) - 1.0));
  svg << "<g font-size=\"" << num(kTickFont)
      << "\" fill=\"#333333\" stroke=\"white\" stroke-width=\"3\" stroke-linejoin=\"round\" paint-order=\"stroke\">\n";
  for (const Marker* m : by_x) {
    if (m->label.empty()) continue;
    const double x = x_axis.pixel(m->x);
    const double width = text_width(m->label, kTickFont);
    const bool to_right = x + 4.0 + width <= right - 4.0;
    const double x0 = to_right ? x + 4.0 : x - 4.0 - width;
    std::size_t row = 0;
    auto fits = [&](std::size_t r) {
      const Box box{x0, 0.0, x0 + width, 1.0};
      return r >= rows.size() ||
             std::none_of(rows[r].begin(), rows[r].end(), [&](const Box& b) { return b.overlaps(box, 4.0); });
    };
    while (row + 1 < max_rows && !fits(row)) ++row;
    if (row >= rows.size()) rows.resize(row + 1);
    rows[row].push_back({x0, 0.0, x0 + width, 1.0});
    const double baseline = top + (static_cast<double>(row) + 1.0) * kMarkerRow;
    text(to_right ? x + 4.0 : x - 4.0, baseline, to_right ? "start" : "end", m->label);
    for (double sx = x0; sx <= x0 + width; sx += 4.0)
      for (double sy = baseline - kTickFont; sy <= baseline; sy += 4.0) occupied.emplace_back(sx, sy);
  }
  svg << "</g>\n";

  std::vector<const Series*> entries;
  std::vector<std::string> entry_colors;
  double widest = 0.0;
  for (std::size_t i = 0; i < chart.series.size(); ++i) {
    const Series& s = chart.series[i];
    if (s.name.empty()) continue;
    entries.push_back(&s);
    entry_colors.push_back(escape_xml(s.color.empty() ? palette_color(i) : s.color));
    widest = std::max(widest, text_width(s.name, kTickFont));
  }
  if (!entries.empty()) {
    constexpr double kSample = 24.0, kPad = 8.0, kInset = 8.0;
    const double width = kPad + kSample + 6.0 + widest + kPad;
    const double height = 2.0 * 6.0 + kLegendRow * static_cast<double>(entries.size());
    // Corners first, then edge middles, then the centre: on a tie the earlier wins.
    const double x_right = right - kInset - width, x_left = left + kInset, x_mid = (left + right - width) / 2.0;
    const double y_top = top + kInset, y_bottom = bottom - kInset - height, y_mid = (top + bottom - height) / 2.0;
    const std::array<Point, 9> spots = {Point{x_right, y_top}, Point{x_left, y_top},    Point{x_right, y_bottom},
                                        Point{x_left, y_bottom}, Point{x_mid, y_top},    Point{x_mid, y_bottom},
                                        Point{x_right, y_mid},  Point{x_left, y_mid},   Point{x_mid, y_mid}};
    Point best = spots[0];
    long best_cover = -1;
    for (const Point& c : spots) {
      const Box box{c.first, c.second, c.first + width, c.second + height};
      const long cover = std::count_if(occupied.begin(), occupied.end(), [&](const Point& p) { return box.contains(p); });
      if (best_cover < 0 || cover < best_cover) {
        best = c;
        best_cover = cover;
      }
    }
    const auto [bx, by] = best;
    svg << "<g font-size=\"" << num(kTickFont) << "\">\n<rect x=\"" << num(bx) << "\" y=\"" << num(by)
        << "\" width=\"" << num(width) << "\" height=\"" << num(height)
        << "\" fill=\"white\" fill-opacity=\"0.9\" stroke=\"#bbbbbb\" stroke-width=\"1\"/>\n";
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const double cy = by + 6.0 + kLegendRow * (static_cast<double>(i) + 0.5);
      svg << "<line x1=\"" << num(bx + kPad) << "\" y1=\"" << num(cy) << "\" x2=\"" << num(bx + kPad + kSample)
          << "\" y2=\"" << num(cy) << "\" stroke=\"" << entry_colors[i] << "\" stroke-width=\"" << num(kLineWidth)
          << '"' << (entries[i]->dashed ? " stroke-dasharray=\"6 4\"" : "") << "/>\n";
      text(bx + kPad + kSample + 6.0, cy + baseline_shift, "start", entries[i]->name, " fill=\"#222222\"");
    }
    svg << "</g>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  namespace fs = std::filesystem;
  std::random_device entropy;
  // Beside the target, so the rename stays on one file system and is atomic.
  fs::path temporary = path;
  temporary += ".tmp-" + std::to_string(entropy()) + std::to_string(entropy());
  auto fail = [&](const std::string& why) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw std::runtime_error("cannot write '" + path + "': " + why);
  };
  {
    errno = 0;
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) fail(errno ? std::strerror(errno) : "cannot create a temporary file beside it");
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.close();
    if (!out) fail("writing the temporary file failed (disk full?)");
  }
  std::error_code error;
  fs::rename(temporary, path, error);
  if (error) fail(error.message());
}

void write_svg(const std::string& path, const Chart& chart) { write_file_atomic(path, render_svg(chart)); }

}  // namespace cyg::plot
