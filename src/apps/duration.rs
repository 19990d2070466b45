//! Durations people type on the command line: humantime's `2s`, `500ms`, `11h`, `1h30m`,
//! and the plain number each option took before (in that option's own unit), so that no
//! operator's script breaks.

use std::time::Duration;

/// What a plain number means for an option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlainUnit {
    Seconds,
    Milliseconds,
}

impl PlainUnit {
    fn name(self) -> &'static str {
        match self {
            PlainUnit::Seconds => "seconds",
            PlainUnit::Milliseconds => "milliseconds",
        }
    }
}

/// A duration that is neither a non-negative number nor humantime's form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a duration (e.g. 2s, 500ms, 11h, or a plain number of {unit})")]
pub struct DurationError {
    pub text: String,
    pub unit: &'static str,
}

/// `text` as a duration: a plain (possibly fractional) number in `plain` units, or
/// humantime's units (`2s`, `500ms`, `1h 30m`).
pub fn parse(text: &str, plain: PlainUnit) -> Result<Duration, DurationError> {
    let t = text.trim();
    let err = || DurationError {
        text: text.to_string(),
        unit: plain.name(),
    };
    if let Ok(n) = t.parse::<f64>() {
        let secs = match plain {
            PlainUnit::Seconds => n,
            PlainUnit::Milliseconds => n / 1000.0,
        };
        return Duration::try_from_secs_f64(secs).map_err(|_| err());
    }
    humantime::parse_duration(t).map_err(|_| err())
}

/// A clap value parser for a duration whose plain numbers are seconds.
pub fn seconds(text: &str) -> Result<Duration, DurationError> {
    parse(text, PlainUnit::Seconds)
}

/// A clap value parser for a duration whose plain numbers are milliseconds.
pub fn milliseconds(text: &str) -> Result<Duration, DurationError> {
    parse(text, PlainUnit::Milliseconds)
}

/// How a duration reads in help and messages (`2s`, `1m 30s`, `500ms`).
pub fn show(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_numbers_keep_their_old_unit_and_units_are_accepted() {
        assert_eq!(seconds("2"), Ok(Duration::from_secs(2)));
        assert_eq!(seconds("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(seconds("40000"), Ok(Duration::from_secs(40_000)));
        assert_eq!(milliseconds("1000"), Ok(Duration::from_secs(1)));
        assert_eq!(seconds("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(milliseconds("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(seconds("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(seconds("11h"), Ok(Duration::from_secs(11 * 3600)));
        assert_eq!(seconds("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(show(Duration::from_secs(90)), "1m 30s");
    }

    #[test]
    fn nonsense_and_negative_durations_are_refused_with_the_forms_named() {
        for bad in ["-1", "soon", "", "NaN", "inf", "2 parsecs"] {
            let e = seconds(bad).unwrap_err().to_string();
            assert!(e.contains("500ms") && e.contains("seconds"), "{bad}: {e}");
        }
        assert!(milliseconds("x")
            .unwrap_err()
            .to_string()
            .contains("milliseconds"));
    }
}
