//! Timing: read the RTC right after its second ticks, and write it at the sub-second moment
//! that makes its next tick coincide with the system clock's (util-linux
//! `synchronize_to_clock_tick` and `set_hardware_clock_exact`).

use std::io;
use std::time::{Duration, Instant};

use super::{Rtc, RtcTime, Timeval};

/// Where verbose lines (stdout in hwclock) and warnings (stderr) go. ntpd passes a logger.
pub trait Report {
    fn info(&mut self, line: &str);
    fn warn(&mut self, line: &str);
}

/// A failure that has already been reported through [`Report::warn`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reported;

/// Reports nothing.
pub struct Quiet;

impl Report for Quiet {
    fn info(&mut self, _: &str) {}
    fn warn(&mut self, _: &str) {}
}

/// How long util-linux waits for an update interrupt, and for the busy-poll fallback.
pub const UIE_TIMEOUT: Duration = Duration::from_secs(10);
pub const BUSY_WAIT_LIMIT: Duration = Duration::from_millis(1500);

/// C `strerror` text of an I/O error, without Rust's " (os error N)" suffix.
pub fn strerror(e: &io::Error) -> String {
    match e.raw_os_error() {
        // std's text is the C library's strerror_r, plus the suffix
        Some(code) => {
            let text = io::Error::from_raw_os_error(code).to_string();
            let suffix = format!(" (os error {code})");
            text.strip_suffix(&suffix).unwrap_or(&text).to_string()
        }
        None => e.to_string(),
    }
}

/// Wait for the RTC's next second edge: the update interrupt (up to 10 s) when the driver
/// has one, else poll RTC_RD_TIME until the seconds change (up to 1.5 s). Err(Reported) after the
/// failure has been reported.
pub fn synchronize_to_tick(
    rtc: &mut dyn Rtc,
    verbose: bool,
    out: &mut dyn Report,
) -> Result<(), Reported> {
    match rtc.set_update_interrupt(true) {
        Ok(()) => {
            let result = match rtc.wait_update(UIE_TIMEOUT) {
                Ok(true) => Ok(()),
                Ok(false) => {
                    out.warn(&format!(
                        "select() to {} to wait for clock tick timed out",
                        rtc.path()
                    ));
                    Err(Reported)
                }
                Err(e) => {
                    out.warn(&format!(
                        "select() to {} to wait for clock tick failed: {}",
                        rtc.path(),
                        strerror(&e)
                    ));
                    Err(Reported)
                }
            };
            if let Err(e) = rtc.set_update_interrupt(false) {
                out.warn(&format!(
                    "ioctl() to {} to turn off update interrupts failed: {}",
                    rtc.path(),
                    strerror(&e)
                ));
            }
            result
        }
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTTY) | Some(libc::EINVAL)) => {
            if verbose {
                out.info(&format!(
                    "ioctl({}, RTC_UIE_ON, 0): {}",
                    rtc.fd_number(),
                    strerror(&e)
                ));
                out.info(&format!(
                    "Waiting in loop for time from {} to change",
                    rtc.path()
                ));
            }
            busy_wait_for_tick(rtc, out)
        }
        Err(e) => {
            out.warn(&format!(
                "ioctl({}, RTC_UIE_ON, 0) to {} failed: {}",
                rtc.fd_number(),
                rtc.path(),
                strerror(&e)
            ));
            Err(Reported)
        }
    }
}

fn busy_wait_for_tick(rtc: &mut dyn Rtc, out: &mut dyn Report) -> Result<(), Reported> {
    let start = read_or_report(rtc, out)?;
    let begin = Instant::now();
    loop {
        let now = read_or_report(rtc, out)?;
        if now.tm_sec != start.tm_sec {
            return Ok(());
        }
        if begin.elapsed() > BUSY_WAIT_LIMIT {
            out.warn("Timed out waiting for time change.");
            return Err(Reported);
        }
    }
}

