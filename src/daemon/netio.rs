//! UDP sockets for the server: binding (SO_REUSEPORT groups, device binding), kernel receive
//! timestamps (SO_TIMESTAMPNS), the local address a request was sent to (IP_PKTINFO, so
//! the reply leaves from the address the client asked), and batched receive/send with
//! recvmmsg/sendmmsg. The clock is read only through libc's `clock_gettime`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};

use nix::sys::socket::{setsockopt, sockopt};

use crate::sys::socket::{control_messages, push_control_message, Datagrams, SockName, CTL_BUF};
use crate::wire::time::{NtpTimestamp, UnixTime};

/// CLOCK_REALTIME in nanoseconds since the Unix epoch, through libc (clknetsim-friendly).
pub fn realtime_nanos() -> u64 {
    let (secs, nanos) = crate::sys::clock::realtime();
    secs as u64 * 1_000_000_000 + u64::from(nanos)
}

/// The realtime clock as an NTP timestamp.
pub fn now_ntp() -> NtpTimestamp {
    let (secs, nanos) = crate::sys::clock::realtime();
    NtpTimestamp::from_unix(UnixTime::new(secs, nanos))
}

/// How to bind one server socket.
#[derive(Clone, Debug)]
pub struct BindSpec {
    pub addr: SocketAddr,
    /// SO_BINDTODEVICE (for `-I eth0`).
    pub device: Option<String>,
    /// Join an SO_REUSEPORT group (the multi-threaded fast path).
    pub reuse_port: bool,
}

/// Bind a UDP socket with receive timestamps and destination-address reporting on.
pub fn bind_udp(spec: &BindSpec) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = if spec.addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if spec.addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    if spec.reuse_port {
        s.set_reuse_port(true)?;
    }
    if let Some(dev) = &spec.device {
        s.bind_device(Some(dev.as_bytes()))?;
    }
    setsockopt(&s, sockopt::ReceiveTimestampns, &true)?;
    // Kernel transmit timestamps for the datagrams that ask for one (interleaved replies;
    // the client socket switches to every datagram). A kernel without them serves basic
    // mode only.
    if let Err(e) = super::txstamp::enable(&s, super::txstamp::TxMode::OnRequest, false) {
        super::log::debug(&format!("SO_TIMESTAMPING on {}: {e}", spec.addr));
    }
    if spec.addr.is_ipv4() {
        setsockopt(&s, sockopt::Ipv4PacketInfo, &true)?;
    } else {
        setsockopt(&s, sockopt::Ipv6RecvPacketInfo, &true)?;
    }
    s.bind(&spec.addr.into())?;
    Ok(s.into())
}

/// Fail early with "in use" when another program holds the port: an SO_REUSEPORT group
/// would otherwise silently share it with a second daemon of the same user.
pub fn check_port_free(addr: SocketAddr) -> io::Result<()> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.bind(&addr.into())
}

/// Largest datagram we read: a header, extension fields and a MAC fit easily; mode 6
/// requests are at most 480 bytes plus a MAC.
pub const RECV_BUF: usize = 1024;
/// Where a request arrived: the destination address and interface, so the reply can leave
/// from the same address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalAddr {
    pub addr: IpAddr,
    pub ifindex: u32,
}

pub struct Received<'a> {
    pub data: &'a [u8],
    pub src: SocketAddr,
    /// Kernel receive timestamp, when the kernel gave one.
    pub rx: Option<NtpTimestamp>,
    pub local: Option<LocalAddr>,
}

/// A batch of receive buffers for recvmmsg.
pub struct RecvBatch {
    slots: Datagrams<RECV_BUF>,
    count: usize,
}

impl RecvBatch {
    pub fn new(size: usize) -> Self {
        RecvBatch {
            slots: Datagrams::new(size),
            count: 0,
        }
    }

    /// Receive up to the batch size; `wait` blocks for the first datagram (MSG_WAITFORONE
    /// semantics) on a blocking socket, otherwise returns WouldBlock when nothing is queued.
    pub fn recv(&mut self, fd: RawFd, wait: bool) -> io::Result<usize> {
        let flags = if wait {
            libc::MSG_WAITFORONE
        } else {
            libc::MSG_DONTWAIT
        };
        self.count = 0;
        self.count = self.slots.recv(fd, flags)?;
        Ok(self.count)
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn get(&self, i: usize) -> Option<Received<'_>> {
        if i >= self.count {
            return None;
        }
        let (data, name, ctl) = self.slots.received(i);
        let src = name?.get()?;
        let (rx, local) = parse_cmsgs(ctl);
        Some(Received {
            data,
            src,
            rx,
            local,
        })
    }
}

