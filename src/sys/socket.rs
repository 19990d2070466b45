//! Batched UDP receive and send (recvmmsg/sendmmsg) for the serving path, the control
//! messages they carry, tokio registration of a shared socket, and getnameinfo.
//!
//! nix wraps recvmmsg/sendmmsg too, but its send side takes only the control messages it
//! knows (not the per-datagram SO_TIMESTAMPING request of txstamp.rs) and its receive side
//! hands results out as an iterator over its own buffers; the serving loop wants indexed,
//! reused buffers. Socket addresses and control messages are read and written here as
//! bytes (bounds-checked, no pointer casts); only the system calls themselves are unsafe.

use std::io;
use std::mem::{offset_of, size_of};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use tokio::io::unix::AsyncFd;

/// Room for control messages: SCM_TIMESTAMPNS and IP(V6)_PKTINFO on the way in (with
/// SO_TIMESTAMPING on and a kernel without OPT_RX_FILTER, SCM_TIMESTAMPING too, and a
/// truncated buffer would lose the pktinfo after it), and on the way out a source address
/// plus a request for the datagram's kernel transmit timestamp.
pub const CTL_BUF: usize = 192;

/// A control-message buffer, aligned as `struct cmsghdr` needs.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
pub struct CtlBuf(pub [u8; CTL_BUF]);

impl Default for CtlBuf {
    fn default() -> Self {
        CtlBuf([0; CTL_BUF])
    }
}

/// A `struct sockaddr_in` or `sockaddr_in6` as bytes (28: the larger of the two); only
/// UDP/IP sockets use it.
#[repr(C, align(4))]
#[derive(Clone, Copy)]
pub struct SockName {
    bytes: [u8; size_of::<libc::sockaddr_in6>()],
    len: libc::socklen_t,
}

// The byte offsets below are the kernel's (linux/in.h, linux/in6.h).
const _: () = {
    assert!(size_of::<libc::sockaddr_in6>() == 28);
    assert!(offset_of!(libc::sockaddr_in, sin_port) == 2);
    assert!(offset_of!(libc::sockaddr_in, sin_addr) == 4);
    assert!(offset_of!(libc::sockaddr_in6, sin6_flowinfo) == 4);
    assert!(offset_of!(libc::sockaddr_in6, sin6_addr) == 8);
    assert!(offset_of!(libc::sockaddr_in6, sin6_scope_id) == 24);
};

impl SockName {
    pub const fn empty() -> SockName {
        SockName {
            bytes: [0; 28],
            len: 28,
        }
    }

    pub fn new(addr: SocketAddr) -> SockName {
        let mut b = [0u8; 28];
        let len = match addr {
            SocketAddr::V4(a) => {
                b[0..2].copy_from_slice(&(libc::AF_INET as libc::sa_family_t).to_ne_bytes());
                b[2..4].copy_from_slice(&a.port().to_be_bytes());
                b[4..8].copy_from_slice(&a.ip().octets());
                size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(a) => {
                b[0..2].copy_from_slice(&(libc::AF_INET6 as libc::sa_family_t).to_ne_bytes());
                b[2..4].copy_from_slice(&a.port().to_be_bytes());
                b[4..8].copy_from_slice(&a.flowinfo().to_ne_bytes());
                b[8..24].copy_from_slice(&a.ip().octets());
                b[24..28].copy_from_slice(&a.scope_id().to_ne_bytes());
                size_of::<libc::sockaddr_in6>()
            }
        };
        SockName {
            bytes: b,
            len: len as libc::socklen_t,
        }
    }

    pub fn get(&self) -> Option<SocketAddr> {
        let b = &self.bytes;
        let family = libc::sa_family_t::from_ne_bytes([b[0], b[1]]) as i32;
        let port = u16::from_be_bytes([b[2], b[3]]);
        let word = |at: usize| [b[at], b[at + 1], b[at + 2], b[at + 3]];
        match family {
            libc::AF_INET => Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(word(4)),
                port,
            ))),
            libc::AF_INET6 => {
                let ip: [u8; 16] = b[8..24].try_into().ok()?;
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(ip),
                    port,
                    u32::from_ne_bytes(word(4)),
                    u32::from_ne_bytes(word(24)),
                )))
            }
            _ => None,
        }
    }
}

