// SVG rendering of cyg::plot charts: axis ranges and nice ticks, series as polylines
// broken at undrawable points, marker labels stacked so they don't collide, and the
// legend wherever in the plot it covers the least data.
#include "apps/common/plot.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <utility>

#include "engine/atomic_file.h"
#include "kernels/error.h"

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

}  // namespace

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

bool spans_decades(const std::vector<double>& values) {
  double lo = 0, hi = 0;
  bool any = false;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    if (v <= 0) return false;
    lo = any ? std::min(lo, v) : v;
    hi = any ? std::max(hi, v) : v;
    any = true;
  }
  return any && hi > 10.0 * lo;
}

double text_width(const std::string& utf8, double font_size) {
  const auto glyphs = std::count_if(utf8.begin(), utf8.end(),
                                    [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
  return static_cast<double>(glyphs) * kGlyphAdvance * font_size;
}

namespace {

using Point = std::pair<double, double>;

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

enum class ScaleKind { Linear, Log };

// One axis: its ticks and where its values land in pixels.
struct Scale {
  std::vector<double> ticks;  // the first and the last are the axis' ends
  bool log = false;
  double pixel_lo = 0.0, pixel_hi = 0.0;  // where ticks.front() and ticks.back() land

  Scale(const Extent& extent, ScaleKind kind, double from, double to)
      : log(kind == ScaleKind::Log), pixel_lo(from), pixel_hi(to) {
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

std::size_t axis_index(Axis axis) { return axis == Axis::Right ? 1 : 0; }

// What the chart spans: every drawable point per axis and the drawable markers.
struct Extents {
  Extent x;
  std::array<Extent, 2> y;  // left, right
  std::vector<const Marker*> markers;
};

bool drawable_x(const Chart& chart, double x) { return std::isfinite(x) && (!chart.log_x || x > 0.0); }
bool drawable_y(const Chart& chart, Axis axis, double y) {
  return std::isfinite(y) && (!chart.log_y || axis != Axis::Left || y > 0.0);
}

Extents measure(const Chart& chart) {
  Extents e;
  for (const Series& s : chart.series) {
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (drawable_x(chart, s.x[i]) && drawable_y(chart, s.axis, s.y[i])) {
        e.x.add(s.x[i]);
        e.y[axis_index(s.axis)].add(s.y[i]);
      }
    }
  }
  for (const Marker& m : chart.markers) {
    if (drawable_x(chart, m.x)) {
      e.markers.push_back(&m);
      e.x.add(m.x);
    }
  }
  return e;
}

// The plot area in pixels and the axes over it.
struct Layout {
  bool has_right_axis;
  double left, right, top, bottom, mid_x, mid_y;
  Extents extents;
  Scale x;
  std::array<Scale, 2> y;  // left, right
  std::size_t grid_axis;   // the y-axis the horizontal grid follows

  explicit Layout(const Chart& chart)
      : has_right_axis(std::any_of(chart.series.begin(), chart.series.end(),
                                   [](const Series& s) { return s.axis == Axis::Right; })),
        left(kMarginLeft),
        right(kWidth - (has_right_axis ? kMarginRightWithAxis : kMarginRight)),
        top(kMarginTop),
        bottom(kHeight - kMarginBottom),
        mid_x((left + right) / 2.0),
        mid_y((top + bottom) / 2.0),
        extents(measure(chart)),
        x(extents.x, chart.log_x ? ScaleKind::Log : ScaleKind::Linear, left, right),
        y{Scale(extents.y[0], chart.log_y ? ScaleKind::Log : ScaleKind::Linear, bottom, top),
          Scale(extents.y[1], ScaleKind::Linear, bottom, top)},
        // The grid follows the left axis unless only the right one carries data.
        grid_axis(extents.y[0].empty && !extents.y[1].empty ? 1 : 0) {}

  bool empty() const { return extents.x.empty && extents.y[0].empty && extents.y[1].empty; }
};

// The SVG text being written, with the element shapes used throughout.
class Svg {
 public:
  std::ostringstream out;

  void vertical(double x, double y0, double y1) {
    out << "<line x1=\"" << num(x) << "\" y1=\"" << num(y0) << "\" x2=\"" << num(x) << "\" y2=\"" << num(y1)
        << "\"/>\n";
  }
  void horizontal(double y, double x0, double x1) {
    out << "<line x1=\"" << num(x0) << "\" y1=\"" << num(y) << "\" x2=\"" << num(x1) << "\" y2=\"" << num(y)
        << "\"/>\n";
  }
  void text(double x, double y, const char* anchor, const std::string& s, const std::string& extra = "") {
    out << "<text x=\"" << num(x) << "\" y=\"" << num(y) << "\" text-anchor=\"" << anchor << '"' << extra << '>'
        << escape_xml(s) << "</text>\n";
  }
};

constexpr double kBaselineShift = 0.35 * kTickFont;  // puts a label's middle on its tick

void write_document_start(Svg& svg, const Chart& chart) {
  svg.out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          << "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " << num(kWidth) << ' ' << num(kHeight)
          << "\" width=\"" << num(kWidth) << "\" height=\"" << num(kHeight)
          << "\" font-family=\"Helvetica, Arial, sans-serif\">\n";
  if (!chart.title.empty()) svg.out << "<title>" << escape_xml(chart.title) << "</title>\n";
  svg.out << "<rect width=\"" << num(kWidth) << "\" height=\"" << num(kHeight) << "\" fill=\"white\"/>\n";
}

// Minor decades (2..9 x 10^k) of a log axis, drawn as fainter lines so that the reader
// can place a value between labelled decades, as on log paper.
std::vector<double> minor_decades(const Scale& scale) {
  std::vector<double> minor;
  if (scale.log && scale.ticks.size() <= static_cast<std::size_t>(2 * kMaxDecadeLabels)) {
    for (std::size_t i = 0; i + 1 < scale.ticks.size(); ++i)
      for (int m = 2; m <= 9; ++m) minor.push_back(scale.ticks[i] * m);
  }
  return minor;
}

// Grid lines, the frame of the plot area and the tick marks.
void draw_grid_and_ticks(Svg& svg, const Layout& l) {
  const std::vector<double> minor_x = minor_decades(l.x);
  const Scale& grid = l.y[l.grid_axis];
  svg.out << "<g stroke=\"#f0f0f0\" stroke-width=\"1\">\n";
  for (double v : minor_x) svg.vertical(l.x.pixel(v), l.top, l.bottom);
  svg.out << "</g>\n<g stroke=\"#dddddd\" stroke-width=\"1\">\n";
  for (double v : l.x.ticks) svg.vertical(l.x.pixel(v), l.top, l.bottom);
  for (double v : grid.ticks) svg.horizontal(grid.pixel(v), l.left, l.right);
  svg.out << "</g>\n";
  svg.out << "<rect x=\"" << num(l.left) << "\" y=\"" << num(l.top) << "\" width=\"" << num(l.right - l.left)
          << "\" height=\"" << num(l.bottom - l.top) << "\" fill=\"none\" stroke=\"#444444\" stroke-width=\"1\"/>\n";

  svg.out << "<g stroke=\"#444444\" stroke-width=\"1\">\n";
  for (double v : l.x.ticks) svg.vertical(l.x.pixel(v), l.bottom, l.bottom + 5.0);
  for (double v : minor_x) svg.vertical(l.x.pixel(v), l.bottom, l.bottom + 3.0);
  for (double v : l.y[0].ticks) svg.horizontal(l.y[0].pixel(v), l.left - 5.0, l.left);
  if (l.has_right_axis)
    for (double v : l.y[1].ticks) svg.horizontal(l.y[1].pixel(v), l.right, l.right + 5.0);
  svg.out << "</g>\n";
}

void draw_tick_labels(Svg& svg, const Layout& l) {
  svg.out << "<g font-size=\"" << num(kTickFont) << "\" fill=\"#333333\">\n";
  {
    const auto labels = l.x.labels();
    const std::size_t stride =
        l.x.log ? (labels.size() + kMaxDecadeLabels - 1) / static_cast<std::size_t>(kMaxDecadeLabels) : 1;
    for (std::size_t i = 0; i < labels.size(); i += stride)
      svg.text(l.x.pixel(l.x.ticks[i]), l.bottom + 8.0 + kTickFont, "middle", labels[i]);
  }
  {
    const auto labels = l.y[0].labels();
    for (std::size_t i = 0; i < labels.size(); ++i)
      svg.text(l.left - 8.0, l.y[0].pixel(l.y[0].ticks[i]) + kBaselineShift, "end", labels[i]);
  }
  if (l.has_right_axis) {
    const auto labels = l.y[1].labels();
    for (std::size_t i = 0; i < labels.size(); ++i)
      svg.text(l.right + 8.0, l.y[1].pixel(l.y[1].ticks[i]) + kBaselineShift, "start", labels[i]);
  }
  svg.out << "</g>\n";
}

void draw_axis_labels_and_title(Svg& svg, const Chart& chart, const Layout& l) {
  svg.out << "<g font-size=\"" << num(kAxisLabelFont) << "\" fill=\"#222222\">\n";
  if (!chart.x_label.empty()) svg.text(l.mid_x, kHeight - 14.0, "middle", chart.x_label);
  if (!chart.y_label.empty())
    svg.text(0.0, 0.0, "middle", chart.y_label, " transform=\"translate(18 " + num(l.mid_y) + ") rotate(-90)\"");
  if (l.has_right_axis && !chart.y2_label.empty()) {
    svg.text(0.0, 0.0, "middle", chart.y2_label,
             " transform=\"translate(" + num(kWidth - 14.0) + ' ' + num(l.mid_y) + ") rotate(90)\"");
  }
  svg.out << "</g>\n";
  if (!chart.title.empty()) {
    svg.text(l.mid_x, 26.0, "middle", chart.title,
             " font-size=\"" + num(kTitleFont) + "\" font-weight=\"600\" fill=\"#111111\"");
  }
}

void draw_marker_lines(Svg& svg, const Layout& l, std::vector<Point>& occupied) {
  svg.out << "<g stroke=\"#555555\" stroke-width=\"1\" stroke-dasharray=\"4 3\">\n";
  for (const Marker* m : l.extents.markers) {
    const double x = l.x.pixel(m->x);
    svg.vertical(x, l.top, l.bottom);
    sample_polyline({{x, l.top}, {x, l.bottom}}, occupied);
  }
  svg.out << "</g>\n";
}

std::string series_color(const Series& s, std::size_t index) {
  return escape_xml(s.color.empty() ? palette_color(index) : s.color);
}

const char* dash_attribute(LineStyle style) { return style == LineStyle::Dashed ? " stroke-dasharray=\"6 4\"" : ""; }

// Each series as polylines broken at undrawable points; a lone point is a dot.
void draw_series(Svg& svg, const Chart& chart, const Layout& l, std::vector<Point>& occupied) {
  for (std::size_t i = 0; i < chart.series.size(); ++i) {
    const Series& s = chart.series[i];
    const Scale& y = l.y[axis_index(s.axis)];
    const std::string color = series_color(s, i);
    std::vector<std::vector<Point>> pieces(1);
    for (std::size_t k = 0; k < s.x.size(); ++k) {
      if (drawable_x(chart, s.x[k]) && drawable_y(chart, s.axis, s.y[k]))
        pieces.back().emplace_back(l.x.pixel(s.x[k]), y.pixel(s.y[k]));
      else if (!pieces.back().empty()) pieces.emplace_back();
    }
    for (const auto& piece : pieces) {
      if (piece.empty()) continue;
      sample_polyline(piece, occupied);
      if (piece.size() == 1) {
        svg.out << "<circle cx=\"" << num(piece[0].first) << "\" cy=\"" << num(piece[0].second)
                << "\" r=\"2.5\" fill=\"" << color << "\"/>\n";
        continue;
      }
      svg.out << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"" << num(kLineWidth)
              << "\" stroke-linejoin=\"round\"" << dash_attribute(s.style) << " points=\"";
      for (std::size_t k = 0; k < piece.size(); ++k)
        svg.out << (k ? " " : "") << num(piece[k].first) << ',' << num(piece[k].second);
      svg.out << "\"/>\n";
    }
  }
}

// Marker labels along the top of the plot, each on the first row where it overlaps
// no other, read left to right.
void draw_marker_labels(Svg& svg, const Layout& l, std::vector<Point>& occupied) {
  std::vector<const Marker*> by_x = l.extents.markers;
  std::stable_sort(by_x.begin(), by_x.end(), [](const Marker* a, const Marker* b) { return a->x < b->x; });
  std::vector<std::vector<Box>> rows;
  const auto max_rows = static_cast<std::size_t>(std::max(1.0, std::floor((l.bottom - l.top) / kMarkerRow) - 1.0));
  svg.out << "<g font-size=\"" << num(kTickFont)
          << "\" fill=\"#333333\" stroke=\"white\" stroke-width=\"3\" stroke-linejoin=\"round\" paint-order=\"stroke\">\n";
  for (const Marker* m : by_x) {
    if (m->label.empty()) continue;
    const double x = l.x.pixel(m->x);
    const double width = text_width(m->label, kTickFont);
    const bool to_right = x + 4.0 + width <= l.right - 4.0;
    const double x0 = to_right ? x + 4.0 : x - 4.0 - width;
    const Box box{x0, 0.0, x0 + width, 1.0};
    auto fits = [&](std::size_t r) {
      return r >= rows.size() ||
             std::none_of(rows[r].begin(), rows[r].end(), [&](const Box& b) { return b.overlaps(box, 4.0); });
    };
    std::size_t row = 0;
    while (row + 1 < max_rows && !fits(row)) ++row;
    if (row >= rows.size()) rows.resize(row + 1);
    rows[row].push_back(box);
    const double baseline = l.top + (static_cast<double>(row) + 1.0) * kMarkerRow;
    svg.text(to_right ? x + 4.0 : x - 4.0, baseline, to_right ? "start" : "end", m->label);
    for (double sx = x0; sx <= x0 + width; sx += 4.0)
      for (double sy = baseline - kTickFont; sy <= baseline; sy += 4.0) occupied.emplace_back(sx, sy);
  }
  svg.out << "</g>\n";
}

constexpr double kLegendSample = 24.0, kLegendPad = 8.0, kLegendInset = 8.0;

// Of the corners, the edge middles and the centre (in that order of preference), the
// spot where a box of this size covers the fewest occupied points.
Point legend_spot(const Layout& l, double width, double height, const std::vector<Point>& occupied) {
  const double x_right = l.right - kLegendInset - width, x_left = l.left + kLegendInset;
  const double x_mid = (l.left + l.right - width) / 2.0;
  const double y_top = l.top + kLegendInset, y_bottom = l.bottom - kLegendInset - height;
  const double y_mid = (l.top + l.bottom - height) / 2.0;
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
  return best;
}

// The named series with their line samples, wherever in the plot it covers the least.
void draw_legend(Svg& svg, const Chart& chart, const Layout& l, const std::vector<Point>& occupied) {
  std::vector<const Series*> entries;
  std::vector<std::string> entry_colors;
  double widest = 0.0;
  for (std::size_t i = 0; i < chart.series.size(); ++i) {
    const Series& s = chart.series[i];
    if (s.name.empty()) continue;
    entries.push_back(&s);
    entry_colors.push_back(series_color(s, i));
    widest = std::max(widest, text_width(s.name, kTickFont));
  }
  if (entries.empty()) return;
  const double width = kLegendPad + kLegendSample + 6.0 + widest + kLegendPad;
  const double height = 2.0 * 6.0 + kLegendRow * static_cast<double>(entries.size());
  const auto [bx, by] = legend_spot(l, width, height, occupied);
  svg.out << "<g font-size=\"" << num(kTickFont) << "\">\n<rect x=\"" << num(bx) << "\" y=\"" << num(by)
          << "\" width=\"" << num(width) << "\" height=\"" << num(height)
          << "\" fill=\"white\" fill-opacity=\"0.9\" stroke=\"#bbbbbb\" stroke-width=\"1\"/>\n";
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const double cy = by + 6.0 + kLegendRow * (static_cast<double>(i) + 0.5);
    svg.out << "<line x1=\"" << num(bx + kLegendPad) << "\" y1=\"" << num(cy) << "\" x2=\""
            << num(bx + kLegendPad + kLegendSample) << "\" y2=\"" << num(cy) << "\" stroke=\"" << entry_colors[i]
            << "\" stroke-width=\"" << num(kLineWidth) << '"' << dash_attribute(entries[i]->style) << "/>\n";
    svg.text(bx + kLegendPad + kLegendSample + 6.0, cy + kBaselineShift, "start", entries[i]->name,
             " fill=\"#222222\"");
  }
  svg.out << "</g>\n";
}

void validate(const Chart& chart) {
  for (const Series& s : chart.series) {
    CYG_CHECK(s.x.size() == s.y.size(), "plot: series '", s.name, "' has ", s.x.size(), " x values but ", s.y.size(),
              " y values");
    CYG_CHECK(s.axis == Axis::Left || s.axis == Axis::Right, "plot: series '", s.name, "' has axis ",
              static_cast<int>(s.axis), " (Left or Right)");
  }
}

}  // namespace

std::vector<double> linear_ticks(double lo, double hi) {
  CYG_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo <= hi, "linear_ticks: need finite lo <= hi, got [", lo, ", ",
            hi, "]");
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
  CYG_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo > 0.0 && lo <= hi, "decade_ticks: need finite 0 < lo <= hi, got [",
            lo, ", ", hi, "]");
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

std::vector<double> centred_mean(const std::vector<double>& values, std::size_t half) {
  // Each window summed afresh: running sums would let one huge loss (a spike before a
  // divergence) cancel the small ones after it.
  const std::size_t n = values.size();
  std::vector<double> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t lo = i >= half ? i - half : 0, hi = std::min(n, i + half + 1);
    double sum = 0;
    std::size_t finite = 0;
    for (std::size_t k = lo; k < hi; ++k)
      if (std::isfinite(values[k])) {
        sum += values[k];
        ++finite;
      }
    out[i] = finite > 0 ? sum / static_cast<double>(finite) : std::nan("");
  }
  return out;
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
  const Layout layout(chart);
  Svg svg;
  write_document_start(svg, chart);
  draw_grid_and_ticks(svg, layout);
  draw_tick_labels(svg, layout);
  draw_axis_labels_and_title(svg, chart, layout);
  // Everything the legend should keep clear of, in pixels.
  std::vector<Point> occupied;
  draw_marker_lines(svg, layout, occupied);
  draw_series(svg, chart, layout, occupied);
  if (layout.empty())
    svg.text(layout.mid_x, layout.mid_y, "middle", "no data", " font-size=\"" + num(kAxisLabelFont) + "\" fill=\"#888888\"");
  draw_marker_labels(svg, layout, occupied);
  draw_legend(svg, chart, layout, occupied);
  svg.out << "</svg>\n";
  return svg.out.str();
}

void write_svg(const std::string& path, const Chart& chart) { write_file_atomically(path, render_svg(chart)); }

}  // namespace cyg::plot
