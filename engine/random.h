// Counter-based random numbers: element i of a tensor drawn with seed s depends on
// (s, i) alone, so the same seed gives the same numbers on every device and thread count.
#pragma once
#include <cstdint>

namespace cyg {

uint64_t random_bits(uint64_t seed, uint64_t counter);
// Uniform in [0, 1), 24 random bits.
float random_uniform01(uint64_t seed, uint64_t counter);
// Standard normal (Box-Muller on the uniforms of counters 2i and 2i+1).
float random_normal(uint64_t seed, uint64_t index);

}  // namespace cyg
