//! A blocking chronyd cmdmon client (the codec is `wire::cmdmon`): UDP port 323 or the
//! Unix datagram socket, random sequence numbers, retries with a growing timeout as
//! chronyc does, and protocol version fall-back when chronyd answers `BADPKTVERSION`.
//!
//! Over the Unix socket the client binds a socket of its own beside chronyd's (chronyc
//! does the same: chronyd answers to the sender's path), made writable for chronyd, which
//! usually runs as another user, and removes it when dropped.

use crate::wire::cmdmon::{
    decode_reply, Activity, DecodeError, NtpData, Reply, ReplyBody, Request, Rtc, ServerStats,
    SourceData, SourceStats, Status, Tracking, PROTO_VERSION, PROTO_VERSION_MIN,
};
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// chronyc's first wait for an answer; doubled on each retry.
pub const INITIAL_TIMEOUT: Duration = Duration::from_secs(1);
/// Retries after the first attempt (chronyc: 2).
pub const RETRIES: u16 = 2;

/// Where chronyd listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Udp(SocketAddr),
    Unix(PathBuf),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Udp(a) => write!(f, "{a}"),
            Endpoint::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("chronyd at {0}: {1}")]
    Io(String, io::Error),
    /// chronyc's words when nothing answers.
    #[error("chronyd at {0}: 506 Cannot talk to daemon")]
    Timeout(String),
    /// chronyd refused the request.
    #[error("chronyd at {endpoint}: {}{}", .status, hint(*.status, *.udp))]
    Status {
        endpoint: String,
        status: Status,
        udp: bool,
    },
    #[error("chronyd at {0}: bad reply: {1}")]
    Decode(String, DecodeError),
    #[error("chronyd at {0}: unexpected reply to command {1}")]
    Unexpected(String, u16),
}

/// What to do about a refusal, where chronyc's number alone does not say.
fn hint(status: Status, udp: bool) -> &'static str {
    match status {
        Status::NOHOSTACCESS => {
            " (chronyd answers only hosts its cmdallow directives list; \
             add `cmdallow` for this host or query it locally)"
        }
        Status::UNAUTH if udp => " (chronyd allows this only over its Unix socket)",
        _ => "",
    }
}

