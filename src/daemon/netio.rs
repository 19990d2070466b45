//! UDP sockets for the server: binding (SO_REUSEPORT groups, device binding), kernel receive
//! timestamps (SO_TIMESTAMPNS), the local address a request was sent to (IP_PKTINFO, so
//! the reply leaves from the address the client asked), and batched receive/send with
//! recvmmsg/sendmmsg. The clock is read only through libc's `clock_gettime`.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};

use crate::wire::time::{NtpTimestamp, UnixTime};

/// CLOCK_REALTIME in nanoseconds since the Unix epoch, through libc (clknetsim-friendly).
pub fn realtime_nanos() -> u64 {
    let mut ts: libc::timespec = unsafe { zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The realtime clock as an NTP timestamp.
pub fn now_ntp() -> NtpTimestamp {
    let mut ts: libc::timespec = unsafe { zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    NtpTimestamp::from_unix(UnixTime::new(ts.tv_sec, ts.tv_nsec as u32))
}

fn setsockopt_int(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &value as *const i32 as *const libc::c_void,
            size_of::<i32>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
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
    let fd = s.as_raw_fd();
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
    // Kernel transmit timestamps for the datagrams that ask for one (interleaved replies;
    // the client socket switches to every datagram). A kernel without them serves basic
    // mode only.
    if let Err(e) = super::txstamp::enable(&s, super::txstamp::TxMode::OnRequest, false) {
        super::log::debug(&format!("SO_TIMESTAMPING on {}: {e}", spec.addr));
    }
    if spec.addr.is_ipv4() {
        setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
    } else {
        setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
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

pub fn set_recv_timeout(sock: &UdpSocket, ms: u64) -> io::Result<()> {
    sock.set_read_timeout(Some(std::time::Duration::from_millis(ms.max(1))))
}

fn to_storage(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    let mut st: libc::sockaddr_storage = unsafe { zeroed() };
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*a.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            unsafe { std::ptr::write(&mut st as *mut _ as *mut libc::sockaddr_in, sin) };
            (st, size_of::<libc::sockaddr_in>() as libc::socklen_t)
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            unsafe { std::ptr::write(&mut st as *mut _ as *mut libc::sockaddr_in6, sin6) };
            (st, size_of::<libc::sockaddr_in6>() as libc::socklen_t)
        }
    }
}

fn from_storage(st: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match st.ss_family as i32 {
        libc::AF_INET => {
            let sin = unsafe { &*(st as *const _ as *const libc::sockaddr_in) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            let sin6 = unsafe { &*(st as *const _ as *const libc::sockaddr_in6) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Largest datagram we read: a header, extension fields and a MAC fit easily; mode 6
/// requests are at most 480 bytes plus a MAC.
pub const RECV_BUF: usize = 1024;
/// Room for SCM_TIMESTAMPNS and IP(V6)_PKTINFO control messages (and, on the way out, a
/// request for the datagram's kernel transmit timestamp).
/// (192: with SO_TIMESTAMPING on and a kernel without OPT_RX_FILTER, received datagrams
/// carry SCM_TIMESTAMPING too, and a truncated buffer would lose the pktinfo after it.)
const CTL_BUF: usize = 192;

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

#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct CtlBuf([u8; CTL_BUF]);

/// A batch of receive buffers for recvmmsg.
pub struct RecvBatch {
    bufs: Vec<[u8; RECV_BUF]>,
    names: Vec<libc::sockaddr_storage>,
    iovs: Vec<libc::iovec>,
    ctls: Vec<CtlBuf>,
    hdrs: Vec<libc::mmsghdr>,
    count: usize,
}

// The raw pointers inside only ever point into the batch's own vectors.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    pub fn new(size: usize) -> Self {
        let size = size.max(1);
        RecvBatch {
            bufs: vec![[0u8; RECV_BUF]; size],
            names: vec![unsafe { zeroed() }; size],
            iovs: vec![unsafe { zeroed() }; size],
            ctls: vec![CtlBuf([0; CTL_BUF]); size],
            hdrs: vec![unsafe { zeroed() }; size],
            count: 0,
        }
    }

    /// Receive up to the batch size; `wait` blocks for the first datagram (MSG_WAITFORONE
    /// semantics) on a blocking socket, otherwise returns WouldBlock when nothing is queued.
    pub fn recv(&mut self, fd: RawFd, wait: bool) -> io::Result<usize> {
        let n = self.bufs.len();
        for i in 0..n {
            self.iovs[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr() as *mut libc::c_void,
                iov_len: RECV_BUF,
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = &mut self.names[i] as *mut _ as *mut libc::c_void;
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = self.ctls[i].0.as_mut_ptr() as *mut libc::c_void;
            h.msg_controllen = CTL_BUF as _;
            h.msg_flags = 0;
            self.hdrs[i].msg_len = 0;
        }
        let flags = if wait {
            libc::MSG_WAITFORONE
        } else {
            libc::MSG_DONTWAIT
        };
        let r = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                n as u32,
                flags as _,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            self.count = 0;
            return Err(io::Error::last_os_error());
        }
        self.count = r as usize;
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
        let h = &self.hdrs[i];
        let src = from_storage(&self.names[i])?;
        let len = (h.msg_len as usize).min(RECV_BUF);
        let (rx, local) = parse_cmsgs(&h.msg_hdr);
        Some(Received {
            data: &self.bufs[i][..len],
            src,
            rx,
            local,
        })
    }
}

fn parse_cmsgs(msg: &libc::msghdr) -> (Option<NtpTimestamp>, Option<LocalAddr>) {
    let mut rx = None;
    let mut local = None;
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            match ((*c).cmsg_level, (*c).cmsg_type) {
                (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) => {
                    let ts: libc::timespec =
                        std::ptr::read_unaligned(data as *const libc::timespec);
                    rx = Some(NtpTimestamp::from_unix(UnixTime::new(
                        ts.tv_sec,
                        ts.tv_nsec as u32,
                    )));
                }
                (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                    let pi: libc::in_pktinfo =
                        std::ptr::read_unaligned(data as *const libc::in_pktinfo);
                    local = Some(LocalAddr {
                        addr: IpAddr::V4(Ipv4Addr::from(u32::from_be(pi.ipi_addr.s_addr))),
                        ifindex: pi.ipi_ifindex as u32,
                    });
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                    let pi: libc::in6_pktinfo =
                        std::ptr::read_unaligned(data as *const libc::in6_pktinfo);
                    local = Some(LocalAddr {
                        addr: IpAddr::V6(Ipv6Addr::from(pi.ipi6_addr.s6_addr)),
                        ifindex: pi.ipi6_ifindex,
                    });
                }
                _ => {}
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    (rx, local)
}

/// Replies waiting for one sendmmsg.
pub struct SendBatch {
    bufs: Vec<[u8; RECV_BUF]>,
    lens: Vec<usize>,
    /// Whether the transmit timestamp is stamped at send time.
    stamp: Vec<bool>,
    /// Whether the kernel is asked for the datagram's transmit timestamp (txstamp.rs).
    tx_request: Vec<bool>,
    /// Datagrams of the last flush that did not reach the kernel.
    failed: Vec<bool>,
    /// The transmit time the last flush stamped.
    flushed_at: NtpTimestamp,
    names: Vec<(libc::sockaddr_storage, libc::socklen_t)>,
    ctls: Vec<CtlBuf>,
    ctl_lens: Vec<usize>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    count: usize,
    /// Replies the kernel took, and those it refused or never got, since `take_totals`.
    sent_total: u64,
    refused_total: u64,
}

unsafe impl Send for SendBatch {}

impl SendBatch {
    pub fn new(size: usize) -> Self {
        let size = size.max(1);
        SendBatch {
            bufs: vec![[0u8; RECV_BUF]; size],
            lens: vec![0; size],
            stamp: vec![false; size],
            tx_request: vec![false; size],
            failed: vec![false; size],
            flushed_at: NtpTimestamp::ZERO,
            names: vec![(unsafe { zeroed() }, 0); size],
            ctls: vec![CtlBuf([0; CTL_BUF]); size],
            ctl_lens: vec![0; size],
            iovs: vec![unsafe { zeroed() }; size],
            hdrs: vec![unsafe { zeroed() }; size],
            count: 0,
            sent_total: 0,
            refused_total: 0,
        }
    }

    pub fn is_full(&self) -> bool {
        self.count == self.bufs.len()
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
        if self.is_full() {
            return None;
        }
        let i = self.count;
        let len = data.len().min(RECV_BUF);
        self.bufs[i][..len].copy_from_slice(&data[..len]);
        self.lens[i] = len;
        self.stamp[i] = stamp_tx && len >= 48;
        self.names[i] = to_storage(dst);
        self.ctl_lens[i] = write_pktinfo(&mut self.ctls[i].0, local);
        self.tx_request[i] = false;
        if kernel_tx {
            let used = self.ctl_lens[i];
            self.ctl_lens[i] = super::txstamp::write_tx_request(&mut self.ctls[i].0, used, false);
            self.tx_request[i] = self.ctl_lens[i] > used;
        }
        self.count += 1;
        Some(i)
    }

    /// After a flush: whether datagram `i` asked for a kernel timestamp and reached the
    /// kernel (so the socket's timestamp counter counted it).
    pub fn kernel_stamped(&self, i: usize) -> bool {
        self.tx_request.get(i).copied().unwrap_or(false)
            && !self.failed.get(i).copied().unwrap_or(true)
    }

    /// The transmit time the last flush stamped (read just before sendmmsg).
    pub fn flushed_at(&self) -> NtpTimestamp {
        self.flushed_at
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
        for i in 0..n {
            self.iovs[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr() as *mut libc::c_void,
                iov_len: self.lens[i],
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = &mut self.names[i].0 as *mut _ as *mut libc::c_void;
            h.msg_namelen = self.names[i].1;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            if self.ctl_lens[i] > 0 {
                h.msg_control = self.ctls[i].0.as_mut_ptr() as *mut libc::c_void;
                h.msg_controllen = self.ctl_lens[i] as _;
            } else {
                h.msg_control = std::ptr::null_mut();
                h.msg_controllen = 0;
            }
            h.msg_flags = 0;
        }
        // Stamped as late as possible: after all other preparation, right before the call.
        // The low bit cleared: a server's transmit timestamp never equals a receive
        // timestamp of ours (those have it set, see respond.rs), as chronyd does.
        self.flushed_at = NtpTimestamp(now_ntp().0 & !1);
        let tx = self.flushed_at.to_be_bytes();
        for i in 0..n {
            self.failed[i] = false;
            if self.stamp[i] {
                self.bufs[i][40..48].copy_from_slice(&tx);
            }
        }
        let mut sent = 0usize;
        let mut refused = 0usize;
        while sent < n {
            let r = unsafe {
                libc::sendmmsg(
                    fd,
                    self.hdrs[sent..].as_mut_ptr(),
                    (n - sent) as u32,
                    libc::MSG_DONTWAIT as _,
                )
            };
            if r <= 0 {
                let e = io::Error::last_os_error();
                // skip the datagram that failed (e.g. no route) and keep going
                if r < 0
                    && e.kind() != io::ErrorKind::WouldBlock
                    && e.kind() != io::ErrorKind::Interrupted
                {
                    self.failed[sent] = true;
                    sent += 1;
                    refused += 1;
                    continue;
                }
                for f in &mut self.failed[sent..n] {
                    *f = true;
                }
                if sent == 0 {
                    self.refused_total += n as u64;
                    return Err(e);
                }
                break;
            }
            sent += r as usize;
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

fn write_pktinfo(buf: &mut [u8; CTL_BUF], local: Option<LocalAddr>) -> usize {
    let Some(local) = local else { return 0 };
    if local.addr.is_multicast() || matches!(local.addr, IpAddr::V4(a) if a.is_broadcast()) {
        return 0;
    }
    unsafe {
        let mut msg: libc::msghdr = zeroed();
        msg.msg_control = buf.as_mut_ptr() as *mut libc::c_void;
        match local.addr {
            IpAddr::V4(a) => {
                let space = libc::CMSG_SPACE(size_of::<libc::in_pktinfo>() as u32) as usize;
                msg.msg_controllen = space as _;
                let c = libc::CMSG_FIRSTHDR(&msg);
                (*c).cmsg_level = libc::IPPROTO_IP;
                (*c).cmsg_type = libc::IP_PKTINFO;
                (*c).cmsg_len = libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as u32) as _;
                let pi = libc::in_pktinfo {
                    ipi_ifindex: 0,
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from(a).to_be(),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut libc::in_pktinfo, pi);
                space
            }
            IpAddr::V6(a) => {
                let space = libc::CMSG_SPACE(size_of::<libc::in6_pktinfo>() as u32) as usize;
                msg.msg_controllen = space as _;
                let c = libc::CMSG_FIRSTHDR(&msg);
                (*c).cmsg_level = libc::IPPROTO_IPV6;
                (*c).cmsg_type = libc::IPV6_PKTINFO;
                (*c).cmsg_len = libc::CMSG_LEN(size_of::<libc::in6_pktinfo>() as u32) as _;
                let pi = libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: a.octets(),
                    },
                    ipi6_ifindex: local.ifindex,
                };
                std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut libc::in6_pktinfo, pi);
                space
            }
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
        set_recv_timeout(&server, 2000).unwrap();
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
