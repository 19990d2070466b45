//! Leap seconds: the IERS/NIST `leap-seconds.list` file (`leapfile`) and when to arm the
//! kernel. The kernel inserts (or deletes) the second at the first UTC midnight after the
//! flag is set, so the flag must only be set on the last day; sources announce a leap
//! with their LI bits for up to a month, which ntpd reads as "at the end of this month".

use ntpkit_wire::packet::Leap;
use ntpkit_wire::time::{civil_from_days, days_from_civil, UNIX_NTP_OFFSET};

/// Seconds from 1900 (NTP era 0) to 1970.
const NTP_UNIX: i64 = UNIX_NTP_OFFSET as i64;
/// Arm the kernel this long before the leap.
pub const ARM_BEFORE: i64 = 86_400;
/// Announce the leap to our clients (LI bits) this long before it.
pub const ANNOUNCE_BEFORE: i64 = 28 * 86_400;

/// A parsed leap-seconds list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeapTable {
    /// (NTP seconds when the new TAI−UTC offset starts, offset), ascending.
    pub entries: Vec<(i64, i32)>,
    /// `#@` expiry, NTP seconds.
    pub expires: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct LeapFileError {
    pub line: usize,
    pub message: String,
}

impl LeapTable {
    /// Parse the text of a leap-seconds.list file. Errors name the line.
    pub fn parse(text: &str) -> Result<LeapTable, LeapFileError> {
        let mut entries: Vec<(i64, i32)> = Vec::new();
        let mut expires = None;
        for (n, raw) in text.lines().enumerate() {
            let line = n + 1;
            let err = |message: String| LeapFileError { line, message };
            let trimmed = raw.trim();
            if let Some(rest) = trimmed.strip_prefix("#@") {
                let v = rest.split_whitespace().next().unwrap_or("");
                expires = Some(
                    v.parse::<i64>()
                        .map_err(|_| err(format!("bad expiry {v:?}")))?,
                );
                continue;
            }
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let data = trimmed.split('#').next().unwrap_or("");
            let mut fields = data.split_whitespace();
            let (Some(when), Some(tai)) = (fields.next(), fields.next()) else {
                return Err(err("expected \"NTP-seconds TAI-offset\"".into()));
            };
            let when: i64 = when
                .parse()
                .map_err(|_| err(format!("bad NTP seconds {when:?}")))?;
            let tai: i32 = tai
                .parse()
                .map_err(|_| err(format!("bad TAI offset {tai:?}")))?;
            if let Some(&(prev, _)) = entries.last() {
                if when <= prev {
                    return Err(err("entries are not in ascending order".into()));
                }
            }
            entries.push((when, tai));
        }
        if entries.is_empty() {
            return Err(LeapFileError {
                line: 0,
                message: "no leap second entries".into(),
            });
        }
        Ok(LeapTable { entries, expires })
    }

    /// TAI − UTC at `ntp_secs`.
    pub fn tai_offset(&self, ntp_secs: i64) -> i32 {
        self.entries
            .iter()
            .take_while(|(t, _)| *t <= ntp_secs)
            .last()
            .map(|e| e.1)
            .unwrap_or(0)
    }

    /// The next leap after `ntp_secs`: when the new offset starts and which way it goes.
    pub fn next_leap(&self, ntp_secs: i64) -> Option<(i64, Leap)> {
        let i = self.entries.iter().position(|(t, _)| *t > ntp_secs)?;
        let before = if i == 0 { 0 } else { self.entries[i - 1].1 };
        let (when, after) = self.entries[i];
        match after - before {
            1 => Some((when, Leap::Insert)),
            -1 => Some((when, Leap::Delete)),
            _ => None,
        }
    }

    pub fn is_expired(&self, ntp_secs: i64) -> bool {
        self.expires.is_some_and(|e| ntp_secs > e)
    }
}

/// NTP seconds (era-0 based, continuing past 2036) of a Unix time.
pub fn ntp_seconds(unix_secs: i64) -> i64 {
    unix_secs + NTP_UNIX
}

/// The first second of the month after the one containing `ntp_secs` (UTC), NTP seconds.
pub fn end_of_month(ntp_secs: i64) -> i64 {
    let days = (ntp_secs - NTP_UNIX).div_euclid(86_400);
    let (y, m, _) = civil_from_days(days);
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    days_from_civil(ny, nm, 1) * 86_400 + NTP_UNIX
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
#\tUpdated through IERS Bulletin C
#$\t 3929093563
#@\t3960057600
2272060800\t10\t# 1 Jan 1972
2287785600\t11\t# 1 Jul 1972
3644697600\t36\t# 1 Jul 2015
3692217600\t37\t# 1 Jan 2017
";

    #[test]
    fn parses_entries_expiry_and_offsets() {
        let t = LeapTable::parse(SAMPLE).unwrap();
        assert_eq!(t.entries.len(), 4);
        assert_eq!(t.expires, Some(3_960_057_600));
        assert_eq!(t.tai_offset(3_692_217_600), 37);
        assert_eq!(t.tai_offset(3_692_217_599), 36);
        assert_eq!(
            t.next_leap(3_692_000_000),
            Some((3_692_217_600, Leap::Insert))
        );
        assert_eq!(t.next_leap(3_700_000_000), None);
        assert!(t.is_expired(3_960_057_601));
    }

    #[test]
    fn errors_name_the_line() {
        let e = LeapTable::parse("2272060800 10\nbogus 11\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = LeapTable::parse("2287785600 11\n2272060800 10\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(LeapTable::parse("# only comments\n").is_err());
    }

    #[test]
    fn end_of_month_is_the_next_first_of_month() {
        // 2016-12-31 12:00 UTC -> 2017-01-01 00:00 UTC (the last leap second's boundary).
        let noon = ntp_seconds(1_483_185_600);
        assert_eq!(end_of_month(noon), 3_692_217_600);
        // 2026-02-10 -> 2026-03-01.
        assert_eq!(
            end_of_month(ntp_seconds(1_770_681_600)),
            ntp_seconds(1_772_323_200)
        );
    }
}
