//! /etc/adjtime: three lines, read and written exactly as util-linux hwclock does, and the
//! drift algorithm that uses it (util-linux `read_adjtime`, `save_adjtime`,
//! `calculate_adjustment`, `adjust_drift_factor`).
//!
//! ```text
//! <drift factor, s/day, %f> <last adjust time, %ld> <not adjusted, %f>
//! <last calibration time, %ld; 0 = none>
//! UTC|LOCAL
//! ```

use super::Timeval;

/// Above this many seconds per day a drift factor is nonsense (util-linux `MAX_DRIFT`).
pub const MAX_DRIFT: f64 = 2145.0;
/// The drift factor is only re-estimated after at least this long (4 h).
pub const MIN_CALIBRATION_INTERVAL: i64 = 4 * 60 * 60;
const SECS_PER_DAY: f64 = 86_400.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Timescale {
    #[default]
    Utc,
    Local,
    /// Line 3 missing or not `UTC`/`LOCAL`.
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Adjtime {
    pub drift_factor: f64,
    pub last_adj_time: i64,
    pub not_adjusted: f64,
    pub last_calib_time: i64,
    pub timescale: Timescale,
    /// Changed since read: must be saved.
    pub dirty: bool,
}

/// Line 1 or 2 without its numbers (util-linux ≥ 2.37 warns, naming the line).
pub const UNRECOGNIZED_LINE: &str = "Warning: unrecognized line in adjtime file: ";

/// A third line that is neither `UTC` nor `LOCAL` (util-linux warns and carries on).
pub const UNRECOGNIZED_THIRD_LINE: &str =
    "Warning: unrecognized third line in adjtime file\n(Expected: `UTC' or `LOCAL' or nothing.)";

impl Adjtime {
    /// Parse the file's text the way util-linux 2.38's `read_adjtime` does: line 1 needs
    /// all three numbers and line 2 its one, else a warning naming the line (fields that
    /// did scan are kept; the rest stay zero — util-linux leaves them uninitialised); the
    /// third line must be exactly `UTC` or `LOCAL`. Returns the warnings to print.
    pub fn parse(text: &str) -> (Adjtime, Vec<String>) {
        let mut lines = text.split_inclusive('\n');
        let line1 = lines.next().unwrap_or("");
        let line2 = lines.next().unwrap_or("");
        let line3 = lines.next();
        let mut adj = Adjtime::default();
        let mut warnings = Vec::new();
        let mut scan = Scanner(line1);
        let mut fields = 0;
        if let Some(v) = scan.float() {
            adj.drift_factor = v;
            fields += 1;
            if let Some(v) = scan.int() {
                adj.last_adj_time = v;
                fields += 1;
                if let Some(v) = scan.float() {
                    adj.not_adjusted = v;
                    fields += 1;
                }
            }
        }
        if fields != 3 {
            warnings.push(format!("{UNRECOGNIZED_LINE}{line1}"));
        }
        match Scanner(line2).int() {
            Some(v) => adj.last_calib_time = v,
            None => warnings.push(format!("{UNRECOGNIZED_LINE}{line2}")),
        }
        adj.timescale = match line3 {
            Some("UTC\n") => Timescale::Utc,
            Some("LOCAL\n") => Timescale::Local,
            Some(_) => {
                warnings.push(UNRECOGNIZED_THIRD_LINE.to_string());
                Timescale::Unknown
            }
            None => Timescale::Unknown,
        };
        (adj, warnings)
    }

    /// The file's text: `"%f %ld %f\n%ld\n%s\n"` (anything but LOCAL is written as UTC).
    pub fn render(&self) -> String {
        format!(
            "{:.6} {} {:.6}\n{}\n{}\n",
            self.drift_factor,
            self.last_adj_time,
            self.not_adjusted,
            self.last_calib_time,
            if self.timescale == Timescale::Local {
                "LOCAL"
            } else {
                "UTC"
            }
        )
    }

    /// The drift correction due at RTC time `systime`:
    /// `(systime - last_adj_time) * factor / 86400 + not_adjusted`, split into whole
    /// seconds (floor) and microseconds as util-linux does. Beyond ±2^63 s the seconds
    /// saturate (the microseconds stay in 0..1e6); a NaN (from a file with infinities) is
    /// no correction.
    pub fn drift_correction(&self, systime: i64) -> Timeval {
        // in f64, as util-linux's (double) cast: times read from the file may be anything
        let exact = (systime as f64 - self.last_adj_time as f64) * self.drift_factor / SECS_PER_DAY
            + self.not_adjusted;
        let floor = exact.floor();
        // the fraction from the f64 floor, not from the saturated i64 (which would leave
        // the whole excess in the microseconds)
        Timeval::new(floor as i64, ((exact - floor) * 1e6) as i64)
    }

    /// Record that the RTC was just set to true time `now` (a calibration). With
    /// `update_drift`, first re-estimate the drift factor from how far the drift-corrected
    /// RTC reading `corrected_rtc` was from `now`, unless there is no previous calibration
    /// or it is less than 4 h old; a factor beyond ±2145 s/day is reset to zero.
    pub fn calibrate(
        &mut self,
        now: Timeval,
        corrected_rtc: Timeval,
        update_drift: bool,
    ) -> DriftDecision {
        let decision = if !update_drift {
            DriftDecision::NotRequested
        } else if self.last_calib_time == 0 {
            DriftDecision::NoHistory
        } else if corrected_rtc.sec.saturating_sub(self.last_calib_time) < MIN_CALIBRATION_INTERVAL
        {
            DriftDecision::TooSoon
        } else {
            let since_calib = now.diff(Timeval::new(self.last_calib_time, 0));
            let drifted = now.diff(corrected_rtc);
            let factor_adjust = drifted / (since_calib / SECS_PER_DAY);
            let factor = self.drift_factor + factor_adjust;
            if factor.abs() > MAX_DRIFT {
                self.drift_factor = 0.0;
                DriftDecision::Reset { computed: factor }
            } else {
                let old = self.drift_factor;
                self.drift_factor = factor;
                DriftDecision::Adjusted {
                    drifted,
                    since_calib,
                    old_factor: old,
                    factor_adjust,
                }
            }
        };
        self.last_calib_time = now.sec;
        self.last_adj_time = now.sec;
        self.not_adjusted = 0.0;
        self.dirty = true;
        decision
    }
}

/// What `calibrate` did with the drift factor (util-linux prints each in verbose mode).
#[derive(Clone, Debug, PartialEq)]
pub enum DriftDecision {
    NotRequested,
    NoHistory,
    TooSoon,
    Reset {
        computed: f64,
    },
    Adjusted {
        drifted: f64,
        since_calib: f64,
        old_factor: f64,
        factor_adjust: f64,
    },
}

impl DriftDecision {
    /// util-linux's verbose wording.
    pub fn describe(&self) -> String {
        match self {
            DriftDecision::NotRequested => {
                "Not adjusting drift factor because the --update-drift option was not used.".into()
            }
            DriftDecision::NoHistory => "Not adjusting drift factor because last calibration time is zero,\nso history is bad and calibration startover is necessary.".into(),
            DriftDecision::TooSoon => "Not adjusting drift factor because it has been less than four hours since the last calibration.".into(),
            DriftDecision::Reset { computed } => format!(
                "Clock drift factor was calculated as {computed:.6} seconds/day.\nIt is far too much. Resetting to zero."
            ),
            DriftDecision::Adjusted { drifted, since_calib, old_factor, factor_adjust } => format!(
                "Clock drifted {drifted:.6} seconds in the past {since_calib:.6} seconds\nin spite of a drift factor of {old_factor:.6} seconds/day.\nAdjusting drift factor by {factor_adjust:.6} seconds/day"
            ),
        }
    }
}

/// A `sscanf`-like cursor: skips leading white space, takes the longest numeric prefix.
struct Scanner<'a>(&'a str);

