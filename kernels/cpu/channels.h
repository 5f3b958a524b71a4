// The same values channels first ([outer, C, inner]: NCHW, or a filter's KCRS) and
// channels last ([outer, inner, C]: NHWC, KRSC), one from the other: for the stand-ins
// that run the NCHW reference on channels-last tensors (the emulated device's cuDNN,
// kernels/emu/libraries.cpp; the tests' cuDNN stand-in) and for tests.
#pragma once
#include <cstdint>
#include <vector>

namespace cyg {

// Channels-first values of channels-last `x`.
template <typename T>
std::vector<T> channels_first_copy(const T* x, int64_t outer, int64_t C, int64_t inner) {
  std::vector<T> out(static_cast<size_t>(outer * C * inner));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i)
      for (int64_t c = 0; c < C; ++c) out[static_cast<size_t>((o * C + c) * inner + i)] = x[(o * inner + i) * C + c];
  return out;
}

// Channels-first `x` written channels last into `out`.
template <typename T>
void write_channels_last(const T* x, int64_t outer, int64_t C, int64_t inner, T* out) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i)
      for (int64_t c = 0; c < C; ++c) out[(o * inner + i) * C + c] = x[(o * C + c) * inner + i];
}

}  // namespace cyg
