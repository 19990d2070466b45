//! ntpq's command interpreter: hosts, the command table (with unique-prefix matching as
//! ntpq allows), and each command's output in ntp.org 4.2.8's layout or as JSON.
//! `apps::ntpq` only parses flags and feeds commands in.

use super::chronyd;
use super::client::{Association, Client, Error, Family, Signer};
use super::cmdmon::{self, Endpoint};
use super::cooked::{self, Wrapped};
use super::peers::{self, PeerTable};
use super::stats_tables;
use crate::wire::control::{
    ClockStatusWord as ClockStatus, PeerStatusWord as PeerStatus, SystemStatusWord as SystemStatus,
    Value,
};
use crate::wire::time::NtpTimestamp;
use serde_json::{json, Map, Value as Json};
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

#[derive(Debug)]
struct Command {
    name: &'static str,
    args: &'static str,
    help: &'static str,
}

const COMMANDS: &[Command] = &[
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
fn find_command(word: &str) -> Result<&'static Command, String> {
    if let Some(c) = COMMANDS.iter().find(|c| c.name == word) {
        return Ok(c);
    }
    let matches: Vec<&Command> = COMMANDS
        .iter()
        .filter(|c| c.name.starts_with(word))
        .collect();
    match matches.len() {
        1 => Ok(matches[0]),
        0 => Err(format!("***Command `{word}' unknown")),
        _ => Err(format!("***Command `{word}' ambiguous")),
    }
}

struct Connection {
    name: String,
    client: Client,
    backend: Backend,
}

