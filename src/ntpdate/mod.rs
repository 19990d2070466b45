//! ntpdate: ask servers for the time once, choose one with the engine's clock filter and
//! selection, then print (`-q`) or set the clock. ntp.org 4.2.8's behaviour and output;
//! see docs/ntpdate.md for the differences and the `--rank` extension.

pub mod auth;
pub mod choose;
pub mod output;
pub mod query;
pub mod rank;
pub mod target;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::clock::{ClockError, KernelClock, SystemClock};

use choose::Decision;
use output::Logger;
use target::Family;

/// |offset| at or above which ntpdate steps rather than slews (ntp.org's 0.5 s).
pub const STEP_THRESHOLD: f64 = 0.5;

/// Everything the command line says.
#[derive(Clone, Debug)]
pub struct Options {
    pub family: Family,
    /// `-a`: authenticate with this key.
    pub key_id: Option<u32>,
    /// `-b`: always step.
    pub always_step: bool,
    /// `-B`: always slew.
    pub always_slew: bool,
    /// `-d`: verbose, never sets the clock.
    pub debug: bool,
    /// `-k`: keys file.
    pub keyfile: PathBuf,
    /// `-o`: NTP version to send.
    pub version: u8,
    /// `-p`: samples per server.
    pub samples: usize,
    /// `-q`: query only.
    pub query_only: bool,
    /// `-s`: log to syslog.
    pub syslog: bool,
    /// `-t`: per-packet timeout.
    pub timeout: Duration,
    /// `-v`: log the version.
    pub log_version: bool,
    /// `--rank`: print the ranking table (query only).
    pub rank: bool,
    /// `--json`: print the ranking as JSON (query only).
    pub json: bool,
    /// `--color` and the environment (apps::color): colour the `--rank` table.
    pub color: bool,
    pub servers: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            family: Family::Any,
            key_id: None,
            always_step: false,
            always_slew: false,
            debug: false,
            keyfile: PathBuf::from("/etc/ntp.keys"),
            version: 4,
            samples: 4,
            query_only: false,
            syslog: false,
            timeout: Duration::from_secs(2),
            log_version: false,
            rank: false,
            json: false,
            color: false,
            servers: Vec::new(),
        }
    }
}

/// ntp.org's `-t` handling: whole multiples of its 0.2 s timer tick, at least 1 s.
pub fn round_timeout(seconds: f64) -> Duration {
    let ticks = if seconds.is_finite() {
        (seconds * 5.0).clamp(0.0, 5.0 * 3600.0) as u64
    } else {
        0
    };
    Duration::from_millis(ticks.max(5) * 200)
}

/// Run ntpdate; returns the exit code (0 chosen and set/queried, 1 otherwise).
pub fn run(opts: &Options) -> i32 {
    let log = Logger::new(opts.syslog);
    if opts.log_version {
        log.notice(&format!("ntpdate ntpkit {}", env!("CARGO_PKG_VERSION")));
    }
    let authenticator = match opts.key_id.map(|id| load_key(&log, opts, id)).transpose() {
        Ok(a) => a,
        Err(e) => {
            log.error(&e.to_string());
            return 1;
        }
    };

    let mut addrs: Vec<SocketAddr> = Vec::new();
    for arg in &opts.servers {
        let t = target::parse(arg);
        match target::resolve(&t, opts.family) {
            Some(found) => addrs.extend(found),
            None => eprintln!("ntpdate: can't find host {arg}"),
        }
    }
    if addrs.is_empty() {
        log.error("no servers can be used, exiting");
        return 1;
    }

    let cfg = query::QueryConfig {
        samples: opts.samples,
        timeout: opts.timeout,
        version: opts.version,
        auth: authenticator,
    };
    let queries = match query::query_all(&addrs, &cfg) {
        Ok(q) => q,
        Err(e) => {
            log.error(&format!("cannot open an NTP socket: {e}"));
            return 1;
        }
    };
    let decision = choose::decide(&queries);

    if opts.json || opts.rank {
        let text = if opts.json {
            rank::json(&decision) + "\n"
        } else {
            let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
            rank::table(&decision, tty, opts.color)
        };
        let _ = std::io::stdout().write_all(text.as_bytes());
        return if decision.chosen.is_some() { 0 } else { 1 };
    }

    let mut out = std::io::stdout().lock();
    if opts.debug {
        let _ = out.write_all(debug_report(&queries, &decision).as_bytes());
    }
    if opts.query_only || opts.debug {
        for s in &decision.servers {
            let _ = writeln!(out, "{}", output::server_line(s));
        }
    }
    let _ = out.flush();
    drop(out);

    let Some(chosen) = decision.chosen else {
        log.error("no server suitable for synchronization found");
        return 1;
    };
    let server = &decision.servers[chosen];
    let offset = server.offset;
    let step = !opts.always_slew && (opts.always_step || offset.abs() >= STEP_THRESHOLD);
    if !(opts.query_only || opts.debug) {
        if let Err(e) = set_clock(step, offset) {
            let what = if step { "step-systime" } else { "adj_systime" };
            log.error(&format!("{what}: {e}"));
            return 1;
        }
    }
    log.notice(&output::result_message(step, server.addr, offset));
    0
}

