// The TensorBoard event encoder, byte by byte: CRC-32C against its published check
// value, TFRecord framing, and the Event messages against bytes worked out here from the
// protocol-buffer wire format. tensorboard_reader.py reads a real run's file back with
// TensorBoard's own reader.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "apps/common/tensorboard.h"

namespace {

namespace tb = cyg::app::tensorboard;

uint32_t u32_at(const std::string& s, size_t offset) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = v << 8 | static_cast<uint8_t>(s[offset + static_cast<size_t>(i)]);
  return v;
}

TEST(TensorBoard, Crc32cMatchesItsCheckValue) {
  const char* check = "123456789";
  EXPECT_EQ(tb::crc32c(check, 9), 0xE3069283u);  // the CRC-32C catalogue's check value
  EXPECT_EQ(tb::crc32c("", 0), 0u);
  const std::vector<uint8_t> zeros(32, 0);
  EXPECT_EQ(tb::crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);  // RFC 3720, 32 bytes of zeros
  // TFRecord's mask: rotate right by 15, add 0xa282ead8.
  const uint32_t c = 0xE3069283u;
  EXPECT_EQ(tb::masked_crc32c(check, 9), ((c >> 15) | (c << 17)) + 0xA282EAD8u);
}

TEST(TensorBoard, RecordFramesThePayloadWithItsLengthAndTwoChecksums) {
  const std::string payload = "abc";
  const std::string r = tb::record(payload);
  ASSERT_EQ(r.size(), 8u + 4u + 3u + 4u);
  EXPECT_EQ(r.substr(0, 8), std::string("\x03\0\0\0\0\0\0\0", 8));
  EXPECT_EQ(u32_at(r, 8), tb::masked_crc32c(r.data(), 8));
  EXPECT_EQ(r.substr(12, 3), payload);
  EXPECT_EQ(u32_at(r, 15), tb::masked_crc32c("abc", 3));
}

TEST(TensorBoard, ScalarEventIsTheEventMessageWorkedOutByHand) {
  // Event { wall_time: 1.5 (field 1, fixed64), step: 300 (field 2, varint 0xAC 0x02),
  //         summary (field 5) { value (1) { tag (1): "a/b", simple_value (2, fixed32): 0.25 } } }
  const std::string got = tb::scalar_event("a/b", 0.25f, 300, 1.5);
  std::string want;
  want += '\x09';
  want += std::string("\0\0\0\0\0\0\xF8\x3F", 8);  // 1.5 as a little-endian double
  want += "\x10\xAC\x02";
  want += "\x2A\x0C";          // summary, 12 bytes
  want += "\x0A\x0A";          // value, 10 bytes
  want += "\x0A\x03" "a/b";    // tag
  want += '\x15';
  want += std::string("\0\0\x80\x3E", 4);  // 0.25 as a little-endian float
  EXPECT_EQ(got, want);
}

TEST(TensorBoard, FileVersionEventComesFirst) {
  const std::string e = tb::file_version_event(2.0);
  std::string want = "\x09";
  want += std::string("\0\0\0\0\0\0\0\x40", 8);
  want += "\x1A\x0D" "brain.Event:2";
  EXPECT_EQ(e, want);
}

TEST(TensorBoard, TrainingEventsHoldEveryStepAndEpochScalarInStepOrder) {
  std::vector<cyg::app::StepRecord> steps;
  for (int64_t s = 1; s <= 4; ++s) steps.push_back({s, (s + 1) / 2, 0.1 * static_cast<double>(s), 0.9, 2.0 / s});
  std::vector<cyg::app::EpochMetrics> epochs(2);
  epochs[0].epoch = 1, epochs[0].step = 2, epochs[0].val_acc = 0.5;
  epochs[1].epoch = 2, epochs[1].step = 4, epochs[1].val_acc = 0.75;
  const std::string file = tb::training_events(steps, epochs, 10.0);
  // Walk the records: the version, then 3 per step and 4 per epoch.
  std::vector<std::string> payloads;
  for (size_t at = 0; at < file.size();) {
    uint64_t length = 0;
    for (int i = 7; i >= 0; --i) length = length << 8 | static_cast<uint8_t>(file[at + static_cast<size_t>(i)]);
    ASSERT_EQ(u32_at(file, at + 8), tb::masked_crc32c(file.data() + at, 8));
    const std::string payload = file.substr(at + 12, length);
    ASSERT_EQ(u32_at(file, at + 12 + length), tb::masked_crc32c(payload.data(), payload.size()));
    payloads.push_back(payload);
    at += 12 + length + 4;
  }
  ASSERT_EQ(payloads.size(), 1u + 3u * 4u + 4u * 2u);
  EXPECT_EQ(payloads[0], tb::file_version_event(10.0));
  EXPECT_EQ(payloads[1], tb::scalar_event("train/loss", 2.0f, 1, 10.0));
  EXPECT_EQ(payloads[6], tb::scalar_event("train/momentum", 0.9f, 2, 10.0));
  EXPECT_EQ(payloads[10], tb::scalar_event("epoch/val_acc", 0.5f, 2, 10.0)) << "epoch 1 after step 2";
  EXPECT_EQ(payloads.back(), tb::scalar_event("epoch/val_acc", 0.75f, 4, 10.0));
  // A run's final scalars (stochastic weight averaging's) come last, at the last step.
  const std::string with_final = tb::training_events(steps, epochs, 10.0, {{"swa/val_acc", 0.875}});
  ASSERT_EQ(with_final.substr(0, file.size()), file);
  EXPECT_EQ(with_final.substr(file.size()), tb::record(tb::scalar_event("swa/val_acc", 0.875f, 4, 10.0)));
}

}  // namespace
