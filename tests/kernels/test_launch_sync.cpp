// The debug switch of kernels/cuda/launch.h: CYGNET_SYNC_LAUNCHES=1 (or
// CUDA_LAUNCH_BLOCKING=1) makes every launch wait for its kernel, so that a device fault
// is reported by the launch that caused it, naming the kernel. A binary of its own: the
// fault leaves the process's CUDA context unusable.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "engine/device.h"
#include "kernels/cuda/launch.h"

namespace cyg::cuda {
void launch_null_pointer_write();  // launch_sync_probe.cu
}

namespace {

// Set before any test runs: the switch is read once, at the first launch.
const bool kSwitchSet = setenv("CYGNET_SYNC_LAUNCHES", "1", 1) == 0;

TEST(LaunchSync, EitherVariableTurnsItOn) {
  using cyg::cuda::launch_sync_requested;
  EXPECT_FALSE(launch_sync_requested(nullptr, nullptr));
  EXPECT_FALSE(launch_sync_requested("0", "0"));
  EXPECT_FALSE(launch_sync_requested("", "yes"));
  EXPECT_TRUE(launch_sync_requested("1", nullptr));
  EXPECT_TRUE(launch_sync_requested(nullptr, "1"));
  ASSERT_TRUE(kSwitchSet);
  EXPECT_TRUE(cyg::cuda::sync_launches()) << "CYGNET_SYNC_LAUNCHES=1 was not read";
}

TEST(LaunchSync, DeviceFaultNamesItsKernel) {
  if (!cyg::cuda_available()) GTEST_SKIP() << "no GPU answers: " << cyg::cuda_unavailable_reason();
  try {
    cyg::cuda::launch_null_pointer_write();
    FAIL() << "a kernel writing through a null pointer was not reported at its launch";
  } catch (const cyg::Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("kernel null_pointer_write_kernel"), std::string::npos) << message;
    EXPECT_NE(message.find("launch_sync_probe.cu"), std::string::npos) << message;
  }
}

}  // namespace
