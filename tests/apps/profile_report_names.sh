#!/usr/bin/env bash
# scripts/profile_report.py on ncu CSV laid out as ncu 2025 writes it on an H200: our
# kernels, named as ncu spells them (the anonymous namespace as `unnamed>::`, its first
# `<` lost), are told from the libraries' by the names of the __global__ functions in
# kernels/cuda/ (declared `__global__ void CYG_LAUNCH_BOUNDS name(`), and the DRAM table
# adds each kernel's launches up: bytes over time, against the peak ncu measures.
# Usage: profile_report_names.sh REPO
set -euo pipefail
repo="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

header='"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream","Block Size","Grid Size","Device","CC","Section Name","Metric Name","Metric Unit","Metric Value"'
row() {  # id, kernel, metric, unit, value
  printf '"%s","1","cygnet_bench","127.0.0.1","%s","1","13","(256, 1, 1)","(512, 2, 1)","0","9.0","Command line profiler metrics","%s","%s","%s"\n' "$@"
}
ours='void unnamed>::nhwc_finish_normalise_kernel<unnamed>::NhwcTypes<unsigned int, unsigned short, 8>>(const S *, const float *)'
library='sm90_xmma_fprop_implicit_gemm_bf16bf16_bf16f32_f32_nhwckrsc_nhwc_tilesize128x128x64_warpgroupsize1x1x1'

{
  echo "$header"
  for id in 0 1; do  # two launches: 1 MB read and 1 MB written in 1 us each, at 50% of the peak
    row "$id" "$ours" dram__bytes_read.sum byte "1,000,000"
    row "$id" "$ours" dram__bytes_write.sum byte "1,000,000"
    row "$id" "$ours" dram__throughput.avg.pct_of_peak_sustained_elapsed % 50
    row "$id" "$ours" gpu__time_duration.sum ns "1,000"
  done
} > "$dir/dram.csv"
dram=$(python3 "$repo/scripts/profile_report.py" ncu-dram --csv "$dir/dram.csv")
echo "$dram"
# kernel, launches 2, 2.0 us, 4.0 MB, 2000 GB/s, peak 4000 GB/s, 50%
echo "$dram" | grep -Eq '^nhwc_finish_normalise_kernel +2 +2\.0 +4\.0 +2000 +4000 +50$' ||
  { echo "FAIL: the DRAM row of our kernel" >&2; exit 1; }

{
  echo "$header"
  row 0 "$ours" gpu__time_duration.sum ns "2,000"
  row 1 "$library" gpu__time_duration.sum ns "6,000"
} > "$dir/timing.csv"
timing=$(python3 "$repo/scripts/profile_report.py" ncu-time --csv "$dir/timing.csv" --steps 1)
echo "$timing"
echo "$timing" | grep -Eq ' ours +nhwc_finish_normalise_kernel$' || { echo "FAIL: our kernel not named ours" >&2; exit 1; }
echo "$timing" | grep -Eq ' library +sm90_xmma_fprop' || { echo "FAIL: the library kernel" >&2; exit 1; }
echo "$timing" | grep -q 'summary: our kernels 0.002 of 0.008 ms of kernel time a step (25%)' ||
  { echo "FAIL: the summary" >&2; exit 1; }
echo "profile_report: names and tables as expected"
