//! The operations of `hwclock`, following util-linux's `manipulate_clock` step by step so
//! output, adjtime contents and exit codes match. The program front-end (`apps::hwclock`)
//! only parses flags into a [`Control`].

use std::io;

use super::adjtime::{Adjtime, Timescale};
use super::device::{RtcDevice, DEFAULT_PATHS};
use super::sync::{self, strerror, Report};
use super::sysclock::SystemClock;
use super::{Rtc, RtcTime, Timeval};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Function {
    #[default]
    Show,
    Get,
    Set,
    HcToSys,
    SysToHc,
    SysTz,
    Adjust,
    Predict,
}

#[derive(Clone, Debug, Default)]
pub struct Control {
    pub function: Function,
    pub utc: bool,
    pub localtime: bool,
    pub rtc_path: Option<String>,
    pub adjfile: String,
    pub noadjfile: bool,
    pub update_drift: bool,
    pub delay: Option<f64>,
    pub testing: bool,
    pub verbose: bool,
    /// From `--date`, for `--set` and `--predict`.
    pub date: Option<i64>,
}

pub const DEFAULT_ADJFILE: &str = "/etc/adjtime";

/// What the operations touch: the RTC (opened by path), the system clock, and where lines
/// go (`info` = stdout, `warn` = stderr with the program prefix).
pub struct Env<'a> {
    pub open_rtc: &'a mut dyn FnMut(&str) -> io::Result<Box<dyn Rtc>>,
    pub clock: &'a mut dyn SystemClock,
    pub out: &'a mut dyn Report,
    /// The system time when the program started (util-linux `startup_time`).
    pub startup: Timeval,
    /// The first line of `--verbose`, e.g. `hwclock from ntpkit 0.1.0`.
    pub version_line: String,
}

/// Opens real devices.
pub fn open_device(path: &str) -> io::Result<Box<dyn Rtc>> {
    Ok(Box::new(RtcDevice::open(path)?))
}

/// Run `hwclock`: the exit code (0 or 1).
pub fn run(ctl: &Control, env: &mut Env) -> i32 {
    if ctl.verbose {
        env.out.info(&env.version_line.clone());
        env.out.info(&format!("System Time: {}", env.startup));
    }
    let mut rtc = None;
    if !matches!(ctl.function, Function::SysTz | Function::Predict) {
        match find_rtc(ctl, env) {
            Some(r) => rtc = Some(r),
            None => return 1,
        }
    }
    let mut adj = Adjtime::default();
    if !ctl.noadjfile && !(ctl.function == Function::SysTz && (ctl.utc || ctl.localtime)) {
        match read_adjtime(ctl, env) {
            Ok(a) => adj = a,
            Err(()) => return 1,
        }
    }
    let universal = if ctl.utc {
        true
    } else if ctl.localtime {
        false
    } else {
        adj.timescale != Timescale::Local
    };
    if ctl.verbose {
        env.out.info(&format!(
            "Assuming hardware clock is kept in {} time.",
            if universal { "UTC" } else { "local" }
        ));
    }
    let mut op = Op {
        ctl,
        universal,
        adj,
    };
    let rc = op.manipulate(rtc.as_mut(), env);
    if ctl.testing {
        env.out.info("Test mode: nothing was changed.");
    }
    rc
}

fn find_rtc(ctl: &Control, env: &mut Env) -> Option<Box<dyn Rtc>> {
    let found = match &ctl.rtc_path {
        Some(path) => (env.open_rtc)(path).ok(),
        None => {
            let mut found = None;
            for path in DEFAULT_PATHS {
                if ctl.verbose {
                    env.out.info(&format!("Trying to open: {path}"));
                }
                match (env.open_rtc)(path) {
                    Ok(r) => {
                        found = Some(r);
                        break;
                    }
                    Err(e)
                        if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENODEV)) => {}
                    Err(e) => {
                        if ctl.verbose {
                            env.out
                                .warn(&format!("cannot open {path}: {}", strerror(&e)));
                        }
                        break;
                    }
                }
            }
            found
        }
    };
    match found {
        Some(r) => {
            if ctl.verbose {
                env.out.info("Using the rtc interface to the clock.");
            }
            Some(r)
        }
        None => {
            if ctl.verbose {
                env.out.info("No usable clock interface found.");
            }
            env.out
                .warn("Cannot access the Hardware Clock via any known method.");
            if !ctl.verbose {
                env.out.warn(
                    "Use the --verbose option to see the details of our search for an access method.",
                );
            }
            None
        }
    }
}

