#!/bin/bash
# ntpq -pn wall time: ntpkit's ntpq vs NTPsec's (Python) ntpq, against the same NTPsec
# ntpd (a client of another NTPsec host), measured in the same run, inside two private
# network namespaces (198.18.0.1/.2). Needs root, NTPsec's ntpd and ntpq.
#
#   bench/ntpq.sh [RUNS]          (default 30 runs of each, interleaved)
#   NTPKIT_BIN=path bench/ntpq.sh (skip the release build, e.g. to time a debug build)
. "$(dirname "$0")/lib.sh"
RUNS=${1:-30}
bench_needs_root
bench_needs ntpd ntpq ip setpriv
bench_build --bin ntpkit
NTPKIT_BIN=$ours
ID=nkb$$
A=${ID}a; B=${ID}b
D=$work
bench_lan "$ID" a b
printf 'tos orphan 5 orphanwait 0\nrestrict default\nrestrict 127.0.0.1\nrestrict ::1\ndriftfile %s/a/drift\n' "$D" > "$D/a/ntp.conf"
printf 'restrict default\nrestrict 127.0.0.1\nrestrict ::1\ndriftfile %s/b/drift\nserver 198.18.0.1 iburst minpoll 3 maxpoll 4\n' "$D" > "$D/b/ntp.conf"
ip netns exec $A "${nocap[@]}" ntpd -n -c "$D/a/ntp.conf" > "$D/a/log" 2>&1 &
ip netns exec $B "${nocap[@]}" ntpd -n -c "$D/b/ntp.conf" > "$D/b/log" 2>&1 &
for i in $(seq 90); do
  ip netns exec $B ntpq -pn 2>/dev/null | grep -q '^\*' && break
  sleep 1
done
ip netns exec $B ntpq -pn | grep -q '^\*' || { echo "NTPsec client never synchronised" >&2; exit 1; }

# Time inside the namespace (one `ip netns exec` for the whole loop, so its cost is
# not in the figures): prints "ours theirs" microseconds per interleaved round.
cat > "$D/loop.sh" <<'INNER'
#!/bin/bash
bin=$1; runs=$2
"$bin" ntpq -pn >/dev/null; ntpq -pn >/dev/null   # warm caches (Python byte code, page cache)
for i in $(seq "$runs"); do
  t0=$(date +%s%N); "$bin" ntpq -pn >/dev/null; t1=$(date +%s%N)
  ntpq -pn >/dev/null; t2=$(date +%s%N)
  t3=$(date +%s%N); /bin/true; t4=$(date +%s%N)
  echo $(( (t1 - t0) / 1000 )) $(( (t2 - t1) / 1000 )) $(( (t4 - t3) / 1000 ))
done
INNER
ip netns exec $B bash "$D/loop.sh" "$NTPKIT_BIN" "$RUNS" > "$D/times"
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mo=$(awk '{print $1}' "$D/times" | median)
mt=$(awk '{print $2}' "$D/times" | median)
mb=$(awk '{print $3}' "$D/times" | median)
echo "ntpq -pn against NTPsec $(ntpd --version 2>&1 | head -1 | awk '{print $2}'), $RUNS interleaved runs each, median wall time"
awk -v o="$mo" -v t="$mt" -v b="$mb" 'BEGIN {
  printf "ntpkit ntpq -pn : %8.2f ms\n", o/1000
  printf "NTPsec ntpq -pn : %8.2f ms\n", t/1000
  printf "fork+exec /bin/true: %5.2f ms (included in both)\n", b/1000
  printf "speed-up        : %8.1fx\n", t/o
}'
echo "ntpkit binary: $NTPKIT_BIN"
# one machine-readable line for bench/run
awk -v o="$mo" -v t="$mt" 'BEGIN { printf "BENCH ntpq ours_ms=%.2f ntpsec_ms=%.2f\n", o/1000, t/1000 }'