impl Scanner<'_> {
    fn take(&mut self, float: bool) -> Option<&str> {
        let s = self.0.trim_start();
        let b = s.as_bytes();
        let mut i = 0;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let digits_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let mut ndigits = i - digits_start;
        if float {
            if i < b.len() && b[i] == b'.' {
                i += 1;
                let frac_start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                ndigits += i - frac_start;
            }
            if ndigits > 0 && i < b.len() && (b[i] == b'e' || b[i] == b'E') {
                let mut j = i + 1;
                if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
                    j += 1;
                }
                let exp_start = j;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                if j > exp_start {
                    i = j;
                }
            }
        }
        if ndigits == 0 {
            return None;
        }
        self.0 = &s[i..];
        Some(&s[..i])
    }

    fn float(&mut self) -> Option<f64> {
        self.take(true)?.parse().ok()
    }

    fn int(&mut self) -> Option<i64> {
        self.take(false)?.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Files written by util-linux hwclock 2.38.1; see tests/fixtures/adjtime/README.md.
    const UL_SYSTOHC: &str = include_str!("../../tests/fixtures/adjtime/ul_systohc_adjtime.txt");
    const UL_UPDATE_DRIFT: &str =
        include_str!("../../tests/fixtures/adjtime/ul_update_drift_adjtime.txt");
    const UL_ADJUST: &str = include_str!("../../tests/fixtures/adjtime/ul_adjust_adjtime.txt");
    const UL_LOCAL: &str = include_str!("../../tests/fixtures/adjtime/ul_localtime_adjtime.txt");

    #[test]
    fn util_linux_files_parse_and_render_byte_for_byte() {
        for text in [UL_SYSTOHC, UL_UPDATE_DRIFT, UL_ADJUST, UL_LOCAL] {
            let (adj, warnings) = Adjtime::parse(text);
            assert!(warnings.is_empty(), "{text}: {warnings:?}");
            assert_eq!(adj.render(), text);
        }
        let (adj, _) = Adjtime::parse(UL_UPDATE_DRIFT);
        assert_eq!(adj.drift_factor, -91.201725);
        assert_eq!(adj.last_adj_time, 1_961_670_907);
        assert_eq!(adj.last_calib_time, 1_961_670_907);
        assert_eq!(adj.timescale, Timescale::Utc);
        let (local, _) = Adjtime::parse(UL_LOCAL);
        assert_eq!(local.timescale, Timescale::Local);
        let (adjusted, _) = Adjtime::parse(UL_ADJUST);
        assert_eq!(adjusted.drift_factor, 100.0);
        // --adjust moved the last adjustment time, not the calibration time.
        assert_eq!(adjusted.last_adj_time - adjusted.last_calib_time, 86_501);
    }

    #[test]
    fn damaged_files_warn_like_util_linux() {
        // The warnings util-linux 2.38.1 prints for these (checked against it by
        // tests/hwclock_vs_util_linux.rs).
        let unrecognized = |l: &str| format!("{UNRECOGNIZED_LINE}{l}");
        let (a, w) = Adjtime::parse("");
        assert_eq!(
            (a.timescale, w),
            (Timescale::Unknown, vec![unrecognized(""), unrecognized("")])
        );
        let (a, w) = Adjtime::parse("1.5 100\n");
        assert_eq!(
            (a.drift_factor, a.last_adj_time, a.not_adjusted),
            (1.5, 100, 0.0)
        );
        assert_eq!(w, vec![unrecognized("1.5 100\n"), unrecognized("")]);
        let (a, w) = Adjtime::parse("x 100 0.5\n7\nUTC\n");
        assert_eq!(
            (a.drift_factor, a.last_calib_time, a.timescale),
            (0.0, 7, Timescale::Utc)
        );
        assert_eq!(w, vec![unrecognized("x 100 0.5\n")]);
        // `%ld` stops at the dot; `%lf` takes what follows: three fields, no warning.
        let (a, w) = Adjtime::parse("2 300.25\n300\nLOCAL\n");
        assert_eq!(
            (a.last_adj_time, a.not_adjusted, a.timescale),
            (300, 0.25, Timescale::Local)
        );
        assert!(w.is_empty());
        // The third line must be exactly UTC or LOCAL with its newline; missing is fine.
        for bad in ["utc\n", "UTC", " UTC\n", "\n", "LOCAL junk\n"] {
            let (a, w) = Adjtime::parse(&format!("0 0 0\n0\n{bad}"));
            assert_eq!(
                (a.timescale, w),
                (
                    Timescale::Unknown,
                    vec![UNRECOGNIZED_THIRD_LINE.to_string()]
                ),
                "{bad:?}"
            );
        }
        let (a, w) = Adjtime::parse("1 2 3\n4\n");
        assert_eq!((a.timescale, w.len()), (Timescale::Unknown, 0));
        // Unknown is written back as UTC, as util-linux does.
        assert_eq!(a.render(), "1.000000 2 3.000000\n4\nUTC\n");
    }

    #[test]
    fn drift_correction_matches_the_formula() {
        let (adj, _) = Adjtime::parse("100.000000 1000 0.250000\n1000\nUTC\n");
        // One day: 100 s + 0.25 s not yet adjusted.
        assert_eq!(
            adj.drift_correction(1000 + 86_400),
            Timeval::new(100, 250_000)
        );
        // Negative corrections floor the seconds: -0.5 s is -1 s + 500000 µs.
        let (neg, _) = Adjtime::parse("-43.200000 0 0\n0\nUTC\n");
        assert_eq!(neg.drift_correction(86_400 / 86), Timeval::new(-1, 498_000));
    }

    #[test]
    fn calibration_rules() {
        let mut adj = Adjtime {
            last_calib_time: 10_000,
            last_adj_time: 10_000,
            not_adjusted: 0.5,
            ..Adjtime::default()
        };
        // Without --update-drift only the timestamps move.
        let now = Timeval::new(10_000 + 5 * 3600, 0);
        assert_eq!(
            adj.clone().calibrate(now, now.inc(-20.0), false),
            DriftDecision::NotRequested
        );
        // Less than 4 h since the last calibration: no new factor.
        let soon = Timeval::new(10_000 + 3 * 3600, 0);
        let mut a = adj.clone();
        assert_eq!(a.calibrate(soon, soon, true), DriftDecision::TooSoon);
        assert_eq!(
            (a.last_calib_time, a.last_adj_time, a.not_adjusted, a.dirty),
            (soon.sec, soon.sec, 0.0, true)
        );
        // 20 s fast over 5 h: -96 s/day.
        let corrected_rtc = now.inc(20.0);
        assert!(matches!(
            adj.calibrate(now, corrected_rtc, true),
            DriftDecision::Adjusted { .. }
        ));
        assert!(
            (adj.drift_factor + 96.0).abs() < 1e-9,
            "{}",
            adj.drift_factor
        );
        // An absurd estimate (1000 s off after 5 h = 4800 s/day) resets the factor to 0.
        let mut b = Adjtime {
            last_calib_time: 10_000,
            drift_factor: 5.0,
            ..Adjtime::default()
        };
        let later = Timeval::new(10_000 + 5 * 3600, 0);
        assert!(matches!(
            b.calibrate(later, later.inc(-1000.0), true),
            DriftDecision::Reset { .. }
        ));
        assert_eq!(b.drift_factor, 0.0);
        // No previous calibration: start over.
        let mut c = Adjtime::default();
        assert_eq!(c.calibrate(later, later, true), DriftDecision::NoHistory);
        assert_eq!(c.last_calib_time, later.sec);
    }
}