/// Reads a kernel struct from control-message data: `N` bytes of it at `at`.
fn bytes<const N: usize>(data: &[u8], at: usize) -> Option<[u8; N]> {
    data.get(at..at + N)?.try_into().ok()
}

fn parse_cmsgs(ctl: &[u8]) -> (Option<NtpTimestamp>, Option<LocalAddr>) {
    let mut rx = None;
    let mut local = None;
    for (level, kind, data) in control_messages(ctl) {
        match (level, kind) {
            // struct timespec { time_t tv_sec; long tv_nsec; }
            (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) => {
                if let (Some(s), Some(ns)) = (bytes::<8>(data, 0), bytes::<8>(data, 8)) {
                    rx = Some(NtpTimestamp::from_unix(UnixTime::new(
                        i64::from_ne_bytes(s),
                        i64::from_ne_bytes(ns) as u32,
                    )));
                }
            }
            // struct in_pktinfo { int ipi_ifindex; in_addr ipi_spec_dst; in_addr ipi_addr; }
            (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                if let (Some(ifindex), Some(addr)) = (bytes::<4>(data, 0), bytes::<4>(data, 8)) {
                    local = Some(LocalAddr {
                        addr: IpAddr::V4(Ipv4Addr::from(addr)),
                        ifindex: i32::from_ne_bytes(ifindex) as u32,
                    });
                }
            }
            // struct in6_pktinfo { in6_addr ipi6_addr; unsigned ipi6_ifindex; }
            (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                if let (Some(addr), Some(ifindex)) = (bytes::<16>(data, 0), bytes::<4>(data, 16)) {
                    local = Some(LocalAddr {
                        addr: IpAddr::V6(Ipv6Addr::from(addr)),
                        ifindex: u32::from_ne_bytes(ifindex),
                    });
                }
            }
            _ => {}
        }
    }
    (rx, local)
}

const _: () = {
    assert!(std::mem::size_of::<libc::timespec>() == 16);
    assert!(std::mem::size_of::<libc::in_pktinfo>() == 12);
    assert!(std::mem::size_of::<libc::in6_pktinfo>() == 20);
};

/// Replies waiting for one sendmmsg.
pub struct SendBatch {
    slots: Datagrams<RECV_BUF>,
    /// Whether the transmit timestamp is stamped at send time.
    stamp: Vec<bool>,
    /// Added to the time read at flush in the datagram's transmit timestamp: the latency
    /// tx_predict.rs expects between that read and the kernel's send (0: none).
    lead: Vec<u64>,
    /// Whether the kernel is asked for the datagram's transmit timestamp (txstamp.rs).
    tx_request: Vec<bool>,
    /// Datagrams of the last flush that did not reach the kernel.
    failed: Vec<bool>,
    /// The transmit time the last flush stamped.
    flushed_at: NtpTimestamp,
    count: usize,
    /// Replies the kernel took, and those it refused or never got, since `take_totals`.
    sent_total: u64,
    refused_total: u64,
}

impl SendBatch {
    pub fn new(size: usize) -> Self {
        let slots = Datagrams::new(size);
        let size = slots.capacity();
        SendBatch {
            slots,
            stamp: vec![false; size],
            lead: vec![0; size],
            tx_request: vec![false; size],
            failed: vec![false; size],
            flushed_at: NtpTimestamp::ZERO,
            count: 0,
            sent_total: 0,
            refused_total: 0,
        }
    }

