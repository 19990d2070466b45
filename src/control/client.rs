//! A blocking mode 6 client: what ntpq and ntpstat use to talk to any NTP daemon (ours,
//! NTPsec's, ntp.org's). One UDP socket connected to the server, ntpq's timeouts (5 s for
//! the first fragment, 3 s between fragments), one retry, sequence numbers, reassembly.

use crate::wire::control::{
    self, decode_assoc_list, decode_vars, encode_request_vars, Accepted, ControlHeader, ErrorCode,
    Opcode, PeerStatusWord, Reassembler, ReassemblyError, Response, SystemStatusWord, Value,
    VarList,
};
use crate::wire::time::NtpTimestamp;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

/// ntpq's default wait for the first fragment (`DEFTIMEOUT`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// ntpq's wait between fragments (`DEFSTIMEOUT`).
pub const FRAGMENT_TIMEOUT: Duration = Duration::from_secs(3);
/// The version number ntpq claims in requests.
pub const DEFAULT_VERSION: u8 = 2;
pub const NTP_PORT: u16 = 123;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Resolve(String),
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("***Request timed out")]
    Timeout,
    #[error("***Response from server was incomplete")]
    Incomplete,
    #[error("{}", .0.ntpq_message(*.1))]
    Server(ErrorCode, u16),
    #[error("***Server returned inconsistent fragments")]
    Inconsistent,
}

impl Error {
    pub fn server_code(&self) -> Option<ErrorCode> {
        match self {
            Error::Server(c, _) => Some(*c),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

pub use crate::config::Family;

/// Signs requests: a key id and the MAC function over the padded request (see
/// `wire::auth` for the key types).
pub struct Signer {
    pub key_id: u32,
    pub mac: MacFn,
}

/// Computes the MAC over everything before the key id.
pub type MacFn = Box<dyn Fn(&[u8]) -> Vec<u8> + Send + Sync>;

/// One association from READSTAT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Association {
    pub id: u16,
    pub status: PeerStatusWord,
}

/// Variables read from the daemon, with the status word of the response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vars {
    pub status: u16,
    pub vars: VarList,
}

impl Vars {
    pub fn get(&self, name: &str) -> Option<&Value> {
        control::lookup(&self.vars, name)
    }
}

/// One row of the daemon's MRU (monitoring) list.
#[derive(Clone, Debug, PartialEq)]
pub struct MruEntry {
    pub addr: String,
    pub first: NtpTimestamp,
    pub last: NtpTimestamp,
    pub count: u64,
    /// `mv.#`: mode in the low 3 bits, version above.
    pub mode_version: u8,
    pub restrict: u32,
    /// NTPsec only.
    pub score: Option<f64>,
    pub drop: Option<u64>,
}

/// The whole MRU list and the daemon's notion of now (for `lstint`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MruList {
    pub entries: Vec<MruEntry>,
    pub now: Option<NtpTimestamp>,
}

pub struct Client {
    socket: UdpSocket,
    peer: SocketAddr,
    sequence: u16,
    pub version: u8,
    pub timeout: Duration,
    pub fragment_timeout: Duration,
    pub signer: Option<Signer>,
    /// Trace requests and fragments on stderr (`ntpq -d`).
    pub debug: bool,
    /// Sign every request, not only those the server requires a MAC for (ntpq's
    /// `authenticate yes`; off by default as in ntp.org's and NTPsec's ntpq).
    pub always_auth: bool,
}

/// Opcodes ntpd only honours with a MAC by the controlkey.
fn needs_auth(op: Opcode) -> bool {
    matches!(
        op,
        Opcode::WRITEVAR
            | Opcode::WRITECLOCK
            | Opcode::CONFIGURE
            | Opcode::SAVECONFIG
            | Opcode::READ_ORDLIST_A
    )
}

/// Split `host`, `host:port`, `[v6]:port` or a bare IPv6 address into host and port.
pub fn split_host_port(spec: &str) -> (String, u16) {
    if let Some(rest) = spec.strip_prefix('[') {
        if let Some((h, tail)) = rest.split_once(']') {
            let port = tail
                .strip_prefix(':')
                .and_then(|p| p.parse().ok())
                .unwrap_or(NTP_PORT);
            return (h.to_string(), port);
        }
    }
    if spec.parse::<IpAddr>().is_ok() {
        return (spec.to_string(), NTP_PORT);
    }
    match spec.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => match p.parse() {
            Ok(port) => (h.to_string(), port),
            Err(_) => (spec.to_string(), NTP_PORT),
        },
        _ => (spec.to_string(), NTP_PORT),
    }
}

