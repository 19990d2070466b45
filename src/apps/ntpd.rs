//! `ntpd`: NTP daemon: keeps the clock in step and serves time.
//! Flags follow ntp.org/NTPsec's ntpd; the work is in `crate::daemon`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Arg, ArgAction, Command};

use crate::daemon::settings::{Families, Options};

pub fn command() -> Command {
    Command::new("ntpd")
        .about("NTP daemon: keeps the clock in step and serves time")
        .version(env!("CARGO_PKG_VERSION"))
        .after_help(
            "Without -c, /etc/ntp.conf is read; when it does not exist a built-in default \
             (pool servers with iburst, the usual restrict lines) is used and logged.\n\
             --single-thread runs everything on one thread (for whole-process simulators such \
             as clknetsim): no server worker threads, blocking name resolution.",
        )
        .arg(
            Arg::new("config")
                .short('c')
                .long("configfile")
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Configuration file (default /etc/ntp.conf)"),
        )
        .arg(flag(
            "foreground",
            'n',
            "nofork",
            "Stay in the foreground; log to stderr unless -l",
        ))
        .arg(flag(
            "panicgate",
            'g',
            "panicgate",
            "Allow the first adjustment to exceed the panic threshold",
        ))
        .arg(flag("quit", 'q', "quit", "Set the clock once and exit"))
        .arg(flag(
            "slew",
            'x',
            "slew",
            "Slew up to 600 s: the step threshold becomes 600 s (ntp.org's -x)",
        ))
        .arg(
            Arg::new("observe")
                .long("observe-only")
                .action(ArgAction::SetTrue)
                .help(
                    "Never adjust the system clock (as 'disable ntp'); chosen automatically \
                     when adjusting is not permitted",
                ),
        )
        .arg(path_arg(
            "pidfile",
            'p',
            "pidfile",
            "Write the process id to FILE",
        ))
        .arg(path_arg(
            "driftfile",
            'f',
            "driftfile",
            "Frequency (drift) file",
        ))
        .arg(path_arg(
            "logfile",
            'l',
            "logfile",
            "Log to FILE instead of syslog/stderr",
        ))
        .arg(
            Arg::new("debug")
                .short('d')
                .long("debug")
                .action(ArgAction::Count)
                .help("More log output (repeatable)"),
        )
        .arg(
            Arg::new("user")
                .short('u')
                .long("user")
                .value_name("USER[:GROUP]")
                .help("Drop root privileges to USER (keeping the right to set the clock)"),
        )
        .arg(flag("ipv4", '4', "ipv4", "Use IPv4 only"))
        .arg(flag("ipv6", '6', "ipv6", "Use IPv6 only").conflicts_with("ipv4"))
        .arg(
            Arg::new("interface")
                .short('I')
                .long("interface")
                .value_name("IFACE")
                .action(ArgAction::Append)
                .help("Serve on this interface name or address only (repeatable)"),
        )
        .arg(
            Arg::new("single-thread")
                .long("single-thread")
                .action(ArgAction::SetTrue)
                .help("One thread only: no server worker threads, blocking DNS"),
        )
        .arg(
            Arg::new("port")
                .long("port")
                .value_name("PORT")
                .value_parser(clap::value_parser!(u16))
                .default_value("123")
                .hide(true)
                .help("Server port (testing)"),
        )
        .arg(
            Arg::new("threads")
                .long("threads")
                .value_name("N")
                .value_parser(clap::value_parser!(usize))
                .default_value("0")
                .hide(true)
                .help("Server worker threads per address (0: one per CPU, at most 4)"),
        )
}

fn flag(id: &'static str, short: char, long: &'static str, help: &'static str) -> Arg {
    Arg::new(id)
        .short(short)
        .long(long)
        .action(ArgAction::SetTrue)
        .help(help)
}

fn path_arg(id: &'static str, short: char, long: &'static str, help: &'static str) -> Arg {
    Arg::new(id)
        .short(short)
        .long(long)
        .value_name("FILE")
        .value_parser(clap::value_parser!(PathBuf))
        .help(help)
}

pub fn main(args: Vec<OsString>) -> i32 {
    let m = match command().try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let opts = Options {
        config: m.get_one::<PathBuf>("config").cloned(),
        foreground: m.get_flag("foreground"),
        allow_big_step: m.get_flag("panicgate"),
        once: m.get_flag("quit"),
        observe_only: m.get_flag("observe"),
        slew: m.get_flag("slew"),
        pidfile: m.get_one::<PathBuf>("pidfile").cloned(),
        driftfile: m.get_one::<PathBuf>("driftfile").cloned(),
        logfile: m.get_one::<PathBuf>("logfile").cloned(),
        debug: m.get_count("debug"),
        user: m.get_one::<String>("user").cloned(),
        families: if m.get_flag("ipv4") {
            Families::V4Only
        } else if m.get_flag("ipv6") {
            Families::V6Only
        } else {
            Families::Both
        },
        interfaces: m
            .get_many::<String>("interface")
            .map(|v| v.cloned().collect())
            .unwrap_or_default(),
        single_thread: m.get_flag("single-thread"),
        port: *m.get_one::<u16>("port").expect("default"),
        threads: *m.get_one::<usize>("threads").expect("default"),
    };
    crate::daemon::start(opts)
}
