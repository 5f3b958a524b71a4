// How a schedule moves between two values across a phase: straight line or half cosine.
#pragma once

#include <cmath>

namespace cyg::sched {

enum class Interpolation { Linear, Cosine };

// The value `fraction` (0..1) of the way from `from` to `to`, exactly `from` at 0 and
// exactly `to` at 1. The cosine shape leaves and reaches both ends with zero slope, so
// the phases of a schedule join smoothly.
inline double interpolate(double from, double to, double fraction, Interpolation shape) {
  const double kPi = 3.14159265358979323846;
  const double t = shape == Interpolation::Linear ? fraction : 0.5 * (1.0 - std::cos(kPi * fraction));
  return from * (1.0 - t) + to * t;
}

}  // namespace cyg::sched