fn read_adjtime(ctl: &Control, env: &mut Env) -> Result<Adjtime, ()> {
    let path = std::path::Path::new(&ctl.adjfile);
    if rustix::fs::access(path, rustix::fs::Access::READ_OK).is_err() {
        return Ok(Adjtime::default());
    }
    let text = std::fs::read(path).map_err(|e| {
        env.out
            .warn(&format!("cannot open {}: {}", ctl.adjfile, strerror(&e)))
    })?;
    let (adj, warnings) = Adjtime::parse(&String::from_utf8_lossy(&text));
    for w in warnings {
        env.out.warn(&w);
    }
    if ctl.verbose {
        env.out.info(&format!(
            "Last drift adjustment done at {} seconds after 1969",
            adj.last_adj_time
        ));
        env.out.info(&format!(
            "Last calibration done at {} seconds after 1969",
            adj.last_calib_time
        ));
        env.out.info(&format!(
            "Hardware clock is on {} time",
            match adj.timescale {
                Timescale::Local => "local",
                Timescale::Utc => "UTC",
                Timescale::Unknown => "unknown",
            }
        ));
    }
    Ok(adj)
}

/// One reading of the RTC (util-linux's `hclocktime`, `read_time`, `startup_hclocktime`,
/// `tdrift`); all zero when the operation does not read the clock.
#[derive(Clone, Copy, Default)]
struct Reading {
    /// The RTC's time, corrected for drift (except for `--show`).
    hclock: Timeval,
    /// The system time just after the read.
    read_time: Timeval,
    /// `hclock` as of the program's start.
    startup_hclock: Timeval,
    /// The drift correction applied.
    tdrift: Timeval,
}

struct Op<'c> {
    ctl: &'c Control,
    universal: bool,
    adj: Adjtime,
}

