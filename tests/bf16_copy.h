// bf16 autocast's weight copies (Variable::bf16_value), as a test checks them: the copy
// the next forward uses is the weight rounded once to bf16, and a filter's copy padded
// to more input channels (cuDNN's tensor cores take multiples of 8) has zeros there.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "engine/tensor.h"
#include "engine/variable.h"

namespace cyg::test {

inline ::testing::AssertionResult bf16_copy_is_the_rounded_weight(const Variable& p) {
  const Tensor& copy = p.bf16_copy();
  if (!copy.defined()) return ::testing::AssertionFailure() << "no bf16 copy";
  const std::vector<float> got = copy.to_vector();  // logical order, [OC, C', KH, KW] for a filter
  const std::vector<float> want = p.data().to(DType::BF16).to_vector();
  if (copy.shape() == p.data().shape()) {
    if (got == want) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "the copy is not the weight rounded to bf16";
  }
  const Shape& s = p.data().shape();
  if (copy.dim() != 4 || s.size() != 4 || copy.size(0) != s[0] || copy.size(1) <= s[1] || copy.size(2) != s[2] ||
      copy.size(3) != s[3])
    return ::testing::AssertionFailure() << "a copy of shape " << shape_str(copy.shape()) << " for a weight of "
                                         << shape_str(s);
  const int64_t C = s[1], padded_C = copy.size(1), area = s[2] * s[3];
  for (int64_t o = 0; o < s[0]; ++o)
    for (int64_t c = 0; c < padded_C; ++c)
      for (int64_t r = 0; r < area; ++r) {
        const float value = got[static_cast<size_t>((o * padded_C + c) * area + r)];
        const float expected = c < C ? want[static_cast<size_t>((o * C + c) * area + r)] : 0.0f;
        if (value != expected)
          return ::testing::AssertionFailure() << "copy[" << o << ", " << c << ", " << r / s[3] << ", " << r % s[3]
                                               << "] = " << value << ", expected " << expected
                                               << (c < C ? " (the weight rounded)" : " (padding)");
      }
  return ::testing::AssertionSuccess();
}

}  // namespace cyg::test
