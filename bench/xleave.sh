#!/usr/bin/env bash
# Timestamp accuracy where the truth is zero (issue 19): every network namespace shares one
# kernel clock, so the true offset between any two hosts is exactly 0 and every offset a
# client measures is pure measurement error.
#
# Three servers, each on its own host: chronyd 4.3 (`local stratum 8`), NTPsec's ntpd
# (orphan, stratum 5) and ours (LOCAL, stratum 10). Each has six clients, each on its own
# host: ours, ours with `xleave`, chronyd, chronyd with `xleave`, and those two chronyd
# clients with `noselect` (chronyd-ns: never corrects its clock, like our observe-only ntpd;
# a selected chronyd -x logs offsets against its own corrected virtual clock, which absorbs
# a constant bias), polling every 8 s (minpoll 3 maxpoll 3 iburst) for SECONDS. Per
# client: the median and RMS of |offset| of every raw sample (our rawstats, which logs the
# four timestamps each sample was computed from; chronyd's measurements log) and of the
# disciplined offset it reports, its estimate of the system clock's offset (true value 0):
# our loopstats (observe-only: nothing is corrected, each line is the offset it would
# correct) and, for the selected chronyd clients, `chronyc -c tracking`'s "System time"
# read once per poll interval (under -x chronyd corrects a virtual clock only; that field,
# the total correction between the two, is its estimate of the system clock's offset,
# while its tracking log's Offset is the virtual clock's own remaining error, ~0;
# chronyd-ns never corrects and reports none), after WARMUP seconds. NTPsec has no
# interleaved client/server mode: its `xleave` clients run in basic mode.
#
# Per client also: the mean signed offset and the medians of the request's leg (T2−T1) and
# of the reply's (T4−T3); offset = (request − reply)/2, so a bias shows which leg it is in
# (chronyd logs offset and delay: request = delay/2 + offset, reply = delay/2 − offset).
# On this LAN a datagram is stamped at each veth it leaves through and clients keep the last
# stamp, taken at the bridge's port toward the receiver: a leg between two kernel stamps is
# that last hop only (docs/benchmarks.md, "What a request leg measures here").
#
# A/B in one run: XLEAVE_BASE=path adds two more clients per server running that ntpkit
# binary (e.g. main's), "base" and "base+xleave", side by side with this one's.
# XLEAVE_WINDOWS=N also reports the median/RMS of each client in N equal windows of the
# measured time (after the warm-up), to see how much the figures move within one run.
# Two host-placement options (host hSK is client K of server S; K is the client's kind
# above, 1 ours … 6 chronyd-ns+xleave, 7/8 base; each is its own namespace, veth and bridge
# port). Neither changes a label: the report, the `clients` file and bench/xleave-compare.py
# follow the client's kind (and binary), not its host.
# XLEAVE_SWAP=1 (with XLEAVE_BASE) swaps our two BINARIES: ours runs on base's hosts (17/18)
# and base on ours' (11/12), to tell a difference between the binaries from one between hosts.
# XLEAVE_HOSTSWAP=1 swaps ours and chronyd-ns: ours on host S5 and chronyd-ns on S1, ours+xleave
# on S6 and chronyd-ns+xleave on S2, to show that the host a client kind draws does not bias
# ours vs chronyd-ns (pool a plain and a host-swapped run of the same binaries with
# `bench/xleave-compare.py --pool DIR DIR`). Both together: XLEAVE_SWAP first, then the
# host swap (ours on S7, base on S5, chronyd-ns on S1).
# Start order. By default (XLEAVE_ORDER=stagger) the starts of all the clients are spread
# evenly over one poll interval (18 clients at 8 s: one every 0.44 s, each server's own
# clients 1.33 s apart, in kind order), so that no client is first: chronyd keeps its
# clients' phases (its interval does not wander), ours wander by up to 1/16 of it, and every
# request meets a server idle since its previous client's, as on a real LAN where clients
# did not boot together. XLEAVE_ORDER=kind (the only order before 2026-12-03 07:05 UTC)
# starts each server's clients a few ms apart, ours first; their requests keep that order
# all run long and a server idle for seconds meets the first of them cold, and all 18
# clients' iburst packets meet at once in the first seconds (docs/benchmarks.md, "Start
# order"). XLEAVE_ORDER=reverse is kind order reversed (chronyd-ns+xleave first, ours
# last), to tell a start-order effect from one of the client kind.
# XLEAVE_POLL=p polls every 2^p s instead of 8 (more samples for a diagnostic run; the
# issue's figures are at 8 s).
# XLEAVE_TRACE=1 records a kernel trace of every packet's path (bench/ktrace.sh) from the
# first client's start to the end, kept as ktrace.gz; `bench/xleave-trace.py DIR` then
# times each packet from the sender's transmit to the receiver's receive, says what the
# CPUs did in the slow ones and where our clients' T1 lies on the path. Diagnostic:
# tracing lengthens every path, so a traced run is not one of the issue's figures.
#
# At the end bench/xleave-compare.py prints, per server, ours against chronyd-ns (and base)
# with bootstrap 95 % intervals and a verdict per figure: better, worse or parity. The run's
# raw directory (per client hSK/: its logs and `samples`, "time offset request-leg
# reply-leg" in s; `clients` names each host, `binaries` our binaries' checksums) is kept in
# target/bench-out/xleave, replaced by the next run, or with XLEAVE_KEEP=DIR (absolute, or
# relative to the checkout; must not exist yet) in DIR, for `bench/xleave-compare.py --pool
# DIR…` over several runs of the same binaries.
# The disciplined figure is one estimate per run: compare it over several runs with
# `bench/xleave-disciplined.py DIR…` (each run one observation, pairs run by run).
#
# Each server runs from its own copy of its executable, as on a real LAN where no client
# shares the server's CPU-cached code (XLEAVE_SHARED_SERVERS=1 runs them from the installed
# files, as runs before 2026-12-02 12:42 UTC did; see the servers below).
#
# Needs root (namespaces). Never touches the clock: everything without CAP_SYS_TIME, our
# ntpd with --observe-only, chronyd with -x. Traffic stays inside the namespaces.
#   [XLEAVE_BIN=ntpkit] [XLEAVE_BASE=ntpkit [XLEAVE_SWAP=1]] [XLEAVE_HOSTSWAP=1] \
#     [XLEAVE_ORDER=stagger|kind|reverse] [XLEAVE_WINDOWS=N] [XLEAVE_POLL=p] [XLEAVE_KEEP=DIR] [XLEAVE_SHARED_SERVERS=1] \
#     [XLEAVE_TRACE=1] \
#     bench/xleave.sh [SECONDS] [WARMUP]
#   (default 600 and 60)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/stats.sh
seconds=${1:-600}
warmup=${2:-60}
[ "$(id -u)" = 0 ] || { echo "bench/xleave.sh: needs root (network namespaces)" >&2; exit 2; }
keep=${XLEAVE_KEEP:-}
[ -z "$keep" ] || [ ! -e "$keep" ] || { echo "bench/xleave.sh: XLEAVE_KEEP=$keep exists" >&2; exit 2; }
# XLEAVE_BIN: an ntpkit binary to measure instead of this checkout's (e.g. main's)
if [ -n "${XLEAVE_BIN:-}" ]; then
  ours=$XLEAVE_BIN
