// Assertions shared by the schedules tests: relative closeness, and an invalid_argument
// whose message names what was wrong.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <initializer_list>
#include <stdexcept>
#include <string>

namespace cyg::sched::test_util {

// Relative tolerance: the schedules' values span 1e-7 .. 10.
inline ::testing::AssertionResult close(double actual, double expected, double rel = 1e-12) {
  if (std::fabs(actual - expected) <= rel * std::fabs(expected) + 1e-300) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "actual " << actual << " vs expected " << expected << " (difference "
                                       << actual - expected << ")";
}

template <typename F>
void expect_invalid_argument(F&& make, std::initializer_list<const char*> message_parts) {
  try {
    make();
    ADD_FAILURE() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& error) {
    const std::string message = error.what();
    for (const char* part : message_parts) {
      EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' missing from: " << message;
    }
  }
}

}  // namespace cyg::sched::test_util
