// The counts of one training step (kernels/counters.h) as a table, with a modelled H200
// time: our kernels' declared bytes at the H200's memory bandwidth, the convolutions'
// and gemms' FLOPs at a stated share of its TF32 tensor-core peak (its bf16 peak for the
// calls counted as "... (bf16)"), and a stated cost per launch. A model for comparing steps, not a measurement.
#pragma once
#include <string>

#include "kernels/counters.h"

namespace cyg::bench {

struct H200Model {
  double bandwidth_bytes_per_s = 4.8e12;  // HBM3e
  double tf32_peak_flops = 494.7e12;      // dense TF32 tensor cores
  double bf16_peak_flops = 989.4e12;      // dense bf16 tensor cores
  double library_efficiency = 0.5;        // share of the peak cuDNN and cuBLAS reach
  double seconds_per_launch = 2e-6;       // launch and tail of a small kernel
};

struct ModelledTime {
  double kernels_s, libraries_s, launches_s;
  double total() const { return kernels_s + libraries_s + launches_s; }
};

ModelledTime modelled_time(const DeviceCounts& counts, const H200Model& model = {});

// `title` heads the table; `measured_ms` (below zero: none) is printed beside the model.
std::string step_counts_table(const DeviceCounts& counts, const std::string& title, double measured_ms);

}  // namespace cyg::bench
