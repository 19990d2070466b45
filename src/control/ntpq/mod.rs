//! ntpq's command interpreter: hosts, the command table (with unique-prefix matching as
//! ntpq allows), and each command's output in ntp.org 4.2.8's layout or as JSON.
//! `apps::ntpq` only parses flags and feeds commands in.
//!
//! This file holds the session and the dispatch of one command line; the command table
//! and its parsing are in `commands`, opening a host and finding what it speaks in
//! `connect`, the command families in `local` (no daemon asked), `assoc` (association
//! lists and peers tables), `vars` (readvar/writevar) and `tables` (sysinfo, the
//! counters, mrulist), and the shared output helpers in `output`.

mod assoc;
mod commands;
mod connect;
mod error;
mod local;
mod output;
mod tables;
mod vars;

pub use error::CommandError;

use super::client::{Association, Client, Family};
use super::cmdmon;
use super::cooked;
use super::peers::PeerTable;
use super::stats_tables;
use commands::{find_command, CHRONYD_COMMANDS, LOCAL_COMMANDS};
use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::time::Duration;

/// How ntpq was asked to behave (its flags).
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub family: Family,
    pub numeric: bool,
    pub wide: bool,
    pub debug: bool,
    pub json: bool,
    pub color: bool,
    pub old_rv: bool,
    pub timeout: Option<Duration>,
    /// `-a keyid` with `-k keyfile`.
    pub key_id: Option<u32>,
    pub keyfile: Option<std::path::PathBuf>,
    /// Which protocol to speak (`--protocol`); `Auto` probes mode 6 and chronyd's cmdmon.
    pub protocol: Protocol,
    /// chronyd's Unix command socket (`--socket`; implies the chronyd protocol).
    pub socket: Option<std::path::PathBuf>,
}

/// `--protocol`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    #[default]
    Auto,
    Mode6,
    Chronyd,
}

/// What the open host turned out to speak.
enum Backend {
    /// Not probed yet (`--protocol auto`).
    Undetected,
    Mode6,
    Chronyd(Box<cmdmon::Client>),
}

/// What the interpreter should do after a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

struct Connection {
    name: String,
    client: Client,
    backend: Backend,
}

pub struct Session<'w> {
    opts: Options,
    /// Every host named on the command line (several → a `server` column).
    host_count: usize,
    /// Width of the `server` column (longest host name).
    host_width: usize,
    conn: Option<Connection>,
    raw: bool,
    always_auth: bool,
    timeout: Duration,
    assoc_cache: Vec<Association>,
    names: HashMap<IpAddr, String>,
    /// chronyd's source count from the detection probe, used once by the first listing.
    probe_count: Option<u32>,
    out: &'w mut dyn Write,
    err: &'w mut dyn Write,
}

