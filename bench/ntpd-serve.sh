#!/usr/bin/env bash
# Serving benchmark: the same bounded load (ntpload, in this repo) against our ntpd, chronyd
# and NTPsec's ntpd, in one run, all under exactly the same setup:
#
#   generator host (198.18.0.1) ── veth ── bridge ── veth ── server host (198.18.0.2)
#
# three network namespaces of our own (nkserve<pid>{br,gen,srv}), the way tests/common/lan.rs
# builds its LAN; the bridge does not call iptables (a switch does not either). The server
# is pinned to CPU 0 and the generator to CPU 1 (taskset), so they never take turns on one
# CPU. A veth transmit runs the receiving side's softirq path (bridge, IP, UDP, socket
# enqueue, wake-up) inside the sender's system call: the server's CPU per reply includes
# the delivery of the reply into the generator's socket, and the generator pays for the
# delivery of its requests. That is the same for every server, and it is deterministic.
# SERVE_RPS=1 instead steers each packet's receive work to the CPU of the host it is for,
# as a NIC would on a real LAN; the softirq work then lands on whatever runs on that CPU,
# which on a shared machine makes the per-process figures less reliable.
#
# Per server and round: replies/s, server CPU per reply split into user and sys (utime and
# stime of every process in the server namespace, from /proc), the server's CPU utilisation
# (1.00 = one CPU busy all the time: the server is the bottleneck; below, the generator is),
# and RSS. The servers take turns, ROUNDS times; the report gives the median and the
# min–max spread per server, and ratios of medians. On this 2-CPU machine other work shares
# both CPUs, so only figures from the same run are compared.
#
# With perf installed it counts the system calls per reply of every server; with valgrind
# installed it also counts the instructions our user-space path takes per
# request (callgrind, only inside the serving thread, over a fixed small load): unlike
# times, that count is repeatable.
#
# Needs root (namespaces, port 123). Never touches the clock: everything runs without
# CAP_SYS_TIME, chronyd with -x, our ntpd with -x. The load is bounded by REQUESTS and by
# SERVE_SECONDS (default 20) per server and round, and stays inside these namespaces.
#   bench/ntpd-serve.sh [REQUESTS] [ROUNDS]
# SERVE_SERVERS picks the servers (default "ours ours-1t chronyd ntpsec"; also ours-xleave:
# ours under a load whose every request asks for interleaved mode, so every reply is
# timestamped by the kernel and remembered, and main: SERVE_MAIN_BIN, another ntpkit build).
# SERVE_PIN=0 runs unpinned, SERVE_RPS=1 with receive steering, SERVE_CALLGRIND=0 skips
# the instruction count, SERVE_SYSCALLS=0 the system-call count (perf), SERVE_WINDOW sets
# the generator's requests in flight (default 64).
. "$(dirname "$0")/lib.sh"
requests=${1:-2000000}
rounds=${2:-3}
seconds=${SERVE_SECONDS:-20}
window=${SERVE_WINDOW:-64}
pin=${SERVE_PIN:-1}
rps=${SERVE_RPS:-0}
bench_needs_root
bench_build --bin ntpkit --bin ntpload
id=nkserve$$
br=${id}br gen=${id}gen srv=${id}srv
server_ip=198.18.0.2
if [ "$pin" = 1 ] && [ "$(nproc)" -ge 2 ]; then
  on_server=(taskset -c 0) on_generator=(taskset -c 1) gen_threads=1
else
  pin=0 on_server=() on_generator=() gen_threads=2
fi

# The LAN: a bridge namespace with one veth port per host (v1 generator, v2 server).
bench_lan "$id" gen srv
if [ "$rps" = 1 ] && [ "$pin" = 1 ]; then
  # v1 receives what the generator sends: the server's CPU (0) does the rest of its path;
  # v2 receives the server's replies: the generator's CPU (1) does theirs.
  ip netns exec "$br" sh -c 'echo 1 >/sys/class/net/v1/queues/rx-0/rps_cpus; echo 2 >/sys/class/net/v2/queues/rx-0/rps_cpus'
else
  rps=0
fi
# The generator's host must know the server's MAC before the clock starts.
ip netns exec "$gen" ping -c 1 -W 2 "$server_ip" >/dev/null

hz=$(getconf CLK_TCK)
# user and system ticks of every process in the namespace, and the RSS of the largest
ns_ticks() {
  local u=0 s=0 p
  for p in $(ip netns pids "$1"); do
    read -r pu ps < <(awk '{print $14, $15}' "/proc/$p/stat" 2>/dev/null || echo "0 0")
    u=$((u + pu)) s=$((s + ps))
  done
  echo "$u $s"
}
ns_rss_kb() {
  local m=0 p r
  for p in $(ip netns pids "$1"); do
    r=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    [ "${r:-0}" -gt "$m" ] && m=$r
  done
  echo "$m"
}
load() { ip netns exec "$gen" "${on_generator[@]}" "$bin/ntpload" "$server_ip:123" ${load_extra:-} "$@"; }

