#!/usr/bin/env bash
# Time to synchronise: our ntpd, chronyd and NTPsec's ntpd, each in turn a client of the
# same NTPsec server (orphan mode, stratum 5) with `server 198.18.0.1 iburst`; measured
# from the daemon's start until a third host's ntpdig sees it serve stratum 6 with no leap
# alarm (the same measure as tests/root_netns_ntpd.rs). Needs root (namespaces). Never
# touches the clock: every daemon runs without CAP_SYS_TIME, chronyd and ours with -x.
#
#   bench/sync.sh [TIMEOUT_SECONDS]     (default 90; "n/a" when a daemon never gets there)
set -euo pipefail
cd "$(dirname "$0")/.."
timeout=${1:-90}
[ "$(id -u)" = 0 ] || { echo "bench/sync.sh: needs root (network namespaces)" >&2; exit 2; }
cargo build --release --quiet --bin ntpkit
ours=$PWD/target/release/ntpkit
chronyd=$(command -v chronyd || echo /opt/chrony/usr/sbin/chronyd)
id=nksync$$
tmp=$(mktemp -d)
nocap=(setpriv --inh-caps=-sys_time --bounding-set=-sys_time)
hosts=()
cleanup() {
  for ns in "${hosts[@]}" "${id}br"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "${id}br"
ip -n "${id}br" link add br0 type bridge
ip -n "${id}br" link set br0 up
for i in 1 2 3; do
  ns=${id}h$i
  hosts+=("$ns")
  ip netns add "$ns"
  ip -n "${id}br" link add "v$i" type veth peer name eth0 netns "$ns"
  ip -n "${id}br" link set "v$i" master br0 up
  ip -n "$ns" addr add "198.18.0.$i/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  mkdir -p "$tmp/h$i"
done
printf 'tos orphan 5 orphanwait 0\nrestrict default\ndriftfile %s/h1/drift\n' "$tmp" >"$tmp/h1/ntp.conf"
ip netns exec "${id}h1" "${nocap[@]}" ntpd -n -c "$tmp/h1/ntp.conf" >"$tmp/h1/log" 2>&1 &
for _ in $(seq 100); do
  ip netns exec "${id}h3" ntpdig -t 1 198.18.0.1 2>/dev/null | grep -q ' s5 ' && break
  sleep 0.3
done

# measure NAME -- command…: seconds from start until h3 sees stratum 6 from h2
measure() {
  local name=$1; shift 2
  local t0 t1
  t0=$(date +%s%N)
  ip netns exec "${id}h2" "${nocap[@]}" "$@" >"$tmp/h2/$name.log" 2>&1 &
  local result=n/a
  while (( ($(date +%s%N) - t0) / 1000000000 < timeout )); do
    if ip netns exec "${id}h3" ntpdig -t 1 198.18.0.2 2>/dev/null | grep -q ' s6 no-leap'; then
      t1=$(date +%s%N)
      result=$(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.1f", d / 1e9 }')
      break
    fi
    sleep 0.2
  done
  for pid in $(ip netns pids "${id}h2"); do kill -9 "$pid" 2>/dev/null || true; done
  sleep 0.5
  echo "$name: synchronised and serving stratum 6 after ${result} s"
  eval "sync_$name=$result"
}

printf 'server 198.18.0.1 iburst\n' >"$tmp/h2/ours.conf"
measure ours -- "$ours" ntpd -n --observe-only -c "$tmp/h2/ours.conf"
mkdir -m 700 "$tmp/h2/c"
printf 'server 198.18.0.1 iburst\nallow all\ncmdport 0\npidfile %s/h2/c/pid\ndriftfile %s/h2/c/drift\n' "$tmp" "$tmp" >"$tmp/h2/chrony.conf"
measure chronyd -- "$chronyd" -x -d -u root -f "$tmp/h2/chrony.conf"
printf 'server 198.18.0.1 iburst\nrestrict default\ndriftfile %s/h2/ntpsec.drift\n' "$tmp" >"$tmp/h2/ntpsec.conf"
measure ntpsec -- ntpd -n -c "$tmp/h2/ntpsec.conf"
echo "BENCH sync ours_s=$sync_ours chronyd_s=$sync_chronyd ntpsec_s=$sync_ntpsec"
