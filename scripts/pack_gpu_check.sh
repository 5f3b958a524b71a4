#!/usr/bin/env bash
# Prepares .deps/ (ignored by git) so that scripts/gpu_check.sh can run on a GPU machine
# that has nvcc, CMake and PyTorch's CUDA wheels but no Debian packages:
#   .deps/googletest   GoogleTest's source (from Debian's googletest package), built there
#   .deps/prefix       yaml-cpp (static), zlib (static), nlohmann-json and OpenBLAS headers
#                      and libraries (OpenBLAS gzipped, to fit the transfer, beside the
#                      libraries it links that a bare machine lacks: libgfortran, libquadmath)
#   .deps/gpu-bin      test binaries built here (GoogleTest and yaml-cpp linked statically)
#                      with the shared libraries they need beyond glibc and cuDNN/cuBLAS,
#                      and the golden test's recording
#   .deps/cifar10      CIFAR-10's JPEG copy and its converter, from ../shared/datasets/cifar10
#                      when it is there (the check converts it for the epoch comparison)
# gpu_check.sh tries the first way (build there) and, when it fails, the second.
#   scripts/pack_gpu_check.sh              all of it (a CUDA build here: long on few cores)
#   scripts/pack_gpu_check.sh --no-binaries  all but .deps/gpu-bin (seconds,
#                                          once the packages are in), for a GPU machine that
#                                          builds for itself
set -euo pipefail
cd "$(dirname "$0")/.."
binaries=1
case "${1:-}" in
  --no-binaries) binaries=0 ;;
  "") ;;
  -h|--help) sed -n '2,17s/^# \{0,1\}//p' "$0"; exit 0 ;;
  *) echo "pack_gpu_check: unknown option '$1' (expected --no-binaries or nothing)" >&2
     sed -n '14,17s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
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
# OpenBLAS travels compressed (36 MB as it is); gpu_check.sh unpacks it. Beside it, what
# it links beyond glibc and libgcc_s (ldd: libgfortran.so.5, libquadmath.so.0).
openblas=/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0
gzip -9 -c "$openblas" > "$deps/prefix/lib/libopenblas.so.0.gz"
ldd "$openblas" | awk '/=> \//{print $1, $3}' | grep -v -E '^(libc|libm|libgcc_s|libpthread|libdl|librt)\.so' |
  while read -r soname path; do cp -L "$path" "$deps/prefix/lib/$soname"; done

# CIFAR-10's JPEG copy (19 MB) beside the checkout, for the check's epoch comparison: a
# folder beside the checkout does not reach the GPU machine, .deps does.
cifar10_copy=../shared/datasets/cifar10
if [ -f "$cifar10_copy/make_cifar10_bin.py" ] && [ -f "$cifar10_copy/cifar10-jpeg-q75.tar.gz" ]; then
  mkdir -p "$deps/cifar10"
  cp "$cifar10_copy/make_cifar10_bin.py" "$cifar10_copy/cifar10-jpeg-q75.tar.gz" "$deps/cifar10/"
else
  echo "pack_gpu_check: no CIFAR-10 JPEG copy in $cifar10_copy: the check's epoch comparison will be skipped" >&2
fi

# What travels to the GPU machine is the checkout's tracked files and .deps together,
# within 64 MiB: a pack over that is an error, not a warning.
travel_mib() {
  local tracked deps_kib
  tracked=$(git ls-files -z | xargs -0 du -ck 2>/dev/null | tail -1 | cut -f1)
  deps_kib=$(du -sk "$deps" | cut -f1)
  echo $(((tracked + deps_kib + 1023) / 1024))
}
check_travel_size() {
  local mib
  mib=$(travel_mib)
  echo "pack_gpu_check: .deps and the tracked files come to $mib MiB (the limit is 64)"
  [ "$mib" -le 62 ] || {
    echo "pack_gpu_check: too large to carry$([ "$binaries" -eq 1 ] && echo "; try --no-binaries")" >&2
    exit 1
  }
}

if [ "$binaries" -eq 0 ]; then
  rm -r "$deps/gpu-bin"
  du -sh "$deps"
  check_travel_size
  echo "pack_gpu_check: ready (no prebuilt binaries); carry .deps when running scripts/gpu_check.sh on the GPU machine"
  exit 0
fi

rm -rf build-gpu-pack
# Without oneDNN and MPI: the GPU machine has neither library, and the binaries must start
# there (the CPU side is the reference the GPU tests compare with; OpenBLAS serves it).
CYGNET_BUILD_DIR=build-gpu-pack bash scripts/build.sh -DCYGNET_CUDA=ON -DCYGNET_STATIC_DEPS=ON \
  -DCYGNET_ONEDNN=OFF -DCYGNET_MPI=OFF -DCMAKE_CUDA_ARCHITECTURES=90 > "$deps/pack-build.log"
# Only what gpu_check.sh runs.
for t in test_kernels_gpu test_engine_gpu test_gpu_path_on_cuda test_golden_gpu test_launch_sync test_library_errors \
  test_kernels_emu; do
  cp "build-gpu-pack/tests/$t" "$deps/gpu-bin/"
done
cp tests/golden/resnet18_w8.safetensors tests/golden/resnet18_w8_bf16.safetensors "$deps/gpu-bin/"
cp build-gpu-pack/apps/cygnet_demo build-gpu-pack/apps/cygnet_bench build-gpu-pack/apps/cygnet_onecycle "$deps/gpu-bin/"
strip "$deps"/gpu-bin/test_* "$deps"/gpu-bin/cygnet_*
# The shared libraries of those binaries that a bare machine may lack: OpenMP (the
# binaries' own, from this compiler; only the prebuilt binaries put it on their path).
# OpenBLAS and what it links are in .deps/prefix/lib; glibc, libstdc++ and the CUDA
# libraries are found there.
for bin in "$deps"/gpu-bin/test_* "$deps"/gpu-bin/cygnet_*; do
  ldd "$bin" | awk '/=> \//{print $3}' | grep -E 'libgomp|libyaml' || true
done | sort -u | while read -r lib; do cp -L "$lib" "$deps/gpu-bin/lib/"; done
if [ "$(travel_mib)" -gt 62 ] && [ -d "$deps/cifar10" ]; then
  rm -r "$deps/cifar10"
  echo "pack_gpu_check: CIFAR-10's copy left out, to fit the transfer (--no-binaries keeps it)" >&2
fi
du -sh "$deps"
check_travel_size
echo "pack_gpu_check: ready; carry .deps when running scripts/gpu_check.sh on the GPU machine"
