//! NTP time formats (RFC 5905 §6): the 64-bit timestamp, the 32-bit short format and
//! signed durations, with era handling so that 2036-02-07 is just another day.
//!
//! A wire timestamp carries no era. We resolve it against a pivot (usually "now") by
//! picking the era that puts it nearest the pivot, which is right for any timestamp within
//! ±68 years of the pivot — the RFC 5905 rule.

use std::fmt;
use std::ops::{Add, Neg, Sub};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds from 1900-01-01 (NTP epoch, era 0) to 1970-01-01 (Unix epoch).
pub const UNIX_NTP_OFFSET: u64 = 2_208_988_800;

/// 64-bit NTP timestamp: 32-bit seconds within an era, 32-bit fraction.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NtpTimestamp(pub u64);

/// A signed span of time in units of 2^-32 s (the timestamp fraction), ±68 years.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NtpDuration(pub i64);

/// 32-bit NTP short format (16.16 unsigned seconds): root delay and dispersion.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NtpShort(pub u32);

impl NtpTimestamp {
    pub const ZERO: NtpTimestamp = NtpTimestamp(0);

    pub fn from_parts(seconds: u32, fraction: u32) -> Self {
        NtpTimestamp(((seconds as u64) << 32) | fraction as u64)
    }
    pub fn seconds(self) -> u32 {
        (self.0 >> 32) as u32
    }
    pub fn fraction(self) -> u32 {
        self.0 as u32
    }
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
    pub fn to_be_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }
    pub fn from_be_bytes(b: [u8; 8]) -> Self {
        NtpTimestamp(u64::from_be_bytes(b))
    }

    /// Timestamp for a point on the Unix time line (any era; the era bits are dropped).
    pub fn from_unix(unix: UnixTime) -> Self {
        let ntp_secs = unix.secs as i128 + UNIX_NTP_OFFSET as i128;
        let secs = ntp_secs.rem_euclid(1 << 32) as u64;
        // nanoseconds → 2^-32 fraction, rounded to nearest
        let frac = ((unix.nanos as u64) << 32)
            .div_ceil(1_000_000_000)
            .min(u32::MAX as u64);
        NtpTimestamp((secs << 32) | frac)
    }

    pub fn from_system_time(t: SystemTime) -> Self {
        Self::from_unix(UnixTime::from_system_time(t))
    }

    /// Resolve the era against `pivot`: the Unix time nearest to `pivot` that has these
    /// 64 bits.
    pub fn to_unix(self, pivot: UnixTime) -> UnixTime {
        let pivot_ts = NtpTimestamp::from_unix(pivot);
        let diff = self - pivot_ts; // wrapping, signed, ±68 years
        pivot + diff
    }

    /// The mode 6 text form `0x%08x.%08x`.
    pub fn to_hex_string(self) -> String {
        format!("0x{:08x}.{:08x}", self.seconds(), self.fraction())
    }

    /// Parse `0xXXXXXXXX.XXXXXXXX` (mode 6); the `0x` is optional.
    pub fn parse_hex(s: &str) -> Option<Self> {
        let s = s.trim();
        let s = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .unwrap_or(s);
        let (a, b) = s.split_once('.')?;
        let secs = u32::from_str_radix(a, 16).ok()?;
        let frac = u32::from_str_radix(b, 16).ok()?;
        Some(Self::from_parts(secs, frac))
    }
}

impl Sub for NtpTimestamp {
    type Output = NtpDuration;
    /// Signed difference, correct across an era boundary as long as the two are within
    /// 68 years of each other.
    fn sub(self, rhs: Self) -> NtpDuration {
        NtpDuration(self.0.wrapping_sub(rhs.0) as i64)
    }
}

impl Add<NtpDuration> for NtpTimestamp {
    type Output = NtpTimestamp;
    fn add(self, d: NtpDuration) -> NtpTimestamp {
        NtpTimestamp(self.0.wrapping_add(d.0 as u64))
    }
}

impl Sub<NtpDuration> for NtpTimestamp {
    type Output = NtpTimestamp;
    fn sub(self, d: NtpDuration) -> NtpTimestamp {
        NtpTimestamp(self.0.wrapping_sub(d.0 as u64))
    }
}

impl fmt::Debug for NtpTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NtpTimestamp({})", self.to_hex_string())
    }
}

impl NtpDuration {
    pub const ZERO: NtpDuration = NtpDuration(0);
    const UNITS_PER_SEC: f64 = 4_294_967_296.0;

    pub fn from_seconds(s: f64) -> Self {
        let v = (s * Self::UNITS_PER_SEC).round();
        NtpDuration(v.clamp(i64::MIN as f64, i64::MAX as f64) as i64)
    }
    pub fn to_seconds(self) -> f64 {
        self.0 as f64 / Self::UNITS_PER_SEC
    }
    pub fn from_nanos(ns: i64) -> Self {
        NtpDuration(((ns as i128) << 32).div_euclid(1_000_000_000) as i64)
    }
    pub fn to_nanos(self) -> i64 {
        ((self.0 as i128 * 1_000_000_000) >> 32) as i64
    }
    pub fn abs(self) -> Self {
        NtpDuration(self.0.saturating_abs())
    }
}