impl Op<'_> {
    fn manipulate(&mut self, rtc: Option<&mut Box<dyn Rtc>>, env: &mut Env) -> i32 {
        let ctl = self.ctl;
        let f = ctl.function;
        if matches!(f, Function::Set | Function::SysToHc | Function::Adjust)
            && (self.adj.timescale == Timescale::Utc) != self.universal
        {
            self.adj.timescale = if self.universal {
                Timescale::Utc
            } else {
                Timescale::Local
            };
            self.adj.dirty = true;
        }
        if f == Function::Predict {
            return self.predict(env);
        }
        if f == Function::SysTz {
            return self.set_system_clock(env.startup, false, env);
        }
        let Some(rtc) = rtc else { return 1 };
        let rtc: &mut dyn Rtc = rtc.as_mut();

        let mut reading = Reading::default();
        if !matches!(f, Function::Set | Function::SysToHc) || ctl.update_drift {
            match self.read_at_tick(rtc, env) {
                Some(r) => reading = r,
                None => return 1,
            }
        }
        let Reading {
            hclock,
            startup_hclock,
            ..
        } = reading;
        match f {
            Function::Show | Function::Get => return display(startup_hclock, env),
            Function::Set => {
                let target = ctl.date.unwrap_or(0);
                if self.set_exact(rtc, target, env.startup, env).is_err() {
                    return 1;
                }
                if !ctl.noadjfile {
                    self.calibrate(Timeval::new(target, 0), startup_hclock, env);
                }
            }
            Function::Adjust => {
                if self.adjust(rtc, &reading, env).is_err() {
                    return 1;
                }
            }
            Function::SysToHc => {
                let now = env.clock.now();
                let reference = Timeval::new(now.sec, 0);
                if self.set_exact(rtc, reference.sec, reference, env).is_err() {
                    return 1;
                }
                if !ctl.noadjfile {
                    self.calibrate(now, hclock, env);
                }
            }
            Function::HcToSys => return self.set_system_clock(hclock, true, env),
            Function::SysTz | Function::Predict => unreachable!("handled above"),
        }
        if !ctl.noadjfile && self.adj.dirty {
            return self.save_adjtime(env);
        }
        0
    }

    /// `--predict`: what the RTC will read at `--date`, given the drift on record.
    fn predict(&self, env: &mut Env) -> i32 {
        let target = self.ctl.date.unwrap_or(0);
        let tdrift = self.drift(target, env);
        let predicted =
            Timeval::new(target, 0).inc(-(tdrift.sec as f64 + tdrift.usec as f64 / 1e6));
        if self.ctl.verbose {
            env.out.info(&format!("Target date:   {target}"));
            env.out.info(&format!("Predicted RTC: {}", predicted.sec));
        }
        display(predicted, env)
    }

    /// Read the RTC at the start of one of its seconds, and what that reading means with
    /// the drift on record; `None` (reported) when the tick or the read fails.
    fn read_at_tick(&self, rtc: &mut dyn Rtc, env: &mut Env) -> Option<Reading> {
        let verbose = self.ctl.verbose;
        // Timing critical: tick, read, timestamp, in this order and nothing between.
        if verbose {
            env.out.info("Waiting for clock tick...");
        }
        let ticked = sync::synchronize_to_tick(rtc, verbose, env.out);
        if verbose {
            env.out.info(if ticked.is_ok() {
                "...got clock tick"
            } else {
                "...synchronization failed"
            });
        }
        if ticked.is_err() {
            return None;
        }
        let read = sync::read_or_report(rtc, env.out);
        let read_time = env.clock.now();
        let Some(secs) = read.ok().and_then(|t| self.rtc_to_unix(&t, env)) else {
            env.out.warn("RTC read returned an invalid value.");
            return None;
        };
        let tdrift = self.drift(secs, env);
        let mut hclock = Timeval::new(secs, 0);
        if self.ctl.function != Function::Show {
            hclock = tdrift.inc(secs as f64);
        }
        Some(Reading {
            hclock,
            read_time,
            startup_hclock: hclock.inc(env.startup.diff(read_time)),
            tdrift,
        })
    }

    /// `--adjust`: set the RTC by the drift on record, when that is a second or more and
    /// the record can be trusted. `Err` when the write failed (reported).
    fn adjust(&mut self, rtc: &mut dyn Rtc, r: &Reading, env: &mut Env) -> Result<(), ()> {
        let verbose = self.ctl.verbose;
        if !(r.tdrift.sec > 0 || r.tdrift.sec < -1) {
            env.out
                .info("Needed adjustment is less than one second, so not setting clock.");
        } else if self.adj.last_adj_time == 0 {
            if verbose {
                env.out.info(
                    "Not setting clock because last adjustment time is zero, so history is bad.",
                );
            }
        } else if self.adj.drift_factor.abs() > super::adjtime::MAX_DRIFT {
            if verbose {
                env.out.info(&format!(
                    "Not setting clock because drift factor {:.6} is far too high.",
                    self.adj.drift_factor
                ));
            }
        } else {
            let reference = r.read_time.inc(-(r.hclock.usec as f64 / 1e6));
            self.set_exact(rtc, r.hclock.sec, reference, env)?;
            self.adj.last_adj_time = r.hclock.sec;
            self.adj.not_adjusted = 0.0;
            self.adj.dirty = true;
        }
        Ok(())
    }

    fn drift(&self, systime: i64, env: &mut Env) -> Timeval {
        let tdrift = self.adj.drift_correction(systime);
        if self.ctl.verbose {
            let since = systime - self.adj.last_adj_time;
            env.out.info(&format!(
                "Time since last adjustment is {since} second{}",
                if since == 1 { "" } else { "s" }
            ));
            env.out.info(&format!(
                "Calculated Hardware Clock drift is {}.{:06} seconds",
                tdrift.sec, tdrift.usec
            ));
        }
        tdrift
    }

    fn rtc_to_unix(&self, t: &RtcTime, env: &mut Env) -> Option<i64> {
        if self.ctl.verbose {
            env.out.info(&format!(
                "Time read from Hardware Clock: {}",
                t.slash_format()
            ));
        }
        let secs = t.to_unix(self.universal);
        if self.ctl.verbose {
            match secs {
                Some(s) => env.out.info(&format!(
                    "Hw clock time : {} = {s} seconds since 1969",
                    t.slash_format()
                )),
                None => env.out.info(&format!(
                    "Invalid values in hardware clock: {}",
                    t.slash_format()
                )),
            }
        }
        secs
    }

    fn calibrate(&mut self, now: Timeval, corrected_rtc: Timeval, env: &mut Env) {
        let decision = self
            .adj
            .calibrate(now, corrected_rtc, self.ctl.update_drift);
        if self.ctl.verbose {
            env.out.info(&decision.describe());
        }
    }

    /// Write `sethwtime` (which is true at system time `reference`) at the right moment.
    fn set_exact(
        &self,
        rtc: &mut dyn Rtc,
        sethwtime: i64,
        reference: Timeval,
        env: &mut Env,
    ) -> Result<(), ()> {
        let delay = sync::write_delay(rtc, self.ctl.delay, self.ctl.verbose, env.out);
        if self.ctl.verbose {
            env.out.info(&format!("Using delay: {delay:.6} seconds"));
        }
        let clock = &mut *env.clock;
        let exact = sync::wait_for_exact_moment(
            sethwtime,
            reference,
            delay,
            &mut || clock.now(),
            self.ctl.verbose,
            env.out,
        );
        let Some(broken) = RtcTime::from_unix(exact.rtc_secs, self.universal) else {
            env.out
                .warn(&format!("cannot convert {} to a date", exact.rtc_secs));
            return Err(());
        };
        if self.ctl.verbose {
            env.out.info(&format!(
                "Setting Hardware Clock to {:02}:{:02}:{:02} = {} seconds since 1969",
                broken.tm_hour, broken.tm_min, broken.tm_sec, exact.rtc_secs
            ));
        }
        if self.ctl.testing {
            return Ok(());
        }
        match rtc.set_time(&broken) {
            Ok(()) => {
                if self.ctl.verbose {
                    env.out.info("ioctl(RTC_SET_TIME) was successful.");
                }
                Ok(())
            }
            Err(e) => {
                env.out.warn(&format!(
                    "ioctl(RTC_SET_TIME) to {} to set the time failed: {}",
                    rtc.path(),
                    strerror(&e)
                ));
                Err(())
            }
        }
    }

    /// util-linux `set_system_clock`: lock warp_clock (UTC RTC), set the kernel time zone,
    /// then (for --hctosys) the time.
    fn set_system_clock(&self, newtime: Timeval, hctosys: bool, env: &mut Env) -> i32 {
        let minutes_west = (-super::time::local_utc_offset(newtime.sec) / 60) as i32;
        let skip_tz = self.universal && minutes_west == 0;
        if self.ctl.verbose {
            if self.universal {
                env.out
                    .info("Calling settimeofday(NULL, 0) to lock the warp_clock function.");
                if !skip_tz {
                    env.out.info(&format!(
                        "Calling settimeofday(NULL, {minutes_west}) to set the kernel timezone."
                    ));
                }
            } else {
                env.out.info(&format!("Calling settimeofday(NULL, {minutes_west}) to warp System time, set PCIL and the kernel tz."));
            }
            if hctosys {
                env.out.info(&format!(
                    "Calling settimeofday({newtime}, NULL) to set the System time."
                ));
            }
        }
        if self.ctl.testing {
            return 0;
        }
        let mut result: io::Result<()> = Ok(());
        if self.universal {
            result = env.clock.set_timezone(0);
        }
        if result.is_ok() && !skip_tz {
            result = env.clock.set_timezone(minutes_west);
        }
        let enosys = matches!(&result, Err(e) if e.raw_os_error() == Some(libc::ENOSYS));
        if (result.is_ok() || enosys) && hctosys {
            result = env.clock.set_time(newtime);
        }
        match result {
            Ok(()) => 0,
            Err(e) => {
                env.out
                    .warn(&format!("settimeofday() failed: {}", strerror(&e)));
                1
            }
        }
    }

    fn save_adjtime(&self, env: &mut Env) -> i32 {
        let content = self.adj.render();
        if self.ctl.verbose {
            env.out.info(&format!(
                "New {} data:\n{}",
                self.ctl.adjfile,
                content.trim_end_matches('\n')
            ));
        }
        if self.ctl.testing {
            return 0;
        }
        match std::fs::write(&self.ctl.adjfile, content) {
            Ok(()) => 0,
            Err(e) => {
                env.out.warn(&format!(
                    "cannot open {}: {}",
                    self.ctl.adjfile,
                    strerror(&e)
                ));
                1
            }
        }
    }
}

