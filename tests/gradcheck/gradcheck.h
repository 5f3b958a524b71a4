// Finite-difference checks of backward passes, in double precision on the CPU.
// Write the op's output y = f(x) contracted with a fixed random upstream gradient dy,
// L(x) = sum(dy * f(x)); the backward given dy must return dL/dx, which is compared
// element by element with central differences (L(x + e) - L(x - e)) / 2e.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <sstream>
#include <vector>

namespace cyg::test {

inline std::vector<double> random_doubles(size_t n, uint32_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(n);
  for (auto& x : v) x = dist(gen);
  return v;
}

inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// `loss` reads x (which this function perturbs in place and restores); `analytic` is
// dL/dx computed by the backward under test. `name` labels failures.
inline ::testing::AssertionResult check_gradient(const std::function<double()>& loss, std::vector<double>& x,
                                                 const std::vector<double>& analytic, const char* name,
                                                 double eps = 1e-6, double atol = 1e-7, double rtol = 1e-6) {
  if (analytic.size() != x.size())
    return ::testing::AssertionFailure() << name << ": gradient has " << analytic.size() << " elements, input "
                                         << x.size();
  std::ostringstream first;
  size_t bad = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + eps;
    const double up = loss();
    x[i] = saved - eps;
    const double down = loss();
    x[i] = saved;
    const double numeric = (up - down) / (2 * eps);
    if (std::fabs(numeric - analytic[i]) > atol + rtol * std::fabs(numeric) && bad++ < 8)
      first << "\n  " << name << "[" << i << "]: analytic " << analytic[i] << ", numeric " << numeric;
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << x.size() << " gradient elements of " << name
                                       << " differ from central differences:" << first.str();
}

}  // namespace cyg::test
