#!/usr/bin/env bash
# Memory of a polling daemon: our ntpd and chronyd, each a client of the same 10 servers
# (one NTPsec ntpd reachable on 10 loopback addresses), minpoll 3, for MINUTES minutes;
# RSS (VmRSS) sampled at the end. Our ntpd's per-association state is fixed-size (8-stage
# filter, bounded estimator) and the MRU is capped, so RSS at the end of a short run is
# its steady state; run longer (MINUTES=60) for the literal hour.
#   bench/ntpd-rss.sh [MINUTES]
. "$(dirname "$0")/lib.sh"
minutes=${1:-2}
bench_needs_root
bench_build --bin ntpkit
ns=nkrss$$   # unique: two runs at once must not share a namespace
bench_ns $ns
servers=""
for i in $(seq 1 10); do
  ip -n $ns addr add "10.99.0.$i/32" dev lo
  servers+="server 10.99.0.$i iburst minpoll 3 maxpoll 3"$'\n'
done
printf 'tos orphan 5 orphanwait 0\nrestrict default\ndisable monitor\ndriftfile %s/ntpsec.drift\n' "$work" >"$work/ntpsec.conf"
ip netns exec $ns "${nocap[@]}" ntpd -n -c "$work/ntpsec.conf" >"$work/ntpsec.log" 2>&1 &
sleep 3
printf '%s' "$servers" >"$work/ours.conf"
ip netns exec $ns "${nocap[@]}" "$bin/ntpkit" ntpd -n --observe-only --port 1123 -c "$work/ours.conf" >"$work/ours.log" 2>&1 &
mkdir -m 700 "$work/c"
printf '%sport 0\ncmdport 0\npidfile %s/c/pid\ndriftfile %s/c/drift\n' "$servers" "$work" "$work" >"$work/chrony.conf"
ip netns exec $ns "${nocap[@]}" "$chronyd" -x -d -u root -f "$work/chrony.conf" >"$work/chrony.log" 2>&1 &
rss() { # name → VmRSS in KiB, or "-" if it is not running
  local pid; pid=$(pgrep -n -f "$1.*$work" || true)
  if [ -n "$pid" ]; then awk '/^VmRSS/ {print $2}' /proc/$pid/status; else echo -; fi
}
# A sample every 10 minutes (and at 1 min) shows whether memory grows, not just where it ends.
for m in $(seq 1 "$minutes"); do
  sleep 60
  if [ "$m" = 1 ] || [ $((m % 10)) = 0 ] || [ "$m" = "$minutes" ]; then
    printf 'minute %3s: ntpkit rss_kb=%s chronyd rss_kb=%s\n' "$m" "$(rss ntpkit)" "$(rss chronyd)"
  fi
done
for name in ntpkit chronyd; do
  printf '%-8s rss_kb=%s after %s min polling 10 servers (minpoll 3)\n' "$name" "$(rss $name)" "$minutes"
done
