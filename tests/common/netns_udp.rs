//! UDP sockets that live in a LAN host's network namespace, opened from the test process
//! itself: a helper thread enters the namespace (setns), binds, and hands the socket back.
//! A socket keeps the namespace it was created in, so the test can then send from host N
//! at full speed without a helper program.

use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::time::Duration;

/// A UDP socket bound to `0.0.0.0:0` inside namespace `ns` (as `ip netns` names it).
pub fn socket_in(ns: &str) -> UdpSocket {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // only this thread moves; the socket stays in the namespace after it exits
        let rc = rustix::thread::move_into_link_name_space(
            f.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        );
        rc.unwrap_or_else(|e| panic!("setns {path}: {e}"));
        let s = UdpSocket::bind("0.0.0.0:0").expect("bind in namespace");
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        s
    })
    .join()
    .expect("namespace thread")
}

/// Everything waiting on `sock` until it stays quiet for its read timeout: (datagrams, bytes,
/// the datagrams themselves up to `keep`).
pub fn drain(sock: &UdpSocket, keep: usize) -> (usize, usize, Vec<Vec<u8>>) {
    let mut buf = [0u8; 65536];
    let (mut n, mut bytes, mut kept) = (0, 0, Vec::new());
    while let Ok((len, _)) = sock.recv_from(&mut buf) {
        n += 1;
        bytes += len;
        if kept.len() < keep {
            kept.push(buf[..len].to_vec());
        }
    }
    (n, bytes, kept)
}

/// A 64-bit NTP timestamp field of a packet.
pub fn ts(b: &[u8]) -> u64 {
    u64::from_be_bytes(b.try_into().unwrap())
}

/// A v4 client request (mode 3) with the given origin, receive and transmit fields: what
/// an interleaved-mode client sends (RFC 9769), written by hand to test a server's answers.
pub fn request(org: u64, rec: u64, xmt: u64) -> [u8; 48] {
    let mut r = [0u8; 48];
    r[0] = 0x23; // v4, mode 3
    r[24..32].copy_from_slice(&org.to_be_bytes());
    r[32..40].copy_from_slice(&rec.to_be_bytes());
    r[40..48].copy_from_slice(&xmt.to_be_bytes());
    r
}
