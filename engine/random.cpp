// Uniforms and normals from kernels/random.h's bits; Box-Muller for normals, in double.
#include "engine/random.h"

#include <cmath>

namespace cyg {

float random_uniform01(uint64_t seed, uint64_t counter) {
  return static_cast<float>(random_bits(seed, counter) >> 40) * (1.0f / 16777216.0f);
}

float random_normal(uint64_t seed, uint64_t index) {
  const double u1 = (static_cast<double>(random_bits(seed, 2 * index) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
  const double u2 = static_cast<double>(random_bits(seed, 2 * index + 1) >> 11) * (1.0 / 9007199254740992.0);
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

}  // namespace cyg