# bench NAME -- server command…: one server, one round, in the server host
bench() {
  local name=$1; shift 2
  ip netns exec "$srv" "${nocap[@]}" "${on_server[@]}" "$@" >"$work/$name.log" 2>&1 &
  disown
  local ok=0
  for _ in $(seq 100); do
    if load --requests 10 --threads 1 --seconds 1 | grep -q 'replies=10 '; then ok=1; break; fi
    sleep 0.2
  done
  if [ $ok = 0 ]; then
    echo "$name: never answered; log:" >&2; cat "$work/$name.log" >&2
    bench_kill_ns "$srv"; return 0
  fi
  if [ "${pass:-cpu}" = syscalls ]; then
    # system calls per reply: perf counts every thread's syscall entries over a short load
    local pids; pids=$(ip netns pids "$srv" | paste -sd, -)
    perf stat -x, -o "$work/$name.perf" -e raw_syscalls:sys_enter -p "$pids" -- sleep 4 &
    local perf_pid=$!
    sleep 0.5
    local out; out=$(load --requests 1000000 --threads "$gen_threads" --window "$window" --seconds 3)
    wait "$perf_pid" || true
    bench_kill_ns "$srv"
    local calls replies
    calls=$(awk -F, '/raw_syscalls/ {print $1}' "$work/$name.perf")
    replies=$(sed -E 's/.*replies=([0-9]+).*/\1/' <<<"$out")
    awk -v n="$name" -v c="${calls:-0}" -v r="$replies" \
      'BEGIN { if (r > 0 && c > 0) printf "%s %.3f\n", n, c / r }' | tee -a "$work/syscalls"
    return 0
  fi
  local t0 t1 out
  t0=$(ns_ticks "$srv")
  out=$(load --requests "$requests" --threads "$gen_threads" --window "$window" --seconds "$seconds")
  t1=$(ns_ticks "$srv")
  local rss; rss=$(ns_rss_kb "$srv")
  bench_kill_ns "$srv"
  local replies rps secs
  replies=$(sed -E 's/.*replies=([0-9]+).*/\1/' <<<"$out")
  rps=$(sed -E 's/.*replies_per_sec=([0-9]+).*/\1/' <<<"$out")
  secs=$(sed -E 's/.*seconds=([0-9.]+).*/\1/' <<<"$out")
  # fields: name rps cpu_us user_us sys_us utilisation rss
  awk -v n="$name" -v rps="$rps" -v r="$replies" -v s="$secs" -v hz="$hz" -v rss="$rss" \
    -v a="$t0" -v b="$t1" 'BEGIN {
      split(a, x, " "); split(b, y, " ")
      u = (y[1] - x[1]) / hz; k = (y[2] - x[2]) / hz
      if (r > 0) printf "%s %d %.2f %.2f %.2f %.2f %d\n", n, rps, (u + k) * 1e6 / r, u * 1e6 / r, k * 1e6 / r, (u + k) / s, rss
    }' | tee -a "$work/results"
  echo "  $name: $out" >&2
}

printf 'server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n' >"$work/ours.conf"
mkdir -m 700 "$work/chrony"
printf 'local stratum 10\nallow all\ncmdport 0\npidfile %s/chrony/pid\ndriftfile %s/chrony/drift\n' "$work" "$work" >"$work/chrony.conf"
# NTPsec's MRU monitor stops answering a flooding source even without `limited`;
# `disable monitor` is refused while its default restriction has `limited`, so the
# generator's host gets a restriction line of its own (no `limited`), as 127.0.0.1 did.
printf 'tos orphan 10 orphanwait 0\nrestrict default\nrestrict 198.18.0.1\ndisable monitor\ndriftfile %s/ntpsec.drift\n' "$work" >"$work/ntpsec.conf"

