//! The client side's sockets and names: one unprivileged UDP socket per address family for
//! all associations (replies are matched to associations by source address; the engine
//! checks origin timestamps), kernel receive timestamps, and name resolution with retry.
//!
//! The reader task waits on a private epoll set holding the socket, not on the socket
//! itself, so that a request can leave without anything watching its socket: on a
//! veth/bridge LAN the kernel takes the request's transmit timestamps (and queues them on
//! the socket, waking whoever watches it) inside `sendto`, and the queueing after the last
//! timestamp happens before the datagram reaches the server. An epoll watching the socket
//! adds its callback to that interval: T2−T1 was ~0.14 µs longer (half of that an offset
//! bias) than with a socket nobody watches, which is chronyd's case (it selects on its
//! sockets only while idle). See docs/benchmarks.md, issue 19, `clientacc`.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::log;
use super::netio::{self, now_ntp, BindSpec, RecvBatch};
use super::txstamp::{self, ErrQueue, Pending, TxMode};
use crate::sys::socket::WatchSet;
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
    v4: Option<Family>,
    v6: Option<Family>,
    /// Requests waiting for their kernel transmit timestamp, per family (v4, v6): the key
    /// is (association, the request's transmit timestamp).
    pending: [Mutex<Option<(RequestStamps, ErrQueue)>>; 2],
}

