// The message of the error a call throws, for tests that check bad input's one line word
// for word.
#pragma once
#include <exception>
#include <functional>
#include <string>

#include "kernels/error.h"

namespace cyg::test {

// What `f` throws as a cyg::Error (the project's errors), or "(no error)"; any other
// exception comes back marked as such, so that a test expecting a message fails on it.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const cyg::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("(not a cyg::Error) ") + e.what();
  }
  return "(no error)";
}

}  // namespace cyg::test
