//! The command table ntpq knows, with its unique-prefix matching, and which commands
//! need no daemon or can be answered by chronyd.

use super::CommandError;

#[derive(Debug)]
pub(super) struct Command {
    pub(super) name: &'static str,
    pub(super) args: &'static str,
    pub(super) help: &'static str,
}

pub(super) const COMMANDS: &[Command] = &[
    Command {
        name: "apeers",
        args: "[-4|-6]",
        help: "print peer summary with association IDs",
    },
    Command {
        name: "associations",
        args: "",
        help: "print list of association IDs and statuses for the server's peers",
    },
    Command {
        name: "authenticate",
        args: "[yes|no]",
        help: "always authenticate requests to this server",
    },
    Command {
        name: "clockvar",
        args: "[assocID] [name[=value[,...]]]",
        help: "print variables associated with a clock",
    },
    Command {
        name: "cooked",
        args: "",
        help: "output in cooked (formatted) mode",
    },
    Command {
        name: "cv",
        args: "[assocID] [name[=value[,...]]]",
        help: "print variables associated with a clock",
    },
    Command {
        name: "exit",
        args: "",
        help: "exit ntpq",
    },
    Command {
        name: "help",
        args: "[command]",
        help: "tell the use and syntax of commands",
    },
    Command {
        name: "host",
        args: "[name]",
        help: "specify the host whose NTP server we talk to",
    },
    Command {
        name: "iostats",
        args: "",
        help: "display network input and output counters",
    },
    Command {
        name: "kerninfo",
        args: "",
        help: "display kernel loop and PPS statistics",
    },
    Command {
        name: "lassociations",
        args: "",
        help: "print list of all association IDs and statuses",
    },
    Command {
        name: "lopeers",
        args: "[-4|-6]",
        help: "print all peers the old way (with local addresses)",
    },
    Command {
        name: "lpeers",
        args: "[-4|-6]",
        help: "print all peers the server knows about",
    },
    Command {
        name: "monstats",
        args: "",
        help: "display monitor (mrulist) counters and limits",
    },
    Command {
        name: "mrulist",
        args: "[tag=value] [...]",
        help: "display the list of most recently seen source addresses",
    },
    Command {
        name: "ntsinfo",
        args: "",
        help: "display NTS authentication counters",
    },
    Command {
        name: "opeers",
        args: "[-4|-6]",
        help: "print peer list the old way, with dstadr shown rather than refid",
    },
    Command {
        name: "passociations",
        args: "",
        help: "print list of associations returned by the last associations command",
    },
    Command {
        name: "peers",
        args: "[-4|-6]",
        help: "obtain and print a list of the server's peers [IP version]",
    },
    Command {
        name: "quit",
        args: "",
        help: "exit ntpq",
    },
    Command {
        name: "raw",
        args: "",
        help: "do raw mode variable output",
    },
    Command {
        name: "readvar",
        args: "[assocID] [varname[,...]]",
        help: "read system or peer variables",
    },
    Command {
        name: "rv",
        args: "[assocID] [varname[,...]]",
        help: "read system or peer variables",
    },
    Command {
        name: "sysinfo",
        args: "",
        help: "display system summary",
    },
    Command {
        name: "sysstats",
        args: "",
        help: "display system uptime and packet counts",
    },
    Command {
        name: "timeout",
        args: "[msec]",
        help: "set the primary receive time out",
    },
    Command {
        name: "version",
        args: "",
        help: "print version number",
    },
    Command {
        name: "writevar",
        args: "assocID name=value,[...]",
        help: "write system or peer variables",
    },
];

/// Find a command by its name or a unique prefix (ntpq's `findcmd`).
pub(super) fn find_command(word: &str) -> Result<&'static Command, CommandError> {
    if let Some(c) = COMMANDS.iter().find(|c| c.name == word) {
        return Ok(c);
    }
    let matches: Vec<&Command> = COMMANDS
        .iter()
        .filter(|c| c.name.starts_with(word))
        .collect();
    match matches.len() {
        1 => Ok(matches[0]),
        0 => Err(CommandError::Unknown(word.to_string())),
        _ => Err(CommandError::Ambiguous(word.to_string())),
    }
}

/// The commands that never talk to the daemon.
pub(super) const LOCAL_COMMANDS: &[&str] = &[
    "quit",
    "exit",
    "help",
    "host",
    "authenticate",
    "timeout",
    "raw",
    "cooked",
    "version",
];

/// The commands a chronyd host can answer (through cmdmon).
pub(super) const CHRONYD_COMMANDS: &[&str] = &[
    "peers",
    "lpeers",
    "opeers",
    "lopeers",
    "apeers",
    "associations",
    "lassociations",
    "passociations",
    "readvar",
    "rv",
];
