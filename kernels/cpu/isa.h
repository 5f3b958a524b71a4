// The instruction-set variant of the CPU kernels whose loops are compiled more than once
// (kernels/cpu/row_loops.h): the x86-64 baseline (SSE2), and AVX2 where the build is for
// x86-64 with GCC. The widest one the CPU runs is chosen once, at the first call;
// CYGNET_CPU_ISA=baseline|avx2|auto overrides it. Every variant gives the same bits for
// finite inputs: the loops do the same operations in the same order, only on wider
// vectors (no fused multiply-add, no reassociation); only a NaN's sign may differ.
#pragma once

#include <vector>

namespace cyg {

enum class CpuIsa { Baseline, Avx2 };

const char* cpu_isa_name(CpuIsa isa);
// The variants this build has and this CPU runs, narrowest first.
std::vector<CpuIsa> cpu_isas_available();
// The variant a CYGNET_CPU_ISA value asks for (null or empty: auto, the widest available);
// an error naming the variable for an unknown value or one this build or CPU lacks.
CpuIsa cpu_isa_from_setting(const char* value);
// The variant the kernels run now.
CpuIsa cpu_isa();
// Makes the kernels run `isa` from now on (for tests and benchmarks); returns the previous
// one. An error when this build or this CPU lacks it.
CpuIsa set_cpu_isa(CpuIsa isa);

}  // namespace cyg
