//! `ntpdate`: query NTP servers once and set (or just show) the clock.
//! Flags, output and exit codes of ntp.org 4.2.8; the work is in `crate::ntpdate`.

use super::flag;
use anyhow::{anyhow, bail};
use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::ntpdate::{self, target::Family, Options};

/// ntp.org's usage line, printed on every usage error.
pub const USAGE: &str = "usage: ntpdate [-46bBdqsuv] [-a key#] [-e delay] [-k file] [-p samples] \
                         [-o version#] [-t timeo] server ...";

fn value(id: &'static str, short: char, name: &'static str, help: &'static str) -> Arg {
    Arg::new(id)
        .short(short)
        .value_name(name)
        .allow_negative_numbers(true)
        .help(help)
}

pub fn command() -> Command {
    Command::new("ntpdate")
        .about("query NTP servers once and set (or just show) the clock")
        .override_usage(
            "ntpdate [-46bBdqsuv] [-a key#] [-e delay] [-k file] [-p samples] [-o version#] \
             [-t timeo] [--rank] [--json] server ...",
        )
        .after_help(
            "Servers are host names or addresses, optionally HOST:PORT or [IPv6]:PORT. Every \
             address of a name is queried, all in parallel. Exit status: 0 a server was chosen \
             (and the clock set unless -q), 1 none usable or the clock could not be set, \
             2 usage error.",
        )
        .arg(
            flag("ipv4", "Use IPv4 addresses only")
                .short('4')
                .conflicts_with("ipv6"),
        )
        .arg(flag("ipv6", "Use IPv6 addresses only").short('6'))
        .arg(value(
            "key",
            'a',
            "key#",
            "Authenticate with this key id from the keys file",
        ))
        .arg(flag("step", "Always step the clock (settimeofday)").short('b'))
        .arg(flag("slew", "Always slew the clock (adjtime), even past 0.5 s").short('B'))
        .arg(
            flag(
                "debug",
                "Debug: show every sample and the selection; never set the clock",
            )
            .short('d'),
        )
        .arg(value(
            "delay",
            'e',
            "delay",
            "Authentication delay in seconds (accepted for compatibility, 0-1)",
        ))
        .arg(
            value("keyfile", 'k', "file", "Keys file [default: /etc/ntp.keys]")
                .value_parser(clap::value_parser!(PathBuf))
                .value_hint(clap::ValueHint::FilePath),
        )
        .arg(value(
            "version",
            'o',
            "version#",
            "NTP version to send, 1-4 [default: 4]",
        ))
        .arg(value(
            "samples",
            'p',
            "samples",
            "Samples per server, 1-8 [default: 4]",
        ))
        .arg(flag("query", "Query only: print, do not set the clock").short('q'))
        .arg(
            flag(
                "syslog",
                "Log the result to syslog instead of standard output",
            )
            .short('s'),
        )
        .arg(value(
            "timeout",
            't',
            "timeo",
            "Seconds to wait for each reply, in 0.2 s steps, at least 1 [default: 2]",
        ))
        .arg(
            flag(
                "unprivileged",
                "Use an unprivileged source port (ntpkit always does)",
            )
            .short('u'),
        )
        .arg(flag("verbose", "Log the version").short('v'))
        .arg(
            Arg::new("rank")
                .long("rank")
                .action(ArgAction::SetTrue)
                .help("Rank the servers in a table (see docs/ntpdate.md); never sets the clock"),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("The ranking as JSON, for scripts; never sets the clock"),
        )
        .arg(super::color::arg())
        .arg(
            Arg::new("servers")
                .value_name("server")
                .num_args(1..)
                .required(true)
                .value_hint(clap::ValueHint::Hostname),
        )
}

/// A flag value that does not make sense: ntpdate's message, then the usage line.
fn usage_error(msg: &str) -> i32 {
    eprintln!("ntpdate: {msg}");
    eprintln!("{USAGE}");
    2
}

fn number<T: std::str::FromStr>(m: &ArgMatches, id: &str) -> anyhow::Result<Option<T>> {
    match m.get_one::<String>(id) {
        None => Ok(None),
        Some(s) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| anyhow!("invalid value {s:?} for -{}", short_of(id))),
    }
}

fn short_of(id: &str) -> char {
    command()
        .get_arguments()
        .find(|a| a.get_id() == id)
        .and_then(|a| a.get_short())
        .unwrap_or('?')
}

fn options(m: &ArgMatches) -> anyhow::Result<Options> {
    let mut o = Options {
        family: Family::from_flags(m.get_flag("ipv4"), m.get_flag("ipv6")),
        always_step: m.get_flag("step"),
        always_slew: m.get_flag("slew"),
        debug: m.get_flag("debug"),
        query_only: m.get_flag("query"),
        syslog: m.get_flag("syslog"),
        log_version: m.get_flag("verbose"),
        rank: m.get_flag("rank"),
        json: m.get_flag("json"),
        color: super::color::enabled(m),
        servers: m
            .get_many::<String>("servers")
            .map(|v| v.cloned().collect())
            .unwrap_or_default(),
        ..Options::default()
    };
    if let Some(k) = number::<u32>(m, "key")? {
        if k == 0 {
            bail!("key 0 is invalid");
        }
        o.key_id = Some(k);
    }
    if let Some(e) = number::<f64>(m, "delay")? {
        if !(0.0..=1.0).contains(&e) {
            bail!("encryption delay {e} is unlikely");
        }
    }
    if let Some(path) = m.get_one::<PathBuf>("keyfile") {
        o.keyfile = path.clone();
    }
    if let Some(v) = number::<i64>(m, "version")? {
        if !(1..=4).contains(&v) {
            bail!("version number {v} is invalid");
        }
        o.version = v as u8;
    }
    if let Some(p) = number::<i64>(m, "samples")? {
        if !(1..=8).contains(&p) {
            bail!("number of samples ({p}) is invalid");
        }
        o.samples = p as usize;
    }
    if let Some(t) = number::<f64>(m, "timeout")? {
        o.timeout = ntpdate::round_timeout(t);
    }
    Ok(o)
}

pub fn main(args: Vec<OsString>) -> i32 {
    let matches = match command().try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return 0;
            }
            let text = e.to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("bad usage")
                .trim_start_matches("error: ");
            return usage_error(first);
        }
    };
    match options(&matches) {
        Ok(o) => ntpdate::run(&o),
        Err(e) => usage_error(&format!("{e:#}")),
    }
}
