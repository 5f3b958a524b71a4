// The emulated CUDA device behaves like device memory and streams, so the bugs of a GPU
// path show here as wrong values: a host read without a synchronisation, a block reused
// by another stream while queued work still reads it, and a missing event between two
// streams. Each bug is planted and caught; the correct code beside it gives the right
// values. Also: the memory pool, NaN-poisoned memory, copy checks and graph replay.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "engine/allocator.h"
#include "engine/ops.h"
#include "engine/runtime.h"
#include "engine/stream.h"
#include "engine/tensor.h"
#include "kernels/emu/device.h"
#include "kernels/error.h"

namespace {

using cyg::CopyKind;
using cyg::Device;
using cyg::DType;
using cyg::Stream;
using cyg::StreamGuard;
using cyg::Tensor;

constexpr Device kEmu = Device::emu();

std::vector<float> counting(size_t n, float first) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = first + static_cast<float>(i);
  return v;
}

std::vector<float> scaled(const std::vector<float>& v, float by) {
  std::vector<float> out(v);
  for (float& x : out) x *= by;
  return out;
}

bool all_nan(const std::vector<float>& v) {
  for (float x : v)
    if (!std::isnan(x)) return false;
  return !v.empty();
}

// Each test starts from an idle device whose cached blocks went back to the pool, so
// every block is freshly allocated (and NaN) rather than left over from another test.
class EmuDevice : public ::testing::Test {
 protected:
  void SetUp() override {
    cyg::emu_runtime().synchronize();
    cyg::allocator_for(kEmu).empty_cache();
  }
  cyg::DeviceRuntime& runtime() { return cyg::emu_runtime(); }
};

TEST_F(EmuDevice, MemoryComesFromItsOwnPoolAndStartsAsNaN) {
  const Tensor t = Tensor::empty({1000}, DType::F32, kEmu);
  EXPECT_TRUE(cyg::emu::is_device_memory(t.data_ptr()));
  std::vector<float> host(1000, 1.0f);
  EXPECT_FALSE(cyg::emu::is_device_memory(host.data()));
  EXPECT_TRUE(all_nan(t.to_vector()));
}

TEST_F(EmuDevice, CopiesCheckWhichSideIsDeviceMemory) {
  std::vector<float> a(4), b(4);
  void* stream = runtime().default_stream();
  try {
    runtime().memcpy(a.data(), b.data(), sizeof(float) * 4, CopyKind::HostToDevice, stream);
    FAIL() << "a host-to-device copy into host memory was accepted";
  } catch (const cyg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not device memory"), std::string::npos) << e.what();
  }
  const Tensor d = Tensor::zeros({4}, DType::F32, kEmu);
  EXPECT_THROW(runtime().memcpy(d.data_ptr(), b.data(), sizeof(float) * 4, CopyKind::DeviceToHost, stream),
               cyg::Error);
}

TEST_F(EmuDevice, AHostReadWithoutSynchronisationIsCaught) {
  const Tensor x = Tensor::from_vector({-1, 2, -3, 4}, {4}, kEmu);
  const Tensor y = cyg::relu(x);
  // The bug: device memory read on the host before anything waited for the kernel.
  const float* raw = y.data<float>();
  EXPECT_TRUE(all_nan(std::vector<float>(raw, raw + 4))) << "the queued relu ran before anything waited for it";
  // The fix: a copy to the host, which waits.
  EXPECT_EQ(y.to_vector(), (std::vector<float>{0, 2, 0, 4}));
  // After a synchronisation the memory holds the result.
  EXPECT_EQ(std::vector<float>(raw, raw + 4), (std::vector<float>{0, 2, 0, 4}));
}

