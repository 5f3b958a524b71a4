// Tensor on the CPU: strides and memory formats, views sharing storage, contiguous(),
// copies and casts, fill, seeded random init, printing.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "engine/allocator.h"
#include "engine/device.h"
#include "engine/tensor.h"
#include "kernels/error.h"

namespace {

using cyg::DType;
using cyg::MemoryFormat;
using cyg::Tensor;

Tensor arange(int64_t n, const cyg::Shape& shape) {
  std::vector<float> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0.0f);
  return Tensor::from_vector(v, shape);
}

// i32 values keep their bits (beyond float's 24-bit mantissa too), on the CPU and the
// emulated device; a count that is not the shape's is refused.
TEST(Tensor, FromVectorI32KeepsItsValues) {
  const std::vector<int32_t> values = {0, -1, 16777217, 2147483647, -2147483647 - 1, 7};
  for (cyg::Device device : {cyg::Device::cpu(), cyg::Device::emu()}) {
    const Tensor t = Tensor::from_vector_i32(values, {2, 3}, device);
    EXPECT_EQ(t.dtype(), cyg::DType::I32);
    EXPECT_EQ(t.shape(), (cyg::Shape{2, 3}));
    EXPECT_EQ(t.device(), device);
    const Tensor host = t.to(cyg::Device::cpu());
    EXPECT_EQ(std::vector<int32_t>(host.data<int32_t>(), host.data<int32_t>() + 6), values);
  }
  EXPECT_THROW(Tensor::from_vector_i32(values, {4}), cyg::Error);
}

TEST(Tensor, ContiguousStrides) {
  const Tensor t = Tensor::empty({2, 3, 4});
  EXPECT_EQ(t.strides(), (std::vector<int64_t>{12, 4, 1}));
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.nbytes(), 96u);
  EXPECT_TRUE(t.is_contiguous());
}

TEST(Tensor, ChannelsLastIsAMemoryFormat) {
  const Tensor x = arange(120, {2, 3, 4, 5});
  const Tensor cl = x.contiguous(MemoryFormat::ChannelsLast);
  EXPECT_EQ(cl.shape(), (cyg::Shape{2, 3, 4, 5}));
  EXPECT_EQ(cl.strides(), (std::vector<int64_t>{60, 1, 15, 3}));
  EXPECT_TRUE(cl.is_contiguous(MemoryFormat::ChannelsLast));
  EXPECT_FALSE(cl.is_contiguous());
  EXPECT_EQ(cl.memory_format(), MemoryFormat::ChannelsLast);
  // Element (n, c, h, w) keeps its value; in memory, channels are now innermost.
  const float* raw = cl.data<float>();
  EXPECT_EQ(raw[1], 20.0f);  // (0, 1, 0, 0) = 1*20
  EXPECT_EQ(raw[3], 1.0f);   // (0, 0, 0, 1)
  EXPECT_EQ(cl.to_vector(), x.to_vector());
  const Tensor back = cl.contiguous();
  EXPECT_TRUE(back.is_contiguous());
  EXPECT_EQ(back.to_vector(), x.to_vector());
}

// A shape whose element or byte count would wrap is refused before anything is allocated.
TEST(Tensor, SizesThatWouldOverflowAreRefused) {
  EXPECT_THROW(cyg::shape_numel({int64_t(1) << 32, int64_t(1) << 32}), cyg::Error);
  EXPECT_THROW(Tensor::empty({int64_t(1) << 31, int64_t(1) << 31, 4}), cyg::Error);
  EXPECT_THROW(Tensor::empty({int64_t(1) << 45}), cyg::Error) << "2^47 bytes of f32";
  EXPECT_EQ(cyg::shape_numel({int64_t(1) << 31, int64_t(1) << 31}), int64_t(1) << 62);
  EXPECT_EQ(cyg::shape_numel({0, int64_t(1) << 62, 8}), 0);
  EXPECT_THROW(cyg::cpu_allocate(~size_t(0) - 3), cyg::Error) << "the rounding up to 64 bytes would wrap";
}

