// Our channels-last batchnorm kernels against oneDNN's, on the CPU: one training forward
// and its backward of each of ResNet-18's batchnorm shapes (by default CIFAR-10's: width
// 64 on 32x32 images, batch 64), plain and with the ReLU fused, alternating ours and
// oneDNN's over rounds in one process. Prints the median time of each and the ratio
// (above 1: ours is faster): whether oneDNN's batchnorm would pay in the CPU step. Ours
// run the instruction set kernels/cpu/isa.h chose (CYGNET_CPU_ISA).
//   cygnet_bench_batchnorm [--rounds N] [--batch N] [--width N] [--image PIXELS]
//   (the quickstart's net: --batch 128 --width 12 --image 28)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "apps/bench/timing.h"
#include "engine/functional.h"
#include "kernels/batchnorm.h"
#include "kernels/cpu/isa.h"

namespace {

using cyg::bench::Clock;
using cyg::bench::median;

struct Shape {
  int64_t C, H;
};

template <typename F>
double milliseconds(F f, int repeats) {
  const auto start = Clock::now();
  for (int i = 0; i < repeats; ++i) f();
  return cyg::bench::milliseconds_since(start) / repeats;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 5;
  int64_t N = 64, width = 64, image = 32;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if ((flag == "--rounds" || flag == "--batch" || flag == "--width" || flag == "--image") && i + 1 < argc) {
      const long v = std::strtol(argv[++i], nullptr, 10);
      if (v < 1 || v > 4096) {
        std::fprintf(stderr, "cygnet_bench_batchnorm: %s %s: expected 1 to 4096\n", flag.c_str(), argv[i]);
        return 2;
      }
      if (flag == "--rounds") {
        rounds = static_cast<int>(v);
      } else if (flag == "--batch") {
        N = v;
      } else if (flag == "--width") {
        width = v;
      } else {
        image = v;
      }
    } else {
      std::fprintf(stderr, "usage: cygnet_bench_batchnorm [--rounds N] [--batch N] [--width N] [--image PIXELS]\n");
      return flag == "--help" ? 0 : 2;
    }
  }
  constexpr float kEps = 1e-5f, kMomentum = 0.1f;
  using dnnl::memory;
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  std::printf("%-22s %12s %12s %7s\n", "shape (N, C, H, W)", "ours ms", "oneDNN ms", "ratio");
  double ours_total = 0, theirs_total = 0;
  // The four stages of ResNet-18: width, 2, 4 and 8 times it, each at half the last
  // stage's size (rounded up, as a stride-2 convolution with padding 1).
  std::vector<Shape> shapes;
  for (int64_t stage = 0, C = width, H = image; stage < 4; ++stage, C *= 2, H = (H + 1) / 2) shapes.push_back({C, H});
  for (const Shape& s : shapes)
    for (bool relu : {false, true}) {
      const int64_t C = s.C, H = s.H, HW = H * H, n = N * C * HW;
      std::vector<float> x(n), dy(n), y(n), dx(n), gamma(C, 1.0f), beta(C, 0.0f), mean(C), invstd(C), var(C),
          running_mean(C, 0.0f), running_var(C, 1.0f), dgamma(C), dbeta(C);
      for (int64_t i = 0; i < n; ++i) {
        x[i] = static_cast<float>((i * 7919) % 1000) / 500.0f - 1.0f;
        dy[i] = static_cast<float>((i * 104729) % 1000) / 1000.0f - 0.5f;
      }
      const cyg::BatchNormFusion<float> fusion{relu ? cyg::BatchNormEpilogue::Relu : cyg::BatchNormEpilogue::None,
                                               nullptr};
      auto ours = [&] {
        cyg::batchnorm_forward_train_nhwc_cpu<float>(x.data(), gamma.data(), beta.data(), N, C, HW, kEps, kMomentum,
                                                     y.data(), mean.data(), invstd.data(), running_mean.data(),
                                                     running_var.data(), fusion);
        cyg::batchnorm_backward_nhwc_cpu<float>(dy.data(), x.data(), gamma.data(), mean.data(), invstd.data(), N, C,
                                                HW, dx.data(), dgamma.data(), dbeta.data(),
                                                {relu ? y.data() : nullptr, nullptr});
      };
      // oneDNN: the same on NHWC memory, scale and shift, the ReLU fused where asked.
      const memory::desc md({N, C, H, H}, memory::data_type::f32, memory::format_tag::nhwc);
      const memory::desc cd({C}, memory::data_type::f32, memory::format_tag::x);
      auto flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
      if (relu) flags = flags | dnnl::normalization_flags::fuse_norm_relu;
      const dnnl::batch_normalization_forward::primitive_desc fpd(
          dnnl::batch_normalization_forward::desc(dnnl::prop_kind::forward_training, md, kEps, flags), engine);
      const dnnl::batch_normalization_backward::primitive_desc bpd(
          dnnl::batch_normalization_backward::desc(dnnl::prop_kind::backward, md, md, kEps, flags), engine, fpd);
      memory src(md, engine, x.data()), dst(md, engine, y.data()), diff_dst(md, engine, dy.data()),
          diff_src(md, engine, dx.data()), scale(cd, engine, gamma.data()), shift(cd, engine, beta.data()),
          mu(cd, engine, mean.data()), variance(cd, engine, var.data()), diff_scale(cd, engine, dgamma.data()),
          diff_shift(cd, engine, dbeta.data()), workspace(fpd.workspace_desc(), engine);
      dnnl::batch_normalization_forward forward(fpd);
      dnnl::batch_normalization_backward backward(bpd);
      std::unordered_map<int, memory> forward_args = {
          {DNNL_ARG_SRC, src},   {DNNL_ARG_DST, dst}, {DNNL_ARG_SCALE, scale}, {DNNL_ARG_SHIFT, shift},
          {DNNL_ARG_MEAN, mu}, {DNNL_ARG_VARIANCE, variance}};
      std::unordered_map<int, memory> backward_args = {
          {DNNL_ARG_SRC, src},           {DNNL_ARG_MEAN, mu},           {DNNL_ARG_VARIANCE, variance},
          {DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_SCALE, scale},       {DNNL_ARG_SHIFT, shift},
          {DNNL_ARG_DIFF_SRC, diff_src}, {DNNL_ARG_DIFF_SCALE, diff_scale}, {DNNL_ARG_DIFF_SHIFT, diff_shift}};
      if (relu) {
        forward_args.insert({DNNL_ARG_WORKSPACE, workspace});
        backward_args.insert({DNNL_ARG_WORKSPACE, workspace});
      }
      auto theirs = [&] {
        forward.execute(stream, forward_args);
        backward.execute(stream, backward_args);
        stream.wait();
      };
      ours();
      theirs();  // warm-ups (the JIT, the pages)
      std::vector<double> a, b;
      for (int r = 0; r < rounds; ++r) {
        a.push_back(milliseconds(ours, 5));
        b.push_back(milliseconds(theirs, 5));
      }
      const double ma = median(a), mb = median(b);
      ours_total += ma;
      theirs_total += mb;
      char label[64];
      std::snprintf(label, sizeof label, "%lld, %lld, %lld, %lld%s", static_cast<long long>(N),
                    static_cast<long long>(C), static_cast<long long>(H), static_cast<long long>(H),
                    relu ? " +relu" : "");
      std::printf("%-22s %12.3f %12.3f %7.2f\n", label, ma, mb, mb / ma);
    }
  std::printf("%-22s %12.3f %12.3f %7.2f\n", "all", ours_total, theirs_total, theirs_total / ours_total);
  std::printf("(forward training + backward, median of %d rounds of 5, alternating; %d threads; ours %s; oneDNN %d.%d)\n",
              rounds, cyg::fn::cpu_threads(), cyg::cpu_isa_name(cyg::cpu_isa()), dnnl_version()->major,
              dnnl_version()->minor);
  return 0;
}
