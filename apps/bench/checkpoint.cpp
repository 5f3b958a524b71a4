// What writing a run's checkpoint costs: save_checkpoint (the model's weights and the
// optimizer's state, as a run writes last.safetensors and last.state.safetensors at every
// epoch's end) beside a reference in the same process, alternating: the same number of
// bytes, made beforehand, written to two files by the same atomic writer (temporary
// file, fsync, rename). The difference is what the checkpoint's own work adds to the disk's:
// copying the tensors to the host and laying out the files.
//   cygnet_bench_checkpoint [--model NAME] [--device cpu|cuda|emu|auto] [--rounds N] [--dir DIR]
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "apps/bench/timing.h"
#include "apps/common/checkpoint.h"
#include "engine/atomic_file.h"
#include "engine/device.h"
#include "engine/optim.h"
#include "kernels/error.h"
#include "models/registry.h"

namespace {

struct Options {
  std::string model = "resnet18", device = "cpu", dir;
  int rounds = 5;
  bool show_help = false;
};

const char* kUsage =
    "cygnet_bench_checkpoint: the time of save_checkpoint (weights and SGD momentum, as a run's\n"
    "last checkpoint) beside writing the same number of bytes, made beforehand, by the same\n"
    "atomic writer; alternating, in one process.\n"
    "  --model NAME     resnet18 (default) or another model of the registry\n"
    "  --device D       cpu (default), cuda, emu or auto: where the model lives\n"
    "  --rounds N       pairs of writes (default 5; the median of each is printed)\n"
    "  --dir DIR        where the files go, named cygnet-bench-*.safetensors (default: a new folder\n"
    "                   under $TMPDIR or /tmp); they are removed at the end, and a folder it made\n";

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      o.show_help = true;
      continue;
    }
    CYG_INPUT_CHECK(a == "--model" || a == "--device" || a == "--rounds" || a == "--dir", "unknown option '", a,
                    "' (try --help)");
    CYG_INPUT_CHECK(i + 1 < argc, a, " needs a value (try --help)");
    const std::string v = argv[++i];
    if (a == "--model") o.model = v;
    if (a == "--device") o.device = v;
    if (a == "--dir") o.dir = v;
    if (a == "--rounds") {
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      CYG_INPUT_CHECK(!v.empty() && *end == '\0' && n >= 1 && n <= 1000, "--rounds takes a whole number 1..1000, not '",
                      v, "'");
      o.rounds = static_cast<int>(n);
    }
  }
  return o;
}

uintmax_t file_bytes(const std::string& path) { return std::filesystem::file_size(path); }

// The benchmark's files, under names of its own (never a run's last.safetensors), removed
// when it ends, and its folder too where it made one.
class Scratch {
 public:
  static constexpr const char* kTag = "cygnet-bench-checkpoint";
  static constexpr const char* kReference = "cygnet-bench-reference";

  explicit Scratch(const std::string& dir) {
    if (dir.empty()) {
      const char* tmp = std::getenv("TMPDIR");
      std::string pattern = std::string(tmp != nullptr && *tmp ? tmp : "/tmp") + "/cygnet-checkpoint.XXXXXX";
      CYG_INPUT_CHECK(mkdtemp(pattern.data()) != nullptr, "cannot make a folder from '", pattern, "': ",
                      std::strerror(errno));
      dir_ = pattern;
      made_.push_back(dir_);
      return;
    }
    dir_ = dir;
    // The folders it makes, the deepest first: removed at the end where they are empty.
    for (std::filesystem::path p = std::filesystem::absolute(dir_).lexically_normal();
         !p.empty() && !std::filesystem::exists(p) && p != p.parent_path(); p = p.parent_path())
      made_.push_back(p);
    std::error_code error;
    std::filesystem::create_directories(dir_, error);
    CYG_INPUT_CHECK(!error, "--dir '", dir_, "': ", error.message());
    for (const std::string& name : names())
      CYG_INPUT_CHECK(!std::filesystem::exists(dir_ + "/" + name), "--dir '", dir_, "' already holds ", name,
                      " (a file of this benchmark's own name, left by another run of it?): remove it first");
  }
  ~Scratch() {
    std::error_code ignored;
    for (const std::string& name : names()) std::filesystem::remove(dir_ + "/" + name, ignored);
    for (const std::filesystem::path& p : made_) std::filesystem::remove(p, ignored);  // only where it is empty now
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  const std::string& dir() const { return dir_; }
  std::string path(const std::string& tag, const char* suffix) const { return dir_ + "/" + tag + suffix; }

 private:
  static std::vector<std::string> names() {
    std::vector<std::string> out;
    for (const char* tag : {kTag, kReference})
      for (const char* suffix : {".safetensors", ".state.safetensors", ".next.safetensors", ".next.state.safetensors"})
        out.push_back(std::string(tag) + suffix);
    return out;
  }
  std::string dir_;
  std::vector<std::filesystem::path> made_;
};

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  try {
    const Options o = parse(argc, argv);
    if (o.show_help) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    const cyg::Device device = cyg::parse_device(o.device);
    // The model first: an unknown name is refused before any folder is made.
    auto model = cyg::models::make_model(o.model, cyg::models::ModelOptions{});
    model->to(device);
    const Scratch scratch(o.dir);
    const std::string tag = Scratch::kTag;
    cyg::SgdOptions so;
    so.momentum = 0.9;
    cyg::SGD optimizer(model->parameters(), so);
    cyg::app::LoopState state;

    // The reference: buffers of the checkpoint's two file sizes, made before the clock
    // starts. One untimed write of each first, so that neither side's timed rounds
    // include creating its files.
    cyg::app::save_checkpoint(scratch.dir(), tag, *model, &optimizer, state, o.model);
    const std::string weights_bytes(file_bytes(scratch.path(tag, ".safetensors")), 'w');
    const std::string state_bytes(file_bytes(scratch.path(tag, ".state.safetensors")), 's');
    auto write_reference = [&] {
      cyg::write_file_atomically(scratch.path(Scratch::kReference, ".state.safetensors"), state_bytes);
      cyg::write_file_atomically(scratch.path(Scratch::kReference, ".safetensors"), weights_bytes);
    };
    write_reference();

    std::vector<double> save_ms, floor_ms;
    for (int r = 0; r < o.rounds; ++r) {
      auto t0 = cyg::bench::Clock::now();
      cyg::app::save_checkpoint(scratch.dir(), tag, *model, &optimizer, state, o.model);
      save_ms.push_back(cyg::bench::milliseconds_since(t0));
      t0 = cyg::bench::Clock::now();
      write_reference();
      floor_ms.push_back(cyg::bench::milliseconds_since(t0));
    }
    const double save = cyg::bench::median(save_ms), floor = cyg::bench::median(floor_ms);
    std::printf("checkpoint of %s on %s (%.1f MB in 2 files): save_checkpoint %.1f ms, the same bytes made "
                "beforehand %.1f ms; save/reference %.2f (median of %d rounds each, alternating)\n",
                o.model.c_str(), device.str().c_str(),
                static_cast<double>(weights_bytes.size() + state_bytes.size()) / 1e6, save, floor, save / floor,
                o.rounds);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cygnet_bench_checkpoint: %s\n", e.what());
    return 1;
  }
}