fn display(t: Timeval, env: &mut Env) -> i32 {
    match t.iso_local() {
        Some(s) => {
            env.out.info(&s);
            0
        }
        None => 1,
    }
}

/// `--date`, as util-linux's `parse_timestamp` reads it (the parser Debian's hwclock is built
/// with): `now`, `today`, `yesterday`, `tomorrow`; `+5min`, `-1h`, `1 hour ago`; an optional
/// weekday, then `[YY]YY-MM-DD[ |T]HH:MM[:SS]`, `[YY]YY-MM-DD` or `HH:MM[:SS]` in local time
/// (out-of-range days roll over as mktime does). Extensions of the GNU-date build of
/// util-linux: `@SECONDS`, and a trailing `Z`/`UTC`/`±HH:MM` zone. Whole seconds.
pub fn parse_date(text: &str) -> Option<i64> {
    parse_date_at(text, Timeval::now().sec)
}

/// [`parse_date`] with "now" given.
pub fn parse_date_at(text: &str, now: i64) -> Option<i64> {
    let s = text.trim();
    if let Some(n) = s.strip_prefix('@') {
        return n.trim().parse::<f64>().ok().map(|v| v.floor() as i64);
    }
    let midnight = |days: i64| {
        let t = RtcTime::from_unix(now, false)?;
        RtcTime {
            tm_sec: 0,
            tm_min: 0,
            tm_hour: 0,
            tm_mday: t.tm_mday + days as i32,
            ..t
        }
        .to_unix(false)
    };
    match s {
        "now" => return Some(now),
        "today" => return midnight(0),
        "yesterday" => return midnight(-1),
        "tomorrow" => return midnight(1),
        _ => {}
    }
    if let Some(rest) = s.strip_prefix('+') {
        return Some(now + parse_span(rest)?);
    }
    if let Some(rest) = s.strip_prefix('-') {
        return Some(now - parse_span(rest)?);
    }
    if let Some(rest) = s.strip_suffix(" ago") {
        return Some(now - parse_span(rest)?);
    }
    let (weekday, s) = strip_weekday(s);
    let (body, zone) = split_zone(s)?;
    let t = parse_calendar(body, now)?;
    let secs = match zone {
        Some(east) => t.to_unix(true)? - east,
        None => t.to_unix(false)?,
    };
    if let Some(w) = weekday {
        let check = RtcTime::from_unix(secs, zone.is_none())?;
        if check.tm_wday != w {
            return None;
        }
    }
    Some(secs)
}

