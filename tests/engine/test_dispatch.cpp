// The dispatch table: every backend of this build registers every kernel, tensors find
// their backend by device, and a kernel a backend lacks is a clear error.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/dispatch.h"
#include "engine/tensor.h"
#include "kernels/error.h"

namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

TEST(Dispatch, CpuBackendRegistersEveryKernel) {
  const cyg::Kernels& k = cyg::cpu_kernels();
  EXPECT_STREQ(k.backend, "cpu");
  EXPECT_GE(k.entries.size(), 30u);
  EXPECT_TRUE(k.missing().empty()) << "missing: " << joined(k.missing());
}

TEST(Dispatch, CudaBackendRegistersEveryKernelOrSaysItIsNotBuilt) {
  if (!cyg::built_with_cuda()) {
    try {
      cyg::cuda_kernels();
      FAIL() << "a build without CUDA handed out CUDA kernels";
    } catch (const cyg::Error& e) {
      EXPECT_NE(std::string(e.what()).find("built without CUDA"), std::string::npos) << e.what();
    }
    return;
  }
  // Filling the table calls nothing on a GPU, so it is checked where none answers too.
  const cyg::Kernels& k = cyg::cuda_kernels();
  EXPECT_STREQ(k.backend, "cuda");
  EXPECT_TRUE(k.missing().empty()) << "missing: " << joined(k.missing());
}

TEST(Dispatch, ACpuTensorUsesTheCpuTable) {
  const cyg::Tensor t = cyg::Tensor::zeros({3});
  EXPECT_EQ(&cyg::kernels_for(t), &cyg::cpu_kernels());
  EXPECT_EQ(&cyg::kernels_for(cyg::Device::cpu()), &cyg::cpu_kernels());
}

TEST(Dispatch, AKernelABackendLacksIsAnErrorNamingIt) {
  std::vector<const cyg::KernelEntry*> table;
  cyg::Kernel<float(float)> twice{table, "twice"};
  ASSERT_EQ(table.size(), 1u);
  EXPECT_FALSE(twice.available());
  try {
    twice(1.0f);
    FAIL() << "calling an unregistered kernel did not throw";
  } catch (const cyg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'twice'"), std::string::npos) << e.what();
  }
  twice = [](float x) { return 2.0f * x; };
  EXPECT_TRUE(twice.available());
  EXPECT_EQ(twice(1.5f), 3.0f);
}

}  // namespace
