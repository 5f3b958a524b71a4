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

// A histogram of 2 bins over [0, 1] with counts {0, 3}: min 0.5 and max 1 (the edges of
// the one bin holding values), num 3, sum 3 x 0.75, sum_squares 3 x 0.5625, the bins'
// upper edges {0.5, 1} and their counts {0, 3} packed.
TEST(TensorBoard, HistogramEventIsTheHistogramProtoWorkedOutByHand) {
  const auto le = [](double v) {
    std::string bytes(8, '\0');
    std::memcpy(&bytes[0], &v, 8);  // x86: little-endian, as the wire format
    return bytes;
  };
  std::string histo;
  histo += "\x09" + le(0.5) + "\x11" + le(1.0) + "\x19" + le(3.0) + "\x21" + le(2.25) + "\x29" + le(1.6875);
  histo += "\x32\x10" + le(0.5) + le(1.0);  // bucket_limit (6), packed, 16 bytes
  histo += "\x3A\x10" + le(0.0) + le(3.0);  // bucket (7), packed
  ASSERT_EQ(histo.size(), 5u * 9u + 2u * 18u);
  std::string value = std::string("\x0A\x01") + "h" + "\x2A" + static_cast<char>(histo.size()) + histo;
  std::string summary = "\x0A" + std::string(1, static_cast<char>(value.size())) + value;
  std::string want = "\x09" + le(1.5) + "\x10\x07" + "\x2A" + std::string(1, static_cast<char>(summary.size())) + summary;
  EXPECT_EQ(tb::histogram_event("h", {0, 3}, 0.0, 1.0, 7, 1.5), want);
}

// The activation statistics' rows go in at their step, after that step's scalars: three
// scalars a layer, and a histogram for the outputs after a ReLU.
TEST(TensorBoard, ActivationStatisticsGoInAtTheirStep) {
  std::vector<cyg::app::StepRecord> steps;
  for (int64_t s = 1; s <= 2; ++s) steps.push_back({s, 1, 0.1, 0.9, 1.0});
  std::string hist = "5";
  for (int b = 1; b < 40; ++b) hist += " 0";
  const std::vector<cyg::app::ActivationStat> rows = {{1, "conv1", 0.5, 1.0, 0.25, hist},
                                                      {1, "bn1+relu", 0.75, 0.5, 0.5, hist}};
  const std::string file = tb::training_events(steps, {}, 3.0, {}, rows);
  std::string want = tb::record(tb::file_version_event(3.0));
  for (const char* tag : {"train/loss", "train/lr", "train/momentum"})
    want += tb::record(tb::scalar_event(tag, tag == std::string("train/loss") ? 1.0f : tag == std::string("train/lr")
                                                                                         ? 0.1f
                                                                                         : 0.9f,
                                        1, 3.0));
  want += tb::record(tb::scalar_event("activations_mean/conv1", 0.5f, 1, 3.0));
  want += tb::record(tb::scalar_event("activations_std/conv1", 1.0f, 1, 3.0));
  want += tb::record(tb::scalar_event("activations_near_zero/conv1", 0.25f, 1, 3.0));
  want += tb::record(tb::scalar_event("activations_mean/bn1+relu", 0.75f, 1, 3.0));
  want += tb::record(tb::scalar_event("activations_std/bn1+relu", 0.5f, 1, 3.0));
  want += tb::record(tb::scalar_event("activations_near_zero/bn1+relu", 0.5f, 1, 3.0));
  std::vector<int64_t> counts(40, 0);
  counts[0] = 5;
  want += tb::record(tb::histogram_event("activations_hist/bn1+relu", counts, 0.0, 10.0, 1, 3.0));
  ASSERT_LE(want.size(), file.size());
  EXPECT_EQ(file.substr(0, want.size()), want);
}

}  // namespace