impl Error {
    pub fn status(&self) -> Option<Status> {
        match self {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

enum Transport {
    Udp(UdpSocket),
    Unix {
        socket: UnixDatagram,
        /// Our own bound path, removed on drop.
        local: PathBuf,
    },
}

impl Drop for Transport {
    fn drop(&mut self) {
        if let Transport::Unix { local, .. } = self {
            let _ = std::fs::remove_file(local);
        }
    }
}

pub struct Client {
    transport: Transport,
    endpoint: Endpoint,
    /// The version in use: PROTO_VERSION, lowered once if chronyd asks for it.
    pub version: u8,
    /// Upper bound of the whole exchange (all attempts).
    pub timeout: Duration,
    pub debug: bool,
    sequence: u32,
}

/// A fresh unpredictable sequence start without a random crate: std's per-process random
/// hash keys, mixed with the time.
fn random_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish() as u32
}

/// The path our own socket gets beside chronyd's (as chronyc's `chronyc.PID.sock`).
fn local_socket_path(server: &Path) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = server
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    dir.join(format!("ntpkit.{}.{n}.sock", std::process::id()))
}

impl Client {
    pub fn connect(endpoint: Endpoint, timeout: Duration) -> Result<Client> {
        let name = endpoint.to_string();
        let io = |e| Error::Io(name.clone(), e);
        let transport = match &endpoint {
            Endpoint::Udp(addr) => {
                let local: SocketAddr = if addr.is_ipv4() {
                    "0.0.0.0:0".parse().expect("literal")
                } else {
                    "[::]:0".parse().expect("literal")
                };
                let s = UdpSocket::bind(local).map_err(io)?;
                s.connect(addr).map_err(io)?;
                Transport::Udp(s)
            }
            Endpoint::Unix(path) => {
                let local = local_socket_path(path);
                let _ = std::fs::remove_file(&local);
                let socket = UnixDatagram::bind(&local).map_err(io)?;
                // From here on `transport` owns the path (removed on drop, also on error).
                let transport = Transport::Unix {
                    socket: socket.try_clone().map_err(io)?,
                    local: local.clone(),
                };
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&local, std::fs::Permissions::from_mode(0o666))
                    .map_err(io)?;
                socket.connect(path).map_err(io)?;
                transport
            }
        };
        Ok(Client {
            transport,
            endpoint,
            version: PROTO_VERSION,
            timeout,
            debug: false,
            sequence: random_u32(),
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn is_udp(&self) -> bool {
        matches!(self.endpoint, Endpoint::Udp(_))
    }

    fn send(&self, buf: &[u8]) -> io::Result<usize> {
        match &self.transport {
            Transport::Udp(s) => s.send(buf),
            Transport::Unix { socket, .. } => socket.send(buf),
        }
    }

    fn recv(&self, buf: &mut [u8], wait: Duration) -> io::Result<usize> {
        let wait = Some(wait.max(Duration::from_millis(1)));
        match &self.transport {
            Transport::Udp(s) => {
                s.set_read_timeout(wait)?;
                s.recv(buf)
            }
            Transport::Unix { socket, .. } => {
                socket.set_read_timeout(wait)?;
                socket.recv(buf)
            }
        }
    }

    /// One request and its reply: retried on silence, re-sent once at a lower version
    /// if chronyd says ours is not its own. A refusal (any status but success) is an error.
    pub fn request(&mut self, req: Request) -> Result<ReplyBody> {
        let reply = self.exchange(req)?;
        if reply.header.status != Status::SUCCESS {
            return Err(Error::Status {
                endpoint: self.endpoint.to_string(),
                status: reply.header.status,
                udp: self.is_udp(),
            });
        }
        Ok(reply.body)
    }

    fn exchange(&mut self, req: Request) -> Result<Reply> {
        let name = self.endpoint.to_string();
        let deadline = Instant::now() + self.timeout;
        let mut wait = INITIAL_TIMEOUT.min(self.timeout);
        let mut attempt: u16 = 0;
        let mut fell_back = false;
        let mut buf = [0u8; 2048];
        loop {
            self.sequence = self.sequence.wrapping_add(1);
            let seq = self.sequence;
            let datagram = req.encode(self.version, seq, attempt);
            if self.debug {
                eprintln!(
                    "cmdmon: sending command {} v{} seq {seq:#010x} attempt {attempt}, {} bytes to {name}",
                    req.command(),
                    self.version,
                    datagram.len()
                );
            }
            match self.send(&datagram) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    return Err(Error::Timeout(name))
                }
                Err(e) => return Err(Error::Io(name, e)),
            }
            let attempt_end = (Instant::now() + wait).min(deadline);
            loop {
                let now = Instant::now();
                if now >= attempt_end {
                    break;
                }
                let n = match self.recv(&mut buf, attempt_end - now) {
                    Ok(n) => n,
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                    {
                        break
                    }
                    // ICMP port unreachable on a connected UDP socket: nothing listens.
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                        return Err(Error::Timeout(name))
                    }
                    Err(e) => return Err(Error::Io(name, e)),
                };
                let reply = match decode_reply(&buf[..n]) {
                    Ok(r) => r,
                    Err(e) => {
                        if self.debug {
                            eprintln!("cmdmon: ignoring {n} bytes: {e}");
                        }
                        // a stray datagram that is not ours; a reply to us that does not
                        // decode is reported only when nothing better arrives
                        if n >= 8 && buf[4..6] == req.command().to_be_bytes() {
                            return Err(Error::Decode(name, e));
                        }
                        continue;
                    }
                };
                if reply.header.sequence != seq || reply.header.command != req.command() {
                    // a late answer to an earlier attempt
                    continue;
                }
                if reply.header.status == Status::BADPKTVERSION
                    && !fell_back
                    && reply.header.version < self.version
                    && reply.header.version >= PROTO_VERSION_MIN
                {
                    self.version = reply.header.version;
                    fell_back = true;
                    break;
                }
                if self.debug {
                    eprintln!(
                        "cmdmon: reply type {} status {} ({n} bytes)",
                        reply.header.reply, reply.header.status.0
                    );
                }
                return Ok(reply);
            }
            if fell_back && attempt == 0 {
                // re-send at once at the lower version; it does not count as a retry
                attempt = 1;
                continue;
            }
            if Instant::now() >= deadline || attempt >= RETRIES {
                return Err(Error::Timeout(name));
            }
            attempt += 1;
            wait *= 2;
        }
    }

    fn unexpected<T>(&self, req: Request) -> Result<T> {
        Err(Error::Unexpected(self.endpoint.to_string(), req.command()))
    }

    pub fn tracking(&mut self) -> Result<Tracking> {
        match self.request(Request::Tracking)? {
            ReplyBody::Tracking(t) => Ok(t),
            _ => self.unexpected(Request::Tracking),
        }
    }

    pub fn n_sources(&mut self) -> Result<u32> {
        match self.request(Request::NSources)? {
            ReplyBody::NSources(n) => Ok(n),
            _ => self.unexpected(Request::NSources),
        }
    }

    pub fn source_data(&mut self, index: u32) -> Result<SourceData> {
        match self.request(Request::SourceData(index))? {
            ReplyBody::SourceData(d) => Ok(d),
            _ => self.unexpected(Request::SourceData(index)),
        }
    }

    pub fn source_stats(&mut self, index: u32) -> Result<SourceStats> {
        match self.request(Request::SourceStats(index))? {
            ReplyBody::SourceStats(s) => Ok(s),
            _ => self.unexpected(Request::SourceStats(index)),
        }
    }

    pub fn ntp_data(&mut self, addr: IpAddr) -> Result<NtpData> {
        match self.request(Request::NtpData(addr))? {
            ReplyBody::NtpData(d) => Ok(d),
            _ => self.unexpected(Request::NtpData(addr)),
        }
    }

    pub fn server_stats(&mut self) -> Result<ServerStats> {
        match self.request(Request::ServerStats)? {
            ReplyBody::ServerStats(s) => Ok(s),
            _ => self.unexpected(Request::ServerStats),
        }
    }

    pub fn activity(&mut self) -> Result<Activity> {
        match self.request(Request::Activity)? {
            ReplyBody::Activity(a) => Ok(a),
            _ => self.unexpected(Request::Activity),
        }
    }

    pub fn rtc(&mut self) -> Result<Rtc> {
        match self.request(Request::Rtc)? {
            ReplyBody::Rtc(r) => Ok(r),
            _ => self.unexpected(Request::Rtc),
        }
    }
}
