// Parameter validation shared by the schedules (see checks.h).
#include "schedules/checks.h"

#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace cyg::sched::detail {

std::string format_value(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.12g", value);
  return buffer;
}

void throw_invalid(const char* where, const char* name, double value, const std::string& expected) {
  throw std::invalid_argument(std::string(where) + ": " + name + " = " + format_value(value) + ", expected " +
                              expected);
}

void throw_invalid(const char* where, const char* name, int64_t value, const std::string& expected) {
  throw std::invalid_argument(std::string(where) + ": " + name + " = " + std::to_string(value) + ", expected " +
                              expected);
}

void check_learning_rate(const char* where, const char* name, double value) {
  if (!(std::isfinite(value) && value >= 0.0)) throw_invalid(where, name, value, "a finite value >= 0");
}

void check_positive(const char* where, const char* name, double value) {
  if (!(std::isfinite(value) && value > 0.0)) throw_invalid(where, name, value, "a finite value > 0");
}

void check_unit_interval(const char* where, const char* name, double value) {
  if (!(value >= 0.0 && value <= 1.0)) throw_invalid(where, name, value, "a value in [0, 1]");
}

void check_at_least(const char* where, const char* name, int64_t value, int64_t minimum) {
  if (value < minimum) throw_invalid(where, name, value, ">= " + std::to_string(minimum));
}

void check_momentum_pair(const char* where, const char* low_name, double low, const char* high_name, double high) {
  check_unit_interval(where, low_name, low);
  check_unit_interval(where, high_name, high);
  if (low > high) throw_invalid(where, low_name, low, std::string("<= ") + high_name + " = " + format_value(high));
}

}  // namespace cyg::sched::detail