/// Resolve a host spec to candidate addresses, IPv4 first (so `localhost` reaches a daemon
/// that listens on 127.0.0.1 only).
pub fn resolve(spec: &str, family: Family) -> Result<Vec<SocketAddr>> {
    let (host, port) = split_host_port(spec);
    let addrs: Vec<SocketAddr> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| Error::Resolve(format!("{host}: {e}")))?
        .filter(|a| family.admits(a.ip()))
        .collect();
    let mut sorted: Vec<SocketAddr> = addrs.iter().filter(|a| a.is_ipv4()).copied().collect();
    sorted.extend(addrs.iter().filter(|a| a.is_ipv6()));
    if sorted.is_empty() {
        return Err(Error::Resolve(format!(
            "{host}: no {} address",
            match family {
                Family::V6 => "IPv6",
                Family::V4 => "IPv4",
                Family::Any => "usable",
            }
        )));
    }
    Ok(sorted)
}

impl Client {
    /// Connect (UDP: bind and fix the peer) to `host` (`name`, `addr`, `addr:port`).
    pub fn connect(host: &str, timeout: Duration) -> Result<Client> {
        Client::connect_family(host, Family::Any, timeout)
    }

    pub fn connect_family(host: &str, family: Family, timeout: Duration) -> Result<Client> {
        let addr = resolve(host, family)?[0];
        Client::connect_addr(addr, timeout)
    }

