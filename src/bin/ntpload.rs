//! ntpload: a bounded NTP client-request load generator for benchmarking servers.
//!
//! `ntpload ADDR:PORT [--requests N] [--threads T] [--window W] [--seconds S]`
//! Each thread keeps up to W requests in flight on its own socket (batched with
//! sendmmsg/recvmmsg), stops after its share of N requests or S seconds, and counts the
//! valid replies (mode 4, origin = our transmit stamp). Prints one line of key=value pairs.
//!
//! `--nts CA_FILE [--nts-ke HOST:PORT]`: NTS requests (RFC 8915). One key exchange first
//! (TLS 1.3 to port 4460 of the target unless `--nts-ke` says otherwise, the server's
//! certificate checked against CA_FILE), then every request carries one of its cookies, a
//! unique identifier and an authenticator sealed with the C2S key, as a real client's
//! does (a server keeps no state, so a cookie may be spent more than once here). Replies
//! are counted when they are mode 4 and not a kiss (stratum 0: an NTSN); `naks=` counts
//! the kisses. Replies are not decrypted: the generator's CPU goes to sending.
//! `--key-exchanges N` (with `--nts`): only key exchanges, N of them spread over the
//! threads, each a full TLS 1.3 handshake; prints `key_exchanges=`, `ke_per_sec=`.

use anyhow::{anyhow, bail, Context};
use nix::poll::{poll, PollFd, PollFlags};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ntpkit::daemon::netio::{RecvBatch, SendBatch};

struct Args {
    target: SocketAddr,
    /// `--nts CA_FILE`, and the key-exchange address.
    nts: Option<(std::path::PathBuf, Option<String>)>,
    /// `--key-exchanges N`: only measure NTS-KE, N sessions over the threads.
    key_exchanges: u64,
    requests: u64,
    threads: usize,
    window: usize,
    seconds: f64,
    /// Requests that ask for interleaved mode (RFC 9769: an origin with the server's
    /// receive-timestamp mark, a receive field unlike the transmit one), so the server
    /// timestamps and remembers every reply.
    xleave: bool,
}

fn parse() -> anyhow::Result<Args> {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        target: "127.0.0.1:123".parse().expect("literal"),
        nts: None,
        key_exchanges: 0,
        requests: 200_000,
        threads: 2,
        window: 64,
        seconds: 30.0,
        xleave: false,
    };
    let mut target = None;
    while let Some(arg) = it.next() {
        let mut val = |name: &str| it.next().ok_or_else(|| anyhow!("{name} needs a value"));
        match arg.as_str() {
            "--requests" => a.requests = val("--requests")?.parse().context("--requests")?,
            "--threads" => a.threads = val("--threads")?.parse().context("--threads")?,
            "--window" => a.window = val("--window")?.parse().context("--window")?,
            "--seconds" => {
                a.seconds = ntpkit::apps::duration::seconds(&val("--seconds")?)
                    .context("--seconds")?
                    .as_secs_f64()
            }
            "--nts" => a.nts = Some((val("--nts")?.into(), a.nts.and_then(|n| n.1))),
            "--key-exchanges" => {
                a.key_exchanges = val("--key-exchanges")?.parse().context("--key-exchanges")?
            }
            "--nts-ke" => {
                let ke = val("--nts-ke")?;
                a.nts = Some((a.nts.map(|n| n.0).unwrap_or_default(), Some(ke)));
            }
            "--xleave" => a.xleave = true,
            s if !s.starts_with('-') => target = Some(s.parse().with_context(|| s.to_string())?),
            s => bail!("unknown option {s}"),
        }
    }
    a.target = target.ok_or_else(|| anyhow!(
        "usage: ntpload ADDR:PORT [--requests N] [--threads T] [--window W] [--seconds S] [--xleave] [--nts CA_FILE [--nts-ke HOST:PORT]]"
    ))?;
    a.threads = a.threads.clamp(1, 64);
    a.window = a.window.clamp(1, 1024);
    Ok(a)
}

/// What one key exchange gave: the C2S key and the cookies.
struct NtsSession {
    c2s: ntpkit::wire::nts::aead::AeadKey,
    cookies: Vec<Vec<u8>>,
}

/// One NTS-KE session against `ke` (blocking rustls), trusting only the certificates in
/// `ca`.
fn key_exchange(ke: &str, ca: &std::path::Path) -> anyhow::Result<NtsSession> {
    use ntpkit::wire::nts::{aead, ke as rec, ALPN, NEXT_PROTOCOL_NTPV4};
    use rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};
    use std::io::{Read, Write};
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca).with_context(|| ca.display().to_string())?;
    for c in CertificateDer::pem_slice_iter(&pem) {
        roots
            .add(c.with_context(|| ca.display().to_string())?)
            .with_context(|| ca.display().to_string())?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN.to_vec()];
    let host = ke
        .rsplit_once(':')
        .map_or(ke, |h| h.0)
        .trim_matches(['[', ']']);
    let name = ServerName::try_from(host.to_string()).with_context(|| host.to_string())?;
    let conn = rustls::ClientConnection::new(Arc::new(config), name)?;
    let tcp = std::net::TcpStream::connect(ke).with_context(|| ke.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(&rec::Request::ntpv4(&[15]).encode())
        .with_context(|| ke.to_string())?;
    let mut buf = Vec::new();
    let _ = tls.read_to_end(&mut buf);
    let resp = rec::Response::decode(&buf).with_context(|| ke.to_string())?;
    if resp.error.is_some() || resp.cookies.is_empty() {
        bail!("{ke}: no cookies ({resp:?})");
    }
    let alg = aead::Aead::from_id(resp.aead.unwrap_or(15)).context("unknown AEAD")?;
    let keys = aead::derive_keys(NEXT_PROTOCOL_NTPV4, alg, |label, ctx, out| {
        tls.conn
            .export_keying_material(out, label.as_bytes(), Some(ctx))
            .map(|_| ())
    })?;
    Ok(NtsSession {
        c2s: keys.c2s,
        cookies: resp.cookies,
    })
}

