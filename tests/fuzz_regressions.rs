//! Inputs the fuzz targets (fuzz/, docs/fuzzing.md) and the hardening work found or might
//! find, kept as plain tests that assert what each input must produce. The test command
//! (`cargo test --release`) has overflow checks on too (Cargo.toml's release profile), so
//! an arithmetic overflow on the way is a failure as well, not a silently wrapped value.

use ntpkit::config::drift;
use ntpkit::rtc::adjtime::{Adjtime, DriftDecision, Timescale};
use ntpkit::rtc::Timeval;
use std::path::Path;

const MIN: i64 = i64::MIN;
const MAX: i64 = i64::MAX;
/// The RTC times every extreme file is tried at.
const NOWS: [i64; 4] = [0, 1_764_000_000, MAX, MIN];

/// `(sec, usec)` as one number, for comparisons with a tolerance.
fn seconds(t: Timeval) -> f64 {
    t.sec as f64 + t.usec as f64 / 1e6
}

/// What the drift correction must be: (now − last adjustment)·factor/86400 + not adjusted,
/// the difference taken exactly (i128), as util-linux's arithmetic in double intends.
fn correction(adj: &Adjtime, now: i64) -> f64 {
    (now as i128 - adj.last_adj_time as i128) as f64 * adj.drift_factor / 86_400.0
        + adj.not_adjusted
}

/// Extreme but well-formed numbers in /etc/adjtime: hwclock's drift arithmetic must not
/// overflow (found by reading the adjtime target's arithmetic under debug assertions), and
/// must give the formula's value: a wrapped i64 difference changes its sign.
#[test]
fn adjtime_with_extreme_times_gives_the_formulas_values() {
    struct Case {
        text: &'static str,
        fields: (f64, i64, f64, i64, Timescale),
        /// What `calibrate(now, now, --update-drift)` decides at each of `NOWS`.
        decisions: [&'static str; 4],
    }
    let cases = [
        Case {
            text: "0.000000 -9223372036854775808 0.000000\n0\nUTC\n",
            fields: (0.0, MIN, 0.0, 0, Timescale::Utc),
            // last calibration time 0: no history
            decisions: ["NoHistory"; 4],
        },
        Case {
            text: "1.000000 9223372036854775807 0.000000\n-9223372036854775808\nUTC\n",
            fields: (1.0, MAX, 0.0, MIN, Timescale::Utc),
            // now − MIN saturates above four hours, except at now = MIN (0 s)
            decisions: ["Adjusted", "Adjusted", "Adjusted", "TooSoon"],
        },
        Case {
            text: "2145.000000 -9223372036854775808 1e308\n9223372036854775807\nLOCAL\n",
            fields: (2145.0, MIN, 1e308, MAX, Timescale::Local),
            // the last calibration is at the end of time: never four hours ago
            decisions: ["TooSoon"; 4],
        },
        Case {
            text: "1e999 0 -1e999\n0\nUTC\n",
            fields: (f64::INFINITY, 0, f64::NEG_INFINITY, 0, Timescale::Utc),
            decisions: ["NoHistory"; 4],
        },
    ];
    for case in &cases {
        let (adj, warnings) = Adjtime::parse(case.text);
        assert!(warnings.is_empty(), "{:?}: {warnings:?}", case.text);
        let fields = (
            adj.drift_factor,
            adj.last_adj_time,
            adj.not_adjusted,
            adj.last_calib_time,
            adj.timescale,
        );
        assert_eq!(fields, case.fields, "{:?}", case.text);
        for (now, decision) in NOWS.iter().zip(case.decisions) {
            let got = adj.drift_correction(*now);
            let want = correction(&adj, *now);
            let what = format!("{:?} at {now}: {got:?}, want {want}", case.text);
            assert!((0..1_000_000).contains(&got.usec), "{what}");
            if want.is_nan() {
                // ∞ − ∞ or 0·∞: no correction
                assert_eq!(got, Timeval::new(0, 0), "{what}");
            } else if want >= 2f64.powi(63) {
                assert_eq!(got.sec, MAX, "{what}");
            } else if want < -(2f64.powi(63)) {
                assert_eq!(got.sec, MIN, "{what}");
            } else {
                // f64 carries 53 bits: the tolerance is relative
                assert!(
                    (seconds(got) - want).abs() <= want.abs() * 1e-15 + 1e-6,
                    "{what}"
                );
            }

            let mut cal = adj.clone();
            let d = cal.calibrate(Timeval::new(*now, 0), Timeval::new(*now, 0), true);
            let name = format!("{d:?}");
            assert!(name.starts_with(decision), "{what}: {name}");
            if let DriftDecision::Adjusted {
                drifted,
                since_calib,
                old_factor,
                factor_adjust,
            } = d
            {
                // the corrected RTC agreed with the clock: nothing drifted, factor kept
                assert_eq!((drifted, factor_adjust), (0.0, 0.0), "{what}");
                assert_eq!(old_factor, adj.drift_factor, "{what}");
                assert_eq!(cal.drift_factor, adj.drift_factor, "{what}");
                // now − (−2^63), exactly as far as f64 goes
                let want_since = (*now as i128 - MIN as i128) as f64;
                assert_eq!(since_calib, want_since, "{what}");
            }
            assert!(!d.describe().is_empty());
            // a calibration always restarts the history at `now`
            assert_eq!(
                (cal.last_calib_time, cal.last_adj_time, cal.not_adjusted),
                (*now, *now, 0.0),
                "{what}"
            );
        }
    }
}

#[test]
fn drift_file_extremes_are_refused_or_clamped() {
    let p = Path::new("/d");
    for text in ["1e999", "-1e999", "NaN", "infinity", "\u{0}", "+", "-", "."] {
        let e = drift::parse(text, p).expect_err(text).to_string();
        // the error names the file
        assert!(e.contains("/d"), "{text:?}: {e}");
    }
    assert_eq!(drift::parse("1e308\n", p).unwrap().ppm, 500.0);
    assert_eq!(drift::parse("-1e308\n", p).unwrap().ppm, -500.0);
    assert_eq!(drift::parse("-0\n", p).unwrap().ppm, 0.0);
}

/// fuzz/drift_file's first find (a tolerance bug in the target, not in the parser): a
/// value exactly between two thousandths rounds by its binary value when written back.
#[test]
fn drift_value_halfway_between_thousandths_reads_back_within_half_a_thousandth() {
    let p = Path::new("/d");
    let d = drift::parse("-12.3445", p).unwrap();
    assert_eq!(d.ppm, -12.3445);
    let text = drift::format_ppm(d.ppm);
    // -12.3445 is -12.34450000000000002842… in binary: %.3f writes -12.345, a hair more
    // than half a thousandth away (the target's tolerance was exactly half)
    assert_eq!(text.trim(), "-12.345");
    let back = drift::parse(&text, p).unwrap();
    assert!(
        (back.ppm - d.ppm).abs() <= 0.0005 + 1e-9,
        "{d:?} → {back:?}"
    );
}
