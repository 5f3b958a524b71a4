// The cuDNN autotuning cache file: its text format, and reading it with the rules of
// kernels/conv_algo_cache.h for files that cannot be used.
#include "kernels/conv_algo_cache.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <tuple>
#include <vector>

#include "kernels/error.h"

namespace cyg {

namespace {

// The header names the format and its version; a file with another header is not ours
// to read or to replace.
constexpr const char* kFormat = "cygnet cudnn algorithm cache";
constexpr int kVersion = 3;
constexpr int kFields = 13;
// Version 2: no engine nor knobs fields, every line a legacy algorithm.
constexpr int kVersion2Fields = 11;
// Version 1: no data nor layout fields either, every line an f32 NCHW choice.
constexpr int kVersion1Fields = 9;

std::string header(int version = kVersion) { return std::string(kFormat) + " " + std::to_string(version); }

// The version a first line names, or 0 where it is not one of ours.
int version_of(const std::string& first_line) {
  for (int v = 1; v <= kVersion; ++v)
    if (first_line == header(v)) return v;
  return 0;
}

ConvData data_named(const std::string& name) {
  CYG_INPUT_CHECK(name == "f32" || name == "bf16", "data '", name, "' is not f32 or bf16");
  return name == "bf16" ? ConvData::BF16 : ConvData::F32;
}
const char* data_name(ConvData data) { return data == ConvData::BF16 ? "bf16" : "f32"; }

ConvLayout layout_named(const std::string& name) {
  CYG_INPUT_CHECK(name == "nchw" || name == "nhwc", "layout '", name, "' is not nchw or nhwc");
  return name == "nhwc" ? ConvLayout::NHWC : ConvLayout::NCHW;
}
const char* layout_name(ConvLayout layout) { return layout == ConvLayout::NHWC ? "nhwc" : "nchw"; }

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    const size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

// A whole field as a number of at least `min` (no sign, space or trailing text).
template <typename T>
T number(const std::string& field, T min, const char* what) {
  T value{};
  const char* end = field.data() + field.size();
  const auto [ptr, error] = std::from_chars(field.data(), end, value);
  CYG_INPUT_CHECK(!field.empty() && error == std::errc() && ptr == end && value >= min, what, " '", field,
                  "' is not a number of at least ", min);
  return value;
}

bool flag(const std::string& field, const char* what) {
  CYG_INPUT_CHECK(field == "0" || field == "1", what, " '", field, "' is not 0 or 1");
  return field == "1";
}

ConvDirection direction_named(const std::string& name) {
  for (ConvDirection d : {ConvDirection::Forward, ConvDirection::BackwardData, ConvDirection::BackwardFilter})
    if (name == conv_direction_name(d)) return d;
  CYG_INPUT_CHECK(false, "direction '", name, "' is not forward, backward_data or backward_filter");
  return ConvDirection::Forward;
}

Conv2dShape shape_from(const std::string& field) {
  const std::vector<std::string> n = split(field, ' ');
  CYG_INPUT_CHECK(n.size() == 11, "shape '", field, "' does not have 11 numbers");
  Conv2dShape s;
  int64_t* positive[] = {&s.N, &s.C, &s.H, &s.W, &s.OC, &s.KH, &s.KW, &s.stride_h, &s.stride_w};
  for (size_t i = 0; i < 9; ++i) *positive[i] = number<int64_t>(n[i], 1, "shape size");
  s.pad_h = number<int64_t>(n[9], 0, "padding");
  s.pad_w = number<int64_t>(n[10], 0, "padding");
  return s;
}

std::string shape_field(const Conv2dShape& s) {
  std::ostringstream os;
  os << s.N << ' ' << s.C << ' ' << s.H << ' ' << s.W << ' ' << s.OC << ' ' << s.KH << ' ' << s.KW << ' '
     << s.stride_h << ' ' << s.stride_w << ' ' << s.pad_h << ' ' << s.pad_w;
  return os.str();
}

auto tied(const ConvAlgoKey& k) {
  const Conv2dShape& s = k.shape;
  return std::tie(k.gpu, k.cudnn_version, s.N, s.C, s.H, s.W, s.OC, s.KH, s.KW, s.stride_h, s.stride_w, s.pad_h,
                  s.pad_w, k.allow_tf32, k.deterministic, k.direction, k.data, k.layout);
}

}  // namespace

const char* conv_direction_name(ConvDirection direction) {
  switch (direction) {
    case ConvDirection::Forward: return "forward";
    case ConvDirection::BackwardData: return "backward_data";
    case ConvDirection::BackwardFilter: return "backward_filter";
  }
  return "?";
}

bool ConvAlgoKey::operator<(const ConvAlgoKey& o) const { return tied(*this) < tied(o); }

bool ConvAlgoChoice::operator==(const ConvAlgoChoice& o) const {
  return algorithm == o.algorithm && math_type == o.math_type && workspace_bytes == o.workspace_bytes &&
         engine == o.engine && knobs == o.knobs;
}

const ConvAlgoChoice* ConvAlgoCache::find(const ConvAlgoKey& key) const {
  const auto it = choices_.find(key);
  return it == choices_.end() ? nullptr : &it->second;
}

void ConvAlgoCache::insert(const ConvAlgoKey& key, const ConvAlgoChoice& choice) {
  CYG_CHECK(!key.gpu.empty() && key.gpu.find_first_of("\t\r\n") == std::string::npos,
            "a GPU name for the algorithm cache must be one line without tabs: '", key.gpu, "'");
  CYG_CHECK(choice.algorithm >= 0 && choice.math_type >= 0, "cuDNN algorithm ", choice.algorithm, ", math type ",
            choice.math_type);
  CYG_CHECK(choice.knobs.find_first_of("\t\r\n") == std::string::npos, "knobs '", choice.knobs,
            "' for the algorithm cache must be one field");
  choices_[key] = choice;
}

std::string ConvAlgoCache::serialize() const {
  std::ostringstream os;
  os << header() << "\n";
  for (const auto& [k, c] : choices_)
    os << k.gpu << '\t' << k.cudnn_version << '\t' << shape_field(k.shape) << '\t' << int(k.allow_tf32) << '\t'
       << int(k.deterministic) << '\t' << conv_direction_name(k.direction) << '\t' << data_name(k.data) << '\t'
       << layout_name(k.layout) << '\t' << c.algorithm << '\t' << c.math_type << '\t' << c.workspace_bytes << '\t'
       << c.engine << '\t' << (c.knobs.empty() ? "-" : c.knobs) << '\n';
  return os.str();
}

ConvAlgoCache ConvAlgoCache::parse(const std::string& text) {
  ConvAlgoCache cache;
  std::istringstream in(text);
  std::string line;
  int number_of_line = 0;
  CYG_INPUT_CHECK(std::getline(in, line) && version_of(line) > 0, "line 1 is not '", header(), "'");
  const int version = version_of(line);
  const bool version1 = version == 1;
  const size_t fields = version1 ? kVersion1Fields : version == 2 ? kVersion2Fields : kFields;
  // Every line the writer writes ends in a line break: without one the file was cut short.
  CYG_INPUT_CHECK(text.back() == '\n', "its last line is cut short");
  ++number_of_line;
  while (std::getline(in, line)) {
    ++number_of_line;
    try {
      const std::vector<std::string> f = split(line, '\t');
      CYG_INPUT_CHECK(f.size() == fields, "expected ", fields, " tab-separated fields, got ", f.size());
      CYG_INPUT_CHECK(!f[0].empty(), "no GPU name");
      ConvAlgoKey key;
      key.gpu = f[0];
      key.cudnn_version = number<int64_t>(f[1], 1, "cuDNN version");
      key.shape = shape_from(f[2]);
      key.allow_tf32 = flag(f[3], "allow_tf32");
      key.deterministic = flag(f[4], "deterministic");
      key.direction = direction_named(f[5]);
      size_t next = 6;
      if (!version1) {
        key.data = data_named(f[next++]);
        key.layout = layout_named(f[next++]);
      }
      ConvAlgoChoice choice;
      choice.algorithm = number<int>(f[next], 0, "algorithm");
      choice.math_type = number<int>(f[next + 1], 0, "math type");
      choice.workspace_bytes = number<size_t>(f[next + 2], 0, "workspace size");
      if (version >= 3) {
        choice.engine = number<int64_t>(f[next + 3], -1, "engine");
        choice.knobs = f[next + 4] == "-" ? std::string() : conv_knobs_text(parse_conv_knobs(f[next + 4]));
        CYG_INPUT_CHECK(choice.engine >= 0 || choice.knobs.empty(), "knobs '", f[next + 4], "' without an engine");
      }
      cache.insert(key, choice);
    } catch (const Error& e) {
      CYG_INPUT_CHECK(false, "line ", number_of_line, ": ", e.what());
    }
  }
  return cache;
}

ConvAlgoFile read_conv_algo_file(const std::string& path) {
  ConvAlgoFile file;
  std::ifstream in(path, std::ios::binary);
  if (!in) return file;
  std::string first_line;
  std::getline(in, first_line);
  if (first_line.empty() && in.eof()) return file;
  const std::string where = "cuDNN algorithm cache '" + path + "': ";
  if (version_of(first_line) == 0) {
    std::string shown = first_line.substr(0, 60);
    for (char& ch : shown)
      if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = '?';
    file.may_overwrite = false;
    file.warning = where + "not a file of this format (first line '" + shown + "', expected '" + header() +
                   "'); ignored and left as it is";
    return file;
  }
  std::ostringstream text;
  text << first_line << '\n' << in.rdbuf();
  try {
    file.cache = ConvAlgoCache::parse(text.str());
  } catch (const Error& e) {
    file.warning = where + e.what() + "; ignored, and replaced after the next search";
  }
  return file;
}

std::string conv_algorithm_name(ConvDirection direction, int algorithm) {
  // cuDNN's enums (cudnn_ops.h), in their order; kernels/cuda/cudnn_conv.cpp checks the
  // numbering against the header at compile time.
  static const std::vector<std::string> forward = {"IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM",     "DIRECT",
                                                   "FFT",           "FFT_TILING",            "WINOGRAD", "WINOGRAD_NONFUSED"};
  static const std::vector<std::string> data = {"ALGO_0",     "ALGO_1",   "FFT",
                                                "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"};
  static const std::vector<std::string> filter = {"ALGO_0",   "ALGO_1",            "FFT",       "ALGO_3",
                                                  "WINOGRAD", "WINOGRAD_NONFUSED", "FFT_TILING"};
  const std::vector<std::string>& names = direction == ConvDirection::Forward        ? forward
                                          : direction == ConvDirection::BackwardData ? data
                                                                                     : filter;
  if (algorithm >= 0 && static_cast<size_t>(algorithm) < names.size()) return names[static_cast<size_t>(algorithm)];
  return "algorithm " + std::to_string(algorithm);
}

std::string conv_knobs_text(const std::vector<std::pair<int64_t, int64_t>>& knobs) {
  std::string text;
  for (const auto& [type, value] : knobs)
    text += (text.empty() ? "" : " ") + std::to_string(type) + "=" + std::to_string(value);
  return text;
}

std::vector<std::pair<int64_t, int64_t>> parse_conv_knobs(const std::string& text) {
  std::vector<std::pair<int64_t, int64_t>> knobs;
  if (text.empty()) return knobs;
  for (const std::string& pair : split(text, ' ')) {
    const size_t equals = pair.find('=');
    CYG_INPUT_CHECK(equals != std::string::npos, "knob '", pair, "' is not type=value");
    knobs.emplace_back(number<int64_t>(pair.substr(0, equals), 0, "knob type"),
                       number<int64_t>(pair.substr(equals + 1), std::numeric_limits<int64_t>::min(), "knob value"));
  }
  return knobs;
}

std::string conv_choice_name(ConvDirection direction, const ConvAlgoChoice& choice) {
  if (!choice.graph()) return conv_algorithm_name(direction, choice.algorithm);
  return "engine " + std::to_string(choice.engine) + (choice.knobs.empty() ? "" : " [" + choice.knobs + "]");
}

std::string conv_candidate_name(ConvDirection direction, const ConvCandidate& candidate) {
  return candidate.engine && !candidate.choice.graph() ? "engine ?" : conv_choice_name(direction, candidate.choice);
}

const char* conv_engine_refusal(const ConvEngineNotes& notes, ConvData data, bool allow_tf32, bool deterministic) {
  if (notes.down_converts) return "down-converts inputs";
  if (notes.reduced_precision) return "reduced-precision reduction";
  if (notes.runtime_compiled) return "compiled at run time";
  if (deterministic && notes.nondeterministic) return "non-deterministic";
  if (data == ConvData::F32 && !allow_tf32 && notes.tensor_core) return "tensor cores, TF32 off";
  return nullptr;
}

bool conv_engine_allowed(const ConvEngineNotes& notes, ConvData data, bool allow_tf32, bool deterministic) {
  return conv_engine_refusal(notes, data, allow_tf32, deterministic) == nullptr;
}

int pick_conv_candidate(const std::vector<ConvCandidate>& candidates) {
  int first_usable = -1, fastest = -1;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const ConvCandidate& c = candidates[i];
    if (!c.usable) continue;
    if (first_usable < 0) first_usable = static_cast<int>(i);
    if (c.timed_ms >= 0 && (fastest < 0 || c.timed_ms < candidates[static_cast<size_t>(fastest)].timed_ms))
      fastest = static_cast<int>(i);
  }
  return fastest >= 0 ? fastest : first_usable;
}