    pub fn is_full(&self) -> bool {
        self.count == self.slots.capacity()
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Queue a reply. With `stamp_tx`, bytes 40..48 get the transmit time at flush.
    pub fn push(&mut self, data: &[u8], dst: SocketAddr, local: Option<LocalAddr>, stamp_tx: bool) {
        self.push_stamped(data, dst, local, stamp_tx, false);
    }

    /// [`SendBatch::push`], and with `kernel_tx` the kernel is asked for the datagram's
    /// transmit timestamp (the socket must be in `txstamp::TxMode::OnRequest`). Returns the
    /// datagram's index in the batch.
    pub fn push_stamped(
        &mut self,
        data: &[u8],
        dst: SocketAddr,
        local: Option<LocalAddr>,
        stamp_tx: bool,
        kernel_tx: bool,
    ) -> Option<usize> {
        self.push_predicted(data, dst, local, stamp_tx, 0, kernel_tx)
    }

    /// [`SendBatch::push_stamped`] with a transmit timestamp `lead` (2^-32 s) later than the
    /// time read at flush: when the kernel is expected to send it (tx_predict.rs).
    pub fn push_predicted(
        &mut self,
        data: &[u8],
        dst: SocketAddr,
        local: Option<LocalAddr>,
        stamp_tx: bool,
        lead: u64,
        kernel_tx: bool,
    ) -> Option<usize> {
        if self.is_full() {
            return None;
        }
        let i = self.count;
        let len = data.len().min(RECV_BUF);
        let (buf, name, ctl) = self.slots.slot_mut(i);
        buf[..len].copy_from_slice(&data[..len]);
        *name = SockName::new(dst);
        let mut ctl_len = write_pktinfo(ctl, local);
        self.stamp[i] = stamp_tx && len >= 48;
        self.lead[i] = lead;
        self.tx_request[i] = false;
        if kernel_tx {
            let used = ctl_len;
            ctl_len = super::txstamp::write_tx_request(ctl, used, false);
            self.tx_request[i] = ctl_len > used;
        }
        self.slots.set_lens(i, len, ctl_len);
        self.count += 1;
        Some(i)
    }

    /// After a flush: whether datagram `i` asked for a kernel timestamp and reached the
    /// kernel (so the socket's timestamp counter counted it).
    pub fn kernel_stamped(&self, i: usize) -> bool {
        self.tx_request.get(i).copied().unwrap_or(false)
            && !self.failed.get(i).copied().unwrap_or(true)
    }

    /// The time the last flush read just before sendmmsg (low bit cleared).
    pub fn flushed_at(&self) -> NtpTimestamp {
        self.flushed_at
    }

    /// The transmit timestamp the last flush wrote into datagram `i` (if it was stamped):
    /// [`SendBatch::flushed_at`] plus its lead.
    pub fn written_at(&self, i: usize) -> NtpTimestamp {
        let lead = self.lead.get(i).copied().unwrap_or(0);
        NtpTimestamp(self.flushed_at.0.wrapping_add(lead) & !1)
    }

    /// Stamp every queued reply with the current time and send the lot. Returns how many
    /// left (a datagram the kernel refused is skipped and not counted); the queue is
    /// cleared either way (a UDP send failure is not retried).
    pub fn flush(&mut self, fd: RawFd) -> io::Result<usize> {
        let n = self.count;
        if n == 0 {
            return Ok(0);
        }
        self.count = 0;
        // Stamped as late as possible: right before the call (sys::socket then only points
        // the headers at the buffers).
        // The low bit cleared: a server's transmit timestamp never equals a receive
        // timestamp of ours (those have it set, see respond.rs), as chronyd does.
        // A reply with a lead gets the time it is expected to leave (tx_predict.rs).
        self.flushed_at = NtpTimestamp(now_ntp().0 & !1);
        for i in 0..n {
            self.failed[i] = false;
            if self.stamp[i] {
                let tx = self.written_at(i).to_be_bytes();
                self.slots.slot_mut(i).0[40..48].copy_from_slice(&tx);
            }
        }
        let mut sent = 0usize;
        let mut refused = 0usize;
        while sent < n {
            let r = self.slots.send(fd, sent, n);
            match r {
                Ok(k) if k > 0 => sent += k,
                // skip the datagram that failed (e.g. no route) and keep going
                Err(e)
                    if e.kind() != io::ErrorKind::WouldBlock
                        && e.kind() != io::ErrorKind::Interrupted =>
                {
                    self.failed[sent] = true;
                    sent += 1;
                    refused += 1;
                }
                _ => {
                    for f in &mut self.failed[sent..n] {
                        *f = true;
                    }
                    if sent == 0 {
                        self.refused_total += n as u64;
                        return Err(match r {
                            Err(e) => e,
                            Ok(_) => io::Error::last_os_error(),
                        });
                    }
                    break;
                }
            }
        }
        let delivered = sent - refused;
        self.sent_total += delivered as u64;
        self.refused_total += (n - delivered) as u64;
        Ok(delivered)
    }

    /// (replies sent, replies refused) since the last call.
    pub fn take_totals(&mut self) -> (u64, u64) {
        let totals = (self.sent_total, self.refused_total);
        (self.sent_total, self.refused_total) = (0, 0);
        totals
    }
}

/// IP_PKTINFO / IPV6_PKTINFO naming the reply's source address; returns the bytes used.
fn write_pktinfo(buf: &mut [u8; CTL_BUF], local: Option<LocalAddr>) -> usize {
    let Some(local) = local else { return 0 };
    if local.addr.is_multicast() || matches!(local.addr, IpAddr::V4(a) if a.is_broadcast()) {
        return 0;
    }
    match local.addr {
        IpAddr::V4(a) => {
            // struct in_pktinfo: ifindex 0, ipi_spec_dst = the source, ipi_addr unused
            let mut pi = [0u8; 12];
            pi[4..8].copy_from_slice(&a.octets());
            push_control_message(buf, 0, libc::IPPROTO_IP, libc::IP_PKTINFO, &pi)
        }
        IpAddr::V6(a) => {
            // struct in6_pktinfo: the source address and the interface
            let mut pi = [0u8; 20];
            pi[..16].copy_from_slice(&a.octets());
            pi[16..].copy_from_slice(&local.ifindex.to_ne_bytes());
            push_control_message(buf, 0, libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &pi)
        }
    }
}

/// Send one datagram with the batch machinery (mode 6 replies, client requests).
pub fn send_one(
    sock: &UdpSocket,
    data: &[u8],
    dst: SocketAddr,
    local: Option<LocalAddr>,
) -> io::Result<()> {
    let mut b = SendBatch::new(1);
    b.push(data, dst, local, false);
    b.flush(sock.as_raw_fd()).map(|_| ())
}

/// Send one datagram asking the kernel for its transmit timestamp under `key`
/// ([`super::txstamp::write_tx_key`]: the socket's own timestamp counter is left alone).
/// Returns the time read just before the send; an error when the kernel refused it (one
/// without SCM_TS_OPT_ID says EINVAL).
pub fn send_one_keyed(
    sock: &UdpSocket,
    data: &[u8],
    dst: SocketAddr,
    local: Option<LocalAddr>,
    key: u32,
) -> io::Result<NtpTimestamp> {
    let mut b = SendBatch::new(1);
    let len = data.len().min(RECV_BUF);
    let (buf, name, ctl) = b.slots.slot_mut(0);
    buf[..len].copy_from_slice(&data[..len]);
    *name = SockName::new(dst);
    let used = write_pktinfo(ctl, local);
    let used = super::txstamp::write_tx_request(ctl, used, false);
    let used = super::txstamp::write_tx_key(ctl, used, key);
    b.slots.set_lens(0, len, used);
    let before = now_ntp();
    match b.slots.send(sock.as_raw_fd(), 0, 1)? {
        1 => Ok(before),
        _ => Err(io::Error::last_os_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_round_trip_carries_kernel_timestamps_and_the_local_address() {
        let spec = BindSpec {
            addr: "127.0.0.1:0".parse().unwrap(),
            device: None,
            reuse_port: false,
        };
        let server = bind_udp(&spec).unwrap();
        let port = server.local_addr().unwrap().port();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        let before = now_ntp();
        client.send_to(&[0x23; 48], ("127.0.0.1", port)).unwrap();
        server
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let mut batch = RecvBatch::new(8);
        assert_eq!(batch.recv(server.as_raw_fd(), true).unwrap(), 1);
        let got = batch.get(0).unwrap();
        assert_eq!(got.data.len(), 48);
        assert_eq!(got.src, client.local_addr().unwrap());
        let rx = got.rx.expect("SO_TIMESTAMPNS");
        assert!((rx - before).to_seconds().abs() < 1.0);
        assert_eq!(
            got.local.unwrap().addr,
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
        let mut out = SendBatch::new(4);
        out.push(&[0x24; 48], got.src, got.local, true);
        assert_eq!(out.flush(server.as_raw_fd()).unwrap(), 1);
        let mut buf = [0u8; 100];
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let (n, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!((n, from.port()), (48, port));
        let tx = NtpTimestamp::from_be_bytes(buf[40..48].try_into().unwrap());
        assert!(tx.0 >= rx.0);
    }
}
