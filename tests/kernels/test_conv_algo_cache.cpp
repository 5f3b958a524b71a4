// The cuDNN autotuning cache file (kernels/conv_algo_cache.h) without a GPU: written
// atomically and read back, keys that differ in any part, and files it cannot use
// (damaged ones of ours, to be replaced; anything else, to be left alone), each ignored
// with a one-line warning and never an exception.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "engine/atomic_file.h"
#include "kernels/conv_algo_cache.h"
#include "kernels/error.h"
#include "tests/scratch_dir.h"

namespace {

using cyg::ConvAlgoCache;
using cyg::ConvAlgoChoice;
using cyg::ConvAlgoKey;
using cyg::ConvDirection;

ConvAlgoKey key_of(ConvDirection direction, const std::string& gpu = "NVIDIA H200") {
  ConvAlgoKey k;
  k.gpu = gpu;
  k.cudnn_version = 91900;
  k.shape.N = 128;
  k.shape.C = 64;
  k.shape.H = k.shape.W = 32;
  k.shape.OC = 128;
  k.shape.KH = k.shape.KW = 3;
  k.shape.stride_h = k.shape.stride_w = 2;
  k.shape.pad_h = k.shape.pad_w = 1;
  k.allow_tf32 = true;
  k.deterministic = false;
  k.direction = direction;
  return k;
}

ConvAlgoCache three_directions_on_two_gpus() {
  ConvAlgoCache cache;
  cache.insert(key_of(ConvDirection::Forward), {1, 0, 4096});
  cache.insert(key_of(ConvDirection::BackwardData), {1, 1, 0});
  cache.insert(key_of(ConvDirection::BackwardFilter), {3, 3, size_t(512) << 20});
  cache.insert(key_of(ConvDirection::Forward, "NVIDIA A100-SXM4-80GB"), {6, 0, 123});
  return cache;
}

class ConvAlgoFileTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return (dir_.path() / name).string(); }
  std::string write_text(const std::string& name, const std::string& text) const {
    std::ofstream(path(name), std::ios::binary) << text;
    return path(name);
  }
  // Reads a file written with `text`, which must be ignored: an empty cache, never an
  // exception, and a one-line warning naming the file and containing `expected`.
  cyg::ConvAlgoFile read_ignored(const std::string& name, const std::string& text, const std::string& expected) const {
    SCOPED_TRACE(name);
    const std::string file = write_text(name + ".txt", text);
    cyg::ConvAlgoFile read;
    EXPECT_NO_THROW(read = cyg::read_conv_algo_file(file));
    EXPECT_EQ(read.cache.size(), 0u);
    for (const std::string& part : {expected, file, std::string("ignored")})
      EXPECT_NE(read.warning.find(part), std::string::npos) << read.warning << "\nlacks: " << part;
    EXPECT_EQ(read.warning.find('\n'), std::string::npos) << "one line";
    EXPECT_EQ(contents(file), text) << "reading changed the file";
    return read;
  }
  static std::string contents(const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream os;
    os << in.rdbuf();
    return os.str();
  }

 private:
  cyg::test::ScratchDir dir_{"conv_algo_cache"};
};

TEST_F(ConvAlgoFileTest, WrittenAtomicallyAndReadBack) {
  const ConvAlgoCache written = three_directions_on_two_gpus();
  const std::string file = path("algorithms.txt");
  cyg::write_file_atomically(file, written.serialize());
  const cyg::ConvAlgoFile read = cyg::read_conv_algo_file(file);
  EXPECT_EQ(read.warning, "");
  EXPECT_TRUE(read.may_overwrite);
  ASSERT_EQ(read.cache.size(), 4u);
  for (ConvDirection d : {ConvDirection::Forward, ConvDirection::BackwardData, ConvDirection::BackwardFilter}) {
    ASSERT_NE(read.cache.find(key_of(d)), nullptr) << cyg::conv_direction_name(d);
    EXPECT_TRUE(*read.cache.find(key_of(d)) == *written.find(key_of(d))) << cyg::conv_direction_name(d);
  }
  EXPECT_EQ(read.cache.find(key_of(ConvDirection::Forward, "NVIDIA A100-SXM4-80GB"))->algorithm, 6);
  // Written again, the same bytes: the order of lines is the keys' order.
  EXPECT_EQ(read.cache.serialize(), contents(file));
}