TEST_F(EmuDevice, ABlockReusedByAnotherStreamBeforeItsReaderRanIsCaught) {
  const size_t n = 1000, bytes = n * sizeof(float);
  const std::vector<float> old_values = counting(n, 1), new_values = counting(n, 5000);
  float* block = static_cast<float*>(runtime().malloc(bytes));
  float* out = static_cast<float*>(runtime().malloc(bytes));
  runtime().memcpy(block, old_values.data(), bytes, CopyKind::HostToDevice, runtime().default_stream());
  runtime().synchronize();
  Stream reader(kEmu), next_owner(kEmu);
  runtime().memcpy(out, block, bytes, CopyKind::DeviceToDevice, reader.handle());
  // The bug: the block handed to another stream (as an allocator blind to streams would)
  // while the copy queued on `reader` still has to read it.
  runtime().memcpy(block, new_values.data(), bytes, CopyKind::HostToDevice, next_owner.handle());
  runtime().synchronize();
  std::vector<float> seen(n);
  runtime().memcpy(seen.data(), out, bytes, CopyKind::DeviceToHost, runtime().default_stream());
  EXPECT_EQ(seen, new_values) << "the reader saw the block's new owner's data";
  runtime().free(block);
  runtime().free(out);
}

TEST_F(EmuDevice, TheCachingAllocatorKeepsAReleasedBlockWithItsStream) {
  const std::vector<float> values = counting(1000, 1);
  Stream reader(kEmu), other(kEmu);
  Tensor y, z;
  const void* released = nullptr;
  {
    StreamGuard on_reader(reader);
    const Tensor x = Tensor::from_vector(values, {1000}, kEmu);
    y = cyg::scale(x, 3);
    released = x.data_ptr();
  }  // x's block goes back while the scale that reads it is still queued
  {
    StreamGuard on_other(other);
    z = Tensor::full({1000}, 7.0, DType::F32, kEmu);
    EXPECT_NE(z.data_ptr(), released) << "a block went to another stream while queued work still reads it";
  }
  EXPECT_EQ(y.to_vector(), scaled(values, 3));
  EXPECT_EQ(z.to_vector(), std::vector<float>(1000, 7.0f));
  // On its own stream the block is handed out again, after the work queued before.
  StreamGuard on_reader(reader);
  const Tensor again = Tensor::full({1000}, 1.0, DType::F32, kEmu);
  EXPECT_EQ(again.data_ptr(), released);
  EXPECT_EQ(y.to_vector(), scaled(values, 3));
}

TEST_F(EmuDevice, AReleasedBlockIsPoisonedOnItsStreamAfterTheWorkQueuedBefore) {
  const std::vector<float> values = counting(256, 1);
  Stream s(kEmu);
  Tensor doubled;
  const float* block = nullptr;
  {
    StreamGuard g(s);
    const Tensor gone = Tensor::from_vector(values, {256}, kEmu);
    doubled = cyg::scale(gone, 2);  // queued on s, reads `gone`
    block = gone.data<float>();
  }  // `gone` released: its NaN fill is queued on s, after the scale
  runtime().synchronize();
  EXPECT_EQ(doubled.to_vector(), scaled(values, 2)) << "the fill overtook the work queued before it";
  EXPECT_TRUE(all_nan(std::vector<float>(block, block + 256))) << "a released block kept its old values";
}

TEST_F(EmuDevice, MemoryOutlivingItsStreamGoesToTheDefaultStream) {
  Tensor kept;
  {
    Stream s(kEmu);
    StreamGuard g(s);
    kept = Tensor::full({64}, 5.0, DType::F32, kEmu);
  }  // the stream is gone; its block is still in use
  EXPECT_EQ(kept.to_vector(), std::vector<float>(64, 5.0f));
  const void* block = kept.data_ptr();
  kept = Tensor();  // released onto the default stream, not the destroyed one
  const Tensor again = Tensor::full({64}, 1.0, DType::F32, kEmu);
  EXPECT_EQ(again.data_ptr(), block);
  EXPECT_EQ(again.to_vector(), std::vector<float>(64, 1.0f));
}

