// TensorBoard's event file: TFRecord framing and the few protocol-buffer fields it needs
// (proto3 wire format: a key (field << 3 | wire type) as a varint, then the value).
#include "apps/common/tensorboard.h"

#include <array>
#include <cstring>
#include <limits>

#include "apps/common/activation_stats.h"

namespace cyg::app::tensorboard {

namespace {

std::array<uint32_t, 256> crc_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}

void append_little_endian(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFFu));
}

void append_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7Fu) | 0x80u));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// Wire types: 0 varint, 1 64-bit, 2 length-delimited, 5 32-bit.
void append_key(std::string& out, int field, int wire_type) {
  append_varint(out, static_cast<uint64_t>(field) << 3 | static_cast<uint64_t>(wire_type));
}

void append_bytes_field(std::string& out, int field, const std::string& bytes) {
  append_key(out, field, 2);
  append_varint(out, bytes.size());
  out += bytes;
}

void append_double_field(std::string& out, int field, double v) {
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof bits);
  append_key(out, field, 1);
  append_little_endian(out, bits, 8);
}

void append_float_field(std::string& out, int field, float v) {
  uint32_t bits = 0;
  std::memcpy(&bits, &v, sizeof bits);
  append_key(out, field, 5);
  append_little_endian(out, bits, 4);
}

// Event: wall_time = 1 (double), step = 2 (int64), file_version = 3, summary = 5.
std::string event_header(double wall_time, int64_t step) {
  std::string e;
  append_double_field(e, 1, wall_time);
  if (step != 0) {  // proto3 leaves a zero out
    append_key(e, 2, 0);
    append_varint(e, static_cast<uint64_t>(step));
  }
  return e;
}

}  // namespace

uint32_t crc32c(const void* data, size_t size) {
  static const std::array<uint32_t, 256> table = crc_table();
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) c = table[(c ^ p[i]) & 0xFFu] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint32_t masked_crc32c(const void* data, size_t size) {
  const uint32_t c = crc32c(data, size);
  return ((c >> 15) | (c << 17)) + 0xA282EAD8u;
}

std::string record(const std::string& payload) {
  std::string length;
  append_little_endian(length, payload.size(), 8);
  std::string out = length;
  append_little_endian(out, masked_crc32c(length.data(), length.size()), 4);
  out += payload;
  append_little_endian(out, masked_crc32c(payload.data(), payload.size()), 4);
  return out;
}

std::string file_version_event(double wall_time) {
  std::string e = event_header(wall_time, 0);
  append_bytes_field(e, 3, "brain.Event:2");
  return e;
}

namespace {
// An Event whose summary holds one Summary.Value: its tag (field 1), then `value_fields`,
// the value's own (Summary: value = 1, repeated; Event: summary = 5).
std::string summary_event(const std::string& tag, const std::string& value_fields, int64_t step, double wall_time) {
  std::string v;
  append_bytes_field(v, 1, tag);
  v += value_fields;
  std::string summary;
  append_bytes_field(summary, 1, v);
  std::string e = event_header(wall_time, step);
  append_bytes_field(e, 5, summary);
  return e;
}
}  // namespace

std::string scalar_event(const std::string& tag, float value, int64_t step, double wall_time) {
  std::string simple_value;  // Summary.Value's simple_value = 2
  append_float_field(simple_value, 2, value);
  return summary_event(tag, simple_value, step, wall_time);
}