TEST_F(ConvAlgoFileTest, TheFormatIsOneHeaderAndOneLinePerChoice) {
  ConvAlgoCache cache;
  cache.insert(key_of(ConvDirection::BackwardFilter), {5, 1, 77});
  ConvAlgoKey bf16 = key_of(ConvDirection::Forward);
  bf16.data = cyg::ConvData::BF16;
  bf16.layout = cyg::ConvLayout::NHWC;
  cache.insert(bf16, {1, 1, 0});
  ConvAlgoKey data = key_of(ConvDirection::BackwardData);
  data.data = cyg::ConvData::BF16;
  data.layout = cyg::ConvLayout::NHWC;
  cache.insert(data, {1, 1, 4096, 41, "2=4 13=0"});  // a graph engine, with its algorithm
  EXPECT_EQ(cache.serialize(),
            "cygnet cudnn algorithm cache 3\n"
            "NVIDIA H200\t91900\t128 64 32 32 128 3 3 2 2 1 1\t1\t0\tforward\tbf16\tnhwc\t1\t1\t0\t-1\t-\n"
            "NVIDIA H200\t91900\t128 64 32 32 128 3 3 2 2 1 1\t1\t0\tbackward_data\tbf16\tnhwc\t1\t1\t4096\t41\t"
            "2=4 13=0\n"
            "NVIDIA H200\t91900\t128 64 32 32 128 3 3 2 2 1 1\t1\t0\tbackward_filter\tf32\tnchw\t5\t1\t77\t-1\t-\n");
  const ConvAlgoCache read = ConvAlgoCache::parse(cache.serialize());
  ASSERT_NE(read.find(data), nullptr);
  EXPECT_TRUE(*read.find(data) == ConvAlgoChoice(1, 1, 4096, 41, "2=4 13=0"));
  EXPECT_FALSE(read.find(bf16)->graph());
}

// A file of version 2 (algorithms only) is read as such, and saved as version 3.
TEST_F(ConvAlgoFileTest, AVersion2FileIsReadAsAlgorithmsAndRewrittenAsVersion3) {
  const std::string file =
      write_text("version2.txt", "cygnet cudnn algorithm cache 2\n"
                                 "NVIDIA H200\t91900\t128 64 32 32 128 3 3 2 2 1 1\t1\t0\tforward\tf32\tnchw\t6\t0\t123\n");
  const cyg::ConvAlgoFile read = cyg::read_conv_algo_file(file);
  EXPECT_EQ(read.warning, "");
  ASSERT_NE(read.cache.find(key_of(ConvDirection::Forward)), nullptr);
  EXPECT_EQ(read.cache.find(key_of(ConvDirection::Forward))->algorithm, 6);
  EXPECT_FALSE(read.cache.find(key_of(ConvDirection::Forward))->graph());
  EXPECT_EQ(read.cache.serialize().rfind("cygnet cudnn algorithm cache 3\n", 0), 0u);
}

// A file of version 1 (lines without data nor layout, which kept f32 NCHW choices only)
// is read as those, and a save writes it again in the current version.
TEST_F(ConvAlgoFileTest, AVersion1FileIsReadAsFp32NchwAndRewrittenInTheCurrentVersion) {
  const std::string file =
      write_text("version1.txt", "cygnet cudnn algorithm cache 1\n"
                                 "NVIDIA H200\t91900\t128 64 32 32 128 3 3 2 2 1 1\t1\t0\tforward\t6\t0\t123\n");
  const cyg::ConvAlgoFile read = cyg::read_conv_algo_file(file);
  EXPECT_EQ(read.warning, "");
  EXPECT_TRUE(read.may_overwrite);
  ASSERT_NE(read.cache.find(key_of(ConvDirection::Forward)), nullptr);
  EXPECT_EQ(read.cache.find(key_of(ConvDirection::Forward))->algorithm, 6);
  ConvAlgoKey nhwc = key_of(ConvDirection::Forward);
  nhwc.layout = cyg::ConvLayout::NHWC;
  EXPECT_EQ(read.cache.find(nhwc), nullptr) << "version 1 held no channels-last choice";
  EXPECT_EQ(read.cache.serialize().rfind("cygnet cudnn algorithm cache 3\n", 0), 0u);
  // A version-1 line in a version-2 file is a damaged line.
  read_ignored("mixed", "cygnet cudnn algorithm cache 2\n"
                        "NVIDIA H200\t91900\t128 64 32 32 128 3 3 2 2 1 1\t1\t0\tforward\t6\t0\t123\n",
               "line 2: expected 11 tab-separated fields, got 9");
}

