//! Recorded samples for `ntpsim --replay`: read from a real run's files and put through the
//! engine's estimator (`ntpkit_engine::replay`), e.g. to ask what our estimator makes of
//! another client's samples in bench/xleave.sh's truth-is-zero LAN.
//!
//! Four line formats, told apart by their fields (`#` starts a comment; chronyd's header
//! lines, which start with a space or `=`, are skipped):
//! - `TIME OFFSET DELAY` (seconds);
//! - `TIME OFFSET REQUEST-LEG REPLY-LEG`, a bench/xleave.sh `samples` file (delay = the sum);
//! - our rawstats (`MJD SECONDS SRC DST T1 T2 T3 T4 …`, NTP timestamps as seconds.fraction
//!   with up to 9 digits), offset and delay from the four timestamps, integer nanoseconds
//!   apart (a double holds NTP time to ~0.5 µs only); a line whose delay is outside
//!   −1 ms … 1 s (a reply no sample came from) is left out, as bench/xleave.sh does;
//! - chronyd's measurements log (`YYYY-MM-DD HH:MM:SS IP L St 123 567 ABCD LP RP Score
//!   OFFSET DELAY …`; its time has whole seconds only). The offsets of a chronyd that
//!   corrects its clock (`-x` included: a virtual one) are against that corrected clock;
//!   a `noselect` one's are against the system clock.

use crate::engine::replay::Sample;
use crate::wire::time::days_from_civil;
use std::fmt;

/// A line that is none of the formats: where and why.
#[derive(Debug)]
pub struct BadLine {
    pub line: usize,
    pub why: String,
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.why)
    }
}

/// The samples of `text`, in the file's order.
pub fn parse(text: &str) -> Result<Vec<Sample>, BadLine> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with([' ', '=']) {
            continue;
        }
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = |why: String| BadLine { line: i + 1, why };
        let fields: Vec<&str> = line.split_whitespace().collect();
        let sample = match fields.len() {
            3 | 4 => {
                let mut v = [0.0; 4];
                for (slot, f) in v.iter_mut().zip(&fields) {
                    *slot = f
                        .parse::<f64>()
                        .ok()
                        .filter(|x| x.is_finite())
                        .ok_or_else(|| bad(format!("not a number: {f:?}")))?;
                }
                let delay = if fields.len() == 3 { v[2] } else { v[2] + v[3] };
                Sample {
                    time: v[0],
                    offset: v[1],
                    delay,
                }
            }
            n if n >= 13 && fields[0].contains('-') => chronyd(&fields).map_err(bad)?,
            n if n >= 8 => match rawstats(&fields).map_err(bad)? {
                Some(s) => s,
                None => continue,
            },
            n => {
                return Err(bad(format!(
                    "{n} fields: expected TIME OFFSET DELAY, TIME OFFSET REQUEST REPLY or a rawstats line"
                )))
            }
        };
        out.push(sample);
    }
    Ok(out)
}

/// One rawstats line: the sample its four timestamps make; none for a reply no sample came
/// from (its delay outside −1 ms … 1 s, as bench/xleave.sh leaves such lines out).
fn rawstats(fields: &[&str]) -> Result<Option<Sample>, String> {
    let number = |f: &str| {
        f.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| format!("not a number: {f:?}"))
    };
    let (mjd, seconds) = (number(fields[0])?, number(fields[1])?);
    let mut t = [0i128; 4];
    for (slot, f) in t.iter_mut().zip(&fields[4..8]) {
        *slot = ntp_nanos(f).ok_or_else(|| format!("not an NTP timestamp: {f:?}"))?;
    }
    let (up, down) = (t[1] - t[0], t[3] - t[2]);
    let delay = (up + down) as f64 * 1e-9;
    Ok((-1e-3 < delay && delay < 1.0).then(|| Sample {
        time: (mjd - 40587.0) * 86400.0 + seconds,
        offset: (up - down) as f64 / 2e9,
        delay,
    }))
}

