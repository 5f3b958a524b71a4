// What the data tests share: raw bytes, and the check that an error names what went
// wrong.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "kernels/error.h"

namespace cyg::test {

using Bytes = std::vector<uint8_t>;

// Runs `load`, expecting a cyg::Error whose message holds every one of `parts`.
inline void expect_error(const std::function<void()>& load, std::initializer_list<std::string> parts) {
  try {
    load();
    ADD_FAILURE() << "no error thrown";
  } catch (const cyg::Error& e) {
    const std::string what = e.what();
    for (const std::string& part : parts)
      EXPECT_NE(what.find(part), std::string::npos) << "'" << part << "' not in: " << what;
  }
}

}  // namespace cyg::test
