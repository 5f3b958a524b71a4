#!/usr/bin/env bash
# Looks at the HTML pages as a user would: makes a short training run, a range test over
# two weight decays and a cygnet_table page from them, opens each page in headless
# Chromium (Debian's chromium, installed when missing and run as root), and checks that
# it loads without a console error and that its screenshot is not blank. The
# screenshots stay in the output folder to look at.
#   scripts/check_pages.sh [--bin-dir build/apps] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bin_dir=build/apps
out=$(mktemp -d)
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) bin_dir=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "check_pages: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "check_pages: no chromium; run as root, or: apt-get install chromium" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null
  browser=$(command -v chromium)
fi
mkdir -p "$out"
runs="$out/runs"
"$bin_dir/cygnet_onecycle" device=cpu data.dataset=synthetic model.name=small_cnn train.epochs=3 schedule.lr_max=0.1 \
  run_root="$runs" name=page > /dev/null
"$bin_dir/cygnet_lr_find" device=cpu data.dataset=synthetic model.name=small_cnn lr_find.steps=100 \
  'lr_find.weight_decays=[1e-3,0]' run_root="$runs" name=decays > /dev/null
"$bin_dir/cygnet_table" --out "$out/table" "$runs" > /dev/null

status=0
check() {  # check <page> <text it must show>
  local page=$1 text=$2 shot="$out/$(basename "$(dirname "$1")").png" log="$out/chromium.log"
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --enable-logging=stderr --v=0 \
    --window-size=1100,2600 --screenshot="$shot" "file://$(realpath "$page")" > "$log" 2>&1 || true
  local dom
  dom=$(timeout 120 "$browser" --headless --no-sandbox --disable-gpu --dump-dom "file://$(realpath "$page")" 2> /dev/null) ||
    dom=""
  local problems=()
  grep -q "$text" <<< "$dom" || problems+=("the page does not show '$text'")
  grep -q -E 'CONSOLE.*(Uncaught|Error)|Failed to load resource' "$log" && problems+=("console errors (see $log)")
  [ -s "$shot" ] || problems+=("no screenshot")
  # Not blank: the decompressed pixels of a blank page hold a handful of byte values.
  if [ -s "$shot" ] && ! python3 - "$shot" << 'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
at, idat = 8, b""
while at < len(data):
    (length,) = struct.unpack(">I", data[at:at + 4])
    if data[at + 4:at + 8] == b"IDAT":
        idat += data[at + 8:at + 8 + length]
    at += 12 + length
sys.exit(0 if len(set(zlib.decompress(idat))) > 64 else 1)
PY
  then problems+=("the screenshot is blank"); fi
  if [ ${#problems[@]} -eq 0 ]; then
    echo "check_pages: $page: loads, shows '$text', screenshot $shot"
  else
    echo "check_pages: $page: ${problems[*]}"
    status=1
  fi
}
check "$(ls -d "$runs"/onecycle-page-*/)index.html" "best validation accuracy"
check "$(ls -d "$runs"/lr_find-decays-*/)index.html" "Suggested learning rates"
check "$out/table/table1.html" "Report's acc"
exit $status