// The producer and consumer streams are made in both orders: what decides which runs
// first is the order work was queued in, not the order the streams were made in.
void check_missing_event_is_caught(bool consumer_made_first) {
  const std::vector<float> values = counting(512, 1);
  const Tensor x = Tensor::from_vector(values, {512}, kEmu);
  std::unique_ptr<Stream> first = std::make_unique<Stream>(kEmu), second = std::make_unique<Stream>(kEmu);
  Stream& producer = consumer_made_first ? *second : *first;
  Stream& consumer = consumer_made_first ? *first : *second;
  // The bug: the consumer reads y with nothing ordering it after the producer.
  Tensor y, z;
  {
    StreamGuard g(producer);
    y = cyg::scale(x, 2);
  }
  {
    StreamGuard g(consumer);
    z = cyg::add(y, y);
  }
  EXPECT_TRUE(all_nan(z.to_vector())) << "the consumer waited for the producer without an event";
  // The fix: an event recorded after the producer's work, waited for by the consumer.
  Tensor y2, z2;
  {
    StreamGuard g(producer);
    y2 = cyg::scale(x, 2);
  }
  cyg::Event produced(kEmu);
  produced.record(producer);
  produced.block(consumer);
  {
    StreamGuard g(consumer);
    z2 = cyg::add(y2, y2);
  }
  EXPECT_EQ(z2.to_vector(), scaled(values, 4));
}

TEST_F(EmuDevice, AMissingEventBetweenStreamsIsCaught) {
  SCOPED_TRACE("producer made first");
  check_missing_event_is_caught(false);
}

TEST_F(EmuDevice, AMissingEventBetweenStreamsIsCaughtWhicheverStreamWasMadeFirst) {
  SCOPED_TRACE("consumer made first");
  check_missing_event_is_caught(true);
}

TEST_F(EmuDevice, AnEventOnTheDefaultStreamWaitsForTheOtherStreams) {
  const std::vector<float> values = counting(128, 1);
  const Tensor x = Tensor::from_vector(values, {128}, kEmu);
  Stream s(kEmu);
  Tensor y;
  {
    StreamGuard g(s);
    y = cyg::scale(x, 3);
  }
  cyg::Event on_default(kEmu);
  on_default.record_on_current_stream();  // the legacy default stream: after s's work
  on_default.synchronize();
  const float* raw = y.data<float>();
  EXPECT_EQ(std::vector<float>(raw, raw + 128), scaled(values, 3));
}

TEST_F(EmuDevice, StreamsAreOrderedWithTheDefaultStream) {
  const std::vector<float> values = counting(300, -150);
  const Tensor x = Tensor::from_vector(values, {300}, kEmu);  // uploaded on the default stream
  Stream s(kEmu);
  Tensor y;
  {
    StreamGuard g(s);
    y = cyg::scale(x, -1);  // waits for the upload
  }
  s.synchronize();
  const float* raw = y.data<float>();
  EXPECT_EQ(std::vector<float>(raw, raw + 300), scaled(values, -1));
}

// A non-blocking stream (cudaStreamNonBlocking) is ordered with the default stream by
// events alone: without one, its work runs before the default stream's queued kernel
// it reads; with one, after.
TEST_F(EmuDevice, ANonBlockingStreamIsOrderedByEventsAlone) {
  const std::vector<float> values = counting(200, -100);
  const Tensor x = Tensor::from_vector(values, {200}, kEmu);
  cyg::runtime_for(kEmu).synchronize();
  Stream side(kEmu, /*non_blocking=*/true);
  const Tensor y = cyg::scale(x, 2);  // queued on the default stream
  Tensor z;
  {
    StreamGuard g(side);
    z = cyg::scale(y, 1);  // the bug: no event after the default stream's kernel
  }
  side.synchronize();  // the default stream does not wait for it either
  const float* raw = z.data<float>();
  EXPECT_TRUE(all_nan(std::vector<float>(raw, raw + 200))) << "a non-blocking stream waited for the default stream";
  const Tensor y2 = cyg::scale(x, 2);
  cyg::Event made(kEmu);
  made.record_on_current_stream();
  made.block(side);
  Tensor z2;
  {
    StreamGuard g(side);
    z2 = cyg::scale(y2, 1);
  }
  side.synchronize();
  const float* raw2 = z2.data<float>();
  EXPECT_EQ(std::vector<float>(raw2, raw2 + 200), scaled(values, 2));
}

