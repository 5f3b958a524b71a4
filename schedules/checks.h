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
// Two momenta of a cycle, each in [0, 1], the one at the lr peak (`low`) not above the other.
void check_momentum_pair(const char* where, const char* low_name, double low, const char* high_name, double high);

// Formats a double for a message with enough digits to tell close values apart.
std::string format_value(double value);

}  // namespace cyg::sched::detail
