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
    let (adj, warning) = Adjtime::parse(&String::from_utf8_lossy(&text));
    if let Some(w) = warning {
        env.out.warn(w);
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
            let target = ctl.date.unwrap_or(0);
            let tdrift = self.drift(target, env);
            let predicted =
                Timeval::new(target, 0).inc(-(tdrift.sec as f64 + tdrift.usec as f64 / 1e6));
            if ctl.verbose {
                env.out.info(&format!("Target date:   {target}"));
                env.out.info(&format!("Predicted RTC: {}", predicted.sec));
            }
            return display(predicted, env);
        }
        if f == Function::SysTz {
            return self.set_system_clock(env.startup, false, env);
        }
        let Some(rtc) = rtc else { return 1 };
        let rtc: &mut dyn Rtc = rtc.as_mut();

        let mut hclock = Timeval::default();
        let mut read_time = Timeval::default();
        let mut startup_hclock = Timeval::default();
        let mut tdrift = Timeval::default();
        if !matches!(f, Function::Set | Function::SysToHc) || ctl.update_drift {
            // Timing critical: tick, read, timestamp, in this order and nothing between.
            if ctl.verbose {
                env.out.info("Waiting for clock tick...");
            }
            let ticked = sync::synchronize_to_tick(rtc, ctl.verbose, env.out);
            if ctl.verbose {
                env.out.info(if ticked.is_ok() {
                    "...got clock tick"
                } else {
                    "...synchronization failed"
                });
            }
            if ticked.is_err() {
                return 1;
            }
            let read = sync::read_or_report(rtc, env.out);
            read_time = env.clock.now();
            let Some(secs) = read.ok().and_then(|t| self.rtc_to_unix(&t, env)) else {
                env.out.warn("RTC read returned an invalid value.");
                return 1;
            };
            tdrift = self.drift(secs, env);
            hclock = Timeval::new(secs, 0);
            if f != Function::Show {
                hclock = tdrift.inc(secs as f64);
            }
            startup_hclock = hclock.inc(env.startup.diff(read_time));
        }
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
                if tdrift.sec > 0 || tdrift.sec < -1 {
                    if self.adj.last_adj_time == 0 {
                        if ctl.verbose {
                            env.out.info("Not setting clock because last adjustment time is zero, so history is bad.");
                        }
                    } else if self.adj.drift_factor.abs() > super::adjtime::MAX_DRIFT {
                        if ctl.verbose {
                            env.out.info(&format!(
                                "Not setting clock because drift factor {:.6} is far too high.",
                                self.adj.drift_factor
                            ));
                        }
                    } else {
                        let reference = read_time.inc(-(hclock.usec as f64 / 1e6));
                        if self.set_exact(rtc, hclock.sec, reference, env).is_err() {
                            return 1;
                        }
                        self.adj.last_adj_time = hclock.sec;
                        self.adj.not_adjusted = 0.0;
                        self.adj.dirty = true;
                    }
                } else {
                    env.out
                        .info("Needed adjustment is less than one second, so not setting clock.");
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

/// `--date`: `@SECONDS`, or `YYYY-MM-DD[ HH:MM[:SS[.frac]]]` (also `/` for `-` and `T` for
/// the space) with an optional zone `Z`, `UTC` or `±HH[:]MM`; local time without one.
/// Whole seconds, as util-linux keeps.
pub fn parse_date(text: &str) -> Option<i64> {
    let s = text.trim();
    if let Some(n) = s.strip_prefix('@') {
        return n.trim().parse::<f64>().ok().map(|v| v.floor() as i64);
    }
    let (body, offset) = split_zone(s)?;
    let (date, time) = match body.split_once([' ', 'T']) {
        Some((d, t)) => (d, t.trim()),
        None => (body, ""),
    };
    let parts: Vec<&str> = date.split(['-', '/']).collect();
    let [y, mo, d] = parts.as_slice() else {
        return None;
    };
    let (year, month, day): (i32, i32, i32) = (y.parse().ok()?, mo.parse().ok()?, d.parse().ok()?);
    let (mut hour, mut minute, mut second) = (0, 0, 0);
    if !time.is_empty() {
        let fields: Vec<&str> = time.split(':').collect();
        if !(2..=3).contains(&fields.len()) {
            return None;
        }
        hour = fields[0].parse().ok()?;
        minute = fields[1].parse().ok()?;
        if let Some(sec) = fields.get(2) {
            second = sec.parse::<f64>().ok()?.floor() as i32;
        }
    }
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let t = RtcTime {
        tm_sec: second,
        tm_min: minute,
        tm_hour: hour,
        tm_mday: day,
        tm_mon: month - 1,
        tm_year: year - 1900,
        ..RtcTime::default()
    };
    match offset {
        Some(east) => Some(t.to_unix(true)? - east),
        None => t.to_unix(false),
    }
}

/// Split a trailing zone designator off: (rest, seconds east of UTC if given).
fn split_zone(s: &str) -> Option<(&str, Option<i64>)> {
    for z in ["UTC", "utc", "Z", "z", "GMT"] {
        if let Some(rest) = s.strip_suffix(z) {
            if rest.ends_with(|c: char| c.is_ascii_digit() || c == ' ') {
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
