//! Inputs the fuzz targets (fuzz/, docs/fuzzing.md) and the hardening work found or might
//! find, kept as plain tests so every `cargo test` (debug: overflow checks on) replays them.

use ntpkit::config::drift;
use ntpkit::rtc::adjtime::Adjtime;
use ntpkit::rtc::Timeval;
use std::path::Path;

/// Extreme but well-formed numbers in /etc/adjtime: hwclock's drift arithmetic must not
/// overflow (found by reading the adjtime target's arithmetic under debug assertions).
#[test]
fn adjtime_with_extreme_times_does_not_overflow() {
    for text in [
        "0.000000 -9223372036854775808 0.000000\n0\nUTC\n",
        "1.000000 9223372036854775807 0.000000\n-9223372036854775808\nUTC\n",
        "2145.000000 -9223372036854775808 1e308\n9223372036854775807\nLOCAL\n",
        "1e999 0 -1e999\n0\nUTC\n",
    ] {
        let (adj, _) = Adjtime::parse(text);
        for now in [0, 1_764_000_000, i64::MAX, i64::MIN] {
            let _ = adj.drift_correction(now);
            let mut cal = adj.clone();
            let d = cal.calibrate(Timeval::new(now, 0), Timeval::new(now, 0), true);
            let _ = d.describe();
        }
    }
}

#[test]
fn drift_file_extremes_are_refused_or_clamped() {
    let p = Path::new("/d");
    for text in ["1e999", "-1e999", "NaN", "infinity", "\u{0}", "+", "-", "."] {
        assert!(drift::parse(text, p).is_err(), "{text:?}");
    }
    assert_eq!(drift::parse("1e308\n", p).unwrap().ppm, 500.0);
    assert_eq!(drift::parse("-0\n", p).unwrap().ppm, 0.0);
}

/// fuzz/drift_file's first find (a tolerance bug in the target, not in the parser): a
/// value exactly between two thousandths rounds by its binary value when written back.
#[test]
fn drift_value_halfway_between_thousandths_reads_back_within_half_a_thousandth() {
    let p = Path::new("/d");
    let d = drift::parse("-12.3445", p).unwrap();
    let back = drift::parse(&drift::format_ppm(d.ppm), p).unwrap();
    assert!(
        (back.ppm - d.ppm).abs() <= 0.0005 + 1e-9,
        "{d:?} → {back:?}"
    );
}
