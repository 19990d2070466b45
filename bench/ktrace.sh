# bench/ktrace.sh: a kernel trace of the network path during a bench run, sourced by a
# bench script (bench/xleave.sh with XLEAVE_TRACE=1). `ktrace_start` clears the ftrace ring
# buffer and records, on every CPU, each packet's transmit on a device and its receive into
# a backlog (net:net_dev_start_xmit, net:netif_rx, with the skb's address, so one packet
# can be followed across veth and bridge), the NET_RX softirq (raise, entry, exit), what the
# scheduler switches to and wakes, and the interrupts and timer ticks that can come in
# between; `ktrace_stop DIR` stops it, writes DIR/ktrace.gz (the trace, clock "tai", which
# is CLOCK_REALTIME plus DIR/ktrace-tai-offset s, 0 unless a daemon set the TAI offset),
# DIR/ktrace-stats (per-CPU overruns: a trace that lost events says so) and puts tracefs back
# as it found it. Diagnostic only: each event costs the CPU that records it about 0.1 µs,
# so a traced run's legs are not the figures. bench/xleave-trace.py reads the trace.
# One traced run at a time: tracefs is the machine's, and a run's stop resets it.
ktrace_dir=/sys/kernel/tracing
ktrace_on=0
ktrace_events=(net/net_dev_start_xmit net/netif_rx irq/softirq_raise irq/softirq_entry
  irq/softirq_exit sched/sched_switch sched/sched_wakeup irq/irq_handler_entry
  irq_vectors/local_timer_entry)
ktrace_start() {
  [ -e "$ktrace_dir/trace" ] || mount -t tracefs nodev "$ktrace_dir"
  local t=$ktrace_dir e
  ktrace_old_on=$(cat "$t/tracing_on")
  echo 0 >"$t/tracing_on"
  ktrace_old_clock=$(sed 's/.*\[\(.*\)\].*/\1/' "$t/trace_clock")
  # "1408", or "7 (expanded: 1408)" before the buffer was first used
  ktrace_old_size=$(sed 's/.*expanded: \([0-9]*\).*/\1/; s/ .*//' "$t/buffer_size_kb")
  echo tai >"$t/trace_clock"
  # ~150 bytes an event, some thousands a second on an idle 2-CPU machine: 256 MiB a CPU
  # holds a 10-minute run with room to spare (ktrace-stats shows any overrun)
  echo 262144 >"$t/buffer_size_kb"
  echo nop >"$t/current_tracer"
  echo >"$t/trace"
  for e in irq/softirq_raise irq/softirq_entry irq/softirq_exit; do
    echo 'vec == 3' >"$t/events/$e/filter" # NET_RX only; the timer and RCU ones are many
  done
  for e in "${ktrace_events[@]}"; do echo 1 >"$t/events/$e/enable"; done
  ktrace_on=1
  echo 1 >"$t/tracing_on"
}
ktrace_stop() { # DIR (empty: discard)
  [ "$ktrace_on" = 1 ] || return 0
  local t=$ktrace_dir e c
  echo 0 >"$t/tracing_on"
  if [ -n "${1:-}" ]; then
    cat "$t/trace" | gzip -1 >"$1/ktrace.gz" # (the file's size is not its length)
    python3 -c 'import time; print("%.6f" % (time.clock_gettime(time.CLOCK_TAI) - time.clock_gettime(time.CLOCK_REALTIME)))' >"$1/ktrace-tai-offset"
    for c in "$t"/per_cpu/cpu*; do echo "${c##*/} $(grep -E '^(overrun|dropped events):' "$c/stats" | tr '\n' ' ')"; done >"$1/ktrace-stats"
  fi
  for e in "${ktrace_events[@]}"; do echo 0 >"$t/events/$e/enable"; done
  for e in irq/softirq_raise irq/softirq_entry irq/softirq_exit; do echo 0 >"$t/events/$e/filter"; done
  echo >"$t/trace"
  echo "$ktrace_old_clock" >"$t/trace_clock"
  echo "$ktrace_old_size" >"$t/buffer_size_kb"
  echo "$ktrace_old_on" >"$t/tracing_on"
  ktrace_on=0
}