TEST_F(ConvAlgoFileTest, EveryPartOfTheKeyCounts) {
  const ConvAlgoCache cache = three_directions_on_two_gpus();
  ConvAlgoKey k = key_of(ConvDirection::Forward);
  ASSERT_NE(cache.find(k), nullptr);
  k.cudnn_version = 91800;
  EXPECT_EQ(cache.find(k), nullptr) << "another cuDNN version";
  k = key_of(ConvDirection::Forward, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(cache.find(k), nullptr) << "another GPU";
  k = key_of(ConvDirection::Forward);
  k.allow_tf32 = false;
  EXPECT_EQ(cache.find(k), nullptr) << "TF32 off";
  k = key_of(ConvDirection::Forward);
  k.deterministic = true;
  EXPECT_EQ(cache.find(k), nullptr) << "deterministic";
  k = key_of(ConvDirection::Forward);
  k.shape.pad_w = 0;
  EXPECT_EQ(cache.find(k), nullptr) << "another padding";
  k = key_of(ConvDirection::Forward);
  k.shape.N = 100;
  EXPECT_EQ(cache.find(k), nullptr) << "another batch size";
  k = key_of(ConvDirection::Forward);
  k.data = cyg::ConvData::BF16;
  EXPECT_EQ(cache.find(k), nullptr) << "bf16";
  k = key_of(ConvDirection::Forward);
  k.layout = cyg::ConvLayout::NHWC;
  EXPECT_EQ(cache.find(k), nullptr) << "channels-last";
}

TEST_F(ConvAlgoFileTest, AMissingOrEmptyFileIsAnEmptyCacheWithoutWarning) {
  for (const std::string& file : {path("absent.txt"), write_text("empty.txt", "")}) {
    const cyg::ConvAlgoFile read = cyg::read_conv_algo_file(file);
    EXPECT_EQ(read.cache.size(), 0u) << file;
    EXPECT_EQ(read.warning, "") << file;
    EXPECT_TRUE(read.may_overwrite) << file;
  }
}

// A damaged file of ours: every problem is one warning naming the file and the line, the
// cache starts empty, and the next save replaces the file.
TEST_F(ConvAlgoFileTest, ADamagedFileIsIgnoredWithAWarningAndReplaced) {
  const std::string good = three_directions_on_two_gpus().serialize();
  const std::string header = "cygnet cudnn algorithm cache 2\n";
  const std::string line = "NVIDIA H200\t91900\t128 64 32 32 128 3 3 2 2 1 1\t1\t0\tforward\tf32\tnchw\t1\t0\t4096\n";
  struct Case {
    std::string name, text, expected;
  };
  const Case cases[] = {
      {"cut short", good.substr(0, good.size() - 5), "is cut short"},
      {"fields missing", header + "NVIDIA H200\t91900\t1 2 3\n", "line 2: expected 11 tab-separated fields, got 3"},
      {"not a number",
       header + line + "NVIDIA H200\t91900\t128 64 32 32 128 3 3 2 2 1 1\t1\t0\tforward\tf32\tnchw\tfast\t0\t1\n",
       "line 3: algorithm 'fast' is not a number"},
      {"negative", header + "NVIDIA H200\t91900\t128 64 32 32 128 3 3 2 2 1 1\t1\t0\tforward\tf32\tnchw\t-1\t0\t1\n",
       "line 2: algorithm '-1' is not a number of at least 0"},
      {"short shape", header + "NVIDIA H200\t91900\t128 64 32 32 128 3 3\t1\t0\tforward\tf32\tnchw\t1\t0\t1\n",
       "line 2: shape '128 64 32 32 128 3 3' does not have 11 numbers"},
      {"zero size", header + "NVIDIA H200\t91900\t0 64 32 32 128 3 3 2 2 1 1\t1\t0\tforward\tf32\tnchw\t1\t0\t1\n",
       "line 2: shape size '0' is not a number of at least 1"},
      {"bad flag", header + "NVIDIA H200\t91900\t128 64 32 32 128 3 3 2 2 1 1\tyes\t0\tforward\tf32\tnchw\t1\t0\t1\n",
       "line 2: allow_tf32 'yes' is not 0 or 1"},
      {"bad direction", header + "NVIDIA H200\t91900\t128 64 32 32 128 3 3 2 2 1 1\t1\t0\tsideways\tf32\tnchw\t1\t0\t1\n",
       "line 2: direction 'sideways' is not forward, backward_data or backward_filter"},
      {"no gpu", header + "\t91900\t128 64 32 32 128 3 3 2 2 1 1\t1\t0\tforward\tf32\tnchw\t1\t0\t1\n",
       "line 2: no GPU name"},
      {"binary junk", header + std::string("\0\x01\xff\n", 4), "line 2: expected 11 tab-separated fields"},
      {"bad data", header + "NVIDIA H200\t91900\t128 64 32 32 128 3 3 2 2 1 1\t1\t0\tforward\tfp16\tnchw\t1\t0\t1\n",
       "line 2: data 'fp16' is not f32 or bf16"},
      {"bad layout", header + "NVIDIA H200\t91900\t128 64 32 32 128 3 3 2 2 1 1\t1\t0\tforward\tf32\tnhcw\t1\t0\t1\n",
       "line 2: layout 'nhcw' is not nchw or nhwc"},
      {"version 3 without engine", "cygnet cudnn algorithm cache 3\n" + line,
       "line 2: expected 13 tab-separated fields, got 11"},
      {"bad engine", "cygnet cudnn algorithm cache 3\n" + line.substr(0, line.size() - 1) + "\t-2\t-\n",
       "line 2: engine '-2' is not a number of at least -1"},
      {"bad knobs", "cygnet cudnn algorithm cache 3\n" + line.substr(0, line.size() - 1) + "\t12\t2:1\n",
       "line 2: knob '2:1' is not type=value"},
      {"knobs without engine", "cygnet cudnn algorithm cache 3\n" + line.substr(0, line.size() - 1) + "\t-1\t2=1\n",
       "line 2: knobs '2=1' without an engine"},
  };
  for (const Case& c : cases) EXPECT_TRUE(read_ignored(c.name, c.text, c.expected).may_overwrite) << c.name;
}

// Anything that is not our format (a config given by mistake, a newer version of the
// format) is ignored with a warning and must never be overwritten.
TEST_F(ConvAlgoFileTest, AForeignFileIsIgnoredAndLeftAlone) {
  const std::string good_body = three_directions_on_two_gpus().serialize().substr(31);
  struct Case {
    std::string name, text;
  };
  const Case cases[] = {
      {"yaml", "name: run\ntrain:\n  epochs: 3\n"},
      {"newer version", "cygnet cudnn algorithm cache 4\n" + good_body},
      {"windows line ends", "cygnet cudnn algorithm cache 2\r\n" + good_body},
      {"blank first line", "\n" + good_body},
  };
  for (const Case& c : cases) {
    const cyg::ConvAlgoFile read = read_ignored(c.name, c.text, "not a file of this format");
    EXPECT_FALSE(read.may_overwrite) << c.name;
    EXPECT_NE(read.warning.find("left as it is"), std::string::npos) << c.name << ": " << read.warning;
  }
}

TEST_F(ConvAlgoFileTest, ALaterChoiceReplacesAnEarlierOne) {
  ConvAlgoCache cache;
  cache.insert(key_of(ConvDirection::Forward), {1, 0, 10});
  cache.insert(key_of(ConvDirection::Forward), {2, 0, 20});
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.find(key_of(ConvDirection::Forward))->algorithm, 2);
  // In a file, the later of two lines for one key.
  const std::string line = "NVIDIA H200\t91900\t128 64 32 32 128 3 3 2 2 1 1\t1\t0\tforward\tf32\tnchw\t";
  const ConvAlgoCache parsed =
      ConvAlgoCache::parse("cygnet cudnn algorithm cache 2\n" + line + "1\t0\t10\n" + line + "7\t1\t30\n");
  EXPECT_EQ(parsed.find(key_of(ConvDirection::Forward))->algorithm, 7);
}

