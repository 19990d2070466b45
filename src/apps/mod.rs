//! One module per program. Each exposes `command()` (its clap definition, also used for
//! completions and man pages) and `main(args)` returning the exit code.

use std::ffi::OsString;

pub mod color;
pub mod duration;
pub mod exporter;
pub mod hwclock;
pub mod multicall;
pub mod ntpd;
pub mod ntpdate;
pub mod ntpq;
pub mod ntpstat;
pub mod viz;

/// An on/off switch (clap's `SetTrue`), named by the caller: `flag("quiet", "…").short('q')`.
/// The one helper the programs' `command()`s share.
pub(crate) fn flag(id: &'static str, help: &'static str) -> clap::Arg {
    clap::Arg::new(id)
        .action(clap::ArgAction::SetTrue)
        .help(help)
}

/// A program of the multi-call binary.
pub struct Program {
    pub name: &'static str,
    pub about: &'static str,
    pub command: fn() -> clap::Command,
    pub main: fn(Vec<OsString>) -> i32,
}

pub const PROGRAMS: &[Program] = &[
    Program {
        name: "ntpd",
        about: "NTP daemon: keeps the clock in step and serves time",
        command: ntpd::command,
        main: ntpd::main,
    },
    Program {
        name: "ntpdate",
        about: "query NTP servers once and set (or just show) the clock",
        command: ntpdate::command,
        main: ntpdate::main,
    },
    Program {
        name: "ntpq",
        about: "query an NTP daemon over the mode 6 control protocol",
        command: ntpq::command,
        main: ntpq::main,
    },
    Program {
        name: "ntpstat",
        about: "show the synchronisation status of the local NTP daemon",
        command: ntpstat::command,
        main: ntpstat::main,
    },
    Program {
        name: "hwclock",
        about: "read or set the hardware clock (RTC)",
        command: hwclock::command,
        main: hwclock::main,
    },
    Program {
        name: "exporter",
        about: "serve OpenMetrics for NTP daemons read over mode 6",
        command: exporter::command,
        main: exporter::main,
    },
    Program {
        name: "viz",
        about: "draw loopstats and peerstats as one HTML page (ntpviz's plots)",
        command: viz::command,
        main: viz::main,
    },
];

/// Parse `args` with `cmd`, or print clap's message (help, version or the error) and give
/// the exit code: 0 for help and version, 2 for a usage error, as getopt programs do.
pub fn matches_or_exit(cmd: clap::Command, args: &[OsString]) -> Result<clap::ArgMatches, i32> {
    cmd.try_get_matches_from(args).map_err(|e| {
        let _ = e.print();
        if e.use_stderr() {
            2
        } else {
            0
        }
    })
}

pub fn find(name: &str) -> Option<&'static Program> {
    PROGRAMS.iter().find(|p| p.name == name)
}

/// The program an `argv[0]` names: its file stem, also with a prefix such as `ntpkit-ntpq`
/// or `x86_64-ntpdate`.
pub fn program_for_argv0(argv0: &std::ffi::OsStr) -> Option<&'static Program> {
    let stem = std::path::Path::new(argv0).file_stem()?.to_str()?;
    find(stem).or_else(|| stem.rsplit_once('-').and_then(|(_, tail)| find(tail)))
}
