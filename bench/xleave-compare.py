#!/usr/bin/env python3
"""Is our client better than chronyd's, or only luckier this run? (issue 19, bench/xleave.sh)

Reads the raw directory of one or more bench/xleave.sh runs (the per-client `samples` files
it keeps, or for older runs the clients' rawstats / chronyd measurements logs) and prints,
per server and per pair of clients (ours vs chronyd-ns, ours+xleave vs chronyd-ns+xleave,
and ours vs base when the run had XLEAVE_BASE clients): each client's median and RMS of
|offset| of raw samples with a bootstrap 95 % interval, the difference ours - other with its
bootstrap interval, and a verdict per figure: "ours better" (the whole interval of the
difference below 0), "ours worse" (above 0) or "parity" (it straddles 0).

The bootstrap resamples each client's samples with replacement (independently per client;
with several directories, within each run, so every run keeps its weight) and takes the
2.5th and 97.5th percentiles of the resampled figures. Consecutive samples of a client are
often not independent (a server warming up, load phases; the more so at 2 s polls,
XLEAVE_POLL=1), and resampling them one by one then makes the intervals too narrow. So by
default (--bootstrap auto) a client's series in a run whose lag-1 autocorrelation r of
|offset| exceeds 2/sqrt(n) (about the 97.5th percentile of r for n independent samples) is
resampled in blocks: the circular block bootstrap (Politis & Romano 1992), blocks of L
consecutive samples from random starts, wrapping at the end, L from the AR(1) plug-in rule
for the moving/circular block bootstrap, L = (3n/2)^(1/3) (2r/(1 - r^2))^(2/3) (Politis &
White 2004, r at most 0.95), at least n^(1/3) and at most n/3; the other series are
resampled sample by sample (iid). --bootstrap iid / block forces one way for every series
(block with the same L rule), --block-length L fixes L. A line under the table names the
series resampled in blocks with their r and L. The intervals still cover only the noise
within a run, not effects fixed for a whole run (which host a client drew, that host's reply
leg), which only more runs with swapped hosts average out (bench/xleave.sh XLEAVE_HOSTSWAP=1,
then --pool). The seed is fixed, so a rerun prints the same.

  bench/xleave-compare.py [--resamples N] [--seed S] [--bootstrap auto|iid|block]
      [--block-length L] [--warmup S] [--from-logs] DIR[:swap]...
  bench/xleave-compare.py --pool DIR[:swap]...   one table over all the runs (like with like!);
      where a kind sat on other hosts in other runs (XLEAVE_HOSTSWAP=1), a line says which

DIR: a run's raw directory (bench/xleave.sh keeps it in target/bench-out/xleave, or in
XLEAVE_KEEP). Host hSK is client K of server S; a run's `clients` file names them; without
one (runs before it was written) the fixed layout is assumed, and `:swap` says the run was
XLEAVE_SWAP=1 (ours and base on each other's hosts). Without `samples` files the samples
are taken from the logs after --warmup seconds (default 60) from the run's first sample;
--from-logs does so where they exist too (runs before bench/xleave.sh's -1 ms delay filter),
cutting where the run's `samples` files start.
"""

import argparse
import math
import os
import random
import sys
from datetime import datetime, timezone

SERVERS = {1: "chronyd", 2: "ntpsec", 3: "ours"}  # as bench/xleave.sh names them
KINDS = {1: "ours", 2: "ours+xleave", 3: "chronyd", 4: "chronyd+xleave",
         5: "chronyd-ns", 6: "chronyd-ns+xleave", 7: "base", 8: "base+xleave"}
SWAP = {1: 7, 2: 8, 7: 1, 8: 2}
PAIRS = [("ours", "chronyd-ns"), ("ours+xleave", "chronyd-ns+xleave"),
         ("ours", "base"), ("ours+xleave", "base+xleave")]
FIGURES = ("median", "RMS")


class BadInput(Exception):
    pass


