//! Basic-mode transmit timestamps that say when the reply left (src/daemon/tx_predict.rs).
//!
//! Host 1 serves (our ntpd, observe-only, without CAP_SYS_TIME); the test process talks to
//! it from host 2. What is checked is the thing predicted: the transmit timestamp a basic
//! reply carries against the kernel's transmit time of that very reply, which the server
//! itself hands out one exchange later in interleaved mode (RFC 9769). Each cycle (every
//! 200 ms, so the server idles between requests, as with every real basic client):
//!
//! - a plain basic request (the kind the server probes to learn its send latency);
//! - 100 ms later a request that asks for interleaved mode with an origin the server never
//!   sent: its reply is basic, carries a written transmit timestamp W, and the server
//!   remembers the kernel's transmit time K of it;
//! - right after, a request whose origin is that reply's receive timestamp: its reply
//!   carries K.
//!
//! Before the server predicted, W was read ~10–13 µs before K (the send system call, the
//! veth driver); now the median |W − K| must be under 3 µs. Unlike an offset measured by a
//! client, this does not depend on how symmetric the two legs through the bridge are on a
//! loaded machine.

mod common;
use common::netns_udp::{request, ts};
use common::{netns_udp, ntpd};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

const TEST: &str = "root_netns_tx_predict_basic_replies_carry_the_departure_time";
const LOCAL10: &str = "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n";

/// One request and its reply's (receive, transmit) fields; None when it got lost. The
/// reply is the one whose origin echoes `echo` (stale datagrams are skipped).
fn exchange(sock: &UdpSocket, to: SocketAddr, req: &[u8; 48], echo: u64) -> Option<(u64, u64)> {
    sock.send_to(req, to).ok()?;
    let mut buf = [0u8; 512];
    for _ in 0..5 {
        let (n, _) = sock.recv_from(&mut buf).ok()?;
        if n >= 48 && buf[0] & 7 == 4 && ts(&buf[24..32]) == echo {
            return Some((ts(&buf[32..40]), ts(&buf[40..48])));
        }
    }
    None
}

/// W − K in µs for one cycle (see the module comment), or None.
fn cycle(sock: &UdpSocket, server: SocketAddr, seq: u64) -> Option<f64> {
    let xmt = |k: u64| 0x1234_0000_0000_0000u64 | (seq << 4) | k;
    exchange(sock, server, &request(0, 0, xmt(1)), xmt(1))?;
    std::thread::sleep(Duration::from_millis(100));
    // an origin with the server's receive mark that it never sent: a basic reply
    let (rx_w, w) = exchange(sock, server, &request(xmt(2) | 1, xmt(3), xmt(4)), xmt(4))?;
    // its receive timestamp as origin: the interleaved reply carries K of that reply
    let (_, k) = exchange(sock, server, &request(rx_w, xmt(5), xmt(6)), xmt(5))?;
    Some((w.wrapping_sub(k) as i64) as f64 / 4_294_967_296.0 * 1e6)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[test]
fn root_netns_tx_predict_basic_replies_carry_the_departure_time() {
    let Some(lan) = common::lan_or_skip(TEST, 2) else {
        return;
    };
    ntpd::start(&lan, 1, &format!("{LOCAL10}restrict default\n"), &[]);
    let sock = netns_udp::socket_in(&lan.host(2).ns);
    let server: SocketAddr = "198.18.0.1:123".parse().unwrap();
    let up = lan.wait_for(Duration::from_secs(15), || {
        exchange(&sock, server, &request(0, 0, 7), 7)
    });
    assert!(up.is_some(), "no reply; log:\n{}", lan.log(1, "ntpkit.log"));
    // the first cycles teach the server (five probes of a class, at most one per 100 ms)
    let mut errors = Vec::new();
    for seq in 1..=50u64 {
        std::thread::sleep(Duration::from_millis(100));
        if let Some(e) = cycle(&sock, server, seq) {
            if seq > 15 {
                errors.push(e);
            }
        }
    }
    assert!(errors.len() >= 20, "only {} cycles completed", errors.len());
    let med = median(&mut errors.clone());
    let mut abs: Vec<f64> = errors.iter().map(|e| e.abs()).collect();
    let med_abs = median(&mut abs);
    let vars = ntpd::our_ntpq_text(&lan, 1, &["-c", "rv 0 tx_latency,tx_probes", "127.0.0.1"]);
    let probes = ntpd::numeric_var(&vars, "tx_probes").unwrap_or(0);
    let latency_ms: f64 = vars
        .split(|c: char| c == ',' || c.is_whitespace())
        .find_map(|w| w.strip_prefix("tx_latency="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    eprintln!(
        "{TEST}: {} cycles, written − kernel transmit time: median {med:+.2} µs, median |·| {med_abs:.2} µs; server: {}",
        errors.len(),
        vars.trim()
    );
    assert!(probes >= 5, "the server probed too little: {vars}");
    assert!(
        latency_ms > 0.0 && latency_ms <= 0.1,
        "learnt send latency out of its bounds: {vars}"
    );
    assert!(
        med_abs < 3.0,
        "basic transmit timestamps still off the kernel's: median |W − K| {med_abs:.2} µs (median {med:+.2} µs); {vars}"
    );
}
