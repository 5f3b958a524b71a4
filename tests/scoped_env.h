// An environment variable set, or unset, for a scope: what was there is put back when the
// object goes away.
#pragma once
#include <stdlib.h>

#include <optional>
#include <string>

namespace cyg::test {

class ScopedEnv {
 public:
  // value: the variable's value for the scope; std::nullopt: no such variable.
  ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* before = std::getenv(name)) before_ = before;
    if (value) {
      setenv(name, value->c_str(), 1);
    } else {
      unsetenv(name);
    }
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

}  // namespace cyg::test
