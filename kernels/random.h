// Counter-based random bits, written once for host and device: the value for
// (seed, counter) is the same on every device and thread, so seeded initialisation and
// data augmentation are reproducible and resumable. splitmix64's finaliser as the mixer.
#pragma once
#include "kernels/common.h"

namespace cyg {

CYG_HD uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

CYG_HD uint64_t random_bits(uint64_t seed, uint64_t counter) { return mix64(mix64(seed) ^ counter); }

}  // namespace cyg