/// One family's socket and the set its reader task waits on.
struct Family {
    sock: Arc<UdpSocket>,
    watch: Arc<WatchSet>,
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
            let watch = Arc::new(WatchSet::new()?);
            spawn_reader(sock.clone(), watch.clone(), tx.clone())?;
            let fam = Some(Family { sock, watch });
            if addr.starts_with('[') {
                net.v6 = fam;
            } else {
                net.v4 = fam;
            }
        }
        match last_error {
            Some(e) if net.v4.is_none() && net.v6.is_none() => Err(e),
            _ => Ok((net, rx)),
        }
    }

    /// The local port our requests to `dst`'s family leave from.
    pub fn local_port(&self, dst: SocketAddr) -> Option<u16> {
        Some(self.family(dst)?.sock.local_addr().ok()?.port())
    }

    fn family(&self, dst: SocketAddr) -> Option<&Family> {
        if dst.is_ipv4() {
            self.v4.as_ref()
        } else {
            self.v6.as_ref()
        }
    }

    pub fn send(&self, data: &[u8], dst: SocketAddr) -> io::Result<()> {
        self.send_for(0, data, dst).map(|_| ())
    }

    /// Send association `assoc`'s request; returns the time read just before it left (T1
    /// until the kernel's arrives through [`ClientNet::kernel_tx`]).
    pub fn send_for(&self, assoc: u16, data: &[u8], dst: SocketAddr) -> io::Result<NtpTimestamp> {
        let Some(Family { sock: s, watch }) = self.family(dst) else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "address family not in use",
            ));
        };
        // unwatched while it leaves (see the module's comment); whatever arrives meanwhile
        // is reported when the socket rejoins the set. Not in the set (a failed add last
        // time): nothing to take out, and the add below puts it back.
        let _ = watch.remove(&**s);
        let before = now_ntp();
        let sent = send_msg(s, data, dst);
        match watch.add(&**s) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
            Err(e) => log::error(&format!("client socket cannot be watched again: {e}")),
        }
        sent?;
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
        let mut pending = self.pending[usize::from(dst.is_ipv6())]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let (Some(Family { sock: s, .. }), Some((p, queue))) = (self.family(dst), pending.as_mut())
        else {
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

/// One datagram by `sendmsg` without control data, the call chronyd's client makes. On a
/// real LAN the call makes no difference. On a one-kernel LAN (the namespace benchmark of
/// issue 19) a client's send warms the kernel path that the server's reply takes right
/// after, when the server sends with the same call: chronyd's server replies with
/// `sendmsg`, NTPsec's with `sendto`, and a client's basic-mode reply leg from each was
/// 0.5–1 µs shorter when it used the server's call (docs/benchmarks.md, "The client's
/// send call"). With chronyd's call, ours and chronyd's clients get the same path at
/// every server, so the benchmark compares like with like.
fn send_msg(sock: &UdpSocket, data: &[u8], dst: SocketAddr) -> io::Result<usize> {
    use nix::sys::socket::{sendmsg, MsgFlags, SockaddrStorage};
    let iov = [io::IoSlice::new(data)];
    let name = SockaddrStorage::from(dst);
    sendmsg(sock.as_raw_fd(), &iov, &[], MsgFlags::empty(), Some(&name)).map_err(io::Error::from)
}

/// Read `sock` whenever `watch` (holding it) says it is ready.
fn spawn_reader(
    sock: Arc<UdpSocket>,
    watch: Arc<WatchSet>,
    tx: mpsc::Sender<Reply>,
) -> io::Result<()> {
    watch.add(&*sock)?;
    let set = crate::sys::socket::register_async_set(watch)?;
    tokio::spawn(async move {
        let mut batch = RecvBatch::new(8);
        let raw = sock.as_raw_fd();
        loop {
            let Ok(mut guard) = set.readable().await else {
                return;
            };
            // the set stays ready while the socket is: read it dry
            loop {
                match batch.recv(raw, false) {
                    Ok(n) => {
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
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        guard.clear_ready();
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        log::debug(&format!("client socket: {e}"));
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        break;
                    }
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    async fn next(rx: &mut mpsc::Receiver<Reply>) -> Reply {
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("a reply within 5 s")
            .expect("the reader is running")
    }

    /// Requests leave with the socket out of the reader's watch set; replies still arrive,
    /// with kernel receive times, and each request gets its kernel transmit time.
    #[test]
    fn replies_arrive_through_the_watch_set_and_requests_get_kernel_tx_times() {
        runtime().block_on(async {
            let (net, mut rx) = ClientNet::start(true, false).unwrap();
            let server = UdpSocket::bind("127.0.0.1:0").unwrap();
            let dst = server.local_addr().unwrap();
            let mut got_tx = 0;
            for k in 0..3u8 {
                let mut req = [0u8; 48];
                req[40] = k + 1;
                let before = net.send_for(7, &req, dst).unwrap();
                let mut buf = [0u8; 64];
                let (n, from) = server.recv_from(&mut buf).unwrap();
                assert_eq!(n, 48);
                server.send_to(&[k; 48], from).unwrap();
                let reply = next(&mut rx).await;
                assert_eq!((reply.data[0], reply.src), (k, dst));
                assert!((reply.rx - before).to_seconds() >= 0.0, "{reply:?}");
                for (id, cookie, at) in net.kernel_tx(dst) {
                    assert_eq!((id, cookie.0 >> 56), (7, u64::from(k) + 1));
                    assert!((at - before).to_seconds() >= 0.0);
                    got_tx += 1;
                }
            }
            assert!(got_tx >= 3, "{got_tx} kernel transmit times");
        });
    }

    /// What arrives while the socket is out of the set is read once it is back.
    #[test]
    fn a_reply_that_came_while_unwatched_is_read_when_the_socket_rejoins() {
        runtime().block_on(async {
            let (net, mut rx) = ClientNet::start(true, false).unwrap();
            let Some(Family { sock, watch }) = net.v4.as_ref() else {
                panic!("no v4 socket");
            };
            let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
            watch.remove(&**sock).unwrap();
            peer.send_to(&[9; 48], sock.local_addr().unwrap()).unwrap();
            // the reader cannot see it yet
            let early = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await;
            assert!(early.is_err(), "{early:?}");
            watch.add(&**sock).unwrap();
            assert_eq!(next(&mut rx).await.data[0], 9);
        });
    }

    /// A socket left out of the set (an add that failed) is put back by the next request.
    #[test]
    fn the_next_request_puts_a_socket_that_fell_out_of_the_set_back() {
        runtime().block_on(async {
            let (net, mut rx) = ClientNet::start(true, false).unwrap();
            let Some(Family { sock, watch }) = net.v4.as_ref() else {
                panic!("no v4 socket");
            };
            watch.remove(&**sock).unwrap();
            let server = UdpSocket::bind("127.0.0.1:0").unwrap();
            net.send_for(1, &[0; 48], server.local_addr().unwrap())
                .unwrap();
            let mut buf = [0u8; 64];
            let (_, from) = server.recv_from(&mut buf).unwrap();
            server.send_to(&[5; 48], from).unwrap();
            assert_eq!(next(&mut rx).await.data[0], 5);
        });
    }
}