/// One line of chronyd's measurements log.
fn chronyd(fields: &[&str]) -> Result<Sample, String> {
    let when = || -> Option<f64> {
        let mut d = fields[0].split('-').map(|x| x.parse::<i64>().ok());
        let (y, m, day) = (d.next()??, d.next()??, d.next()??);
        let mut t = fields[1].split(':').map(|x| x.parse::<i64>().ok());
        let (h, min, sec) = (t.next()??, t.next()??, t.next()??);
        if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || min > 59 || sec > 60 {
            return None;
        }
        Some((days_from_civil(y, m as u32, day as u32) * 86400 + h * 3600 + min * 60 + sec) as f64)
    };
    let time = when().ok_or_else(|| format!("not a date and time: {} {}", fields[0], fields[1]))?;
    let number = |f: &str| {
        f.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| format!("not a number: {f:?}"))
    };
    Ok(Sample {
        time,
        offset: number(fields[11])?,
        delay: number(fields[12])?,
    })
}

/// "seconds.fraction" (up to 9 digits) as integer nanoseconds.
fn ntp_nanos(text: &str) -> Option<i128> {
    let (sec, frac) = text.split_once('.').unwrap_or((text, ""));
    if sec.is_empty()
        || frac.len() > 9
        || !sec.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let sec: i128 = sec.parse().ok()?;
    let frac: i128 = format!("{frac:0<9}").parse().ok()?;
    Some(sec * 1_000_000_000 + frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_formats_give_the_same_sample() {
        let text = "# comment\n\
            100 -0.000005 0.000012\n\
            100 -0.000005 0.000001 0.000011\n\
            61376 100.000 198.18.0.1 198.18.0.11 3973593600.000000000 3973593600.000001000 \
            3973593600.000002000 3973593600.000013000 0 4 3 -20 0.0 0.0 x 0 0\n";
        let s = parse(text).unwrap();
        assert_eq!(s.len(), 3);
        for x in &s[..2] {
            assert!((x.offset + 5e-6).abs() < 1e-15 && (x.delay - 12e-6).abs() < 1e-15);
        }
        assert_eq!(s[2].offset, -5e-6);
        assert!((s[2].delay - 12e-6).abs() < 1e-15);
        assert_eq!(s[2].time, (61376.0 - 40587.0) * 86400.0 + 100.0);
    }

    #[test]
    fn chronyds_measurements_log_is_read_and_its_headers_skipped() {
        let text = "=====\n   Date (UTC) Time     IP Address   L St 123 567 ABCD  LP RP Score    Offset  Peer del.\n=====\n\
            2026-12-02 18:57:17 198.18.0.1      N  8 111 111 1111   3  3 0.00 -4.719e-06  9.769e-06  2.147e-07  0.000e+00  0.000e+00\n";
        let s = parse(text).unwrap();
        assert_eq!(s.len(), 1);
        // date -u -d '2026-12-02 18:57:17' +%s
        assert_eq!(s[0].time, 1_796_237_837.0);
        assert_eq!((s[0].offset, s[0].delay), (-4.719e-6, 9.769e-6));
        let e = parse("2026-13-02 18:57:17 ip N 8 111 111 1111 3 3 0.00 1e-6 1e-5\n").unwrap_err();
        assert!(e.to_string().contains("not a date"), "{e}");
    }

    #[test]
    fn a_bad_line_is_named() {
        let e = parse("1 2 3\n1 x 3\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("not a number"), "{e}");
        let e = parse("1 2\n").unwrap_err();
        assert!(e.to_string().starts_with("line 1: 2 fields"), "{e}");
        let e = parse("61376 1 a b 1.5 2.x 3 4\n").unwrap_err();
        assert!(e.to_string().contains("not an NTP timestamp"), "{e}");
        // a rawstats reply no sample came from (a delay of years) is left out
        let s = parse("61376 1 a b 100.0 200.0 300.0 400.0\n1 0 0.00001\n").unwrap();
        assert_eq!(s.len(), 1);
    }
}
