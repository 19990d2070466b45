//! The client side's sockets and names: one unprivileged UDP socket per address family for
//! all associations (replies are matched to associations by source address; the engine
//! checks origin timestamps), kernel receive timestamps, and name resolution with retry.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::log;
use super::netio::{self, now_ntp, BindSpec, RecvBatch};
use super::txstamp::{self, ErrQueue, Pending, TxMode};
use crate::wire::time::NtpTimestamp;
use std::sync::Mutex;

/// A datagram for the client side.
#[derive(Debug)]
pub struct Reply {
    pub data: Vec<u8>,
    pub src: SocketAddr,
    pub rx: NtpTimestamp,
}

pub struct ClientNet {
    v4: Option<Arc<UdpSocket>>,
    v6: Option<Arc<UdpSocket>>,
    /// Requests waiting for their kernel transmit timestamp, per family (v4, v6): the key
    /// is (association, the request's transmit timestamp).
    pending: [Mutex<Option<(RequestStamps, ErrQueue)>>; 2],
}

/// Kernel transmit timestamps awaited, keyed by (association, request transmit timestamp).
type RequestStamps = Pending<(u16, NtpTimestamp)>;

/// A request's kernel transmit time: (association id, its transmit timestamp, the time).
pub type KernelTx = (u16, NtpTimestamp, NtpTimestamp);

impl ClientNet {
    /// Bind the sockets (ephemeral ports) and start a reader task per socket on the
    /// current runtime; replies arrive on the returned channel. A family whose socket
    /// cannot be had (whatever the error) is logged and left out; the error comes only
    /// when no wanted family works.
    pub fn start(v4: bool, v6: bool) -> io::Result<(ClientNet, mpsc::Receiver<Reply>)> {
        // bounded: spoofed floods are dropped instead of queued
        let (tx, rx) = mpsc::channel(256);
        let mut net = ClientNet {
            v4: None,
            v6: None,
            pending: [Mutex::new(None), Mutex::new(None)],
        };
        let mut last_error = None;
        for (want, addr) in [(v4, "0.0.0.0:0"), (v6, "[::]:0")] {
            if !want {
                continue;
            }
            let spec = BindSpec {
                addr: addr.parse().expect("literal"),
                device: None,
                reuse_port: false,
            };
            let sock = match netio::bind_udp(&spec) {
                Ok(s) => Arc::new(s),
                Err(e) => {
                    log::notice(&format!("no client socket on {addr}: {e}"));
                    last_error = Some(e);
                    continue;
                }
            };
            sock.set_nonblocking(true)?;
            let family = usize::from(addr.starts_with('['));
            // every request's T1 from the kernel; without it, the time read before sending
            match txstamp::enable(&*sock, TxMode::Every, false) {
                Ok(()) => {
                    *net.pending[family]
                        .lock()
                        .unwrap_or_else(|e| e.into_inner()) =
                        Some((Pending::new(64), ErrQueue::new(8)))
                }
                Err(e) => log::notice(&format!("no kernel transmit timestamps on {addr}: {e}")),
            }
            spawn_reader(sock.clone(), tx.clone())?;
            if addr.starts_with('[') {
                net.v6 = Some(sock);
            } else {
                net.v4 = Some(sock);
            }
        }
        match last_error {
            Some(e) if net.v4.is_none() && net.v6.is_none() => Err(e),
            _ => Ok((net, rx)),
        }
    }

    /// The local port our requests to `dst`'s family leave from.
    pub fn local_port(&self, dst: SocketAddr) -> Option<u16> {
        let sock = if dst.is_ipv4() { &self.v4 } else { &self.v6 };
        Some(sock.as_ref()?.local_addr().ok()?.port())
    }

    pub fn send(&self, data: &[u8], dst: SocketAddr) -> io::Result<()> {
        self.send_for(0, data, dst).map(|_| ())
    }

