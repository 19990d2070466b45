//! Query many servers at once: one UDP socket per address family and a single poll loop,
//! so the whole run takes about one timeout at worst however many servers there are.
//!
//! Per server, request k+1 goes out as soon as reply k arrives (ping-pong, which spaces the
//! samples by one round trip), or after a short interim wait if reply k is late; a reply
//! is accepted until `timeout` after its own request, but no later than one timeout (plus
//! one interim wait) after the run started. Requests carry a random transmit
//! timestamp (as chrony and ntpd-rs do), so an off-path attacker cannot guess the origin
//! timestamp a forged reply must echo; our real send time stays here.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime};

use crate::engine::filter::Sample;
use crate::wire::packet::{Header, KissCode, Mode};
use crate::wire::time::NtpTimestamp;

use super::auth::Authenticator;

/// Our clock's precision as far as error bounds are concerned (about 1 µs).
pub const LOCAL_PRECISION: f64 = 1.0 / (1u64 << 20) as f64;

/// The longest wait between two requests to a server that has not answered yet.
const MAX_INTERIM: Duration = Duration::from_millis(200);

#[derive(Clone, Debug)]
pub struct QueryConfig {
    /// Samples per server (1–8).
    pub samples: usize,
    /// How long to wait for each reply.
    pub timeout: Duration,
    /// NTP version to send (1–4).
    pub version: u8,
    /// Sign requests and require signed replies (`-a`).
    pub auth: Option<Authenticator>,
}

/// One usable reply.
#[derive(Clone, Debug)]
pub struct Reply {
    pub header: Header,
    pub sample: Sample,
    /// The four timestamps (t1, t2, t3, t4), for `-d`.
    pub timestamps: [NtpTimestamp; 4],
}

/// Everything one server (address) said.
#[derive(Clone, Debug)]
pub struct ServerQuery {
    pub addr: SocketAddr,
    pub sent: usize,
    pub replies: Vec<Reply>,
    /// A Kiss-o'-Death code, after which we stopped asking.
    pub kiss: Option<KissCode>,
    /// Replies whose MAC did not verify (with `-a`).
    pub unauthenticated: usize,
    /// Replies that were malformed or matched no request of ours.
    pub bogus: usize,
    /// A send error (e.g. network unreachable), if any.
    pub error: Option<String>,
}

struct Outstanding {
    transmit: NtpTimestamp,
    t1: NtpTimestamp,
    sent_at: Instant,
}

struct State {
    query: ServerQuery,
    outstanding: Vec<Outstanding>,
    next_send: Option<Instant>,
    last_send: Option<Instant>,
    done: bool,
}

struct Sockets {
    v4: Option<UdpSocket>,
    v6: Option<UdpSocket>,
}

impl Sockets {
    fn open(addrs: &[SocketAddr]) -> io::Result<Sockets> {
        let bind = |any: &str| -> io::Result<UdpSocket> {
            let s = UdpSocket::bind(any)?;
            s.set_nonblocking(true)?;
            Ok(s)
        };
        Ok(Sockets {
            v4: if addrs.iter().any(|a| a.is_ipv4()) {
                Some(bind("0.0.0.0:0")?)
            } else {
                None
            },
            v6: if addrs.iter().any(|a| a.is_ipv6()) {
                Some(bind("[::]:0")?)
            } else {
                None
            },
        })
    }

    fn for_addr(&self, a: &SocketAddr) -> Option<&UdpSocket> {
        if a.is_ipv4() {
            self.v4.as_ref()
        } else {
            self.v6.as_ref()
        }
    }

    fn all(&self) -> Vec<&UdpSocket> {
        self.v4.iter().chain(self.v6.iter()).collect()
    }
}

