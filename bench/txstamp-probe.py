#!/usr/bin/env python3
"""What lies between a datagram's last kernel transmit timestamp and its receiver's
kernel receive timestamp on the namespace LAN (issue 19, docs/benchmarks.md): a client
namespace and a server namespace joined by veth pairs to a bridge, as bench/xleave.sh lays
them. The sender has one UDP socket per configuration and sends from each in turn; per
configuration it prints how many transmit stamps a datagram got, the bridge transit (last
minus first stamp) and the request's leg as an NTP client sees it (the receiver's stamp
minus the last transmit stamp), medians in ns.

Configurations: how ntpkit's client socket is timestamped (SO_TIMESTAMPING software with
OPT_ID and OPT_TSONLY), watched in different ways while it sends, and chronyd's flags
(payload looped back, OPT_CMSG, no OPT_ID/TSONLY), with nothing watching.

Needs root (namespaces); never touches the clock; traffic stays in the namespaces.
    bench/txstamp-probe.py [DATAGRAMS_PER_CONFIG]      (default 400)
"""
import os
import select
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

import netns_lan  # bench/netns_lan.py, beside this script

SO_TIMESTAMPNS = 35
SO_TIMESTAMPING = 37
TX_SOFTWARE, RX_SOFTWARE, SOFTWARE = 1 << 1, 1 << 3, 1 << 4
OPT_ID, OPT_CMSG, OPT_TSONLY = 1 << 7, 1 << 10, 1 << 11
MSG_ERRQUEUE = 0x2000
PORT = 4123
KEEP = []
OURS = SOFTWARE | OPT_ID | OPT_TSONLY | TX_SOFTWARE
CONFIGS = {
    "unwatched": OURS,
    "epoll-registered": OURS,
    "epoll-waiter": OURS,
    "select-waiter": OURS,
    "epoll-del-for-send": OURS,
    "epoll-mod-to-none": OURS,
    "chronyd-flags": SOFTWARE | RX_SOFTWARE | OPT_CMSG | TX_SOFTWARE,
}


def nanos(cmsg_data):
    s, ns = struct.unpack("qq", cmsg_data[:16])
    return s * 1_000_000_000 + ns


def serve(out):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.bind(("0.0.0.0", PORT))
    with open(out, "w") as f:
        while True:
            data, anc, _, _ = s.recvmsg(256, 256)
            if data.startswith(b"quit"):
                return
            for _, kind, d in anc:
                if kind == SO_TIMESTAMPNS:
                    tag = data.split(b"\0")[0].decode()
                    f.write(f"{tag} {nanos(d)}\n")


def watcher(kind, sock):
    """Set up what watches `sock`; returns (before_send, after_send) hooks."""
    nothing = (lambda: None, lambda: None)
    if kind == "select-waiter":
        def wait():
            while True:
                select.select([sock], [], [], 1.0)
                time.sleep(0.0002)
        threading.Thread(target=wait, daemon=True).start()
        return nothing
    if not kind.startswith("epoll"):
        return nothing
    ep = select.epoll()
    KEEP.append(ep)  # alive as long as the sender
    ev = select.EPOLLIN | select.EPOLLET
    ep.register(sock.fileno(), ev)
    if kind == "epoll-waiter":
        def wait():
            while True:
                ep.poll(1.0)
        threading.Thread(target=wait, daemon=True).start()
    if kind == "epoll-del-for-send":
        return (lambda: ep.unregister(sock.fileno()), lambda: ep.register(sock.fileno(), ev))
    if kind == "epoll-mod-to-none":
        return (lambda: ep.modify(sock.fileno(), 0), lambda: ep.modify(sock.fileno(), ev))
    return nothing


def send(dst, n, out):
    socks = {}
    for kind, flags in CONFIGS.items():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING, flags)
        s.setblocking(False)
        socks[kind] = (s, watcher(kind, s))
    with open(out, "w") as f:
        for i in range(n):
            for kind, (s, (pre, post)) in socks.items():
                tag = f"{kind}:{i}"
                pre()
                s.sendto(tag.encode().ljust(48, b"\0"), (dst, PORT))
                post()
                time.sleep(0.002)
                stamps = []
                while True:
                    try:
                        _, anc, _, _ = s.recvmsg(256, 512, MSG_ERRQUEUE)
                    except BlockingIOError:
                        break
                    stamps += [nanos(d) for _, k, d in anc if k == SO_TIMESTAMPING]
                f.write(tag + " " + " ".join(map(str, stamps)) + "\n")
                time.sleep(0.005)
    for s, _ in socks.values():
        s.sendto(b"quit", (dst, PORT))


def main():
    if sys.argv[1:2] == ["serve"]:
        return serve(sys.argv[2])
    if sys.argv[1:2] == ["send"]:
        return send(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    if os.geteuid() != 0:
        sys.exit("bench/txstamp-probe.py: needs root (network namespaces)")
    ns = f"nkprobe{os.getpid()}"
    tmp = f"/tmp/{ns}"
    os.makedirs(tmp, exist_ok=True)
    server = None
    try:
        netns_lan.up(ns, (1, 11))
        me = os.path.abspath(__file__)
        server = subprocess.Popen(["ip", "netns", "exec", f"{ns}h1", sys.executable, me, "serve",
                                   f"{tmp}/rx"])
        time.sleep(0.5)
        netns_lan.sh("ip", "netns", "exec", f"{ns}h11", sys.executable, me, "send", "198.18.0.1",
                     str(n), f"{tmp}/tx")
        server.wait(timeout=10)
        rx = dict(line.split() for line in open(f"{tmp}/rx"))
        rows = {}
        for line in open(f"{tmp}/tx"):
            tag, *st = line.split()
            if tag in rx and st:
                st = list(map(int, st))
                rows.setdefault(tag.split(":")[0], []).append(
                    (len(st), st[-1] - st[0], int(rx[tag]) - st[-1]))
        print(f"{'sender socket':20} {'n':>5} {'stamps':>7} {'transit ns':>11} {'T2−T1 ns':>9}")
        for kind in CONFIGS:
            r = rows.get(kind, [])
            if r:
                med = lambda k: statistics.median(x[k] for x in r)
                print(f"{kind:20} {len(r):5} {med(0):7.0f} {med(1):11.0f} {med(2):9.0f}")
    finally:
        if server and server.poll() is None:
            server.kill()
        netns_lan.down(ns, (1, 11))


if __name__ == "__main__":
    main()
