//! ntpload: a bounded NTP client-request load generator for benchmarking servers.
//!
//! `ntpload ADDR:PORT [--requests N] [--threads T] [--window W] [--seconds S]`
//! Each thread keeps up to W requests in flight on its own socket (batched with
//! sendmmsg/recvmmsg), stops after its share of N requests or S seconds, and counts the
//! valid replies (mode 4, origin = our transmit stamp). Prints one line of key=value pairs.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ntpkit::daemon::netio::{RecvBatch, SendBatch};

struct Args {
    target: SocketAddr,
    requests: u64,
    threads: usize,
    window: usize,
    seconds: f64,
    /// Requests that ask for interleaved mode (RFC 9769: an origin with the server's
    /// receive-timestamp mark, a receive field unlike the transmit one), so the server
    /// timestamps and remembers every reply.
    xleave: bool,
}

fn parse() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        target: "127.0.0.1:123".parse().expect("literal"),
        requests: 200_000,
        threads: 2,
        window: 64,
        seconds: 30.0,
        xleave: false,
    };
    let mut target = None;
    while let Some(arg) = it.next() {
        let mut val = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--requests" => {
                a.requests = val("--requests")?
                    .parse()
                    .map_err(|e| format!("--requests: {e}"))?
            }
            "--threads" => {
                a.threads = val("--threads")?
                    .parse()
                    .map_err(|e| format!("--threads: {e}"))?
            }
            "--window" => {
                a.window = val("--window")?
                    .parse()
                    .map_err(|e| format!("--window: {e}"))?
            }
            "--seconds" => {
                a.seconds = val("--seconds")?
                    .parse()
                    .map_err(|e| format!("--seconds: {e}"))?
            }
            "--xleave" => a.xleave = true,
            s if !s.starts_with('-') => target = Some(s.parse().map_err(|e| format!("{s}: {e}"))?),
            s => return Err(format!("unknown option {s}")),
        }
    }
    a.target = target.ok_or(
        "usage: ntpload ADDR:PORT [--requests N] [--threads T] [--window W] [--seconds S] [--xleave]",
    )?;
    a.threads = a.threads.clamp(1, 64);
    a.window = a.window.clamp(1, 1024);
    Ok(a)
}

fn worker(
    a: &Args,
    quota: u64,
    sent_total: &AtomicU64,
    replies_total: &AtomicU64,
    deadline: Instant,
) {
    let local = if a.target.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let Ok(sock) = UdpSocket::bind(local) else {
        return;
    };
    let _ = sock.set_nonblocking(true);
    let fd = sock.as_raw_fd();
    let mut send = SendBatch::new(32);
    let mut recv = RecvBatch::new(64);
    let (mut sent, mut replies, mut in_flight) = (0u64, 0u64, 0usize);
    let mut last_progress = Instant::now();
    let mut req = [0u8; 48];
    req[0] = (4 << 3) | 3;
    while (sent < quota || in_flight > 0) && Instant::now() < deadline {
        while sent < quota && in_flight < a.window && !send.is_full() {
            // the transmit timestamp is just a counter: replies must echo it as origin
            req[40..48].copy_from_slice(&(sent + 1).to_be_bytes());
            if a.xleave {
                req[24..32].copy_from_slice(&((sent << 1) | 1).to_be_bytes());
                req[32..40].copy_from_slice(&(sent + 7).to_be_bytes());
            }
            send.push(&req, a.target, None, false);
            sent += 1;
            in_flight += 1;
        }
        let _ = send.flush(fd);
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        unsafe { libc::poll(&mut pfd, 1, 5) };
        while let Ok(n) = recv.recv(fd, false) {
            for i in 0..n {
                if let Some(p) = recv.get(i) {
                    if p.data.len() >= 48 && p.data[0] & 7 == 4 && p.data[24..32] != [0; 8] {
                        replies += 1;
                    }
                }
            }
            in_flight = in_flight.saturating_sub(n);
            last_progress = Instant::now();
        }
        // replies that never come (drops) must not stall the window forever
        if last_progress.elapsed() > Duration::from_millis(50) {
            in_flight = 0;
            last_progress = Instant::now();
        }
    }
    sent_total.fetch_add(sent, Ordering::Relaxed);
    replies_total.fetch_add(replies, Ordering::Relaxed);
}

fn main() {
    let a = match parse() {
        Ok(a) => Arc::new(a),
        Err(e) => {
            eprintln!("ntpload: {e}");
            std::process::exit(2);
        }
    };
    let sent = Arc::new(AtomicU64::new(0));
    let replies = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(a.seconds);
    let handles: Vec<_> = (0..a.threads)
        .map(|t| {
            let (a, sent, replies) = (a.clone(), sent.clone(), replies.clone());
            let quota = a.requests / a.threads as u64
                + u64::from((t as u64) < a.requests % a.threads as u64);
            std::thread::spawn(move || worker(&a, quota, &sent, &replies, deadline))
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    let secs = start.elapsed().as_secs_f64();
    let (s, r) = (
        sent.load(Ordering::Relaxed),
        replies.load(Ordering::Relaxed),
    );
    println!(
        "sent={s} replies={r} seconds={secs:.3} replies_per_sec={:.0} loss={:.4}",
        r as f64 / secs,
        1.0 - r as f64 / s.max(1) as f64
    );
}
