//! Which protocol a host speaks (ntpq's `--protocol auto`): a mode 6 READSTAT to port 123
//! and a cmdmon N_SOURCES to chronyd go out together and the first answer decides, so a
//! mode 6 daemon pays one round trip and a chronyd host no mode 6 timeout. One thread:
//! both sockets are waited on with poll(2).

use super::cmdmon::{self, Endpoint};
use crate::wire::cmdmon::{ReplyBody, Request};
use crate::wire::control::{ControlHeader, Opcode, Packet, HEADER_LEN};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// What answered.
pub enum Found {
    Mode6,
    /// chronyd, with its source count when it gave one (a refusal is an answer too).
    Chronyd(Box<cmdmon::Client>, Option<u32>),
    /// Nothing: `chronyd_silent` when port 323 stayed silent rather than closed (chronyd
    /// ignores hosts its `cmdallow` does not list).
    Nothing {
        chronyd_silent: bool,
    },
}

/// Probe `peer` (mode 6 there, cmdmon at `endpoints`) for up to `timeout`; requests are
/// re-sent after 1 s and 3 s as chronyc does.
pub fn probe(peer: SocketAddr, endpoints: Vec<Endpoint>, timeout: Duration, debug: bool) -> Found {
    let deadline = Instant::now() + timeout;
    let mode6 = mode6_socket(peer).ok();
    let mut chronyd = endpoints
        .into_iter()
        .find_map(|e| cmdmon::Client::connect(e, timeout).ok());
    if let Some(c) = chronyd.as_mut() {
        c.debug = debug;
    }
    let (mut m6_open, mut cm_open) = (mode6.is_some(), chronyd.is_some());
    let mut cm_refused = chronyd.is_none();
    let mut seq = None;
    let resend_at = [Duration::from_secs(1), Duration::from_secs(3)];
    let start = Instant::now();
    let mut sends = 0;
    let mut buf = [0u8; 1024];
    while m6_open || cm_open {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        // (re)send what is still open
        if sends == 0 || resend_at.get(sends - 1).is_some_and(|&t| now >= start + t) {
            if let (true, Some(s)) = (m6_open, &mode6) {
                let _ = s.send(
                    &ControlHeader::request(2, Opcode::READSTAT, 1 + sends as u16, 0).to_bytes(),
                );
            }
            if let (true, Some(c)) = (cm_open, chronyd.as_mut()) {
                match c.send_only(Request::NSources, sends as u16) {
                    Ok(s) => seq = Some(s),
                    Err(e) => {
                        cm_refused = e.is_refused();
                        cm_open = false;
                    }
                }
            }
            sends += 1;
        }
        let next = resend_at
            .get(sends - 1)
            .map_or(deadline, |&t| (start + t).min(deadline));
        let wait = next.saturating_duration_since(Instant::now());
        let ms = wait.as_millis().clamp(1, i32::MAX as u128) as i32;
        let (m6_ready, cm_ready) = {
            let mut fds = Vec::with_capacity(2);
            let m6 = (m6_open && mode6.is_some()).then_some(fds.len());
            if let (Some(_), Some(s)) = (m6, &mode6) {
                fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
            }
            let cm = (cm_open && chronyd.is_some()).then_some(fds.len());
            if let (Some(_), Some(c)) = (cm, &chronyd) {
                fds.push(PollFd::new(c.as_fd(), PollFlags::POLLIN));
            }
            let timeout = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
            if !matches!(poll(&mut fds, timeout), Ok(n) if n > 0) {
                continue;
            }
            let ready = |i: Option<usize>| {
                i.is_some_and(|i| fds[i].revents().is_some_and(|r| !r.is_empty()))
            };
            (ready(m6), ready(cm))
        };
        if m6_ready {
            match mode6.as_ref().map(|s| s.recv(&mut buf)) {
                Some(Ok(n)) if is_mode6_reply(&buf[..n]) => return Found::Mode6,
                Some(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => m6_open = false,
                _ => {}
            }
        }
        if let (true, Some(c), Some(s)) = (cm_ready, chronyd.as_mut(), seq) {
            match c.try_reply(s) {
                Ok(Some(reply)) => {
                    let count = match reply.body {
                        ReplyBody::NSources(n) => Some(n),
                        _ => None,
                    };
                    let c = chronyd.take().expect("checked above");
                    return Found::Chronyd(Box::new(c), count);
                }
                Ok(None) => {}
                Err(e) => {
                    cm_refused = e.is_refused();
                    cm_open = false;
                }
            }
        }
    }
    Found::Nothing {
        chronyd_silent: !cm_refused,
    }
}

fn mode6_socket(peer: SocketAddr) -> io::Result<UdpSocket> {
    let local: SocketAddr = if peer.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = UdpSocket::bind(local)?;
    s.connect(peer)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// A mode 6 response of any kind (an error status is still an ntpd answering).
fn is_mode6_reply(buf: &[u8]) -> bool {
    buf.len() >= HEADER_LEN && Packet::decode(buf).is_ok_and(|p| p.header.response)
}
