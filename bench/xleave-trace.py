#!/usr/bin/env python3
"""Each request's path through the kernel in a traced bench/xleave.sh run (XLEAVE_TRACE=1).

A packet keeps its skb from the client's `sendmsg` to the server's socket on a veth LAN, so
the trace (bench/ktrace.sh) follows it by address: transmit on the client's eth0 (where the
kernel takes its software transmit stamp, T1), receive into the bridge's backlog on vNN (NN:
the client's host), the bridge's transmit on the server's port vS, and receive into the
backlog of the server's eth0 (where the kernel takes the server's receive stamp, T2, with
net.core.netdev_tstamp_prequeue=1). Its T2 − T1 is the request leg the client's sample
carries, to the trace's 1 µs resolution. The same for replies, server to client.

Prints, per client kind and server, the legs' distribution; which context forwarded the
packets through the bridge (the sender's own `sendmsg`, which runs the softirq on its way
out; ksoftirqd, to which the kernel defers it; or another task an interrupt came in on);
for the slowest packets the events on their CPU from transmit to receive; how often a CPU
went quiet (nothing recorded for over 20 µs) in the middle of a path; and our clients'
samples (rawstats) matched to their packets by T1: where T1 lies on the path, and the
samples whose request leg exceeds the threshold. The trace's clock is CLOCK_TAI: the
script takes it as CLOCK_REALTIME (the TAI offset is 0 unless a daemon set it; the run's
ktrace-tai-offset says).

  bench/xleave-trace.py DIR [--slow US] [--show N]
"""

import argparse
import bisect
import gzip
import os
import re
import sys
from collections import defaultdict

LINE = re.compile(
    r"^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+\[(?P<cpu>\d+)\]\s+\S+\s+(?P<ts>\d+\.\d+): (?P<event>\w+): (?P<rest>.*)$"
)
DEV = re.compile(r"dev=(\S+) .*?skbaddr=(\S+)")


def read_trace(path):
    events = []
    with gzip.open(path, "rt", errors="replace") as f:
        for line in f:
            if line.startswith("#"):
                continue
            m = LINE.match(line)
            if m:
                events.append(
                    (float(m["ts"]), int(m["cpu"]), m["comm"].strip(), m["event"], m["rest"])
                )
    return events


LIST = 20  # packets whose stages are listed
STALL = 20.0  # µs: more than any stretch between two events of an undisturbed path here
NTP_UNIX = 2208988800


def ntp_ns(text):
    """A rawstats timestamp (NTP seconds.nanoseconds) as Unix ns (a double holds only µs)."""
    whole, _, frac = text.partition(".")
    return (int(whole) - NTP_UNIX) * 1_000_000_000 + int(frac.ljust(9, "0")[:9])


def host_of(dev):
    """vNN → NN (the bridge's port of host NN)."""
    return int(dev[1:]) if dev.startswith("v") and dev[1:].isdigit() else None


