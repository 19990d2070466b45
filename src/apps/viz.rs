//! `ntpkit viz`: one self-contained HTML page of ntpviz's plots (and Allan/time deviation)
//! from loopstats and peerstats files, ours or ntp.org's/NTPsec's (`crate::viz`).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use clap::{Arg, ArgAction, Command};

use crate::viz::{page, stats};

pub fn command() -> Command {
    Command::new("viz")
        .about("draw loopstats and peerstats as one HTML page (ntpviz's plots, inline SVG)")
        .long_about(
            "Read loopstats and peerstats files as ntpd writes them (`statsdir`, `statistics \
             loopstats peerstats`, `filegen … type day enable`; ours, ntp.org's and NTPsec's \
             are the same format) and write one self-contained HTML page with inline SVG: \
             local clock offset, frequency, jitter and stability, the offset histogram, \
             per-peer offsets, jitters and delays, ntpviz's percentile table, and the Allan \
             and time deviation of the local clock and of each peer. A directory argument \
             reads its loopstats* and peerstats* files, rotated day files included. Lines \
             that do not parse are skipped and counted; a file with no good line is an \
             error naming its first bad line. Exit status: 0 written, 1 bad input or \
             output error, 2 bad option.",
        )
        .arg(
            Arg::new("paths")
                .value_name("PATH")
                .num_args(1..)
                .required(true)
                .value_parser(clap::value_parser!(PathBuf))
                .help("loopstats/peerstats files, or directories holding them"),
        )
        .arg(
            Arg::new("output")
                .short('o')
                .long("output")
                .value_name("FILE")
                .default_value("-")
                .value_parser(clap::value_parser!(PathBuf))
                .help("where to write the HTML page (- for standard output)"),
        )
        .arg(
            Arg::new("start")
                .long("start")
                .value_name("TIME")
                .help("leave out records before TIME (UTC, e.g. 2026-11-25T06:00:00Z or \"2026-11-25 06:00\", or Unix seconds)"),
        )
        .arg(
            Arg::new("end")
                .long("end")
                .value_name("TIME")
                .help("leave out records after TIME (as --start)"),
        )
        .arg(
            Arg::new("period")
                .long("period")
                .value_name("DURATION")
                .value_parser(|s: &str| humantime::parse_duration(s).map_err(|e| e.to_string()))
                .help("only this much (e.g. 1d, 12h, 90min): before --end, after --start, or up to the newest record"),
        )
        .arg(
            Arg::new("sim")
                .long("sim")
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help("an ntpsim run's loopstats (ntpsim --loopstats FILE) to draw over the real run"),
        )
        .arg(
            Arg::new("title")
                .long("title")
                .value_name("TEXT")
                .help("the page's title [default: NTP statistics]"),
        )
        .arg(
            Arg::new("quiet")
                .short('q')
                .long("quiet")
                .action(ArgAction::SetTrue)
                .help("do not report skipped lines on standard error"),
        )
}

/// A time on the command line: Unix seconds, or RFC 3339 in UTC (`T` or a space, seconds
/// and the `Z` optional).
pub fn parse_time(s: &str) -> anyhow::Result<f64> {
    if let Ok(v) = s.parse::<f64>() {
        if v.is_finite() {
            return Ok(v);
        }
    }
    let t = s.trim().trim_end_matches('Z');
    let full = match t.len() {
        10 => format!("{t} 00:00:00"),
        16 => format!("{t}:00"),
        _ => t.to_string(),
    };
    humantime::parse_rfc3339_weak(&full)
        .map(|st| {
            st.duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0)
        })
        .map_err(|e| anyhow!("{s:?}: {e} (expected e.g. 2026-11-25T06:00:00Z or Unix seconds)"))
}

/// The window [start, end] the options ask for; `newest` is the last record's time.
pub fn window(
    start: Option<f64>,
    end: Option<f64>,
    period: Option<Duration>,
    newest: f64,
) -> (f64, f64) {
    let p = period.map(|d| d.as_secs_f64());
    match (start, end, p) {
        (Some(s), Some(e), _) => (s, e),
        (Some(s), None, Some(p)) => (s, s + p),
        (None, Some(e), Some(p)) => (e - p, e),
        (None, None, Some(p)) => (newest - p, newest),
        (s, e, None) => (s.unwrap_or(f64::NEG_INFINITY), e.unwrap_or(f64::INFINITY)),
    }
}

pub fn main(args: Vec<OsString>) -> i32 {
    let m = match super::matches_or_exit(command(), &args) {
        Ok(m) => m,
        Err(code) => return code,
    };
    match run(&m) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ntpkit viz: {e:#}");
            1
        }
    }
}