/// The request with transmit stamp (and unique identifier, and nonce) `n`.
fn nts_request(s: &NtsSession, header: &[u8; 48], n: u64) -> Vec<u8> {
    let mut uid = [0u8; 32];
    uid[..8].copy_from_slice(&n.to_be_bytes());
    let mut nonce = [0u8; 16];
    nonce[..8].copy_from_slice(&n.to_be_bytes());
    let cookie = &s.cookies[n as usize % s.cookies.len()];
    ntpkit::wire::nts::ef::build_request(header, &uid, cookie, 0, &s.c2s, &nonce)
        .expect("a valid request")
}

fn worker(
    a: &Args,
    quota: u64,
    sent_total: &AtomicU64,
    replies_total: &AtomicU64,
    deadline: Instant,
    nts: Option<&NtsSession>,
    naks_total: &AtomicU64,
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
    let (mut sent, mut replies, mut in_flight, mut naks) = (0u64, 0u64, 0usize, 0u64);
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
            match nts {
                Some(s) => send.push(&nts_request(s, &req, sent + 1), a.target, None, false),
                None => send.push(&req, a.target, None, false),
            }
            sent += 1;
            in_flight += 1;
        }
        let _ = send.flush(fd);
        let mut pfd = [PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut pfd, 5u8);
        while let Ok(n) = recv.recv(fd, false) {
            for i in 0..n {
                if let Some(p) = recv.get(i) {
                    if p.data.len() >= 48 && p.data[0] & 7 == 4 && p.data[24..32] != [0; 8] {
                        if p.data[1] == 0 && nts.is_some() {
                            naks += 1;
                        } else {
                            replies += 1;
                        }
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
    naks_total.fetch_add(naks, Ordering::Relaxed);
}

fn main() {
    let a = match parse() {
        Ok(a) => Arc::new(a),
        Err(e) => {
            eprintln!("ntpload: {e:#}");
            std::process::exit(2);
        }
    };
    if let (Some((ca, ke)), n) = (&a.nts, a.key_exchanges) {
        if n > 0 {
            let ke = ke
                .clone()
                .unwrap_or_else(|| format!("{}:4460", a.target.ip()));
            let (done, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
            let start = Instant::now();
            let deadline = start + Duration::from_secs_f64(a.seconds);
            let handles: Vec<_> = (0..a.threads as u64)
                .map(|t| {
                    let (ke, ca) = (ke.clone(), ca.clone());
                    let (done, failed) = (done.clone(), failed.clone());
                    let quota = n / a.threads as u64 + u64::from(t < n % a.threads as u64);
                    std::thread::spawn(move || {
                        for _ in 0..quota {
                            if Instant::now() > deadline {
                                break;
                            }
                            match key_exchange(&ke, &ca) {
                                Ok(_) => done.fetch_add(1, Ordering::Relaxed),
                                Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                            };
                        }
                    })
                })
                .collect();
            for h in handles {
                let _ = h.join();
            }
            let secs = start.elapsed().as_secs_f64();
            let ok = done.load(Ordering::Relaxed);
            println!(
                "key_exchanges={ok} failed={} seconds={secs:.3} ke_per_sec={:.0}",
                failed.load(Ordering::Relaxed),
                ok as f64 / secs
            );
            return;
        }
    }
    let nts = match &a.nts {
        Some((ca, ke)) => {
            let ke = ke
                .clone()
                .unwrap_or_else(|| format!("{}:4460", a.target.ip()));
            match key_exchange(&ke, ca) {
                Ok(s) => Some(Arc::new(s)),
                Err(e) => {
                    eprintln!("ntpload: NTS-KE: {e:#}");
                    std::process::exit(1);
                }
            }
        }
        None => None,
    };
    let naks = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let replies = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(a.seconds);
    let handles: Vec<_> = (0..a.threads)
        .map(|t| {
            let (a, sent, replies) = (a.clone(), sent.clone(), replies.clone());
            let (nts, naks) = (nts.clone(), naks.clone());
            let quota = a.requests / a.threads as u64
                + u64::from((t as u64) < a.requests % a.threads as u64);
            std::thread::spawn(move || {
                worker(&a, quota, &sent, &replies, deadline, nts.as_deref(), &naks)
            })
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
        "sent={s} replies={r} seconds={secs:.3} replies_per_sec={:.0} loss={:.4}{}",
        r as f64 / secs,
        1.0 - r as f64 / s.max(1) as f64,
        if nts.is_some() {
            format!(" naks={}", naks.load(Ordering::Relaxed))
        } else {
            String::new()
        }
    );
}
