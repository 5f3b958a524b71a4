# Sourced by scripts that run a training run in the background and pass stop signals on
# to it (scripts/table1.sh, scripts/slurm/requeue.sh); they run from the checkout.
#
# wait_run PID: waits for PID to end and sets wait_status to its exit status. The
# caller's traps set wait_interrupted=1 (a signal to this shell ends `wait` early, with
# 128 + its number): wait_run then waits again while PID is still there (a second `wait`
# on a PID already reported has no status). When the trap has also set wait_resend to a
# signal name, that signal goes to PID once more a second later: one passed on as PID was
# forked may have been taken by the fork's copy of the trap. cygnet's apps take a
# repeated SIGTERM or SIGUSR1 as the same request.
wait_interrupted=0
wait_resend=""

wait_run() {
  local resent=0
  while :; do
    wait_interrupted=0
    wait "$1" && wait_status=0 || wait_status=$?
    [ "$wait_interrupted" = 1 ] && kill -0 "$1" 2> /dev/null || return 0
    if [ -n "$wait_resend" ] && [ "$resent" = 0 ]; then
      resent=1
      sleep 1
      kill -"$wait_resend" "$1" 2> /dev/null || true
    fi
  done
}
