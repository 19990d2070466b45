#!/usr/bin/env bash
# Does a flood of the metrics endpoint touch NTP serving? The same bounded ntpload run
# against our ntpd (with `metrics` on) without and then with a flood of HTTP connections and
# malformed requests at /metrics from a third host, ROUNDS times each, alternating; prints
# replies/s of each run and the ratio of the medians (issue 15: within 5 %).
#
#   generator 198.18.0.1 ─┐
#   server    198.18.0.2 ─┼─ bridge      (namespaces nkmf<pid>{br,gen,srv,fld})
#   flooder   198.18.0.3 ─┘
#
# Needs root (namespaces). Never touches the clock: ntpd runs --observe-only without
# CAP_SYS_TIME. Bounded: REQUESTS per run and SECONDS (default 10) per run.
#   bench/metrics-flood.sh [REQUESTS] [ROUNDS]
. "$(dirname "$0")/lib.sh"
requests=${1:-400000}
rounds=${2:-3}
seconds=${SECONDS_PER_RUN:-10}
bench_needs_root
bench_build --bin ntpkit --bin ntpload
id=nkmf$$
bench_lan "$id" gen srv fld
printf 'server 127.127.1.0\nfudge 127.127.1.0 stratum 10\nmetrics 198.18.0.2:9975 allow 198.18.0.0/24\n' >"$work/ntp.conf"
ip netns exec ${id}srv "${nocap[@]}" "$bin/ntpkit" ntpd --observe-only -n -c "$work/ntp.conf" >"$work/ntpd.log" 2>&1 &
sleep 3

# Idle, oversized, garbage and valid requests, 16 at a time, for at most SECONDS + 3 s
# (timeout), in the background: sets flood_pid.
start_flood() {
  timeout $((seconds + 3)) ip netns exec ${id}fld bash -c '
    one() { exec 3<>/dev/tcp/198.18.0.2/9975 || return; case $((RANDOM % 4)) in
      0) sleep 1 ;;
      1) head -c 20000 /dev/zero | tr "\0" A >&3 ;;
      2) printf "\x16\x03\x01garbage\r\n\r\n" >&3 ;;
      3) printf "GET /metrics HTTP/1.1\r\n\r\n" >&3; cat <&3 >/dev/null ;;
    esac; exec 3>&-; }
    while :; do for _ in $(seq 16); do one 2>/dev/null & done; wait; done' >/dev/null 2>&1 &
  flood_pid=$!
}
stop_flood() {
  kill "$flood_pid" 2>/dev/null || true
  wait "$flood_pid" 2>/dev/null || true
  for p in $(ip netns pids ${id}fld); do kill -KILL "$p" 2>/dev/null || true; done
}
run() {
  ip netns exec ${id}gen "$bin/ntpload" 198.18.0.2:123 --requests "$requests" --seconds "$seconds" |
    tr ' ' '\n' | sed -n 's/^replies_per_sec=//p'
}
quiet=() flooded=()
for r in $(seq "$rounds"); do
  q=$(run); quiet+=("$q")
  start_flood; sleep 1
  l=$(run); flooded+=("$l")
  stop_flood
  echo "round $r: without flood $q replies/s, with flood $l replies/s"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mq=$(median "${quiet[@]}") mf=$(median "${flooded[@]}")
echo "median: without $mq, with $mf replies/s; ratio $(awk -v a="$mf" -v b="$mq" 'BEGIN {printf "%.3f", a/b}')"
grep -q "metrics on" "$work/ntpd.log" || { echo "ntpd did not serve metrics:"; cat "$work/ntpd.log"; exit 1; }
