// The oneDNN convolutions (kernels/onednn/conv.cpp) against the im2col + BLAS reference,
// in all three directions, at shapes where layouts and edges differ: stride 2 with
// padding, 1x1 (the ResNet shortcut), a batch of one, odd sizes, channel counts that
// do and do not fill oneDNN's blocks, and a kernel that is not square.
#include <gtest/gtest.h>
#include <omp.h>

#include <string>
#include <vector>

#include "kernels/conv.h"
#include "kernels/error.h"
#include "tests/kernels/check_close.h"

namespace {

using cyg::Conv2dShape;
using cyg::test::all_close;
using cyg::test::random_floats;

Conv2dShape shape(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OC, int64_t KH, int64_t KW, int64_t stride,
                  int64_t pad) {
  Conv2dShape s;
  s.N = N, s.C = C, s.H = H, s.W = W, s.OC = OC, s.KH = KH, s.KW = KW;
  s.stride_h = s.stride_w = stride;
  s.pad_h = s.pad_w = pad;
  return s;
}

struct Sizes {
  size_t x, w, y;
};
Sizes sizes(const Conv2dShape& s) {
  return {static_cast<size_t>(s.N * s.C * s.H * s.W), static_cast<size_t>(s.OC * s.C * s.KH * s.KW),
          static_cast<size_t>(s.N * s.OC * s.OH() * s.OW())};
}

// fp32 sums of C*KH*KW (or N*OH*OW) products in another order: relative to the values'
// scale, a few ulps per term.
constexpr double kAtol = 2e-4, kRtol = 1e-4;

void check_all_directions(const Conv2dShape& s) {
  SCOPED_TRACE(::testing::Message() << "N " << s.N << " C " << s.C << " H " << s.H << " W " << s.W << " OC " << s.OC
                                    << " K " << s.KH << "x" << s.KW << " stride " << s.stride_h << " pad " << s.pad_h);
  const Sizes n = sizes(s);
  const auto x = random_floats(n.x, 1), w = random_floats(n.w, 2), bias = random_floats(s.OC, 3),
             dy = random_floats(n.y, 4);

  std::vector<float> ref(n.y), got(n.y, -7.0f);
  cyg::conv2d_forward_cpu<float>(x.data(), w.data(), bias.data(), s, ref.data());
  cyg::conv2d_forward_onednn(x.data(), w.data(), bias.data(), s, got.data());
  EXPECT_TRUE(all_close(got, ref, kAtol, kRtol)) << "forward with bias";
  cyg::conv2d_forward_cpu<float>(x.data(), w.data(), nullptr, s, ref.data());
  cyg::conv2d_forward_onednn(x.data(), w.data(), nullptr, s, got.data());
  EXPECT_TRUE(all_close(got, ref, kAtol, kRtol)) << "forward without bias";

  std::vector<float> dx_ref(n.x), dx(n.x, -7.0f);
  cyg::conv2d_backward_data_cpu<float>(dy.data(), w.data(), s, dx_ref.data());
  cyg::conv2d_backward_data_onednn(dy.data(), w.data(), s, dx.data());
  EXPECT_TRUE(all_close(dx, dx_ref, kAtol, kRtol)) << "backward data";

  std::vector<float> dw_ref(n.w), dw(n.w, -7.0f);
  cyg::conv2d_backward_filter_cpu<float>(dy.data(), x.data(), s, dw_ref.data());
  cyg::conv2d_backward_filter_onednn(dy.data(), x.data(), s, dw.data());
  EXPECT_TRUE(all_close(dw, dw_ref, kAtol * 4, kRtol)) << "backward filter (sums over the batch too)";
}

// [N, C, H, W] <-> [N, H, W, C].
std::vector<float> nchw_to_nhwc(const std::vector<float>& v, int64_t N, int64_t C, int64_t H, int64_t W) {
  std::vector<float> out(v.size());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < H * W; ++i) out[(n * H * W + i) * C + c] = v[(n * C + c) * H * W + i];
  return out;
}
std::vector<float> nhwc_to_nchw(const std::vector<float>& v, int64_t N, int64_t C, int64_t H, int64_t W) {
  std::vector<float> out(v.size());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < H * W; ++i) out[(n * C + c) * H * W + i] = v[(n * H * W + i) * C + c];
  return out;
}

// Channels-last activations: the NCHW reference on the same values, transposed.
void check_all_directions_nhwc(const Conv2dShape& s) {
  SCOPED_TRACE(::testing::Message() << "NHWC: N " << s.N << " C " << s.C << " H " << s.H << " W " << s.W << " OC "
                                     << s.OC << " K " << s.KH << "x" << s.KW << " stride " << s.stride_h);
  const Sizes n = sizes(s);
  const int64_t OH = s.OH(), OW = s.OW();
  const auto x = random_floats(n.x, 1), w = random_floats(n.w, 2), dy = random_floats(n.y, 4);
  const auto x_nhwc = nchw_to_nhwc(x, s.N, s.C, s.H, s.W), dy_nhwc = nchw_to_nhwc(dy, s.N, s.OC, OH, OW);

  std::vector<float> ref(n.y), got(n.y, -7.0f);
  cyg::conv2d_forward_cpu<float>(x.data(), w.data(), nullptr, s, ref.data());
  cyg::conv2d_forward_nhwc_onednn(x_nhwc.data(), w.data(), nullptr, s, got.data());
  EXPECT_TRUE(all_close(nhwc_to_nchw(got, s.N, s.OC, OH, OW), ref, kAtol, kRtol)) << "forward";

  std::vector<float> dx_ref(n.x), dx(n.x, -7.0f);
  cyg::conv2d_backward_data_cpu<float>(dy.data(), w.data(), s, dx_ref.data());
  cyg::conv2d_backward_data_nhwc_onednn(dy_nhwc.data(), w.data(), s, dx.data());
  EXPECT_TRUE(all_close(nhwc_to_nchw(dx, s.N, s.C, s.H, s.W), dx_ref, kAtol, kRtol)) << "backward data";

  std::vector<float> dw_ref(n.w), dw(n.w, -7.0f);
  cyg::conv2d_backward_filter_cpu<float>(dy.data(), x.data(), s, dw_ref.data());
  cyg::conv2d_backward_filter_nhwc_onednn(dy_nhwc.data(), x_nhwc.data(), s, dw.data());
  EXPECT_TRUE(all_close(dw, dw_ref, kAtol * 4, kRtol)) << "backward filter (weights stay OIHW)";
}

