// A fresh, empty folder for test files, unique across processes (mkdtemp), so the test
// suites of two checkouts can run on one machine at once; removed with its contents when
// the object goes away.
#pragma once
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace cyg::test {

class ScratchDir {
 public:
  explicit ScratchDir(const std::string& label) {
    std::string pattern = ::testing::TempDir() + "cygnet_" + label + "_XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("cannot create a folder like " + pattern);
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // A fresh, empty subfolder (one per test of a suite sharing this folder).
  std::filesystem::path fresh(const std::string& name) const {
    const std::filesystem::path dir = path_ / name;
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace cyg::test
