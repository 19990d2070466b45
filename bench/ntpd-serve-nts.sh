#!/usr/bin/env bash
# NTS serving benchmark (issue 14): the same bounded load of NTS requests (ntpload --nts:
# one key exchange, then requests carrying a cookie, a unique identifier and an
# authenticator) against our ntpd (`nts enable`) and chronyd (`ntsserverkey`), in one run,
# on the same two-namespace LAN as bench/ntpd-serve.sh (generator 198.18.0.1, server
# 198.18.0.2, server pinned to CPU 0 and generator to CPU 1 when there are two CPUs).
# Certificates: a private CA and a server certificate for IP:198.18.0.2, made here with
# the openssl CLI.
#
# Per server and round: NTS-KE handshakes/s and server CPU per key exchange (SERVE_HANDSHAKES
# full TLS 1.3 sessions, default 2000, 4 at once), then authenticated replies/s, server CPU
# per reply (utime+stime of every process in the server namespace), NTSN kisses (must be
# 0). Median of ROUNDS.
# Needs root. Never touches the clock (no CAP_SYS_TIME, chronyd -x, our ntpd
# --observe-only). Bounded by REQUESTS and SERVE_SECONDS (default 10) per server and round.
#   bench/ntpd-serve-nts.sh [REQUESTS] [ROUNDS]
. "$(dirname "$0")/lib.sh"
requests=${1:-300000}
rounds=${2:-3}
seconds=${SERVE_SECONDS:-10}
handshakes=${SERVE_HANDSHAKES:-2000}
bench_needs_root
bench_build --bin ntpkit --bin ntpload
id=nknts$$
br=${id}br gen=${id}gen srv=${id}srv
server_ip=198.18.0.2
if [ "$(nproc)" -ge 2 ]; then on_server=(taskset -c 0) on_generator=(taskset -c 1); else on_server=() on_generator=(); fi
bench_lan "$id" gen srv
ip netns exec "$gen" ping -c 1 -W 2 "$server_ip" >/dev/null

(cd "$work" &&
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
    -days 2 -subj "/CN=bench CA" 2>/dev/null &&
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr \
    -subj "/CN=$server_ip" 2>/dev/null &&
  printf 'subjectAltName=IP:%s\nbasicConstraints=CA:FALSE\n' "$server_ip" >ext.cnf &&
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem \
    -days 2 -extfile ext.cnf 2>/dev/null)
printf 'server 127.127.1.0\nfudge 127.127.1.0 stratum 10\nnts enable cert %s/server.pem key %s/server.key cookie %s/nts-keys\n' \
  "$work" "$work" "$work" >"$work/ours.conf"
printf 'local stratum 10\nallow all\nntsserverkey %s/server.key\nntsservercert %s/server.pem\npidfile %s/chronyd.pid\n' \
  "$work" "$work" "$work" >"$work/chrony.conf"

hz=$(getconf CLK_TCK)
ns_ticks() {
  local t=0 p
  for p in $(ip netns pids "$1"); do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}
load() { ip netns exec "$gen" "${on_generator[@]}" "$bin/ntpload" "$server_ip:123" --nts "$work/ca.pem" "$@"; }

bench() {
  local name=$1; shift 2
  ip netns exec "$srv" "${nocap[@]}" "${on_server[@]}" "$@" >"$work/$name.log" 2>&1 &
  disown
  for _ in $(seq 100); do
    if load --requests 10 --threads 1 --seconds 1 2>/dev/null | grep -q 'replies=10 '; then break; fi
    sleep 0.3
  done
  local t0 t1 out ke
  t0=$(ns_ticks "$srv")
  ke=$(load --key-exchanges "$handshakes" --threads 4 --seconds "$seconds")
  t1=$(ns_ticks "$srv")
  local kps kus
  kps=$(sed -E 's/.*ke_per_sec=([0-9]+).*/\1/' <<<"$ke")
  kus=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v r="$(sed -E 's/key_exchanges=([0-9]+).*/\1/' <<<"$ke")" 'BEGIN { if (r > 0) printf "%.0f", t / hz / r * 1e6; else print "n/a" }')
  echo "# $name: $ke; server CPU per key exchange ${kus} µs"
  t0=$(ns_ticks "$srv")
  out=$(load --requests "$requests" --threads 1 --window 64 --seconds "$seconds")
  t1=$(ns_ticks "$srv")
  bench_kill_ns "$srv"
  local r rps naks
  r=$(sed -E 's/.*replies=([0-9]+).*/\1/' <<<"$out")
  rps=$(sed -E 's/.*replies_per_sec=([0-9]+).*/\1/' <<<"$out")
  naks=$(sed -E 's/.*naks=([0-9]+).*/\1/' <<<"$out")
  local us
  us=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v r="$r" 'BEGIN { if (r > 0) printf "%.2f", t / hz / r * 1e6; else print "n/a" }')
  echo "$name $rps $us $naks $kps $kus" >>"$work/results"
  echo "# $name: $out; server CPU per reply ${us} µs"
}

for _ in $(seq "$rounds"); do
  bench ours -- "$bin/ntpkit" ntpd -n --observe-only -4 -c "$work/ours.conf"
  bench chronyd -- "$chronyd" -x -d -u root -f "$work/chrony.conf"
done
med() { awk -v n="$1" -v c="$2" '$1 == n {print $c}' "$work/results" | sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "n/a"}'; }
echo
echo "| NTS, median of $rounds ($requests requests each, $(date -u '+%Y-%m-%d %H:%M UTC')) | ntpkit ntpd | chronyd |"
echo "|---|---|---|"
echo "| authenticated replies/s | $(med ours 2) | $(med chronyd 2) |"
echo "| server CPU per authenticated reply (µs) | $(med ours 3) | $(med chronyd 3) |"
echo "| NTSN kisses | $(med ours 4) | $(med chronyd 4) |"
echo "| NTS-KE handshakes/s (4 clients at once) | $(med ours 5) | $(med chronyd 5) |"
echo "| server CPU per key exchange (µs) | $(med ours 6) | $(med chronyd 6) |"
awk -v a="$(med ours 3)" -v b="$(med chronyd 3)" 'BEGIN { if (a > 0) printf "ntpkit / chronyd, authenticated replies per CPU-second: %.2f×\n", b / a }'