read -r -a servers <<<"${SERVE_SERVERS:-ours ours-1t chronyd ntpsec}"
run_server() {
  case $1 in
    ours) bench ours -- "$bin/ntpkit" ntpd -n --observe-only -4 -c "$work/ours.conf" ;;
    ours-xleave) load_extra=--xleave bench ours-xleave -- "$bin/ntpkit" ntpd -n --observe-only -4 -c "$work/ours.conf" ;;
    main) bench main -- "${SERVE_MAIN_BIN:?SERVE_MAIN_BIN=path of the other ntpkit}" ntpd -n --observe-only -4 -c "$work/ours.conf" ;;
    ours-1t) bench ours-1t -- "$bin/ntpkit" ntpd -n --observe-only -4 --single-thread -c "$work/ours.conf" ;;
    chronyd) bench chronyd -- "$chronyd" -x -d -u root -f "$work/chrony.conf" ;;
    ntpsec) bench ntpsec -- ntpd -n -c "$work/ntpsec.conf" ;;
  esac
}
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg), pinned=$pin rps=$rps, generator threads=$gen_threads window=$window, $requests requests or ${seconds} s per server and round"
echo "# name replies/s cpu_us/reply user_us sys_us server_cpu_utilisation rss_kb"
for round in $(seq "$rounds"); do
  echo "# round $round"
  # rotate the order so no server always runs right after the same one
  for i in $(seq 0 $((${#servers[@]} - 1))); do
    run_server "${servers[$(((i + round - 1) % ${#servers[@]}))]}"
  done
done

# System calls per reply, one short pass per server (perf's syscall tracepoint has a cost of
# its own, so this is not done during the timed rounds).
if [ "${SERVE_SYSCALLS:-1}" = 1 ] && command -v perf >/dev/null; then
  echo "# system calls per reply"
  pass=syscalls
  for name in "${servers[@]}"; do run_server "$name"; done
  pass=cpu
fi

# Instructions in our serving thread per request: callgrind, only inside the worker loop.
instr=n/a
if [ "${SERVE_CALLGRIND:-1}" = 1 ] && command -v valgrind >/dev/null; then
  cg_requests=20000
  ip netns exec "$srv" "${nocap[@]}" valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
    '--toggle-collect=*Round::run*' "$bin/ntpkit" ntpd -n --observe-only -4 --threads 1 -c "$work/ours.conf" \
    >"$work/cg.log" 2>&1 &
  disown
  for _ in $(seq 100); do
    if load --requests 10 --threads 1 --seconds 1 | grep -q 'replies=10 '; then break; fi
    sleep 0.3
  done
  cg_out=$(load --requests $cg_requests --threads 1 --window 16 --seconds 60)
  # callgrind writes its counts at exit, which takes it a while
  for p in $(ip netns pids "$srv"); do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 100); do [ -z "$(ip netns pids "$srv")" ] && break; sleep 0.1; done
  # + the 10 replies of the probe that found it ready
  cg_replies=$(( $(sed -E 's/.*replies=([0-9]+).*/\1/' <<<"$cg_out") + 10 ))
  bench_kill_ns "$srv"
  sleep 0.5
  ir=$(awk '/^summary:/ {print $2}' "$work/cg.out" 2>/dev/null || true)
  # nothing counted (the loop inlined away, say) must not read as a tiny figure
  if [ "${ir:-0}" -gt 100000 ] && [ "${cg_replies:-0}" -gt 0 ]; then
    instr=$(awk -v i="$ir" -v r="$cg_replies" 'BEGIN { printf "%.0f", i / r }')
  fi
  echo "# callgrind: $ir instructions in the serving thread for $cg_replies replies ($cg_out) = $instr per request"
fi

med() { awk -v n="$1" -v c="$2" '$1 == n {print $c}' "$work/results" | sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "n/a"}'; }
spread() { awk -v n="$1" -v c="$2" '$1 == n {print $c}' "$work/results" | sort -g | awk 'NR==1 {lo=$1} {hi=$1} END {if (NR) print lo "–" hi; else print "n/a"}'; }
echo "# medians over $rounds rounds (min–max): replies/s, CPU µs/reply (user, sys), server CPU utilisation, RSS kB"
for name in "${servers[@]}"; do
  printf '%-8s %8s (%s)  %5s (%s)  user %5s  sys %5s  util %4s  rss %s\n' "$name" \
    "$(med "$name" 2)" "$(spread "$name" 2)" "$(med "$name" 3)" "$(spread "$name" 3)" \
    "$(med "$name" 4)" "$(med "$name" 5)" "$(med "$name" 6)" "$(med "$name" 7)"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a+0 > 0 && b+0 > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo "# ours / chronyd replies/s: $(ratio "$(med ours 2)" "$(med chronyd 2)"), ours / ntpsec: $(ratio "$(med ours 2)" "$(med ntpsec 2)")"
# one machine-readable line per server for bench/run
for name in "${servers[@]}"; do
  calls=$( (awk -v n="$name" '$1 == n {print $2}' "$work/syscalls" 2>/dev/null || true) | head -1)
  echo "BENCH serve name=$name syscalls=${calls:-n/a} rps=$(med "$name" 2) rps_range=$(spread "$name" 2) cpu_us=$(med "$name" 3) cpu_range=$(spread "$name" 3) user_us=$(med "$name" 4) sys_us=$(med "$name" 5) util=$(med "$name" 6) rss_kb=$(med "$name" 7)"
done
echo "BENCH serve-setup pinned=$pin rps=$rps window=$window gen_threads=$gen_threads instr_per_request=$instr"
