// The whole model against PyTorch: a narrow ResNet-18 (width 8) loads the weights and
// input recorded by tests/golden/make_golden.py, runs one training-mode forward and
// backward, and matches PyTorch's logits, loss, every parameter gradient and the
// updated running statistics, each within its own tolerance. Built twice: on the CPU
// (GOLDEN_ON_CUDA 0) and on a GPU (GOLDEN_ON_CUDA 1, skipped where none answers).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "engine/device.h"
#include "engine/functional.h"
#include "engine/safetensors.h"
#include "models/registry.h"
#include "tests/kernels/check_close.h"

namespace {

using cyg::Tensor;

std::map<std::string, Tensor> load_golden() {
  const cyg::SafetensorsContent file =
      cyg::load_safetensors(std::string(CYGNET_SOURCE_DIR) + "/tests/golden/resnet18_w8.safetensors");
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
#else
#define GOLDEN_SUITE Golden
#endif

TEST(GOLDEN_SUITE, ResNet18MatchesPyTorch) {
  cyg::Device device = cyg::Device::cpu();
  if (GOLDEN_ON_CUDA) {
    if (!cyg::cuda_available()) GTEST_SKIP() << "no GPU answers: " << cyg::cuda_unavailable_reason();
    device = cyg::Device::cuda();
    // The recording is FP32 on the CPU: compare with FP32 convolutions.
    cyg::fn::set_allow_tf32(false);
  }
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

}  // namespace
