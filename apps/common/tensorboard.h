// TensorBoard scalars: a run's tables as one TensorBoard event file, as PyTorch's
// SummaryWriter writes them (`tensorboard --logdir runs` shows runs side by side). The
// file is a sequence of TFRecords (length, masked CRC-32C of the length, the data, its
// masked CRC-32C), each an `Event` protocol buffer: a file-version event first, then one
// per scalar (`Summary.Value` with a tag and a simple_value at a step). The encoder is
// small and covers exactly those messages; tests check it byte by byte, and
// TensorBoard's own reader reads it back (tests/apps/tensorboard_reader.py).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "apps/common/run_records.h"

namespace cyg::app::tensorboard {

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), and TFRecord's masking of it.
uint32_t crc32c(const void* data, size_t size);
uint32_t masked_crc32c(const void* data, size_t size);

// One TFRecord around `payload`.
std::string record(const std::string& payload);

// Serialised Event messages.
std::string file_version_event(double wall_time);
std::string scalar_event(const std::string& tag, float value, int64_t step, double wall_time);

// The event file of a training run: per step its loss, lr and momentum (train/loss,
// train/lr, train/momentum), per epoch its four metrics (epoch/train_loss,
// epoch/train_acc, epoch/val_loss, epoch/val_acc) at the epoch's last step, then
// `final_scalars` (a run's end: stochastic weight averaging's swa/val_loss, swa/val_acc)
// at the last step. wall_time stamps every event.
struct FinalScalar {
  std::string tag;
  double value;
};
std::string training_events(const std::vector<StepRecord>& steps, const std::vector<EpochMetrics>& epochs,
                            double wall_time, const std::vector<FinalScalar>& final_scalars = {});

// The file's name in the run directory (TensorBoard reads every file whose name holds
// "tfevents"); one file per run, rewritten whole as the tables grow.
constexpr const char* kEventFile = "events.out.tfevents.cygnet";

}  // namespace cyg::app::tensorboard