    pub fn connect_addr(peer: SocketAddr, timeout: Duration) -> Result<Client> {
        let local: SocketAddr = if peer.is_ipv4() {
            "0.0.0.0:0".parse().expect("literal")
        } else {
            "[::]:0".parse().expect("literal")
        };
        let socket = UdpSocket::bind(local)?;
        socket.connect(peer)?;
        Ok(Client {
            socket,
            peer,
            sequence: 0,
            version: DEFAULT_VERSION,
            timeout,
            fragment_timeout: FRAGMENT_TIMEOUT.min(timeout.max(Duration::from_millis(1))),
            signer: None,
            debug: false,
            always_auth: false,
        })
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    fn next_sequence(&mut self) -> u16 {
        self.sequence = self.sequence.wrapping_add(1);
        if self.sequence == 0 {
            self.sequence = 1;
        }
        self.sequence
    }

    fn datagram(&self, opcode: Opcode, sequence: u16, assoc: u16, data: &[u8]) -> Vec<u8> {
        let header = ControlHeader::request(self.version, opcode, sequence, assoc);
        match self
            .signer
            .as_ref()
            .filter(|_| self.always_auth || needs_auth(opcode))
        {
            Some(s) => control::encode_authenticated(&header, data, s.key_id, |m| (s.mac)(m)),
            None => control::encode(&header, data),
        }
    }

    /// Send one request and collect the whole response; one retry after a timeout (with a
    /// fresh sequence number if some fragments had come), like ntpq's `doquery`.
    pub fn request(&mut self, opcode: Opcode, assoc: u16, data: &[u8]) -> Result<Response> {
        let mut last = Error::Timeout;
        for _attempt in 0..2 {
            let seq = self.next_sequence();
            let datagram = self.datagram(opcode, seq, assoc, data);
            if self.debug {
                eprintln!(
                    "sendrequest: opcode={}, associd={}, qsize={}, sequence={seq}, to {}",
                    opcode.0,
                    assoc,
                    data.len(),
                    self.peer
                );
            }
            self.socket.send(&datagram)?;
            match self.collect(seq, opcode) {
                Ok(r) => return Ok(r),
                Err(e @ (Error::Timeout | Error::Incomplete)) => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    fn collect(&mut self, seq: u16, opcode: Opcode) -> Result<Response> {
        let mut reasm = Reassembler::new(seq, opcode);
        let mut buf = [0u8; 2048];
        let mut deadline = Instant::now() + self.timeout;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(if reasm.started() {
                    Error::Incomplete
                } else {
                    Error::Timeout
                });
            }
            self.socket.set_read_timeout(Some(deadline - now))?;
            let n = match self.socket.recv(&mut buf) {
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                            // nobody listening (ICMP): ntpq just waits out its timeout
                            | io::ErrorKind::ConnectionRefused
                    ) =>
                {
                    if e.kind() == io::ErrorKind::ConnectionRefused {
                        std::thread::sleep(Duration::from_millis(20).min(deadline - now));
                    }
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if self.debug {
                if let Ok(p) = control::Packet::decode(&buf[..n]) {
                    let h = p.header;
                    eprintln!(
                        "Got packet, size = {n}: seq {} op {} status {:#06x} assoc {} offset {} count {}{}{}",
                        h.sequence,
                        h.opcode.0,
                        h.status,
                        h.assoc_id,
                        h.offset,
                        h.count,
                        if h.more { " more" } else { "" },
                        if h.error { " error" } else { "" }
                    );
                }
            }
            match reasm.accept(&buf[..n]) {
                Ok(Accepted::Complete(r)) => return Ok(r),
                Ok(Accepted::Partial) => deadline = Instant::now() + self.fragment_timeout,
                Ok(Accepted::Ignored | Accepted::Duplicate) => {}
                Err(ReassemblyError::Server(code, _)) => {
                    return Err(Error::Server(code, reasm_assoc(&buf[..n])))
                }
                Err(ReassemblyError::TooManyFragments | ReassemblyError::Inconsistent) => {
                    return Err(Error::Inconsistent)
                }
            }
        }
    }

    /// READSTAT on association 0: the system status and the association list, sorted by id
    /// as ntpq sorts it.
    pub fn associations(&mut self) -> Result<(SystemStatusWord, Vec<Association>)> {
        let r = self.request(Opcode::READSTAT, 0, &[])?;
        let mut list: Vec<Association> = decode_assoc_list(&r.data)
            .into_iter()
            .map(|(id, status)| Association { id, status })
            .collect();
        list.sort_by_key(|a| a.id);
        Ok((SystemStatusWord::decode(r.header.status), list))
    }

    /// READSTAT on one association (or 0): the status word of the response.
    pub fn read_status(&mut self, assoc: u16) -> Result<u16> {
        Ok(self.request(Opcode::READSTAT, assoc, &[])?.header.status)
    }

    /// READVAR: the default list (`names` empty) or the named variables.
    pub fn read_vars(&mut self, assoc: u16, names: &[&str]) -> Result<Vars> {
        self.read_vars_opcode(Opcode::READVAR, assoc, names)
    }

    /// READCLOCK: a refclock's variables.
    pub fn read_clock(&mut self, assoc: u16, names: &[&str]) -> Result<Vars> {
        self.read_vars_opcode(Opcode::READCLOCK, assoc, names)
    }

    fn read_vars_opcode(&mut self, op: Opcode, assoc: u16, names: &[&str]) -> Result<Vars> {
        let r = self.request(op, assoc, &encode_request_vars(names))?;
        Ok(Vars {
            status: r.header.status,
            vars: decode_vars(&r.data),
        })
    }

    /// WRITEVAR `name=value` pairs (needs a signer with the daemon's controlkey).
    pub fn write_vars(&mut self, assoc: u16, assignments: &[(&str, &str)]) -> Result<Vars> {
        let items: Vec<String> = assignments
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        let r = self.request(Opcode::WRITEVAR, assoc, &encode_request_vars(&items))?;
        Ok(Vars {
            status: r.header.status,
            vars: decode_vars(&r.data),
        })
    }

    /// REQ_NONCE: the opaque nonce READ_MRU requests must carry.
    pub fn nonce(&mut self) -> Result<String> {
        let r = self.request(Opcode::REQ_NONCE, 0, &[])?;
        let vars = decode_vars(&r.data);
        control::lookup(&vars, "nonce")
            .map(|v| v.text().to_string())
            .ok_or(Error::Inconsistent)
    }

    /// The whole MRU list, fetched in batches. `extra` are filters ntpq passes through
    /// (`mincount=3`, `laddr=…`); `max_rounds` bounds the conversation.
    pub fn mrulist(&mut self, extra: &[&str], max_rounds: usize) -> Result<MruList> {
        let mut nonce = self.nonce()?;
        let mut list = MruList::default();
        let mut resume: Option<(String, String)> = None;
        for _ in 0..max_rounds.max(1) {
            let mut items = vec![format!("nonce={nonce}"), "frags=32".to_string()];
            items.extend(extra.iter().map(|s| s.to_string()));
            if let Some((last, addr)) = &resume {
                items.push(format!("last.0={last}"));
                items.push(format!("addr.0={addr}"));
            }
            let r = self.request(Opcode::READ_MRU, 0, items.join(", ").as_bytes())?;
            let vars = decode_vars(&r.data);
            let before = list.entries.len();
            collect_mru_rows(&vars, &mut list);
            if let Some(n) = control::lookup(&vars, "nonce") {
                nonce = n.text().to_string();
            }
            if let Some(now) = control::lookup(&vars, "now").and_then(|v| v.as_timestamp()) {
                list.now = Some(now);
                break;
            }
            let Some(newest) = list.entries[before..].last() else {
                break;
            };
            resume = Some((newest.last.to_hex_string(), newest.addr.clone()));
        }
        Ok(list)
    }
}

fn reasm_assoc(datagram: &[u8]) -> u16 {
    control::Packet::decode(datagram)
        .map(|p| p.header.assoc_id)
        .unwrap_or(0)
}

/// Turn `addr.0=…, last.0=…, …` into rows (rows end up in the daemon's order, oldest
/// first).
fn collect_mru_rows(vars: &VarList, list: &mut MruList) {
    let mut rows: std::collections::BTreeMap<u32, MruEntry> = Default::default();
    for (name, value) in vars {
        let Some((field, idx)) = name.split_once('.') else {
            continue;
        };
        let Ok(idx) = idx.parse::<u32>() else {
            continue;
        };
        let row = rows.entry(idx).or_insert_with(|| MruEntry {
            addr: String::new(),
            first: NtpTimestamp(0),
            last: NtpTimestamp(0),
            count: 0,
            mode_version: 0,
            restrict: 0,
            score: None,
            drop: None,
        });
        match field {
            "addr" => row.addr = value.text().to_string(),
            "first" => row.first = value.as_timestamp().unwrap_or(NtpTimestamp(0)),
            "last" => row.last = value.as_timestamp().unwrap_or(NtpTimestamp(0)),
            "ct" => row.count = value.as_i64().unwrap_or(0).max(0) as u64,
            "mv" => row.mode_version = value.as_i64().unwrap_or(0) as u8,
            "rs" => row.restrict = value.as_i64().unwrap_or(0) as u32,
            "sc" => row.score = value.as_f64(),
            "dr" => row.drop = value.as_i64().map(|d| d.max(0) as u64),
            _ => {}
        }
    }
    list.entries
        .extend(rows.into_values().filter(|r| !r.addr.is_empty()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_specs_split() {
        assert_eq!(split_host_port("localhost"), ("localhost".into(), 123));
        assert_eq!(
            split_host_port("127.0.0.1:1123"),
            ("127.0.0.1".into(), 1123)
        );
        assert_eq!(split_host_port("::1"), ("::1".into(), 123));
        assert_eq!(split_host_port("[::1]:1123"), ("::1".into(), 1123));
        assert_eq!(
            split_host_port("ntp.example:x"),
            ("ntp.example:x".into(), 123)
        );
    }

    #[test]
    fn family_filters_addresses() {
        assert!(resolve("127.0.0.1", Family::V4).unwrap()[0].is_ipv4());
        assert!(resolve("127.0.0.1", Family::V6).is_err());
        let v6 = resolve("[::1]:1123", Family::V6).unwrap();
        assert_eq!(v6[0], "[::1]:1123".parse().unwrap());
        assert!(resolve("::1", Family::V4).is_err());
        assert!(matches!(
            Client::connect("no-such-host.invalid", DEFAULT_TIMEOUT),
            Err(Error::Resolve(_))
        ));
    }

    #[test]
    fn timeout_against_silent_socket() {
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut c =
            Client::connect_addr(silent.local_addr().unwrap(), Duration::from_millis(100)).unwrap();
        let t0 = Instant::now();
        assert!(matches!(c.associations(), Err(Error::Timeout)));
        assert!(t0.elapsed() >= Duration::from_millis(200), "one retry");
        // both attempts arrived, with sequence numbers 1 and 2
        let mut buf = [0u8; 64];
        silent
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        for want in [1u16, 2] {
            let n = silent.recv(&mut buf).unwrap();
            let p = control::Packet::decode(&buf[..n]).unwrap();
            assert_eq!(p.header.sequence, want);
            assert_eq!(p.header.version, 2);
        }
    }

    #[test]
    fn mru_rows_from_ntpsec_reply() {
        // the READ_MRU reply NTPsec 1.2.2 sent (frame 20 of the capture)
        let capture = crate::wire::control::test_support::ntpsec_capture();
        let frame = &capture.iter().find(|f| f.0 == 20).unwrap().3;
        let p = control::Packet::decode(frame).unwrap();
        let mut list = MruList::default();
        collect_mru_rows(&decode_vars(p.data), &mut list);
        assert_eq!(list.entries.len(), 2);
        assert_eq!(list.entries[0].addr, "198.18.0.1:123");
        assert_eq!(list.entries[0].count, 9);
        assert_eq!(list.entries[0].mode_version, 36);
        assert_eq!(list.entries[1].score, Some(0.442));
    }
}
