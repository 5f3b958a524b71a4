// Parameter validation shared by the schedules: every failure is a std::invalid_argument
// that names the schedule, the parameter, the value given and what was expected.
#pragma once

#include <cstdint>
#include <string>

namespace cyg::sched::detail {

// Throws "<where>: <name> = <value>, expected <expected>".
[[noreturn]] void throw_invalid(const char* where, const char* name, double value, const std::string& expected);
[[noreturn]] void throw_invalid(const char* where, const char* name, int64_t value, const std::string& expected);

// The checks below are written so that NaN fails them.
void check_learning_rate(const char* where, const char* name, double value);  // finite, >= 0
void check_positive(const char* where, const char* name, double value);       // finite, > 0
void check_unit_interval(const char* where, const char* name, double value);  // in [0, 1]
void check_at_least(const char* where, const char* name, int64_t value, int64_t minimum);

// Formats a double for a message with enough digits to tell close values apart.
std::string format_value(double value);

}  // namespace cyg::sched::detail