# --- statistics -------------------------------------------------------------------------

def median(v):
    s = sorted(v)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def rms(v):
    return math.sqrt(sum(x * x for x in v) / len(v))


def figures(v):
    return (median(v), rms(v))


def percentile(sorted_v, p):
    """Linear interpolation between the closest ranks."""
    x = p * (len(sorted_v) - 1)
    i = int(x)
    j = min(i + 1, len(sorted_v) - 1)
    return sorted_v[i] + (sorted_v[j] - sorted_v[i]) * (x - i)


def interval(values):
    s = sorted(values)
    return (percentile(s, 0.025), percentile(s, 0.975))


def lag1(v):
    """The lag-1 autocorrelation of a series (0 for a constant one)."""
    n = len(v)
    m = sum(v) / n
    var = sum((x - m) ** 2 for x in v)
    if var == 0:
        return 0.0
    return sum((v[i] - m) * (v[i + 1] - m) for i in range(n - 1)) / var


def block_plan(v, how, fixed=None):
    """(r, L) for one series in time order: L = 1 resamples it sample by sample (iid), L > 1
    in circular blocks of L (the module's docstring: when and how long)."""
    n = len(v)
    r = lag1(v) if n > 2 else 0.0
    if how == "iid" or n < 8 or (how == "auto" and r <= 2 / math.sqrt(n)):
        return r, 1
    if fixed:
        return r, max(1, min(fixed, n))
    rho = min(max(r, 0.0), 0.95)
    plug_in = (1.5 * n) ** (1 / 3) * (2 * rho / (1 - rho * rho)) ** (2 / 3)
    return r, max(2, math.ceil(min(max(plug_in, n ** (1 / 3)), n / 3)))


def resample(rng, run, length):
    """One bootstrap resample of `run`: iid (length 1) or circular blocks of `length`."""
    n = len(run)
    if length <= 1:
        return rng.choices(run, k=n)
    ring = run + run[:length - 1]
    out = []
    while len(out) < n:
        start = rng.randrange(n)
        out.extend(ring[start:start + length])
    return out[:n]


def replicates(runs, resamples, seed, lengths=None):
    """`resamples` bootstrap replicates of (median, RMS) of one client's |offsets|, each
    run's samples resampled within that run (in blocks of that run's length, 1 = iid)."""
    rng = random.Random(seed)
    lengths = lengths or [1] * len(runs)
    out = []
    for _ in range(resamples):
        v = []
        for run, length in zip(runs, lengths):
            v.extend(resample(rng, run, length))
        out.append(figures(v))
    return out


def verdict(lo, hi):
    if hi < 0:
        return "ours better"
    if lo > 0:
        return "ours worse"
    return "parity"


# --- reading a run ----------------------------------------------------------------------

def number(text, where):
    try:
        return float(text)
    except ValueError:
        raise BadInput(f"{where}: not a number: {text!r}") from None


def read_samples(path):
    """A `samples` file: "time offset request-leg reply-leg" in seconds, per line."""
    out = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if len(fields) < 2:
                raise BadInput(f"{path}:{lineno}: expected 'time offset …', got {line.strip()!r}")
            out.append((number(fields[0], f"{path}:{lineno}"), number(fields[1], f"{path}:{lineno}")))
    return out


def ntp_seconds(text, where):
    """An NTP timestamp as rawstats logs it, "seconds.nanoseconds", to integer ns (a double
    holds NTP time to ~0.5 µs only)."""
    sec, _, frac = text.partition(".")
    if not sec.isdigit() or not (frac.isdigit() or frac == "") or len(frac) > 9:
        raise BadInput(f"{where}: not a timestamp: {text!r}")
    return int(sec) * 10**9 + int(frac.ljust(9, "0"))