TEST(OneDnnConv, ChannelsLastAtOddShapes) {
  check_all_directions_nhwc(shape(3, 5, 9, 7, 4, 3, 3, 2, 1));
  check_all_directions_nhwc(shape(2, 16, 8, 8, 32, 1, 1, 2, 0));
  check_all_directions_nhwc(shape(1, 3, 11, 13, 8, 3, 3, 1, 1));
  check_all_directions_nhwc(shape(2, 32, 10, 10, 48, 3, 3, 1, 1));
}

// ResNet's shortcut at widths under 16 (a strided 1x1 convolution of fewer input channels
// than oneDNN's blocks), whose backward weights once corrupted the heap or hung on several
// threads (a batch of 3 on 2 threads, of 2 on 4): every direction, in both layouts, at
// batches of 1 to 5 on 2 to 8 threads.
TEST(OneDnnConv, StridedShortcutsOfFewChannelsOnSeveralThreads) {
  const int threads_before = omp_get_max_threads();
  for (int threads : {2, 3, 4, 8}) {
    omp_set_num_threads(threads);
    SCOPED_TRACE(::testing::Message() << threads << " threads");
    for (int64_t n : {1, 2, 3, 5})
      for (int64_t c : {1, 6, 8, 12}) {
        check_all_directions_nhwc(shape(n, c, 16, 16, 16, 1, 1, 2, 0));
        check_all_directions(shape(n, c, 16, 16, 16, 1, 1, 2, 0));
      }
  }
  check_all_directions_nhwc(shape(3, 8, 15, 9, 24, 1, 1, 3, 0));  // odd sides, stride 3
  omp_set_num_threads(threads_before);
}

TEST(OneDnnConv, Stride2WithPadding) { check_all_directions(shape(3, 5, 9, 7, 4, 3, 3, 2, 1)); }
TEST(OneDnnConv, OneByOneShortcut) { check_all_directions(shape(2, 16, 8, 8, 32, 1, 1, 2, 0)); }
TEST(OneDnnConv, BatchOfOne) { check_all_directions(shape(1, 3, 11, 13, 8, 3, 3, 1, 1)); }
TEST(OneDnnConv, FullBlocksOfChannels) { check_all_directions(shape(2, 32, 10, 10, 48, 3, 3, 1, 1)); }
TEST(OneDnnConv, NoPaddingOddSizes) { check_all_directions(shape(2, 7, 6, 5, 3, 3, 3, 1, 0)); }
TEST(OneDnnConv, NonSquareKernel) {
  Conv2dShape s = shape(2, 4, 7, 9, 5, 3, 2, 1, 0);
  s.pad_h = 1;
  s.stride_w = 2;
  check_all_directions(s);
}

// Plans and their buffers are kept per shape: a second call with new inputs must see
// them (no stale reorder), and the same inputs must give the same bits again.
TEST(OneDnnConv, CachedPlansSeeNewInputsAndRepeatExactly) {
  const Conv2dShape s = shape(2, 16, 9, 9, 16, 3, 3, 1, 1);
  const Sizes n = sizes(s);
  const auto w = random_floats(n.w, 5);
  std::vector<float> first(n.y), again(n.y), ref(n.y);
  for (uint32_t seed : {10u, 11u}) {
    const auto x = random_floats(n.x, seed);
    cyg::conv2d_forward_onednn(x.data(), w.data(), nullptr, s, first.data());
    cyg::conv2d_forward_onednn(x.data(), w.data(), nullptr, s, again.data());
    EXPECT_EQ(first, again) << "seed " << seed;
    cyg::conv2d_forward_cpu<float>(x.data(), w.data(), nullptr, s, ref.data());
    EXPECT_TRUE(all_close(first, ref, kAtol, kRtol)) << "seed " << seed;
  }
}

// oneDNN's own errors come back as cyg::Error naming the call and the shape.
TEST(OneDnnConv, AnImpossibleShapeIsAnErrorNamingTheShape) {
  const Conv2dShape s = shape(1, 2, 2, 2, 3, 5, 5, 1, 0);  // a 5x5 filter on a 2x2 image
  std::vector<float> x(8), w(150), y(16);
  try {
    cyg::conv2d_forward_onednn(x.data(), w.data(), nullptr, s, y.data());
    FAIL() << "no error";
  } catch (const cyg::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("oneDNN convolution forward failed"), std::string::npos) << what;
    EXPECT_NE(what.find("input [1,2,2,2], filters [3,2,5,5]"), std::string::npos) << what;
  }
}

}  // namespace
