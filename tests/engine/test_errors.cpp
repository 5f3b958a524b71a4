// Errors name what failed, where, and why; devices parse or say what was expected.
#include <gtest/gtest.h>

#include <string>

#include "engine/device.h"
#include "kernels/error.h"

namespace {

TEST(Errors, CheckNamesConditionFileLineAndMessage) {
  try {
    const int channels = 3;
    CYG_CHECK(channels == 4, "expected 4 channels, got ", channels);
    FAIL() << "no throw";
  } catch (const cyg::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("expected 4 channels, got 3"), std::string::npos) << what;
    EXPECT_NE(what.find("`channels == 4`"), std::string::npos) << what;
    EXPECT_NE(what.find("test_errors.cpp:"), std::string::npos) << what;
  }
}

TEST(Errors, DeviceParsing) {
  EXPECT_EQ(cyg::parse_device("cpu"), cyg::Device::cpu());
  if (cyg::cuda_available()) {
    EXPECT_EQ(cyg::parse_device("cuda"), cyg::Device::cuda(0));
    EXPECT_EQ(cyg::parse_device("cuda:0").index, 0);
  } else {
    try {
      cyg::parse_device("cuda");
      FAIL() << "cuda accepted without a GPU";
    } catch (const cyg::Error& e) {
      EXPECT_NE(std::string(e.what()).find("device 'cuda': no GPU answers"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(cyg::parse_device("cuda:99"), cyg::Error);
  EXPECT_EQ(cyg::parse_device("auto"), cyg::cuda_available() ? cyg::Device::cuda(0) : cyg::Device::cpu());
  try {
    cyg::parse_device("gpu");
    FAIL() << "no throw";
  } catch (const cyg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("device 'gpu': expected cpu, cuda, cuda:N, emu or auto"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(cyg::parse_device("cuda:x"), cyg::Error);
  EXPECT_THROW(cyg::parse_device("cuda:99999999999"), cyg::Error) << "an index past int: an error, not stoi's";
}

// A configuration's device is checked by its form alone, before any GPU is asked for:
// every form parse_device takes passes, wherever it runs.
TEST(Errors, DeviceSpecsAreCheckedWithoutAGpu) {
  for (const char* good : {"cpu", "emu", "auto", "cuda", "cuda:0", "cuda:7", "cuda:123456"})
    EXPECT_NO_THROW(cyg::check_device_spec(good)) << good;
  for (const char* bad : {"", "gpu", "tpu", "CPU", "cuda:", "cuda:x", "cuda:-1", "cuda:1234567", "cuda0", " cpu"}) {
    try {
      cyg::check_device_spec(bad);
      ADD_FAILURE() << "'" << bad << "' accepted";
    } catch (const cyg::Error& e) {
      EXPECT_NE(std::string(e.what()).find("device '" + std::string(bad) + "': expected cpu, cuda, cuda:N, emu or auto"),
                std::string::npos) << e.what();
    }
  }
}

TEST(Errors, CudaAvailabilityNeverThrows) {
  bool available = true;
  EXPECT_NO_THROW(available = cyg::cuda_available());
  EXPECT_EQ(available, cyg::cuda_device_count() > 0);
  if (!available) {
    EXPECT_FALSE(cyg::cuda_unavailable_reason().empty());
  }
}

}  // namespace