def read_rawstats(path):
    """Our rawstats: MJD seconds src dst T1 T2 T3 T4 …; a reply no sample came from (a
    nonsense delay) is left out, as bench/xleave.sh does."""
    out = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            where = f"{path}:{lineno}"
            fields = line.split()
            if len(fields) < 8:
                raise BadInput(f"{where}: expected 'MJD s src dst T1 T2 T3 T4 …'")
            t1, t2, t3, t4 = (ntp_seconds(x, where) for x in fields[4:8])
            up, down = (t2 - t1) * 1e-9, (t4 - t3) * 1e-9
            if -1e-3 < up + down < 1:
                t = (number(fields[0], where) - 40587) * 86400 + number(fields[1], where)
                out.append((t, (up - down) / 2))
    return out


def read_measurements(path):
    """chronyd's measurements log: "YYYY-MM-DD HH:MM:SS IP L St 123 567 ABCD LP RP Score
    Offset …" data lines (headers start with spaces or '=')."""
    out = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line[:4].isdigit():
                continue
            where = f"{path}:{lineno}"
            fields = line.split()
            if len(fields) < 12:
                raise BadInput(f"{where}: expected chronyd's measurements columns")
            try:
                when = datetime.strptime(f"{fields[0]} {fields[1]}", "%Y-%m-%d %H:%M:%S")
            except ValueError:
                raise BadInput(f"{where}: not a date: {fields[0]} {fields[1]}") from None
            out.append((when.replace(tzinfo=timezone.utc).timestamp(), number(fields[11], where)))
    return out


def clients_of(rundir, swapped):
    """{host directory: (server, client)} of a run."""
    listing = os.path.join(rundir, "clients")
    out = {}
    if os.path.exists(listing):
        with open(listing) as f:
            for lineno, line in enumerate(f, 1):
                fields = line.split()
                if len(fields) != 3:
                    raise BadInput(f"{listing}:{lineno}: expected 'host server client'")
                out[fields[0]] = (fields[1], fields[2])
        return out
    for s, server in SERVERS.items():
        for k, client in KINDS.items():
            host = f"h{s}{SWAP.get(k, k) if swapped else k}"
            if os.path.isdir(os.path.join(rundir, host)):
                out[host] = (server, client)
    return out


def read_logs(d):
    """A client's samples from its own logs (None without any)."""
    if os.path.exists(os.path.join(d, "rawstats")):
        return read_rawstats(os.path.join(d, "rawstats"))
    if os.path.exists(os.path.join(d, "measurements.log")):
        return read_measurements(os.path.join(d, "measurements.log"))
    return None


def load_run(spec, warmup, from_logs):
    """{(server, client): [|offset| µs]} of one run directory (DIR or DIR:swap)."""
    rundir, swapped = spec.removesuffix(":swap"), spec.endswith(":swap")
    if not os.path.isdir(rundir):
        raise BadInput(f"{rundir}: no such directory")
    clients = clients_of(rundir, swapped)
    if not clients:
        raise BadInput(f"{rundir}: no client directories (h11 … h38) in it")
    kept = {}
    for host, key in clients.items():
        path = os.path.join(rundir, host, "samples")
        if os.path.exists(path):
            kept[key] = read_samples(path)
    if kept and not from_logs:
        timed = kept
    else:
        timed = {key: read_logs(os.path.join(rundir, host)) for host, key in clients.items()}
        timed = {k: v for k, v in timed.items() if v is not None}
        if kept:
            # the run's own cut: its first kept sample (nothing any client logged lies between
            # the warm-up's end and that), and each client's last (the logs go on until the
            # daemons are stopped, after the report; a last sample the old -1 µs filter
            # dropped stays dropped)
            cut = min((t for v in kept.values() for t, _ in v), default=0)
            end = max((t for v in kept.values() for t, _ in v), default=0)
            ends = {k: max((t for t, _ in v), default=end) for k, v in kept.items()}
        else:
            # the warm-up from the run's first sample (bench/xleave.sh counts it from just
            # before the clients start, a second or two earlier)
            cut = min((t for v in timed.values() for t, _ in v), default=0) + warmup
            ends = {}
        timed = {k: [(t, o) for t, o in v if cut <= t <= ends.get(k, math.inf)]
                 for k, v in timed.items()}
    # in time order: the block bootstrap resamples runs of consecutive samples
    return {k: [abs(o) * 1e6 for _, o in sorted(v, key=lambda s: s[0])] for k, v in timed.items()}


