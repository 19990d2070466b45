//! Kernel transmit timestamps (SO_TIMESTAMPING): when a datagram really left, read back
//! from the socket's error queue (MSG_ERRQUEUE). Each timestamped datagram gets a per-socket
//! counter (SOF_TIMESTAMPING_OPT_ID) and comes back without its payload
//! (SOF_TIMESTAMPING_OPT_TSONLY), so the caller matches timestamps to packets by counting
//! what it sent. Software timestamps (taken by the driver as the packet goes out) always;
//! hardware ones where `hwtimestamp` enabled them on the interface. Only libc calls, so a
//! simulator intercepting libc sees every one.

use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::RawFd;

use crate::wire::time::{NtpTimestamp, UnixTime};

/// Not in every libc release: the kernel's "RX timestamps only when asked for" (Linux 6.11+),
/// which keeps SCM_TIMESTAMPING off received datagrams (they carry SCM_TIMESTAMPNS already).
const SOF_TIMESTAMPING_OPT_RX_FILTER: u32 = 1 << 17;
/// The control message type equals the option's number.
const SCM_TIMESTAMPING: libc::c_int = libc::SO_TIMESTAMPING;

/// How a socket's datagrams are timestamped on the way out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxMode {
    /// Every datagram (the client socket: every request's T1).
    Every,
    /// Only datagrams sent with a [`write_tx_request`] control message (the server: replies
    /// to clients using interleaved mode).
    OnRequest,
}

/// Turn kernel transmit timestamps on for `fd`. `hardware`: also report the NIC's raw
/// hardware timestamps (the interface must have been switched on with SIOCSHWTSTAMP).
pub fn enable(fd: RawFd, mode: TxMode, hardware: bool) -> io::Result<()> {
    let mut flags = libc::SOF_TIMESTAMPING_SOFTWARE
        | libc::SOF_TIMESTAMPING_OPT_ID
        | libc::SOF_TIMESTAMPING_OPT_TSONLY;
    if mode == TxMode::Every {
        flags |= libc::SOF_TIMESTAMPING_TX_SOFTWARE;
        if hardware {
            flags |= libc::SOF_TIMESTAMPING_TX_HARDWARE;
        }
    }
    if hardware {
        flags |= libc::SOF_TIMESTAMPING_RAW_HARDWARE;
    }
    // the filter first; kernels without it refuse the flag (EINVAL), then go without
    set_flags(fd, flags | SOF_TIMESTAMPING_OPT_RX_FILTER).or_else(|_| set_flags(fd, flags))
}

fn set_flags(fd: RawFd, flags: u32) -> io::Result<()> {
    let value = flags as libc::c_int;
    // SAFETY: a valid pointer to an int of the size given, for the duration of the call.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPING,
            &value as *const libc::c_int as *const libc::c_void,
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One transmit timestamp from the error queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxStamp {
    /// The socket's counter for the datagram (0 for the first one timestamped).
    pub id: u32,
    pub at: NtpTimestamp,
    /// Taken by the NIC rather than by the driver in software.
    pub hardware: bool,
}

fn to_ntp(ts: &libc::timespec) -> NtpTimestamp {
    NtpTimestamp::from_unix(UnixTime::new(ts.tv_sec, ts.tv_nsec as u32))
}

/// Room for SCM_TIMESTAMPING (three timespecs) and IP(V6)_RECVERR (sock_extended_err plus
/// the offender's address), with slack.
const ERR_CTL: usize = 256;

#[repr(C, align(8))]
struct ErrCtl([u8; ERR_CTL]);

/// Read what the error queue holds (at most `limit` messages, never blocking) into `out`.
/// Returns how many were read; anything but a timestamp is dropped.
pub fn drain(fd: RawFd, out: &mut Vec<TxStamp>, limit: usize) -> usize {
    let mut n = 0;
    while n < limit {
        let mut ctl = ErrCtl([0; ERR_CTL]);
        let mut data = [0u8; 64];
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr() as *mut libc::c_void,
            iov_len: data.len(),
        };
        // SAFETY: an all-zero msghdr is valid; every pointer set below outlives the call.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = ctl.0.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = ERR_CTL as _;
        // SAFETY: msg describes buffers owned by this frame.
        let r = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
        if r < 0 {
            break;
        }
        n += 1;
        if let Some(stamp) = parse(&msg) {
            out.push(stamp);
        }
    }
    n
}