TEST_F(ConvAlgoFileTest, AGpuNameMustFitOnOneFieldOfALine) {
  ConvAlgoCache cache;
  EXPECT_THROW(cache.insert(key_of(ConvDirection::Forward, "a\tb"), {1, 0, 0}), cyg::Error);
  EXPECT_THROW(cache.insert(key_of(ConvDirection::Forward, ""), {1, 0, 0}), cyg::Error);
}


// ---- choosing among a search's candidates, and the report of the choices ----

cyg::ConvCandidate candidate(int algorithm, bool usable, double search_ms, double timed_ms, int math = 1) {
  cyg::ConvCandidate c;
  c.choice = ConvAlgoChoice{algorithm, math, size_t(1) << 20};
  c.usable = usable;
  c.search_ms = search_ms;
  c.timed_ms = timed_ms;
  return c;
}

TEST(ConvCandidates, OurTimingDecidesWhereCuDnnsSearchOrderedOtherwise) {
  // cuDNN's search ranked algorithm 0 first (its one run of algorithm 1 included a
  // module load); our warm timings put algorithm 1 ahead.
  const std::vector<cyg::ConvCandidate> c = {candidate(0, true, 0.60, 0.58), candidate(1, true, 2.10, 0.02),
                                             candidate(2, true, 3.00, 0.90)};
  EXPECT_EQ(cyg::pick_conv_candidate(c), 1);
}

