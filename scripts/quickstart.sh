#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs the main job —
# a real 1cycle training (configs/quickstart.yaml: a narrow ResNet-18 on Fashion-MNIST)
# on whatever device answers. Extra arguments are config overrides (key.sub=value).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
echo "quickstart: building (the first build takes a few minutes)"
bash scripts/build.sh > build.log 2>&1 || { tail -30 build.log; exit 1; }
exec "${CYGNET_BUILD_DIR:-build}/apps/cygnet_onecycle" --config configs/quickstart.yaml "$@"
