# bench/poller.sh: a background loop of a bench script (e.g. one polling chronyc), sourced
# by the scripts that run one: `cmd & poller=$!`, then `stop_poller` when done and in the
# cleanup. Stops the loop and the sleep or command it is waiting for, so nothing outlives
# the run.
poller=
stop_poller() {
  [ -n "$poller" ] || return 0
  local kids
  kids=$(pgrep -P "$poller" || true)
  # shellcheck disable=SC2086
  kill "$poller" $kids 2>/dev/null || true
  poller=
}