TEST(ConvCandidates, AnUnusableCandidateIsNeverPickedHoweverFast) {
  const std::vector<cyg::ConvCandidate> c = {candidate(0, true, 0.6, 0.5), candidate(1, false, 0.1, 0.01),
                                             candidate(2, true, 0.7, 0.4)};
  EXPECT_EQ(cyg::pick_conv_candidate(c), 2);
}

TEST(ConvCandidates, WithoutTimingsCuDnnsOrderStandsAndWithNoneUsableThereIsNoPick) {
  EXPECT_EQ(cyg::pick_conv_candidate({candidate(3, false, 0.1, -1), candidate(5, true, 0.2, -1),
                                      candidate(1, true, 0.3, -1)}),
            1);
  EXPECT_EQ(cyg::pick_conv_candidate({candidate(3, false, 0.1, 0.1)}), -1);
  EXPECT_EQ(cyg::pick_conv_candidate({}), -1);
  // A timed candidate beats an untimed one ahead of it.
  EXPECT_EQ(cyg::pick_conv_candidate({candidate(5, true, 0.2, -1), candidate(1, true, 0.3, 0.3)}), 1);
}

TEST(ConvCandidates, AlgorithmsAreNamedAsCuDnnsEnumsPerDirection) {
  EXPECT_EQ(cyg::conv_algorithm_name(ConvDirection::Forward, 1), "IMPLICIT_PRECOMP_GEMM");
  EXPECT_EQ(cyg::conv_algorithm_name(ConvDirection::Forward, 7), "WINOGRAD_NONFUSED");
  EXPECT_EQ(cyg::conv_algorithm_name(ConvDirection::BackwardData, 3), "FFT_TILING");
  EXPECT_EQ(cyg::conv_algorithm_name(ConvDirection::BackwardFilter, 3), "ALGO_3");
  EXPECT_EQ(cyg::conv_algorithm_name(ConvDirection::BackwardFilter, 6), "FFT_TILING");
  EXPECT_EQ(cyg::conv_algorithm_name(ConvDirection::BackwardData, 6), "algorithm 6");
  EXPECT_EQ(cyg::conv_algorithm_name(ConvDirection::Forward, -1), "algorithm -1");
}

// A choices table's lines (its title, the columns, one per report, the total): `count`
// of them, blank where the table has fewer.
std::vector<std::string> table_lines(const std::string& table, size_t count) {
  std::istringstream in(table);
  std::vector<std::string> lines(count);
  for (std::string& line : lines) std::getline(in, line);
  return lines;
}

// A graph engine's candidate: its global index and knobs, tensor cores or not.
cyg::ConvCandidate engine(int64_t index, const std::string& knobs, bool usable, double timed_ms, bool tensor_core) {
  cyg::ConvCandidate c;
  c.choice = ConvAlgoChoice{-1, tensor_core ? 1 : 3, size_t(1) << 21, index, knobs};
  c.engine = true;
  c.usable = usable;
  c.timed_ms = timed_ms;
  return c;
}

