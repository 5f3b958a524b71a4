// cast f32 <-> bf16, CPU reference (the conversions are in kernels/common.h).
#include "kernels/cast.h"

#include "kernels/error.h"

namespace cyg {

void cast_f32_to_bf16_cpu(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = float_to_bf16(x[i]);
}

void cast_bf16_to_f32_cpu(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_float(x[i]);
}

void widen_krsc_to_oihw_cpu(const uint16_t* krsc, float* oihw, int64_t OC, int64_t C, int64_t area, int64_t krsc_C) {
  CYG_CHECK(krsc_C >= C, "a KRSC filter of ", krsc_C, " channels read as ", C);
  const int64_t n = OC * C * area;
  for (int64_t i = 0; i < n; ++i) oihw[i] = bf16_to_float(krsc[krsc_offset(i, C, area, krsc_C)]);
}

template <typename S>
void pad_channels_to_bf16_cpu(const S* src, uint16_t* dst, int64_t rows, int64_t C, int64_t padded_C) {
  CYG_CHECK(C >= 1 && padded_C >= C, "padding ", C, " channels to ", padded_C);
  const int64_t n = rows * padded_C;
  for (int64_t i = 0; i < n; ++i) dst[i] = padded_channel_value(src, i, C, padded_C);
}
template void pad_channels_to_bf16_cpu<float>(const float*, uint16_t*, int64_t, int64_t, int64_t);
template void pad_channels_to_bf16_cpu<uint16_t>(const uint16_t*, uint16_t*, int64_t, int64_t, int64_t);

}  // namespace cyg