fn parse(msg: &libc::msghdr) -> Option<TxStamp> {
    let mut software = None;
    let mut hardware = None;
    let mut id = None;
    // SAFETY: the kernel filled msg_control with msg_controllen bytes of well-formed
    // cmsgs; the CMSG_* macros stay within them and every read is unaligned-safe.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            match ((*c).cmsg_level, (*c).cmsg_type) {
                (libc::SOL_SOCKET, SCM_TIMESTAMPING) => {
                    let ts: [libc::timespec; 3] =
                        std::ptr::read_unaligned(data as *const [libc::timespec; 3]);
                    if ts[0].tv_sec != 0 || ts[0].tv_nsec != 0 {
                        software = Some(to_ntp(&ts[0]));
                    }
                    if ts[2].tv_sec != 0 || ts[2].tv_nsec != 0 {
                        hardware = Some(to_ntp(&ts[2]));
                    }
                }
                (libc::IPPROTO_IP, libc::IP_RECVERR) | (libc::IPPROTO_IPV6, libc::IPV6_RECVERR) => {
                    let e: libc::sock_extended_err =
                        std::ptr::read_unaligned(data as *const libc::sock_extended_err);
                    if e.ee_errno == libc::ENOMSG as u32
                        && e.ee_origin == libc::SO_EE_ORIGIN_TIMESTAMPING
                    {
                        id = Some(e.ee_data);
                    }
                }
                _ => {}
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    let id = id?;
    match (hardware, software) {
        (Some(at), _) => Some(TxStamp {
            id,
            at,
            hardware: true,
        }),
        (None, Some(at)) => Some(TxStamp {
            id,
            at,
            hardware: false,
        }),
        _ => None,
    }
}

/// Bytes a [`write_tx_request`] control message takes.
pub fn tx_request_space() -> usize {
    // SAFETY: CMSG_SPACE is arithmetic on its argument.
    unsafe { libc::CMSG_SPACE(size_of::<u32>() as u32) as usize }
}

/// Append to `buf[used..]` the control message asking for this one datagram's transmit
/// timestamp (a socket in [`TxMode::OnRequest`]); returns the new length used, or `used`
/// when there is no room.
pub fn write_tx_request(buf: &mut [u8], used: usize, hardware: bool) -> usize {
    let space = tx_request_space();
    if used + space > buf.len() || used % size_of::<usize>() != 0 {
        return used;
    }
    let mut flags = libc::SOF_TIMESTAMPING_TX_SOFTWARE;
    if hardware {
        flags |= libc::SOF_TIMESTAMPING_TX_HARDWARE;
    }
    // SAFETY: `space` bytes from `used` are inside `buf` (checked above) and `used` keeps
    // the cmsghdr aligned as the earlier messages left it (CMSG_SPACE multiples).
    unsafe {
        let c = buf.as_mut_ptr().add(used) as *mut libc::cmsghdr;
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SO_TIMESTAMPING;
        (*c).cmsg_len = libc::CMSG_LEN(size_of::<u32>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut u32, flags);
    }
    used + space
}