/// The mmsghdr/iovec arrays of one batch. Their pointers point into the owning
/// [`Datagrams`]' own vectors (heap storage, which never moves or shrinks) and are only
/// used in its `&mut self` methods.
struct Headers {
    hdrs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
}

// SAFETY: the raw pointers inside point only into the owning `Datagrams`' vectors and are
// only used within its `&mut self` methods, so moving the batch to another thread is as
// safe as moving those vectors.
unsafe impl Send for Headers {}

fn empty_mmsghdr() -> libc::mmsghdr {
    libc::mmsghdr {
        msg_hdr: libc::msghdr {
            msg_name: std::ptr::null_mut(),
            msg_namelen: 0,
            msg_iov: std::ptr::null_mut(),
            msg_iovlen: 0,
            msg_control: std::ptr::null_mut(),
            msg_controllen: 0,
            msg_flags: 0,
        },
        msg_len: 0,
    }
}

/// A batch of datagram slots of up to `N` bytes each, with their addresses and control
/// buffers: filled by one recvmmsg or sent by one sendmmsg. (One batch is used for one
/// direction; either works after the other.)
pub struct Datagrams<const N: usize> {
    bufs: Vec<[u8; N]>,
    /// Bytes to send (receiving reads the lengths from the headers).
    lens: Vec<usize>,
    names: Vec<SockName>,
    ctls: Vec<CtlBuf>,
    ctl_lens: Vec<usize>,
    headers: Headers,
    /// Headers whose lengths the last recvmmsg changed (0..filled), or None when a send
    /// changed them: only those are set up again for the next receive.
    filled: Option<usize>,
}

impl<const N: usize> Datagrams<N> {
    pub fn new(size: usize) -> Self {
        let size = size.max(1);
        let mut d = Datagrams {
            bufs: vec![[0u8; N]; size],
            lens: vec![0; size],
            names: vec![SockName::empty(); size],
            ctls: vec![CtlBuf::default(); size],
            ctl_lens: vec![0; size],
            headers: Headers {
                hdrs: vec![empty_mmsghdr(); size],
                iovs: vec![
                    libc::iovec {
                        iov_base: std::ptr::null_mut(),
                        iov_len: 0,
                    };
                    size
                ],
            },
            filled: None,
        };
        d.arm_for_receive(size);
        d
    }

