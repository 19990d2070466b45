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
/// Requests in flight at once (`request_many`).
const BATCH: usize = 64;

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
    /// chronyc's words when nothing answers. chronyd drops requests from hosts its
    /// `cmdallow` does not list without a word, so over the network silence usually
    /// means that (`refused`: the port is closed instead, nothing listens there).
    #[error("chronyd at {endpoint}: 506 Cannot talk to daemon{}", silence_hint(*.refused, *.remote))]
    NoReply {
        endpoint: String,
        refused: bool,
        /// UDP to another host.
        remote: bool,
    },
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

fn silence_hint(refused: bool, remote: bool) -> &'static str {
    match (refused, remote) {
        (true, _) => " (nothing listens on that port)",
        (false, true) => {
            " (no reply: chronyd answers cmdmon only from hosts its cmdallow directives \
             list, on the addresses bindcmdaddress names)"
        }
        (false, false) => "",
    }
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

    /// Nothing listens there (ICMP port unreachable, or no Unix socket).
    pub fn is_refused(&self) -> bool {
        match self {
            Error::NoReply { refused, .. } => *refused,
            Error::Io(_, e) => matches!(
                e.kind(),
                io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
            ),
            _ => false,
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
    /// The first attempt's wait (doubled on each retry).
    pub retry_after: Duration,
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
            retry_after: INITIAL_TIMEOUT,
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
        let reply = self.exchange(&[req])?.pop().expect("one reply per request");
        self.body(reply)
    }

    /// Several requests at once, answered in any order (chronyd handles each datagram on
    /// its own): one round trip instead of one each. The outer error is silence or I/O,
    /// the inner ones chronyd's refusals of single requests.
    pub fn request_many(&mut self, reqs: &[Request]) -> Result<Vec<Result<ReplyBody>>> {
        let mut out = Vec::with_capacity(reqs.len());
        // bounded batches, so that replies never outgrow the socket's receive buffer
        for chunk in reqs.chunks(BATCH) {
            for reply in self.exchange(chunk)? {
                out.push(self.body(reply));
            }
        }
        Ok(out)
    }

    fn body(&self, reply: Reply) -> Result<ReplyBody> {
        if reply.header.status != Status::SUCCESS {
            return Err(Error::Status {
                endpoint: self.endpoint.to_string(),
                status: reply.header.status,
                udp: self.is_udp(),
            });
        }
        Ok(reply.body)
    }

    fn no_reply(&self, refused: bool) -> Error {
        Error::NoReply {
            endpoint: self.endpoint.to_string(),
            refused,
            remote: matches!(self.endpoint, Endpoint::Udp(a) if !a.ip().is_loopback()),
        }
    }

    /// Send every request, collect their replies by sequence number; re-send the
    /// unanswered ones after a doubling wait (chronyc's retries), or at once at chronyd's
    /// older version when it answers `BADPKTVERSION`.
    fn exchange(&mut self, reqs: &[Request]) -> Result<Vec<Reply>> {
        let name = self.endpoint.to_string();
        let deadline = Instant::now() + self.timeout;
        let mut wait = self.retry_after.min(self.timeout);
        let mut attempt: u16 = 0;
        let mut fell_back = false;
        let mut replies: Vec<Option<Reply>> = vec![None; reqs.len()];
        let mut seqs = vec![0u32; reqs.len()];
        let mut buf = [0u8; 2048];
        loop {
            for (i, req) in reqs.iter().enumerate() {
                if replies[i].is_some() {
                    continue;
                }
                self.sequence = self.sequence.wrapping_add(1);
                seqs[i] = self.sequence;
                let datagram = req.encode(self.version, seqs[i], attempt);
                if self.debug {
                    eprintln!(
                        "cmdmon: sending command {} v{} seq {:#010x} attempt {attempt}, {} bytes to {name}",
                        req.command(),
                        self.version,
                        seqs[i],
                        datagram.len()
                    );
                }
                match self.send(&datagram) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                        return Err(self.no_reply(true))
                    }
                    Err(e) => return Err(Error::Io(name, e)),
                }
            }
            let attempt_end = (Instant::now() + wait).min(deadline);
            let mut resend_now = false;
            while replies.iter().any(Option::is_none) {
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
                        return Err(self.no_reply(true))
                    }
                    Err(e) => return Err(Error::Io(name, e)),
                };
                let pending =
                    |seq: u32| (0..reqs.len()).find(|&i| replies[i].is_none() && seqs[i] == seq);
                let reply = match decode_reply(&buf[..n]) {
                    Ok(r) => r,
                    Err(e) => {
                        if self.debug {
                            eprintln!("cmdmon: ignoring {n} bytes: {e}");
                        }
                        // a reply to us that does not decode is an error; anything else
                        // is a stray datagram
                        let seq = buf
                            .get(16..20)
                            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                        if n > 20 && seq.and_then(pending).is_some() {
                            return Err(Error::Decode(name, e));
                        }
                        continue;
                    }
                };
                let Some(i) = pending(reply.header.sequence)
                    .filter(|&i| reqs[i].command() == reply.header.command)
                else {
                    // a late answer to an earlier attempt
                    continue;
                };
                if reply.header.status == Status::BADPKTVERSION
                    && !fell_back
                    && reply.header.version < self.version
                    && reply.header.version >= PROTO_VERSION_MIN
                {
                    self.version = reply.header.version;
                    fell_back = true;
                    resend_now = true;
                    break;
                }
                if self.debug {
                    eprintln!(
                        "cmdmon: reply type {} status {} ({n} bytes)",
                        reply.header.reply, reply.header.status.0
                    );
                }
                replies[i] = Some(reply);
            }
            if replies.iter().all(Option::is_some) {
                return Ok(replies.into_iter().flatten().collect());
            }
            if resend_now {
                // at once at the lower version; it does not count as a retry
                continue;
            }
            if Instant::now() >= deadline || attempt >= RETRIES {
                return Err(self.no_reply(false));
            }
            attempt += 1;
            wait *= 2;
        }
    }

    /// Send one request without waiting (for `detect`, which polls several sockets):
    /// the sequence number its reply will carry.
    pub fn send_only(&mut self, req: Request, attempt: u16) -> Result<u32> {
        self.sequence = self.sequence.wrapping_add(1);
        let seq = self.sequence;
        match self.send(&req.encode(self.version, seq, attempt)) {
            Ok(_) => Ok(seq),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Err(self.no_reply(true)),
            Err(e) => Err(Error::Io(self.endpoint.to_string(), e)),
        }
    }

    /// The reply to `seq` if it is the datagram waiting (refusals included), `None` for
    /// nothing or a datagram that is not it.
    pub fn try_reply(&mut self, seq: u32) -> Result<Option<Reply>> {
        let mut buf = [0u8; 2048];
        match self.recv(&mut buf, Duration::from_millis(1)) {
            Ok(n) => Ok(decode_reply(&buf[..n])
                .ok()
                .filter(|r| r.header.sequence == seq)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Err(self.no_reply(true)),
            Err(e) => Err(Error::Io(self.endpoint.to_string(), e)),
        }
    }

    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        match &self.transport {
            Transport::Udp(s) => s.as_fd(),
            Transport::Unix { socket, .. } => socket.as_fd(),
        }
    }

    pub fn as_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        match &self.transport {
            Transport::Udp(s) => s.as_raw_fd(),
            Transport::Unix { socket, .. } => socket.as_raw_fd(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::cmdmon::{encode_float, rpy, REPLY_HEADER_LEN, REQUEST_HEADER_LEN};

    /// A reply to `req` with `status`, `reply` type and `data`, at `version`.
    fn reply(req: &[u8], version: u8, reply: u16, status: u16, data: &[u8]) -> Vec<u8> {
        let mut b = vec![version, 2, 0, 0, req[4], req[5]];
        b.extend_from_slice(&reply.to_be_bytes());
        b.extend_from_slice(&status.to_be_bytes());
        b.extend_from_slice(&[0; 6]);
        b.extend_from_slice(&req[8..12]);
        b.extend_from_slice(&[0; 8]);
        assert_eq!(b.len(), REPLY_HEADER_LEN);
        b.extend_from_slice(data);
        b
    }

    /// A fake chronyd on loopback: `answer` sees each request (and its number) and says
    /// what to send back, if anything. Returns its address and the requests it saw.
    fn fake(
        mut answer: impl FnMut(usize, &[u8]) -> Vec<Vec<u8>> + Send + 'static,
        count: usize,
    ) -> (SocketAddr, std::thread::JoinHandle<Vec<Vec<u8>>>) {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = s.local_addr().unwrap();
        let h = std::thread::spawn(move || {
            let mut seen = Vec::new();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut buf = [0u8; 2048];
            for i in 0..count {
                let Ok((n, from)) = s.recv_from(&mut buf) else {
                    break;
                };
                seen.push(buf[..n].to_vec());
                for r in answer(i, &buf[..n]) {
                    s.send_to(&r, from).unwrap();
                }
            }
            seen
        });
        (addr, h)
    }

    fn client(addr: SocketAddr) -> Client {
        let mut c = Client::connect(Endpoint::Udp(addr), Duration::from_secs(3)).unwrap();
        c.retry_after = Duration::from_millis(100);
        c
    }

    #[test]
    fn retries_until_answered_and_ignores_stale_replies() {
        let (addr, h) = fake(
            |i, req| match i {
                0 => vec![],
                // a reply to another sequence, then garbage, then the right one
                _ => {
                    let mut stale = reply(req, 6, rpy::N_SOURCES, 0, &[0, 0, 0, 9]);
                    stale[19] ^= 1;
                    vec![
                        stale,
                        vec![1, 2, 3],
                        reply(req, 6, rpy::N_SOURCES, 0, &[0, 0, 0, 3]),
                    ]
                }
            },
            2,
        );
        let mut c = client(addr);
        assert_eq!(c.n_sources().unwrap(), 3);
        let seen = h.join().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(&seen[0][6..8], &[0, 0], "attempt 0");
        assert_eq!(&seen[1][6..8], &[0, 1], "attempt 1");
        assert_ne!(
            seen[0][8..12],
            seen[1][8..12],
            "a new sequence number per attempt"
        );
        assert!(seen.iter().all(|r| r.len() >= REQUEST_HEADER_LEN));
    }

    #[test]
    fn falls_back_to_the_version_chronyd_names() {
        let (addr, h) = fake(
            |_, req| {
                if req[0] == 6 {
                    vec![reply(req, 5, rpy::NULL, Status::BADPKTVERSION.0, &[])]
                } else {
                    let mut d = vec![0u8; 20];
                    d[0..4].copy_from_slice(&7u32.to_be_bytes());
                    d[8..12].copy_from_slice(&encode_float(1.5).to_be_bytes());
                    vec![reply(req, 5, rpy::ACTIVITY, 0, &d)]
                }
            },
            2,
        );
        let mut c = client(addr);
        let a = c.activity().unwrap();
        assert_eq!(a.online, 7);
        assert_eq!(c.version, 5);
        let seen = h.join().unwrap();
        assert_eq!((seen[0][0], seen[1][0]), (6, 5));
    }

    #[test]
    fn refusals_and_bad_replies_are_errors() {
        let (addr, h) = fake(
            |i, req| match i {
                0 => vec![reply(req, 6, rpy::NULL, Status::UNAUTH.0, &[])],
                // a tracking reply cut short
                _ => vec![reply(req, 6, rpy::TRACKING, 0, &[0; 30])],
            },
            2,
        );
        let mut c = client(addr);
        let e = c.server_stats().unwrap_err();
        assert_eq!(e.status(), Some(Status::UNAUTH));
        assert_eq!(
            e.to_string(),
            format!("chronyd at {addr}: 501 Not authorised (chronyd allows this only over its Unix socket)")
        );
        let e = c.tracking().unwrap_err();
        assert!(matches!(e, Error::Decode(..)), "{e}");
        h.join().unwrap();
    }

    #[test]
    fn silence_is_chronycs_506() {
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut c = client(silent.local_addr().unwrap());
        c.timeout = Duration::from_millis(400);
        let t = Instant::now();
        let e = c.tracking().unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(2));
        assert!(e.to_string().ends_with("506 Cannot talk to daemon"), "{e}");
        let mut n = 0;
        silent.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 512];
        while silent.recv(&mut buf).is_ok() {
            n += 1;
        }
        assert_eq!(n, 3, "the first attempt and two retries");
    }

    #[test]
    fn unix_socket_round_trip_and_cleanup() {
        let dir = std::env::temp_dir().join(format!("ntpkit-cmdmon-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let server_path = dir.join("chronyd.sock");
        let _ = std::fs::remove_file(&server_path);
        let server = UnixDatagram::bind(&server_path).unwrap();
        let h = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            let (n, from) = server.recv_from(&mut buf).unwrap();
            let r = reply(&buf[..n], 6, rpy::N_SOURCES, 0, &[0, 0, 0, 2]);
            server.send_to(&r, from.as_pathname().unwrap()).unwrap();
        });
        let mut c =
            Client::connect(Endpoint::Unix(server_path.clone()), Duration::from_secs(3)).unwrap();
        assert_eq!(c.n_sources().unwrap(), 2);
        h.join().unwrap();
        drop(c);
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "our own socket is removed: {left:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
