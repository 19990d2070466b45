//! `ntpq`: query an NTP daemon over the mode 6 control protocol.
//! Flags of ntp.org 4.2.8 (plus NTPsec's `-a`/`-k`); the commands live in
//! `control::ntpq`, the output layouts in `control::peers` and `control::cooked`.

use crate::control::client::Family;
use crate::control::ntpq::{Flow, Options, Protocol, Session};
use clap::{Arg, ArgAction};
use std::ffi::OsString;
use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

pub fn command() -> clap::Command {
    clap::Command::new("ntpq")
        .bin_name("ntpq")
        .about("query an NTP daemon over the mode 6 control protocol (or chronyd over cmdmon)")
        .long_about(
            "Query an NTP daemon (ntpkit's ntpd, NTPsec or ntp.org) over the mode 6 control \
             protocol, or chronyd over its command and monitoring protocol (UDP port 323 or \
             its Unix socket): a host that answers cmdmon but not mode 6 is shown in the \
             same layouts (peers, associations, rv). Without -c or -p, reads commands \
             interactively at an `ntpq>` prompt.",
        )
        .arg(
            Arg::new("ipv4")
                .short('4')
                .long("ipv4")
                .action(ArgAction::SetTrue)
                .conflicts_with("ipv6")
                .help("Force IPv4 name resolution"),
        )
        .arg(
            Arg::new("ipv6")
                .short('6')
                .long("ipv6")
                .action(ArgAction::SetTrue)
                .help("Force IPv6 name resolution"),
        )
        .arg(
            Arg::new("command")
                .short('c')
                .long("command")
                .value_name("CMD")
                .action(ArgAction::Append)
                .help("Run a command and exit (repeatable)"),
        )
        .arg(
            Arg::new("debug")
                .short('d')
                .long("debug-level")
                .action(ArgAction::Count)
                .help("Trace requests and replies on stderr"),
        )
        .arg(
            Arg::new("interactive")
                .short('i')
                .long("interactive")
                .action(ArgAction::SetTrue)
                .help("Force interactive mode (prompt) even with commands"),
        )
        .arg(
            Arg::new("numeric")
                .short('n')
                .long("numeric")
                .action(ArgAction::SetTrue)
                .help("Show host addresses numerically"),
        )
        .arg(
            Arg::new("peers")
                .short('p')
                .long("peers")
                .action(ArgAction::SetTrue)
                .help("Print a list of the peers (same as -c peers)"),
        )
        .arg(
            Arg::new("wide")
                .short('w')
                .long("wide")
                .action(ArgAction::SetTrue)
                .help("Show long remote names in full, on a line of their own"),
        )
        .arg(
            Arg::new("old-rv")
                .long("old-rv")
                .action(ArgAction::SetTrue)
                .help("Print the status line of readvar also when variables are named"),
        )
        .arg(
            Arg::new("keyid")
                .short('a')
                .long("authentication")
                .value_name("KEYID")
                .value_parser(clap::value_parser!(u32).range(1..=65535))
                .help("Authenticate requests with this key (needed for writevar)"),
        )
        .arg(
            Arg::new("keyfile")
                .short('k')
                .long("keyfile")
                .value_name("FILE")
                .value_parser(clap::value_parser!(std::path::PathBuf))
                .help("Keys file to find the -a key in [default: /etc/ntp.keys]"),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Print every command's result as one JSON object per line"),
        )
        .arg(super::color::arg())
        .arg(
            Arg::new("watch")
                .long("watch")
                .value_name("DURATION")
                .num_args(0..=1)
                .default_missing_value("2s")
                .value_parser(super::duration::seconds)
                .help(
                    "Repeat the commands every DURATION (2s when not given; e.g. 500ms, 1m; \
                     a plain number is seconds), redrawing in place",
                ),
        )
        .arg(
            Arg::new("protocol")
                .long("protocol")
                .value_name("PROTO")
                .value_parser(["auto", "mode6", "chronyd"])
                .default_value("auto")
                .help("Speak mode 6 (ntpd, NTPsec), chronyd's cmdmon, or whichever answers"),
        )
        .arg(
            Arg::new("socket")
                .long("socket")
                .value_name("PATH")
                .value_parser(clap::value_parser!(std::path::PathBuf))
                .help(
                    "Ask chronyd through its Unix command socket (e.g. /run/chrony/chronyd.sock)",
                ),
        )
        .arg(
            Arg::new("host")
                .value_name("HOST")
                .num_args(0..)
                .help("Hosts to query (default localhost); HOST:PORT and [V6]:PORT accepted"),
        )
}