    /// Point the first `n` headers at their slots' whole buffers, for recvmmsg.
    fn arm_for_receive(&mut self, n: usize) {
        let Headers { hdrs, iovs } = &mut self.headers;
        for (i, (h, iov)) in hdrs.iter_mut().zip(iovs.iter_mut()).take(n).enumerate() {
            *iov = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: N,
            };
            h.msg_hdr = libc::msghdr {
                msg_name: self.names[i].bytes.as_mut_ptr().cast(),
                msg_namelen: SockName::empty().len,
                msg_iov: iov,
                msg_iovlen: 1,
                msg_control: self.ctls[i].0.as_mut_ptr().cast(),
                msg_controllen: CTL_BUF as _,
                msg_flags: 0,
            };
            h.msg_len = 0;
        }
        self.filled = Some(0);
    }

    pub fn capacity(&self) -> usize {
        self.bufs.len()
    }

    /// Slot `i`: its bytes (the first `len` of them are the datagram), address and control
    /// buffer (the first `ctl_len` bytes are sent).
    pub fn slot_mut(&mut self, i: usize) -> (&mut [u8; N], &mut SockName, &mut [u8; CTL_BUF]) {
        (&mut self.bufs[i], &mut self.names[i], &mut self.ctls[i].0)
    }

    pub fn set_lens(&mut self, i: usize, len: usize, ctl_len: usize) {
        self.lens[i] = len.min(N);
        self.ctl_lens[i] = ctl_len.min(CTL_BUF);
    }

    /// A received datagram: (data, source address, control messages).
    /// The address is None when the kernel wrote none: the empty entries recvmmsg returns
    /// once the socket is shut down for reading (the slot still holds an older source).
    pub fn received(&self, i: usize) -> (&[u8], Option<&SockName>, &[u8]) {
        let h = &self.headers.hdrs[i];
        let len = (h.msg_len as usize).min(N);
        let ctl_len = h.msg_hdr.msg_controllen.min(CTL_BUF);
        (
            &self.bufs[i][..len],
            (h.msg_hdr.msg_namelen > 0).then_some(&self.names[i]),
            &self.ctls[i].0[..ctl_len],
        )
    }

    /// recvmmsg into every slot; `flags` as recvmmsg takes them (MSG_WAITFORONE,
    /// MSG_DONTWAIT). Returns how many slots were filled.
    pub fn recv(&mut self, fd: RawFd, flags: libc::c_int) -> io::Result<usize> {
        let n = self.bufs.len();
        match self.filled {
            None => self.arm_for_receive(n),
            // the kernel changed only the lengths of the headers it filled
            Some(filled) => {
                for h in &mut self.headers.hdrs[..filled] {
                    h.msg_hdr.msg_namelen = SockName::empty().len;
                    h.msg_hdr.msg_controllen = CTL_BUF as _;
                }
            }
        }
        self.filled = Some(0);
        // SAFETY: every header points at this batch's own name, data and control buffers
        // with their true lengths (arm_for_receive); those vectors are alive, never
        // reallocated, and exclusively borrowed with `self` for the call.
        let r = unsafe {
            libc::recvmmsg(
                fd,
                self.headers.hdrs.as_mut_ptr(),
                n as libc::c_uint,
                flags as _,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        let r = (r as usize).min(n);
        self.filled = Some(r);
        Ok(r)
    }

    /// sendmmsg of slots `from..to` (their lengths, addresses and control messages as set);
    /// returns how many the kernel took (0 ≤ n ≤ to − from).
    pub fn send(&mut self, fd: RawFd, from: usize, to: usize) -> io::Result<usize> {
        let to = to.min(self.bufs.len());
        if from >= to {
            return Ok(0);
        }
        self.filled = None;
        let Headers { hdrs, iovs } = &mut self.headers;
        for i in from..to {
            iovs[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: self.lens[i],
            };
            let h = &mut hdrs[i].msg_hdr;
            h.msg_name = self.names[i].bytes.as_mut_ptr().cast();
            h.msg_namelen = self.names[i].len;
            h.msg_iov = &mut iovs[i];
            h.msg_iovlen = 1;
            if self.ctl_lens[i] > 0 {
                h.msg_control = self.ctls[i].0.as_mut_ptr().cast();
                h.msg_controllen = self.ctl_lens[i] as _;
            } else {
                h.msg_control = std::ptr::null_mut();
                h.msg_controllen = 0;
            }
            h.msg_flags = 0;
        }
        // SAFETY: headers from..to point at this batch's own buffers with lengths no larger
        // than the buffers, all alive and exclusively borrowed with `self` for the call.
        let r = unsafe {
            libc::sendmmsg(
                fd,
                hdrs[from..to].as_mut_ptr(),
                (to - from) as libc::c_uint,
                libc::MSG_DONTWAIT as _,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(r as usize)
    }
}

// Control messages as bytes: `struct cmsghdr` is {size_t len; int level; int type;}, its
// data and the next header each start at the next multiple of size_t (CMSG_ALIGN).
const CMSG_ALIGN: usize = size_of::<usize>();
const CMSG_HDR: usize = size_of::<libc::cmsghdr>();
const _: () = assert!(CMSG_HDR == size_of::<usize>() + 8 && CMSG_HDR % CMSG_ALIGN == 0);

fn cmsg_align(n: usize) -> usize {
    n.div_ceil(CMSG_ALIGN) * CMSG_ALIGN
}

/// The space one control message with `data_len` bytes of data takes (CMSG_SPACE).
pub const fn cmsg_space(data_len: usize) -> usize {
    CMSG_HDR + data_len.div_ceil(CMSG_ALIGN) * CMSG_ALIGN
}

/// The control messages in `ctl` (as received): (level, type, data).
pub fn control_messages(ctl: &[u8]) -> impl Iterator<Item = (i32, i32, &[u8])> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let hdr = ctl.get(at..at + CMSG_HDR)?;
        let len = usize::from_ne_bytes(hdr[..CMSG_ALIGN].try_into().ok()?);
        let level = i32::from_ne_bytes(hdr[CMSG_ALIGN..CMSG_ALIGN + 4].try_into().ok()?);
        let kind = i32::from_ne_bytes(hdr[CMSG_ALIGN + 4..CMSG_HDR].try_into().ok()?);
        let data = ctl.get(at + CMSG_HDR..at.checked_add(len)?)?;
        at += cmsg_align(len.max(CMSG_HDR));
        Some((level, kind, data))
    })
}

