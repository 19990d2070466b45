#!/usr/bin/env bash
# Symmetric mode (`peer`) accuracy where the truth is zero (issue 19): every network
# namespace shares one kernel clock, so the true offset between two hosts is exactly 0 and
# every offset a peer measures is pure measurement error.
#
# Symmetric pairs, each on two hosts of its own: ours↔ours, ours↔chronyd 4.3 and
# chronyd↔chronyd, each in basic mode and with `xleave` (interleaved, RFC 9769), polling
# every 8 s (minpoll 3 maxpoll 3; POLL=n for another exponent) for SECONDS. Each side has a local reference at stratum
# 10 (ours: LOCAL; chronyd: `local stratum 10`); chronyd's `peer` is `noselect` (a selected
# chronyd -x measures against its own corrected virtual clock, which absorbs a bias). Per
# side: the median and RMS of |offset| of every raw sample after WARMUP seconds — our
# rawstats (the four timestamps the sample was computed from), chronyd's measurements log
# (samples that passed its tests; `I` of them interleaved).
#
# BASE_BIN=path adds the pairs base↔base and base↔chronyd (basic and xleave) with that
# ntpkit binary (e.g. main's), for an A/B in the same run: ours↔ours against base↔base,
# chronyd's view of us against its view of base. (A binary before 6327e4d logs, for an
# interleaved peer, packets that completed no sample too, with their wire fields: its
# rawstats figures then mix in non-samples.) For our sides the last column is the
# interleaved samples the association counted (mode 6 `xleave`, the whole run) out of its
# rawstats lines (every sample, the whole run).
#
# Needs root (namespaces). Never touches the clock: everything without CAP_SYS_TIME, our
# ntpd with --observe-only, chronyd with -x. Traffic stays inside the namespaces.
#   [NTPKIT_BIN=ntpkit] [BASE_BIN=ntpkit] bench/xleave-sym.sh [SECONDS] [WARMUP]  (600, 60)
. "$(dirname "$0")/lib.sh"
. bench/stats.sh
seconds=${1:-600}
warmup=${2:-60}
# POLL: the pairs' poll exponent (minpoll = maxpoll; 3: every 8 s)
poll=${POLL:-3}
bench_needs_root
bench_needs "$chronyd" ip setpriv
bench_build --bin ntpkit
base=${BASE_BIN:-}

# pairs: name, side a, side b, xleave (0/1); sides: ours, base (BASE_BIN), chronyd
pairs=()
for x in 0 1; do
  pairs+=("ours-ours $x" "ours-chronyd $x" "chronyd-chronyd $x")
  [ -n "$base" ] && pairs+=("base-base $x" "base-chronyd $x")
done
hosts=()
for p in "${!pairs[@]}"; do hosts+=("p${p}a" "p${p}b"); done
id=nkxs$$
bench_lan "$id" "${hosts[@]}"
# host h's address: its place in the list
addr_of() { local i; for i in "${!hosts[@]}"; do [ "${hosts[$i]}" != "$1" ] || echo "198.18.0.$((i + 1))"; done; }
run() { local h=$1; shift; ip netns exec "$id$h" "${nocap[@]}" "$@" >"$work/$h/log" 2>&1 & }

start_side() { # host, kind, peer address, xleave
  local h=$1 kind=$2 peer=$3 x="" bin
  [ "$4" = 1 ] && x=" xleave"
  case $kind in
    ours | base)
      bin=$ours
      [ "$kind" = base ] && bin=$base
      printf 'server 127.127.1.0\nfudge 127.127.1.0 stratum 10\npeer %s minpoll %s maxpoll %s%s\nstatsdir %s/\nstatistics rawstats\nfilegen rawstats file rawstats type none enable\nrestrict default\nrestrict 127.0.0.1\n' \
        "$peer" "$poll" "$poll" "$x" "$work/$h" >"$work/$h/ntp.conf"
      run "$h" "$bin" ntpd --observe-only -n -c "$work/$h/ntp.conf"
      ;;
    chronyd)
      mkdir -m 700 -p "$work/$h/run"
      printf 'peer %s minpoll %s maxpoll %s%s noselect\nlocal stratum 10\nallow all\nlogdir %s\nlog measurements\ncmdport 0\nbindcmdaddress %s/run/sock\npidfile %s/run/pid\ndriftfile %s/drift\n' \
        "$peer" "$poll" "$poll" "$x" "$work/$h" "$work/$h" "$work/$h" "$work/$h" >"$work/$h/chrony.conf"
      run "$h" "$chronyd" -x -d -u root -f "$work/$h/chrony.conf"
      ;;
  esac
}