int pick_conv_engine(const std::vector<ConvCandidate>& candidates, size_t algorithms, int algorithm,
                     ConvEngines engines) {
  if (engines == ConvEngines::Legacy) return algorithm;
  int fastest = -1;
  for (size_t i = algorithms; i < candidates.size(); ++i)
    if (candidates[i].usable && candidates[i].timed_ms >= 0 &&
        (fastest < 0 || candidates[i].timed_ms < candidates[static_cast<size_t>(fastest)].timed_ms))
      fastest = static_cast<int>(i);
  if (fastest < 0) return algorithm;
  if (engines == ConvEngines::Graph || algorithm < 0) return fastest;
  const double algorithm_ms = candidates[static_cast<size_t>(algorithm)].timed_ms;
  return algorithm_ms < 0 || candidates[static_cast<size_t>(fastest)].timed_ms < algorithm_ms ? fastest : algorithm;
}

namespace {
// cuDNN's math types (cudnnMathType_t) by number.
std::string math_name(int math) {
  switch (math) {
    case 0: return "default";
    case 1: return "tensor_op";
    case 2: return "tensor_op_conv";
    case 3: return "fma";
  }
  return "math " + std::to_string(math);
}

std::string milliseconds(double ms) {
  if (ms < 0) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", ms);
  return text;
}
}  // namespace

