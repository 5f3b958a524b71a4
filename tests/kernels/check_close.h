// Comparison of a result with its reference, element by element: |got - ref| <=
// atol + rtol*|ref| (NaN only matches NaN). On failure, the first mismatches are printed.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

namespace cyg::test {

template <typename T>
::testing::AssertionResult all_close(const std::vector<T>& got, const std::vector<T>& ref, double atol, double rtol) {
  if (got.size() != ref.size())
    return ::testing::AssertionFailure() << "sizes differ: " << got.size() << " vs " << ref.size();
  std::ostringstream first;
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = static_cast<double>(got[i]), r = static_cast<double>(ref[i]);
    bool ok;
    if constexpr (std::is_integral<T>::value) {
      ok = got[i] == ref[i];
    } else {
      ok = g == r || (std::isnan(g) && std::isnan(r)) || std::fabs(g - r) <= atol + rtol * std::fabs(r);
    }
    if (!ok && bad++ < 8) first << "\n  [" << i << "] got " << g << ", expected " << r;
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << got.size() << " elements differ (atol " << atol
                                       << ", rtol " << rtol << "); first:" << first.str();
}

// Uniform values in [lo, hi) from a fixed seed, independent of the engine's generator.
inline std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(gen);
  return v;
}

}  // namespace cyg::test
