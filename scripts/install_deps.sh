#!/usr/bin/env bash
# Installs the Debian packages cygnet builds and tests with. Idempotent: installs only
# what is missing. As root it installs; otherwise it prints the apt command to run.
# The CUDA toolkit and cuDNN are not Debian packages: when nvcc is absent the build is
# CPU-only (the CUDA kernels still run through the emulation shim in the tests).
set -euo pipefail

# Each one is used: the toolchain; GoogleTest, yaml-cpp, OpenBLAS, oneDNN, zlib,
# nlohmann-json and libjpeg (JPEG images in image folders) by the build (OpenMP is GCC's
# own libgomp); OpenMPI by runs over several processes and their 2-rank test; python3 and python3-venv by
# the test that reads a run back with TensorBoard's reader (installed from PyPI into the
# build folder); Fashion-MNIST by the quickstart.
packages=(
  build-essential cmake ninja-build pkg-config
  libgtest-dev libyaml-cpp-dev libopenblas-dev libdnnl-dev zlib1g-dev nlohmann-json3-dev libopenmpi-dev openmpi-bin libjpeg-dev
  python3 python3-venv dataset-fashion-mnist
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#packages[@]} packages present"
  exit 0
fi

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "install_deps: missing packages; run as root:"
  echo "  apt-get update && $cmd"
  exit 1
fi
log="${TMPDIR:-/tmp}/cygnet-install-deps.log"
echo "install_deps: installing ${missing[*]} (apt's output: $log)"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && $cmd -qq; } > "$log" 2>&1; then
  tail -20 "$log"
  echo "install_deps: apt-get failed (full output: $log)"
  exit 1
fi
echo "install_deps: installed ${#missing[@]} package(s)"