fn load_key(log: &Logger, opts: &Options, id: u32) -> Result<auth::Authenticator, auth::KeyError> {
    let (authenticator, notes) = auth::Authenticator::load(&opts.keyfile, id)?;
    for n in notes {
        log.error(&n);
    }
    Ok(authenticator)
}

/// A failed step or slew, worded as ntpdate words it after `step-systime: `.
#[derive(Debug, thiserror::Error)]
#[error("{}", describe(.0))]
struct SetClockError(ClockError);

fn describe(e: &ClockError) -> String {
    match e {
        // strerror(EPERM), as ntpdate's `%m` prints it
        ClockError::PermissionDenied => "Operation not permitted".to_string(),
        other => other.to_string(),
    }
}

/// Step or slew the system clock.
fn set_clock(step: bool, offset: f64) -> Result<(), SetClockError> {
    if step {
        let mut clock = KernelClock::new().map_err(SetClockError)?;
        clock.step(offset).map_err(SetClockError)
    } else {
        crate::clock::oneshot::slew(offset).map_err(SetClockError)
    }
}

/// `-d`: every sample of every server, then the selection's verdict.
pub fn debug_report(queries: &[query::ServerQuery], d: &Decision) -> String {
    let mut s = String::new();
    for (q, v) in queries.iter().zip(&d.servers) {
        s.push_str(&format!(
            "{}: sent {}, received {}, bogus {}{}{}\n",
            output::addr_text(q.addr),
            q.sent,
            q.replies.len(),
            q.bogus,
            q.kiss.map(|k| format!(", kiss {k:?}")).unwrap_or_default(),
            q.error
                .as_ref()
                .map(|e| format!(", error: {e}"))
                .unwrap_or_default()
        ));
        for r in &q.replies {
            let h = &r.header;
            s.push_str(&format!(
                "  stratum {} leap {} refid {} precision {} rootdelay {:.6} rootdisp {:.6}  \
                 offset {:.6} delay {:.6} disp {:.6}\n",
                h.stratum,
                h.leap.bits(),
                h.reference_id.render(h.stratum),
                h.precision,
                h.root_delay.to_seconds(),
                h.root_dispersion.to_seconds(),
                r.sample.offset,
                r.sample.delay,
                r.sample.dispersion
            ));
        }
        s.push_str(&format!(
            "  filter: offset {:.6} delay {:.6} disp {:.6} jitter {:.6} distance {:.6} -> {}{}\n",
            v.offset,
            v.delay,
            v.dispersion,
            v.jitter,
            v.distance,
            v.outcome.name(),
            v.reason.map(|r| format!(" ({r:?})")).unwrap_or_default()
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_rounding() {
        assert_eq!(round_timeout(2.0), Duration::from_secs(2));
        assert_eq!(round_timeout(1.3), Duration::from_millis(1200));
        assert_eq!(round_timeout(0.1), Duration::from_secs(1));
        assert_eq!(round_timeout(f64::NAN), Duration::from_secs(1));
        assert_eq!(round_timeout(-3.0), Duration::from_secs(1));
    }
}