    /// Send association `assoc`'s request; returns the time read just before it left (T1
    /// until the kernel's arrives through [`ClientNet::kernel_tx`]).
    pub fn send_for(&self, assoc: u16, data: &[u8], dst: SocketAddr) -> io::Result<NtpTimestamp> {
        let sock = if dst.is_ipv4() { &self.v4 } else { &self.v6 };
        let Some(s) = sock else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "address family not in use",
            ));
        };
        let before = now_ntp();
        s.send_to(data, dst)?;
        let mut pending = self.pending[usize::from(dst.is_ipv6())]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let (Some((p, _)), Some(xmt)) = (pending.as_mut(), data.get(40..48)) {
            let cookie = NtpTimestamp::from_be_bytes(xmt.try_into().unwrap_or([0; 8]));
            p.sent((assoc, cookie), before);
        }
        Ok(before)
    }

    /// Kernel transmit times that arrived for requests to `dst`'s family.
    pub fn kernel_tx(&self, dst: SocketAddr) -> Vec<KernelTx> {
        let sock = if dst.is_ipv4() { &self.v4 } else { &self.v6 };
        let mut pending = self.pending[usize::from(dst.is_ipv6())]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let (Some(s), Some((p, queue))) = (sock, pending.as_mut()) else {
            return Vec::new();
        };
        if p.is_empty() {
            return Vec::new();
        }
        let mut stamps = Vec::new();
        queue.drain(s.as_raw_fd(), &mut stamps, 64);
        stamps
            .iter()
            .filter_map(|st| p.matched(st).map(|(id, cookie)| (id, cookie, st.at)))
            .collect()
    }
}

fn spawn_reader(sock: Arc<UdpSocket>, tx: mpsc::Sender<Reply>) -> io::Result<()> {
    use tokio::io::unix::AsyncFd;
    // SAFETY: the Arc keeps the socket (and its descriptor) open for the AsyncFd's life.
    let fd = unsafe { AsyncFd::register(sock) }.map_err(io::Error::from)?;
    tokio::spawn(async move {
        let mut batch = RecvBatch::new(8);
        loop {
            let Ok(mut guard) = fd.readable().await else {
                return;
            };
            let raw = guard.get_inner().as_raw_fd();
            match guard.try_io(|_| batch.recv(raw, false)) {
                Ok(Ok(n)) => {
                    for i in 0..n {
                        if let Some(p) = batch.get(i) {
                            let _ = tx.try_send(Reply {
                                data: p.data.to_vec(),
                                src: p.src,
                                rx: p.rx.unwrap_or_else(now_ntp),
                            });
                        }
                    }
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => {
                    log::debug(&format!("client socket: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(_) => {}
            }
        }
    });
    Ok(())
}

/// The local address the kernel picks for datagrams to `dst` (mode 6 `dstadr`): a
/// connected throwaway socket's name. No packet is sent; None when there is no route.
pub fn local_address_for(dst: SocketAddr) -> Option<IpAddr> {
    let any: SocketAddr = if dst.is_ipv4() {
        "0.0.0.0:0".parse().ok()?
    } else {
        "[::]:0".parse().ok()?
    };
    let probe = UdpSocket::bind(any).ok()?;
    probe.connect(dst).ok()?;
    Some(probe.local_addr().ok()?.ip())
}

/// Resolve `name` to addresses of the wanted families. `blocking`: getaddrinfo on this
/// thread (`--single-thread`); otherwise on tokio's resolver thread.
pub async fn resolve(name: &str, v4: bool, v6: bool, blocking: bool) -> io::Result<Vec<IpAddr>> {
    let addrs: Vec<SocketAddr> = if blocking {
        use std::net::ToSocketAddrs;
        (name, 123).to_socket_addrs()?.collect()
    } else {
        tokio::net::lookup_host((name, 123)).await?.collect()
    };
    let mut out: Vec<IpAddr> = Vec::new();
    for a in addrs {
        let ip = a.ip();
        if ((ip.is_ipv4() && v4) || (ip.is_ipv6() && v6)) && !out.contains(&ip) {
            out.push(ip);
        }
    }
    if out.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "no address of a usable family",
        ));
    }
    Ok(out)
}

/// Seconds to wait before the next attempt to resolve a name (ntpd-like back-off).
pub fn retry_delay(attempts: u32) -> u64 {
    (1u64 << attempts.min(12)).clamp(2, 3600)
}
