// Tests of cyg::plot: well-formed SVG, tick values, pixel positions worked out from
// the documented margins, broken lines at NaN, markers, escaping and atomic writes.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "apps/common/plot.h"
#include "kernels/error.h"
#include "tests/scratch_dir.h"

namespace {

using cyg::plot::Axis;
using cyg::plot::Chart;
using cyg::plot::LineStyle;
using cyg::plot::Series;

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// A tiny XML well-formedness check: tags balance and nest, attribute values are quoted,
// and every '&' starts an entity. Returns "" when well formed, else what is wrong.
std::string xml_problem(const std::string& doc) {
  std::vector<std::string> open;
  std::size_t i = 0;
  auto check_entities = [](const std::string& text) -> std::string {
    for (std::size_t at = text.find('&'); at != std::string::npos; at = text.find('&', at + 1)) {
      const auto semicolon = text.find(';', at);
      if (semicolon == std::string::npos) return "bare '&'";
      const std::string entity = text.substr(at, semicolon - at + 1);
      if (entity != "&amp;" && entity != "&lt;" && entity != "&gt;" && entity != "&quot;" && entity != "&apos;")
        return "unknown entity " + entity;
    }
    return "";
  };
  while (i < doc.size()) {
    const auto lt = doc.find('<', i);
    const std::string text = doc.substr(i, lt == std::string::npos ? std::string::npos : lt - i);
    if (text.find('>') != std::string::npos) return "raw '>' in text";
    if (auto p = check_entities(text); !p.empty()) return p;
    if (lt == std::string::npos) break;
    if (doc.compare(lt, 2, "<?") == 0) {
      const auto end = doc.find("?>", lt);
      if (end == std::string::npos) return "unterminated <?";
      i = end + 2;
      continue;
    }
    // The tag runs to the first '>' outside quotes.
    std::size_t j = lt + 1;
    char quote = 0;
    for (; j < doc.size(); ++j) {
      if (quote) {
        if (doc[j] == quote) quote = 0;
        else if (doc[j] == '<') return "'<' inside an attribute value";
      } else if (doc[j] == '"' || doc[j] == '\'') {
        quote = doc[j];
      } else if (doc[j] == '>') {
        break;
      }
    }
    if (j >= doc.size()) return "unterminated tag";
    const std::string tag = doc.substr(lt + 1, j - lt - 1);
    if (auto p = check_entities(tag); !p.empty()) return p;
    if (!tag.empty() && tag[0] == '/') {
      const std::string name = tag.substr(1);
      if (open.empty() || open.back() != name) return "</" + name + "> closes " + (open.empty() ? "nothing" : open.back());
      open.pop_back();
    } else if (!tag.empty() && tag.back() != '/') {
      open.push_back(tag.substr(0, tag.find_first_of(" \n\t")));
    }
    i = j + 1;
  }
  if (!open.empty()) return "<" + open.back() + "> never closed";
  return "";
}

Chart simple_chart() {
  Chart chart;
  chart.title = "simple";
  chart.x_label = "step";
  chart.y_label = "value";
  Series s;
  s.name = "line";
  s.x = {0.0, 5.0, 10.0};
  s.y = {0.0, 0.5, 1.0};
  chart.series.push_back(s);
  return chart;
}

TEST(Plot, CheckerRejectsBrokenXml) {
  EXPECT_NE(xml_problem("<svg><g></svg>"), "");
  EXPECT_NE(xml_problem("<svg>a & b</svg>"), "");
  EXPECT_NE(xml_problem("<svg><text>a</g></svg>"), "");
  EXPECT_EQ(xml_problem("<?xml version=\"1.0\"?>\n<svg a=\"x>y\"><g/><t>&amp;</t></svg>"), "");
}

TEST(Plot, SvgIsWellFormedWithFixedViewBox) {
  Chart chart = simple_chart();
  Series right;
  right.name = "momentum";
  right.axis = Axis::Right;
  right.style = LineStyle::Dashed;
  right.x = {0.0, 10.0};
  right.y = {0.95, 0.85};
  chart.series.push_back(right);
  chart.y2_label = "momentum";
  chart.markers.push_back({3.0, "suggestion"});
  const std::string svg = cyg::plot::render_svg(chart);
  EXPECT_EQ(xml_problem(svg), "") << svg;
  EXPECT_NE(svg.find("viewBox=\"0 0 720 450\""), std::string::npos);
  EXPECT_NE(svg.find(">step</text>"), std::string::npos);
  EXPECT_NE(svg.find(">value</text>"), std::string::npos);
  EXPECT_NE(svg.find("stroke-dasharray=\"6 4\""), std::string::npos);
  // Legend: both names; the right axis' labels: 0.84 ... 0.96 in steps of 0.02.
  EXPECT_NE(svg.find(">line</text>"), std::string::npos);
  EXPECT_NE(svg.find(">momentum</text>"), std::string::npos);
  EXPECT_NE(svg.find(">0.84</text>"), std::string::npos);
  EXPECT_NE(svg.find(">0.96</text>"), std::string::npos);
}

TEST(Plot, LinearTicksAreRoundNumbers) {
  const std::vector<double> unit = cyg::plot::linear_ticks(0.0, 0.93);
  const std::vector<double> expected_unit = {0.0, 0.2, 0.4, 0.6, 0.8, 1.0};
  ASSERT_EQ(unit.size(), expected_unit.size());
  for (std::size_t i = 0; i < unit.size(); ++i) EXPECT_DOUBLE_EQ(unit[i], expected_unit[i]);

  const std::vector<double> tenths = cyg::plot::linear_ticks(0.12, 0.88);
  const std::vector<double> expected_tenths = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
  ASSERT_EQ(tenths.size(), expected_tenths.size());
  // Exactly the literals, so labels never print 0.30000000000000004.
  for (std::size_t i = 0; i < tenths.size(); ++i) EXPECT_EQ(tenths[i], expected_tenths[i]) << i;

  // 89 / 6 = 14.8 per interval rounds down to steps of 10: 0, 10, ..., 90.
  const std::vector<double> epochs = cyg::plot::linear_ticks(1.0, 90.0);
  ASSERT_EQ(epochs.size(), 10u);
  EXPECT_EQ(epochs.front(), 0.0);
  EXPECT_EQ(epochs[1], 10.0);
  EXPECT_EQ(epochs.back(), 90.0);
}

TEST(Plot, LinearTickLabelsAreShort) {
  const std::string svg = cyg::plot::render_svg(simple_chart());
  for (const char* label : {">0</text>", ">0.2</text>", ">0.4</text>", ">0.6</text>", ">0.8</text>", ">1</text>",
                            ">2</text>", ">10</text>"})
    EXPECT_NE(svg.find(label), std::string::npos) << label;
  EXPECT_EQ(svg.find("0.6000"), std::string::npos);
}

TEST(Plot, LogTicksAreTheDecades) {
  const std::vector<double> ticks = cyg::plot::decade_ticks(1e-7, 10.0);
  const std::vector<double> expected = {1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0};
  ASSERT_EQ(ticks.size(), expected.size());
  for (std::size_t i = 0; i < ticks.size(); ++i) EXPECT_DOUBLE_EQ(ticks[i], expected[i]) << i;

  const std::vector<double> widened = cyg::plot::decade_ticks(3e-5, 0.2);
  ASSERT_EQ(widened.size(), 6u);
  EXPECT_DOUBLE_EQ(widened.front(), 1e-5);
  EXPECT_DOUBLE_EQ(widened.back(), 1.0);

  Chart chart;
  chart.log_x = true;
  Series s;
  s.x = {1e-7, 1e-3, 10.0};
  s.y = {2.3, 1.0, 4.0};
  chart.series.push_back(s);
  const std::string svg = cyg::plot::render_svg(chart);
  EXPECT_NE(svg.find(">1e-7</text>"), std::string::npos);
  EXPECT_NE(svg.find(">1e-3</text>"), std::string::npos);
  EXPECT_NE(svg.find(">1e1</text>"), std::string::npos);
}

// A spike (a loss of 183 beside 2) on a left axis in decades: both ends readable. With
// ticks 1 to 1000, 10 lands a third of the way up the plot area (y in [44, 394]); a
// non-positive value cannot be drawn in decades and breaks the line instead.
TEST(Plot, LogYAxisKeepsASpikeAndTheRestReadable) {
  Chart chart;
  chart.log_y = true;
  Series s;
  s.x = {1.0, 2.0, 3.0, 4.0};
  s.y = {183.0, 10.0, 0.0, 2.0};
  chart.series.push_back(s);
  const std::string svg = cyg::plot::render_svg(chart);
  EXPECT_NE(svg.find(">100</text>"), std::string::npos) << svg;  // the decades 1 to 1000
  EXPECT_NE(svg.find(">1000</text>"), std::string::npos) << svg;
  EXPECT_NE(svg.find(",277.33"), std::string::npos) << "10 at a third of the decades" << svg;
  EXPECT_EQ(svg.find(",394\""), std::string::npos) << "the 0 was drawn" << svg;
}

TEST(Plot, PointLandsWhereTheMarginsSayItShould) {
  // Ticks 0..10 and 0..1; plot area x in [80, 696] and y in [44, 394] (720 x 450 less
  // margins 80 left, 24 right, 44 top, 56 bottom). (5, 0.5) is the middle: (388, 219).
  ASSERT_EQ(cyg::plot::kMarginLeft, 80.0);
  ASSERT_EQ(cyg::plot::kMarginRight, 24.0);
  ASSERT_EQ(cyg::plot::kMarginTop, 44.0);
  ASSERT_EQ(cyg::plot::kMarginBottom, 56.0);
  const std::string svg = cyg::plot::render_svg(simple_chart());
  EXPECT_NE(svg.find("points=\"80,394 388,219 696,44\""), std::string::npos) << svg;

  // On a log axis over 1e-3..1 (three decades, 616 px), 1e-2 lies a third of the way.
  Chart chart;
  chart.log_x = true;
  Series s;
  s.x = {1e-3, 1e-2, 1.0};
  s.y = {0.0, 0.0, 1.0};
  chart.series.push_back(s);
  const std::string log_svg = cyg::plot::render_svg(chart);
  EXPECT_NE(log_svg.find("points=\"80,394 285.33,394 696,44\""), std::string::npos) << log_svg;
}

TEST(Plot, NonFiniteValuesBreakTheLine) {
  Chart chart = simple_chart();
  chart.series[0].x = {0.0, 2.0, 4.0, 6.0, 8.0, 10.0};
  chart.series[0].y = {0.0, 0.2, std::nan(""), 0.6, std::numeric_limits<double>::infinity(), 1.0};
  const std::string svg = cyg::plot::render_svg(chart);
  // {0, 2} and {6} and {10}: one polyline, two lone points drawn as dots.
  EXPECT_EQ(count(svg, "<polyline"), 1);
  EXPECT_EQ(count(svg, "<circle"), 2);

  chart.series[0].y = {0.0, 0.2, std::nan(""), 0.6, 0.8, 1.0};
  const std::string two = cyg::plot::render_svg(chart);
  EXPECT_EQ(count(two, "<polyline"), 2);
  EXPECT_EQ(xml_problem(two), "");
  EXPECT_EQ(two.find("nan"), std::string::npos);
}

TEST(Plot, EmptySeriesAndEmptyChartRender) {
  Chart chart;
  chart.title = "nothing yet";
  chart.series.push_back(Series{"empty", {}, {}, LineStyle::Solid, Axis::Left, ""});
  const std::string svg = cyg::plot::render_svg(chart);
  EXPECT_EQ(xml_problem(svg), "");
  EXPECT_EQ(count(svg, "<polyline"), 0);
  EXPECT_NE(svg.find(">no data</text>"), std::string::npos);
  EXPECT_NE(svg.find(">empty</text>"), std::string::npos);
  EXPECT_EQ(xml_problem(cyg::plot::render_svg(Chart{})), "");
}

TEST(Plot, MismatchedSeriesIsRejected) {
  Chart chart = simple_chart();
  chart.series[0].y.pop_back();
  EXPECT_THROW(cyg::plot::render_svg(chart), cyg::Error);
  chart = simple_chart();
  chart.series[0].axis = static_cast<Axis>(2);
  EXPECT_THROW(cyg::plot::render_svg(chart), cyg::Error);
}

TEST(Plot, MarkersDrawLinesWithLabels) {
  Chart chart;
  chart.log_x = true;
  Series s;
  s.name = "loss";
  s.x = {1e-6, 1e-4, 1e-2, 1.0};
  s.y = {2.3, 2.2, 1.1, 5.0};
  chart.series.push_back(s);
  chart.markers = {{std::pow(10.0, -2.5), "steepest 3.2e-3"}, {4e-3, "valley 4e-3"}, {-1.0, "not on a log axis"}};
  const std::string svg = cyg::plot::render_svg(chart);
  EXPECT_EQ(xml_problem(svg), "");
  EXPECT_NE(svg.find(">steepest 3.2e-3</text>"), std::string::npos);
  EXPECT_NE(svg.find(">valley 4e-3</text>"), std::string::npos);
  EXPECT_EQ(svg.find("not on a log axis"), std::string::npos);
  // 10^-2.5 is 3.5 of the 6 decades across 1e-6..1: x = 80 + 616 * 3.5 / 6 = 439.33,
  // a line from the top of the plot area to its bottom (no grid line falls there).
  EXPECT_NE(svg.find("<line x1=\"439.33\" y1=\"44\" x2=\"439.33\" y2=\"394\"/>"), std::string::npos);
}

TEST(Plot, TextIsEscaped) {
  Chart chart = simple_chart();
  chart.title = "loss <lr & momentum>";
  chart.series[0].name = "\"a\" & 'b'";
  const std::string svg = cyg::plot::render_svg(chart);
  EXPECT_EQ(xml_problem(svg), "");
  EXPECT_NE(svg.find("loss &lt;lr &amp; momentum&gt;"), std::string::npos);
  EXPECT_NE(svg.find("&quot;a&quot; &amp; &apos;b&apos;"), std::string::npos);
  EXPECT_EQ(svg.find("<lr"), std::string::npos);
  EXPECT_EQ(cyg::plot::escape_xml("<&>"), "&lt;&amp;&gt;");
}

// The centred mean, worked out by hand: windows cut at the ends, non-finite values left
// out, and a huge value that does not disturb the windows without it.
TEST(Plot, CentredMeanAveragesEachPointsNeighbours) {
  const std::vector<double> got = cyg::plot::centred_mean({1, 2, 3, 4, 100}, 1);
  const std::vector<double> want = {1.5, 2, 3, 107.0 / 3.0, 52};
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_DOUBLE_EQ(got[i], want[i]) << i;
  EXPECT_EQ(cyg::plot::centred_mean({1, 2, 3, 4, 100}, 2), (std::vector<double>{2, 2.5, 22, 27.25, 107.0 / 3.0}));
  EXPECT_EQ(cyg::plot::centred_mean({5, 7, 9}, 0), (std::vector<double>{5, 7, 9}));
  EXPECT_EQ(cyg::plot::centred_mean({5, 7, 9}, 10), (std::vector<double>{7, 7, 7}));
  EXPECT_EQ(cyg::plot::centred_mean({NAN, 2, INFINITY, 4}, 1), (std::vector<double>{2, 2, 3, 4}));
  const std::vector<double> none = cyg::plot::centred_mean({NAN, NAN, 1}, 0);
  EXPECT_TRUE(std::isnan(none[0]) && std::isnan(none[1]));
  EXPECT_EQ(none[2], 1);
  EXPECT_EQ(cyg::plot::centred_mean({1e300, 1, 1, 1, 0.5}, 1)[3], 2.5 / 3.0);
  EXPECT_TRUE(cyg::plot::centred_mean({}, 3).empty());
}

// Decades on an axis: once the finite values, all positive, spread past ten times.
TEST(Plot, SpansDecadesPastTenTimes) {
  EXPECT_FALSE(cyg::plot::spans_decades({1, 10}));
  EXPECT_TRUE(cyg::plot::spans_decades({1, 10.5}));
  EXPECT_TRUE(cyg::plot::spans_decades({NAN, 20, INFINITY, 1}));
  EXPECT_FALSE(cyg::plot::spans_decades({0, 5}));
  EXPECT_FALSE(cyg::plot::spans_decades({-1, 50}));
  EXPECT_FALSE(cyg::plot::spans_decades({}));
  EXPECT_FALSE(cyg::plot::spans_decades({NAN}));
}

TEST(Plot, PaletteColoursAreDistinct) {
  for (std::size_t i = 0; i < 9; ++i)
    for (std::size_t j = i + 1; j < 9; ++j) EXPECT_NE(cyg::plot::palette_color(i), cyg::plot::palette_color(j));
  EXPECT_EQ(cyg::plot::palette_color(9), cyg::plot::palette_color(0));
}

TEST(Plot, WriteIsAtomicAndLeavesNoTemporaryFile) {
  namespace fs = std::filesystem;
  const cyg::test::ScratchDir scratch("plot_write");
  const fs::path& dir = scratch.path();
  const fs::path target = dir / "chart.svg";
  {
    std::ofstream(target) << "old";
  }
  cyg::plot::write_svg(target.string(), simple_chart());
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  ASSERT_EQ(names, std::vector<std::string>{"chart.svg"});
  std::ifstream in(target);
  std::stringstream contents;
  contents << in.rdbuf();
  EXPECT_EQ(contents.str(), cyg::plot::render_svg(simple_chart()));
}

TEST(Plot, WriteFailsCleanlyForAnUnwritableFolder) {
  namespace fs = std::filesystem;
  const cyg::test::ScratchDir scratch("plot_unwritable");
  const fs::path& dir = scratch.path();
  // A regular file where a folder should be: unwritable even for root.
  const fs::path blocker = dir / "not_a_folder";
  {
    std::ofstream(blocker) << "x";
  }
  for (const fs::path& target : {dir / "missing" / "chart.svg", blocker / "chart.svg"}) {
    try {
      cyg::plot::write_svg(target.string(), simple_chart());
      ADD_FAILURE() << "no error for " << target;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(target.string()), std::string::npos) << e.what();
    }
  }
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"not_a_folder"});
}

}  // namespace
