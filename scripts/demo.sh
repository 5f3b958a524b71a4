#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh > /dev/null
exec "${CYGNET_BUILD_DIR:-build}/apps/cygnet_demo" "$@"
