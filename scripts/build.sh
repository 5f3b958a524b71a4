#!/usr/bin/env bash
# Configures and builds cygnet in ./build (or $CYGNET_BUILD_DIR). Extra arguments go to
# CMake's configure step, e.g. -DCYGNET_CUDA=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${CYGNET_BUILD_DIR:-build}"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
[ -f "$build_dir/CMakeCache.txt" ] && generator=()
cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$build_dir" -j "$(nproc)"