/// Append one control message at `used` (a multiple of CMSG_ALIGN) of `buf`; returns the
/// new length, or `used` unchanged when it does not fit.
pub fn push_control_message(
    buf: &mut [u8],
    used: usize,
    level: i32,
    kind: i32,
    data: &[u8],
) -> usize {
    let space = cmsg_space(data.len());
    if used % CMSG_ALIGN != 0 || used + space > buf.len() {
        return used;
    }
    let out = &mut buf[used..used + space];
    out.fill(0);
    out[..CMSG_ALIGN].copy_from_slice(&(CMSG_HDR + data.len()).to_ne_bytes());
    out[CMSG_ALIGN..CMSG_ALIGN + 4].copy_from_slice(&level.to_ne_bytes());
    out[CMSG_ALIGN + 4..CMSG_HDR].copy_from_slice(&kind.to_ne_bytes());
    out[CMSG_HDR..CMSG_HDR + data.len()].copy_from_slice(data);
    used + space
}

/// Register a socket shared with other tasks with tokio's reactor.
pub fn register_async(sock: Arc<UdpSocket>) -> io::Result<AsyncFd<Arc<UdpSocket>>> {
    // SAFETY: the AsyncFd owns an Arc of the socket, so the descriptor stays open and the
    // same for the AsyncFd's whole life; UdpSocket::as_raw_fd always returns that one.
    unsafe { AsyncFd::register(sock) }.map_err(io::Error::from)
}

/// A private epoll set watched by tokio's reactor (the set is readable while a descriptor
/// in it is ready). Unlike tokio's own registration, a descriptor can leave the set and
/// rejoin it cheaply: while it is out, nothing is woken (or even called) when the kernel
/// queues on it, e.g. the transmit timestamps of a datagram being sent.
#[derive(Debug)]
pub struct WatchSet(nix::sys::epoll::Epoll);

impl WatchSet {
    pub fn new() -> io::Result<Self> {
        use nix::sys::epoll::{Epoll, EpollCreateFlags};
        Ok(WatchSet(Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?))
    }

    /// Watch `fd` for input (level-triggered: whatever it holds when it joins counts).
    pub fn add(&self, fd: impl std::os::fd::AsFd) -> io::Result<()> {
        use nix::sys::epoll::{EpollEvent, EpollFlags};
        Ok(self.0.add(fd, EpollEvent::new(EpollFlags::EPOLLIN, 0))?)
    }

    pub fn remove(&self, fd: impl std::os::fd::AsFd) -> io::Result<()> {
        Ok(self.0.delete(fd)?)
    }
}

impl AsRawFd for WatchSet {
    fn as_raw_fd(&self) -> RawFd {
        self.0 .0.as_raw_fd()
    }
}

