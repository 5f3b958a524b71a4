#!/usr/bin/env bash
# cygnet_demo as a user runs it: on each device asked for it names that device, runs
# there and agrees with the CPU; with auto and no GPU it says why it took the CPU; a
# device it cannot parse is refused in one line.
# usage: demo.sh CYGNET_DEMO
set -uo pipefail
demo=$1
fail() { echo "FAILED: $*"; exit 1; }
for device in cpu emu; do
  out=$("$demo" --device "$device" 2>&1) || fail "--device $device: exit $?: $out"
  grep -q "^device: $device (asked for)$" <<< "$out" || fail "--device $device does not name its device: $out"
  grep -q " ms on $device$" <<< "$out" || fail "--device $device did not run there: $out"
  grep -q "^CPU reference: .* (agrees)$" <<< "$out" || fail "--device $device disagrees with the CPU: $out"
done
if ! command -v nvidia-smi > /dev/null || ! nvidia-smi -L 2> /dev/null | grep -q '^GPU '; then
  out=$("$demo" 2>&1) || fail "auto: exit $?: $out"
  grep -q "^device: cpu (no GPU answered: .\+)$" <<< "$out" || fail "auto without a GPU does not say why: $out"
fi
out=$("$demo" --device tpu 2>&1) && fail "--device tpu was accepted: $out"
[ "$out" = "cygnet_demo: device 'tpu': expected cpu, cuda, cuda:N, emu or auto" ] || fail "--device tpu: $out"
"$demo" --help | grep -q "emu" || fail "--help does not list emu"
echo "demo: cpu, emu, auto and a bad device as expected"
