#!/usr/bin/env python3
"""Fit ntpsim's `user-tx` server model (src/sim/stamps.rs) to a kept bench/xleave.sh run.

A basic-mode server that stamps receive in the kernel and reads its transmit time in user
space before sendmsg (chronyd's, NTPsec's) sends each reply a send latency L after T3, so
the client's reply leg (T4 - T3) is L plus the wire: L = reply leg - wire, with the wire
taken as the median reply leg of interleaved clients of chronyd's server (kernel TX stamp
to kernel RX stamp, the same path without L). The model fitted to L is

    L = floor + exp(mu + sigma * N(0,1))      (the bulk: a shifted log-normal)
          + [with probability p] tail * Exp(1) (preemption, softirq: the long tail)

by least squares between the model's and the data's quantiles of log L at every sample's
plotting position (the model's quantiles from 40000 draws with fixed random numbers, so
the fit is deterministic), Nelder-Mead from a start at the data's own quantiles.

Usage: bench/fit-send-latency.py KEEP_DIR... [--floor US] [--basic h11,h15,...] [--wire h12,h16]
(KEEP_DIR is XLEAVE_KEEP's directory, several are pooled; each hN/samples is "time offset request reply", s.)
Pure Python, a few seconds.
"""
import argparse
import math
import random
import statistics
import sys


def legs(d, host):
    rows = []
    path = f"{d}/{host}/samples"
    try:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                p = line.split()
                if not p:
                    continue
                try:
                    if len(p) != 4:
                        raise ValueError(f"expected 4 fields, got {len(p)}")
                    rows.append([float(x) * 1e6 for x in p[1:]])
                except ValueError as e:
                    sys.exit(f"fit-send-latency: {path}:{n}: {e}")
    except OSError as e:
        sys.exit(f"fit-send-latency: {path}: {e.strerror}")
    if not rows:
        sys.exit(f"fit-send-latency: {path}: no samples")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dirs", nargs="+", metavar="KEEP_DIR")
    ap.add_argument("--basic", default="h11,h15,h21,h22,h25,h26",
                    help="basic-mode clients of user-space-T3 servers (raw, not cooked)")
    ap.add_argument("--wire", default="h12,h16",
                    help="interleaved clients of chronyd's server (the wire's reply leg)")
    ap.add_argument("--floor", type=float,
                    help="fix the floor at this many us instead of fitting it")
    a = ap.parse_args()
    basic = a.basic.split(",")
    q = lambda v, p: v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))]
    # each run's own wire: the runs may differ by a tenth of a microsecond
    lat = []
    for d in a.dirs:
        wire = statistics.median(r[2] for h in a.wire.split(",") for r in legs(d, h))
        print(f"{d}: wire (interleaved reply leg median, {a.wire}): {wire:.2f} us")
        for h in basic:
            rep = sorted(r[2] for r in legs(d, h))
            print(f"  {h}: n {len(rep)}, reply leg min {rep[0]:.2f} median "
                  f"{statistics.median(rep):.2f} q90 {q(rep, 0.9):.2f} max {rep[-1]:.2f} us")
            lat += [x - wire for x in rep]
    lat.sort()
    n = len(lat)
    print(f"send latency L, pooled n {n}: min {lat[0]:.2f} q10 {q(lat, .1):.2f} "
          f"q25 {q(lat, .25):.2f} median {q(lat, .5):.2f} q75 {q(lat, .75):.2f} "
          f"q90 {q(lat, .9):.2f} q97.5 {q(lat, .975):.2f} max {lat[-1]:.2f} us")

    rng = random.Random(1)
    m = 40000
    z = [rng.gauss(0, 1) for _ in range(m)]
    u = [rng.random() for _ in range(m)]
    e = [rng.expovariate(1) for _ in range(m)]
    logs = [math.log(x) for x in lat]
    pos = [(i + 0.5) / n for i in range(n)]

    def draws(th):
        floor, mu, sigma, p, tail = th
        return sorted(floor + math.exp(mu + sigma * zi) + (tail * ei if ui < p else 0.0)
                      for zi, ui, ei in zip(z, u, e))

    def cost(th):
        floor, mu, sigma, p, tail = th
        if not (0 <= floor < lat[0] and 0.01 < sigma < 3 and 0 <= p < 0.5 and 0 <= tail < 500):
            return float("inf")
        s = draws(th)
        return sum((math.log(s[int(pp * m)]) - lg) ** 2 for pp, lg in zip(pos, logs))

    # start: floor just under the minimum, the bulk from the median and quartiles
    f0 = lat[0] - 1.0
    med = q(lat, 0.5) - f0
    start = [f0, math.log(med), math.log((q(lat, .75) - f0) / (q(lat, .25) - f0)) / 1.349,
             0.05, 20.0]
    if a.floor is None:
        best = nelder_mead(cost, start, [1.0, 0.2, 0.1, 0.03, 10.0])
    else:
        start[0] = a.floor
        start[1] = math.log(q(lat, 0.5) - a.floor)
        rest = nelder_mead(lambda th: cost([a.floor] + th), start[1:], [0.2, 0.1, 0.03, 10.0])
        best = [a.floor] + rest
    floor, mu, sigma, p, tail = best
    s = draws(best)
    print(f"fit: floor {floor:.2f} us, bulk exp({mu:.4f} + {sigma:.4f} N) us "
          f"(median {math.exp(mu):.2f} us), tail p {p:.4f} x {tail:.2f} us Exp; "
          f"cost {cost(best):.3f}")
    print(f"model L: min-of-{n} ~{s[int(m / n / 2)]:.2f} q10 {s[int(.1 * m)]:.2f} "
          f"q25 {s[int(.25 * m)]:.2f} median {s[m // 2]:.2f} q75 {s[int(.75 * m)]:.2f} "
          f"q90 {s[int(.9 * m)]:.2f} q97.5 {s[int(.975 * m)]:.2f} mean "
          f"{sum(s) / m:.2f} us (data mean {sum(lat) / n:.2f})")


def nelder_mead(f, x0, step, iters=600):
    k = len(x0)
    pts = [list(x0)] + [[x0[j] + (step[j] if j == i else 0) for j in range(k)]
                        for i in range(k)]
    vals = [f(p) for p in pts]
    for _ in range(iters):
        order = sorted(range(k + 1), key=lambda i: vals[i])
        pts = [pts[i] for i in order]
        vals = [vals[i] for i in order]
        c = [sum(p[j] for p in pts[:-1]) / k for j in range(k)]
        w = pts[-1]
        r = [c[j] + (c[j] - w[j]) for j in range(k)]
        fr = f(r)
        if fr < vals[0]:
            x = [c[j] + 2 * (c[j] - w[j]) for j in range(k)]
            fx = f(x)
            pts[-1], vals[-1] = (x, fx) if fx < fr else (r, fr)
        elif fr < vals[-2]:
            pts[-1], vals[-1] = r, fr
        else:
            x = [c[j] + 0.5 * (w[j] - c[j]) for j in range(k)]
            fx = f(x)
            if fx < vals[-1]:
                pts[-1], vals[-1] = x, fx
            else:
                for i in range(1, k + 1):
                    pts[i] = [pts[0][j] + 0.5 * (pts[i][j] - pts[0][j]) for j in range(k)]
                    vals[i] = f(pts[i])
    return pts[min(range(k + 1), key=lambda i: vals[i])]


if __name__ == "__main__":
    main()
