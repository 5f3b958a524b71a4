// Batchnorm at the shapes of a ResNet-18 step on CIFAR-10 (batch 128 and 512 through the
// first stage's 64 channels at 32x32, the last stage's 512 channels at 4x4) and at the
// launch configuration the engine uses (LaunchConfig{} on the current stream: default
// block, uncapped grid), against the CPU reference. The shared cases (*_cases.inc) cap the
// grid and keep sizes small so that they also run emulated; these run on a GPU only.
#include <gtest/gtest.h>

#include <vector>

#include "engine/device.h"
#include "engine/stream.h"
#include "engine/tensor.h"
#include "kernels/batchnorm.h"
#include "tests/kernels/check_close.h"

namespace {

using cyg::Device;
using cyg::Tensor;
using cyg::test::all_close;
using cyg::test::random_floats;

#define REQUIRE_GPU() \
  if (!cyg::cuda_available()) GTEST_SKIP() << "no GPU answers: " << cyg::cuda_unavailable_reason()

struct ResNetShape {
  int64_t N, C, H, W;
  int64_t HW() const { return H * W; }
  int64_t numel() const { return N * C * H * W; }
};

const std::vector<ResNetShape> kResNetShapes = {{128, 64, 32, 32}, {512, 64, 32, 32}, {128, 512, 4, 4}};

constexpr float kEps = 1e-5f, kMomentum = 0.1f;

::testing::Message describe(const ResNetShape& s) {
  return ::testing::Message() << s.N << "x" << s.C << "x" << s.H << "x" << s.W << ", default launch";
}

cyg::LaunchConfig default_launch() {
  cyg::LaunchConfig cfg;
  cfg.stream = cyg::current_stream(cyg::Device::cuda());
  return cfg;
}

// The mean of x is away from 0 so that the variance is not just E[x^2].
struct Inputs {
  explicit Inputs(const ResNetShape& s)
      : x(random_floats(static_cast<size_t>(s.numel()), 41, -1.0f, 3.0f)),
        dy(random_floats(x.size(), 42)),
        gamma(random_floats(static_cast<size_t>(s.C), 43, 0.5f, 1.5f)),
        beta(random_floats(gamma.size(), 44, -0.5f, 0.5f)),
        running_mean(random_floats(gamma.size(), 45, -0.2f, 0.2f)),
        running_var(random_floats(gamma.size(), 46, 0.5f, 1.5f)) {}
  std::vector<float> x, dy, gamma, beta, running_mean, running_var;
};

Tensor on_gpu(const std::vector<float>& values) {
  return Tensor::from_vector(values, {static_cast<int64_t>(values.size())}, Device::cuda());
}
Tensor gpu_floats(int64_t n) { return Tensor::zeros({n}, cyg::DType::F32, Device::cuda()); }
float* floats(const Tensor& t) { return static_cast<float*>(t.data_ptr()); }

// The reductions' double scratch, held in a tensor of 8-byte integers (there is no f64 dtype).
Tensor workspace(const ResNetShape& s, const cyg::LaunchConfig& cfg) {
  return Tensor::zeros({cyg::batchnorm_workspace_doubles(s.N, s.C, s.HW(), cfg)}, cyg::DType::I64, Device::cuda());
}

TEST(GpuResNetShapes, BatchNormForwardTrainAtDefaultLaunch) {
  REQUIRE_GPU();
  for (const ResNetShape& s : kResNetShapes) {
    SCOPED_TRACE(describe(s));
    const Inputs in(s);
    std::vector<float> y(in.x.size()), mean(in.gamma.size()), invstd(in.gamma.size());
    std::vector<float> running_mean = in.running_mean, running_var = in.running_var;
    cyg::batchnorm_forward_train_cpu(in.x.data(), in.gamma.data(), in.beta.data(), s.N, s.C, s.HW(), kEps, kMomentum,
                                     y.data(), mean.data(), invstd.data(), running_mean.data(), running_var.data());

    const cyg::LaunchConfig cfg = default_launch();
    const Tensor x = on_gpu(in.x), gamma = on_gpu(in.gamma), beta = on_gpu(in.beta);
    const Tensor y_gpu = gpu_floats(s.numel()), mean_gpu = gpu_floats(s.C), invstd_gpu = gpu_floats(s.C);
    const Tensor running_mean_gpu = on_gpu(in.running_mean), running_var_gpu = on_gpu(in.running_var);
    const Tensor ws = workspace(s, cfg);
    cyg::cuda::batchnorm_forward_train_cuda(floats(x), floats(gamma), floats(beta), s.N, s.C, s.HW(), kEps, kMomentum,
                                            floats(y_gpu), floats(mean_gpu), floats(invstd_gpu),
                                            floats(running_mean_gpu), floats(running_var_gpu),
                                            static_cast<double*>(ws.data_ptr()), {}, cfg);
    EXPECT_TRUE(all_close(mean_gpu.to_vector(), mean, 1e-6, 1e-5)) << "save_mean";
    EXPECT_TRUE(all_close(invstd_gpu.to_vector(), invstd, 1e-6, 1e-5)) << "save_invstd";
    EXPECT_TRUE(all_close(y_gpu.to_vector(), y, 1e-5, 1e-5)) << "y";
    EXPECT_TRUE(all_close(running_mean_gpu.to_vector(), running_mean, 1e-6, 1e-5)) << "running_mean";
    EXPECT_TRUE(all_close(running_var_gpu.to_vector(), running_var, 1e-6, 1e-5)) << "running_var";
  }
}

TEST(GpuResNetShapes, BatchNormBackwardAtDefaultLaunch) {
  REQUIRE_GPU();
  for (const ResNetShape& s : kResNetShapes) {
    SCOPED_TRACE(describe(s));
    const Inputs in(s);
    // The saved statistics come from the reference forward, so only the backward is under test.
    std::vector<float> y(in.x.size()), save_mean(in.gamma.size()), save_invstd(in.gamma.size());
    cyg::batchnorm_forward_train_cpu<float>(in.x.data(), nullptr, nullptr, s.N, s.C, s.HW(), kEps, kMomentum, y.data(),
                                            save_mean.data(), save_invstd.data(), nullptr, nullptr);
    std::vector<float> dx(in.x.size()), dgamma(in.gamma.size()), dbeta(in.gamma.size());
    cyg::batchnorm_backward_cpu(in.dy.data(), in.x.data(), in.gamma.data(), save_mean.data(), save_invstd.data(), s.N,
                                s.C, s.HW(), dx.data(), dgamma.data(), dbeta.data());

    const cyg::LaunchConfig cfg = default_launch();
    const Tensor dy = on_gpu(in.dy), x = on_gpu(in.x), gamma = on_gpu(in.gamma);
    const Tensor mean_gpu = on_gpu(save_mean), invstd_gpu = on_gpu(save_invstd);
    const Tensor dx_gpu = gpu_floats(s.numel()), dgamma_gpu = gpu_floats(s.C), dbeta_gpu = gpu_floats(s.C);
    const Tensor ws = workspace(s, cfg);
    cyg::cuda::batchnorm_backward_cuda(floats(dy), floats(x), floats(gamma), floats(mean_gpu), floats(invstd_gpu), s.N,
                                       s.C, s.HW(), floats(dx_gpu), floats(dgamma_gpu), floats(dbeta_gpu),
                                       static_cast<double*>(ws.data_ptr()), {}, cfg);
    // Channel sums of m terms of size about 1: float error grows with m.
    const double m = static_cast<double>(s.N * s.HW());
    const double sum_atol = 2e-7 * m + 1e-6;
    EXPECT_TRUE(all_close(dbeta_gpu.to_vector(), dbeta, sum_atol, 1e-5)) << "dbeta";
    EXPECT_TRUE(all_close(dgamma_gpu.to_vector(), dgamma, sum_atol, 1e-5)) << "dgamma";
    EXPECT_TRUE(all_close(dx_gpu.to_vector(), dx, 2e-5 + sum_atol / m, 1e-4)) << "dx";
  }
}

}  // namespace
