// The metrics ring the training loop and the range test share: on the emulated device,
// adding steps makes the host wait for nothing; one read waits once and gives every
// pending loss in order, with the sums of loss and correct predictions.
#include <gtest/gtest.h>

#include <vector>

#include "apps/common/metrics_ring.h"
#include "kernels/counters.h"
#include "kernels/error.h"

namespace {

using cyg::Device;
using cyg::Tensor;

// A cross-entropy result with a known loss and correct count, on the emulated device.
cyg::fn::CrossEntropy result(float loss, int64_t correct) {
  cyg::fn::CrossEntropy ce;
  ce.loss = cyg::Variable(Tensor::full({}, loss, cyg::DType::F32, Device::emu()));
  ce.correct = Tensor::full({}, static_cast<double>(correct), cyg::DType::I64, Device::emu());
  return ce;
}

TEST(MetricsRing, StepsWaitForNothingAndOneReadGivesAllPendingLosses) {
  cyg::app::MetricsRing ring(4, Device::emu());
  const std::vector<cyg::fn::CrossEntropy> steps = {result(2.5f, 3), result(1.5f, 5), result(0.5f, 7)};
  cyg::reset_counts();
  cyg::set_counting(true);
  for (const auto& ce : steps) ring.add(ce, 8);
  const uint64_t waits_while_adding = cyg::device_counts().synchronizations;
  EXPECT_EQ(ring.pending(), 3);
  const std::vector<float> losses = ring.read_losses();
  const uint64_t waits_after_reading = cyg::device_counts().synchronizations;
  cyg::set_counting(false);
  EXPECT_EQ(waits_while_adding, 0u);
  EXPECT_EQ(waits_after_reading, 1u);
  EXPECT_EQ(losses, (std::vector<float>{2.5f, 1.5f, 0.5f}));
  EXPECT_EQ(ring.pending(), 0);
  EXPECT_DOUBLE_EQ(ring.loss_sum(), 8 * (2.5 + 1.5 + 0.5));
  EXPECT_DOUBLE_EQ(ring.correct(), 15.0);
  ring.add(result(9.0f, 1), 8);
  EXPECT_EQ(ring.read_losses(), std::vector<float>{9.0f});
  ring.reset_sums();
  EXPECT_DOUBLE_EQ(ring.loss_sum(), 0.0);
}

TEST(MetricsRing, AFullRingMustBeReadFirst) {
  cyg::app::MetricsRing ring(1, Device::emu());
  ring.add(result(1.0f, 1), 1);
  EXPECT_TRUE(ring.full());
  EXPECT_THROW(ring.add(result(1.0f, 1), 1), cyg::Error);
}

}  // namespace
