#!/usr/bin/env bash
# Which of chronyd's figures is its estimate of the system clock's true offset, the
# "disciplined offset" bench/xleave.sh reports for a selected `chronyd -x` client? Checked
# against a truth that is not zero: a chronyd server under libfaketime serves the shared
# kernel clock +2 s (more than chronyd's 1 s limit between a kernel stamp and its own
# reading, so that server uses its own, shifted, timestamps throughout), and a second,
# unshifted, chronyd server gives the zero-truth case, on one namespace LAN:
#   .1 chronyd server, libfaketime +2 s      .2 chronyd server, true time
#   .3 chronyd -x client of .1 (selected)    .4 chronyd -x noselect client of .1
#   .5 our ntpd --observe-only client of .1  .6 chronyd -x client of .2 (selected)
# all polling every 2 s for SECONDS. Every 2 s `chronyc -n -c tracking` is read from .3, .4
# and .6. Printed: per client the last tracking rows ("System time", signed, positive =
# the system clock slow of NTP time; "Last offset"), the tracking log's Offset and Rem.
# corr. columns and the measurements log's offsets; ours' loopstats offsets.
# Expected if "System time" is the estimate: .3 → +2 s (every -x correction accumulated),
# .4 → 0 (never corrects), .6 → µs; "Last offset" and measurements of .3 → ~0 after the
# first update (its virtual clock has absorbed the 2 s).
#   bench/xleave-disc-check.sh [SECONDS]   (default 60; needs root; never touches the clock)
. "$(dirname "$0")/lib.sh"
seconds=${1:-60}
bench_needs_root
bench_needs faketime ntpdig
chronyc=$(command -v chronyc || echo /opt/chrony/usr/bin/chronyc)
bench_needs "$chronyd" "$chronyc"
bench_build --bin ntpkit
p=nkdc$$
bench_lan $p s1 s2 c3 c4 c5 c6
. bench/poller.sh
trap 'stop_poller; bench_cleanup' EXIT
run() { local h=$1 log=$2; shift 2; ip netns exec "$p$h" "${nocap[@]}" "$@" >"$work/$h/$log" 2>&1 & }
conf() { # host, directives
  mkdir -m 700 -p "$work/$1/run"
  printf '%scmdport 0\nbindcmdaddress %s/%s/run/sock\npidfile %s/%s/run/pid\ndriftfile %s/%s/drift\nlogdir %s/%s\nlog measurements tracking\n' \
    "$2" "$work" "$1" "$work" "$1" "$work" "$1" "$work" "$1" >"$work/$1/chrony.conf"
}
conf s1 $'local stratum 8\nallow all\n'
run s1 log env LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 FAKETIME=+2 "$chronyd" -x -d -u root -f "$work/s1/chrony.conf"
conf s2 $'local stratum 8\nallow all\n'
run s2 log "$chronyd" -x -d -u root -f "$work/s2/chrony.conf"
for s in 1 2; do
  for _ in $(seq 100); do
    ip netns exec "${p}c3" ntpdig -t 1 "198.18.0.$s" 2>/dev/null | grep -qE ' s([0-9]|1[0-5]) ' && continue 2
    sleep 0.3
  done
  bench_fail "server 198.18.0.$s never served"
done
ip netns exec "${p}c3" ntpdig -t 1 198.18.0.1 198.18.0.2 || true
conf c3 $'server 198.18.0.1 minpoll 1 maxpoll 1 iburst\n'
conf c4 $'server 198.18.0.1 minpoll 1 maxpoll 1 iburst noselect\n'
conf c6 $'server 198.18.0.2 minpoll 1 maxpoll 1 iburst\n'
for h in c3 c4 c6; do run $h log "$chronyd" -x -d -u root -f "$work/$h/chrony.conf"; done
printf 'server 198.18.0.1 minpoll 1 maxpoll 1 iburst\nstatsdir %s/c5/\nstatistics loopstats\nfilegen loopstats file loopstats type none enable\nrestrict 127.0.0.1\n' \
  "$work" >"$work/c5/ntp.conf"
run c5 log "$ours" ntpd --observe-only -n -c "$work/c5/ntp.conf"
(
  while :; do
    for h in c3 c4 c6; do
      out=$("$chronyc" -n -c -h "$work/$h/run/sock" tracking 2>/dev/null) && echo "$(date +%s),$out" >>"$work/$h/tracking.csv"
    done
    sleep 2
  done
) &
poller=$!
sleep "$seconds"
stop_poller
for h in c3 c4 c6; do
  echo "== $h: chronyc -c tracking, last 5 (epoch, refid, name, stratum, ref time, System time, Last offset, RMS offset, freq, …)"
  tail -n 5 "$work/$h/tracking.csv" | cut -d, -f1-10
  echo "== $h: tracking.log, last 5: Offset (col 7, + = the corrected clock fast), Rem. corr. (col 11, + = system clock slow), Offset - Rem. corr."
  grep -E '^[0-9]{4}-' "$work/$h/tracking.log" 2>/dev/null | tail -n 5 | awk '{ printf "%s %s offset=%s remcorr=%s sys_fast_by=%.9f\n", $1, $2, $7, $11, $7 - $11 }' || true
  echo "== $h: measurements.log, last 5 offsets (col 12)"
  grep -E '^[0-9]{4}-' "$work/$h/measurements.log" 2>/dev/null | tail -n 5 | awk '{ print $1, $2, $12 }' || true
done
echo "== c5 (ours): loopstats, last 5 offsets (col 3)"
tail -n 5 "$work/c5/loopstats" 2>/dev/null | awk '{ print $1, $2, $3 }' || true
