// What the benchmark programs share to time their rounds: the median of a round's
// figures, and the milliseconds since a start.
#pragma once
#include <algorithm>
#include <chrono>
#include <vector>

namespace cyg::bench {

using Clock = std::chrono::steady_clock;

// The middle figure; for an even count, the mean of the two middle ones.
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

inline double milliseconds_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace cyg::bench