# --- the report -------------------------------------------------------------------------

def fmt_ci(value, ci, signed=False):
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"{f.format(value)} [{f.format(ci[0])}, {f.format(ci[1])}]"


def compare(runs, resamples, seed, how="auto", block_length=None):
    """Rows (server, a, b, figure, a's, b's, difference, verdict) for every pair present, the
    clients without samples, and {client: [(r, L) per run]} of those resampled in blocks."""
    keys = sorted({k for run in runs for k in run})
    per_client = {}
    blocked = {}
    for key in keys:
        strata = [run[key] for run in runs if run.get(key)]
        if strata:
            plans = [block_plan(s, how, block_length) for s in strata]
            if any(length > 1 for _, length in plans):
                blocked[key] = plans
            reps = replicates(strata, resamples, f"{seed}/{key[0]}/{key[1]}",
                              [length for _, length in plans])
            per_client[key] = (figures([x for s in strata for x in s]), reps, sum(map(len, strata)))
    empty = [k for k in keys if k not in per_client]
    rows = []
    servers = list(SERVERS.values())
    servers += sorted({s for s, _ in keys} - set(servers))
    for server in servers:
        for a, b in PAIRS:
            if (server, a) not in per_client or (server, b) not in per_client:
                continue
            (fa, ra, na), (fb, rb, nb) = per_client[(server, a)], per_client[(server, b)]
            for i, name in enumerate(FIGURES):
                ca = interval([r[i] for r in ra])
                cb = interval([r[i] for r in rb])
                diffs = [x[i] - y[i] for x, y in zip(ra, rb)]
                cd = interval(diffs)
                rows.append((server, a, b, name, (fa[i], ca, na), (fb[i], cb, nb),
                             (fa[i] - fb[i], cd), verdict(*cd)))
    return rows, empty, blocked


def report(title, result, out):
    rows, empty, blocked = result
    print(f"# {title}", file=out)
    print(f"{'server':8} {'ours vs':18} {'figure':6} {'ours µs [95 %]':>27} {'n':>4}"
          f" {'other µs [95 %]':>27} {'n':>4} {'ours − other [95 %]':>27}  verdict", file=out)
    tally = {}
    for server, a, b, name, (va, ca, na), (vb, cb, nb), (vd, cd), v in rows:
        print(f"{server:8} {b:18} {name:6} {fmt_ci(va, ca):>27} {na:4} {fmt_ci(vb, cb):>27}"
              f" {nb:4} {fmt_ci(vd, cd, True):>27}  {v}", file=out)
        if a.replace("+xleave", "") == "ours" and b.startswith("chronyd-ns"):
            tally.setdefault(name, {}).setdefault(v, 0)
            tally[name][v] += 1
    if tally:
        print("# ours vs chronyd-ns: " + "; ".join(
            f"{name} " + ", ".join(f"{v} {n}" for v, n in sorted(c.items()))
            for name, c in tally.items()), file=out)
    if empty:
        print("# no samples (after the warm-up) from: "
              + ", ".join(f"{c} of {s}" for s, c in empty), file=out)
    shown = {(server, c) for server, a, b, *_ in rows for c in (a, b)}
    blocked = {k: v for k, v in blocked.items() if k in shown}
    if blocked:
        print("# block bootstrap (autocorrelated: lag-1 r, block length L): " + "; ".join(
            f"{c} of {s} " + ", ".join(f"r {r:.2f} " + (f"L {n}" if n > 1 else "iid")
                                       for r, n in plans)
            for (s, c), plans in blocked.items()), file=out)
    print("# intervals: the noise of the samples within a run only; two copies of one binary"
          " on two hosts differed by 0.06 µs (interleaved median, docs/benchmarks.md)", file=out)
    if any(server == "ntpsec" and "xleave" in a for server, a, *_ in rows):
        print("# (NTPsec's server has no interleaved mode: its +xleave rows are basic mode)", file=out)