/// Register a [`WatchSet`] with tokio's reactor.
pub fn register_async_set(set: Arc<WatchSet>) -> io::Result<AsyncFd<Arc<WatchSet>>> {
    // SAFETY: the AsyncFd owns an Arc of the set, which gives no way to replace the
    // descriptor inside, so it stays open and the same for the AsyncFd's whole life.
    unsafe { AsyncFd::register(set) }.map_err(io::Error::from)
}

/// getnameinfo(3) of `addr`: its host name, or the numeric form when it has none; None when
/// the call fails.
pub fn host_name(addr: IpAddr) -> Option<String> {
    let sa = socket2::SockAddr::from(SocketAddr::new(addr, 0));
    let mut host = [0u8; 1025];
    // SAFETY: `sa` is a valid sockaddr of the stated length; `host` is a writable buffer of
    // the stated length, which getnameinfo NUL-terminates on success.
    let rc = unsafe {
        libc::getnameinfo(
            sa.as_ptr().cast(),
            sa.len(),
            host.as_mut_ptr().cast(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            0,
        )
    };
    if rc != 0 {
        return None;
    }
    let name = std::ffi::CStr::from_bytes_until_nul(&host).ok()?;
    Some(name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_names_round_trip() {
        for a in ["198.18.0.7:123", "[fe80::1%3]:4460", "[2001:db8::5]:0"] {
            let a: SocketAddr = a.parse().unwrap();
            assert_eq!(SockName::new(a).get(), Some(a));
        }
        assert_eq!(SockName::empty().get(), None);
    }

    #[test]
    fn control_messages_round_trip() {
        let mut buf = CtlBuf::default();
        let used = push_control_message(&mut buf.0, 0, 1, 2, &[9; 12]);
        assert_eq!(used, cmsg_space(12));
        let used = push_control_message(&mut buf.0, used, 3, 4, &[7; 20]);
        let got: Vec<_> = control_messages(&buf.0[..used]).collect();
        assert_eq!(got, [(1, 2, &[9u8; 12][..]), (3, 4, &[7u8; 20][..])]);
        // a truncated or lying header ends the walk instead of reading past the buffer
        buf.0[..8].copy_from_slice(&10_000usize.to_ne_bytes());
        assert_eq!(control_messages(&buf.0[..used]).count(), 0);
    }
}

/// nix's `recvmmsg` headers, movable to another thread: an error-queue reader lives in a
/// task that tokio may move.
pub struct SendHeaders(pub nix::sys::socket::MultiHeaders<()>);

// SAFETY: the raw pointers inside MultiHeaders (the mmsghdrs') point only into its own
// heap buffers, which move with it and are used through `&mut` alone; nothing is tied to
// the thread that made it.
unsafe impl Send for SendHeaders {}

/// What ETHTOOL_GET_TS_INFO says of an interface (struct ethtool_ts_info).
#[repr(C)]
#[derive(Default)]
pub struct TsInfo {
    cmd: u32,
    pub so_timestamping: u32,
    pub phc_index: i32,
    tx_types: u32,
    tx_reserved: [u32; 3],
    rx_filters: u32,
    rx_reserved: [u32; 3],
}

/// An interface's timestamping capabilities (SIOCETHTOOL, ETHTOOL_GET_TS_INFO).
pub fn ethtool_ts_info(iface: &str) -> io::Result<TsInfo> {
    const SIOCETHTOOL: libc::c_ulong = 0x8946;
    const ETHTOOL_GET_TS_INFO: u32 = 0x41;
    if iface.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    let mut info = TsInfo {
        cmd: ETHTOOL_GET_TS_INFO,
        ..Default::default()
    };
    // SAFETY: an all-zero ifreq is valid; the name fits (checked) and stays NUL-terminated.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(iface.bytes()) {
        *d = s as libc::c_char;
    }
    req.ifr_ifru.ifru_data = &mut info as *mut TsInfo as *mut libc::c_char;
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    let fd = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: SIOCETHTOOL reads the name and writes through ifru_data into `info`, which
    // both outlive the call; fd is an open socket owned above (closed on drop).
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), SIOCETHTOOL as _, &mut req) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(info)
}
