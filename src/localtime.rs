//! Local civil time as people read it in log lines and ntpq's dates: the one
//! `localtime_r` call and the English month and weekday abbreviations that ntpd's log,
//! ntpdate's lines and ntpq's `prettydate` print (ntp.org prints the "C" locale's names
//! whatever the locale, so these are not looked up).

/// Month abbreviations, January first.
pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
/// Weekday abbreviations, Sunday first (as `struct tm`'s `tm_wday`).
pub const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// A moment broken down in the local time zone (TZ, /etc/localtime).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    /// 1 to 12.
    pub month: u8,
    /// 1 to 31.
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    /// 0 to 60 (60 only in a leap second the C library knows of).
    pub second: u8,
    /// 0 = Sunday.
    pub weekday: u8,
}

impl LocalTime {
    /// `unix_secs` in local time; `None` where the C library cannot say (a year out of its
    /// range).
    pub fn at(unix_secs: i64) -> Option<LocalTime> {
        // the one localtime_r call lives with the other unsafe code, in sys::clock
        let tm = crate::sys::clock::broken_down(unix_secs, false)?;
        Some(LocalTime {
            year: tm.tm_year.checked_add(1900)?,
            month: (tm.tm_mon.rem_euclid(12) + 1) as u8,
            day: tm.tm_mday.clamp(1, 31) as u8,
            hour: tm.tm_hour.clamp(0, 23) as u8,
            minute: tm.tm_min.clamp(0, 59) as u8,
            second: tm.tm_sec.clamp(0, 60) as u8,
            weekday: tm.tm_wday.rem_euclid(7) as u8,
        })
    }

    pub fn month_name(&self) -> &'static str {
        MONTHS[usize::from(self.month - 1) % 12]
    }

    pub fn weekday_name(&self) -> &'static str {
        WEEKDAYS[usize::from(self.weekday) % 7]
    }
}

/// The syslog-style stamp ntp.org's programs put before each log line (its
/// `humanlogtime()`, `%2d %s %02d:%02d:%02d`): `25 Nov 17:30:08`, always 15 characters.
pub fn log_stamp(unix_secs: i64) -> String {
    match LocalTime::at(unix_secs) {
        Some(t) => format!(
            "{:2} {} {:02}:{:02}:{:02}",
            t.day,
            t.month_name(),
            t.hour,
            t.minute,
            t.second
        ),
        None => "?? ??? ??:??:??".into(),
    }
}

/// [`log_stamp`] of the system clock's present second.
pub fn log_stamp_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    log_stamp(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_stamp_has_ntp_orgs_shape() {
        for t in [0, 1_700_000_000, 4_102_444_799] {
            let s = log_stamp(t);
            // " D Mon HH:MM:SS" or "DD Mon HH:MM:SS"
            assert_eq!(s.len(), 15, "{s:?}");
            assert!(MONTHS.contains(&&s[3..6]), "{s:?}");
            assert_eq!(&s[9..10], ":", "{s:?}");
        }
    }

    #[test]
    fn broken_down_fields_agree_with_the_names() {
        let t = LocalTime::at(1_700_000_000).expect("in range");
        assert!((1..=12).contains(&t.month) && (1..=31).contains(&t.day));
        assert_eq!(t.month_name(), MONTHS[usize::from(t.month) - 1]);
        assert!(WEEKDAYS.contains(&t.weekday_name()));
        assert_eq!(t.year, 2023);
    }
}