def follow_packets(events):
    """Chains of (index of each stage) for NTP-sized packets: eth0 out, vNN in, vS out, eth0 in."""
    open_chains = {}
    done = []
    for i, (ts, cpu, comm, ev, rest) in enumerate(events):
        if ev not in ("net_dev_start_xmit", "netif_rx"):
            continue
        m = DEV.search(rest)
        if not m:
            continue
        dev, skb = m.groups()
        if ev == "net_dev_start_xmit" and dev == "eth0":
            # Ethernet + IPv4 + UDP + a 48-byte NTP packet (IPv6 neighbour and multicast
            # packets the kernel sends can be as long, and the bridge floods those)
            if "protocol=0x0800" in rest and " len=90 " in rest + " ":
                open_chains[skb] = {"tx": i}
            else:
                open_chains.pop(skb, None)
            continue
        c = open_chains.get(skb)
        if c is None:
            continue
        if ts - events[c["tx"]][0] > 0.01:  # lost on the way; the skb's memory is reused
            del open_chains[skb]
            continue
        if ev == "netif_rx" and host_of(dev) is not None and "br_rx" not in c:
            c["br_rx"], c["src"] = i, host_of(dev)
        elif ev == "net_dev_start_xmit" and host_of(dev) is not None and "br_rx" in c:
            c["br_tx"], c["dst"] = i, host_of(dev)
        elif ev == "netif_rx" and dev == "eth0" and "br_tx" in c:
            c["rx"] = i
            done.append(open_chains.pop(skb))
    return done


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--slow", type=float, default=3.0, help="a slow leg, µs (default 3)")
    ap.add_argument("--show", type=int, default=8, help="slowest packets to show event by event")
    a = ap.parse_args()
    path = os.path.join(a.dir, "ktrace.gz")
    if not os.path.exists(path):
        sys.exit(f"xleave-trace.py: {path}: no trace (run bench/xleave.sh with XLEAVE_TRACE=1)")
    names = {}
    with open(os.path.join(a.dir, "clients")) as f:
        for line in f:
            h, server, kind = line.split()
            names[int(h[1:])] = (server, kind)
    servers = {1: "chronyd", 2: "ntpsec", 3: "ours"}
    stats_path = os.path.join(a.dir, "ktrace-stats")
    if os.path.exists(stats_path):
        lost = [line.strip() for line in open(stats_path) if not re.search(r"overrun: 0 dropped events: 0", line)]
        if lost:
            print("# the trace lost events:", "; ".join(lost))
    events = read_trace(path)
    chains = follow_packets(events)
    us = lambda c, a_, b_: (events[c[b_]][0] - events[c[a_]][0]) * 1e6  # noqa: E731

    legs = defaultdict(list)  # (server, kind, direction) → [(leg µs, chain)]
    for c in chains:
        src, dst = c["src"], c["dst"]
        if src in names and dst in servers:
            key = (servers[dst], names[src][1], "request")
        elif dst in names and src in servers:
            key = (servers[src], names[dst][1], "reply")
        else:
            continue
        legs[key].append((us(c, "tx", "rx"), c))
    print(f"# {len(chains)} packets followed; legs in µs at the trace's 1 µs resolution")
    print(f"{'server':8} {'client':18} {'leg':8} {'n':>5} {'p50':>5} {'p90':>5} {'p99':>5} {'max':>6} {'>' + str(a.slow):>5}")
    for key in sorted(legs):
        xs = [x for x, _ in legs[key]]
        slow = sum(x > a.slow for x in xs)
        print(
            f"{key[0]:8} {key[1]:18} {key[2]:8} {len(xs):5} {pct(xs, .5):5.0f} {pct(xs, .9):5.0f} "
            f"{pct(xs, .99):5.0f} {max(xs):6.0f} {slow:5}"
        )

    # who moved each packet from the sender's backlog through the bridge
    def forwarder(c):
        tx, br = events[c["tx"]], events[c["br_tx"]]
        if br[2] == tx[2] and br[1] == tx[1]:
            return "sender's own call"
        if br[2].startswith("ksoftirqd"):
            return "ksoftirqd"
        return "other task (" + ("same CPU" if br[1] == tx[1] else "other CPU") + ")"

    every = [(x, c) for v in legs.values() for x, c in v]
    tally = defaultdict(lambda: [0, 0])
    for x, c in every:
        tally[forwarder(c)][x > a.slow] += 1
    print(f"\n# who forwarded through the bridge: packets at most / beyond {a.slow} µs")
    for k, (fast, slow) in sorted(tally.items()):
        print(f"  {k:28} {fast:6} {slow:5}")
    # where in the path the slow ones lost their time
    # a traced path is ~20 µs long, so most packets pass `slow`: the stages of the slowest
    slowest = [(x, c) for x, c in sorted(every, key=lambda t: -t[0]) if x > a.slow]
    who = lambda h: names[h][1] if h in names else servers.get(h, "?")  # noqa: E731
    print(
        f"\n# the stages of the slowest {min(LIST, len(slowest))} of {len(slowest)} packets beyond {a.slow} µs, "
        f"µs: transmit → bridge backlog → bridge transmit → receive"
    )
    for x, c in slowest[:LIST]:
        tx = events[c["tx"]]
        print(
            f"  {tx[0]:.6f} h{c['src']}→h{c['dst']} ({who(c['src'])}→{who(c['dst'])}) {x:5.0f}: "
            f"{us(c, 'tx', 'br_rx'):.0f} + {us(c, 'br_rx', 'br_tx'):.0f} + {us(c, 'br_tx', 'rx'):.0f}; "
            f"cpu {tx[1]} {tx[2]}, forwarded by {events[c['br_tx']][2]} on cpu {events[c['br_tx']][1]}"
        )
    # the slowest, event by event on the CPUs involved
    for x, c in slowest[: a.show]:
        lo, hi = c["tx"], c["rx"]
        cpus = {events[c[s]][1] for s in ("tx", "br_rx", "br_tx", "rx")}
        print(f"\n# {x:.0f} µs, h{c['src']}→h{c['dst']}: every event on cpu {sorted(cpus)} from transmit to receive")
        t0 = events[lo][0]
        for ts, cpu, comm, ev, rest in events[max(0, lo - 3) : hi + 3]:
            if cpu in cpus:
                print(f"  {(ts - t0) * 1e6:+7.0f} [{cpu}] {comm[:20]:20} {ev}: {rest[:90]}")

    # quiet stretches: a CPU that records nothing for tens of µs in the middle of a
    # packet's path was not running this kernel (the hypervisor had it: steal time)
    paths, stalls = 0.0, 0
    for _, c in every:
        cpu = events[c["tx"]][1]
        ts = [e[0] for e in events[c["tx"] : c["rx"] + 1] if e[1] == cpu]
        paths += (ts[-1] - ts[0]) * 1e6
        stalls += any((b - a) * 1e6 > STALL for a, b in zip(ts, ts[1:]))
    rate = stalls / paths if paths else 0.0
    print(
        f"\n# quiet stretches over {STALL:.0f} µs on a packet's CPU in the middle of its path: {stalls} in "
        f"{paths / 1e3:.1f} ms of paths, {rate * 1e3:.2f} per ms"
    )

    # each sample's own packet: ours by the sample's T1 (rawstats), chronyd's by the second
    print(f"\n# samples whose leg exceeds {a.slow} µs, with the path of the packet they timed")
    kernel_kinds = ("ours", "ours+xleave", "base", "base+xleave")
    last_hop = []  # the packets' legs as the clients saw them against the traced last hop
    for h in sorted(names):
        raw = os.path.join(a.dir, f"h{h}", "rawstats")
        if names[h][1] not in kernel_kinds or not os.path.exists(raw):
            continue
        mine = sorted((events[c["br_tx"]][0], x, c) for x, c in legs.get((names[h][0], names[h][1], "request"), []))
        starts = [m[0] for m in mine]
        for line in open(raw):
            f = line.split()
            if len(f) < 8:
                continue
            t1 = ntp_ns(f[4]) / 1e9
            up = (ntp_ns(f[5]) - ntp_ns(f[4])) / 1e3
            j = bisect.bisect_left(starts, t1)
            near = [mine[k] for k in (j - 1, j) if 0 <= k < len(mine) and abs(mine[k][0] - t1) < 50e-6]
            if not near:
                continue
            _, x, c = min(near, key=lambda m: abs(m[0] - t1))
            last_hop.append(((t1 - events[c["tx"]][0]) * 1e6, (t1 - events[c["br_tx"]][0]) * 1e6))
            if up > a.slow:
                print(
                    f"  h{h} {names[h][0]} {names[h][1]}: T1 {t1:.6f} leg {up:.1f} µs; its packet: "
                    f"T1 − bridge transmit {(t1 - events[c['br_tx']][0]) * 1e6:.1f} µs, "
                    f"receive − T1 {(events[c['rx']][0] - t1) * 1e6:.1f} µs (whole path {x:.0f})"
                )
    if last_hop:
        med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
        print(
            f"  {len(last_hop)} of our clients' samples matched to their packets: T1 comes a median "
            f"{med([d for d, _ in last_hop]):.1f} µs after the packet left the client's eth0 and "
            f"{med([d for _, d in last_hop]):.1f} µs after the bridge began its transmit toward the "
            f"server: the kernel's last transmit stamp, which the client keeps (txstamp.rs), is the "
            f"one taken at the bridge's port"
        )


if __name__ == "__main__":
    main()
