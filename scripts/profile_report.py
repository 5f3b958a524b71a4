#!/usr/bin/env python3
"""Reads the reports scripts/profile.sh makes and prints its tables (standard library only).

    profile_report.py nsys --kernels K.csv [--nvtx N.csv] [--top 15] [--ours-out FILE]
        `nsys stats` CSV of the kernel summary (cuda_gpu_kern_sum, or gpukernsum of older
        versions) and of the NVTX ranges: the top kernels by GPU time, ours marked, and our
        kernels' share of the kernel time and of the median step
    profile_report.py ncu-time --csv T.csv --steps S [--top 15] [--ours-out FILE]
        the same table from `ncu --metrics gpu__time_duration.sum` over S steps (where nsys
        makes no report)
    profile_report.py ncu-dram --csv D.csv
        achieved DRAM bandwidth of each kernel against the peak, from ncu's
        gpu__time_duration, dram__bytes_read/write and dram__throughput metrics

--ours-out writes the base names of our heaviest kernels, one a line, heaviest first.
Our kernels are those in namespace cyg:: or named by a __global__ function in kernels/cuda/.
"""
import argparse
import csv
import glob
import os
import re
import statistics
import sys

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
# Decimal prefixes, as ncu writes its units.
PREFIX = {"": 1.0, "n": 1e-9, "u": 1e-6, "m": 1e-3, "K": 1e3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


def our_kernel_names():
    names = set()
    for path in glob.glob(os.path.join(REPO, "kernels", "cuda", "*.cu")):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        # `__global__ void CYG_LAUNCH_BOUNDS name(`: a bounds attribute or its macro may
        # stand before the name or before `void`.
        names.update(
            re.findall(r"__global__\s+(?:__launch_bounds__\([^)]*\)\s+)?void\s+"
                       r"(?:__launch_bounds__\([^)]*\)\s+|[A-Z][A-Z0-9_]*\s+)?(\w+)\s*\(", text))
    return names


OURS = our_kernel_names()


def base_name(name):
    """`void cyg::cuda::(anonymous namespace)::k<float, 4>(const float *, int)` -> `k`: the
    identifier after the namespaces, before its template arguments and parameters.

    ncu's demangled names spell the anonymous namespace `<unnamed>` (in its CSV with the
    first `<` lost: `void unnamed>::k<unnamed>::T<int>>(...)`), whose brackets would
    unbalance a count of template brackets: the name is read from the front instead."""
    name = re.sub(r"^\s*void\s+", "", name.replace("(anonymous namespace)", "<unnamed>"))
    m = re.match(r"(?:<?unnamed>::|\w+::)*(\w+)", name)
    return m.group(1) if m else name.strip()


def is_ours(name):
    return "cyg::" in name or base_name(name) in OURS


def short(name, width=72):
    return name if len(name) <= width else name[:width - 3] + "..."


def read_csv_table(path, required):
    """The rows of the first table in a profiler's output whose header has every `required`
    column (profilers print other lines before it)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines):
        if all(r in line for r in required):
            return list(csv.DictReader(lines[i:]))
    sys.exit(f"profile_report: {path}: no table with the columns {', '.join(required)}")


def column(row, *prefixes):
    """The value of the first column whose header starts with one of the prefixes."""
    for prefix in prefixes:
        for key, value in row.items():
            if key and key.strip().startswith(prefix):
                return value
    raise KeyError(prefixes[0])


def number(text):
    return float(str(text).replace(",", "").strip() or "nan")


def kernel_table(kernels, steps, top, ours_out):
    """kernels: [(name, total_ns, launches)]; prints the table and our share."""
    kernels.sort(key=lambda k: -k[1])
    total = sum(k[1] for k in kernels) or 1.0
    print(f"{'time %':>6} {'total ms':>9} {'launches':>8} {'per step':>8} {'avg us':>8}  {'whose':<7} kernel")
    for name, ns, launches in kernels[:top]:
        print(f"{100 * ns / total:6.1f} {ns / 1e6:9.2f} {launches:8d} {launches / steps:8.1f} {ns / launches / 1e3:8.1f}  "
              f"{'ours' if is_ours(name) else 'library':<7} {base_name(name) if is_ours(name) else short(name)}")
    ours = [k for k in kernels if is_ours(k[0])]
    ours_ns = sum(k[1] for k in ours)
    print(f"{len(kernels)} kernels, {total / 1e6:.2f} ms of GPU time over {steps} steps "
          f"({total / steps / 1e6:.3f} ms a step); ours: {len(ours)} kernels, {ours_ns / steps / 1e6:.3f} ms a step, "
          f"{100 * ours_ns / total:.1f}% of the kernel time")
    summary = (f"summary: our kernels {ours_ns / steps / 1e6:.3f} of {total / steps / 1e6:.3f} ms of kernel time "
               f"a step ({100 * ours_ns / total:.0f}%)")
    if ours_out:
        with open(ours_out, "w", encoding="utf-8") as f:
            seen = []
            for name, _, _ in ours:
                if base_name(name) not in seen:
                    seen.append(base_name(name))
            f.write("".join(n + "\n" for n in seen))
    return ours_ns, total, summary


def nsys(a):
    rows = read_csv_table(a.kernels, ["Total Time", "Instances", "Name"])
    kernels = [(r["Name"], number(column(r, "Total Time")), int(number(r["Instances"]))) for r in rows if r.get("Name")]
    steps, step_ns = 1, None
    if a.nvtx and os.path.isfile(a.nvtx):
        ranges = read_csv_table(a.nvtx, ["Total Time", "Instances", "Range"])
        print(f"{'range':<12} {'count':>6} {'median ms':>10} {'total ms':>10}")
        for r in ranges:
            name = r["Range"].strip().lstrip(":")
            median = number(column(r, "Med", "Avg", "Average"))
            print(f"{name:<12} {int(number(r['Instances'])):6d} {median / 1e6:10.3f} {number(column(r, 'Total Time')) / 1e6:10.2f}")
            if name == "step":
                steps, step_ns = int(number(r["Instances"])), median
        print()
    ours_ns, total, summary = kernel_table(kernels, steps, a.top, a.ours_out)
    if step_ns:
        print(f"median step {step_ns / 1e6:.3f} ms: kernels busy the GPU {100 * total / steps / step_ns:.0f}% of it, "
              f"ours {100 * ours_ns / steps / step_ns:.0f}%")
        summary += f"; median step {step_ns / 1e6:.3f} ms, ours {100 * ours_ns / steps / step_ns:.0f}% of it"
    print(summary)


def ncu_metrics(path):
    """{launch id: {"name": kernel name, metric: value in base units}} from ncu's CSV."""
    rows = read_csv_table(path, ["Kernel Name", "Metric Name", "Metric Value"])
    launches = {}
    for r in rows:
        launch = launches.setdefault(r["ID"], {"name": r["Kernel Name"]})
        unit = (r.get("Metric Unit") or "").strip()
        value = number(r["Metric Value"])
        m = re.fullmatch(r"([numkKMGT]?)(second|byte)(/second)?", unit)
        if m:
            value *= PREFIX[m.group(1)]
            if m.group(2) == "second":
                value *= 1e9  # nanoseconds
        launches[r["ID"]][r["Metric Name"]] = value
    return launches


def ncu_time(a):
    per_kernel = {}
    for launch in ncu_metrics(a.csv).values():
        ns, count = per_kernel.get(launch["name"], (0.0, 0))
        per_kernel[launch["name"]] = (ns + launch.get("gpu__time_duration.sum", 0.0), count + 1)
    print(kernel_table([(name, ns, n) for name, (ns, n) in per_kernel.items()], a.steps, a.top, a.ours_out)[2])


def ncu_dram(a):
    per_kernel = {}
    for launch in ncu_metrics(a.csv).values():
        per_kernel.setdefault(base_name(launch["name"]), []).append(launch)
    if not per_kernel:
        sys.exit("profile_report: ncu profiled no kernel")
    print(f"{'kernel':<40} {'launches':>8} {'time us':>9} {'DRAM MB':>9} {'achieved GB/s':>13} {'peak GB/s':>9} {'% of peak':>9}")
    peaks = []
    for name, launches in per_kernel.items():
        ns = sum(x.get("gpu__time_duration.sum", 0.0) for x in launches)
        moved = sum(x.get("dram__bytes_read.sum", 0.0) + x.get("dram__bytes_write.sum", 0.0) for x in launches)
        achieved = moved / ns if ns else 0.0  # bytes per ns = GB/s
        # The peak ncu measures against: each launch's rate over its percentage of peak.
        peak = [(x.get("dram__bytes_read.sum", 0.0) + x.get("dram__bytes_write.sum", 0.0)) / x["gpu__time_duration.sum"]
                / (x["dram__throughput.avg.pct_of_peak_sustained_elapsed"] / 100) for x in launches
                if x.get("gpu__time_duration.sum") and x.get("dram__throughput.avg.pct_of_peak_sustained_elapsed", 0) > 1]
        peak_gbs = statistics.median(peak) if peak else float("nan")
        peaks += peak
        print(f"{short(name, 40):<40} {len(launches):8d} {ns / 1e3:9.1f} {moved / 1e6:9.1f} {achieved:13.0f} "
              f"{peak_gbs:9.0f} {100 * achieved / peak_gbs if peak else float('nan'):9.0f}")
    if peaks:
        print(f"DRAM peak as ncu measures it: {statistics.median(peaks):.0f} GB/s (H200 data sheet: 4800 GB/s)")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    n = sub.add_parser("nsys")
    n.add_argument("--kernels", required=True)
    n.add_argument("--nvtx")
    n.add_argument("--top", type=int, default=15)
    n.add_argument("--ours-out")
    t = sub.add_parser("ncu-time")
    t.add_argument("--csv", required=True)
    t.add_argument("--steps", type=int, required=True)
    t.add_argument("--top", type=int, default=15)
    t.add_argument("--ours-out")
    d = sub.add_parser("ncu-dram")
    d.add_argument("--csv", required=True)
    a = p.parse_args()
    {"nsys": nsys, "ncu-time": ncu_time, "ncu-dram": ncu_dram}[a.command](a)


if __name__ == "__main__":
    main()
