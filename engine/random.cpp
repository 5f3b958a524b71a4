// splitmix64-style mixing of (seed, counter); Box-Muller for normals, in double.
#include "engine/random.h"

#include <cmath>

namespace cyg {
namespace {
uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
}  // namespace

uint64_t random_bits(uint64_t seed, uint64_t counter) { return mix64(mix64(seed) ^ counter); }

float random_uniform01(uint64_t seed, uint64_t counter) {
  return static_cast<float>(random_bits(seed, counter) >> 40) * (1.0f / 16777216.0f);
}

float random_normal(uint64_t seed, uint64_t index) {
  const double u1 = (static_cast<double>(random_bits(seed, 2 * index) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
  const double u2 = static_cast<double>(random_bits(seed, 2 * index + 1) >> 11) * (1.0 / 9007199254740992.0);
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

}  // namespace cyg
