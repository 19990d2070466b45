#!/usr/bin/env bash
# Benchmark: our `ntpdate -q` against NTPsec's `ntpdate -q` (its ntpdig shim), same three
# servers (NTPsec ntpd in orphan mode, two chronyd -x) on a private namespace LAN, same run.
# Needs root (network namespaces). Never touches this machine's clock: every server runs
# without CAP_SYS_TIME, and both clients only query.
#
#   bench/ntpdate.sh [RUNS]        (default 20 runs of each)
. "$(dirname "$0")/lib.sh"
runs=${1:-20}
bench_needs_root
bench_needs ntpd ntpdate ntpdig setpriv ip "$chronyd"
bench_build --bin ntpkit
id=nkbench$$
tmp=$work
bench_lan "$id" h1 h2 h3 h4

# h1: NTPsec orphan server; h2, h3: chronyd serving their local clock. NTPsec's default
# rate limit (1 packet/s on average, bursts of 20) is raised, as for a LAN server: the
# benchmark measures the clients, not the server's abuse protection.
printf 'tos orphan 5 orphanwait 0\nrestrict default\nlimit average 10000 burst 10000\ndriftfile %s/h1/ntp.drift\n' \
  "$tmp" >"$tmp/h1/ntp.conf"
ip netns exec "${id}h1" "${nocap[@]}" ntpd -n -c "$tmp/h1/ntp.conf" >"$tmp/h1/log" 2>&1 &
for i in 2 3; do
  d=$tmp/h$i
  mkdir -m 700 "$d/run"
  printf 'local stratum 8\nallow all\ndriftfile %s/drift\npidfile %s/run/pid\nbindcmdaddress %s/run/sock\n' \
    "$d" "$d" "$d" >"$d/chrony.conf"
  ip netns exec "${id}h$i" "${nocap[@]}" "$chronyd" -x -d -u root -f "$d/chrony.conf" >"$d/log" 2>&1 &
done

servers=(198.18.0.1 198.18.0.2 198.18.0.3)
for s in "${servers[@]}"; do
  for _ in $(seq 100); do
    out=$(ip netns exec "${id}h4" ntpdig -t 1 "$s" 2>/dev/null || true)
    if [ -n "$out" ] && [[ "$out" != *" s16 "* ]]; then break; fi
    sleep 0.3
  done
  [ -n "$out" ] || { echo "server $s never answered" >&2; exit 1; }
done

# Mean wall time of RUNS runs of a command inside the client namespace, in ms (0.1 ms).
time_it() {
  ip netns exec "${id}h4" bash -c '
    runs=$1; shift
    "$@" >/dev/null 2>&1 || true   # warm-up (exit 1 is fine: the silent case)
    start=$(date +%s%N)
    for _ in $(seq "$runs"); do "$@" >/dev/null 2>&1; done
    end=$(date +%s%N)
    awk -v ns=$(( (end - start) / runs )) '"'"'BEGIN { printf "%.1f", ns / 1e6 }'"'"'' _ "$runs" "$@"
}

time_it_n() { local saved=$runs; runs=$1; shift; time_it "$@"; runs=$saved; }

echo "one example of each:"
ip netns exec "${id}h4" "$ours" ntpdate -q "${servers[@]}" | sed 's/^/  ntpkit: /'
ip netns exec "${id}h4" ntpdate -q "${servers[@]}" | sed 's/^/  NTPsec: /'
ours_ms=$(time_it "$ours" ntpdate -q "${servers[@]}")
ours1_ms=$(time_it "$ours" ntpdate -q -p 1 "${servers[@]}")
theirs_ms=$(time_it ntpdate -q "${servers[@]}")
# Worst case: a fourth server that never answers (198.18.0.9 is on the LAN but unused);
# -t 1 for both, a few runs since each waits for the timeout.
ours_silent_ms=$(time_it_n 3 "$ours" ntpdate -q -t 1 "${servers[@]}" 198.18.0.9)
theirs_silent_ms=$(time_it_n 3 ntpdate -q -t 1 "${servers[@]}" 198.18.0.9)
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $runs runs each"
echo "ntpkit ntpdate -q (3 servers, 4 samples each): ${ours_ms} ms"
echo "ntpkit ntpdate -q -p 1 (3 servers, 1 sample each): ${ours1_ms} ms"
echo "NTPsec ntpdate -q (3 servers):                ${theirs_ms} ms"
echo "with a silent 4th server, -t 1: ntpkit ${ours_silent_ms} ms, NTPsec ${theirs_silent_ms} ms"
awk -v a="$theirs_ms" -v b="$ours_ms" 'BEGIN { if (b < 0.1) b = 0.1; printf "ratio (NTPsec / ntpkit, 4 samples): %.1fx\n", a / b }'
# one machine-readable line for bench/run
echo "BENCH ntpdate ours_ms=${ours_ms} ours_p1_ms=${ours1_ms} ntpsec_ms=${theirs_ms} ours_silent_ms=${ours_silent_ms} ntpsec_silent_ms=${theirs_silent_ms}"
