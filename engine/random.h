// Counter-based random numbers: element i of a tensor drawn with seed s depends on
// (s, i) alone, so the same seed gives the same numbers on every device and thread count.
#pragma once
#include <cstdint>

#include "kernels/random.h"

namespace cyg {

// random_bits(seed, counter) is kernels/random.h's.
// Uniform in [0, 1), 24 random bits.
float random_uniform01(uint64_t seed, uint64_t counter);
// Standard normal (Box-Muller on the uniforms of counters 2i and 2i+1).
float random_normal(uint64_t seed, uint64_t index);

}  // namespace cyg
