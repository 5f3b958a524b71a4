// 2-D convolution, CPU reference: im2col, then one gemm per image (BLAS brings the threads).
#include <algorithm>
#include <tuple>
#include <vector>

#include "kernels/conv.h"
#include "kernels/gemm.h"

namespace cyg {

bool Conv2dShape::operator<(const Conv2dShape& o) const {
  return std::tie(N, C, H, W, OC, KH, KW, stride_h, stride_w, pad_h, pad_w) <
         std::tie(o.N, o.C, o.H, o.W, o.OC, o.KH, o.KW, o.stride_h, o.stride_w, o.pad_h, o.pad_w);
}

template <typename T>
void im2col_cpu(const T* image, const Conv2dShape& s, T* col) {
  const int64_t OH = s.OH(), OW = s.OW();
  for (int64_t c = 0; c < s.C; ++c)
    for (int64_t kh = 0; kh < s.KH; ++kh)
      for (int64_t kw = 0; kw < s.KW; ++kw) {
        T* row = col + ((c * s.KH + kh) * s.KW + kw) * OH * OW;
        for (int64_t oh = 0; oh < OH; ++oh) {
          const int64_t ih = oh * s.stride_h - s.pad_h + kh;
          for (int64_t ow = 0; ow < OW; ++ow) {
            const int64_t iw = ow * s.stride_w - s.pad_w + kw;
            const bool inside = ih >= 0 && ih < s.H && iw >= 0 && iw < s.W;
            row[oh * OW + ow] = inside ? image[(c * s.H + ih) * s.W + iw] : T(0);
          }
        }
      }
}

template <typename T>
void col2im_cpu(const T* col, const Conv2dShape& s, T* image) {
  const int64_t OH = s.OH(), OW = s.OW();
  for (int64_t c = 0; c < s.C; ++c)
    for (int64_t kh = 0; kh < s.KH; ++kh)
      for (int64_t kw = 0; kw < s.KW; ++kw) {
        const T* row = col + ((c * s.KH + kh) * s.KW + kw) * OH * OW;
        for (int64_t oh = 0; oh < OH; ++oh) {
          const int64_t ih = oh * s.stride_h - s.pad_h + kh;
          if (ih < 0 || ih >= s.H) continue;
          for (int64_t ow = 0; ow < OW; ++ow) {
            const int64_t iw = ow * s.stride_w - s.pad_w + kw;
            if (iw >= 0 && iw < s.W) image[(c * s.H + ih) * s.W + iw] += row[oh * OW + ow];
          }
        }
      }
}

template <typename T>
void conv2d_forward_cpu(const T* x, const T* w, const T* bias, const Conv2dShape& s, T* y) {
  const int64_t P = s.OH() * s.OW(), K = s.C * s.KH * s.KW;
  std::vector<T> col(static_cast<size_t>(K * P));
  for (int64_t n = 0; n < s.N; ++n) {
    im2col_cpu(x + n * s.C * s.H * s.W, s, col.data());
    T* out = y + n * s.OC * P;
    gemm_cpu<T>(false, false, s.OC, P, K, T(1), w, col.data(), T(0), out);
    if (bias)
      for (int64_t oc = 0; oc < s.OC; ++oc)
        for (int64_t p = 0; p < P; ++p) out[oc * P + p] += bias[oc];
  }
}

template <typename T>
void conv2d_backward_data_cpu(const T* dy, const T* w, const Conv2dShape& s, T* dx) {
  const int64_t P = s.OH() * s.OW(), K = s.C * s.KH * s.KW, image = s.C * s.H * s.W;
  std::fill(dx, dx + s.N * image, T(0));
  std::vector<T> col(static_cast<size_t>(K * P));
  for (int64_t n = 0; n < s.N; ++n) {
    gemm_cpu<T>(true, false, K, P, s.OC, T(1), w, dy + n * s.OC * P, T(0), col.data());
    col2im_cpu(col.data(), s, dx + n * image);
  }
}

template <typename T>
void conv2d_backward_filter_cpu(const T* dy, const T* x, const Conv2dShape& s, T* dw) {
  const int64_t P = s.OH() * s.OW(), K = s.C * s.KH * s.KW;
  std::vector<T> col(static_cast<size_t>(K * P));
  std::fill(dw, dw + s.OC * K, T(0));
  // Each image adds its contribution into dw.
  for (int64_t n = 0; n < s.N; ++n) {
    im2col_cpu(x + n * s.C * s.H * s.W, s, col.data());
    gemm_cpu<T>(false, true, s.OC, K, P, T(1), dy + n * s.OC * P, col.data(), T(1), dw);
  }
}

#define CYG_INSTANTIATE_CONV(T)                                                              \
  template void im2col_cpu<T>(const T*, const Conv2dShape&, T*);                             \
  template void col2im_cpu<T>(const T*, const Conv2dShape&, T*);                             \
  template void conv2d_forward_cpu<T>(const T*, const T*, const T*, const Conv2dShape&, T*); \
  template void conv2d_backward_data_cpu<T>(const T*, const T*, const Conv2dShape&, T*);     \
  template void conv2d_backward_filter_cpu<T>(const T*, const T*, const Conv2dShape&, T*);
CYG_INSTANTIATE_CONV(float)
CYG_INSTANTIATE_CONV(double)

}  // namespace cyg
