#!/usr/bin/env bash
# Installs the Debian packages cygnet builds and tests with. Idempotent: installs only
# what is missing. As root it installs; otherwise it prints the apt command to run.
# The CUDA toolkit and cuDNN are not Debian packages: when nvcc is absent the build is
# CPU-only (the CUDA kernels still run through the emulation shim in the tests).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libgtest-dev libyaml-cpp-dev libopenblas-dev libdnnl-dev zlib1g-dev libomp-dev nlohmann-json3-dev
  python3 python3-numpy python3-venv dataset-fashion-mnist
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
echo "install_deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
$cmd -qq
