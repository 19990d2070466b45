#!/usr/bin/env bash
# Serving benchmark: the same bounded load (ntpload, in this repo) against our ntpd, chronyd
# and NTPsec's ntpd, each alone in its own network namespace on loopback, in one run.
# Reports replies/s, server CPU per request (utime+stime from /proc) and server RSS.
# Needs root (namespaces, port 123). Never touches the clock: everything runs without
# CAP_SYS_TIME, chronyd with -x, our ntpd with -x.
#
# The servers take turns, ROUNDS times, and the median per server is reported: on a shared
# machine a single pass is at the mercy of whatever else runs.
#   bench/ntpd-serve.sh [REQUESTS] [THREADS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-200000}
threads=${2:-2}
rounds=${3:-3}
seconds=30
cargo build --release --quiet --bin ntpkit --bin ntpload
bin=$PWD/target/release
chronyd=$(command -v chronyd || echo /opt/chrony/usr/sbin/chronyd)
work=$(mktemp -d)
nocap=(setpriv --inh-caps=-sys_time --bounding-set=-sys_time)
cleanup() {
  for ns in nkbench-ours$$ nkbench-chrony$$ nkbench-ntpsec$$; do
    for p in $(ip netns pids $ns 2>/dev/null); do kill "$p" 2>/dev/null || true; done
    sleep 0.2
    ip netns del $ns 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
user_ticks() { awk '{print $14}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# bench NAME NS -- server command…
bench() {
  local name=$1 ns=$2; shift 3
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip netns exec "$ns" "${nocap[@]}" "$@" >"$work/$name.log" 2>&1 &
  local launcher=$!
  # wait until it answers
  for _ in $(seq 50); do
    if ip netns exec "$ns" "$bin/ntpload" 127.0.0.1:123 --requests 10 --threads 1 --seconds 1 | grep -q 'replies=10 '; then break; fi
    sleep 0.2
  done
  local pid
  pid=$(ip netns pids "$ns" | head -1)
  local hz; hz=$(getconf CLK_TCK)
  local c0; c0=$(cpu_ticks "$pid")
  local u0; u0=$(user_ticks "$pid")
  local out
  out=$(ip netns exec "$ns" "$bin/ntpload" 127.0.0.1:123 --requests "$requests" --threads "$threads" --seconds $seconds)
  local c1; c1=$(cpu_ticks "$pid")
  local u1; u1=$(user_ticks "$pid")
  local rss; rss=$(rss_kb "$pid")
  local replies rps
  replies=$(sed -E 's/.*replies=([0-9]+).*/\1/' <<<"$out")
  rps=$(sed -E 's/.*replies_per_sec=([0-9]+).*/\1/' <<<"$out")
  local us_per
  us_per=$(awk -v c=$((c1 - c0)) -v hz="$hz" -v r="$replies" 'BEGIN { if (r > 0) printf "%.2f", c / hz * 1e6 / r; else print "n/a" }')
  local user_per
  user_per=$(awk -v c=$((u1 - u0)) -v hz="$hz" -v r="$replies" 'BEGIN { if (r > 0) printf "%.2f", c / hz * 1e6 / r; else print "n/a" }')
  printf '%-8s replies/s=%-8s cpu_us/request=%-6s (user %-5s) rss_kb=%-7s %s\n' "$name" "$rps" "$us_per" "$user_per" "$rss" "$out"
  echo "$name $rps $us_per $user_per $rss" >>"$work/results"
  kill "$launcher" 2>/dev/null || true
  for p in $(ip netns pids "$ns"); do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  ip netns del "$ns"
}

printf 'server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n' >"$work/ours.conf"
mkdir -m 700 "$work/chrony"
printf 'local stratum 10\nallow all\ncmdport 0\npidfile %s/chrony/pid\ndriftfile %s/chrony/drift\n' "$work" "$work" >"$work/chrony.conf"

# NTPsec's MRU monitor stops answering a flooding source even without `limited`;
# `disable monitor` lets it serve the load at all.
printf 'tos orphan 10 orphanwait 0\nrestrict default\nrestrict 127.0.0.1\ndisable monitor\ndriftfile %s/ntpsec.drift\n' "$work" >"$work/ntpsec.conf"

for round in $(seq "$rounds"); do
  echo "# round $round"
  bench ours nkbench-ours$$ -- "$bin/ntpkit" ntpd -n -x -4 -c "$work/ours.conf"
  bench ours-1t nkbench-ours$$ -- "$bin/ntpkit" ntpd -n -x -4 --single-thread -c "$work/ours.conf"
  bench chronyd nkbench-chrony$$ -- "$chronyd" -x -d -u root -f "$work/chrony.conf"
  bench ntpsec nkbench-ntpsec$$ -- ntpd -n -c "$work/ntpsec.conf"
done
echo "# medians over $rounds rounds: replies/s, CPU µs/request, user µs/request, RSS kB"
for name in ours ours-1t chronyd ntpsec; do
  med() { awk -v n="$name" -v c="$1" '$1 == n {print $c}' "$work/results" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  printf '%-8s %8s %6s %6s %6s\n' "$name" "$(med 2)" "$(med 3)" "$(med 4)" "$(med 5)"
  # one machine-readable line per server for bench/run
  echo "BENCH serve name=$name rps=$(med 2) cpu_us=$(med 3) rss_kb=$(med 5)"
done
