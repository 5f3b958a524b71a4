#!/usr/bin/env bash
# Runs tensorboard_reader.py with TensorBoard's reader, the PyPI package, installed here
# into a virtual environment in the build folder on the first run; exit 77 (ctest:
# skipped) when PyPI cannot be reached.
#   tensorboard_reader.sh CYGNET_ONECYCLE BUILD_DIR
set -euo pipefail
binary=$1
build_dir=$2
venv="$build_dir/tensorboard-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import tensorboard" 2> /dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv" || { echo "FAIL: python3 -m venv failed (Debian: apt-get install python3-venv)"; exit 1; }
  # Without PyPI (no network) there is no reader to check with: skipped, saying why.
  "$venv/bin/pip" install -q tensorboard || { echo "skipped: pip could not install tensorboard from PyPI"; exit 77; }
fi
exec "$venv/bin/python" "$(dirname "$0")/tensorboard_reader.py" "$binary" "$build_dir/tensorboard-scratch"