impl<'w> Session<'w> {
    pub fn new(
        opts: Options,
        hosts: &[String],
        out: &'w mut dyn Write,
        err: &'w mut dyn Write,
    ) -> Session<'w> {
        Session {
            timeout: opts.timeout.unwrap_or(super::client::DEFAULT_TIMEOUT),
            opts,
            host_count: hosts.len(),
            host_width: hosts.iter().map(|h| h.len()).max().unwrap_or(0),
            conn: None,
            raw: false,
            always_auth: false,
            assoc_cache: Vec::new(),
            names: HashMap::new(),
            probe_count: None,
            out,
            err,
        }
    }

    /// The command `word` names, once the open host is known to be able to answer it.
    fn command_for(&mut self, word: &str) -> Result<&'static commands::Command, CommandError> {
        let cmd = find_command(word)?;
        if !LOCAL_COMMANDS.contains(&cmd.name) && self.conn.is_some() {
            self.ensure_backend()?;
            if self.chronyd().is_some() && !CHRONYD_COMMANDS.contains(&cmd.name) {
                return Err(CommandError::NotFromChronyd(cmd.name));
            }
        }
        Ok(cmd)
    }

    /// Run one command line; errors are printed the way ntpq prints them.
    pub fn run(&mut self, line: &str) -> Flow {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(first) = words.first() else {
            return Flow::Continue;
        };
        let cmd = match self.command_for(first) {
            Ok(c) => c,
            Err(e) => {
                let _ = writeln!(self.err, "{e}");
                return Flow::Continue;
            }
        };
        let args = &words[1..];
        let result = match cmd.name {
            "quit" | "exit" => return Flow::Quit,
            "help" => {
                self.help(args.first().copied());
                Ok(())
            }
            "peers" => self.peers(PeerTable::Peers, false),
            "lpeers" => self.peers(PeerTable::Peers, true),
            "opeers" => self.peers(PeerTable::Old, false),
            "lopeers" => self.peers(PeerTable::Old, true),
            "apeers" => self.peers(PeerTable::Assoc, false),
            "associations" => self.associations(false, true),
            "lassociations" => self.associations(true, true),
            "passociations" => self.associations(false, false),
            "readvar" | "rv" => self.readvar(args, false),
            "clockvar" | "cv" => self.readvar(args, true),
            "writevar" => self.writevar(args),
            "sysinfo" => self.display_table("sysinfo", cooked::SYSINFO, true),
            "kerninfo" => self.display_table("kerninfo", cooked::KERNINFO, true),
            "sysstats" => self.stats_table(
                "sysstats",
                stats_tables::SYSSTATS,
                Some(stats_tables::SYSSTATS_SINCE_RESET),
            ),
            "iostats" => self.stats_table("iostats", stats_tables::IOSTATS, None),
            "monstats" => self.stats_table("monstats", stats_tables::MONSTATS, None),
            "ntsinfo" => self.stats_table("ntsinfo", stats_tables::NTSINFO, None),
            "mrulist" => self.mrulist(args),
            "host" => {
                self.host(args.first().copied());
                Ok(())
            }
            "authenticate" => {
                self.authenticate(args.first().copied());
                Ok(())
            }
            "timeout" => {
                self.set_timeout(args.first().copied());
                Ok(())
            }
            "raw" => {
                self.raw = true;
                let _ = writeln!(self.out, "Output set to raw");
                Ok(())
            }
            "cooked" => {
                self.raw = false;
                let _ = writeln!(self.out, "Output set to cooked");
                Ok(())
            }
            "version" => {
                let _ = writeln!(self.out, "ntpq ntpkit {}", env!("CARGO_PKG_VERSION"));
                Ok(())
            }
            _ => Ok(()),
        };
        if let Err(e) = result {
            let _ = writeln!(self.err, "{e}");
        }
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commands::find_command;

    #[test]
    fn command_prefixes_resolve_like_ntpq() {
        assert_eq!(find_command("as").unwrap().name, "associations");
        assert_eq!(find_command("au").unwrap().name, "authenticate");
        assert_eq!(find_command("pe").unwrap().name, "peers");
        assert_eq!(find_command("rv").unwrap().name, "rv");
        assert_eq!(find_command("sysi").unwrap().name, "sysinfo");
        assert_eq!(
            find_command("c").unwrap_err(),
            CommandError::Ambiguous("c".into())
        );
        assert_eq!(
            find_command("bogus").unwrap_err().to_string(),
            "***Command `bogus' unknown"
        );
    }

    #[test]
    fn no_answer_names_cmdallow_only_for_a_remote_chronyd() {
        let local = CommandError::NoAnswer {
            chronyd_silent_remote: false,
        };
        assert_eq!(local.to_string(), "***Request timed out");
        let remote = CommandError::NoAnswer {
            chronyd_silent_remote: true,
        };
        assert!(remote
            .to_string()
            .starts_with("***Request timed out (nor did chronyd's cmdmon port 323 answer"));
    }

    #[test]
    fn timeout_is_reported_like_ntpq() {
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let host = silent.local_addr().unwrap().to_string();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let opts = Options {
            timeout: Some(Duration::from_millis(50)),
            numeric: true,
            ..Default::default()
        };
        let mut s = Session::new(opts, std::slice::from_ref(&host), &mut out, &mut err);
        assert!(s.open_host(&host));
        assert_eq!(s.run("rv"), Flow::Continue);
        assert_eq!(s.run("quit"), Flow::Quit);
        drop(s);
        assert_eq!(String::from_utf8(err).unwrap(), "***Request timed out\n");
    }
}
