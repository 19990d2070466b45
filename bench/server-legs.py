#!/usr/bin/env python3
"""Per-client server-side legs from a packet capture on the server's bridge port(s) of the
namespace LAN (issue 19; docs/benchmarks.md "The lowest round trip against chronyd's server").

For every basic-mode reply (its origin is the request's transmit field) of SERVER, paired with
the last request from the same client address and port: the server's turnaround T3 - T2
(from the reply's fields), the reply's "leg to the port" (capture time of the reply on the
server's port - T3: the server's user-space T3 to its packet leaving its namespace, the part
of the reply leg the client cannot influence after the send) and the time since the server's
previous request from anyone (poll phase). Interleaved replies are left out (their T3 is an
earlier packet's).

Capture with nanosecond stamps in the bridge namespace, e.g. for bench/xleave.sh (bridge
namespace nkxl<PID>br, server 1 on port v1):
    ip netns exec nkxl<PID>br dumpcap -q -a duration:S -i v1 -i v2 -w run.pcapng
    bench/server-legs.py run.pcapng [--server 198.18.0.1] [--skip 30]
"""
import argparse
import bisect
import collections
import statistics
import subprocess

NTP_UNIX = 2208988800


def ntp_ns(b):
    """An NTP timestamp (8 bytes) as Unix nanoseconds."""
    v = int.from_bytes(b, "big")
    return ((v >> 32) - NTP_UNIX) * 1_000_000_000 + (((v & 0xFFFFFFFF) * 1_000_000_000) >> 32)


def load(pcap):
    r = subprocess.run(
        ["tshark", "-r", pcap, "-Y", "udp.port==123", "-T", "fields", "-e", "frame.time_epoch",
         "-e", "ip.src", "-e", "ip.dst", "-e", "udp.srcport", "-e", "udp.dstport", "-e",
         "udp.payload"], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"bench/server-legs.py: {pcap}: tshark: {r.stderr.strip()}")
    out = r.stdout
    pk = []
    for line in out.splitlines():
        f = line.split("\t")
        if len(f) < 6 or not f[5]:
            continue
        s, frac = f[0].split(".")
        t = int(s) * 10**9 + int(frac.ljust(9, "0")[:9])
        pk.append((t, f[1], f[2], int(f[3]), int(f[4]), bytes.fromhex(f[5].replace(":", ""))))
    return pk


def quantile(xs, p):
    xs = sorted(xs)
    k = (len(xs) - 1) * p
    i = int(k)
    return xs[i] + (xs[min(i + 1, len(xs) - 1)] - xs[i]) * (k - i)


def legs(pk, server, t0):
    reqt = [t for t, _, dst, _, _, pl in pk if dst == server and len(pl) >= 48]
    last = {}
    rows = collections.defaultdict(list)
    for t, src, dst, sp, dp, pl in pk:
        if len(pl) < 48:
            continue
        if dst == server:
            last[(src, sp)] = (t, pl)
        elif src == server and (dst, dp) in last:
            rt, req = last.pop((dst, dp))
            if t < t0 or pl[24:32] != req[40:48]:
                continue
            t2, t3 = ntp_ns(pl[32:40]), ntp_ns(pl[40:48])
            i = bisect.bisect_left(reqt, rt)
            gap = (rt - reqt[i - 1]) / 1e6 if i > 0 else float("inf")
            rows[dst].append({"leg": (t - t3) / 1e3, "turn": (t3 - t2) / 1e3, "gap_ms": gap})
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pcap")
    ap.add_argument("--server", action="append", help="server address (default 198.18.0.1 and .2)")
    ap.add_argument("--skip", type=float, default=30, help="seconds left out at the start")
    a = ap.parse_args()
    pk = load(a.pcap)
    if not pk:
        raise SystemExit(f"{a.pcap}: no NTP packets")
    t0 = min(p[0] for p in pk) + int(a.skip * 1e9)
    for server in a.server or ["198.18.0.1", "198.18.0.2"]:
        rows = legs(pk, server, t0)
        print(f"# server {server}: T3 -> port µs (min p5 p10 p25 median), T3 - T2 median µs, "
              "turnaround median of the quarter with the lowest legs, gap since the previous "
              "request median / min ms")
        for c in sorted(rows, key=lambda a: [int(x) for x in a.split(".")]):
            r = rows[c]
            if len(r) < 4:
                continue
            lg = [x["leg"] for x in r]
            q25 = quantile(lg, 0.25)
            low = statistics.median(x["turn"] for x in r if x["leg"] <= q25)
            qs = " ".join(f"{quantile(lg, p):6.2f}" for p in (0, 0.05, 0.1, 0.25, 0.5))
            gaps = [x["gap_ms"] for x in r]
            print(f"{c:14} n={len(r):4}  {qs}  turn {statistics.median(x['turn'] for x in r):6.1f}"
                  f"  low-leg turn {low:6.1f}  gap {statistics.median(gaps):8.1f} / {min(gaps):7.2f}")


if __name__ == "__main__":
    main()