/// The commands that never talk to the daemon.
const LOCAL_COMMANDS: &[&str] = &[
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
const CHRONYD_COMMANDS: &[&str] = &[
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

/// Where chronyd listens for a host: its Unix socket for this machine when there is one
/// (it allows every request there), then UDP port 323.
fn chronyd_endpoints(addr: std::net::SocketAddr, port: u16) -> Vec<Endpoint> {
    let mut v = Vec::new();
    let sock = std::path::Path::new(crate::wire::cmdmon::DEFAULT_SOCKET);
    if addr.ip().is_loopback() && sock.exists() {
        v.push(Endpoint::Unix(sock.to_path_buf()));
    }
    v.push(Endpoint::Udp(std::net::SocketAddr::new(addr.ip(), port)));
    v
}

/// The first endpoint we can open a socket for (binding a Unix socket needs write access
/// to chronyd's directory).
fn connect_chronyd(endpoints: Vec<Endpoint>, timeout: Duration) -> cmdmon::Result<cmdmon::Client> {
    let mut last = None;
    for e in endpoints {
        match cmdmon::Client::connect(e, timeout) {
            Ok(c) => return Ok(c),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("at least one endpoint"))
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

/// Turn an address into a host name (`getnameinfo`, numeric when there is none).
fn reverse_lookup(addr: IpAddr) -> String {
    crate::sys::socket::host_name(addr).unwrap_or_else(|| addr.to_string())
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

    /// Open `host`; false (after a message) when it cannot be resolved or signed for.
    pub fn open_host(&mut self, host: &str) -> bool {
        // with --socket the mode 6 client is never used: no name to resolve for it
        let mode6 = match &self.opts.socket {
            Some(_) => Client::connect_addr(([127, 0, 0, 1], 123).into(), self.timeout),
            None => Client::connect_family(host, self.opts.family, self.timeout),
        };
        let mut client = match mode6 {
            Ok(c) => c,
            Err(e) => {
                let _ = writeln!(self.err, "***Can't find host {host}: {e}");
                return false;
            }
        };
        client.debug = self.opts.debug;
        client.always_auth = self.always_auth;
        if let Some(key_id) = self.opts.key_id {
            match signer(key_id, self.opts.keyfile.as_deref()) {
                Ok(s) => client.signer = Some(s),
                Err(e) => {
                    let _ = writeln!(self.err, "ntpq: {e}");
                    return false;
                }
            }
        }
        // a port in the host spec is chronyd's when the protocol is forced to chronyd
        let explicit_port = host.starts_with('[') && host.contains("]:")
            || (host.matches(':').count() == 1 && host.parse::<IpAddr>().is_err());
        let backend = match (&self.opts.socket, self.opts.protocol) {
            (Some(path), _) => {
                match cmdmon::Client::connect(Endpoint::Unix(path.clone()), self.timeout) {
                    Ok(c) => Backend::Chronyd(Box::new(c)),
                    Err(e) => {
                        let _ = writeln!(self.err, "ntpq: {e}");
                        return false;
                    }
                }
            }
            (None, Protocol::Mode6) => Backend::Mode6,
            (None, Protocol::Chronyd) => {
                let peer = client.peer();
                let port = if explicit_port {
                    peer.port()
                } else {
                    crate::wire::cmdmon::PORT
                };
                match connect_chronyd(chronyd_endpoints(peer, port), self.timeout) {
                    Ok(c) => Backend::Chronyd(Box::new(c)),
                    Err(e) => {
                        let _ = writeln!(self.err, "ntpq: {e}");
                        return false;
                    }
                }
            }
            (None, Protocol::Auto) => Backend::Undetected,
        };
        self.conn = Some(Connection {
            name: host.to_string(),
            client,
            backend,
        });
        self.assoc_cache.clear();
        true
    }

    fn host_column(&self) -> Option<(String, usize)> {
        let c = self.conn.as_ref()?;
        (self.host_count > 1).then(|| (c.name.clone(), self.host_width))
    }

    fn name_of(&mut self, addr: IpAddr) -> String {
        if let Some(r) = peers::refclock_display(&addr).filter(|_| !self.opts.numeric) {
            return r;
        }
        if self.opts.numeric || addr.is_unspecified() {
            return addr.to_string();
        }
        self.names
            .entry(addr)
            .or_insert_with(|| reverse_lookup(addr))
            .clone()
    }

    fn host_text(&mut self, text: &str) -> String {
        match peers::parse_addr(text) {
            Some(a) if !self.opts.numeric => {
                let name = self.name_of(a);
                // keep a port the daemon sent (peeradr)
                match text.rsplit_once(':') {
                    Some((_, port)) if text.contains('.') && port.parse::<u16>().is_ok() => {
                        format!("{name}:{port}")
                    }
                    _ => name,
                }
            }
            _ => text.to_string(),
        }
    }

    fn client(&mut self) -> Result<&mut Client, String> {
        match self.conn.as_mut() {
            Some(c) => Ok(&mut c.client),
            None => Err("***No host open, use `host' command".into()),
        }
    }

    /// Find out what the open host speaks (`--protocol auto`): a mode 6 READSTAT and a
    /// cmdmon N_SOURCES go out together and the first answer decides, so a mode 6 daemon
    /// costs one round trip more and a chronyd host no mode 6 timeout. When neither
    /// answers, the mode 6 error is the one reported, as before there was a choice.
    fn ensure_backend(&mut self) -> Result<(), String> {
        let timeout = self.timeout;
        let debug = self.opts.debug;
        let Some(conn) = self.conn.as_mut() else {
            return Err("***No host open, use `host' command".into());
        };
        if !matches!(conn.backend, Backend::Undetected) {
            return Ok(());
        }
        let peer = conn.client.peer();
        let endpoints = chronyd_endpoints(peer, crate::wire::cmdmon::PORT);
        match super::detect::probe(peer, endpoints, timeout, debug) {
            super::detect::Found::Mode6 => {
                conn.backend = Backend::Mode6;
                Ok(())
            }
            super::detect::Found::Chronyd(c, count) => {
                conn.backend = Backend::Chronyd(c);
                self.probe_count = count;
                Ok(())
            }
            super::detect::Found::Nothing { chronyd_silent } => {
                let mut text = Error::Timeout.to_string();
                if chronyd_silent && !peer.ip().is_loopback() {
                    // chronyd ignores hosts its cmdallow does not list: this may be one
                    text.push_str(
                        " (nor did chronyd's cmdmon port 323 answer: chronyd answers only \
                         hosts its cmdallow directives list)",
                    );
                }
                Err(text)
            }
        }
    }

    fn chronyd(&mut self) -> Option<&mut cmdmon::Client> {
        match self.conn.as_mut().map(|c| &mut c.backend) {
            Some(Backend::Chronyd(c)) => Some(c),
            _ => None,
        }
    }

    /// chronyd's sources, or the error printed and None.
    fn chronyd_sources(&mut self) -> Option<Vec<chronyd::Source>> {
        let known = self.probe_count.take();
        let r = chronyd::fetch_sources(self.chronyd()?, known);
        match r {
            Ok(s) => Some(s),
            Err(e) => {
                let _ = writeln!(self.err, "{e}");
                None
            }
        }
    }

    fn report(&mut self, e: Error) {
        let _ = writeln!(self.err, "{e}");
    }

    fn json_out(&mut self, kind: &str, body: Json) {
        let server = self
            .conn
            .as_ref()
            .map(|c| c.name.clone())
            .unwrap_or_default();
        let v = json!({ "server": server, "command": kind, "result": body });
        let _ = writeln!(self.out, "{v}");
    }

    /// Run one command line; errors are printed the way ntpq prints them.
    pub fn run(&mut self, line: &str) -> Flow {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(first) = words.first() else {
            return Flow::Continue;
        };
        let cmd = match find_command(first) {
            Ok(c) => c,
            Err(e) => {
                let _ = writeln!(self.err, "{e}");
                return Flow::Continue;
            }
        };
        let args = &words[1..];
        if !LOCAL_COMMANDS.contains(&cmd.name) && self.conn.is_some() {
            if let Err(e) = self.ensure_backend() {
                let _ = writeln!(self.err, "{e}");
                return Flow::Continue;
            }
            if self.chronyd().is_some() && !CHRONYD_COMMANDS.contains(&cmd.name) {
                let _ = writeln!(
                    self.err,
                    "***Command `{}' is not available from chronyd (cmdmon has no equivalent)",
                    cmd.name
                );
                return Flow::Continue;
            }
        }
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

    fn help(&mut self, topic: Option<&str>) {
        match topic {
            None => {
                let _ = writeln!(self.out, "ntpq commands:");
                let names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
                for chunk in names.chunks(4) {
                    let line: String = chunk.iter().map(|n| format!("{n:<16}")).collect();
                    let _ = writeln!(self.out, "{}", line.trim_end());
                }
            }
            Some(t) => match find_command(t) {
                Ok(c) => {
                    let _ = writeln!(self.out, "function: {}", c.help);
                    let _ = writeln!(self.out, "usage: {} {}", c.name, c.args);
                }
                Err(e) => {
                    let _ = writeln!(self.err, "{e}");
                }
            },
        }
    }

    fn host(&mut self, name: Option<&str>) {
        match name {
            None => {
                let msg = match &self.conn {
                    Some(c) => format!("current host is {}", c.name),
                    None => "no current host".to_string(),
                };
                let _ = writeln!(self.out, "{msg}");
            }
            Some(h) => {
                let previous = self.conn.take();
                if self.open_host(h) {
                    let _ = writeln!(self.out, "current host set to {h}");
                } else {
                    self.conn = previous;
                    if let Some(c) = &self.conn {
                        let _ = writeln!(self.out, "current host remains {}", c.name);
                    }
                }
            }
        }
    }

    fn authenticate(&mut self, arg: Option<&str>) {
        match arg {
            None => {
                let on = self.always_auth;
                let _ = writeln!(
                    self.out,
                    "{}",
                    if on {
                        "authenticated requests being sent"
                    } else {
                        "unauthenticated requests being sent"
                    }
                );
            }
            Some("yes") => self.always_auth = true,
            Some("no") => self.always_auth = false,
            Some(_) => {
                let _ = writeln!(self.err, "specify `yes' or `no'");
            }
        }
        let on = self.always_auth;
        if let Some(c) = self.conn.as_mut() {
            c.client.always_auth = on;
        }
    }

    fn set_timeout(&mut self, ms: Option<&str>) {
        match ms {
            None => {
                let _ = writeln!(self.out, "primary timeout {} ms", self.timeout.as_millis());
            }
            Some(v) => match v.parse::<u64>() {
                Ok(ms) => {
                    self.timeout = Duration::from_millis(ms);
                    if let Some(c) = self.conn.as_mut() {
                        c.client.timeout = self.timeout;
                        if let Backend::Chronyd(cc) = &mut c.backend {
                            cc.timeout = self.timeout;
                        }
                    }
                }
                Err(_) => {
                    let _ = writeln!(self.err, "***Illegal integer value {v}");
                }
            },
        }
    }

    fn fetch_associations(&mut self) -> Result<bool, String> {
        if self.chronyd().is_some() {
            let Some(sources) = self.chronyd_sources() else {
                return Ok(false);
            };
            self.assoc_cache = chronyd::associations(&sources);
            if self.assoc_cache.is_empty() && !self.opts.json {
                let _ = writeln!(self.err, "No association ID's returned");
            }
            return Ok(!self.assoc_cache.is_empty());
        }
        let r = self.client()?.associations();
        match r {
            Ok((_, list)) => {
                self.assoc_cache = list;
                if self.assoc_cache.is_empty() && !self.opts.json {
                    let _ = writeln!(self.err, "No association ID's returned");
                }
                Ok(!self.assoc_cache.is_empty())
            }
            Err(e) => {
                self.report(e);
                Ok(false)
            }
        }
    }

    fn associations(&mut self, show_all: bool, fetch: bool) -> Result<(), String> {
        if fetch && !self.fetch_associations()? {
            if self.opts.json {
                self.json_out("associations", json!([]));
            }
            return Ok(());
        }
        if self.opts.json {
            let rows: Vec<Json> = self
                .assoc_cache
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    json!({
                        "ind": i + 1, "assid": a.id, "status": format!("{:04x}", a.status.encode()),
                        "conf": a.status.has(crate::wire::control::peer_flags::CONFIG),
                        "reach": a.status.has(crate::wire::control::peer_flags::REACH),
                        "condition": a.status.select.condition(),
                        "tally": a.status.tally().to_string(),
                        "event_count": a.status.event_count, "last_event": a.status.event,
                    })
                })
                .collect();
            self.json_out("associations", Json::Array(rows));
            return Ok(());
        }
        let t = cooked::associations_table(&self.assoc_cache, show_all);
        let _ = self.out.write_all(t.as_bytes());
        Ok(())
    }

    /// The rows of a peers table (READSTAT, then READVAR per association).
    pub fn peer_rows(&mut self, show_all: bool) -> Result<Option<Vec<peers::PeerRow>>, String> {
        if self.chronyd().is_some() {
            let Some(sources) = self.chronyd_sources() else {
                return Ok(None);
            };
            self.assoc_cache = chronyd::associations(&sources);
            if sources.is_empty() {
                if !self.opts.json {
                    let _ = writeln!(self.err, "No association ID's returned");
                }
                return Ok(None);
            }
            let mut name_of = |addr: IpAddr| self.name_of(addr);
            let rows = sources
                .iter()
                .map(|s| chronyd::peer_row(s, &mut name_of))
                .collect();
            return Ok(Some(rows));
        }
        if !self.fetch_associations()? {
            return Ok(None);
        }
        let mut rows = Vec::new();
        let list = self.assoc_cache.clone();
        for a in list {
            if !show_all
                && !a.status.has(crate::wire::control::peer_flags::CONFIG)
                && !a.status.has(crate::wire::control::peer_flags::REACH)
            {
                continue;
            }
            let r = self.client()?.read_vars(a.id, &[]);
            let vars = match r {
                Ok(v) => v,
                Err(e) => {
                    self.report(e);
                    return Ok(Some(rows));
                }
            };
            if vars.vars.is_empty() {
                let _ = writeln!(
                    self.err,
                    "***No information returned for association {}",
                    a.id
                );
                return Ok(Some(rows));
            }
            let now = NtpTimestamp::from_system_time(std::time::SystemTime::now());
            let mut name_of = |addr: IpAddr| self.name_of(addr);
            rows.push(peers::row_from_vars(
                a.id,
                vars.status,
                &vars.vars,
                now,
                &mut name_of,
            ));
        }
        Ok(Some(rows))
    }

    fn peers(&mut self, table: PeerTable, show_all: bool) -> Result<(), String> {
        // as ntpq: nothing at all (not even the header) when the association list fails
        let Some(rows) = self.peer_rows(show_all)? else {
            if self.opts.json {
                self.json_out("peers", json!([]));
            }
            return Ok(());
        };
        if self.opts.json {
            let v = serde_json::to_value(&rows).unwrap_or(Json::Null);
            self.json_out("peers", v);
            return Ok(());
        }
        let host_col = self.host_column();
        let mut text = String::new();
        if let Some((_, w)) = &host_col {
            let label: String = "server (local)".chars().take(*w).collect();
            text.push_str(&format!("{label:<w$} "));
        }
        text.push_str(peers::header(table));
        text.push('\n');
        if let Some((_, w)) = &host_col {
            text.push_str(&"=".repeat(w + 1));
        }
        text.push_str(&"=".repeat(peers::RULE_WIDTH));
        text.push('\n');
        for row in &rows {
            let hc = host_col.as_ref().map(|(h, w)| (h.as_str(), *w));
            text.push_str(&peers::render_row(
                row,
                table,
                self.opts.wide,
                hc,
                self.opts.color,
            ));
            text.push('\n');
        }
        let _ = self.out.write_all(text.as_bytes());
        Ok(())
    }

    /// `&N` (index into the last association list) or a number.
    fn parse_assoc(&mut self, word: &str) -> Result<u16, String> {
        if let Some(idx) = word.strip_prefix('&') {
            let i: usize = idx
                .parse()
                .map_err(|_| format!("***Illegal index value {word}"))?;
            if self.assoc_cache.is_empty() {
                self.fetch_associations()?;
            }
            return self
                .assoc_cache
                .get(i.wrapping_sub(1))
                .map(|a| a.id)
                .ok_or_else(|| format!("***Association index `{i}' invalid/undecodable"));
        }
        word.parse::<u16>()
            .map_err(|_| format!("***Association value `{word}' invalid/undecodable"))
    }

    fn readvar(&mut self, args: &[&str], clock: bool) -> Result<(), String> {
        let (assoc, rest) = match args.first() {
            Some(w) if w.starts_with('&') || w.bytes().all(|b| b.is_ascii_digit()) => {
                (self.parse_assoc(w)?, &args[1..])
            }
            _ => (0, args),
        };
        let names: Vec<String> = rest
            .iter()
            .flat_map(|a| a.split(','))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        if self.chronyd().is_some() {
            return self.chronyd_readvar(assoc, &names, clock);
        }
        let client = self.client()?;
        let r = if clock {
            client.read_clock(assoc, &name_refs)
        } else {
            client.read_vars(assoc, &name_refs)
        };
        let vars = match r {
            Ok(v) => v,
            Err(e) => {
                self.report(e);
                return Ok(());
            }
        };
        self.show_readvar(assoc, &names, clock, vars)
    }

    /// `rv` from chronyd: tracking as the system variables, a source as a peer's.
    fn chronyd_readvar(&mut self, assoc: u16, names: &[String], clock: bool) -> Result<(), String> {
        if clock {
            return Err("***Command `clockvar' is not available from chronyd".into());
        }
        let Some(sources) = self.chronyd_sources() else {
            return Ok(());
        };
        let (status, mut vars) = if assoc == 0 {
            let r = self.chronyd().map(|c| c.tracking());
            match r {
                Some(Ok(t)) => {
                    let now = NtpTimestamp::from_system_time(std::time::SystemTime::now());
                    chronyd::system_vars(&t, &sources, now)
                }
                Some(Err(e)) => {
                    let _ = writeln!(self.err, "{e}");
                    return Ok(());
                }
                None => return Ok(()),
            }
        } else {
            match sources.iter().find(|s| s.assid() == assoc) {
                Some(src) => chronyd::peer_vars(src),
                None => {
                    let _ = writeln!(self.err, "***Server reports a bad association id");
                    return Ok(());
                }
            }
        };
        if !names.is_empty() {
            vars.retain(|(n, _)| names.iter().any(|w| w == n));
        }
        self.show_readvar(assoc, names, clock, super::client::Vars { status, vars })
    }

    fn show_readvar(
        &mut self,
        assoc: u16,
        names: &[String],
        clock: bool,
        vars: super::client::Vars,
    ) -> Result<(), String> {
        let kind = if clock { "clockvar" } else { "readvar" };
        if self.opts.json {
            let mut m = Map::new();
            for (n, v) in &vars.vars {
                m.insert(n.clone(), json_value(v));
            }
            self.json_out(
                kind,
                json!({"associd": assoc, "status": format!("{:04x}", vars.status), "vars": m}),
            );
            return Ok(());
        }
        let mut text = String::new();
        if self.host_count > 1 {
            if let Some(c) = &self.conn {
                text.push_str(&format!("server={} ", c.name));
            }
        }
        if vars.vars.is_empty() {
            let clk = if clock { " clock" } else { "" };
            text.push_str(&if assoc == 0 {
                format!("No system{clk} variables returned\n")
            } else {
                format!("No information returned for{clk} association {assoc}\n")
            });
            let _ = self.out.write_all(text.as_bytes());
            return Ok(());
        }
        let quiet = !names.is_empty() && !self.opts.old_rv;
        if !quiet {
            text.push_str(&format!("associd={assoc} "));
        }
        text.push_str(&self.print_vars(&vars.vars, vars.status, assoc, clock, quiet));
        let _ = self.out.write_all(text.as_bytes());
        Ok(())
    }

    fn print_vars(
        &mut self,
        vars: &[(String, Value)],
        status: u16,
        assoc: u16,
        clock: bool,
        quiet: bool,
    ) -> String {
        let mut text = String::new();
        let status_text = if clock {
            ClockStatus::decode(status).to_string()
        } else if assoc == 0 {
            SystemStatus::decode(status).to_string()
        } else {
            PeerStatus::decode(status).to_string()
        };
        if self.raw {
            if !quiet {
                text.push_str(&format!("status=0x{status:04x},\n"));
            }
            let mut w = Wrapped::default();
            for (n, v) in vars {
                w.push(n, v.raw());
            }
            text.push_str(&w.finish());
            return text;
        }
        if !quiet {
            text.push_str(&format!("status={status:04x} {status_text},\n"));
        }
        let mut w = Wrapped::default();
        for (n, v) in vars {
            let mut host_of = |s: &str| self.host_text(s);
            let cooked = cooked::cook(n, v, &mut host_of);
            w.push(n, &cooked);
        }
        text.push_str(&w.finish());
        text
    }

    fn writevar(&mut self, args: &[&str]) -> Result<(), String> {
        let Some(first) = args.first() else {
            return Err("***Command `writevar' requires arguments".into());
        };
        let assoc = self.parse_assoc(first)?;
        let items: Vec<String> = args[1..]
            .iter()
            .flat_map(|a| a.split(','))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let pairs: Vec<(&str, &str)> = items
            .iter()
            .map(|i| i.split_once('=').unwrap_or((i.as_str(), "")))
            .collect();
        let r = self.client()?.write_vars(assoc, &pairs);
        match r {
            Ok(v) if self.opts.json => {
                self.json_out(
                    "writevar",
                    json!({"associd": assoc, "done": true, "vars": v.vars.len()}),
                );
            }
            Ok(v) if v.vars.is_empty() => {
                let _ = writeln!(self.out, "done! (no data returned)");
            }
            Ok(v) => {
                let t = self.print_vars(&v.vars, v.status, assoc, false, false);
                let _ = self
                    .out
                    .write_all(format!("associd={assoc} {t}").as_bytes());
            }
            Err(e) => self.report(e),
        }
        Ok(())
    }

    fn display_table(
        &mut self,
        kind: &str,
        table: &[(&str, &str)],
        status_line: bool,
    ) -> Result<(), String> {
        let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
        let Some(vars) = self.system_vars_for_text(kind, &names)? else {
            return Ok(());
        };
        let mut text = String::new();
        if status_line {
            text.push_str(&format!(
                "associd=0 status={:04x} {},\n",
                vars.status,
                SystemStatus::decode(vars.status)
            ));
        }
        for (name, label) in table {
            if let Some(v) = crate::wire::control::lookup(&vars.vars, name) {
                let mut host_of = |s: &str| self.host_text(s);
                let shown = cooked::display_value(name, v, &mut host_of);
                text.push_str(&format!("{label}  {shown}\n"));
            }
        }
        let _ = self.out.write_all(text.as_bytes());
        Ok(())
    }

    /// The system variables a text table shows; `None` when there is nothing left to do
    /// (the error is reported, or with --json the variables are printed as they are).
    fn system_vars_for_text(
        &mut self,
        kind: &str,
        names: &[&str],
    ) -> Result<Option<super::client::Vars>, String> {
        let vars = match self.read_system_vars(names)? {
            Ok(v) => v,
            Err(e) => {
                self.report(e);
                return Ok(None);
            }
        };
        if self.opts.json {
            let mut m = Map::new();
            for (n, v) in &vars.vars {
                m.insert(n.clone(), json_value(v));
            }
            self.json_out(kind, Json::Object(m));
            return Ok(None);
        }
        Ok(Some(vars))
    }

    /// System variables by name; with a daemon that lacks some (NTPsec has no
    /// bcastdelay, ntp.org no `io_*`), asked one by one and the missing ones left out.
    fn read_system_vars(
        &mut self,
        names: &[&str],
    ) -> Result<Result<super::client::Vars, Error>, String> {
        let mut r = self.client()?.read_vars(0, names);
        if let Err(Error::Server(crate::wire::control::ErrorCode::UNKNOWNVAR, _)) = r {
            let mut all = super::client::Vars {
                status: 0,
                vars: Vec::new(),
            };
            for name in names {
                if let Ok(v) = self.client()?.read_vars(0, &[name]) {
                    all.status = v.status;
                    all.vars.extend(v.vars);
                }
            }
            r = Ok(all);
        }
        Ok(r)
    }

    /// `sysstats`, `iostats`, `monstats`: counters in NTPsec's layout.
    fn stats_table(
        &mut self,
        kind: &str,
        table: stats_tables::Table,
        since_reset: Option<stats_tables::Table>,
    ) -> Result<(), String> {
        let mut names = stats_tables::names(table, false);
        if let Some(t) = since_reset {
            names.extend(stats_tables::names(t, true));
        }
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let Some(vars) = self.system_vars_for_text(kind, &names)? else {
            return Ok(());
        };
        let lookup = |n: &str| crate::wire::control::lookup(&vars.vars, n).cloned();
        let mut text = stats_tables::render(table, &lookup);
        if let Some(t) = since_reset {
            text.push_str(&stats_tables::render_since_reset(t, &lookup));
        }
        let _ = self.out.write_all(text.as_bytes());
        Ok(())
    }

    fn mrulist(&mut self, args: &[&str]) -> Result<(), String> {
        // `sort=` is ntpq's own option, not the server's
        let extra: Vec<&str> = args
            .iter()
            .copied()
            .filter(|a| a.contains('=') && !a.starts_with("sort="))
            .collect();
        let r = self.client()?.mrulist(&extra, 64);
        let list = match r {
            Ok(l) => l,
            Err(e) => {
                self.report(e);
                return Ok(());
            }
        };
        if self.opts.json {
            let now = list.now.map(|t| t.seconds() as i64);
            let rows: Vec<Json> = list
                .entries
                .iter()
                .map(|e| {
                    json!({
                        "addr": e.addr, "count": e.count,
                        "first": e.first.to_hex_string(), "last": e.last.to_hex_string(),
                        "lstint": now.map(|n| n - e.last.seconds() as i64),
                        "mode": e.mode_version & 7, "version": (e.mode_version >> 3) & 7,
                        "restrict": e.restrict, "score": e.score, "drop": e.drop,
                    })
                })
                .collect();
            self.json_out("mrulist", Json::Array(rows));
            return Ok(());
        }
        let mut host_of = |s: &str| self.host_text(s);
        let t = cooked::mru_table(&list, &mut host_of);
        let _ = self.out.write_all(t.as_bytes());
        Ok(())
    }
}

/// A variable as JSON: numbers as numbers, everything else as its text.
fn json_value(v: &Value) -> Json {
    if !v.is_quoted() {
        let t = v.text().trim();
        if let Ok(i) = t.parse::<i64>() {
            return json!(i);
        }
        if let Ok(f) = t.parse::<f64>() {
            if f.is_finite() {
                return json!(f);
            }
        }
    }
    Json::String(v.text().to_string())
}

/// Build the request signer for `-a keyid` from the keys file.
fn signer(key_id: u32, keyfile: Option<&std::path::Path>) -> Result<Signer, String> {
    let path = keyfile.unwrap_or(std::path::Path::new("/etc/ntp.keys"));
    super::auth_glue::signer_from_keyfile(path, key_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_prefixes_resolve_like_ntpq() {
        assert_eq!(find_command("as").unwrap().name, "associations");
        assert_eq!(find_command("au").unwrap().name, "authenticate");
        assert_eq!(find_command("pe").unwrap().name, "peers");
        assert_eq!(find_command("rv").unwrap().name, "rv");
        assert_eq!(find_command("sysi").unwrap().name, "sysinfo");
        assert!(find_command("c").unwrap_err().contains("ambiguous"));
        assert_eq!(
            find_command("bogus").unwrap_err(),
            "***Command `bogus' unknown"
        );
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