start=$(date +%s)
for p in "${!pairs[@]}"; do
  read -r name x <<<"${pairs[$p]}"
  a=${name%-*} b=${name#*-}
  start_side "p${p}a" "$a" "$(addr_of "p${p}b")" "$x"
  start_side "p${p}b" "$b" "$(addr_of "p${p}a")" "$x"
done
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'): $seconds s at minpoll $poll, warm-up $warmup s excluded; load average $(cut -d' ' -f1-3 /proc/loadavg)"
sleep "$seconds"
cutoff=$((start + warmup))

# an ntpkit side's interleaved samples of its peer (mode 6 `xleave`), asked before the
# daemons stop: host, peer address, binary
our_xleave() {
  local a v
  for a in $(ip netns exec "$id$1" "$3" ntpq -n -c as 2>/dev/null | awk '$2 ~ /^[0-9]+$/ { print $2 }'); do
    v=$(ip netns exec "$id$1" "$3" ntpq -n -c "rv $a srcadr,xleave" 2>/dev/null | tr -d '\n')
    case $v in *"srcadr=$2,"* | *"srcadr=$2 "*)
      echo "$v" | tr ', ' '\n\n' | sed -n 's/^xleave=//p' | head -1
      return ;;
    esac
  done
  echo "-"
}
for p in "${!pairs[@]}"; do
  read -r name x <<<"${pairs[$p]}"
  for s in a b; do
    kind=${name%-*}; [ $s = b ] && kind=${name#*-}
    o=b; [ $s = b ] && o=a
    case $kind in
      ours) our_xleave "p$p$s" "$(addr_of "p$p$o")" "$ours" >"$work/p$p$s/xleave" ;;
      base) our_xleave "p$p$s" "$(addr_of "p$p$o")" "$base" >"$work/p$p$s/xleave" ;;
    esac
  done
done

# rawstats (MJD s src dst T1 T2 T3 T4 …, times as SECONDS.NANOSECONDS) → the offset of each
# sample from $1 after the cutoff; a packet no sample came from has a nonsense delay
raw_offsets() {
  awk -v c="$cutoff" -v src="$1" 'function d(a, b,  x, y) { split(a, x, "."); split(b, y, "."); return (x[1] - y[1]) + (x[2] - y[2]) * 1e-9 }
    ($1 - 40587) * 86400 + $2 >= c && $3 == src {
      off = (d($6, $5) + d($7, $8)) / 2; del = d($8, $5) - d($7, $6)
      if (del > -1e-6 && del < 1) printf "%.9f\n", off }' "$2" 2>/dev/null || true
}
# chronyd's measurements (DATE TIME IP L St 123 567 ABCD LP RP Score Offset … MTxRx) → the
# offset of each sample from $1 after the cutoff that passed every test, and its mode
# letter (I: interleaved)
chrony_offsets() {
  awk '/^[0-9][0-9][0-9][0-9]-/' "$2" 2>/dev/null | while read -r d t ip _ _ t1 t2 t3 _ _ _ off rest; do
    [ "$ip" = "$1" ] && [ "$t1$t2$t3" = 1111111111 ] || continue
    e=$(date -u -d "$d $t" +%s)
    [ "$e" -ge "$cutoff" ] && echo "$off ${rest: -5:1}"
  done || true
}
printf '%-16s %-6s %-8s %-28s %s\n' pair xleave side "samples median/RMS µs (n)" "of them interleaved"
for p in "${!pairs[@]}"; do
  read -r name x <<<"${pairs[$p]}"
  for s in a b; do
    h=p$p$s
    o=b; [ $s = b ] && o=a
    kind=${name%-*}; [ $s = b ] && kind=${name#*-}
    peer=$(addr_of "p$p$o")
    if [ "$kind" = chronyd ]; then
      chrony_offsets "$peer" "$work/$h/measurements.log" >"$work/$h/offsets"
      samp=$(awk '{print $1}' "$work/$h/offsets" | stats)
      inter=$(awk '$2 == "I"' "$work/$h/offsets" | wc -l)
    else
      samp=$(raw_offsets "$peer" "$work/$h/rawstats" | stats)
      inter="$(cat "$work/$h/xleave" 2>/dev/null || echo -)/$(awk -v src="$peer" '$3 == src' "$work/$h/rawstats" 2>/dev/null | wc -l)"
    fi
    read -r sm sr sn <<<"$samp"
    printf '%-16s %-6s %-8s %10s / %-6s (%3s)     %s\n' "$name" "$x" "$kind" "$sm" "$sr" "$sn" "$inter"
    echo "BENCH xleave-sym pair=$name xleave=$x side=$kind sample_median_us=$sm sample_rms_us=$sr samples=$sn interleaved=$inter" >>"$work/bench"
  done
done
cat "$work/bench"
# the raw logs, for a second look (bench/run's convention)
mkdir -p target/bench-out && rm -rf target/bench-out/xleave-sym && cp -r "$work" target/bench-out/xleave-sym || true
