#include "apps/bench/step_counts.h"

#include <cstdarg>
#include <cstdio>
#include <string>

namespace cyg::bench {

namespace {

std::string line(const char* format, ...) __attribute__((format(printf, 1, 2)));

std::string line(const char* format, ...) {
  char text[256];
  va_list args;
  va_start(args, format);
  std::vsnprintf(text, sizeof text, format, args);
  va_end(args);
  return std::string(text) + "\n";
}

double mb(uint64_t bytes) { return static_cast<double>(bytes) / 1e6; }

std::string launches_section(const DeviceCounts& c) {
  std::string out = line("%-52s %9s", "kernel launches (ours)", "launches");
  for (const auto& [kernel, n] : c.launches) out += line("  %-50s %9llu", kernel.c_str(), static_cast<unsigned long long>(n));
  return out + line("  %-50s %9llu", "total", static_cast<unsigned long long>(c.total_launches()));
}

std::string traffic_section(const DeviceCounts& c) {
  std::string out = line("%-40s %9s %10s %10s", "bytes by launch wrapper (declared)", "calls", "MB read", "MB written");
  for (const auto& [wrapper, t] : c.traffic)
    out += line("  %-38s %9llu %10.1f %10.1f", wrapper.c_str(), static_cast<unsigned long long>(t.calls), mb(t.bytes_read),
                mb(t.bytes_written));
  const Traffic all = c.total_traffic();
  return out + line("  %-38s %9llu %10.1f %10.1f", "total", static_cast<unsigned long long>(all.calls), mb(all.bytes_read),
                    mb(all.bytes_written));
}

std::string library_section(const DeviceCounts& c) {
  std::string out = line("%-40s %9s %10s", "cuDNN and cuBLAS calls", "calls", "GFLOP");
  double flops = 0;
  for (const auto& [name, l] : c.library) {
    out += line("  %-38s %9llu %10.2f", name.c_str(), static_cast<unsigned long long>(l.calls), l.flops / 1e9);
    flops += l.flops;
  }
  return out + line("  %-38s %9llu %10.2f", "total", static_cast<unsigned long long>(c.total_library_calls()), flops / 1e9);
}

std::string transfers_section(const DeviceCounts& c) {
  const char* names[3] = {"host to device", "device to host", "device to device"};
  std::string out = line("%-40s %9s %10s", "copies", "copies", "MB");
  for (int d = 0; d < 3; ++d)
    out += line("  %-38s %9llu %10.2f", names[d], static_cast<unsigned long long>(c.copies[d]), mb(c.copy_bytes[d]));
  out += line("%-40s %9llu", "host waits for the device", static_cast<unsigned long long>(c.synchronizations));
  return out + line("%-40s %9llu %10.2f", "device allocations from the runtime", static_cast<unsigned long long>(c.allocations),
                    mb(c.allocated_bytes));
}

std::string model_section(const DeviceCounts& c, double measured_ms) {
  const H200Model m;
  const ModelledTime t = modelled_time(c, m);
  char label[128];
  std::string out = line("modelled H200 time (a model, not a measurement): %.3f ms per step", 1e3 * t.total());
  std::snprintf(label, sizeof label, "our kernels: declared bytes at %.1f TB/s", m.bandwidth_bytes_per_s / 1e12);
  out += line("  %-58s %7.3f ms", label, 1e3 * t.kernels_s);
  std::snprintf(label, sizeof label, "conv/gemm FLOPs at %.0f%% of %.0f (TF32) / %.0f (bf16) TFLOP/s",
                100 * m.library_efficiency, m.tf32_peak_flops / 1e12, m.bf16_peak_flops / 1e12);
  out += line("  %-58s %7.3f ms", label, 1e3 * t.libraries_s);
  std::snprintf(label, sizeof label, "launches and library calls: %.1f us each", 1e6 * m.seconds_per_launch);
  out += line("  %-58s %7.3f ms", label, 1e3 * t.launches_s);
  if (measured_ms >= 0) out += line("measured on this device: %.3f ms per step", measured_ms);
  return out;
}

}  // namespace

ModelledTime modelled_time(const DeviceCounts& counts, const H200Model& model) {
  const Traffic traffic = counts.total_traffic();
  const std::string bf16 = " (bf16)";
  double seconds = 0;
  for (const auto& [name, l] : counts.library) {
    const bool is_bf16 = name.size() > bf16.size() && name.compare(name.size() - bf16.size(), bf16.size(), bf16) == 0;
    seconds += l.flops / ((is_bf16 ? model.bf16_peak_flops : model.tf32_peak_flops) * model.library_efficiency);
  }
  ModelledTime t;
  t.kernels_s = static_cast<double>(traffic.bytes_read + traffic.bytes_written) / model.bandwidth_bytes_per_s;
  t.libraries_s = seconds;
  t.launches_s = static_cast<double>(counts.total_launches() + counts.total_library_calls()) * model.seconds_per_launch;
  return t;
}

std::string step_counts_table(const DeviceCounts& counts, const std::string& title, double measured_ms) {
  return title + "\n" + launches_section(counts) + traffic_section(counts) + library_section(counts) +
         transfers_section(counts) + model_section(counts, measured_ms);
}

}  // namespace cyg::bench
