#!/usr/bin/env python3
"""The reply leg (T4 - T3) of basic-mode clients of one chronyd server, side by side on the
namespace LAN (issue 19, docs/benchmarks.md "The basic-mode reply leg from chronyd's
server"). T3 is chronyd's user-space transmit time, T4 the client's kernel receive stamp.

One chronyd 4.3 server (`local stratum 8`, -x, without CAP_SYS_TIME) on host 1; each client
on a host of its own, all polling at the same time every POLL s (with a little jitter):

- `ours` (one per --ours, side by side): our ntpd (`server … minpoll P maxpoll P`,
  --observe-only), from its rawstats;
- `chronyd-ns`: chronyd `noselect` (-x), from its measurements log (reply = delay/2 - offset);
- probe clients (this script), one per SPEC given with --probe NAME=SPEC, SPEC a comma list:
  `port=new` a new connected socket per request (chronyd's way) or `port=fixed` one socket
  for all requests (ours); `bytes=chronyd` (leap 0, precision 32, random transmit field) or
  `bytes=ours` (leap 3, precision 0, the time as transmit field); `after=idle` (block in
  recv right after the send) or `after=spinN` (busy for N µs after the send, then recv);
  `send=msg` sends with sendmsg (chronyd's call) instead of send/sendto;
  `cpu=N` pins the client to CPU N; `ts=chronyd` timestamps as chronyd's client socket
  (SO_TIMESTAMPING software RX+TX, OPT_CMSG) instead of SO_TIMESTAMPNS (Python's timed
  wait then keeps waking while the TX stamps sit on the error queue: a busy client).

Per client: n, and the median and deciles of the reply leg and of the server's turnaround
(T3 - T2) in µs. The probe clients read T4 from SO_TIMESTAMPNS, as ours does.

--chronyd-cpu / --clients-cpu pin the server / every client to one CPU; --server-chronyd
runs the server from another copy of chronyd (a copy shares no page-cache pages, hence no
cached code, with the chronyd clients); --shuffle puts the clients on hosts in random order.

Needs root (namespaces); never touches the clock (nothing has CAP_SYS_TIME; ntpd
--observe-only, chronyd -x); traffic stays in the namespaces.
    bench/chronyd-leg-probe.py [--seconds S] [--warmup S] [--poll P] [--ours [NAME=]BIN]…
        [--chronyd-clients N] [--chronyd-cpu N] [--clients-cpu N] [--server-chronyd PATH]
        [--shuffle] [--keep DIR] [--probe NAME=SPEC]…
"""
import argparse
import datetime
import os
import random
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import netns_lan  # bench/netns_lan.py, beside this script

SO_TIMESTAMPNS = 35
SO_TIMESTAMPING = 37
# chronyd's client socket: software RX and TX stamps, the TX ones with the packet (OPT_CMSG)
CHRONYD_TS = (1 << 1) | (1 << 3) | (1 << 4) | (1 << 10)
MSG_ERRQUEUE = 0x2000
NTP_UNIX = 2208988800
NOCAP = ["setpriv", "--inh-caps=-sys_time", "--bounding-set=-sys_time"]


def ntp_ns(b):
    """An NTP timestamp (8 bytes) as Unix nanoseconds (exact to the ns below)."""
    v = int.from_bytes(b, "big")
    return ((v >> 32) - NTP_UNIX) * 1_000_000_000 + (((v & 0xFFFFFFFF) * 1_000_000_000) >> 32)


