#include "kernels/cpu/isa.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>

#include "kernels/cpu/row_loops.h"
#include "kernels/error.h"

namespace cyg {

namespace {

bool cpu_runs(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::Baseline:
      return true;
    case CpuIsa::Avx2:
#if CYG_CPU_AVX2_VARIANT
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx2");
#else
      return false;
#endif
  }
  return false;
}

std::atomic<int>& chosen() {
  static std::atomic<int> isa{static_cast<int>(cpu_isa_from_setting(std::getenv("CYGNET_CPU_ISA")))};
  return isa;
}

}  // namespace

CpuIsa cpu_isa_from_setting(const char* asked) {
  const std::vector<CpuIsa> available = cpu_isas_available();
  if (asked == nullptr || *asked == '\0' || std::string(asked) == "auto") return available.back();
  for (CpuIsa isa : {CpuIsa::Baseline, CpuIsa::Avx2})
    if (asked == std::string(cpu_isa_name(isa))) {
      CYG_INPUT_CHECK(std::find(available.begin(), available.end(), isa) != available.end(), "CYGNET_CPU_ISA=", asked,
                ": this ", (isa == CpuIsa::Avx2 && !CYG_CPU_AVX2_VARIANT ? "build" : "CPU"),
                      " has no such variant (use baseline or auto)");
      return isa;
    }
  throw Error(detail::concat("CYGNET_CPU_ISA=", asked, ": expected baseline, avx2 or auto"));
}

const char* cpu_isa_name(CpuIsa isa) { return isa == CpuIsa::Avx2 ? "avx2" : "baseline"; }

std::vector<CpuIsa> cpu_isas_available() {
  std::vector<CpuIsa> out;
  for (CpuIsa isa : {CpuIsa::Baseline, CpuIsa::Avx2})
    if (cpu_runs(isa)) out.push_back(isa);
  return out;
}

CpuIsa cpu_isa() { return static_cast<CpuIsa>(chosen().load(std::memory_order_relaxed)); }

CpuIsa set_cpu_isa(CpuIsa isa) {
  CYG_CHECK(cpu_runs(isa), "the CPU kernels have no ", cpu_isa_name(isa), " variant in this build or on this CPU");
  return static_cast<CpuIsa>(chosen().exchange(static_cast<int>(isa)));
}

}  // namespace cyg