/// `[YY]YY-MM-DD[ |T]HH:MM[:SS]`, `[YY]YY-MM-DD`, `HH:MM[:SS]` (today) as broken-down time.
fn parse_calendar(s: &str, now: i64) -> Option<RtcTime> {
    let (date, time) = if s.contains('-') {
        match s.split_once([' ', 'T']) {
            Some((d, t)) => (Some(d), Some(t.trim())),
            None => (Some(s), None),
        }
    } else {
        (None, Some(s))
    };
    let mut t = match date {
        Some(d) => {
            let parts: Vec<&str> = d.split('-').collect();
            let [y, m, d] = parts.as_slice() else {
                return None;
            };
            let year: i32 = match y.len() {
                // strptime %y: 69-99 are 19xx, 00-68 are 20xx.
                1 | 2 => {
                    let v: i32 = number(y)?;
                    if v >= 69 {
                        1900 + v
                    } else {
                        2000 + v
                    }
                }
                _ => number(y)?,
            };
            let (mon, day): (i32, i32) = (number(m)?, number(d)?);
            if !(1..=12).contains(&mon) || !(1..=31).contains(&day) {
                return None;
            }
            RtcTime {
                tm_mday: day,
                tm_mon: mon - 1,
                tm_year: year - 1900,
                ..RtcTime::default()
            }
        }
        None => RtcTime {
            tm_sec: 0,
            tm_min: 0,
            tm_hour: 0,
            ..RtcTime::from_unix(now, false)?
        },
    };
    if let Some(time) = time {
        let f: Vec<&str> = time.split(':').collect();
        if !(2..=3).contains(&f.len()) {
            return None;
        }
        let (h, m): (i32, i32) = (number(f[0])?, number(f[1])?);
        let sec: i32 = match f.get(2) {
            Some(x) => number(x)?,
            None => 0,
        };
        if h > 23 || m > 59 || sec > 61 {
            return None;
        }
        (t.tm_hour, t.tm_min, t.tm_sec) = (h, m, sec);
    }
    Some(t)
}

fn number<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

const WEEKDAYS: [(&str, &str); 7] = [
    ("Sun", "Sunday"),
    ("Mon", "Monday"),
    ("Tue", "Tuesday"),
    ("Wed", "Wednesday"),
    ("Thu", "Thursday"),
    ("Fri", "Friday"),
    ("Sat", "Saturday"),
];

