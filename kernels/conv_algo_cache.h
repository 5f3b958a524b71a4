// The file of cuDNN autotuning choices (config key cudnn_cache): what a search chose for
// each convolution shape and direction, keyed also by the GPU's name, the cuDNN version
// and the settings the search ran under, so that a later run on the same GPU and library
// takes the choice instead of searching again. Host code only (tested without a GPU):
// kernels/cuda/cudnn_conv.cpp fills the cache and has it written atomically.
//
// The format is text: a header line ("cygnet cudnn algorithm cache 3"), then one line
// per choice with tab-separated fields
//   gpu  cudnn_version  N C H W OC KH KW stride_h stride_w pad_h pad_w  allow_tf32
//   deterministic  direction  data  layout  algorithm  math_type  workspace_bytes
//   engine  knobs
// (the shape's numbers separated by spaces, booleans as 0/1, data f32 or bf16, layout
// nchw or nhwc, cuDNN's enums as integers; engine -1 and knobs "-" for a legacy
// algorithm, else the graph engine's global index and its knobs as "type=value" pairs
// separated by spaces, with the algorithm its calls fall back on). Versions 1 (no data
// nor layout: f32 NCHW choices only) and 2 (no engine nor knobs: algorithms only) are
// read as such and rewritten as version 3.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "kernels/conv.h"

namespace cyg {

const char* conv_direction_name(ConvDirection direction);  // forward, backward_data, backward_filter

struct ConvAlgoKey {
  std::string gpu;  // the device's name (cudaDeviceProp::name); no tab or line break
  int64_t cudnn_version = 0;
  Conv2dShape shape;
  bool allow_tf32 = true, deterministic = false;
  ConvDirection direction = ConvDirection::Forward;
  ConvData data = ConvData::F32;
  ConvLayout layout = ConvLayout::NCHW;
  bool operator<(const ConvAlgoKey& o) const;
};

// cuDNN's algorithm and math type as integers, and the workspace the choice needs; or,
// where `engine` is set, an engine of cuDNN's graph API (its global index) with the knob
// settings it was timed with ("type=value" pairs, in cuDNN's order), run through an
// execution plan. A search's candidate engine has algorithm -1 and a math_type that says
// whether it uses tensor cores (1, tensor_op) or not (3, fma); a chosen one (in a report
// or the file) carries the legacy algorithm and math type its unaligned calls run.
struct ConvAlgoChoice {
  ConvAlgoChoice() = default;
  ConvAlgoChoice(int algorithm_, int math_type_, size_t workspace_bytes_, int64_t engine_ = -1,
                 std::string knobs_ = {})
      : algorithm(algorithm_),
        math_type(math_type_),
        workspace_bytes(workspace_bytes_),
        engine(engine_),
        knobs(std::move(knobs_)) {}
  int algorithm = 0;
  int math_type = 0;
  size_t workspace_bytes = 0;
  int64_t engine = -1;
  std::string knobs;
  bool graph() const { return engine >= 0; }
  bool operator==(const ConvAlgoChoice& o) const;
};

class ConvAlgoCache {
 public:
  const ConvAlgoChoice* find(const ConvAlgoKey& key) const;
  void insert(const ConvAlgoKey& key, const ConvAlgoChoice& choice);  // replaces an earlier one
  size_t size() const { return choices_.size(); }

  std::string serialize() const;
  // The inverse of serialize(); a malformed line is a cyg::Error naming its number.
  static ConvAlgoCache parse(const std::string& text);

