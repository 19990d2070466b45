//! `ntpstat`: show the synchronisation status of the local NTP daemon, as Debian's
//! `ntpstat` prints it (`control::ntpstat`), with the shell version's `-m`, `-4`/`-6`, `-h`.

use std::ffi::OsString;
use std::io::Write;
use std::net::SocketAddr;

use clap::{Arg, ArgAction, Command};

pub fn command() -> Command {
    Command::new("ntpstat")
        .about("show the synchronisation status of the local NTP daemon")
        .long_about(
            "Show the synchronisation status of the NTP daemon on this machine (mode 6 \
             READVAR to 127.0.0.1:123, and at the same time chronyd's cmdmon TRACKING to \
             /run/chrony/chronyd.sock or 127.0.0.1:323: whichever answers). Exit status: \
             0 synchronised, 1 not synchronised (or the error bound exceeds -m), 2 the \
             daemon cannot be reached, 3 bad option.",
        )
        .disable_help_flag(true)
        .disable_version_flag(true)
        .args_override_self(true)
        .arg(
            Arg::new("maxerror")
                .short('m')
                .value_name("MAXERROR")
                .help("exit 1 when the time error bound exceeds MAXERROR milliseconds"),
        )
        .arg(
            Arg::new("ipv4")
                .short('4')
                .action(ArgAction::SetTrue)
                .help("query 127.0.0.1 (the default)"),
        )
        .arg(
            Arg::new("ipv6")
                .short('6')
                .action(ArgAction::SetTrue)
                .conflicts_with("ipv4")
                .help("query ::1"),
        )
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .action(ArgAction::SetTrue)
                .help("print the usage line and exit"),
        )
}

pub fn main(args: Vec<OsString>) -> i32 {
    // The shell version prints its $0; the name alone reads the same through any link.
    let prog = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_else(|| "ntpstat".into());
    let usage = format!("Usage: {prog} [-m MAXERROR] [-4|-6]");
    let m = match command().try_get_matches_from(&args) {
        Ok(m) => m,
        Err(_) => {
            println!("{usage}");
            return 3;
        }
    };
    if m.get_flag("help") {
        println!("{usage}");
        return 0;
    }
    let server: SocketAddr = if m.get_flag("ipv6") {
        "[::1]:123".parse().expect("literal")
    } else {
        "127.0.0.1:123".parse().expect("literal")
    };
    let max = m.get_one::<String>("maxerror").map(String::as_str);
    let outcome = crate::control::ntpstat::query_any(server, max);
    let _ = std::io::stdout().write_all(outcome.stdout.as_bytes());
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().write_all(outcome.stderr.as_bytes());
    outcome.code
}