TEST(ConvCandidates, GraphEnginesAreNamedByIndexAndKnobs) {
  EXPECT_EQ(cyg::conv_choice_name(ConvDirection::Forward, engine(12, "2=1 13=0", true, 1, true).choice),
            "engine 12 [2=1 13=0]");
  EXPECT_EQ(cyg::conv_choice_name(ConvDirection::Forward, engine(0, "", true, 1, true).choice), "engine 0");
  EXPECT_EQ(cyg::conv_choice_name(ConvDirection::BackwardData, ConvAlgoChoice{1, 1, 0}), "ALGO_1");
  EXPECT_TRUE(engine(0, "", true, 1, true).choice.graph());
  EXPECT_FALSE(ConvAlgoChoice(1, 1, 0).graph());
  EXPECT_FALSE(engine(3, "1=2", true, 1, true).choice == engine(3, "1=3", true, 1, true).choice);
  EXPECT_TRUE(engine(3, "1=2", true, 1, true).choice == engine(3, "1=2", true, 1, true).choice);
}

// A chosen engine is kept with the algorithm its unaligned calls fall back on: a
// candidate's choice, which has none (algorithm -1), is refused.
TEST(ConvAlgoCache, AGraphEngineIsKeptWithItsFallbackAlgorithm) {
  ConvAlgoCache cache;
  EXPECT_THROW(cache.insert(key_of(ConvDirection::Forward), engine(7, "", true, 1, true).choice), cyg::Error);
  EXPECT_EQ(cache.size(), 0u);
  cache.insert(key_of(ConvDirection::Forward), {1, 1, 0, 7, "3=2"});
  EXPECT_EQ(cache.find(key_of(ConvDirection::Forward))->engine, 7);
  EXPECT_THROW(cache.insert(key_of(ConvDirection::Forward), {1, 1, 0, 7, "3=2\t4=1"}), cyg::Error);
}

TEST(ConvCandidates, KnobsAreWrittenAndReadBackAsTypeValuePairs) {
  const std::vector<std::pair<int64_t, int64_t>> knobs = {{2, 4}, {13, 0}, {7, -1}};
  EXPECT_EQ(cyg::conv_knobs_text(knobs), "2=4 13=0 7=-1");
  EXPECT_EQ(cyg::parse_conv_knobs("2=4 13=0 7=-1"), knobs);
  EXPECT_TRUE(cyg::parse_conv_knobs("").empty());
  EXPECT_EQ(cyg::conv_knobs_text({}), "");
  for (const char* bad : {"2", "2=", "=3", "a=1", "2=1  3=4", "-1=2"})
    EXPECT_THROW(cyg::parse_conv_knobs(bad), cyg::Error) << bad;
}

// The notes that rule an engine out, as the settings would rule out an algorithm's math.
TEST(ConvCandidates, AnEnginesNotesDecideWhetherTheSettingsAllowIt) {
  using cyg::ConvData;
  using cyg::ConvEngineNotes;
  const ConvEngineNotes plain, tensor_core{true, false, false, false, false},
      nondeterministic{false, true, false, false, false}, down_converts{true, false, true, false, false},
      reduced{true, false, false, true, false}, compiled{false, false, false, false, true};
  for (ConvData data : {ConvData::F32, ConvData::BF16}) {
    EXPECT_TRUE(cyg::conv_engine_allowed(plain, data, false, true));
    EXPECT_FALSE(cyg::conv_engine_allowed(down_converts, data, true, false));
    EXPECT_FALSE(cyg::conv_engine_allowed(reduced, data, true, false));
    EXPECT_FALSE(cyg::conv_engine_allowed(compiled, data, true, false));
    EXPECT_TRUE(cyg::conv_engine_allowed(nondeterministic, data, true, false));
    EXPECT_FALSE(cyg::conv_engine_allowed(nondeterministic, data, true, true));
  }
  // Tensor cores run f32 as TF32: only where TF32 is allowed; bf16 always may.
  EXPECT_TRUE(cyg::conv_engine_allowed(tensor_core, ConvData::F32, true, false));
  EXPECT_FALSE(cyg::conv_engine_allowed(tensor_core, ConvData::F32, false, false));
  EXPECT_TRUE(cyg::conv_engine_allowed(tensor_core, ConvData::BF16, false, true));
  // And why, for the report.
  EXPECT_EQ(cyg::conv_engine_refusal(plain, ConvData::F32, false, true), nullptr);
  EXPECT_STREQ(cyg::conv_engine_refusal(down_converts, ConvData::BF16, true, false), "down-converts inputs");
  EXPECT_STREQ(cyg::conv_engine_refusal(reduced, ConvData::BF16, true, false), "reduced-precision reduction");
  EXPECT_STREQ(cyg::conv_engine_refusal(compiled, ConvData::BF16, true, false), "compiled at run time");
  EXPECT_STREQ(cyg::conv_engine_refusal(nondeterministic, ConvData::BF16, true, true), "non-deterministic");
  EXPECT_STREQ(cyg::conv_engine_refusal(tensor_core, ConvData::F32, false, false), "tensor cores, TF32 off");
}

