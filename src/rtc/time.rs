//! The kernel's `struct rtc_time`, broken-down time conversions (through the C library, so
//! local time follows TZ exactly as util-linux's does), and util-linux's timeval arithmetic.

use std::ffi::c_int;

use crate::sys::clock::broken_down;

/// `struct rtc_time` from linux/rtc.h: 9 ints, 36 bytes; tm_year counts from 1900 and
/// tm_mon from 0, as in `struct tm`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RtcTime {
    pub tm_sec: c_int,
    pub tm_min: c_int,
    pub tm_hour: c_int,
    pub tm_mday: c_int,
    pub tm_mon: c_int,
    pub tm_year: c_int,
    pub tm_wday: c_int,
    pub tm_yday: c_int,
    pub tm_isdst: c_int,
}

const _: () = assert!(std::mem::size_of::<RtcTime>() == 36);

impl RtcTime {
    /// Broken-down `secs` (Unix time) in UTC or in the local time zone.
    pub fn from_unix(secs: i64, utc: bool) -> Option<RtcTime> {
        let tm = broken_down(secs, utc)?;
        Some(RtcTime {
            tm_sec: tm.tm_sec,
            tm_min: tm.tm_min,
            tm_hour: tm.tm_hour,
            tm_mday: tm.tm_mday,
            tm_mon: tm.tm_mon,
            tm_year: tm.tm_year,
            tm_wday: tm.tm_wday,
            tm_yday: tm.tm_yday,
            tm_isdst: tm.tm_isdst,
        })
    }

    /// Unix time of this broken-down time read as UTC (`timegm`) or local time (`mktime`,
    /// DST unknown). None when the C library rejects it (util-linux's "invalid values").
    pub fn to_unix(&self, utc: bool) -> Option<i64> {
        let fields = [
            self.tm_sec,
            self.tm_min,
            self.tm_hour,
            self.tm_mday,
            self.tm_mon,
            self.tm_year,
        ];
        crate::sys::clock::from_broken_down(fields, -1, utc)
    }

    /// `YYYY/MM/DD hh:mm:ss`, as util-linux's verbose lines print it.
    pub fn slash_format(&self) -> String {
        format!(
            "{:4}/{:02}/{:02} {:02}:{:02}:{:02}",
            self.tm_year + 1900,
            self.tm_mon + 1,
            self.tm_mday,
            self.tm_hour,
            self.tm_min,
            self.tm_sec
        )
    }
}

/// Seconds east of UTC of the local time zone at `secs`.
pub fn local_utc_offset(secs: i64) -> i64 {
    broken_down(secs, false).map_or(0, |tm| tm.tm_gmtoff)
}

/// A `struct timeval`, with util-linux hwclock's arithmetic (its rounding quirks included,
/// so drift figures match the reference to the microsecond).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timeval {
    pub sec: i64,
    pub usec: i64,
}

impl Timeval {
    pub const fn new(sec: i64, usec: i64) -> Timeval {
        Timeval { sec, usec }
    }

    /// The system clock now (CLOCK_REALTIME).
    pub fn now() -> Timeval {
        let ts = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
        Timeval {
            sec: ts.tv_sec,
            usec: ts.tv_nsec / 1000,
        }
    }

    /// `self - other` in seconds (util-linux `time_diff`).
    pub fn diff(self, other: Timeval) -> f64 {
        // in f64 (exact below 2^53 s): a hostile /etc/adjtime must not overflow i64
        (self.sec as f64 - other.sec as f64) + (self.usec - other.usec) as f64 / 1e6
    }

    /// `self + increment` (util-linux `time_inc`: whole seconds truncated toward zero, then
    /// the microseconds normalised).
    pub fn inc(self, increment: f64) -> Timeval {
        let whole = increment.trunc();
        let mut sec = self.sec.saturating_add(whole as i64);
        // As in C: the sum is formed in double, then truncated into tv_usec.
        let mut usec = (self.usec as f64 + (increment - whole) * 1e6) as i64;
        if usec < 0 {
            usec += 1_000_000;
            sec = sec.saturating_sub(1);
        } else if usec >= 1_000_000 {
            usec -= 1_000_000;
            sec = sec.saturating_add(1);
        }
        Timeval { sec, usec }
    }

    /// util-linux ≥ 2.28 display form: `2026-11-25 16:05:12.345678+00:00`, local time.
    pub fn iso_local(self) -> Option<String> {
        let tm = broken_down(self.sec, false)?;
        let minutes = tm.tm_gmtoff / 60;
        Some(format!(
            "{:4}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}{:+03}:{:02}",
            tm.tm_year as i64 + 1900,
            tm.tm_mon + 1,
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec,
            self.usec,
            minutes / 60,
            (minutes % 60).abs()
        ))
    }
}

impl std::fmt::Display for Timeval {
    /// `sec.usec` as util-linux prints `%ld.%06ld`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:06}", self.sec, self.usec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_round_trip_of_a_known_date() {
        // 2031-05-17T08:00:00Z, the qemu test's base time.
        let t = RtcTime::from_unix(1_936_771_200, true).unwrap();
        assert_eq!((t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour), (131, 4, 17, 8));
        assert_eq!(t.to_unix(true), Some(1_936_771_200));
        assert_eq!(t.slash_format(), "2031/05/17 08:00:00");
    }

    #[test]
    fn timeval_arithmetic_matches_util_linux() {
        let t = Timeval::new(100, 200_000);
        assert_eq!(t.inc(-0.5), Timeval::new(99, 700_000));
        // (1.9 - 1) * 1e6 is 899999.99…; summed in double first, as C does, it rounds up.
        assert_eq!(t.inc(1.9), Timeval::new(102, 100_000));
        assert!((Timeval::new(101, 0).diff(t) - 0.8).abs() < 1e-9);
        assert_eq!(Timeval::new(5, 42).to_string(), "5.000042");
    }
}