/// RTC_RD_TIME, reporting a failure in util-linux's words.
pub fn read_or_report(rtc: &mut dyn Rtc, out: &mut dyn Report) -> Result<RtcTime, Reported> {
    rtc.read_time().map_err(|e| {
        out.warn(&format!(
            "ioctl(RTC_RD_TIME) to {} to read the time failed: {}",
            rtc.path(),
            strerror(&e)
        ));
        Reported
    })
}

/// The write delay util-linux uses: `--delay` if given, else 0.5 s for the MC146818
/// (`rtc_cmos`, whose next tick comes 500 ms after a write) or an unknown driver, else 0.
pub fn write_delay(
    rtc: &dyn Rtc,
    delay_opt: Option<f64>,
    verbose: bool,
    out: &mut dyn Report,
) -> f64 {
    if let Some(d) = delay_opt {
        return d;
    }
    match rtc.driver_name() {
        Some(name) => {
            if verbose {
                out.info(&format!("RTC type: '{name}'"));
            }
            if name == "rtc_cmos" {
                0.5
            } else {
                0.0
            }
        }
        None => 0.5,
    }
}

/// What `set_exact` decided: the RTC value written and the system time it was written at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExactSet {
    pub rtc_secs: i64,
    pub written_at: Timeval,
}

/// Spin until the system clock reads `refsystime + delay` (1 ms tolerance, doubling its
/// increment after each miss and re-aiming at the same sub-second offset of a later second),
/// then return the whole-second RTC value that corresponds to `sethwtime` at `refsystime`:
/// `sethwtime + ceil(now - refsystime - delay)`. The caller writes it immediately.
pub fn wait_for_exact_moment(
    sethwtime: i64,
    refsystime: Timeval,
    delay: f64,
    now: &mut dyn FnMut() -> Timeval,
    verbose: bool,
    out: &mut dyn Report,
) -> ExactSet {
    let mut tolerance = 0.001;
    let mut tolerance_incr = 0.001;
    let delay_usec = (delay * 1e6) as i64;
    let mut target = Timeval::new(
        refsystime.sec + (refsystime.usec + delay_usec).div_euclid(1_000_000),
        (refsystime.usec + delay_usec).rem_euclid(1_000_000),
    );
    let mut prev = refsystime;
    let (nowsys, delta) = loop {
        let nowsys = now();
        let delta = nowsys.diff(target);
        let ticksize = nowsys.diff(prev);
        prev = nowsys;
        if ticksize < 0.0 {
            if verbose {
                out.info(&format!(
                    "time jumped backward {ticksize:.6} seconds to {nowsys} - retargeting"
                ));
            }
        } else if delta < 0.0 {
            continue;
        } else if delta <= tolerance {
            break (nowsys, delta);
        } else {
            if verbose {
                out.info(&format!(
                    "missed it - {nowsys} is too far past {target} ({delta:.6} > {tolerance:.6})"
                ));
            }
            tolerance += tolerance_incr;
            tolerance_incr *= 2.0;
        }
        target.sec = if nowsys.usec < target.usec {
            nowsys.sec
        } else {
            nowsys.sec + 1
        };
    };
    let rtc_secs = sethwtime + (nowsys.diff(refsystime) - delay).ceil() as i64;
    if verbose {
        out.info(&format!(
            "{nowsys} is close enough to {target} ({delta:.6} < {tolerance:.6})"
        ));
        out.info(&format!(
            "Set RTC to {rtc_secs} ({sethwtime} + {}; refsystime = {refsystime})",
            rtc_secs - sethwtime
        ));
    }
    ExactSet {
        rtc_secs,
        written_at: nowsys,
    }
}

/// `hwclock --systohc` without the program around it, for ntpd's `rtcsync`: write the
/// system time into the RTC (UTC or local time) at the sub-second moment the driver needs.
pub fn write_system_time(
    rtc: &mut dyn Rtc,
    utc: bool,
    delay: Option<f64>,
    now: &mut dyn FnMut() -> Timeval,
) -> io::Result<ExactSet> {
    let delay = write_delay(rtc, delay, false, &mut Quiet);
    let reference = Timeval::new(now().sec, 0);
    let exact = wait_for_exact_moment(reference.sec, reference, delay, now, false, &mut Quiet);
    let broken = RtcTime::from_unix(exact.rtc_secs, utc).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "time not representable as a date",
        )
    })?;
    rtc.set_time(&broken)?;
    Ok(exact)
}