else
  cargo build --release --quiet --bin ntpkit
  ours=$PWD/target/release/ntpkit
fi
chronyd=$(command -v chronyd || echo /opt/chrony/usr/sbin/chronyd)
chronyc=$(command -v chronyc || echo /opt/chrony/usr/bin/chronyc)
[ -x "$chronyc" ] || { echo "bench/xleave.sh: needs chronyc (the selected chronyd clients' disciplined offset)" >&2; exit 2; }
base=${XLEAVE_BASE:-}
windows=${XLEAVE_WINDOWS:-1}
poll=${XLEAVE_POLL:-3}
kindlist=(1 2 3 4 5 6)
[ -n "$base" ] && kindlist+=(7 8)
order=${XLEAVE_ORDER:-stagger}
case $order in
  stagger | kind) startlist=("${kindlist[@]}") ;;
  reverse) startlist=(); for k in "${kindlist[@]}"; do startlist=("$k" "${startlist[@]}"); done ;;
  *) echo "bench/xleave.sh: XLEAVE_ORDER=$order: stagger, kind or reverse" >&2; exit 2 ;;
esac
hostswap=${XLEAVE_HOSTSWAP:-0}
case $hostswap in 0 | 1) ;; *) echo "bench/xleave.sh: XLEAVE_HOSTSWAP=$hostswap: 0 or 1" >&2; exit 2 ;; esac
# the host of client `kind` of server `s` (the header: XLEAVE_SWAP, then XLEAVE_HOSTSWAP)
host() {
  local k=$2
  if [ "${XLEAVE_SWAP:-0}" = 1 ] && [ -n "$base" ]; then
    case $k in 1) k=7 ;; 2) k=8 ;; 7) k=1 ;; 8) k=2 ;; esac
  fi
  if [ "$hostswap" = 1 ]; then
    case $k in 1) k=5 ;; 2) k=6 ;; 5) k=1 ;; 6) k=2 ;; esac
  fi
  echo $(($1 * 10 + k))
}
id=nkxl$$
tmp=$(mktemp -d)
nocap=(setpriv --inh-caps=-sys_time --bounding-set=-sys_time)
hosts=()
. bench/poller.sh
. bench/ktrace.sh
trace=${XLEAVE_TRACE:-0}
case $trace in 0 | 1) ;; *) echo "bench/xleave.sh: XLEAVE_TRACE=$trace: 0 or 1" >&2; exit 2 ;; esac
cleanup() {
  stop_poller
  ktrace_stop "$tmp"
  for ns in "${hosts[@]}" "${id}br"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  # the raw logs, for a second look (bench/run's convention)
  if [ -n "$keep" ]; then
    mkdir -p "$(dirname "$keep")" && cp -r "$tmp" "$keep" || true
  else
    mkdir -p target/bench-out && rm -rf target/bench-out/xleave && cp -r "$tmp" target/bench-out/xleave || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' INT TERM
# which binaries ran, so that runs are pooled only like with like (bench/xleave-compare.py)
echo "ours $(sha256sum <"$ours" | cut -c1-16)" >"$tmp/binaries"
if [ -n "$base" ]; then echo "base $(sha256sum <"$base" | cut -c1-16)" >>"$tmp/binaries"; fi
# the start sequence, "server kind" pairs: one server's clients after another's, or with
# stagger each kind's client of every server in turn, `gap` s apart. The `start-order`
# file names each server's clients in the order they were started (with "stagger GAP"
# first when staggered).
sequence=()
gap=0
if [ "$order" = stagger ]; then
  for kind in "${startlist[@]}"; do for s in 1 2 3; do sequence+=("$s $kind"); done; done
  gap=$(awk -v p="$poll" -v n="${#sequence[@]}" 'BEGIN { printf "%.3f", 2 ^ p / n }')
  echo "stagger $gap ${startlist[*]}" >"$tmp/start-order"
else
  for s in 1 2 3; do for kind in "${startlist[@]}"; do sequence+=("$s $kind"); done; done
  echo "${startlist[*]}" >"$tmp/start-order"
fi
ip netns add "${id}br"
ip -n "${id}br" link add br0 type bridge
ip -n "${id}br" link set br0 up
ip netns exec "${id}br" sh -c 'for f in /proc/sys/net/bridge/bridge-nf-call-*; do [ -e "$f" ] && echo 0 >"$f"; done; true'
# hosts 1–3 servers, 11–16 / 21–26 / 31–36 the clients of server 1 / 2 / 3 (17, 18 … with
# XLEAVE_BASE)
all=(1 2 3)
for s in 1 2 3; do for kind in "${kindlist[@]}"; do all+=($((s * 10 + kind))); done; done
for i in "${all[@]}"; do
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
run() { local i=$1; shift; ip netns exec "${id}h$i" "${nocap[@]}" "$@" >"$tmp/h$i/log" 2>&1 & }
chrony_conf() { # host, directives
  mkdir -m 700 -p "$tmp/h$1/run"
  printf '%scmdport 0\nbindcmdaddress %s/h%s/run/sock\npidfile %s/h%s/run/pid\ndriftfile %s/h%s/drift\n' \
    "$2" "$tmp" "$1" "$tmp" "$1" "$tmp" "$1" >"$tmp/h$1/chrony.conf"
}

# servers, each from its own copy of its executable: on a real LAN a server never shares
# CPU-cached code with its clients, but here chronyd's clients run the very pages chronyd's
# server runs (and ours ours), which leaves the server's send path warm for them and makes
# its reply leg ~1-1.5 µs shorter for its own kind of client only (docs/benchmarks.md,
# "The basic-mode reply leg from chronyd's server"). XLEAVE_SHARED_SERVERS=1: the old setup.
server_bin() { # name, path
  if [ "${XLEAVE_SHARED_SERVERS:-0}" = 1 ]; then echo "$2"; return; fi
  mkdir -p "$tmp/servers" && cp "$2" "$tmp/servers/$1" && echo "$tmp/servers/$1"
}
chrony_conf 1 $'local stratum 8\nallow all\n'
run 1 "$(server_bin chronyd "$chronyd")" -x -d -u root -f "$tmp/h1/chrony.conf"
printf 'tos orphan 5 orphanwait 0\nrestrict default\ndriftfile %s/h2/drift\n' "$tmp" >"$tmp/h2/ntp.conf"
run 2 "$(server_bin ntpd "$(command -v ntpd)")" -n -c "$tmp/h2/ntp.conf"
printf 'server 127.127.1.0\nfudge 127.127.1.0 stratum 10\nrestrict default\n' >"$tmp/h3/ntp.conf"
run 3 "$(server_bin ntpkit "$ours")" ntpd --observe-only -n -c "$tmp/h3/ntp.conf"
for s in 1 2 3; do
  ok=0
  for _ in $(seq 150); do
    if ip netns exec "${id}h11" ntpdig -t 1 "198.18.0.$s" 2>/dev/null | grep -qE ' s([0-9]|1[0-5]) '; then ok=1; break; fi
    sleep 0.3
  done
  [ $ok = 1 ] || { echo "server 198.18.0.$s never served; log:" >&2; cat "$tmp/h$s/log" >&2; exit 1; }
done

# clients
[ "$trace" = 0 ] || ktrace_start
start=$(date +%s)
# the hypervisor's share: time the CPUs were runnable but not running (/proc/stat's steal,
# clock ticks of all CPUs); a vCPU held back in a packet's path is a leg tens of µs long
steal() { awk '$1 == "cpu" { print $9 }' /proc/stat; }
steal0=$(steal)
for pair in "${sequence[@]}"; do
  read -r s kind <<<"$pair"
  srv=198.18.0.$s
  [ "$gap" = 0 ] || [ "$pair" = "${sequence[0]}" ] || sleep "$gap"
  i=$(host "$s" "$kind")
  x=""; [ $((kind % 2)) = 0 ] && x=" xleave"
  [ "$kind" = 5 ] || [ "$kind" = 6 ] && x="$x noselect"
  if [ "$kind" -le 2 ] || [ "$kind" -ge 7 ]; then
    bin=$ours; [ "$kind" -ge 7 ] && bin=$base
    printf 'server %s minpoll %s maxpoll %s iburst%s\nstatsdir %s/h%s/\nstatistics peerstats loopstats rawstats\nfilegen peerstats file peerstats type none enable\nfilegen loopstats file loopstats type none enable\nfilegen rawstats file rawstats type none enable\nrestrict 127.0.0.1\n' \
      "$srv" "$poll" "$poll" "$x" "$tmp" "$i" >"$tmp/h$i/ntp.conf"
    run "$i" "$bin" ntpd --observe-only -n -c "$tmp/h$i/ntp.conf"
  else
    chrony_conf "$i" "server $srv minpoll $poll maxpoll $poll iburst$x
logdir $tmp/h$i
log measurements tracking
"
    run "$i" "$chronyd" -x -d -u root -f "$tmp/h$i/chrony.conf"
  fi
done
# the selected chronyd clients' disciplined offset (see the top): "epoch,<chronyc -c
# tracking's fields>" (ref ID, source, stratum, ref time, System time in s, positive = the
# clock slow, Last offset, …, leap status) once per poll interval, through each one's socket
tracked=()
for s in 1 2 3; do for kind in 3 4; do tracked+=("$(host "$s" "$kind")"); done; done
(
  while sleep $((1 << poll)); do
    for i in "${tracked[@]}"; do
      out=$("$chronyc" -n -c -h "$tmp/h$i/run/sock" tracking 2>/dev/null) && echo "$(date +%s),$out" >>"$tmp/h$i/tracking.csv"
    done
  done
) &
poller=$!
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'): $seconds s at minpoll $poll, warm-up $warmup s excluded; load average $(cut -d' ' -f1-3 /proc/loadavg)${base:+; base = $base}$([ "${XLEAVE_SWAP:-0}" = 1 ] && [ -n "$base" ] && echo ", on ours' hosts")$([ "$hostswap" = 1 ] && echo "; hosts swapped: ours <-> chronyd-ns, ours+xleave <-> chronyd-ns+xleave")$([ "$order" = kind ] && echo "; clients started ms apart, ours first")$([ "$order" = reverse ] && echo "; clients started ms apart in reverse order")$([ "$order" = stagger ] && echo "; client starts staggered ${gap} s apart")$([ "$trace" = 1 ] && echo "; kernel trace on (diagnostic)")"
sleep "$seconds"
stop_poller
ktrace_stop "$tmp"
steal_ms=$((($(steal) - steal0) * 1000 / $(getconf CLK_TCK)))
echo "# steal time during the run: $steal_ms ms over all CPUs" | tee "$tmp/steal"
cutoff=$((start + warmup))

# ntpd stats lines: MJD seconds-of-day … ; keep those after the cutoff
ours_after() { awk -v c="$cutoff" '{ t = ($1 - 40587) * 86400 + $2; if (t >= c) print }' "$1" 2>/dev/null || true; }
# rawstats lines → "time offset request-leg reply-leg" (seconds) per sample; a reply no
# sample came from (logged as received, its origin not our request's) has a nonsense delay
# (seconds) and is left out. A negative delay down to -1 ms is kept: a server's transmit time
# that overshoots (our predicted basic-mode T3, tx_predict.rs) makes the veth round trip of
# ~1.6 µs negative, and chronyd's measurements log keeps such samples too. Seconds and nanoseconds apart: a double holds NTP time to ~0.5 µs only.
raw_samples() {
  awk 'function d(a, b,  x, y) { split(a, x, "."); split(b, y, "."); return (x[1] - y[1]) + (x[2] - y[2]) * 1e-9 }
    { up = d($6, $5); down = d($8, $7); t = ($1 - 40587) * 86400 + $2
      if (up + down > -1e-3 && up + down < 1) printf "%.3f %.9f %.9f %.9f\n", t, (up - down) / 2, up, down }'
}
# chronyd logs: "YYYY-MM-DD HH:MM:SS …" data lines (headers start with spaces or '='),
# printed as "epoch rest…" after the cutoff
chrony_after() {
  awk '/^[0-9][0-9][0-9][0-9]-/' "$1" 2>/dev/null | while read -r d t rest; do
    e=$(date -u -d "$d $t" +%s)
    if [ "$e" -ge "$cutoff" ]; then echo "$e $rest"; fi
  done || true
}
# measurements: epoch IP L St 123 567 ABCD LP RP Score Offset Delay … → the same four columns
chrony_samples() { awk '{ printf "%s %.9f %.9f %.9f\n", $1, $11, $12 / 2 + $11, $12 / 2 - $11 }'; }
# tracking.csv (above) → chronyd's System time after the cutoff, while synchronised
chrony_system_time() {
  awk -F, -v c="$cutoff" '$1 >= c && $15 != "Not synchronised" { print $6 }' "$1" 2>/dev/null || true
}
echo "# disciplined = the client's estimate of the clock's offset: ours loopstats, chronyd chronyc's System time, chronyd-ns none"
printf '%-8s %-17s %24s %24s %8s %8s %8s\n' server client "samples median/RMS µs (n)" \
  "disciplined median/RMS µs (n)" "mean µs" "T2−T1" "T4−T3"
names=([1]=chronyd [2]=ntpsec [3]=ours)
kinds=([1]=ours [2]=ours+xleave [3]=chronyd [4]=chronyd+xleave [5]=chronyd-ns [6]=chronyd-ns+xleave [7]=base [8]=base+xleave)
end=$(date +%s)
for s in 1 2 3; do
  for kind in "${kindlist[@]}"; do
    i=$(host "$s" "$kind")
    if [ "$kind" -le 2 ] || [ "$kind" -ge 7 ]; then
      # rawstats: MJD s src dst T1 T2 T3 T4 … (each exchange's raw sample, as chronyd's
      # measurements log; peerstats would log the clock filter's pick); loopstats: MJD s
      # offset ….
      ours_after "$tmp/h$i/rawstats" | raw_samples >"$tmp/h$i/samples"
      disc=$(ours_after "$tmp/h$i/loopstats" | awk '{print $3}' | stats)
      dsrc=loopstats
    else
      # measurements: IP L St 123 567 ABCD LP RP Score Offset …
      chrony_after "$tmp/h$i/measurements.log" | chrony_samples >"$tmp/h$i/samples"
      if [ "$kind" -le 4 ]; then
        disc=$(chrony_system_time "$tmp/h$i/tracking.csv" | stats)
        dsrc=chronyc_system_time
      else
        disc=$(stats </dev/null)
        dsrc=none
      fi
    fi
    samp=$(awk '{print $2}' "$tmp/h$i/samples" | stats)
    mean=$(awk '{ n++; o += $2 } END { if (n) printf "%.3f", o / n * 1e6; else print "n/a" }' "$tmp/h$i/samples")
    up=$(awk '{print $3}' "$tmp/h$i/samples" | stats | cut -d' ' -f1)
    down=$(awk '{print $4}' "$tmp/h$i/samples" | stats | cut -d' ' -f1)
    read -r sm sr sn <<<"$samp"
    read -r dm dr dn <<<"$disc"
    printf '%-8s %-17s %10s / %-6s (%3s) %10s / %-6s (%3s) %8s %8s %8s\n' "${names[$s]}" "${kinds[$kind]}" \
      "$sm" "$sr" "$sn" "$dm" "$dr" "$dn" "$mean" "$up" "$down"
    line="BENCH xleave server=${names[$s]} client=${kinds[$kind]} sample_median_us=$sm sample_rms_us=$sr samples=$sn disciplined_median_us=$dm disciplined_rms_us=$dr updates=$dn disciplined_from=$dsrc sample_mean_us=$mean request_leg_median_us=$up reply_leg_median_us=$down"
    if [ "$windows" -gt 1 ]; then
      # the same figures in each of `windows` equal parts of the measured time
      w=""
      for k in $(seq 0 $((windows - 1))); do
        from=$((cutoff + (end - cutoff) * k / windows)); to=$((cutoff + (end - cutoff) * (k + 1) / windows))
        read -r wm wr _ < <(awk -v a="$from" -v b="$to" '$1 >= a && $1 < b { print $2 }' "$tmp/h$i/samples" | stats)
        w="$w ${wm}/${wr}"
      done
      printf '%-8s %-17s   per window median/RMS µs:%s\n' "" "" "$w"
      line="$line windows=$(echo "$w" | sed 's/^ //; s/ /,/g')"
    fi
    echo "$line" >>"$tmp/bench"
    echo "h$i ${names[$s]} ${kinds[$kind]}" >>"$tmp/clients"
  done
done
cat "$tmp/bench"
# ours against chronyd-ns (and base), with bootstrap intervals: better, worse or parity
python3 bench/xleave-compare.py --name "this run (kept in ${keep:-target/bench-out/xleave})" "$tmp" || true
