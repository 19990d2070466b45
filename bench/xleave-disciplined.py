#!/usr/bin/env python3
"""The disciplined figure of the truth-is-zero benchmark over several runs (issue 19).

bench/xleave.sh reports, per client, the median and RMS of the offset it would correct (its
estimate of the clock's offset, true value 0): our loopstats, a selected chronyd's System
time. Within one run that series is one estimate slowly refined, so its figures are about one
number per run, not one per sample: against a server that stamps its transmit time in user
space (chronyd's and NTPsec's in basic mode) each client's estimate ends at the offset of the
least-delayed samples it drew, and which client drew the lower tail is luck of the run and
the host (docs/benchmarks.md). xleave-compare.py's bootstrap over samples says nothing about
that; only more runs do. So this script takes each run's figure as one observation and
compares clients pairwise over the runs: the mean over runs of each client's median, the RMS
over all runs (root of the mean of the runs' squared RMS), and the paired differences ours −
other run by run, with a Student t 95 % interval of their mean and a verdict ("ours better"
when the whole interval is below 0, "ours worse" above, "parity" when it straddles 0). A line
per pair gives each client's lower tail: the mean over the runs of its least delay (request
+ reply leg, from the run's `samples` files, which start after the warm-up), which is what
the estimate ends at.

  bench/xleave-disciplined.py DIR...

DIR: a run's raw directory (bench/xleave.sh's XLEAVE_KEEP): its `bench` file (the BENCH
lines), `clients` file and each client's hSK/samples. Pool runs of the same binaries (a line
warns where their `binaries` files differ), and runs with both host layouts
(XLEAVE_HOSTSWAP=0 and 1) so that the host a client drew averages out; a line warns where
some runs were XLEAVE_PIN=1 (a `pinned` file) and some not.
"""

import math
import os
import sys

PAIRS = [("ours", "chronyd"), ("ours+xleave", "chronyd+xleave"),
         ("ours", "base"), ("ours+xleave", "base+xleave")]
SERVERS = ["chronyd", "ntpsec", "ours"]

# two-sided 95 % quantiles of Student's t, by degrees of freedom (1 … 30; beyond, 1.96)
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


class BadInput(Exception):
    pass


def read_bench(rundir):
    """{(server, client): (median µs, RMS µs)} of the disciplined figures in a run's `bench`
    file (clients without one, chronyd-ns, are left out)."""
    path = os.path.join(rundir, "bench")
    out = {}
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.startswith("BENCH xleave "):
                continue
            fields = dict(kv.split("=", 1) for kv in line.split()[2:] if "=" in kv)
            try:
                key = (fields["server"], fields["client"])
                dm, dr = fields["disciplined_median_us"], fields["disciplined_rms_us"]
            except KeyError as e:
                raise BadInput(f"{path}:{lineno}: no {e.args[0]}= in the BENCH line") from None
            if dm == "n/a" or dr == "n/a":
                continue
            try:
                out[key] = (float(dm), float(dr))
            except ValueError:
                raise BadInput(f"{path}:{lineno}: not a number: {dm!r} or {dr!r}") from None
    if not out:
        raise BadInput(f"{path}: no BENCH line with a disciplined figure")
    return out


def least_delays(rundir):
    """{(server, client): least request + reply leg in µs} from a run's samples files."""
    listing = os.path.join(rundir, "clients")
    out = {}
    if not os.path.exists(listing):
        return out
    with open(listing) as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if len(fields) != 3:
                raise BadInput(f"{listing}:{lineno}: expected 'host server client'")
            path = os.path.join(rundir, fields[0], "samples")
            if not os.path.exists(path):
                continue
            least = math.inf
            with open(path) as s:
                for n, sample in enumerate(s, 1):
                    legs = sample.split()
                    if len(legs) < 4:
                        raise BadInput(f"{path}:{n}: expected 'time offset request reply'")
                    try:
                        least = min(least, (float(legs[2]) + float(legs[3])) * 1e6)
                    except ValueError:
                        raise BadInput(f"{path}:{n}: not a number") from None
            if least < math.inf:
                out[(fields[1], fields[2])] = least
    return out


