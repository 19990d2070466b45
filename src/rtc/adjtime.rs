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

/// A third line that is neither `UTC` nor `LOCAL` (util-linux warns and carries on).
pub const UNRECOGNIZED_THIRD_LINE: &str =
    "Warning: unrecognized third line in adjtime file\n(Expected: `UTC' or `LOCAL' or nothing.)";

impl Adjtime {
    /// Parse the file's text the way util-linux's `fgets` + `sscanf` do: missing or
    /// malformed fields keep their defaults (zero). The second value is a warning to print.
    pub fn parse(text: &str) -> (Adjtime, Option<&'static str>) {
        let mut lines = text.split_inclusive('\n');
        let line1 = lines.next().unwrap_or("");
        let line2 = lines.next().unwrap_or("");
        let line3 = lines.next().unwrap_or("");
        let mut adj = Adjtime::default();
        let mut scan = Scanner(line1);
        if let Some(v) = scan.float() {
            adj.drift_factor = v;
            if let Some(v) = scan.int() {
                adj.last_adj_time = v;
                if let Some(v) = scan.float() {
                    adj.not_adjusted = v;
                }
            }
        }
        if let Some(v) = Scanner(line2).int() {
            adj.last_calib_time = v;
        }
        let mut warning = None;
        adj.timescale = match line3 {
            "UTC\n" => Timescale::Utc,
            "LOCAL\n" => Timescale::Local,
            other => {
                if !other.is_empty() {
                    warning = Some(UNRECOGNIZED_THIRD_LINE);
                }
                Timescale::Unknown
            }
        };
        (adj, warning)
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
    /// seconds (floor) and microseconds as util-linux does.
    pub fn drift_correction(&self, systime: i64) -> Timeval {
        let exact = (systime - self.last_adj_time) as f64 * self.drift_factor / SECS_PER_DAY
            + self.not_adjusted;
        let sec = exact.floor() as i64;
        Timeval::new(sec, ((exact - sec as f64) * 1e6) as i64)
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
        } else if corrected_rtc.sec - self.last_calib_time < MIN_CALIBRATION_INTERVAL {
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