 private:
  std::map<ConvAlgoKey, ConvAlgoChoice> choices_;
};

// A cache file as read at start. A missing or empty file gives an empty cache. A file
// that cannot be used gives an empty cache and a one-line warning: one of ours that is
// damaged (a bad line, cut short) is replaced by the next save; any other file (another
// format, a newer version of ours) is never overwritten.
struct ConvAlgoFile {
  ConvAlgoCache cache;
  bool may_overwrite = true;
  std::string warning;  // empty when the file was read, or was not there
};
ConvAlgoFile read_conv_algo_file(const std::string& path);

// cuDNN's name of an algorithm of a direction, as its enums spell it without their
// prefix ("IMPLICIT_PRECOMP_GEMM", "ALGO_1", ...); "algorithm N" past the known ones.
std::string conv_algorithm_name(ConvDirection direction, int algorithm);
// Knobs as text ("type=value" pairs separated by spaces) and back; malformed text is a
// cyg::Error naming the pair.
std::string conv_knobs_text(const std::vector<std::pair<int64_t, int64_t>>& knobs);
std::vector<std::pair<int64_t, int64_t>> parse_conv_knobs(const std::string& text);

// A choice's name: its algorithm's, or "engine N" with its knobs for a graph engine.
std::string conv_choice_name(ConvDirection direction, const ConvAlgoChoice& choice);

// What cuDNN's notes say of a graph engine.
struct ConvEngineNotes {
  bool tensor_core = false, nondeterministic = false, down_converts = false, reduced_precision = false,
       runtime_compiled = false;
};
// Whether a search may time a graph engine: never one that converts its inputs to a
// narrower type or reduces in lower precision (fp32 accumulation, as autocast's), nor one
// compiled at run time (seconds per shape); with determinism asked for, only engines that
// give the same bits every run; for f32 data with TF32 off, none on tensor cores (which
// run f32 as TF32). The same rules as the legacy algorithms' math types and notes.
bool conv_engine_allowed(const ConvEngineNotes& notes, ConvData data, bool allow_tf32, bool deterministic);
// Why conv_engine_allowed refuses an engine ("down-converts inputs", "reduced-precision
// reduction", "compiled at run time", "non-deterministic", "tensor cores, TF32 off"), or
// null where it allows it.
const char* conv_engine_refusal(const ConvEngineNotes& notes, ConvData data, bool allow_tf32, bool deterministic);

// One algorithm as an autotuning search saw it.
struct ConvCandidate {
  ConvAlgoChoice choice;
  // A graph engine's (choice.engine its global index; -1 where cuDNN did not describe it).
  bool engine = false;
  // Ran in cuDNN's search, within the workspace cap, of a math type the settings allow
  // (and deterministic when asked).
  bool usable = false;
  std::string why_not;      // where not usable: why (a setting, cuDNN's status, a failed run)
  double search_ms = -1.0;  // cuDNN's time in its search
  double timed_ms = -1.0;   // the fastest of our own timed runs after a warm-up; < 0: none
};
// A candidate's name: its choice's, or "engine ?" for an engine cuDNN did not describe.
std::string conv_candidate_name(ConvDirection direction, const ConvCandidate& candidate);

// The candidate a search keeps: the usable one with the least timed_ms; where none was
// timed, the first usable one (cuDNN lists a search's results fastest first); -1 when
// none is usable. Our own timing is what decides, as cuDNN's runs each algorithm once,
// the first call of a kernel included (with CUDA's lazy loading, a module load).
int pick_conv_candidate(const std::vector<ConvCandidate>& candidates);

// Where a search's candidates are the legacy algorithms' (the first `algorithms`, of
// which the one at `algorithm` was adopted) and then the graph engines': the fastest
// usable engine where `engines` is Graph, or where it is Both and its timed run beat the
// algorithm's (or the algorithm went untimed); else `algorithm`.
int pick_conv_engine(const std::vector<ConvCandidate>& candidates, size_t algorithms, int algorithm,
                     ConvEngines engines);

// How one direction of one convolution got its algorithm: from the algorithm file, a
// search, or cuDNN's heuristics.
struct ConvChoiceReport {
  ConvAlgoKey key;
  std::string source;  // "file", "search" or "heuristics"
  ConvAlgoChoice choice;
  std::vector<ConvCandidate> candidates;  // a search's, in cuDNN's order; else empty
  int chosen = -1;                        // the index of the choice among them
  // Anything else the table should say of the choice (backward data's accumulating
  // calls with a graph engine: whether the engine takes beta 1 or the algorithm runs).
  std::string note;
};

// The reports as a table, one line per convolution and direction in the order they were
// planned, and the sum of the chosen algorithms' timed runs (a lower bound on the
// convolutions' time in a step that runs each once).
std::string conv_choices_table(const std::vector<ConvChoiceReport>& reports);

// The reports of this process' plans so far (cuda: kernels/cuda/cudnn_conv.cpp; the
// emulated device has no cuDNN and reports none).
CYG_CUDA_DECL(std::vector<ConvChoiceReport> conv2d_choices())

}  // namespace cyg
