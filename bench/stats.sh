# bench/stats.sh, sourced by the truth-is-zero benches (xleave.sh, xleave-sym.sh).
# stats: "median_us rms_us n", the median and RMS of |x| for a column of numbers in seconds.
stats() {
  awk '{ print ($1 < 0 ? -$1 : $1) }' | sort -g | awk '{ a[NR] = $1; s += $1 * $1 }
    END { if (NR == 0) { print "n/a n/a 0"; exit }
          m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
          printf "%.2f %.2f %d\n", m * 1e6, sqrt(s / NR) * 1e6, NR }'
}