/// What an interface's driver offers (ETHTOOL_GET_TS_INFO): whether it timestamps
/// transmitted packets in hardware, and its PTP hardware clock.
pub fn hardware_support(iface: &str) -> io::Result<Option<i32>> {
    #[repr(C)]
    struct TsInfo {
        cmd: u32,
        so_timestamping: u32,
        phc_index: i32,
        tx_types: u32,
        tx_reserved: [u32; 3],
        rx_filters: u32,
        rx_reserved: [u32; 3],
    }
    const SIOCETHTOOL: libc::c_ulong = 0x8946;
    const ETHTOOL_GET_TS_INFO: u32 = 0x41;
    if iface.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    // SAFETY: an all-zero TsInfo is valid plain data.
    let mut info: TsInfo = unsafe { zeroed() };
    info.cmd = ETHTOOL_GET_TS_INFO;
    // SAFETY: an all-zero ifreq is valid; the name fits (checked) and stays NUL-terminated.
    let mut req: libc::ifreq = unsafe { zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(iface.bytes()) {
        *d = s as libc::c_char;
    }
    req.ifr_ifru.ifru_data = &mut info as *mut TsInfo as *mut libc::c_char;
    // SAFETY: a plain datagram socket, closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: req points at info, both alive for the call; fd is ours.
    let r = unsafe { libc::ioctl(fd, SIOCETHTOOL as _, &mut req) };
    let err = io::Error::last_os_error();
    // SAFETY: fd is ours and closed once.
    unsafe { libc::close(fd) };
    if r != 0 {
        return Err(err);
    }
    let hw = libc::SOF_TIMESTAMPING_TX_HARDWARE | libc::SOF_TIMESTAMPING_RAW_HARDWARE;
    Ok((info.so_timestamping & hw == hw && info.phc_index >= 0).then_some(info.phc_index))
}

/// `hwtimestamp` lines: say, per interface, what it offers and what is used. Hardware
/// timestamps are in the NIC's clock, which would need converting to the system clock
/// (chronyd cross-timestamps the PHC); ntpkit does not, so it stays with the kernel's
/// software timestamps, which the drivers take as the packet passes.
pub fn report_hwtimestamp(ifaces: &[String]) {
    let mut names: Vec<String> = Vec::new();
    for i in ifaces {
        if i == "*" {
            if let Ok(dir) = std::fs::read_dir("/sys/class/net") {
                names.extend(
                    dir.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| n != "lo"),
                );
            }
        } else {
            names.push(i.clone());
        }
    }
    names.sort();
    names.dedup();
    for name in names {
        let what = match hardware_support(&name) {
            Ok(Some(phc)) => format!(
                "offers hardware timestamps (/dev/ptp{phc}), not used: no PHC-to-system conversion; kernel software timestamps"
            ),
            Ok(None) => "no hardware timestamping; kernel software timestamps".to_string(),
            Err(e) => format!("cannot be asked ({e}); kernel software timestamps"),
        };
        super::log::info(&format!("hwtimestamp {name}: {what}"));
    }
}

/// The software transmit timestamps of datagrams sent on one socket, matched to what the
/// caller sent by the kernel's counter. Entries are (counter, caller's key, time the
/// caller read just before sending); a timestamp is accepted only if it is not before that
/// time and within a second of it, so a counter that went out of step (a send the kernel
/// refused after counting it) yields nothing rather than a wrong match.
///
/// A datagram can come back more than once: on a veth pair behind a bridge (the namespace
/// LAN) every virtual device it leaves through stamps it, the last when it leaves the
/// bridge toward its receiver. The latest is the one that counts (it is the one next to
/// the receiver's receive timestamp, as on a wire; chronyd takes it too), so matched
/// entries are kept a while and a later timestamp for them is handed out again.
pub struct Pending<K> {
    next_id: u32,
    sent: std::collections::VecDeque<(u32, K, NtpTimestamp)>,
    matched: std::collections::VecDeque<(u32, K, NtpTimestamp)>,
    cap: usize,
}

impl<K: Copy> Pending<K> {
    pub fn new(cap: usize) -> Self {
        Pending {
            next_id: 0,
            sent: std::collections::VecDeque::with_capacity(cap.min(1024)),
            matched: std::collections::VecDeque::with_capacity(cap.min(1024)),
            cap: cap.max(1),
        }
    }

    /// A timestamped datagram went to the kernel.
    pub fn sent(&mut self, key: K, before: NtpTimestamp) {
        if self.sent.len() == self.cap {
            self.sent.pop_front();
        }
        self.sent.push_back((self.next_id, key, before));
        self.next_id = self.next_id.wrapping_add(1);
    }