/// Read the RTC right after its second ticks: (RTC seconds since the epoch, system time of
/// the read). `utc` says how the RTC keeps time.
pub fn read_on_tick(
    rtc: &mut dyn Rtc,
    utc: bool,
    now: &mut dyn FnMut() -> Timeval,
    out: &mut dyn Report,
) -> Result<(i64, Timeval), Reported> {
    synchronize_to_tick(rtc, false, out)?;
    let t = read_or_report(rtc, out)?;
    let read_at = now();
    match t.to_unix(utc) {
        Some(secs) => Ok((secs, read_at)),
        None => {
            out.warn("RTC read returned an invalid value.");
            Err(Reported)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_set_lands_half_a_second_after_the_reference() {
        // A clock that advances 100 µs per read, starting at 1000.000000.
        let mut t = Timeval::new(1000, 0);
        let mut clock = move || {
            t = t.inc(0.0001);
            t
        };
        let r = wait_for_exact_moment(
            5000,
            Timeval::new(1000, 0),
            0.5,
            &mut clock,
            false,
            &mut Quiet,
        );
        assert_eq!(r.written_at.sec, 1000);
        assert!((500_000..=501_000).contains(&r.written_at.usec), "{:?}", r);
        // ceil(0.5 - 0.5) == 0: the RTC gets the reference second itself.
        assert_eq!(r.rtc_secs, 5000);
    }

    /// Records writes; reads are not needed by `write_system_time`.
    struct Recorder(Vec<RtcTime>);

    impl Rtc for Recorder {
        fn path(&self) -> &str {
            "test"
        }
        fn read_time(&mut self) -> io::Result<RtcTime> {
            Err(io::Error::from_raw_os_error(libc::ENOTTY))
        }
        fn set_time(&mut self, time: &RtcTime) -> io::Result<()> {
            self.0.push(*time);
            Ok(())
        }
        fn set_update_interrupt(&mut self, _: bool) -> io::Result<()> {
            Ok(())
        }
        fn wait_update(&mut self, _: Duration) -> io::Result<bool> {
            Ok(true)
        }
        fn driver_name(&self) -> Option<String> {
            Some("rtc_cmos".into())
        }
    }

    #[test]
    fn rtcsync_writes_the_next_second_at_half_past() {
        let mut rtc = Recorder(Vec::new());
        let mut t = Timeval::new(1_936_771_200, 250_000);
        let mut clock = move || {
            t = t.inc(0.0003);
            t
        };
        let set = write_system_time(&mut rtc, true, None, &mut clock).unwrap();
        assert_eq!(set.written_at.sec, 1_936_771_200);
        assert!((500_000..501_000).contains(&set.written_at.usec), "{set:?}");
        assert_eq!(rtc.0.len(), 1);
        assert_eq!(rtc.0[0].to_unix(true), Some(set.rtc_secs));
        assert_eq!(set.rtc_secs, 1_936_771_201);
    }

    #[test]
    fn a_missed_moment_retargets_the_next_second_and_advances_the_value() {
        // The first read comes 2.3 s late (preempted); later reads advance 100 µs.
        let mut t = Timeval::new(1002, 300_000);
        let mut clock = move || {
            let r = t;
            t = t.inc(0.0001);
            r
        };
        let r = wait_for_exact_moment(
            5000,
            Timeval::new(1000, 0),
            0.5,
            &mut clock,
            false,
            &mut Quiet,
        );
        assert_eq!(r.written_at.sec, 1002);
        assert!(
            r.written_at.usec >= 500_000 && r.written_at.usec <= 503_000,
            "{:?}",
            r
        );
        assert_eq!(r.rtc_secs, 5002);
    }
}