// Two algorithms (the second adopted) and three engines.
TEST(ConvCandidates, AnEngineIsChosenWhereItBeatsTheAlgorithmOrTheSettingsPreferEngines) {
  using cyg::ConvEngines;
  std::vector<cyg::ConvCandidate> c = {candidate(0, true, 0.5, 0.40), candidate(1, true, 0.3, 0.30),
                                       engine(4, "", true, 0.35, true), engine(9, "", false, 0.01, true),
                                       engine(2, "1=1", true, 0.20, true)};
  EXPECT_EQ(cyg::pick_conv_engine(c, 2, 1, ConvEngines::Both), 4) << "the fastest usable engine, faster";
  EXPECT_EQ(cyg::pick_conv_engine(c, 2, 1, ConvEngines::Legacy), 1);
  c[4].timed_ms = 0.31;
  EXPECT_EQ(cyg::pick_conv_engine(c, 2, 1, ConvEngines::Both), 1) << "no engine beats the algorithm";
  EXPECT_EQ(cyg::pick_conv_engine(c, 2, 1, ConvEngines::Graph), 4) << "Graph: the fastest engine, slower or not";
  c[1].timed_ms = -1;
  EXPECT_EQ(cyg::pick_conv_engine(c, 2, 1, ConvEngines::Both), 4) << "an untimed algorithm";
  c[2].usable = c[4].usable = false;
  EXPECT_EQ(cyg::pick_conv_engine(c, 2, 1, ConvEngines::Graph), 1) << "no usable engine: the algorithm";
  EXPECT_EQ(cyg::pick_conv_engine(c, 5, 1, ConvEngines::Graph), 1) << "no engines listed";
}

// A search's report of `direction`, its choice candidates[chosen].
cyg::ConvChoiceReport searched_report(ConvDirection direction, std::vector<cyg::ConvCandidate> candidates,
                                      int chosen) {
  cyg::ConvChoiceReport r;
  r.key = key_of(direction);
  r.source = "search";
  r.candidates = std::move(candidates);
  r.chosen = chosen;
  r.choice = r.candidates[static_cast<size_t>(chosen)].choice;
  return r;
}

// A report of `direction` whose choice came from the algorithm file: algorithm 1, untimed.
cyg::ConvChoiceReport file_report(ConvDirection direction) {
  cyg::ConvChoiceReport r;
  r.key = key_of(direction);
  r.source = "file";
  r.choice = ConvAlgoChoice{1, 1, 0};
  return r;
}

TEST(ConvCandidates, TheTableNamesAChosenEngineAndTheEnginesBesideTheAlgorithms) {
  cyg::ConvChoiceReport searched = searched_report(
      ConvDirection::Forward,
      {candidate(1, true, 0.300, 0.250), engine(41, "2=4 3=1", true, 0.120, true), engine(7, "", false, -1, false),
       engine(8, "", false, -1, false), engine(9, "", false, -1, false), engine(-1, "", false, -1, false)},
      1);
  searched.candidates[3].why_not = searched.candidates[4].why_not = "reduced-precision reduction";
  searched.candidates[5].why_not = "not described";
  searched.note = "accumulating: the algorithm";
  const std::vector<std::string> lines = table_lines(cyg::conv_choices_table({searched}), 4);
  const std::string &first = lines[2], &total = lines[3];
  EXPECT_NE(first.find("engine 41 [2=4 3=1]"), std::string::npos) << first;
  EXPECT_NE(first.find("IMPLICIT_PRECOMP_GEMM/tensor_op 0.250"), std::string::npos) << first;
  EXPECT_NE(first.find("engine 7/fma not usable, "), std::string::npos) << first;
  EXPECT_NE(first.find("engine 8/fma not usable (reduced-precision reduction)"), std::string::npos) << first;
  EXPECT_NE(first.find("engine ?/fma not usable (not described)"), std::string::npos) << first;
  EXPECT_NE(first.find("(accumulating: the algorithm)"), std::string::npos) << first;
  EXPECT_NE(total.find("add up to 0.120 ms"), std::string::npos) << total;
  EXPECT_NE(total.find("graph engines chosen: 1 of 1"), std::string::npos) << total;
  // Then why the engines that did not run were passed over, counted, the commonest first.
  const std::string table = cyg::conv_choices_table({searched, searched});
  EXPECT_NE(table.find("graph engines passed over: reduced-precision reduction 4, not described 2, not usable 2\n"),
            std::string::npos)
      << table;
}