std::string conv_choices_table(const std::vector<ConvChoiceReport>& reports) {
  if (reports.empty()) return "";
  std::ostringstream os;
  os << "cuDNN algorithms, per convolution and direction (ms of one run: cuDNN's search, and ours, the fastest of "
        "our timed runs after a warm-up)\n";
  char line[512];
  std::snprintf(line, sizeof line, "  %-40s %-15s %-10s %-22s %-14s %8s %9s %9s  %s\n", "shape (NxCxHxW > OC KHxKW)",
                "direction", "source", "algorithm", "math", "work MB", "search", "ours", "others (ours ms)");
  os << line;
  double sums[3] = {0, 0, 0};
  bool all_timed = true;
  for (const ConvChoiceReport& r : reports) {
    const Conv2dShape& s = r.key.shape;
    char shape[96];
    std::snprintf(shape, sizeof shape, "%lldx%lldx%lldx%lld > %lld %lldx%lld s%lld p%lld %s %s",
                  static_cast<long long>(s.N), static_cast<long long>(s.C), static_cast<long long>(s.H),
                  static_cast<long long>(s.W), static_cast<long long>(s.OC), static_cast<long long>(s.KH),
                  static_cast<long long>(s.KW), static_cast<long long>(s.stride_h), static_cast<long long>(s.pad_h),
                  r.key.data == ConvData::BF16 ? "bf16" : "f32", r.key.layout == ConvLayout::NHWC ? "nhwc" : "nchw");
    double search_ms = -1, ours_ms = -1;
    std::string others;
    for (size_t i = 0; i < r.candidates.size(); ++i) {
      const ConvCandidate& c = r.candidates[i];
      if (static_cast<int>(i) == r.chosen) {
        search_ms = c.search_ms;
        ours_ms = c.timed_ms;
        continue;
      }
      others += (others.empty() ? "" : ", ") + conv_candidate_name(r.key.direction, c) + "/" +
                math_name(c.choice.math_type) + " " +
                (c.usable ? milliseconds(c.timed_ms) : c.why_not.empty() ? "not usable" : "not usable (" + c.why_not + ")");
    }
    // A chosen engine's math is its candidate's (the choice's own is its fallback
    // algorithm's); from the file, unknown.
    const std::string math = !r.choice.graph() ? math_name(r.choice.math_type)
                             : r.chosen >= 0   ? math_name(r.candidates[static_cast<size_t>(r.chosen)].choice.math_type)
                                               : "-";
    if (ours_ms >= 0)
      sums[static_cast<int>(r.key.direction)] += ours_ms;
    else
      all_timed = false;
    std::snprintf(line, sizeof line, "  %-40s %-15s %-10s %-22s %-14s %8.1f %9s %9s", shape,
                  conv_direction_name(r.key.direction), r.source.c_str(),
                  conv_choice_name(r.key.direction, r.choice).c_str(), math.c_str(), static_cast<double>(r.choice.workspace_bytes) / 1e6,
                  milliseconds(search_ms).c_str(), milliseconds(ours_ms).c_str());
    os << line << (r.note.empty() ? "" : "  (" + r.note + ")") << (others.empty() ? "" : "  " + others) << '\n';
  }
  size_t engines = 0;
  for (const ConvChoiceReport& r : reports) engines += r.choice.graph() ? 1 : 0;
  std::snprintf(line, sizeof line,
                "  the chosen algorithms' timed runs add up to %.3f ms (forward %.3f, backward_data %.3f, "
                "backward_filter %.3f); graph engines chosen: %zu of %zu%s\n",
                sums[0] + sums[1] + sums[2], sums[0], sums[1], sums[2], engines, reports.size(),
                all_timed ? "" : "; choices from the file or the heuristics were not timed");
  os << line;
  // Why the engines that did not run were passed over, counted over every search, the
  // commonest reason first (a setting that refuses most of them shows here).
  std::map<std::string, size_t> passed_over;
  for (const ConvChoiceReport& r : reports)
    for (const ConvCandidate& c : r.candidates)
      if (c.engine && !c.usable) ++passed_over[c.why_not.empty() ? "not usable" : c.why_not];
  if (!passed_over.empty()) {
    std::vector<std::pair<std::string, size_t>> reasons(passed_over.begin(), passed_over.end());
    std::stable_sort(reasons.begin(), reasons.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    os << "  graph engines passed over:";
    const char* separator = " ";
    for (const auto& [why, count] : reasons) {
      os << separator << why << " " << count;
      separator = ", ";
    }
    os << '\n';
  }
  return os.str();
}

}  // namespace cyg