TEST_F(EmuDevice, ACapturedGraphRunsOnlyWhenLaunchedAndAsOftenAsLaunched) {
  const std::vector<float> values = counting(200, 1);
  Tensor acc = Tensor::zeros({200}, DType::F32, kEmu);
  const Tensor x = Tensor::from_vector(values, {200}, kEmu);
  runtime().synchronize();
  Stream s(kEmu);
  void* graph = nullptr;
  {
    StreamGuard g(s);
    runtime().begin_capture(s.handle());
    cyg::axpy_(acc, 2, x);
    graph = runtime().end_capture(s.handle());
  }
  EXPECT_EQ(acc.to_vector(), std::vector<float>(200, 0.0f)) << "captured work ran without a launch";
  runtime().graph_launch(graph, s.handle());
  runtime().graph_launch(graph, s.handle());
  s.synchronize();
  EXPECT_EQ(acc.to_vector(), scaled(values, 4));
  runtime().graph_destroy(graph);
}

TEST_F(EmuDevice, WhatCudaRefusesInACaptureEndsTheCapture) {
  Stream s(kEmu);
  StreamGuard g(s);
  const Tensor x = Tensor::full({100}, 1.0, DType::F32, kEmu);
  s.synchronize();
  runtime().begin_capture(s.handle());
  EXPECT_THROW(s.synchronize(), cyg::Error) << "a wait inside a capture";
  EXPECT_THROW(runtime().end_capture(s.handle()), cyg::Error) << "the capture should be invalid";
  // A new allocation is not refused (the CUDA runtime makes it in relaxed capture mode),
  // nor does it end the capture; giving device memory back is refused.
  runtime().begin_capture(s.handle());
  void* block = nullptr;
  EXPECT_NO_THROW(block = runtime().malloc(1 << 20)) << "a new allocation inside a capture";
  EXPECT_THROW(runtime().free(block), cyg::Error) << "a cudaFree inside a capture";
  EXPECT_THROW(runtime().end_capture(s.handle()), cyg::Error);
  runtime().free(block);
  runtime().begin_capture(s.handle());
  std::vector<float> host(100, 2.0f);
  EXPECT_THROW(runtime().memcpy(x.data_ptr(), host.data(), 400, CopyKind::HostToDevice, s.handle()), cyg::Error)
      << "a copy from pageable host memory inside a capture";
  EXPECT_THROW(runtime().end_capture(s.handle()), cyg::Error);
}

TEST_F(EmuDevice, CopiesStayInsideTheirAllocation) {
  const Tensor small = Tensor::zeros({16}, DType::F32, kEmu);
  std::vector<float> host(1024, 1.0f);
  EXPECT_THROW(runtime().memcpy(small.data_ptr(), host.data(), host.size() * sizeof(float), CopyKind::HostToDevice,
                                runtime().default_stream()),
               cyg::Error);
}

TEST_F(EmuDevice, FreeWaitsForQueuedWork) {
  const size_t bytes = 64 * sizeof(float);
  float* a = static_cast<float*>(runtime().malloc(bytes));
  float* b = static_cast<float*>(runtime().malloc(bytes));
  const std::vector<float> values = counting(64, 10);
  runtime().memcpy(a, values.data(), bytes, CopyKind::HostToDevice, runtime().default_stream());
  runtime().memcpy(b, a, bytes, CopyKind::DeviceToDevice, runtime().default_stream());
  runtime().free(a);  // as cudaFree: the queued copy out of `a` runs first
  std::vector<float> seen(64);
  runtime().memcpy(seen.data(), b, bytes, CopyKind::DeviceToHost, runtime().default_stream());
  EXPECT_EQ(seen, values);
  runtime().free(b);
}

}  // namespace