    /// Whether no timestamp is expected (nothing sent lately).
    pub fn is_empty(&self) -> bool {
        self.sent.is_empty() && self.matched.is_empty()
    }

    /// The key a timestamp belongs to, if it is plausible; older entries still waiting are
    /// dropped (the kernel reports a socket's datagrams in order).
    pub fn matched(&mut self, stamp: &TxStamp) -> Option<K> {
        let plausible = |before: NtpTimestamp| {
            let d = (stamp.at - before).to_seconds();
            // a hardware clock need not agree with ours: only the order is checked
            (0.0..1.0).contains(&d) || stamp.hardware
        };
        if let Some(&(_, key, before)) = self.matched.iter().rev().find(|e| e.0 == stamp.id) {
            return plausible(before).then_some(key);
        }
        while let Some(&(id, key, before)) = self.sent.front() {
            let ahead = stamp.id.wrapping_sub(id);
            if ahead > u32::MAX / 2 {
                // a timestamp older than anything we wait for
                return None;
            }
            self.sent.pop_front();
            if ahead == 0 {
                if self.matched.len() == self.cap {
                    self.matched.pop_front();
                }
                self.matched.push_back((id, key, before));
                return plausible(before).then_some(key);
            }
        }
        None
    }

    /// Forget matched entries (their later timestamps are no longer wanted).
    pub fn settle(&mut self) {
        self.matched.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    #[test]
    fn loopback_sends_come_back_with_kernel_transmit_timestamps_in_order() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        enable(tx.as_raw_fd(), TxMode::Every, false).unwrap();
        let mut pending = Pending::new(8);
        for k in 0..3u8 {
            let before = crate::daemon::netio::now_ntp();
            tx.send_to(&[k; 48], rx.local_addr().unwrap()).unwrap();
            pending.sent(k, before);
        }
        let mut got = Vec::new();
        for _ in 0..100 {
            drain(tx.as_raw_fd(), &mut got, 16);
            if got.len() >= 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(got.len(), 3, "{got:?}");
        let keys: Vec<Option<u8>> = got.iter().map(|s| pending.matched(s)).collect();
        assert_eq!(keys, [Some(0), Some(1), Some(2)]);
        assert!(got.iter().all(|s| !s.hardware));
        pending.settle();
        assert!(pending.is_empty());
    }

    #[test]
    fn a_counter_out_of_step_matches_nothing_rather_than_the_wrong_packet() {
        let mut p = Pending::new(4);
        let t = NtpTimestamp(100 << 32);
        p.sent('a', t);
        p.sent('b', t);
        // the kernel says id 1 came a minute later: implausible for 'b'
        let late = TxStamp {
            id: 1,
            at: NtpTimestamp(160 << 32),
            hardware: false,
        };
        assert_eq!(p.matched(&late), None);
        p.settle();
        assert!(p.is_empty());
    }

    #[test]
    fn a_datagram_stamped_again_further_on_is_handed_out_again() {
        let mut p = Pending::new(8);
        let t = NtpTimestamp(100 << 32);
        p.sent('a', t);
        p.sent('b', t);
        let at = |id, us: u64| TxStamp {
            id,
            at: NtpTimestamp((100 << 32) + us * 4295),
            hardware: false,
        };
        // a leaves our veth, b leaves it, then each leaves the bridge
        assert_eq!(p.matched(&at(0, 1)), Some('a'));
        assert_eq!(p.matched(&at(1, 2)), Some('b'));
        assert_eq!(p.matched(&at(0, 15)), Some('a'));
        assert_eq!(p.matched(&at(1, 16)), Some('b'));
    }

    #[test]
    fn per_datagram_requests_fit_after_pktinfo() {
        let mut buf = [0u8; 128];
        let used = write_tx_request(&mut buf, 32, false);
        assert_eq!(used, 32 + tx_request_space());
        // no room: nothing written
        assert_eq!(write_tx_request(&mut buf, 120, false), 120);
    }
}
