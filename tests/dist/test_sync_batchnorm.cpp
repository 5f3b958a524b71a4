// Synchronised batch normalisation (fn::SyncBatchNorm) in one process: with a
// single-process communicator the global batch is this one, so the synchronised path
// must give what the ordinary batch_norm gives (forward, running statistics, and every
// gradient), for each fused epilogue and both layouts; and its backward must match
// central differences of its forward. The ranks' sums themselves are checked under
// mpirun (test_data_parallel).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/communicator.h"
#include "engine/functional.h"
#include "tests/gradcheck/gradcheck.h"

namespace {

using cyg::Tensor;
using cyg::Variable;
using cyg::fn::BatchNormThen;

struct Outputs {
  std::vector<float> y, running_mean, running_var, dx, dgamma, dbeta, dresidual;
};

Tensor random_tensor(const cyg::Shape& shape, uint64_t seed, double lo, double hi, bool channels_last,
                     cyg::Device device = cyg::Device::cpu(), cyg::DType dtype = cyg::DType::F32) {
  Tensor t = Tensor::uniform(shape, lo, hi, seed).to(device).to(dtype);
  return channels_last ? t.contiguous(cyg::MemoryFormat::ChannelsLast) : t;
}

// relu(bn(x) [+ residual]) with upstream gradient dy: its outputs and gradients.
Outputs run(bool synchronised, BatchNormThen then, bool channels_last, cyg::Device device = cyg::Device::cpu(),
            cyg::DType dtype = cyg::DType::F32) {
  const int64_t N = 3, C = 5, H = 3, W = 2;
  cyg::Communicator* none = nullptr;
  const auto single = cyg::single_process_communicator();
  const cyg::fn::SyncBatchNorm sync(synchronised ? single.get() : none);
  Variable x(random_tensor({N, C, H, W}, 1, -1.0, 3.0, channels_last, device, dtype), cyg::RequiresGrad::Yes);
  Variable gamma(Tensor::uniform({C}, 0.5, 1.5, 2).to(device), cyg::RequiresGrad::Yes);
  Variable beta(Tensor::uniform({C}, -0.5, 0.5, 3).to(device), cyg::RequiresGrad::Yes);
  Variable residual;
  if (then == BatchNormThen::AddRelu)
    residual =
        Variable(random_tensor({N, C, H, W}, 4, -1.0, 1.0, channels_last, device, dtype), cyg::RequiresGrad::Yes);
  Tensor running_mean = Tensor::uniform({C}, -0.1, 0.1, 5).to(device);
  Tensor running_var = Tensor::uniform({C}, 0.9, 1.1, 6).to(device);
  const Variable y = cyg::fn::batch_norm(x, gamma, beta, running_mean, running_var, cyg::fn::BatchNormMode::Train,
                                         0.1, 1e-5, then, residual);
  const Tensor dy = random_tensor({N, C, H, W}, 7, -1.0, 1.0, channels_last, device, dtype);
  cyg::backward(y, dy);
  Outputs o;
  o.y = y.data().contiguous().to_vector();
  o.running_mean = running_mean.to_vector();
  o.running_var = running_var.to_vector();
  o.dx = x.grad().contiguous().to_vector();
  o.dgamma = gamma.grad().to_vector();
  o.dbeta = beta.grad().to_vector();
  if (residual.defined()) o.dresidual = residual.grad().contiguous().to_vector();
  return o;
}

void expect_near(const std::vector<float>& a, const std::vector<float>& b, const char* what, double tolerance = 2e-6) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i)
    ASSERT_NEAR(a[i], b[i], tolerance + tolerance * std::fabs(b[i])) << what << "[" << i << "]";
}

// On the CPU in f32 the synchronised path is its own loops; on the emulated device it is
// composed of the device's batchnorm kernels (as on a GPU).
TEST(SyncBatchNorm, OneRankIsTheOrdinaryBatchNorm) {
  for (cyg::Device device : {cyg::Device::cpu(), cyg::Device::emu()})
    for (bool channels_last : {false, true})
      for (BatchNormThen then : {BatchNormThen::Nothing, BatchNormThen::Relu, BatchNormThen::AddRelu}) {
        SCOPED_TRACE(device.str() + ", " + std::string(channels_last ? "NHWC" : "NCHW") + ", epilogue " +
                     std::to_string(static_cast<int>(then)));
        const Outputs sync = run(true, then, channels_last, device), plain = run(false, then, channels_last, device);
        expect_near(sync.y, plain.y, "y");
        expect_near(sync.running_mean, plain.running_mean, "running_mean");
        expect_near(sync.running_var, plain.running_var, "running_var");
        expect_near(sync.dx, plain.dx, "dx");
        expect_near(sync.dgamma, plain.dgamma, "dgamma");
        expect_near(sync.dbeta, plain.dbeta, "dbeta");
        expect_near(sync.dresidual, plain.dresidual, "dresidual");
      }
}

