// 2-D convolution, CPU reference: im2col, then one gemm per image. Images are spread
// over OpenMP threads, each with a single-threaded gemm (BLAS's own threads would
// compete with ours on a few cores); the filter gradient sums per-thread partials in
// thread order, so results do not depend on timing.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <tuple>
#include <vector>

#include "kernels/cast.h"
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
        // Output columns whose input column lies inside the image: [ow_begin, ow_end).
        const int64_t shift = kw - s.pad_w;
        const int64_t ow_begin = std::min(OW, shift >= 0 ? 0 : (-shift + s.stride_w - 1) / s.stride_w);
        const int64_t ow_end = std::max(ow_begin, std::min(OW, (s.W - shift + s.stride_w - 1) / s.stride_w));
        for (int64_t oh = 0; oh < OH; ++oh) {
          T* out = row + oh * OW;
          const int64_t ih = oh * s.stride_h - s.pad_h + kh;
          if (ih < 0 || ih >= s.H) {
            std::fill(out, out + OW, T(0));
            continue;
          }
          const T* in = image + (c * s.H + ih) * s.W + shift;
          std::fill(out, out + ow_begin, T(0));
          if (s.stride_w == 1) {
            std::memcpy(out + ow_begin, in + ow_begin, static_cast<size_t>(ow_end - ow_begin) * sizeof(T));
          } else {
            for (int64_t ow = ow_begin; ow < ow_end; ++ow) out[ow] = in[ow * s.stride_w];
          }
          std::fill(out + ow_end, out + OW, T(0));
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
#pragma omp parallel
  {
    std::vector<T> col(static_cast<size_t>(K * P));
#pragma omp for schedule(static)
    for (int64_t n = 0; n < s.N; ++n) {
      im2col_cpu(x + n * s.C * s.H * s.W, s, col.data());
      T* out = y + n * s.OC * P;
      gemm_cpu<T>(Transpose::No, Transpose::No, s.OC, P, K, T(1), w, col.data(), T(0), out);
      if (bias)
        for (int64_t oc = 0; oc < s.OC; ++oc)
          for (int64_t p = 0; p < P; ++p) out[oc * P + p] += bias[oc];
    }
  }
}

template <typename T>
void conv2d_backward_data_cpu(const T* dy, const T* w, const Conv2dShape& s, T* dx) {
  const int64_t P = s.OH() * s.OW(), K = s.C * s.KH * s.KW, image = s.C * s.H * s.W;
  std::fill(dx, dx + s.N * image, T(0));
#pragma omp parallel
  {
    std::vector<T> col(static_cast<size_t>(K * P));
#pragma omp for schedule(static)
    for (int64_t n = 0; n < s.N; ++n) {
      gemm_cpu<T>(Transpose::Yes, Transpose::No, K, P, s.OC, T(1), w, dy + n * s.OC * P, T(0), col.data());
      col2im_cpu(col.data(), s, dx + n * image);
    }
  }
}

template <typename T>
void conv2d_backward_filter_cpu(const T* dy, const T* x, const Conv2dShape& s, T* dw) {
  const int64_t P = s.OH() * s.OW(), K = s.C * s.KH * s.KW, size = s.OC * K;
  const int threads = std::max(1, std::min<int>(omp_get_max_threads(), static_cast<int>(s.N)));
  std::vector<T> partial(static_cast<size_t>(threads * size), T(0));
#pragma omp parallel num_threads(threads)
  {
    std::vector<T> col(static_cast<size_t>(K * P));
    T* mine = partial.data() + omp_get_thread_num() * size;
#pragma omp for schedule(static)
    for (int64_t n = 0; n < s.N; ++n) {
      im2col_cpu(x + n * s.C * s.H * s.W, s, col.data());
      gemm_cpu<T>(Transpose::No, Transpose::Yes, s.OC, K, P, T(1), dy + n * s.OC * P, col.data(), T(1), mine);
    }
  }
  std::copy(partial.begin(), partial.begin() + size, dw);
  for (int t = 1; t < threads; ++t)
    for (int64_t i = 0; i < size; ++i) dw[i] += partial[static_cast<size_t>(t * size + i)];
}

#define CYG_INSTANTIATE_CONV(T)                                                              \
  template void im2col_cpu<T>(const T*, const Conv2dShape&, T*);                             \
  template void col2im_cpu<T>(const T*, const Conv2dShape&, T*);                             \
  template void conv2d_forward_cpu<T>(const T*, const T*, const T*, const Conv2dShape&, T*); \
  template void conv2d_backward_data_cpu<T>(const T*, const T*, const Conv2dShape&, T*);     \
  template void conv2d_backward_filter_cpu<T>(const T*, const T*, const Conv2dShape&, T*);
CYG_INSTANTIATE_CONV(float)
CYG_INSTANTIATE_CONV(double)

namespace {
std::vector<float> widened(const uint16_t* x, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  cast_bf16_to_f32_cpu(x, out.data(), n);
  return out;
}
int64_t input_numel(const Conv2dShape& s) { return s.N * s.C * s.H * s.W; }
int64_t filter_numel(const Conv2dShape& s) { return s.OC * s.C * s.KH * s.KW; }
int64_t output_numel(const Conv2dShape& s) { return s.N * s.OC * s.OH() * s.OW(); }
}  // namespace

void conv2d_forward_bf16_cpu(const uint16_t* x, const uint16_t* w, const Conv2dShape& s, uint16_t* y) {
  std::vector<float> out(static_cast<size_t>(output_numel(s)));
  conv2d_forward_cpu<float>(widened(x, input_numel(s)).data(), widened(w, filter_numel(s)).data(), nullptr, s,
                            out.data());
  cast_f32_to_bf16_cpu(out.data(), y, output_numel(s));
}

void conv2d_backward_data_bf16_cpu(const uint16_t* dy, const uint16_t* w, const Conv2dShape& s, uint16_t* dx) {
  std::vector<float> out(static_cast<size_t>(input_numel(s)));
  conv2d_backward_data_cpu<float>(widened(dy, output_numel(s)).data(), widened(w, filter_numel(s)).data(), s,
                                  out.data());
  cast_f32_to_bf16_cpu(out.data(), dx, input_numel(s));
}

void conv2d_backward_filter_bf16_cpu(const uint16_t* dy, const uint16_t* x, const Conv2dShape& s, uint16_t* dw) {
  std::vector<float> out(static_cast<size_t>(filter_numel(s)));
  conv2d_backward_filter_cpu<float>(widened(dy, output_numel(s)).data(), widened(x, input_numel(s)).data(), s,
                                    out.data());
  cast_f32_to_bf16_cpu(out.data(), dw, filter_numel(s));
}

}  // namespace cyg
