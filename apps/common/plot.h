// cyg::plot: line charts of run outputs as self-contained SVG (schedules, LR-finder
// curves, accuracy overlays), sized for papers: nice ticks, legend, optional second
// y-axis and log x-axis.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace cyg::plot {

// The canvas is a fixed viewBox; browsers and converters scale it. The plot area is
// the canvas less these margins (kMarginRightWithAxis when a series uses the right
// y-axis), so a value's pixel position follows from its axis' tick range alone.
inline constexpr double kWidth = 720.0;
inline constexpr double kHeight = 450.0;
inline constexpr double kMarginLeft = 80.0;
inline constexpr double kMarginRight = 24.0;
inline constexpr double kMarginRightWithAxis = 80.0;
inline constexpr double kMarginTop = 44.0;
inline constexpr double kMarginBottom = 56.0;

enum class LineStyle { Solid, Dashed };
enum class Axis { Left, Right };  // the y-axis a series is read against

struct Series {
  std::string name;  // legend text; an empty name keeps the series out of the legend
  std::vector<double> x, y;
  LineStyle style = LineStyle::Solid;
  Axis axis = Axis::Left;
  std::string color;  // any SVG colour; empty: palette_color(position in Chart::series)
};

// A labelled vertical line across the plot area (e.g. an LR-finder suggestion).
struct Marker {
  double x;
  std::string label;
};

struct Chart {
  std::string title, x_label, y_label, y2_label;
  bool log_x = false;
  bool log_y = false;  // the left y-axis in decades (points at or below 0 are not drawn)
  std::vector<Series> series;
  std::vector<Marker> markers;
};

// The chart as an SVG document. Points with a non-finite coordinate (or x <= 0 on a
// log axis) are skipped and break the line there; the axes span every drawable point
// and marker, widened to the outer ticks. Throws cyg::Error when a series' x and y
// differ in length or its axis is neither Left nor Right.
std::string render_svg(const Chart& chart);

// render_svg written to path atomically (cyg::write_file_atomically).
void write_svg(const std::string& path, const Chart& chart);

// Ticks of a linear axis covering [lo, hi]: multiples of 1, 2 or 5 times a power of
// ten, about five to ten of them, the first <= lo and the last >= hi. Throws cyg::Error
// unless lo <= hi, both finite (decade_ticks: and lo > 0).
std::vector<double> linear_ticks(double lo, double hi);

// Ticks of a log axis covering [lo, hi] (both > 0): the powers of ten from the one at
// or below lo to the one at or above hi (at least two).
std::vector<double> decade_ticks(double lo, double hi);

// A centred moving mean, for a noisy curve drawn after the fact (no lag, unlike a moving
// average of the past): each point the mean of the finite values among the `half` points
// either side of it and itself (fewer at the ends); NaN where none is finite.
std::vector<double> centred_mean(const std::vector<double>& values, std::size_t half);

// Whether values spread over more than a decade (all the finite ones positive): then an
// axis in decades keeps both ends readable (a loss spike, a 0.1 -> 3 cycle, a range test).
bool spans_decades(const std::vector<double>& values);

// A pixel coordinate as SVG text: at most two decimals, no trailing zeros ("12.5", "3").
std::string num(double v);

// About how wide a line of sans-serif text is, in pixels, at `font_size` (UTF-8: one
// glyph per character; generous, so that an estimated box contains its text).
double text_width(const std::string& utf8, double font_size);

// The colour-blind-safe palette (Paul Tol's "muted"), repeating after its 9 colours.
std::string palette_color(std::size_t index);

// text with & < > " ' replaced by entities, safe in SVG text and attribute values.
std::string escape_xml(std::string_view text);

}  // namespace cyg::plot
