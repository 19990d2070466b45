//! `ntpd`: NTP daemon: keeps the clock in step and serves time.
//! Flags follow ntp.org/NTPsec's ntpd; the work is in `crate::daemon`.

use super::flag;
use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::daemon::settings::{Families, Options, Priority};

pub fn command() -> Command {
    Command::new("ntpd")
        .about("NTP daemon: keeps the clock in step and serves time")
        .version(env!("CARGO_PKG_VERSION"))
        .disable_version_flag(true)
        // ntpd takes the last of a repeated option: Debian's wrapper puts its own -c before
        // NTPD_OPTS so that an admin's -c wins, and RHEL's unit adds -u to an OPTIONS that
        // usually has one already
        .args_override_self(true)
        .override_usage("ntpd [OPTIONS] [SERVER]...")
        .after_help(
            "Without -c, /etc/ntpsec/ntp.conf is read when it exists (a host switched over \
             from NTPsec), else /etc/ntp.conf; when neither exists a built-in default \
             (pool servers with iburst, the usual restrict lines) is used and logged.\n\
             The flags are ntp.org 4.2.8's and NTPsec's; where a flag and a configuration \
             line set the same thing (-f, -k, -l, -p, -s), the flag wins. SERVERs given after \
             the options are used as 'server NAME iburst' lines, before the file's.\n\
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
        .arg(
            flag(
                "foreground",
                "Stay in the foreground; log to stderr unless -l (-q and -d imply it)",
            )
            .short('n')
            .long("nofork"),
        )
        .arg(
            flag(
                "panicgate",
                "Allow the first adjustment to exceed the panic threshold",
            )
            .short('g')
            .long("panicgate"),
        )
        .arg(
            flag("quit", "Set the clock once and exit")
                .short('q')
                .long("quit"),
        )
        .arg(
            flag(
                "slew",
                "Slew up to 600 s: the step threshold becomes 600 s (ntp.org's -x)",
            )
            .short('x')
            .long("slew"),
        )
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
        .arg(path_arg(
            "keyfile",
            'k',
            "keyfile",
            "Symmetric keys file (as 'keys FILE')",
        ))
        .arg(
            Arg::new("statsdir")
                .short('s')
                .long("statsdir")
                .value_name("DIR")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Directory for the statistics files (as 'statsdir DIR')"),
        )
        .arg(
            Arg::new("trustedkey")
                .short('t')
                .long("trustedkey")
                .value_name("KEY")
                .action(ArgAction::Append)
                .value_parser(clap::value_parser!(u32).range(1..))
                .help("Add KEY to the trusted keys (as 'trustedkey KEY'; repeatable)"),
        )
        .arg(
            Arg::new("debug")
                .short('d')
                .long("debug-level")
                .visible_alias("debug")
                .action(ArgAction::Count)
                .help("More log output (repeatable)"),
        )
        .arg(
            Arg::new("set-debug")
                .short('D')
                .long("set-debug-level")
                .value_name("LEVEL")
                .value_parser(clap::value_parser!(u8))
                .help("Set the debug (log) level; 1 or more logs debug messages"),
        )
        .arg(
            Arg::new("user")
                .short('u')
                .long("user")
                .value_name("USER[:GROUP]")
                .help(
                    "Drop root privileges to USER (keeping the right to set the clock); the \
                     pidfile, drift file and stats directory are prepared as root first",
                ),
        )
        .arg(
            Arg::new("jaildir")
                .short('i')
                .long("jaildir")
                .value_name("DIR")
                .value_parser(clap::value_parser!(PathBuf))
                .help("chroot to DIR after reading the configuration, before dropping privileges"),
        )
        .arg(
            flag("nice", "Run at high priority (SCHED_FIFO, as ntpd)")
                .short('N')
                .long("nice"),
        )
        .arg(
            Arg::new("priority")
                .short('P')
                .long("priority")
                .value_name("PRIO")
                .value_parser(clap::value_parser!(i32))
                .help("Run at SCHED_FIFO priority PRIO"),
        )
        .arg(flag("ipv4", "Use IPv4 only").short('4').long("ipv4"))
        .arg(
            flag("ipv6", "Use IPv6 only")
                .short('6')
                .long("ipv6")
                .conflicts_with("ipv4"),
        )
        .arg(
            Arg::new("interface")
                .short('I')
                .long("interface")
                .value_name("IFACE")
                .action(ArgAction::Append)
                .help("Serve on this interface name or address only (repeatable)"),
        )
        .arg(
            flag(
                "novirtualips",
                "Do not listen on virtual interfaces (names with a colon)",
            )
            .short('L')
            .long("novirtualips"),
        )
        .arg(
            Arg::new("updateinterval")
                .short('U')
                .long("updateinterval")
                .visible_alias("uinterval")
                .value_name("SECS")
                .value_parser(clap::value_parser!(u32))
                .help("Seconds between interface rescans (0: never, what ntpkit does)"),
        )
        .arg(
            Arg::new("wait-sync")
                .short('w')
                .long("wait-sync")
                .value_name("SECS")
                .value_parser(clap::value_parser!(u32))
                .help(
                    "Fork (even with -n, -q or -d, as NTPsec) and let the parent wait up to \
                     SECS for the first clock synchronisation: exit 0 if synchronised, \
                     ETIMEDOUT otherwise",
                ),
        )
        .arg(
            Arg::new("var")
                .short('v')
                .long("var")
                .visible_short_alias('z')
                .value_name("NAME=VALUE")
                .action(ArgAction::Append)
                .help("A system variable shown by 'ntpq -c rv NAME' (as 'setvar'; repeatable)"),
        )
        .arg(
            Arg::new("dvar")
                .long("dvar")
                .visible_short_alias('Z')
                .value_name("NAME=VALUE")
                .action(ArgAction::Append)
                .help("As --var, and listed by a plain 'ntpq -c rv' (as 'setvar … default')"),
        )
        .arg(
            flag(
                "authreq",
                "Require authentication for symmetric passive peers (the default)",
            )
            .short('a')
            .long("authreq")
            // NTPsec's -a is --assert (a deliberate REQUIRE(false), to test its assertion
            // handler): accepted, and meaning nothing here
            .alias("assert"),
        )
        .arg(
            flag(
                "authnoreq",
                "Do not require authentication (accepted; ntpkit always requires it)",
            )
            .short('A')
            .long("authnoreq")
            .conflicts_with("authreq"),
        )
        .arg(
            flag(
                "bcastsync",
                "Sync to broadcast servers (accepted; no broadcast client here)",
            )
            .short('b')
            .long("bcastsync"),
        )
        .arg(
            flag(
                "force-step",
                "Step the first offset correction, even one below the step threshold \
                 (it may step backwards)",
            )
            .short('G')
            .long("force-step-once"),
        )
        .arg(
            flag("mdns", "Register with mDNS (accepted; not implemented)")
                .short('m')
                .long("mdns"),
        )
        .arg(
            flag(
                "modifymmtimer",
                "Windows multimedia timer (accepted; Windows only)",
            )
            .short('M')
            .long("modifymmtimer"),
        )
        .arg(
            Arg::new("propagationdelay")
                .short('r')
                .long("propagationdelay")
                .value_name("DELAY")
                .help("Broadcast propagation delay (accepted; no broadcast client here)"),
        )
        .arg(
            Arg::new("version")
                .short('V')
                .long("version")
                .action(ArgAction::Version)
                .help("Print version"),
        )
        .arg(
            Arg::new("servers")
                .value_name("SERVER")
                .num_args(0..)
                .help("Servers to use, as 'server SERVER iburst' lines (NTPsec, ntp.org)"),
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

fn path_arg(id: &'static str, short: char, long: &'static str, help: &'static str) -> Arg {
    Arg::new(id)
        .short(short)
        .long(long)
        .value_name("FILE")
        .value_parser(clap::value_parser!(PathBuf))
        .help(help)
}

pub fn main(args: Vec<OsString>) -> i32 {
    let m = match super::matches_or_exit(command(), &args) {
        Ok(m) => m,
        Err(code) => return code,
    };
    crate::daemon::start(options(&m))
}

fn strings(m: &ArgMatches, id: &str) -> Vec<String> {
    m.get_many::<String>(id)
        .map(|v| v.cloned().collect())
        .unwrap_or_default()
}

/// The parsed command line as the daemon's [`Options`].
pub fn options(m: &ArgMatches) -> Options {
    let path = |id: &str| m.get_one::<PathBuf>(id).cloned();
    let mut accepted = Vec::new();
    for (id, what) in ACCEPTED_ONLY {
        if m.get_flag(id) {
            accepted.push(what.to_string());
        }
    }
    if let Some(d) = m.get_one::<String>("propagationdelay") {
        accepted.push(format!(
            "-r {d}: no broadcast client here, the delay is not used"
        ));
    }
    let wait_sync = m.get_one::<u32>("wait-sync").copied().filter(|s| *s > 0);
    Options {
        config: path("config"),
        // as ntp.org and NTPsec: -q and -d do not fork either (`ntpd -gq` in a boot script
        // returns once the clock is set, with its exit code); -w needs the fork, and wins
        foreground: wait_sync.is_none()
            && (m.get_flag("foreground") || m.get_flag("quit") || m.get_count("debug") > 0),
        allow_big_step: m.get_flag("panicgate"),
        force_step_once: m.get_flag("force-step"),
        once: m.get_flag("quit"),
        observe_only: m.get_flag("observe"),
        slew: m.get_flag("slew"),
        pidfile: path("pidfile"),
        driftfile: path("driftfile"),
        logfile: path("logfile"),
        keyfile: path("keyfile"),
        statsdir: path("statsdir"),
        trusted_keys: m
            .get_many::<u32>("trustedkey")
            .map(|v| v.copied().collect())
            .unwrap_or_default(),
        debug: m
            .get_one::<u8>("set-debug")
            .copied()
            .unwrap_or(0)
            .saturating_add(m.get_count("debug")),
        user: m.get_one::<String>("user").cloned(),
        jaildir: path("jaildir"),
        priority: match (m.get_one::<i32>("priority"), m.get_flag("nice")) {
            (Some(p), _) => Some(Priority::Fifo(*p)),
            (None, true) => Some(Priority::Highest),
            (None, false) => None,
        },
        families: if m.get_flag("ipv4") {
            Families::V4Only
        } else if m.get_flag("ipv6") {
            Families::V6Only
        } else {
            Families::Both
        },
        interfaces: strings(m, "interface"),
        novirtualips: m.get_flag("novirtualips"),
        update_interval: m.get_one::<u32>("updateinterval").copied(),
        wait_sync,
        vars: strings(m, "var"),
        dvars: strings(m, "dvar"),
        servers: strings(m, "servers"),
        accepted_only: accepted,
        single_thread: m.get_flag("single-thread"),
        port: *m.get_one::<u16>("port").expect("default"),
        threads: *m.get_one::<usize>("threads").expect("default"),
    }
}

/// Flags ntpd has that mean nothing here: accepted, and logged once each at start.
const ACCEPTED_ONLY: &[(&str, &str)] = &[
    (
        "authnoreq",
        "-A: ntpkit always requires authentication for symmetric passive peers; flag ignored",
    ),
    ("bcastsync", "-b: no broadcast client here; flag ignored"),
    (
        "mdns",
        "-m: mDNS registration is not implemented; flag ignored",
    ),
    ("modifymmtimer", "-M: a Windows-only flag; ignored"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Options {
        let mut argv = vec!["ntpd"];
        argv.extend_from_slice(args);
        options(&command().try_get_matches_from(argv).expect("parses"))
    }

    fn rejected(args: &[&str]) -> clap::error::ErrorKind {
        let mut argv = vec!["ntpd"];
        argv.extend_from_slice(args);
        command().try_get_matches_from(argv).unwrap_err().kind()
    }

    #[test]
    fn debians_and_rhels_command_lines_parse() {
        // /etc/default/ntpsec + ntp-systemd-wrapper
        let o = parse(&[
            "-p",
            "/run/ntpd.pid",
            "-c",
            "/etc/ntpsec/ntp.conf",
            "-g",
            "-N",
            "-u",
            "ntpsec:ntpsec",
        ]);
        assert!(o.allow_big_step);
        assert_eq!(o.priority, Some(Priority::Highest));
        assert_eq!(o.user.as_deref(), Some("ntpsec:ntpsec"));
        assert_eq!(o.pidfile, Some(PathBuf::from("/run/ntpd.pid")));
        // /etc/sysconfig/ntpd
        let o = parse(&["-u", "ntp:ntp", "-p", "/var/run/ntpd.pid", "-g"]);
        assert_eq!(o.user.as_deref(), Some("ntp:ntp"));
        assert!(!o.foreground && !o.observe_only && !o.slew);
    }

    #[test]
    fn a_repeated_option_takes_the_last_value_as_ntpd() {
        // RHEL's unit: ntpd -u ntp:ntp $OPTIONS with OPTIONS="-u ntp:ntp -p … -g"
        let o = parse(&[
            "-u",
            "ntp:ntp",
            "-u",
            "ntp:ntp",
            "-p",
            "/var/run/ntpd.pid",
            "-g",
            "-g",
        ]);
        assert_eq!(o.user.as_deref(), Some("ntp:ntp"));
        // Debian's wrapper: its -c first, the admin's from NTPD_OPTS after it
        let o = parse(&[
            "-c",
            "/etc/ntpsec/ntp.conf",
            "-g",
            "-N",
            "-c",
            "/etc/mine.conf",
        ]);
        assert_eq!(o.config, Some(PathBuf::from("/etc/mine.conf")));
    }

    #[test]
    fn x_is_slew_and_observe_only_is_its_own_flag() {
        let o = parse(&["-x"]);
        assert!(o.slew && !o.observe_only);
        let o = parse(&["--slew"]);
        assert!(o.slew);
        let o = parse(&["--observe-only"]);
        assert!(o.observe_only && !o.slew);
    }

    #[test]
    fn file_twins_k_s_t_f_l_p() {
        let o = parse(&[
            "-k", "/k", "-s", "/s", "-t", "5", "-t", "9", "-f", "/d", "-l", "/l", "-p", "/p",
        ]);
        assert_eq!(o.keyfile, Some(PathBuf::from("/k")));
        assert_eq!(o.statsdir, Some(PathBuf::from("/s")));
        assert_eq!(o.trusted_keys, [5, 9]);
        assert_eq!(o.driftfile, Some(PathBuf::from("/d")));
        assert_eq!(o.logfile, Some(PathBuf::from("/l")));
        assert_eq!(o.pidfile, Some(PathBuf::from("/p")));
        let o = parse(&[
            "--keyfile=/k2",
            "--statsdir=/s2",
            "--trustedkey=3",
            "--driftfile=/d2",
        ]);
        assert_eq!(
            (o.keyfile, o.statsdir, o.trusted_keys, o.driftfile),
            (
                Some("/k2".into()),
                Some("/s2".into()),
                vec![3],
                Some("/d2".into())
            )
        );
        assert_eq!(
            rejected(&["-t", "0"]),
            clap::error::ErrorKind::ValueValidation
        );
    }

    #[test]
    fn debug_levels_d_and_capital_d() {
        assert_eq!(parse(&[]).debug, 0);
        assert_eq!(parse(&["-d", "-d"]).debug, 2);
        assert_eq!(parse(&["-D", "3"]).debug, 3);
        assert_eq!(parse(&["-D", "2", "-d"]).debug, 3);
        assert_eq!(parse(&["--set-debug-level=4"]).debug, 4);
    }

    #[test]
    fn priority_n_and_p() {
        assert_eq!(parse(&[]).priority, None);
        assert_eq!(parse(&["-N"]).priority, Some(Priority::Highest));
        assert_eq!(parse(&["-P", "20"]).priority, Some(Priority::Fifo(20)));
        assert_eq!(parse(&["-N", "-P", "7"]).priority, Some(Priority::Fifo(7)));
        assert_eq!(parse(&["--nice"]).priority, Some(Priority::Highest));
    }

    #[test]
    fn jail_user_interfaces_and_rescans() {
        let o = parse(&["-i", "/var/lib/ntp/jail", "-u", "ntp", "-L", "-U", "300"]);
        assert_eq!(o.jaildir, Some(PathBuf::from("/var/lib/ntp/jail")));
        assert_eq!(o.user.as_deref(), Some("ntp"));
        assert!(o.novirtualips);
        assert_eq!(o.update_interval, Some(300));
        let o = parse(&["-I", "eth0", "-I", "127.0.0.1", "-4"]);
        assert_eq!(o.interfaces, ["eth0", "127.0.0.1"]);
        assert_eq!(o.families, Families::V4Only);
        assert_eq!(parse(&["-6"]).families, Families::V6Only);
        assert_eq!(
            rejected(&["-4", "-6"]),
            clap::error::ErrorKind::ArgumentConflict
        );
    }

    #[test]
    fn quit_and_debug_stay_in_the_foreground_and_wait_sync_forks_all_the_same() {
        assert!(!parse(&[]).foreground);
        for fg in [&["-n"][..], &["-q"], &["-d"], &["-q", "-g"], &["-d", "-d"]] {
            assert!(parse(fg).foreground, "{fg:?}");
        }
        // NTPsec's -D sets the level only
        assert!(!parse(&["-D", "3"]).foreground);
        assert_eq!(parse(&["-w", "30"]).wait_sync, Some(30));
        assert_eq!(parse(&["-w", "0"]).wait_sync, None, "0: do not wait");
        assert!(parse(&["-w", "0", "-n"]).foreground);
        for other in ["-n", "-q", "-d"] {
            let o = parse(&["-w", "5", other]);
            assert!(!o.foreground && o.wait_sync == Some(5), "-w 5 {other}");
        }
    }

    #[test]
    fn var_and_dvar_in_every_spelling() {
        let o = parse(&[
            "--var", "a=1", "-v", "b=2", "-z", "c=3", "--dvar", "d=4", "-Z", "e=5",
        ]);
        assert_eq!(o.vars, ["a=1", "b=2", "c=3"]);
        assert_eq!(o.dvars, ["d=4", "e=5"]);
    }

    #[test]
    fn flags_without_meaning_here_are_accepted_and_logged_once_each() {
        let o = parse(&["-a", "-b", "-m", "-M", "-r", "0.004"]);
        assert_eq!(o.accepted_only.len(), 4, "{:?}", o.accepted_only);
        assert!(o.accepted_only.iter().any(|l| l.starts_with("-r 0.004")));
        assert!(parse(&["-A"]).accepted_only[0].starts_with("-A"));
        assert_eq!(
            rejected(&["-a", "-A"]),
            clap::error::ErrorKind::ArgumentConflict
        );
        assert!(parse(&["-a", "-q", "-n"]).accepted_only.is_empty());
    }

    #[test]
    fn dash_capital_g_forces_the_first_step() {
        assert!(parse(&["-G"]).force_step_once);
        assert!(parse(&["--force-step-once", "-g"]).force_step_once);
        assert!(!parse(&["-g"]).force_step_once);
        assert!(parse(&["-G"]).accepted_only.is_empty());
    }

    #[test]
    fn servers_after_the_options_and_version() {
        let o = parse(&["-n", "-g", "192.0.2.1", "ntp.example.org"]);
        assert_eq!(o.servers, ["192.0.2.1", "ntp.example.org"]);
        assert_eq!(rejected(&["-V"]), clap::error::ErrorKind::DisplayVersion);
        assert_eq!(
            rejected(&["--version"]),
            clap::error::ErrorKind::DisplayVersion
        );
    }
}
