//! Kernel transmit timestamps (SO_TIMESTAMPING): when a datagram really left, read back
//! from the socket's error queue (MSG_ERRQUEUE). Each timestamped datagram gets a per-socket
//! counter (SOF_TIMESTAMPING_OPT_ID) and comes back without its payload
//! (SOF_TIMESTAMPING_OPT_TSONLY), so the caller matches timestamps to packets by counting
//! what it sent. Software timestamps (taken by the driver as the packet goes out) always;
//! hardware ones where `hwtimestamp` enabled them on the interface. The error queue is read
//! with one `recvmmsg` per batch of timestamps (nix), not one `recvmsg` each.

use std::io::{self, IoSliceMut};

use std::os::fd::{AsFd, RawFd};

use nix::sys::socket::{
    recvmmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, MultiHeaders, TimestampingFlag,
};
use nix::sys::time::TimeSpec;

use crate::wire::time::{NtpTimestamp, UnixTime};

/// Not in every libc release: the kernel's "RX timestamps only when asked for" (Linux 6.11+),
/// which keeps SCM_TIMESTAMPING off received datagrams (they carry SCM_TIMESTAMPNS already).
const SOF_TIMESTAMPING_OPT_RX_FILTER: u32 = 1 << 17;

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
pub fn enable(fd: impl AsFd, mode: TxMode, hardware: bool) -> io::Result<()> {
    let mut flags = TimestampingFlag::SOF_TIMESTAMPING_SOFTWARE
        | TimestampingFlag::SOF_TIMESTAMPING_OPT_ID
        | TimestampingFlag::SOF_TIMESTAMPING_OPT_TSONLY;
    if mode == TxMode::Every {
        flags |= TimestampingFlag::SOF_TIMESTAMPING_TX_SOFTWARE;
        if hardware {
            flags |= TimestampingFlag::SOF_TIMESTAMPING_TX_HARDWARE;
        }
    }
    if hardware {
        flags |= TimestampingFlag::SOF_TIMESTAMPING_RAW_HARDWARE;
    }
    let filter = TimestampingFlag::from_bits_retain(SOF_TIMESTAMPING_OPT_RX_FILTER);
    // the filter first; kernels without it refuse the flag (EINVAL), then go without
    setsockopt(&fd, sockopt::Timestamping, &(flags | filter))
        .or_else(|_| setsockopt(&fd, sockopt::Timestamping, &flags))
        .map_err(io::Error::from)
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

/// A kernel time as an NTP timestamp, exactly (nanoseconds rounded to the nearest 2^-32 s,
/// no fuzz); None for the all-zero "not taken" value.
fn to_ntp(ts: &TimeSpec) -> Option<NtpTimestamp> {
    (ts.tv_sec() != 0 || ts.tv_nsec() != 0)
        .then(|| NtpTimestamp::from_unix(UnixTime::new(ts.tv_sec(), ts.tv_nsec() as u32)))
}

/// Control-message room per error-queue message: SCM_TIMESTAMPING (three timespecs),
/// SCM_TIMESTAMPNS (the socket's receive-timestamp option applies to the error queue too)
/// and IP(V6)_RECVERR (sock_extended_err plus the offender's address), with slack.
const ERR_CTL: usize = 256;
/// The payload room per message: OPT_TSONLY sends none back, a little in case.
const ERR_DATA: usize = 64;

/// A socket's error-queue reader: buffers for one `recvmmsg` of up to `batch` timestamps,
/// allocated once.
pub struct ErrQueue {
    headers: crate::sys::socket::SendHeaders,
    bufs: Vec<[u8; ERR_DATA]>,
}

impl ErrQueue {
    pub fn new(batch: usize) -> Self {
        let batch = batch.max(1);
        ErrQueue {
            headers: crate::sys::socket::SendHeaders(MultiHeaders::preallocate(
                batch,
                Some(Vec::with_capacity(ERR_CTL)),
            )),
            bufs: vec![[0; ERR_DATA]; batch],
        }
    }

    /// Read what the error queue holds (at most `limit` messages, never blocking) into
    /// `out`, a batch per system call. Returns how many were read; anything but a
    /// timestamp is dropped.
    pub fn drain(&mut self, fd: RawFd, out: &mut Vec<TxStamp>, limit: usize) -> usize {
        let mut n = 0;
        while n < limit {
            let want = (limit - n).min(self.bufs.len());
            let mut iovs: Vec<[IoSliceMut<'_>; 1]> = self.bufs[..want]
                .iter_mut()
                .map(|b| [IoSliceMut::new(b)])
                .collect();
            let flags = MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT;
            let Ok(msgs) = recvmmsg(fd, &mut self.headers.0, iovs.iter_mut(), flags, None) else {
                break;
            };
            let mut got = 0;
            for m in msgs {
                got += 1;
                if let Some(stamp) = m.cmsgs().ok().and_then(parse) {
                    out.push(stamp);
                }
            }
            n += got;
            if got < want {
                break;
            }
        }
        n
    }
}

fn parse(cmsgs: impl Iterator<Item = ControlMessageOwned>) -> Option<TxStamp> {
    let mut software = None;
    let mut hardware = None;
    let mut id = None;
    for c in cmsgs {
        match c {
            ControlMessageOwned::ScmTimestampsns(ts) => {
                software = to_ntp(&ts.system);
                hardware = to_ntp(&ts.hw_raw);
            }
            ControlMessageOwned::Ipv4RecvErr(e, _) | ControlMessageOwned::Ipv6RecvErr(e, _)
                if e.ee_errno == libc::ENOMSG as u32
                    && e.ee_origin == libc::SO_EE_ORIGIN_TIMESTAMPING =>
            {
                id = Some(e.ee_data);
            }
            _ => {}
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
    nix::sys::socket::cmsg_space::<u32>()
}

/// Append to `buf[used..]` the control message asking for this one datagram's transmit
/// timestamp (a socket in [`TxMode::OnRequest`]); returns the new length used, or `used`
/// when there is no room.
pub fn write_tx_request(buf: &mut [u8], used: usize, hardware: bool) -> usize {
    let mut flags = libc::SOF_TIMESTAMPING_TX_SOFTWARE;
    if hardware {
        flags |= libc::SOF_TIMESTAMPING_TX_HARDWARE;
    }
    crate::sys::socket::push_control_message(
        buf,
        used,
        libc::SOL_SOCKET,
        libc::SO_TIMESTAMPING,
        &flags.to_ne_bytes(),
    )
}

/// SCM_TS_OPT_ID (Linux 6.13+, not in libc yet; asm-generic's value, which x86 and arm
/// use): the OPT_ID key for one datagram, instead of the socket's counter.
const SCM_TS_OPT_ID: i32 = 81;

/// Append to `buf[used..]` the control message giving this datagram's transmit timestamp
/// the key `key` (it comes back as [`TxStamp::id`]); the socket's own counter neither
/// counts the datagram nor changes. Returns the new length used, or `used` when there is
/// no room.
pub fn write_tx_key(buf: &mut [u8], used: usize, key: u32) -> usize {
    crate::sys::socket::push_control_message(
        buf,
        used,
        libc::SOL_SOCKET,
        SCM_TS_OPT_ID,
        &key.to_ne_bytes(),
    )
}

/// What an interface's driver offers (ETHTOOL_GET_TS_INFO): whether it timestamps
/// transmitted packets in hardware, and its PTP hardware clock.
pub fn hardware_support(iface: &str) -> io::Result<Option<i32>> {
    let info = crate::sys::socket::ethtool_ts_info(iface)?;
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
        enable(&tx, TxMode::Every, false).unwrap();
        let mut queue = ErrQueue::new(2);
        let mut pending = Pending::new(8);
        for k in 0..3u8 {
            let before = crate::daemon::netio::now_ntp();
            tx.send_to(&[k; 48], rx.local_addr().unwrap()).unwrap();
            pending.sent(k, before);
        }
        let mut got = Vec::new();
        for _ in 0..100 {
            queue.drain(tx.as_raw_fd(), &mut got, 16);
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
