#!/usr/bin/env bash
# Prepares .deps/ (ignored by git) so that scripts/gpu_check.sh can run on a GPU machine
# that has nvcc, CMake and PyTorch's CUDA wheels but no Debian packages:
#   .deps/googletest   GoogleTest's source (from Debian's googletest package), built there
#   .deps/prefix       yaml-cpp (static), zlib (static) and OpenBLAS headers and libraries
#   .deps/gpu-bin      test binaries built here (GoogleTest and yaml-cpp linked statically)
#                      with the shared libraries they need beyond glibc and cuDNN/cuBLAS
# gpu_check.sh tries the first way (build there) and, when it fails, the second.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
deps=.deps
rm -rf "$deps"
mkdir -p "$deps/prefix/include" "$deps/prefix/lib" "$deps/gpu-bin/lib"

cp -r /usr/src/googletest "$deps/googletest"
cp -r /usr/include/yaml-cpp /usr/include/nlohmann "$deps/prefix/include/"
cp /usr/lib/x86_64-linux-gnu/libyaml-cpp.a "$deps/prefix/lib/"
cp /usr/include/zlib.h /usr/include/zconf.h "$deps/prefix/include/"
cp /usr/lib/x86_64-linux-gnu/libz.a "$deps/prefix/lib/"
cp -L /usr/include/x86_64-linux-gnu/openblas-pthread/*.h "$deps/prefix/include/"
cp -L /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0 "$deps/prefix/lib/"
ln -sf libopenblas.so.0 "$deps/prefix/lib/libopenblas.so"

CYGNET_BUILD_DIR=build-gpu-pack bash scripts/build.sh -DCYGNET_CUDA=ON -DCYGNET_STATIC_DEPS=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 > "$deps/pack-build.log"
for t in build-gpu-pack/tests/test_*; do
  [ -x "$t" ] && cp "$t" "$deps/gpu-bin/"
done
cp build-gpu-pack/apps/cygnet_demo build-gpu-pack/apps/cygnet_bench build-gpu-pack/apps/cygnet_onecycle "$deps/gpu-bin/"
# The shared libraries of those binaries that a bare machine may lack: OpenMP, OpenBLAS
# and what it needs. glibc, libstdc++ and the CUDA libraries are found there.
for bin in "$deps"/gpu-bin/test_* "$deps"/gpu-bin/cygnet_*; do
  ldd "$bin" | awk '/=> \//{print $3}' | grep -E 'libgomp|libopenblas|libgfortran|libquadmath|libyaml' || true
done | sort -u | while read -r lib; do cp -L "$lib" "$deps/gpu-bin/lib/"; done
du -sh "$deps"
echo "pack_gpu_check: ready; carry .deps when running scripts/gpu_check.sh on the GPU machine"