// The synchronised backward against central differences of the synchronised forward
// (f32, so a coarse step and tolerance), for relu(bn(x) + residual) in both layouts:
// x, gamma, beta and the residual. Inputs keep outputs away from the ReLU's kink.
TEST(SyncBatchNorm, BackwardMatchesCentralDifferences) {
  const int64_t N = 2, C = 3, H = 2, W = 3;
  const size_t n = static_cast<size_t>(N * C * H * W);
  const auto single = cyg::single_process_communicator();
  const cyg::fn::SyncBatchNorm sync(single.get());
  for (cyg::Device device : {cyg::Device::cpu(), cyg::Device::emu()})
    for (bool channels_last : {false, true}) {
      SCOPED_TRACE(device.str() + (channels_last ? ", NHWC" : ", NCHW"));
      std::vector<double> x = cyg::test::random_doubles(n, 21, -1.0, 3.0);
      std::vector<double> gamma = cyg::test::random_doubles(C, 22, 0.5, 1.5);
      std::vector<double> beta = cyg::test::random_doubles(C, 23, 1.5, 2.5);  // outputs well above 0
      std::vector<double> residual = cyg::test::random_doubles(n, 24);
      const std::vector<double> dy = cyg::test::random_doubles(n, 25);
      auto tensor = [&](const std::vector<double>& v, const cyg::Shape& shape) {
        std::vector<float> f(v.begin(), v.end());
        Tensor t = Tensor::from_vector(f, shape).to(device);
        return channels_last && shape.size() == 4 ? t.contiguous(cyg::MemoryFormat::ChannelsLast) : t;
      };
      struct Result {
        double loss;
        std::vector<double> dx, dgamma, dbeta, dresidual;
      };
      auto run_once = [&](bool with_backward) {
        Variable xv(tensor(x, {N, C, H, W}), cyg::RequiresGrad::Yes), g(tensor(gamma, {C}), cyg::RequiresGrad::Yes),
            b(tensor(beta, {C}), cyg::RequiresGrad::Yes), res(tensor(residual, {N, C, H, W}), cyg::RequiresGrad::Yes);
        const Variable y = cyg::fn::batch_norm(xv, g, b, Tensor(), Tensor(), cyg::fn::BatchNormMode::Train, 0.1, 1e-5,
                                               BatchNormThen::AddRelu, res);
        const std::vector<float> yv = y.data().contiguous().to_vector();
        Result r{0.0, {}, {}, {}, {}};
        for (size_t i = 0; i < n; ++i) r.loss += dy[i] * static_cast<double>(yv[i]);
        if (!with_backward) return r;
        cyg::backward(y, tensor(dy, {N, C, H, W}));
        auto doubles = [](const Tensor& t) {
          const std::vector<float> f = t.contiguous().to_vector();
          return std::vector<double>(f.begin(), f.end());
        };
        r.dx = doubles(xv.grad());
        r.dgamma = doubles(g.grad());
        r.dbeta = doubles(b.grad());
        r.dresidual = doubles(res.grad());
        return r;
      };
      const Result analytic = run_once(true);
      auto loss = [&] { return run_once(false).loss; };
      constexpr double kStep = 1e-2, kAtol = 2e-3, kRtol = 1e-2;
      EXPECT_TRUE(cyg::test::check_gradient(loss, x, analytic.dx, "x", kStep, kAtol, kRtol));
      EXPECT_TRUE(cyg::test::check_gradient(loss, gamma, analytic.dgamma, "gamma", kStep, kAtol, kRtol));
      EXPECT_TRUE(cyg::test::check_gradient(loss, beta, analytic.dbeta, "beta", kStep, kAtol, kRtol));
      EXPECT_TRUE(cyg::test::check_gradient(loss, residual, analytic.dresidual, "residual", kStep, kAtol, kRtol));
    }
}

// bf16 activations: the synchronised path (through f32, rounding each output once)
// against the ordinary bf16 kernels (which also round once): a bf16 ulp apart at most.
TEST(SyncBatchNorm, OneRankIsTheOrdinaryBatchNormInBf16) {
  for (cyg::Device device : {cyg::Device::cpu(), cyg::Device::emu()})
    for (BatchNormThen then : {BatchNormThen::Nothing, BatchNormThen::AddRelu}) {
      SCOPED_TRACE(device.str() + ", epilogue " + std::to_string(static_cast<int>(then)));
      const Outputs sync = run(true, then, false, device, cyg::DType::BF16);
      const Outputs plain = run(false, then, false, device, cyg::DType::BF16);
      constexpr double kBf16 = 8e-3;  // 2^-7
      expect_near(sync.y, plain.y, "y", kBf16);
      expect_near(sync.running_mean, plain.running_mean, "running_mean");
      expect_near(sync.running_var, plain.running_var, "running_var", 1e-5);
      expect_near(sync.dx, plain.dx, "dx", kBf16);
      expect_near(sync.dgamma, plain.dgamma, "dgamma", 1e-4);
      expect_near(sync.dbeta, plain.dbeta, "dbeta", 1e-4);
      expect_near(sync.dresidual, plain.dresidual, "dresidual", kBf16);
    }
}

}  // namespace