def unix_ntp(ns):
    s, n = divmod(ns, 1_000_000_000)
    return ((s + NTP_UNIX) << 32 | ((n << 32) // 1_000_000_000)).to_bytes(8, "big")


def request(kind):
    if kind == "chronyd":
        # chronyd's client: leap 0, v4, mode 3, precision 32, origin/receive 0, random xmt
        return bytes([0x23, 0, 0, 0x20]) + bytes(36) + random.getrandbits(64).to_bytes(8, "big")
    # ours: leap 3 (unsynchronised), v4, mode 3, precision 0, the time as transmit field
    return bytes([0xE3, 0, 0, 0]) + bytes(36) + unix_ntp(time.clock_gettime_ns(time.CLOCK_REALTIME))


def stamped(opts):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if opts.get("ts") == "chronyd":
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING, CHRONYD_TS)
    else:
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    return s


def client(server, spec, seconds, poll, out):
    opts = dict(kv.split("=") for kv in spec.split(",") if kv)
    if "cpu" in opts:
        os.sched_setaffinity(0, {int(opts["cpu"])})
    after = opts.get("after", "idle")
    spin = int(after[4:]) * 1000 if after.startswith("spin") else 0
    by_msg = opts.get("send") == "msg"
    fixed = None
    end = time.monotonic() + seconds
    time.sleep(random.uniform(0, poll))
    with open(out, "w") as f:
        while time.monotonic() < end:
            if opts.get("port", "new") == "fixed":
                if fixed is None:
                    fixed = stamped(opts)
                s = fixed
                if by_msg:
                    send = lambda p: s.sendmsg([p], [], 0, (server, 123))
                else:
                    send = lambda p: s.sendto(p, (server, 123))
            else:
                s = stamped(opts)
                s.connect((server, 123))
                send = (lambda p: s.sendmsg([p])) if by_msg else s.send
            s.settimeout(1.0)
            pkt = request(opts.get("bytes", "chronyd"))
            send(pkt)
            if spin:
                t = time.perf_counter_ns() + spin
                while time.perf_counter_ns() < t:
                    pass
            try:
                while True:
                    data, anc, _, _ = s.recvmsg(256, 256)
                    if len(data) >= 48 and data[24:32] == pkt[40:48]:
                        break
            except socket.timeout:
                data = None
            while opts.get("ts") == "chronyd":
                try:
                    s.recvmsg(256, 512, MSG_ERRQUEUE | socket.MSG_DONTWAIT)
                except OSError:
                    break
            if s is not fixed:
                s.close()
            if data:
                t4 = next((struct.unpack("qq", d[:16]) for _, k, d in anc
                           if k in (SO_TIMESTAMPNS, SO_TIMESTAMPING)), None)
                if t4:
                    t4 = t4[0] * 1_000_000_000 + t4[1]
                    t2, t3 = ntp_ns(data[32:40]), ntp_ns(data[40:48])
                    f.write(f"{time.time():.3f} {(t4 - t3) / 1000:.3f} {(t3 - t2) / 1000:.3f} "
                            f"{t2} {t3} {t4}\n")
                    f.flush()
            time.sleep(poll * random.uniform(0.9, 1.1))


def ours_legs(path):
    """rawstats: MJD s src dst T1 T2 T3 T4 … -> (reply leg, turnaround) in µs."""
    def d(a, b):
        x, y = a.split("."), b.split(".")
        return (int(x[0]) - int(y[0])) * 1e6 + (int(x[1]) - int(y[1])) / 1e3
    rows = []
    for line in open(path):
        f = line.split()
        t = (float(f[0]) - 40587) * 86400 + float(f[1])
        up, down = d(f[5], f[4]), d(f[7], f[6])
        if -1000 < up + down < 1e6:
            rows.append((t, down, d(f[6], f[5])))
    return rows


def chronyd_legs(path):
    rows = []
    for line in open(path):
        if not line[:4].isdigit():
            continue
        f = line.split()
        t = datetime.datetime.strptime(f[0] + " " + f[1], "%Y-%m-%d %H:%M:%S").replace(
            tzinfo=datetime.timezone.utc).timestamp()
        off, delay = float(f[11]) * 1e6, float(f[12]) * 1e6
        rows.append((t, delay / 2 - off, float("nan")))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=180)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--poll", type=int, default=1, help="log2 of the poll interval")
    ap.add_argument("--ours", action="append", default=[],
                    help="[NAME=]BIN, an ntpkit binary: adds our ntpd as a client (repeatable,"
                    " for binaries side by side)")
    ap.add_argument("--chronyd-clients", type=int, default=1, help="how many chronyd-ns")
    ap.add_argument("--chronyd-cpu", type=int, help="pin the server chronyd to this CPU")
    ap.add_argument("--clients-cpu", type=int, help="pin every client to this CPU")
    ap.add_argument("--server-chronyd", help="the server's chronyd binary (default: the clients')")
    ap.add_argument("--probe", action="append", default=[], help="NAME=SPEC (see above)")
    ap.add_argument("--keep", help="copy the raw logs here")
    ap.add_argument("--shuffle", action="store_true", help="clients on hosts in random order")
    ap.add_argument("mode", nargs="*")
    a = ap.parse_args()
    if a.mode[:1] == ["client"]:
        return client(a.mode[1], a.mode[2], int(a.mode[3]), float(a.mode[4]), a.mode[5])
    if os.geteuid() != 0:
        sys.exit("bench/chronyd-leg-probe.py: needs root (network namespaces)")
    chronyd = shutil.which("chronyd") or "/opt/chrony/usr/sbin/chronyd"
    pre = f"nkleg{os.getpid()}"
    tmp = tempfile.mkdtemp()
    poll_s = 2.0 ** a.poll
    clients = []  # (name, host, kind)
    host = 11
    ours_bins = {}
    for k, spec in enumerate(a.ours):
        name, _, path = spec.rpartition("=")
        name = name or ("ours" if k == 0 else f"ours{k + 1}")
        if name in ours_bins:
            sys.exit(f"bench/chronyd-leg-probe.py: --ours {spec}: the name {name} is taken")
        ours_bins[name] = path
        clients.append((name, host, "ours"))
        host += 1
    for k in range(a.chronyd_clients):
        clients.append((f"chronyd-ns{k + 1 if a.chronyd_clients > 1 else ''}", host, "chronyd"))
        host += 1
    for p in a.probe:
        name, spec = p.split("=", 1)
        clients.append((name, host, spec))
        host += 1
    if a.shuffle:
        # which host a client gets (its bridge port, its place in the namespace list) varies
        nums = [c[1] for c in clients]
        random.shuffle(nums)
        clients = [(c[0], n, c[2]) for c, n in zip(clients, nums)]
    hosts = [1] + [c[1] for c in clients]
    procs = []
    try:
        netns_lan.up(pre, hosts)
        for i in hosts:
            os.makedirs(f"{tmp}/h{i}/run", mode=0o700)

        def chrony_conf(i, body):
            d = f"{tmp}/h{i}"
            with open(f"{d}/chrony.conf", "w") as f:
                f.write(body + f"cmdport 0\nbindcmdaddress {d}/run/sock\npidfile {d}/run/pid\n"
                        f"driftfile {d}/drift\n")
            return f"{d}/chrony.conf"

        def run(i, argv):
            log = open(f"{tmp}/h{i}/log", "w")
            procs.append(subprocess.Popen(["ip", "netns", "exec", f"{pre}h{i}"] + NOCAP + argv,
                                          stdout=log, stderr=subprocess.STDOUT))

        pin = ["taskset", "-c", str(a.chronyd_cpu)] if a.chronyd_cpu is not None else []
        run(1, pin + [a.server_chronyd or chronyd, "-x", "-d", "-u", "root", "-f",
                      chrony_conf(1, "local stratum 8\nallow all\n")])
        time.sleep(1.5)
        me = os.path.abspath(__file__)
        cpin = ["taskset", "-c", str(a.clients_cpu)] if a.clients_cpu is not None else []
        for name, i, kind in clients:
            d = f"{tmp}/h{i}"
            if kind == "ours":
                with open(f"{d}/ntp.conf", "w") as f:
                    f.write(f"server 198.18.0.1 minpoll {a.poll} maxpoll {a.poll} iburst\n"
                            f"statsdir {d}/\nstatistics rawstats\n"
                            "filegen rawstats file rawstats type none enable\nrestrict 127.0.0.1\n")
                run(i, cpin + [ours_bins[name], "ntpd", "--observe-only", "-n", "-c", f"{d}/ntp.conf"])
            elif kind == "chronyd":
                run(i, cpin + [chronyd, "-x", "-d", "-u", "root", "-f", chrony_conf(
                    i, f"server 198.18.0.1 minpoll {a.poll} maxpoll {a.poll} iburst noselect\n"
                    f"logdir {d}\nlog measurements\n")])
            else:
                run(i, cpin + [sys.executable, me, "client", "198.18.0.1", kind, str(a.seconds),
                        str(poll_s), f"{d}/probe"])
        start = time.time()
        print(f"# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC: "
              f"{a.seconds} s, poll {poll_s:g} s, warm-up {a.warmup} s; load "
              f"{open('/proc/loadavg').read().split()[:3]}", flush=True)
        time.sleep(a.seconds)
        cut = start + a.warmup
        print(f"{'client':14} {'n':>4}  host {'reply leg µs: median':>20}  {'deciles 1..9':40}  T3-T2 med")
        for name, i, kind in clients:
            d = f"{tmp}/h{i}"
            try:
                if kind == "ours":
                    rows = ours_legs(f"{d}/rawstats")
                elif kind == "chronyd":
                    rows = chronyd_legs(f"{d}/measurements.log")
                else:
                    rows = [tuple(map(float, l.split()[:3])) for l in open(f"{d}/probe")]
            except OSError as e:
                print(f"{name:14} no data ({e})")
                continue
            rows = [r for r in rows if r[0] >= cut]
            if len(rows) < 3:
                print(f"{name:14} {len(rows):4}")
                continue
            legs = [r[1] for r in rows]
            turn = [r[2] for r in rows if r[2] == r[2]]
            dec = " ".join(f"{q:5.1f}" for q in statistics.quantiles(legs, n=10))
            tm = f"{statistics.median(turn):6.1f}" if turn else "   n/a"
            print(f"{name:14} {len(rows):4}  h{i:<3} {statistics.median(legs):20.2f}  {dec:40}  {tm}",
                  flush=True)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        netns_lan.down(pre, hosts)
        if a.keep:
            shutil.copytree(tmp, a.keep, dirs_exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