/// Query every address `samples` times, in parallel, and return what each said (in the
/// order given).
pub fn query_all(addrs: &[SocketAddr], cfg: &QueryConfig) -> io::Result<Vec<ServerQuery>> {
    let samples = cfg.samples.clamp(1, 8);
    let timeout = cfg.timeout.max(Duration::from_millis(1));
    let interim = (timeout / (2 * samples as u32)).min(MAX_INTERIM);
    let sockets = Sockets::open(addrs)?;
    let start = Instant::now();
    // However late a request went out, the run ends about one timeout after it started.
    let run_end = start + timeout + interim;
    let deadline = |o: &Outstanding| (o.sent_at + timeout).min(run_end);
    let mut states: Vec<State> = addrs
        .iter()
        .map(|&addr| State {
            query: ServerQuery {
                addr,
                sent: 0,
                replies: Vec::new(),
                kiss: None,
                unauthenticated: 0,
                bogus: 0,
                error: None,
            },
            outstanding: Vec::new(),
            next_send: Some(start),
            last_send: None,
            done: false,
        })
        .collect();
    let mut buf = [0u8; 1024];
    loop {
        let now = Instant::now();
        for st in states.iter_mut().filter(|s| !s.done) {
            if now >= run_end {
                st.next_send = None;
            }
            if st.next_send.is_some_and(|t| t <= now) {
                send_request(st, &sockets, cfg, samples, interim);
            }
            st.outstanding.retain(|o| now < deadline(o));
            let nothing_to_send = st.next_send.is_none();
            if st.query.kiss.is_some() || (nothing_to_send && st.outstanding.is_empty()) {
                st.done = true;
            }
        }
        let Some(wake) = states
            .iter()
            .filter(|s| !s.done)
            .flat_map(|s| {
                s.next_send
                    .into_iter()
                    .chain(s.outstanding.iter().map(deadline))
            })
            .min()
        else {
            break;
        };
        wait_readable(&sockets, wake.saturating_duration_since(Instant::now()))?;
        for sock in sockets.all() {
            loop {
                let (len, from) = match sock.recv_from(&mut buf) {
                    Ok(r) => r,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    // ICMP errors (port unreachable) surface here on some kernels: the
                    // request is simply lost.
                    Err(_) => break,
                };
                let t4 = NtpTimestamp::from_system_time(SystemTime::now());
                let at = start.elapsed().as_secs_f64();
                // The same address may be listed twice (two names for one server): the
                // reply belongs to whichever of them sent its origin timestamp.
                let origin = Header::parse(&buf[..len]).map(|h| h.origin_ts).ok();
                let mut peers = states
                    .iter_mut()
                    .filter(|s| same_peer(s.query.addr, from))
                    .collect::<Vec<_>>();
                let owner = peers
                    .iter()
                    .position(|s| s.outstanding.iter().any(|o| Some(o.transmit) == origin))
                    .unwrap_or(0);
                if let Some(st) = peers.get_mut(owner) {
                    handle_reply(st, &buf[..len], t4, at, cfg, samples);
                }
            }
        }
    }
    Ok(states.into_iter().map(|s| s.query).collect())
}

fn same_peer(ours: SocketAddr, from: SocketAddr) -> bool {
    ours.port() == from.port() && ours.ip().to_canonical() == from.ip().to_canonical()
}

fn send_request(
    st: &mut State,
    sockets: &Sockets,
    cfg: &QueryConfig,
    samples: usize,
    interim: Duration,
) {
    let transmit = NtpTimestamp(crate::random::u64());
    let header = Header::client_request(cfg.version.clamp(1, 4), 6, transmit);
    let mut packet = header.serialize().to_vec();
    if let Some(auth) = &cfg.auth {
        auth.sign(&mut packet);
    }
    let t1 = NtpTimestamp::from_system_time(SystemTime::now());
    let now = Instant::now();
    st.query.sent += 1;
    st.last_send = Some(now);
    st.next_send = (st.query.sent < samples).then_some(now + interim);
    let Some(sock) = sockets.for_addr(&st.query.addr) else {
        return;
    };
    match sock.send_to(&packet, st.query.addr) {
        Ok(_) => st.outstanding.push(Outstanding {
            transmit,
            t1,
            sent_at: now,
        }),
        Err(e) => st.query.error = Some(e.to_string()),
    }
}

fn handle_reply(
    st: &mut State,
    bytes: &[u8],
    t4: NtpTimestamp,
    at: f64,
    cfg: &QueryConfig,
    samples: usize,
) {
    let Ok(header) = Header::parse(bytes) else {
        st.query.bogus += 1;
        return;
    };
    let Some(pos) = st
        .outstanding
        .iter()
        .position(|o| o.transmit == header.origin_ts)
    else {
        // A duplicate, a reply to an expired request, or a forgery.
        st.query.bogus += 1;
        return;
    };
    if header.mode != Mode::Server {
        st.query.bogus += 1;
        return;
    }
    let req = st.outstanding.remove(pos);
    if let Some(auth) = &cfg.auth {
        if !auth.verify(bytes) {
            st.query.unauthenticated += 1;
            return;
        }
    }
    // Other codes (INIT, STEP…) are an ordinary unsynchronised reply, never chosen.
    if let Some(code) = header.kiss_instruction() {
        st.query.kiss = Some(code);
        st.next_send = None;
        return;
    }
    if header.receive_ts.is_zero() || header.transmit_ts.is_zero() {
        st.query.bogus += 1;
        return;
    }
    let precision = 2f64.powi(header.precision.clamp(-64, 8) as i32) + LOCAL_PRECISION;
    let sample = Sample::from_timestamps(
        req.t1,
        header.receive_ts,
        header.transmit_ts,
        t4,
        precision,
        at,
    );
    st.query.replies.push(Reply {
        header,
        sample,
        timestamps: [req.t1, header.receive_ts, header.transmit_ts, t4],
    });
    // Ping-pong: the next request goes out right away.
    if st.query.sent < samples {
        st.next_send = Some(Instant::now());
    }
}

fn wait_readable(sockets: &Sockets, wait: Duration) -> io::Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let all = sockets.all();
    let mut fds: Vec<PollFd> = all
        .iter()
        .map(|s| PollFd::new(s.as_fd(), PollFlags::POLLIN))
        .collect();
    // Round up, so that a wake-up 0.4 ms away does not become a busy loop.
    let ms = wait.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
    match poll(
        &mut fds,
        PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
    ) {
        Err(e) if e != nix::errno::Errno::EINTR => Err(e.into()),
        _ => Ok(()),
    }
}