def t_interval(diffs):
    """The mean of paired differences and its Student t 95 % interval (None for one run)."""
    n = len(diffs)
    mean = sum(diffs) / n
    if n < 2:
        return mean, None
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    half = (T975[n - 2] if n - 1 <= len(T975) else 1.96) * sd / math.sqrt(n)
    return mean, (mean - half, mean + half)


def verdict(ci):
    if ci is None:
        return "one run"
    if ci[1] < 0:
        return "ours better"
    if ci[0] > 0:
        return "ours worse"
    return "parity"


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    try:
        runs = [(d, read_bench(d), least_delays(d)) for d in argv]
    except (BadInput, OSError) as e:
        print(f"xleave-disciplined: {e}", file=sys.stderr)
        return 2
    print(f"# disciplined offset, |estimate| µs (truth 0), over {len(runs)} runs: "
          + ", ".join(d for d, _, _ in runs))
    binaries = set()
    for d, _, _ in runs:
        path = os.path.join(d, "binaries")
        if os.path.exists(path):
            with open(path) as f:
                binaries.add(f.read())
    pinned = {os.path.exists(os.path.join(d, "pinned")) for d, _, _ in runs}
    if len(pinned) > 1:
        print("# warning: some of these runs had the servers and clients on separate CPUs"
              " (XLEAVE_PIN=1, a `pinned` file) and some not")
    if len(binaries) > 1:
        print("# warning: these runs did not all run the same binaries (their `binaries` files"
              " differ)")
    print(f"{'server':8} {'ours vs':15} {'figure':6} {'ours':>6} {'other':>6}"
          f" {'ours − other [t 95 %]':>26} {'ours ≤ other':>12}  {'verdict':11}  runs (ours/other)")
    tally = {}
    tails = []
    for server in SERVERS:
        for a, b in PAIRS:
            paired = [(run[(server, a)], run[(server, b)], least)
                      for _, run, least in runs if (server, a) in run and (server, b) in run]
            if not paired:
                continue
            for i, figure in enumerate(("median", "RMS")):
                ours = [x[0][i] for x in paired]
                other = [x[1][i] for x in paired]
                if figure == "median":
                    fa, fb = sum(ours) / len(ours), sum(other) / len(other)
                else:
                    fa = math.sqrt(sum(v * v for v in ours) / len(ours))
                    fb = math.sqrt(sum(v * v for v in other) / len(other))
                mean, ci = t_interval([x - y for x, y in zip(ours, other)])
                wins = sum(x <= y for x, y in zip(ours, other))
                v = verdict(ci)
                shown = f"{mean:+.2f}" + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "")
                per_run = " ".join(f"{x:.2f}/{y:.2f}" for x, y in zip(ours, other))
                print(f"{server:8} {b:15} {figure:6} {fa:6.2f} {fb:6.2f} {shown:>26}"
                      f" {f'{wins} of {len(paired)}':>12}  {v:11}  {per_run}")
                if b.startswith("chronyd"):
                    tally.setdefault(figure, {}).setdefault(v, 0)
                    tally[figure][v] += 1
            la = [x[2].get((server, a)) for x in paired]
            lb = [x[2].get((server, b)) for x in paired]
            if all(v is not None for v in la + lb):
                tails.append(f"{server} {a} {sum(la) / len(la):.2f} vs {b}"
                             f" {sum(lb) / len(lb):.2f}")
    if tally:
        print("# ours vs chronyd: " + "; ".join(
            f"{figure} " + ", ".join(f"{v} {n}" for v, n in sorted(c.items()))
            for figure, c in tally.items()))
    if tails:
        print("# the lower tail drawn after the warm-up, mean over the runs of each client's least delay (µs): "
              + "; ".join(tails))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