pub fn main(args: Vec<OsString>) -> i32 {
    let m = match command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let opts = Options {
        family: Family::from_flags(m.get_flag("ipv4"), m.get_flag("ipv6")),
        numeric: m.get_flag("numeric"),
        wide: m.get_flag("wide"),
        debug: m.get_count("debug") > 0,
        json: m.get_flag("json"),
        color: super::color::enabled(&m),
        old_rv: m.get_flag("old-rv"),
        timeout: None,
        key_id: m.get_one::<u32>("keyid").copied(),
        keyfile: m.get_one::<std::path::PathBuf>("keyfile").cloned(),
        protocol: match m.get_one::<String>("protocol").map(String::as_str) {
            Some("mode6") => Protocol::Mode6,
            Some("chronyd") => Protocol::Chronyd,
            _ => Protocol::Auto,
        },
        socket: m.get_one::<std::path::PathBuf>("socket").cloned(),
    };
    let hosts: Vec<String> = m
        .get_many::<String>("host")
        .map(|h| h.cloned().collect())
        .unwrap_or_else(|| vec!["localhost".to_string()]);
    let mut commands: Vec<String> = Vec::new();
    if m.get_flag("peers") {
        commands.push("peers".into());
    }
    commands.extend(
        m.get_many::<String>("command")
            .into_iter()
            .flatten()
            .cloned(),
    );
    let interactive = m.get_flag("interactive") || commands.is_empty();

    if let Some(period) = m.get_one::<Duration>("watch").copied() {
        if commands.is_empty() {
            commands.push("peers".into());
        }
        return watch(opts, &hosts, &commands, period);
    }

    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr());
    let mut session = Session::new(opts, &hosts, &mut out, &mut err);
    // Like ntpq, failed requests are reported on stderr but do not change the exit code;
    // a host that cannot even be resolved does (1).
    let mut unresolved = false;
    if !interactive || !commands.is_empty() {
        for host in &hosts {
            if !session.open_host(host) {
                unresolved = true;
                continue;
            }
            for c in &commands {
                if session.run(c) == Flow::Quit {
                    return 0;
                }
            }
        }
        if !m.get_flag("interactive") {
            return i32::from(unresolved);
        }
    }
    // interactive: the first host only, as ntpq does
    if !session.open_host(&hosts[0]) {
        return 1;
    }
    let stdin = std::io::stdin();
    let prompt = stdin.is_terminal() || m.get_flag("interactive");
    let mut line = String::new();
    loop {
        if prompt {
            let mut o = std::io::stdout();
            let _ = write!(o, "ntpq> ");
            let _ = o.flush();
        }
        line.clear();
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => return 0,
            Ok(_) => {}
        }
        if session.run(line.trim()) == Flow::Quit {
            return 0;
        }
    }
}

/// `--watch`: run the commands, clear the screen, print, sleep; until interrupted.
fn watch(opts: Options, hosts: &[String], commands: &[String], period: Duration) -> i32 {
    let period = period.clamp(Duration::from_millis(100), Duration::from_secs(86_400));
    let tty = std::io::stdout().is_terminal();
    loop {
        let (mut buf, mut err) = (Vec::new(), Vec::new());
        {
            let mut session = Session::new(opts.clone(), hosts, &mut buf, &mut err);
            for host in hosts {
                if session.open_host(host) {
                    for c in commands {
                        session.run(c);
                    }
                }
            }
        }
        let mut o = std::io::stdout().lock();
        if tty {
            let _ = o.write_all(b"\x1b[H\x1b[2J");
        }
        let _ = o.write_all(&buf);
        let _ = o.write_all(&err);
        let _ = o.flush();
        drop(o);
        std::thread::sleep(period);
    }
}
