// The whole model against PyTorch: a narrow ResNet-18 (width 8) loads the weights and
// input recorded by tests/golden/make_golden.py, runs one training-mode forward and
// backward, and matches PyTorch's logits, loss, every parameter gradient and the
// updated running statistics, each within its own tolerance. Built once per device, the
// device named by defines (tests/CMakeLists.txt): GOLDEN_ON_CUDA 1 (a GPU, skipped where
// none answers), GOLDEN_ON_EMU 1 (the emulated CUDA device), else the CPU;
// golden_device() turns them into the device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "engine/device.h"
#include "engine/functional.h"
#include "engine/safetensors.h"
#include "kernels/error.h"
#include "models/registry.h"
#include "tests/kernels/check_close.h"
#include "tests/scratch_dir.h"

namespace {

using cyg::Tensor;
namespace fs = std::filesystem;

constexpr const char* kGoldenFile = "resnet18_w8.safetensors";

// Where the recording is, so that a prebuilt binary finds it from another checkout:
// CYGNET_GOLDEN_DATA (the file) when set, else tests/golden/ under the working
// directory, else beside the binary (scripts/pack_gpu_check.sh puts it there), else the
// source tree the binary was built from. The error names every place looked at.
fs::path find_golden_data() {
  if (const char* set = std::getenv("CYGNET_GOLDEN_DATA"); set != nullptr && *set != '\0') {
    if (fs::is_regular_file(set)) return set;
    throw cyg::Error(std::string("CYGNET_GOLDEN_DATA names ") + set + ", which is not a file");
  }
  std::vector<fs::path> places = {fs::path("tests/golden") / kGoldenFile};
  std::error_code error;
  const fs::path binary = fs::read_symlink("/proc/self/exe", error);
  if (!error) places.push_back(binary.parent_path() / kGoldenFile);
  places.push_back(fs::path(CYGNET_SOURCE_DIR) / "tests/golden" / kGoldenFile);
  std::string looked;
  for (const fs::path& place : places) {
    if (fs::is_regular_file(place)) return place;
    looked += "\n  " + fs::absolute(place).string();
  }
  throw cyg::Error("the golden recording is in none of these places (set CYGNET_GOLDEN_DATA to the file):" + looked);
}

std::map<std::string, Tensor> load_golden() {
  const cyg::SafetensorsContent file = cyg::load_safetensors(find_golden_data().string());
  std::map<std::string, Tensor> out(file.tensors.begin(), file.tensors.end());
  return out;
}

double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, static_cast<double>(std::fabs(x)));
  return m;
}

// Agreement relative to the tensor's scale: float32 sums in another order, through a
// dozen layers, differ by a small fraction of the largest magnitude.
::testing::AssertionResult matches(const Tensor& got, const Tensor& want, double rel) {
  const std::vector<float> g = got.to_vector(), w = want.to_vector();
  return cyg::test::all_close(g, w, rel * max_abs(w) + 1e-7, rel);
}

#if GOLDEN_ON_CUDA
#define GOLDEN_SUITE GpuGolden
#elif GOLDEN_ON_EMU
#define GOLDEN_SUITE EmuGolden
#else
#define GOLDEN_SUITE Golden
#endif

// The device this binary checks, or nothing where it cannot run (skip_reason says why).
std::optional<cyg::Device> golden_device(std::string* skip_reason) {
#if GOLDEN_ON_CUDA
  if (!cyg::cuda_available()) {
    *skip_reason = "no GPU answers: " + cyg::cuda_unavailable_reason();
    return std::nullopt;
  }
  return cyg::Device::cuda();
#elif GOLDEN_ON_EMU
  (void)skip_reason;
  return cyg::Device::emu();
#else
  (void)skip_reason;
  return cyg::Device::cpu();
#endif
}

TEST(GOLDEN_SUITE, ResNet18MatchesPyTorch) {
  std::string skip_reason;
  const std::optional<cyg::Device> maybe_device = golden_device(&skip_reason);
  if (!maybe_device) GTEST_SKIP() << skip_reason;
  const cyg::Device device = *maybe_device;
  // The recording is FP32 on the CPU: compare with FP32 convolutions.
  cyg::fn::set_allow_tf32(false);
  auto golden = load_golden();
  cyg::models::ModelOptions options;
  options.width = 8;
  auto model = cyg::models::make_model("resnet18", options);
  cyg::nn::NamedTensors init;
  for (const auto& [name, t] : model->state_dict()) {
    ASSERT_TRUE(golden.count("init." + name)) << "the recording has no " << name;
    init.emplace_back(name, golden.at("init." + name));
  }
  model->load_state_dict(init);
  model->to(device);
  model->train();

  const cyg::Variable x(golden.at("input").to(device));
  const cyg::Variable logits = (*model)(x);
  const cyg::fn::CrossEntropy ce = cyg::fn::cross_entropy(logits, golden.at("labels").to(device));
  cyg::backward(ce.loss);

  EXPECT_TRUE(matches(logits.data(), golden.at("logits"), 1e-4)) << "logits";
  EXPECT_NEAR(ce.loss.data().item(), golden.at("loss").item(), 1e-5);
  int checked = 0;
  for (const auto& [name, p] : model->named_parameters()) {
    ASSERT_TRUE(p.has_grad()) << name;
    EXPECT_TRUE(matches(p.grad(), golden.at("grad." + name), 2e-3)) << "gradient of " << name;
    ++checked;
  }
  EXPECT_EQ(checked, 62);
  for (const auto& [name, b] : model->named_buffers()) {
    if (name.find("num_batches_tracked") != std::string::npos) {
      EXPECT_EQ(b.item(), golden.at("after." + name).item()) << name;
    } else {
      EXPECT_TRUE(matches(b, golden.at("after." + name), 1e-4)) << name;
    }
  }
}

// Sets an environment variable for its lifetime, then restores what was there.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* before = std::getenv(name)) before_ = before;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (before_) {
      setenv(name_, before_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> before_;
};

// A binary run from another checkout or folder finds the recording; the variable wins.
TEST(GOLDEN_SUITE, DataFoundFromTheEnvironmentFirst) {
  const fs::path found = find_golden_data();
  ASSERT_TRUE(fs::is_regular_file(found)) << found;
  const cyg::test::ScratchDir scratch("golden");
  const fs::path copy = scratch.path() / "elsewhere.safetensors";
  fs::copy_file(found, copy);
  {
    const ScopedEnv env("CYGNET_GOLDEN_DATA", copy.string());
    EXPECT_EQ(find_golden_data(), copy);
  }
  const ScopedEnv env("CYGNET_GOLDEN_DATA", (scratch.path() / "missing.safetensors").string());
  try {
    find_golden_data();
    ADD_FAILURE() << "a CYGNET_GOLDEN_DATA naming no file was accepted";
  } catch (const cyg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.safetensors"), std::string::npos) << e.what();
  }
}

}  // namespace
