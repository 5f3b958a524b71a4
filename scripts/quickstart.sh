#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs the main job —
# a real 1cycle training (configs/quickstart.yaml: a narrow ResNet-18 on Fashion-MNIST)
# on whatever device answers. Extra arguments are config overrides (key.sub=value).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
build_dir="${CYGNET_BUILD_DIR:-build}"
if [ -f "$build_dir/CMakeCache.txt" ]; then
  echo "quickstart: building what changed (log: build.log)"
else
  echo "quickstart: building (the first build takes a few minutes; log: build.log)"
fi
bash scripts/build.sh > build.log 2>&1 || { tail -30 build.log; exit 1; }
# resume=runs/<dir> continues a run with its own config.yaml: no --config then.
for arg in "$@"; do
  if [[ "$arg" == resume=* ]]; then exec "$build_dir/apps/cygnet_onecycle" "$@"; fi
done
exec "$build_dir/apps/cygnet_onecycle" --config configs/quickstart.yaml "$@"
