#!/bin/sh
# Median over seeds 1-10 of every ntpsim scenario (40000 s each), release build.
# Reference figures (clknetsim, same model, median of seeds 1-10) are in docs/engine.md.
set -eu
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin ntpsim
sim=target/release/ntpsim
echo "== default model (wander 1e-8, minpoll 6, maxpoll 10)"
"$sim" --table "$@"
echo
echo "== S1 with wander 1e-9 (chronyd 101 us, NTPsec 181 us)"
for seed in 1 2 3 4 5 6 7 8 9 10; do
    "$sim" --scenario S1 --wander 1e-9 --seed "$seed" --json | sed -n 's/.*"rms_offset_us": \([0-9.]*\).*/\1/p'
done | sort -n | awk '{v[NR]=$1} END {printf "S1 wander 1e-9: median rms_offset_us %.1f\n", (v[5]+v[6])/2}'
echo
echo "== S1 with poll fixed at 64 s (chronyd 57 us, NTPsec 160 us)"
for seed in 1 2 3 4 5 6 7 8 9 10; do
    "$sim" --scenario S1 --minpoll 6 --maxpoll 6 --seed "$seed" --json | sed -n 's/.*"rms_offset_us": \([0-9.]*\).*/\1/p'
done | sort -n | awk '{v[NR]=$1} END {printf "S1 poll 64: median rms_offset_us %.1f\n", (v[5]+v[6])/2}'
