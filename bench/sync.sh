#!/usr/bin/env bash
# Time to synchronise: our ntpd, chronyd and NTPsec's ntpd, each in turn a client of the
# same NTPsec server (orphan mode, stratum 5) with `server 198.18.0.1 iburst`; measured
# from the daemon's start until a third host's ntpdig sees it serve stratum 6 with no leap
# alarm (the same measure as tests/root_netns_ntpd.rs). Needs root (namespaces). Never
# touches the clock: every daemon runs without CAP_SYS_TIME, chronyd and ours with -x.
#
#   bench/sync.sh [TIMEOUT_SECONDS]     (default 90; "n/a" when a daemon never gets there)
. "$(dirname "$0")/lib.sh"
timeout=${1:-90}
bench_needs_root
bench_build --bin ntpkit
id=nksync$$
tmp=$work
bench_lan "$id" h1 h2 h3
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