impl Add for NtpDuration {
    type Output = NtpDuration;
    fn add(self, o: Self) -> Self {
        NtpDuration(self.0.wrapping_add(o.0))
    }
}
impl Sub for NtpDuration {
    type Output = NtpDuration;
    fn sub(self, o: Self) -> Self {
        NtpDuration(self.0.wrapping_sub(o.0))
    }
}
impl Neg for NtpDuration {
    type Output = NtpDuration;
    fn neg(self) -> Self {
        NtpDuration(self.0.wrapping_neg())
    }
}
impl fmt::Debug for NtpDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NtpDuration({:+.9}s)", self.to_seconds())
    }
}

impl NtpShort {
    pub fn from_seconds(s: f64) -> Self {
        let v = (s * 65536.0).round();
        NtpShort(v.clamp(0.0, u32::MAX as f64) as u32)
    }
    pub fn to_seconds(self) -> f64 {
        self.0 as f64 / 65536.0
    }
}
impl fmt::Debug for NtpShort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NtpShort({:.6}s)", self.to_seconds())
    }
}

/// A point on the Unix time line with nanoseconds, signed (so 1900 and 2106 both fit).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct UnixTime {
    pub secs: i64,
    /// 0..1_000_000_000
    pub nanos: u32,
}

impl UnixTime {
    pub fn new(secs: i64, nanos: u32) -> Self {
        let extra = (nanos / 1_000_000_000) as i64;
        UnixTime {
            secs: secs + extra,
            nanos: nanos % 1_000_000_000,
        }
    }
    pub fn from_system_time(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => UnixTime {
                secs: d.as_secs() as i64,
                nanos: d.subsec_nanos(),
            },
            Err(e) => {
                let d = e.duration();
                let mut secs = -(d.as_secs() as i64);
                let mut nanos = d.subsec_nanos();
                if nanos > 0 {
                    secs -= 1;
                    nanos = 1_000_000_000 - nanos;
                }
                UnixTime { secs, nanos }
            }
        }
    }
    pub fn to_system_time(self) -> SystemTime {
        if self.secs >= 0 {
            UNIX_EPOCH + Duration::new(self.secs as u64, self.nanos)
        } else {
            UNIX_EPOCH - Duration::from_secs((-self.secs) as u64)
                + Duration::from_nanos(self.nanos as u64)
        }
    }
    pub fn as_seconds_f64(self) -> f64 {
        self.secs as f64 + self.nanos as f64 * 1e-9
    }
    pub fn from_seconds_f64(s: f64) -> Self {
        let secs = s.floor();
        let nanos = ((s - secs) * 1e9).round() as u32;
        UnixTime::new(secs as i64, nanos)
    }
    fn total_nanos(self) -> i128 {
        self.secs as i128 * 1_000_000_000 + self.nanos as i128
    }
    fn from_total_nanos(n: i128) -> Self {
        UnixTime {
            secs: n.div_euclid(1_000_000_000) as i64,
            nanos: n.rem_euclid(1_000_000_000) as u32,
        }
    }
}

impl Add<NtpDuration> for UnixTime {
    type Output = UnixTime;
    fn add(self, d: NtpDuration) -> UnixTime {
        let dn = (d.0 as i128 * 1_000_000_000) >> 32;
        UnixTime::from_total_nanos(self.total_nanos() + dn)
    }
}

impl Sub for UnixTime {
    type Output = f64;
    /// Difference in seconds.
    fn sub(self, o: UnixTime) -> f64 {
        (self.total_nanos() - o.total_nanos()) as f64 * 1e-9
    }
}

// Howard Hinnant's civil-calendar algorithms (proleptic Gregorian, days since 1970-01-01).
/// Civil date (year, month 1–12, day 1–31) from days since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Days since 1970-01-01 of a civil date (inverse of `civil_from_days`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_epoch_is_ntp_offset() {
        let ts = NtpTimestamp::from_unix(UnixTime::new(0, 0));
        assert_eq!(ts.seconds() as u64, UNIX_NTP_OFFSET);
        assert_eq!(ts.fraction(), 0);
    }

    #[test]
    fn era_rollover_2036() {
        // 2036-02-07 06:28:16 UTC is NTP seconds 2^32, i.e. era 1 second 0.
        let rollover_unix = (1i64 << 32) - UNIX_NTP_OFFSET as i64;
        let before = UnixTime::new(rollover_unix - 1, 500_000_000);
        let after = UnixTime::new(rollover_unix + 1, 250_000_000);
        let tb = NtpTimestamp::from_unix(before);
        let ta = NtpTimestamp::from_unix(after);
        assert_eq!(tb.seconds(), u32::MAX);
        assert_eq!(ta.seconds(), 1);
        // difference across the boundary is small and positive
        assert!(((ta - tb).to_seconds() - 1.75).abs() < 1e-9);
        // resolving against a pivot on either side gives back the right era
        assert_eq!(ta.to_unix(before), after);
        assert_eq!(tb.to_unix(after), before);
    }

    #[test]
    fn hex_round_trip() {
        let ts = NtpTimestamp::from_parts(0xe3f2a1b2, 0x1f3b645a);
        assert_eq!(ts.to_hex_string(), "0xe3f2a1b2.1f3b645a");
        assert_eq!(NtpTimestamp::parse_hex("0xe3f2a1b2.1f3b645a"), Some(ts));
    }

    #[test]
    fn duration_seconds() {
        let d = NtpDuration::from_seconds(-0.25);
        assert_eq!(d.0, -(1i64 << 30));
        assert_eq!(d.to_seconds(), -0.25);
        assert_eq!(NtpDuration::from_nanos(1_000_000_000).0, 1i64 << 32);
    }
}