def placements(specs):
    """"kind K1/K2…" for each client kind whose host differs between the runs (K: its host's
    last digit, hSK = client K of server S; a bench/xleave.sh XLEAVE_HOSTSWAP=1 run pooled with
    a plain one), or "" where every kind kept its host."""
    per_run = []
    for spec in specs:
        rundir, swapped = spec.removesuffix(":swap"), spec.endswith(":swap")
        kinds = {}
        for host, (_, kind) in clients_of(rundir, swapped).items():
            kinds.setdefault(kind, set()).add(host[2:])
        per_run.append({k: ",".join(sorted(v)) for k, v in kinds.items()})
    moved = [k for k in KINDS.values() if len({run.get(k) for run in per_run} - {None}) > 1]
    return ", ".join(f"{k} " + "/".join(run.get(k, "-") for run in per_run) for k in moved)


def binaries(spec):
    """A run's `binaries` file (checksums of our binaries; runs before it have none)."""
    path = os.path.join(spec.removesuffix(":swap"), "binaries")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return f.read()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dirs", nargs="+", metavar="DIR[:swap]")
    p.add_argument("--pool", action="store_true",
                   help="one table over all the runs (runs of the same binaries only)")
    p.add_argument("--resamples", type=int, default=4000)
    p.add_argument("--seed", default="1")
    p.add_argument("--bootstrap", choices=("auto", "iid", "block"), default="auto",
                   help="auto (default): circular blocks for a series whose lag-1"
                   " autocorrelation exceeds 2/sqrt(n), sample by sample otherwise;"
                   " iid / block: one way for every series")
    p.add_argument("--block-length", type=int, metavar="L",
                   help="the block length wherever blocks are used (default: the AR(1)"
                   " plug-in rule, see the top of this script)")
    p.add_argument("--name", help="what to call the run in the title (default: its directory)")
    p.add_argument("--warmup", type=float, default=60, help="s, for runs without samples files")
    p.add_argument("--from-logs", action="store_true",
                   help="take the samples from the clients' logs with this script's delay filter"
                   " even where the run kept samples files (runs before the -1 ms filter)")
    args = p.parse_args()
    if args.resamples < 100:
        p.error("--resamples: at least 100")
    if args.block_length is not None and args.block_length < 1:
        p.error("--block-length: at least 1")
    try:
        runs = [load_run(d, args.warmup, args.from_logs) for d in args.dirs]
    except (BadInput, OSError) as e:
        print(f"xleave-compare: {e}", file=sys.stderr)
        return 2
    way = {"auto": "in blocks where autocorrelated", "iid": "iid", "block": "in blocks"}
    how = (f"{args.resamples} bootstrap resamples ({way[args.bootstrap]}), seed {args.seed};"
           " |offset| of raw samples")
    stats = dict(how=args.bootstrap, block_length=args.block_length)
    names = [args.name] if args.name and len(args.dirs) == 1 else args.dirs
    if args.pool:
        if len({binaries(d) for d in args.dirs} - {None}) > 1:
            print("# warning: these runs did not all run the same binaries (their `binaries`"
                  " files differ): the pool mixes unlike with unlike")
        report(f"pooled over {len(runs)} runs ({', '.join(names)}): {how}",
               compare(runs, args.resamples, args.seed, **stats), sys.stdout)
        moved = placements(args.dirs)
        if moved:
            print(f"# hosts per run (client K of each server; runs in the order given): {moved}")
    else:
        for d, run in zip(names, runs):
            report(f"{d}: {how}", compare([run], args.resamples, args.seed, **stats), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