/// A leading weekday name (checked against the date afterwards, as util-linux does).
fn strip_weekday(s: &str) -> (Option<i32>, &str) {
    for (i, (short, long)) in WEEKDAYS.iter().enumerate() {
        for name in [long, short] {
            if let Some(rest) = s.strip_prefix(name) {
                if let Some(rest) = rest.strip_prefix(' ') {
                    return (Some(i as i32), rest.trim_start());
                }
            }
        }
    }
    (None, s)
}

/// A time span like `5min`, `1h 30min`, `2 days`, `90` (seconds), in seconds.
fn parse_span(s: &str) -> Option<i64> {
    const UNITS: &[(&str, f64)] = &[
        ("seconds", 1.0),
        ("second", 1.0),
        ("sec", 1.0),
        ("s", 1.0),
        ("minutes", 60.0),
        ("minute", 60.0),
        ("min", 60.0),
        ("months", 2_629_800.0),
        ("month", 2_629_800.0),
        ("msec", 1e-3),
        ("ms", 1e-3),
        ("m", 60.0),
        ("hours", 3600.0),
        ("hour", 3600.0),
        ("hr", 3600.0),
        ("h", 3600.0),
        ("days", 86_400.0),
        ("day", 86_400.0),
        ("d", 86_400.0),
        ("weeks", 604_800.0),
        ("week", 604_800.0),
        ("w", 604_800.0),
        ("years", 31_557_600.0),
        ("year", 31_557_600.0),
        ("y", 31_557_600.0),
        ("usec", 1e-6),
        ("us", 1e-6),
    ];
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let value: f64 = rest[..digits].parse().ok()?;
        rest = rest[digits..].trim_start();
        let unit = UNITS.iter().find(|(name, _)| {
            rest.strip_prefix(name).is_some_and(|r| {
                r.is_empty() || r.starts_with(|c: char| c == ' ' || c.is_ascii_digit())
            })
        });
        let factor = match unit {
            Some((name, f)) => {
                rest = rest[name.len()..].trim_start();
                *f
            }
            None => 1.0,
        };
        total += value * factor;
    }
    Some(total as i64)
}