fn run(m: &clap::ArgMatches) -> anyhow::Result<()> {
    let quiet = m.get_flag("quiet");
    let time = |name: &str| -> anyhow::Result<Option<f64>> {
        m.get_one::<String>(name)
            .map(|s| parse_time(s).map_err(|e| anyhow!("--{name} {e}")))
            .transpose()
    };
    let (start, end) = (time("start")?, time("end")?);
    let paths: Vec<PathBuf> = m
        .get_many::<PathBuf>("paths")
        .expect("required")
        .cloned()
        .collect();
    let mut s = stats::read_paths(&paths)?;
    if s.loops.is_empty() && s.peers.is_empty() {
        bail!(
            "no loopstats or peerstats records in {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let newest = s
        .loops
        .iter()
        .chain([])
        .map(|r| r.t)
        .chain(s.peers.iter().map(|r| r.t))
        .fold(f64::NEG_INFINITY, f64::max);
    let (from, to) = window(start, end, m.get_one::<Duration>("period").copied(), newest);
    s.loops.retain(|r| r.t >= from && r.t <= to);
    s.peers.retain(|r| r.t >= from && r.t <= to);
    if s.loops.is_empty() && s.peers.is_empty() {
        bail!("no records in the time window (--start/--end/--period)");
    }
    let sim = match m.get_one::<PathBuf>("sim") {
        Some(p) => {
            let mut sim = stats::Stats::default();
            stats::read_file(p, &mut sim)?;
            sim.loops.sort_by(|a, b| a.t.total_cmp(&b.t));
            Some(sim)
        }
        None => None,
    };
    if !quiet {
        for (what, st) in [("", Some(&s)), (" (--sim)", sim.as_ref())] {
            let Some(st) = st else { continue };
            if st.skipped > 0 {
                eprintln!(
                    "ntpkit viz: skipped {} line(s) that do not parse{what}; first: {}",
                    st.skipped,
                    st.first_bad.join("; ")
                );
            }
        }
    }
    let mut provenance = format!(
        "{} loopstats and {} peerstats records from {} file(s)",
        s.loops.len(),
        s.peers.len(),
        s.files.len()
    );
    let first = s
        .loops
        .iter()
        .map(|r| r.t)
        .chain(s.peers.iter().map(|r| r.t))
        .fold(f64::INFINITY, f64::min);
    let last = s
        .loops
        .iter()
        .map(|r| r.t)
        .chain(s.peers.iter().map(|r| r.t))
        .fold(f64::NEG_INFINITY, f64::max);
    provenance.push_str(&format!(", {} to {} UTC", utc(first), utc(last)));
    if s.skipped > 0 {
        provenance.push_str(&format!(", {} unparseable line(s) skipped", s.skipped));
    }
    if let Some(sim) = &sim {
        provenance.push_str(&format!(
            "; ntpsim overlay: {} loopstats records",
            sim.loops.len()
        ));
    }
    let html = page::render(&page::Input {
        title: m
            .get_one::<String>("title")
            .map(String::as_str)
            .unwrap_or("NTP statistics"),
        stats: &s,
        sim: sim.as_ref(),
        provenance,
    });
    let out = m.get_one::<PathBuf>("output").expect("defaulted");
    if out.as_os_str() == "-" {
        use std::io::Write;
        std::io::stdout()
            .lock()
            .write_all(html.as_bytes())
            .context("standard output")
    } else {
        std::fs::write(out, html).with_context(|| out.display().to_string())
    }
}

fn utc(t: f64) -> String {
    let st = UNIX_EPOCH + Duration::from_secs_f64(t.max(0.0));
    humantime::format_rfc3339_seconds(st)
        .to_string()
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_windows() {
        assert_eq!(parse_time("1795568400").unwrap(), 1_795_568_400.0);
        assert_eq!(parse_time("2026-11-25T01:00:00Z").unwrap(), 1_795_568_400.0);
        assert_eq!(parse_time("2026-11-25 01:00").unwrap(), 1_795_568_400.0);
        assert_eq!(parse_time("2026-11-25").unwrap(), 1_795_564_800.0);
        assert!(parse_time("yesterday")
            .unwrap_err()
            .to_string()
            .contains("yesterday"));
        let day = Some(Duration::from_secs(86_400));
        assert_eq!(window(None, None, day, 1e6), (1e6 - 86_400.0, 1e6));
        assert_eq!(window(Some(10.0), None, day, 1e6), (10.0, 86_410.0));
        assert_eq!(window(None, Some(1e5), day, 1e6), (1e5 - 86_400.0, 1e5));
        assert_eq!(window(Some(1.0), Some(2.0), day, 1e6), (1.0, 2.0));
        assert_eq!(window(None, None, None, 1e6).0, f64::NEG_INFINITY);
    }
}