TEST(Tensor, ReshapeIsAViewAndInfersOneSize) {
  const Tensor x = arange(24, {2, 3, 4});
  const Tensor r = x.reshape({4, -1});
  EXPECT_EQ(r.shape(), (cyg::Shape{4, 6}));
  EXPECT_TRUE(r.shares_storage(x));
  EXPECT_THROW(x.reshape({5, -1}), cyg::Error);
  EXPECT_THROW(x.reshape({-1, -1}), cyg::Error);
  EXPECT_THROW(x.reshape({25}), cyg::Error);
}

TEST(Tensor, SliceAlongDimZeroSharesStorage) {
  const Tensor x = arange(12, {4, 3});
  const Tensor s = x.slice(1, 3);
  EXPECT_EQ(s.shape(), (cyg::Shape{2, 3}));
  EXPECT_EQ(s.storage_offset(), 3);
  EXPECT_TRUE(s.shares_storage(x));
  EXPECT_EQ(s.to_vector(), (std::vector<float>{3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(x[3].to_vector(), (std::vector<float>{9, 10, 11}));
  EXPECT_EQ(s.slice(1, 2).to_vector(), (std::vector<float>{6, 7, 8}));
  // Writing through the view changes the base.
  Tensor view = x.slice(0, 1);
  view.fill_(-1.0);
  EXPECT_EQ(x.to_vector()[0], -1.0f);
  EXPECT_EQ(x.to_vector()[3], 3.0f);
  EXPECT_THROW(x.slice(2, 5), cyg::Error);
  EXPECT_THROW(x.slice(3, 2), cyg::Error);
}

TEST(Tensor, PermuteThenContiguousCopies) {
  const Tensor x = arange(6, {2, 3});
  const Tensor t = x.permute({1, 0});
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.strides(), (std::vector<int64_t>{1, 3}));
  const Tensor c = t.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_FALSE(c.shares_storage(x));
  EXPECT_EQ(c.to_vector(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  // reshape of a non-contiguous tensor copies first.
  EXPECT_EQ(t.reshape({6}).to_vector(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_THROW(x.permute({0, 0}), cyg::Error);
}

TEST(Tensor, CopyIntoAStridedView) {
  Tensor x = Tensor::zeros({3, 2});
  Tensor column_major = x.permute({1, 0});  // [2, 3] view of x
  column_major.copy_(arange(6, {2, 3}));
  EXPECT_EQ(x.to_vector(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_THROW(x.copy_(Tensor::zeros({2, 3})), cyg::Error);
}

TEST(Tensor, CopyFromAnOverlappingViewReadsTheOriginalValues) {
  Tensor m = arange(4, {2, 2});  // [[0, 1], [2, 3]]
  m.copy_(m.permute({1, 0}));
  EXPECT_EQ(m.to_vector(), (std::vector<float>{0, 2, 1, 3}));
}

TEST(Tensor, FillEveryDtype) {
  EXPECT_EQ(Tensor::full({3}, 2.5).to_vector(), (std::vector<float>{2.5f, 2.5f, 2.5f}));
  EXPECT_EQ(Tensor::full({2}, -7, DType::I32).to_vector(), (std::vector<float>{-7, -7}));
  EXPECT_EQ(Tensor::full({1}, 1e12, DType::I64).item(), 1e12);
  EXPECT_EQ(Tensor::full({2}, 200, DType::U8).to_vector(), (std::vector<float>{200, 200}));
  EXPECT_EQ(Tensor::full({2}, 0.5, DType::BF16).to_vector(), (std::vector<float>{0.5f, 0.5f}));
  EXPECT_EQ(Tensor::ones({2, 2}).to_vector(), (std::vector<float>{1, 1, 1, 1}));
  EXPECT_EQ(Tensor::zeros({0}).numel(), 0);
}

TEST(Tensor, Bf16CastRoundsToNearestEven) {
  // bf16 keeps 7 mantissa bits: 1 + 2^-8 is halfway between 1 and 1 + 2^-7 (ties to the
  // even 1), 1 + 3*2^-8 halfway between 1 + 2^-7 and 1 + 2^-6 (ties to the even 1 + 2^-6).
  const Tensor x = Tensor::from_vector({1.0f + 1.0f / 256, 1.0f + 3.0f / 256, 1.0f + 1.5f / 256, -2.0f}, {4});
  const Tensor b = x.to(DType::BF16);
  EXPECT_EQ(b.dtype(), DType::BF16);
  EXPECT_EQ(b.nbytes(), 8u);
  EXPECT_EQ(b.to(DType::F32).to_vector(), (std::vector<float>{1.0f, 1.0f + 4.0f / 256, 1.0f + 2.0f / 256, -2.0f}));
  EXPECT_EQ(b.data<uint16_t>()[3], 0xc000);
  EXPECT_THROW(x.to(DType::I32), cyg::Error);
}

TEST(Tensor, SeededRandomIsReproducibleAndDistributed) {
  const Tensor a = Tensor::uniform({100000}, -1, 3, 42);
  const Tensor b = Tensor::uniform({100000}, -1, 3, 42);
  const Tensor c = Tensor::uniform({100000}, -1, 3, 43);
  EXPECT_EQ(a.to_vector(), b.to_vector());
  EXPECT_NE(a.to_vector(), c.to_vector());
  const auto v = a.to_vector();
  double mean = 0;
  for (float x : v) {
    ASSERT_GE(x, -1.0f);
    ASSERT_LT(x, 3.0f);
    mean += x;
  }
  EXPECT_NEAR(mean / v.size(), 1.0, 0.02);

  const auto n = Tensor::normal({200000}, 2.0, 0.5, 7).to_vector();
  double m = 0, sq = 0;
  for (float x : n) m += x;
  m /= n.size();
  for (float x : n) sq += (x - m) * (x - m);
  EXPECT_NEAR(m, 2.0, 0.01);
  EXPECT_NEAR(std::sqrt(sq / n.size()), 0.5, 0.01);
}

TEST(Tensor, PrintsLikeATensor) {
  const Tensor x = Tensor::from_vector({1, 2, 3, 4.5f}, {2, 2});
  EXPECT_EQ(x.str(), "tensor([[1.0000, 2.0000],\n        [3.0000, 4.5000]], shape=[2, 2], dtype=f32, device=cpu)");
  const std::string long_row = arange(10, {10}).str();
  EXPECT_NE(long_row.find("[0.0000, 1.0000, 2.0000, ..., 7.0000, 8.0000, 9.0000]"), std::string::npos) << long_row;
  EXPECT_EQ(Tensor::full({2}, 3, DType::I32).str(), "tensor([3, 3], shape=[2], dtype=i32, device=cpu)");
}

TEST(Tensor, SameDeviceTransferIsTheSameTensor) {
  const Tensor x = arange(4, {4});
  EXPECT_TRUE(x.to(cyg::Device::cpu()).shares_storage(x));
  EXPECT_TRUE(x.to(DType::F32).shares_storage(x));
  EXPECT_FALSE(x.clone().shares_storage(x));
}

TEST(Tensor, CudaTensorWithoutAGpuIsAClearError) {
  if (cyg::cuda_available()) GTEST_SKIP() << "a GPU answers; test_engine_gpu covers CUDA tensors";
  const Tensor x = arange(4, {4});
  try {
    (void)x.to(cyg::Device::cuda());
    FAIL() << "a CUDA tensor was made without a GPU";
  } catch (const cyg::Error& e) {
    const std::string what = e.what();
    EXPECT_TRUE(what.find("CUDA") != std::string::npos) << what;
  }
}

}  // namespace