/// Split a trailing zone designator off: (rest, seconds east of UTC if given).
fn split_zone(s: &str) -> Option<(&str, Option<i64>)> {
    for z in ["UTC", "Z"] {
        if let Some(rest) = s.strip_suffix(z) {
            if rest.ends_with(|c: char| c.is_ascii_digit() || c == ' ') && rest.contains(':') {
                return Some((rest.trim_end(), Some(0)));
            }
        }
    }
    // ±HH:MM or ±HHMM after the time (not the date's own '-').
    if let Some(pos) = s.rfind(['+', '-']) {
        let zone = &s[pos + 1..];
        let digits: String = zone.chars().filter(|c| *c != ':').collect();
        let has_time = s[..pos].contains(':');
        if has_time && digits.len() == 4 && digits.chars().all(|c| c.is_ascii_digit()) {
            let h: i64 = digits[..2].parse().ok()?;
            let m: i64 = digits[2..].parse().ok()?;
            let east = (h * 3600 + m * 60) * if s.as_bytes()[pos] == b'-' { -1 } else { 1 };
            return Some((s[..pos].trim_end(), Some(east)));
        }
    }
    Some((s, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::time::Duration;

    #[test]
    fn dates_util_linux_accepts() {
        // 2026-11-25 16:05:12 UTC; TZ is whatever the test runner has, so compare through
        // the same local-time conversion.
        let now = 1_795_709_112;
        let local = |y, mo, d, h, mi, s| {
            RtcTime {
                tm_sec: s,
                tm_min: mi,
                tm_hour: h,
                tm_mday: d,
                tm_mon: mo - 1,
                tm_year: y - 1900,
                ..RtcTime::default()
            }
            .to_unix(false)
        };
        assert_eq!(
            parse_date_at("2031-05-17 08:00:00", now),
            local(2031, 5, 17, 8, 0, 0)
        );
        assert_eq!(
            parse_date_at("2031-05-17T08:00", now),
            local(2031, 5, 17, 8, 0, 0)
        );
        assert_eq!(parse_date_at("31-05-17", now), local(2031, 5, 17, 0, 0, 0));
        assert_eq!(parse_date_at("2031-02-30", now), local(2031, 3, 2, 0, 0, 0));
        assert_eq!(
            parse_date_at("Sat 2031-05-17 08:00:00", now),
            local(2031, 5, 17, 8, 0, 0)
        );
        assert_eq!(parse_date_at("Fri 2031-05-17 08:00:00", now), None);
        assert_eq!(parse_date_at("now", now), Some(now));
        assert_eq!(parse_date_at("+5min", now), Some(now + 300));
        assert_eq!(parse_date_at("-1h 30min", now), Some(now - 5400));
        assert_eq!(parse_date_at("2 days ago", now), Some(now - 172_800));
        assert_eq!(parse_date_at("@1936771200", now), Some(1_936_771_200));
        assert_eq!(
            parse_date_at("2031-05-17 08:00:00Z", now),
            Some(1_936_771_200)
        );
        assert_eq!(
            parse_date_at("2031-05-17 10:00:00+02:00", now),
            Some(1_936_771_200)
        );
        for bad in [
            "",
            "2031/05/17 08:00:00",
            "20310517",
            "2031-13-01",
            "25:00",
            "soon",
            "+",
        ] {
            assert_eq!(parse_date_at(bad, now), None, "{bad:?}");
        }
    }

    /// An RTC that ticks with a shared fake system clock: RTC = system + `offset` seconds.
    struct FakeRtc {
        now: Rc<RefCell<Timeval>>,
        offset: i64,
        writes: Rc<RefCell<Vec<(Timeval, RtcTime)>>>,
        deny_writes: bool,
    }

    impl Rtc for FakeRtc {
        fn path(&self) -> &str {
            "/dev/rtc0"
        }
        fn read_time(&mut self) -> io::Result<RtcTime> {
            let mut t = self.now.borrow_mut();
            *t = t.inc(0.001);
            Ok(RtcTime::from_unix(t.sec + self.offset, true).unwrap())
        }
        fn set_time(&mut self, time: &RtcTime) -> io::Result<()> {
            if self.deny_writes {
                return Err(io::Error::from_raw_os_error(libc::EACCES));
            }
            self.writes.borrow_mut().push((*self.now.borrow(), *time));
            self.offset = time.to_unix(true).unwrap() - self.now.borrow().sec;
            Ok(())
        }
        fn set_update_interrupt(&mut self, _on: bool) -> io::Result<()> {
            Err(io::Error::from_raw_os_error(libc::ENOTTY))
        }
        fn wait_update(&mut self, _: Duration) -> io::Result<bool> {
            Ok(false)
        }
        fn driver_name(&self) -> Option<String> {
            Some("rtc_cmos".into())
        }
    }

    struct FakeClock {
        now: Rc<RefCell<Timeval>>,
        set_to: Option<Timeval>,
        deny: bool,
    }

    impl SystemClock for FakeClock {
        fn now(&mut self) -> Timeval {
            let mut t = self.now.borrow_mut();
            *t = t.inc(0.0001);
            *t
        }
        fn set_timezone(&mut self, _: i32) -> io::Result<()> {
            if self.deny {
                Err(io::Error::from_raw_os_error(libc::EPERM))
            } else {
                Ok(())
            }
        }
        fn set_time(&mut self, tv: Timeval) -> io::Result<()> {
            self.set_to = Some(tv);
            Ok(())
        }
    }

    #[derive(Default)]
    struct Captured {
        out: Vec<String>,
        err: Vec<String>,
    }

    impl Report for Captured {
        fn info(&mut self, line: &str) {
            self.out.push(line.to_string());
        }
        fn warn(&mut self, line: &str) {
            self.err.push(line.to_string());
        }
    }

    struct Harness {
        now: Rc<RefCell<Timeval>>,
        writes: Rc<RefCell<Vec<(Timeval, RtcTime)>>>,
        dir: tempfile::TempDir,
    }

    impl Harness {
        fn new(start: Timeval) -> Harness {
            Harness {
                now: Rc::new(RefCell::new(start)),
                writes: Rc::default(),
                dir: tempfile::tempdir().unwrap(),
            }
        }
        fn adjfile(&self) -> String {
            self.dir.path().join("adjtime").display().to_string()
        }
        fn run(&self, ctl: Control, offset: i64, deny: bool) -> (i32, Captured, Option<Timeval>) {
            let (now, writes) = (self.now.clone(), self.writes.clone());
            let mut open = move |path: &str| -> io::Result<Box<dyn Rtc>> {
                if path != "/dev/rtc0" {
                    return Err(io::Error::from_raw_os_error(libc::ENOENT));
                }
                Ok(Box::new(FakeRtc {
                    now: now.clone(),
                    offset,
                    writes: writes.clone(),
                    deny_writes: deny,
                }))
            };
            let mut clock = FakeClock {
                now: self.now.clone(),
                set_to: None,
                deny,
            };
            let mut out = Captured::default();
            let startup = *self.now.borrow();
            let mut env = Env {
                open_rtc: &mut open,
                clock: &mut clock,
                out: &mut out,
                startup,
                version_line: "hwclock from test".into(),
            };
            let rc = run(&ctl, &mut env);
            (rc, out, clock.set_to)
        }
    }

    fn control(h: &Harness, function: Function) -> Control {
        Control {
            function,
            utc: true,
            adjfile: h.adjfile(),
            ..Control::default()
        }
    }

    #[test]
    fn show_reads_on_the_tick_and_refers_back_to_the_start() {
        // Start 0.3 s into a second; the RTC is 100 s ahead.
        let h = Harness::new(Timeval::new(1_936_771_200, 300_000));
        let (rc, out, _) = h.run(control(&h, Function::Show), 100, false);
        assert_eq!(rc, 0, "{:?}", out.err);
        // The tick comes at .000 of the next second: 1 936 771 301 read at 1 936 771 201.0,
        // shifted back 0.7 s to the start.
        let line = out.out.last().unwrap();
        let expected = Timeval::new(1_936_771_300, 300_000).iso_local().unwrap();
        assert_eq!(&line[..19], &expected[..19], "{line}");
    }

    #[test]
    fn systohc_writes_at_half_past_and_records_the_calibration() {
        let h = Harness::new(Timeval::new(1_936_771_200, 100_000));
        let (rc, out, _) = h.run(control(&h, Function::SysToHc), 5, false);
        assert_eq!(rc, 0, "{:?}", out.err);
        let writes = h.writes.borrow();
        assert_eq!(writes.len(), 1);
        let (at, value) = writes[0];
        assert_eq!(at.sec, 1_936_771_200);
        assert!((500_000..502_000).contains(&at.usec), "{at:?}");
        // util-linux: reference second + ceil(now - ref - 0.5).
        let expected = 1_936_771_200 + i64::from(at.usec > 500_000);
        assert_eq!(value.to_unix(true), Some(expected));
        let text = std::fs::read_to_string(h.adjfile()).unwrap();
        assert_eq!(text, "0.000000 1936771200 0.000000\n1936771200\nUTC\n");
    }

    #[test]
    fn hctosys_sets_the_drift_corrected_rtc_time() {
        let h = Harness::new(Timeval::new(1_936_771_200, 0));
        std::fs::write(
            h.adjfile(),
            "86.400000 1936684800 0.000000\n1936684800\nUTC\n",
        )
        .unwrap();
        let (rc, out, set_to) = h.run(control(&h, Function::HcToSys), 1000, false);
        assert_eq!(rc, 0, "{:?}", out.err);
        // Read on the tick at 1 936 771 201: the RTC says 1 936 772 201, last adjusted
        // 87 401 s before; at 86.4 s/day that is 87.401 s of drift correction.
        let set_to = set_to.expect("system clock set");
        assert_eq!(set_to.sec, 1_936_772_201 + 87);
        assert!((400_000..402_000).contains(&set_to.usec), "{set_to:?}");
    }

    #[test]
    fn refusals_without_cap_sys_time_read_like_util_linux() {
        let h = Harness::new(Timeval::new(1_936_771_200, 0));
        let (rc, out, _) = h.run(control(&h, Function::HcToSys), 0, true);
        assert_eq!(
            (rc, out.err),
            (
                1,
                vec!["settimeofday() failed: Operation not permitted".to_string()]
            )
        );
        let (rc, out, _) = h.run(control(&h, Function::SysToHc), 0, true);
        assert_eq!(
            (rc, out.err),
            (
                1,
                vec![
                    "ioctl(RTC_SET_TIME) to /dev/rtc0 to set the time failed: Permission denied"
                        .to_string()
                ]
            )
        );
        assert!(
            !std::path::Path::new(&h.adjfile()).exists(),
            "a failed -w must not write adjtime"
        );
    }

    #[test]
    fn no_rtc_is_reported_like_util_linux() {
        let h = Harness::new(Timeval::new(1_936_771_200, 0));
        let mut ctl = control(&h, Function::Show);
        ctl.rtc_path = Some("/dev/nothing".into());
        let (rc, out, _) = h.run(ctl, 0, false);
        assert_eq!(rc, 1);
        assert_eq!(
            out.err,
            [
                "Cannot access the Hardware Clock via any known method.",
                "Use the --verbose option to see the details of our search for an access method."
            ]
        );
    }
}
