#!/bin/bash
# ntpq -pn against chronyd vs chronyc -n sources, wall time in the same run: a chronyd 4.3
# (-x, no CAP_SYS_TIME) with three sources (two reachable chronyd servers, one absent)
# inside a private network namespace, queried over its Unix socket and over UDP 323.
# Needs root and chrony (/opt/chrony or installed).
#
#   bench/ntpq-chronyd.sh [RUNS]          (default 30 interleaved runs of each)
#   NTPKIT_BIN=path bench/ntpq-chronyd.sh (skip the release build)
. "$(dirname "$0")/lib.sh"
RUNS=${1:-30}
bench_needs_root
PATH=$PATH:/opt/chrony/usr/sbin:/opt/chrony/usr/bin
bench_needs chronyd chronyc ip setpriv
bench_build --bin ntpkit
NTPKIT_BIN=$ours
NS=nkc$$
D=$work
chmod 700 "$D"
bench_ns $NS
for s in 2 3; do
  printf 'local stratum %s\nallow all\nbindaddress 127.0.0.%s\ncmdport 0\ndriftfile %s/d%s\npidfile %s/p%s\nbindcmdaddress %s/s%s.sock\n' \
    $((s + 4)) $s "$D" $s "$D" $s "$D" $s > "$D/server$s.conf"
  ip netns exec $NS "${nocap[@]}" chronyd -x -d -u root -f "$D/server$s.conf" > "$D/server$s.log" 2>&1 &
done
printf 'port 0\nserver 127.0.0.2 iburst minpoll 0 maxpoll 2\nserver 127.0.0.3 iburst minpoll 0 maxpoll 2\nserver 127.0.0.4 iburst\ndriftfile %s/c.drift\npidfile %s/c.pid\nbindcmdaddress %s/c.sock\n' \
  "$D" "$D" "$D" > "$D/client.conf"
ip netns exec $NS "${nocap[@]}" chronyd -x -d -u root -f "$D/client.conf" > "$D/client.log" 2>&1 &
S=$D/c.sock
for i in $(seq 60); do
  ip netns exec $NS chronyc -n -h "$S" sources 2>/dev/null | grep -q '^\^\*' && break
  sleep 0.5
done
ip netns exec $NS chronyc -n -h "$S" sources | grep -q '^\^\*' || { echo "chronyd never selected a source" >&2; exit 1; }

# One `ip netns exec` for the whole loop: prints, per round, microseconds of
# ours (socket), chronyc (socket), ours (UDP), chronyc (UDP), /bin/true.
cat > "$D/loop.sh" <<'INNER'
#!/bin/bash
bin=$1; runs=$2; sock=$3
t() { local t0=$(date +%s%N); "$@" >/dev/null 2>&1; echo $(( ($(date +%s%N) - t0) / 1000 )); }
"$bin" ntpq -pn --socket "$sock" >/dev/null; chronyc -n -h "$sock" sources >/dev/null
for i in $(seq "$runs"); do
  echo "$(t "$bin" ntpq -pn --socket "$sock") $(t chronyc -n -h "$sock" sources)" \
       "$(t "$bin" ntpq -pn 127.0.0.1) $(t chronyc -n -h 127.0.0.1 sources) $(t /bin/true)"
done
INNER
ip netns exec $NS bash "$D/loop.sh" "$NTPKIT_BIN" "$RUNS" "$S" > "$D/times"
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
col() { awk -v c=$1 '{print $c}' "$D/times" | median; }
os=$(col 1); cs=$(col 2); ou=$(col 3); cu=$(col 4); tb=$(col 5)
echo "ntpq -pn vs chronyc -n sources against chronyd $(chronyd --version | awk '{print $4}'), 3 sources, $RUNS interleaved runs, median wall time"
awk -v os="$os" -v cs="$cs" -v ou="$ou" -v cu="$cu" -v tb="$tb" 'BEGIN {
  printf "Unix socket: ntpkit ntpq -pn %6.2f ms   chronyc -n sources %6.2f ms   (%.2fx)\n", os/1000, cs/1000, cs/os
  printf "UDP 323:     ntpkit ntpq -pn %6.2f ms   chronyc -n sources %6.2f ms   (%.2fx)\n", ou/1000, cu/1000, cu/ou
  printf "fork+exec /bin/true: %.2f ms (included in all)\n", tb/1000
}'
ip netns exec $NS "$NTPKIT_BIN" ntpq -pn --socket "$S"
awk -v os="$os" -v cs="$cs" -v ou="$ou" -v cu="$cu" 'BEGIN {
  printf "BENCH ntpq-chronyd ours_socket_ms=%.2f chronyc_socket_ms=%.2f ours_udp_ms=%.2f chronyc_udp_ms=%.2f\n", os/1000, cs/1000, ou/1000, cu/1000 }'