std::string histogram_event(const std::string& tag, const std::vector<int64_t>& counts, double lo, double hi,
                            int64_t step, double wall_time) {
  const double width = (hi - lo) / static_cast<double>(counts.size());
  double min = 0, max = 0, num = 0, sum = 0, sum_squares = 0;
  std::string limits, buckets;
  for (size_t b = 0; b < counts.size(); ++b) {
    const double left = lo + width * static_cast<double>(b), right = left + width, centre = left + width / 2;
    const auto c = static_cast<double>(counts[b]);
    if (c > 0) {
      if (num == 0) min = left;
      max = right;
    }
    num += c;
    sum += c * centre;
    sum_squares += c * centre * centre;
    uint64_t bits = 0;
    std::memcpy(&bits, &right, sizeof bits);
    append_little_endian(limits, bits, 8);
    std::memcpy(&bits, &c, sizeof bits);
    append_little_endian(buckets, bits, 8);
  }
  // HistogramProto: min = 1, max = 2, num = 3, sum = 4, sum_squares = 5 (doubles),
  // bucket_limit = 6, bucket = 7 (packed doubles).
  std::string h;
  append_double_field(h, 1, min);
  append_double_field(h, 2, max);
  append_double_field(h, 3, num);
  append_double_field(h, 4, sum);
  append_double_field(h, 5, sum_squares);
  append_bytes_field(h, 6, limits);
  append_bytes_field(h, 7, buckets);
  std::string histo;  // Summary.Value's histo = 5
  append_bytes_field(histo, 5, h);
  return summary_event(tag, histo, step, wall_time);
}

std::string training_events(const std::vector<StepRecord>& steps, const std::vector<EpochMetrics>& epochs,
                            double wall_time, const std::vector<FinalScalar>& final_scalars,
                            const std::vector<ActivationStat>& activations) {
  std::string out = record(file_version_event(wall_time));
  auto scalar = [&](const std::string& tag, double value, int64_t step) {
    out += record(scalar_event(tag, static_cast<float>(value), step, wall_time));
  };
  // The activation rows of the steps up to `step` not yet written.
  size_t next_activation = 0;
  auto activations_to = [&](int64_t step) {
    for (; next_activation < activations.size() && activations[next_activation].step <= step; ++next_activation) {
      const ActivationStat& a = activations[next_activation];
      scalar("activations_mean/" + a.layer, a.mean, a.step);
      scalar("activations_std/" + a.layer, a.std, a.step);
      scalar("activations_near_zero/" + a.layer, a.near_zero, a.step);
      if (after_relu(a.layer))
        out += record(histogram_event("activations_hist/" + a.layer, histogram_counts(a.hist), kHistLow, kHistHigh,
                                      a.step, wall_time));
    }
  };
  auto epoch_scalars = [&](const EpochMetrics& m) {
    scalar("epoch/train_loss", m.train_loss, m.step);
    scalar("epoch/train_acc", m.train_acc, m.step);
    scalar("epoch/val_loss", m.val_loss, m.step);
    scalar("epoch/val_acc", m.val_acc, m.step);
    if (!std::isnan(m.ema_val_acc)) {
      scalar("epoch/ema_val_loss", m.ema_val_loss, m.step);
      scalar("epoch/ema_val_acc", m.ema_val_acc, m.step);
    }
  };
  size_t next_epoch = 0;
  for (const StepRecord& s : steps) {
    // Epochs that ended before this step first, so the file stays in step order.
    for (; next_epoch < epochs.size() && epochs[next_epoch].step < s.step; ++next_epoch)
      epoch_scalars(epochs[next_epoch]);
    scalar("train/loss", s.loss, s.step);
    scalar("train/lr", s.lr, s.step);
    scalar("train/momentum", s.momentum, s.step);
    activations_to(s.step);
    // An epoch's metrics right after its last step.
    for (; next_epoch < epochs.size() && epochs[next_epoch].step == s.step; ++next_epoch)
      epoch_scalars(epochs[next_epoch]);
  }
  activations_to(std::numeric_limits<int64_t>::max());
  for (; next_epoch < epochs.size(); ++next_epoch) epoch_scalars(epochs[next_epoch]);
  const int64_t last_step = steps.empty() ? 0 : steps.back().step;
  for (const FinalScalar& f : final_scalars) scalar(f.tag.c_str(), f.value, last_step);
  return out;
}

}  // namespace cyg::app::tensorboard