TEST(ConvCandidates, TheTableShowsEachChoiceItsTimesAndTheOthersAndAddsUpTheChosen) {
  cyg::ConvChoiceReport searched = searched_report(
      ConvDirection::BackwardFilter,
      {candidate(0, true, 0.600, 0.580), candidate(1, true, 2.100, 0.020), candidate(3, false, 0.050, -1, 2)}, 1);
  searched.key.data = cyg::ConvData::BF16;
  searched.key.layout = cyg::ConvLayout::NHWC;
  const cyg::ConvChoiceReport from_file = file_report(ConvDirection::Forward);
  const std::vector<std::string> lines = table_lines(cyg::conv_choices_table({searched, from_file}), 5);
  const std::string &first = lines[2], &second = lines[3], &total = lines[4];
  EXPECT_NE(first.find("128x64x32x32 > 128 3x3 s2 p1 bf16 nhwc"), std::string::npos) << first;
  EXPECT_NE(first.find("backward_filter"), std::string::npos) << first;
  EXPECT_NE(first.find("ALGO_1"), std::string::npos) << first;
  EXPECT_NE(first.find("2.100"), std::string::npos) << first;
  EXPECT_NE(first.find("0.020"), std::string::npos) << first;
  EXPECT_NE(first.find("ALGO_0/tensor_op 0.580"), std::string::npos) << first;
  EXPECT_NE(first.find("ALGO_3/tensor_op_conv not usable"), std::string::npos) << first;
  EXPECT_NE(second.find("file"), std::string::npos) << second;
  EXPECT_NE(second.find("IMPLICIT_PRECOMP_GEMM"), std::string::npos) << second;
  // Only the chosen algorithm's time counts, and the untimed choice is said to be missing.
  EXPECT_NE(total.find("add up to 0.020 ms"), std::string::npos) << total;
  EXPECT_NE(total.find("backward_filter 0.020"), std::string::npos) << total;
  EXPECT_NE(total.find("not timed"), std::string::npos) << total;
  EXPECT_NE(total.find("graph engines chosen: 0 of 2"), std::string::npos) << total;
  EXPECT_EQ(cyg::conv_choices_table({}), "");
}

// scripts/gpu_check.sh reads the table with these patterns (grep -E) and fields (awk: a
// choice's line is the shape in 8 words, the direction, then the source); a change to
// the table's wording that they no longer match would lose the check's rows on a GPU.
// Keep the two in step.
TEST(ConvCandidates, TheTableReadsAsTheGpuCheckReadsIt) {
  cyg::ConvChoiceReport searched = searched_report(
      ConvDirection::Forward,
      {candidate(1, true, 0.300, 0.250), engine(41, "2=4", true, 0.120, true), engine(8, "", false, -1, false)}, 1);
  searched.candidates[2].why_not = "reduced-precision reduction";
  const std::string table = cyg::conv_choices_table({searched, file_report(ConvDirection::BackwardData)});
  const std::regex conv_sum(
      "timed runs add up to [0-9.]+ ms \\(forward [0-9.]+, backward_data [0-9.]+, backward_filter [0-9.]+\\); graph "
      "engines chosen: [0-9]+ of [0-9]+");
  EXPECT_TRUE(std::regex_search(table, conv_sum)) << table;
  EXPECT_TRUE(std::regex_search(table, std::regex("graph engines chosen: [0-9]+ of [0-9]+"))) << table;
  EXPECT_TRUE(std::regex_search(table, std::regex("graph engines passed over: .+"))) << table;
  std::vector<std::string> sources;
  std::istringstream lines(table);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::vector<std::string> w{std::istream_iterator<std::string>(words), std::istream_iterator<std::string>()};
    if (w.size() >= 10 && (w[9] == "search" || w[9] == "file" || w[9] == "heuristics")) sources.push_back(w[9]);
  }
  EXPECT_EQ(sources, (std::vector<std::string>{"search", "file"})) << table;
}

}  // namespace
