# bench/lib.sh: what every benchmark does around its measurement, sourced first thing
# (`. "$(dirname "$0")/lib.sh"`): strict mode, the repository as working directory, the
# root and program checks, the release build, the setpriv guard that keeps CAP_SYS_TIME
# from every daemon (the clock is never touched; our ntpd also runs --observe-only and
# chronyd -x, which each script passes), a scratch directory `$work`, network namespaces
# (alone, or as hosts 198.18.0.N/24 on a bridge, as tests/common/lan.rs builds them) and
# the cleanup that stops what runs in them and deletes them on any exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bench_name=$(basename "$0")
nocap=(setpriv --inh-caps=-sys_time --bounding-set=-sys_time)
chronyd=$(command -v chronyd || echo /opt/chrony/usr/sbin/chronyd)
work=$(mktemp -d)
bench_namespaces=()

bench_fail() { echo "bench/$bench_name: $*" >&2; exit 2; }
bench_needs_root() { [ "$(id -u)" = 0 ] || bench_fail "needs root (network namespaces)"; }
# bench_needs PROGRAM…: each on PATH or an executable path.
bench_needs() {
  local p
  for p; do command -v "$p" >/dev/null || [ -x "$p" ] || bench_fail "needs $p"; done
}

# bench_build [CARGO ARGS…]: the release build; sets bin (target/release) and ours (the
# ntpkit binary). NTPKIT_BIN=path uses that binary instead and skips the build.
bench_build() {
  bin=$PWD/target/release
  if [ -n "${NTPKIT_BIN:-}" ]; then ours=$NTPKIT_BIN; return; fi
  cargo build --release --quiet "$@"
  ours=$bin/ntpkit
}

# bench_kill_ns NS: TERM every process in NS, KILL what is left after 5 s.
bench_kill_ns() {
  local pids _
  for _ in $(seq 50); do
    pids=$(ip netns pids "$1" 2>/dev/null || true)
    [ -z "$pids" ] && return 0
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    sleep 0.1
  done
  # shellcheck disable=SC2086
  kill -KILL $(ip netns pids "$1" 2>/dev/null || true) 2>/dev/null || true
}

bench_cleanup() {
  local ns
  for ns in "${bench_namespaces[@]}"; do
    bench_kill_ns "$ns"
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap bench_cleanup EXIT

# bench_ns NS: a namespace of its own with loopback up, deleted at exit.
bench_ns() {
  ip netns add "$1"
  bench_namespaces+=("$1")
  ip -n "$1" link set lo up
}

# bench_lan PREFIX HOST…: a bridge (namespace PREFIXbr, ports v1, v2… in HOST order) and
# one namespace PREFIXHOST per host, its eth0 at 198.18.0.N/24 where N is its place in
# the list, and a scratch directory $work/HOST. The bridge calls no iptables (a switch
# does not either).
bench_lan() {
  local prefix=$1 n=1 host ns
  shift
  bench_ns "${prefix}br"
  ip -n "${prefix}br" link add br0 type bridge
  ip -n "${prefix}br" link set br0 up
  ip netns exec "${prefix}br" sh -c \
    'for f in /proc/sys/net/bridge/bridge-nf-call-*; do [ -e "$f" ] && echo 0 >"$f"; done; true'
  for host; do
    ns=$prefix$host
    bench_ns "$ns"
    ip -n "${prefix}br" link add "v$n" type veth peer name eth0 netns "$ns"
    ip -n "${prefix}br" link set "v$n" master br0 up
    ip -n "$ns" addr add "198.18.0.$n/24" dev eth0
    ip -n "$ns" link set eth0 up
    mkdir -p "$work/$host"
    n=$((n + 1))
  done
}
