//! Floods and amplification against our running ntpd (`--observe-only -n` through `Lan::spawn`: no
//! CAP_SYS_TIME). Bounded: at most 200k flood packets and about 20 s of flooding per test.
//!
//! - `restrict default limited kod`: one host floods client requests; a bystander under the
//!   same policy (NTPsec's ntpdig, at a polite rate) and a fast client on an unlimited
//!   address still get their answers, the flooder gets RATE kisses at a bounded rate, and
//!   the daemon's resident memory stays bounded — also under a flood of mode 6 and stray
//!   server-mode packets, which the serving threads hand to the main loop.
//! - The byte amplification of every unauthenticated request type, answered off-host
//!   (printed as MEASURED lines; docs/hardening.md has the table).

mod common;
use common::{lan::Lan, netns_udp, ntpd, peers};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The two floods run one at a time: together they starve the bystanders of CPU on a
/// 2-core machine, which would test the machine rather than the daemon.
static ONE_FLOOD_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

const LOCAL10: &str = "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n";

fn server() -> SocketAddr {
    "198.18.0.1:123".parse().unwrap()
}

fn request(xmt: u64) -> [u8; 48] {
    let mut r = [0u8; 48];
    r[0] = 0x23; // v4, mode 3
    r[40..48].copy_from_slice(&xmt.to_be_bytes());
    r
}

fn start(test: &str, hosts: usize, conf: &str) -> Option<(Lan, u32)> {
    if !common::needs(test, &[("ntpdig", "ntpsec-ntpdig")]) {
        return None;
    }
    let lan = common::lan_or_skip(test, hosts)?;
    let pid = ntpd::start(&lan, 1, conf, &[]);
    Some((lan, pid))
}

/// A client on `sock` asking the server with one request in flight (transmit timestamps
/// `first_xmt` + 1, + 2, …), `pause` after each, until `stop`: (asked, answered). An answer
/// is the reply to this request (origin = our transmit time).
fn one_in_flight_client(
    sock: UdpSocket,
    stop: Arc<AtomicBool>,
    first_xmt: u64,
    pause: Duration,
) -> std::thread::JoinHandle<(u64, u64)> {
    sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    std::thread::spawn(move || {
        let (mut asked, mut answered) = (0u64, 0u64);
        let mut buf = [0u8; 128];
        while !stop.load(Ordering::Relaxed) {
            asked += 1;
            let xmt = first_xmt + asked;
            sock.send_to(&request(xmt), server()).unwrap();
            let deadline = Instant::now() + Duration::from_secs(1);
            while Instant::now() < deadline {
                match sock.recv_from(&mut buf) {
                    Ok((n, _)) if n >= 48 && buf[24..32] == xmt.to_be_bytes() => {
                        answered += 1;
                        break;
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            std::thread::sleep(pause);
        }
        (asked, answered)
    })
}

/// Counts what comes back to the flooder's `sock` until `stop`: (RATE kisses, other replies).
fn count_replies(
    sock: UdpSocket,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(usize, usize)> {
    std::thread::spawn(move || {
        let (mut kisses, mut other) = (0, 0);
        let mut buf = [0u8; 128];
        while !stop.load(Ordering::Relaxed) {
            if let Ok((n, _)) = sock.recv_from(&mut buf) {
                if n >= 48 && buf[1] == 0 && &buf[12..16] == b"RATE" {
                    kisses += 1;
                } else {
                    other += 1;
                }
            }
        }
        (kisses, other)
    })
}

/// Send `total` datagrams made by `make(i)` at about `per_sec`, from `sock`.
fn flood(sock: &UdpSocket, total: usize, per_sec: usize, make: impl Fn(usize) -> Vec<u8>) {
    let start = Instant::now();
    let to = server();
    for i in 0..total {
        let _ = sock.send_to(&make(i), to);
        if i % 100 == 99 {
            let due = Duration::from_secs_f64((i + 1) as f64 / per_sec as f64);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
}

#[test]
fn root_netns_flood_limited_kod_keeps_serving_others_with_bounded_kisses_and_memory() {
    let test = "root_netns_flood_limited_kod_keeps_serving_others_with_bounded_kisses_and_memory";
    let _alone = ONE_FLOOD_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let conf =
        format!("restrict default limited kod\nrestrict 127.0.0.1\nrestrict 198.18.0.4\n{LOCAL10}");
    let Some((lan, pid)) = start(test, 4, &conf) else {
        return;
    };
    peers::wait_serving(&lan, 4, "198.18.0.1", Duration::from_secs(20))
        .unwrap_or_else(|| panic!("not serving:\n{}", lan.log(1, "ntpkit.log")));
    let rss_before = common::rss_kib(pid);

    let stop = Arc::new(AtomicBool::new(false));
    // host 3: NTPsec's ntpdig every 4 s, under the same `limited kod` policy as the flooder
    let polite = {
        let (ns, stop) = (lan.host(3).ns.clone(), stop.clone());
        std::thread::spawn(move || {
            let (mut asked, mut answered) = (0, 0);
            while !stop.load(Ordering::Relaxed) {
                let out = std::process::Command::new("ip")
                    .args(["netns", "exec", &ns, "ntpdig", "-t", "2", "198.18.0.1"])
                    .output()
                    .expect("ntpdig");
                asked += 1;
                if out.status.success() && String::from_utf8_lossy(&out.stdout).contains(" s11 ") {
                    answered += 1;
                }
                std::thread::sleep(Duration::from_secs(4));
            }
            (asked, answered)
        })
    };
    // host 4: a fast client on an address without `limited`, one request in flight
    let fast = one_in_flight_client(
        netns_udp::socket_in(&lan.host(4).ns),
        stop.clone(),
        0x5000_0000_0000_0000,
        Duration::from_millis(10),
    );
    // host 2: the flooder, counting what comes back
    let flooder = netns_udp::socket_in(&lan.host(2).ns);
    let listener = count_replies(flooder.try_clone().unwrap(), stop.clone());
    let flood_start = Instant::now();
    // 150k client requests over about 15 s
    flood(&flooder, 150_000, 10_000, |i| request(i as u64).to_vec());
    let flood_secs = flood_start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(1));
    let rss_client_flood = common::rss_kib(pid);
    // 50k mode 6 requests and stray server replies: these go to the main loop
    flood(&flooder, 50_000, 10_000, |i| {
        if i % 2 == 0 {
            let mut p = vec![0x16, 0x02, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
            p[2..4].copy_from_slice(&(i as u16).to_be_bytes());
            p
        } else {
            let mut p = request(i as u64).to_vec();
            p[0] = 0x24;
            p
        }
    });
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let (polite_asked, polite_answered) = polite.join().unwrap();
    let (fast_asked, fast_answered) = fast.join().unwrap();
    let (kisses, other) = listener.join().unwrap();
    let rss_after = common::rss_kib(pid);
    eprintln!(
        "MEASURED: flood of 150k requests in {flood_secs:.1} s + 50k mode 6/mode 4; flooder got \
         {kisses} RATE kisses and {other} other replies; polite client {polite_answered}/{polite_asked}; \
         fast client {fast_answered}/{fast_asked}; RSS {rss_before} → {rss_client_flood} → {rss_after} KiB"
    );
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "{}",
        lan.log(1, "ntpkit.log")
    );
    assert!(
        polite_asked >= 3 && polite_answered == polite_asked,
        "polite client: {polite_answered}/{polite_asked}"
    );
    assert!(
        fast_asked >= 100 && fast_answered * 100 >= fast_asked * 99,
        "fast client: {fast_answered}/{fast_asked}"
    );
    // ntpd's leaky bucket (`discard average 3`): a KoD at most once per 8 s headway of the
    // flood, plus the one that starts it (a steady flood never drains the bucket at all)
    let bound = 2 + (flood_secs / 8.0).ceil() as usize;
    assert!(
        (1..=bound).contains(&kisses),
        "{kisses} kisses (bound {bound})"
    );
    // mode 6 answers are rate limited per source (32 at once, 8/s) and time answers only
    // until the bucket fills
    assert!(
        other <= 100 + 10 * (flood_secs as usize + 10),
        "{other} other replies to the flooder"
    );
    assert!(
        rss_after <= rss_before + 32 * 1024,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );
}

/// Send one request from `sock` and add up every byte that comes back within a second.
fn answer_bytes(sock: &UdpSocket, req: &[u8]) -> (usize, usize) {
    sock.send_to(req, server()).unwrap();
    let mut buf = [0u8; 2048];
    let (mut n, mut bytes) = (0, 0);
    sock.set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    while let Ok((len, _)) = sock.recv_from(&mut buf) {
        n += 1;
        bytes += len;
    }
    (n, bytes)
}

fn mode6(opcode: u8, seq: u16, assoc: u16, data: &[u8]) -> Vec<u8> {
    let mut p = vec![0x16, opcode];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&assoc.to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&(data.len() as u16).to_be_bytes());
    p.extend_from_slice(data);
    while p.len() % 4 != 0 {
        p.push(0);
    }
    p
}

#[test]
fn root_netns_flood_amplification_of_every_unauthenticated_request() {
    let test = "root_netns_flood_amplification_of_every_unauthenticated_request";
    // mode 6 open to the LAN (the default without `noquery`) to measure it at all
    let Some((lan, _pid)) = start(test, 3, LOCAL10) else {
        return;
    };
    peers::wait_serving(&lan, 3, "198.18.0.1", Duration::from_secs(20))
        .unwrap_or_else(|| panic!("not serving:\n{}", lan.log(1, "ntpkit.log")));
    // a few clients in the MRU list, as on a real server
    for _ in 0..3 {
        let _ = lan.run(3, &["ntpdig", "-t", "1", "198.18.0.1"]);
    }
    let sock = netns_udp::socket_in(&lan.host(2).ns);
    let mut rows: Vec<(String, usize, usize, usize)> = Vec::new();
    let mut measure = |name: &str, req: Vec<u8>| {
        let (n, bytes) = answer_bytes(&sock, &req);
        rows.push((name.to_string(), req.len(), n, bytes));
        std::thread::sleep(Duration::from_millis(300));
        (n, bytes)
    };
    let mode3 = measure("mode 3 client request", request(1).to_vec());
    let mut v1 = request(2).to_vec();
    v1[0] = 0x08; // NTPv1, mode 0
    measure("mode 0 (NTPv1 client)", v1);
    let mut sym = request(3).to_vec();
    sym[0] = 0x21;
    let mode1 = measure("mode 1 symmetric active", sym);
    let mut monlist = vec![0x17, 0x00, 0x03, 0x2a];
    monlist.resize(48, 0);
    let mode7 = measure("mode 7 MON_GETLIST (monlist)", monlist);
    let mut ef = request(4).to_vec();
    ef.extend_from_slice(&[0x01, 0x04, 0x00, 0x20]);
    ef.resize(48 + 32, 0);
    measure("mode 3 + 32-byte extension field", ef);
    measure("mode 6 UNSPEC (no-op)", mode6(0, 1, 0, &[]));
    measure("mode 6 READSTAT assoc 0", mode6(1, 2, 0, &[]));
    measure(
        "mode 6 READVAR assoc 0 (all system vars)",
        mode6(2, 3, 0, &[]),
    );
    measure(
        "mode 6 READVAR assoc 1 (all peer vars)",
        mode6(2, 4, 1, &[]),
    );
    measure("mode 6 READCLOCK", mode6(4, 5, 0, &[]));
    let nonce = measure("mode 6 REQ_NONCE", mode6(12, 6, 0, &[]));
    // READ_MRU needs the nonce just handed out: fetch it again and use it
    sock.send_to(&mode6(12, 7, 0, &[]), server()).unwrap();
    let mut buf = [0u8; 512];
    sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let (n, _) = sock.recv_from(&mut buf).expect("nonce");
    let text = String::from_utf8_lossy(&buf[12..n]).into_owned();
    let nonce_value = text
        .trim_matches(char::from(0))
        .trim()
        .trim_start_matches("nonce=")
        .trim()
        .to_string();
    let mru_req = format!("nonce={nonce_value}, frags=32");
    measure(
        "mode 6 READ_MRU (frags=32)",
        mode6(10, 8, 0, mru_req.as_bytes()),
    );
    let mru_req = format!("nonce={nonce_value}, limit=100");
    measure(
        "mode 6 READ_MRU (limit=100)",
        mode6(10, 9, 0, mru_req.as_bytes()),
    );

    for (name, req, n, bytes) in &rows {
        eprintln!(
            "MEASURED: amplification | {name} | {req} B | {n} datagrams, {bytes} B | {:.2}",
            *bytes as f64 / *req as f64
        );
    }
    assert!(nonce.0 == 1, "REQ_NONCE answered: {rows:?}");
    // time requests: exactly one reply, never bigger than the request
    assert_eq!(mode3, (1, 48), "{rows:?}");
    assert!(mode1.1 <= 48, "{rows:?}");
    for (name, req, _, bytes) in &rows {
        if name.starts_with("mode 3") || name.starts_with("mode 0") || name.starts_with("mode 1") {
            assert!(bytes <= req, "{name}: {bytes} B for {req} B");
        }
    }
    // no mode 7 at all
    assert_eq!(mode7, (0, 0), "{rows:?}");
}

/// Send `data` to `dst` from the local address `src` (IP_PKTINFO), on a wildcard socket:
/// one socket speaks for every address of the flooder's `local` /16 route.
fn send_from(sock: &UdpSocket, src: std::net::Ipv4Addr, dst: SocketAddr, data: &[u8]) -> bool {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, SockaddrIn};
    use std::os::fd::AsRawFd;
    let SocketAddr::V4(dst) = dst else {
        return false;
    };
    let info = libc::in_pktinfo {
        ipi_ifindex: 0,
        ipi_spec_dst: libc::in_addr {
            s_addr: u32::from(src).to_be(),
        },
        ipi_addr: libc::in_addr { s_addr: 0 },
    };
    sendmsg(
        sock.as_raw_fd(),
        &[std::io::IoSlice::new(data)],
        &[ControlMessage::Ipv4PacketInfo(&info)],
        MsgFlags::empty(),
        Some(&SockaddrIn::from(dst)),
    )
    .is_ok()
}

/// Rows of an `mrulist` table (after its `=====` rule), by the ntpq given in `argv`.
fn mrulist_rows(lan: &Lan, argv: &[&str]) -> Vec<String> {
    let mut args = argv.to_vec();
    args.extend(["-n", "-c", "mrulist", "127.0.0.1"]);
    let out = lan.run(1, &args);
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<String> = text
        .lines()
        .skip_while(|l| !l.starts_with("====="))
        .skip(1)
        // NTPsec ends with "# Collected N slots …" lines
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    assert!(
        text.contains("====="),
        "no mrulist from {argv:?}:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    rows
}

#[test]
fn root_netns_flood_from_thousands_of_sources_stays_bounded_by_the_mru_cap() {
    let test = "root_netns_flood_from_thousands_of_sources_stays_bounded_by_the_mru_cap";
    let _alone = ONE_FLOOD_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    const SOURCES: usize = 5000;
    const BURST: usize = 5;
    const PASSES: usize = 4;
    const MRU_DEPTH: u64 = 2000;
    if !common::needs(test, &[("ntpq", "ntpsec")]) {
        return;
    }
    let conf = format!(
        "restrict default limited kod\nrestrict 127.0.0.1\nrestrict 198.18.0.3\n\
         mru maxdepth {MRU_DEPTH}\n{LOCAL10}"
    );
    let Some((lan, pid)) = start(test, 3, &conf) else {
        return;
    };
    // host 2 owns 198.19.0.0/16 (a `local` route: it may send from and receive at any
    // address in it), and the server routes that /16 back through it
    let routes = [
        (
            2,
            vec!["ip", "route", "add", "local", "198.19.0.0/16", "dev", "lo"],
        ),
        (
            1,
            vec!["ip", "route", "add", "198.19.0.0/16", "via", "198.18.0.2"],
        ),
    ];
    for (host, argv) in routes {
        let out = lan.run(host, &argv);
        assert!(out.status.success(), "{argv:?}: {out:?}");
    }
    peers::wait_serving(&lan, 3, "198.18.0.1", Duration::from_secs(20))
        .unwrap_or_else(|| panic!("not serving:\n{}", lan.log(1, "ntpkit.log")));
    let bin = common::ntpkit_bin();
    let ours = [bin.to_str().unwrap(), "ntpq"];
    let rss_before = common::rss_kib(pid);

    let stop = Arc::new(AtomicBool::new(false));
    // host 3: a fast legitimate client (its address is not `limited`), one request in flight
    let legit = one_in_flight_client(
        netns_udp::socket_in(&lan.host(3).ns),
        stop.clone(),
        0x6000_0000_0000_0000,
        Duration::from_millis(20),
    );
    // host 2: the flooder; one wildcard socket sends from every source and hears every reply
    let flooder = netns_udp::socket_in(&lan.host(2).ns);
    let listener = count_replies(flooder.try_clone().unwrap(), stop.clone());
    let source =
        |i: usize| std::net::Ipv4Addr::new(198, 19, 1 + (i / 200) as u8, 1 + (i % 200) as u8);
    // bursts of BURST requests per source, sources in turn, PASSES times: 100k packets at
    // about 10k/s; with more sources than the MRU holds, each pass finds them forgotten
    let total = SOURCES * BURST * PASSES;
    let per_sec = 10_000.0;
    let (mut sent, mut failed) = (0usize, 0usize);
    let flood_start = Instant::now();
    for k in 0..total {
        let i = (k / BURST) % SOURCES;
        if send_from(&flooder, source(i), server(), &request(k as u64 + 1)) {
            sent += 1;
        } else {
            failed += 1;
        }
        if k % 100 == 99 {
            let due = Duration::from_secs_f64((k + 1) as f64 / per_sec);
            if let Some(wait) = due.checked_sub(flood_start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    let flood_secs = flood_start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let (asked, answered) = legit.join().unwrap();
    let (kisses, time_replies) = listener.join().unwrap();
    let rss_after = common::rss_kib(pid);

    let monstats = lan.run(
        1,
        &[
            ours[0],
            ours[1],
            "-c",
            "monstats",
            "-c",
            "sysstats",
            "-c",
            "iostats",
            "127.0.0.1",
        ],
    );
    let monstats = String::from_utf8_lossy(&monstats.stdout).into_owned();
    let figure = |label: &str| -> u64 {
        monstats
            .lines()
            .find(|l| l.starts_with(label))
            .and_then(|l| l[label.len()..].split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {label:?} in\n{monstats}"))
    };
    let (depth, cap, recycled) = (
        figure("addresses in use:"),
        figure("maximum addresses:"),
        figure("alloc: recycle full:"),
    );
    // every reply the flooder and the client got went through the serving threads' sends
    let sent_by_daemon = figure("packets sent:");
    assert!(
        sent_by_daemon >= (time_replies + kisses) as u64 + answered,
        "iostats packets sent {sent_by_daemon}\n{monstats}"
    );
    let theirs = mrulist_rows(&lan, &["ntpq"]);
    let mine = mrulist_rows(&lan, &ours);
    eprintln!(
        "MEASURED: flood of {sent} requests from {SOURCES} sources ({BURST} a burst, {PASSES} \
         passes) in {flood_secs:.1} s ({failed} not sent); flooder got {time_replies} time \
         replies and {kisses} RATE kisses; legitimate client {answered}/{asked}; RSS \
         {rss_before} → {rss_after} KiB; MRU {depth}/{cap} entries, {recycled} recycled; \
         mrulist rows: NTPsec ntpq {}, ours {}",
        theirs.len(),
        mine.len()
    );

    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "{}",
        lan.log(1, "ntpkit.log")
    );
    assert!(sent >= total * 99 / 100, "only {sent} of {total} sent");
    assert!(
        asked >= 100 && answered * 100 >= asked * 99,
        "legitimate client: {answered}/{asked}"
    );
    // the cap holds, it was reached, and both ntpqs see no more than it
    assert!(
        (MRU_DEPTH / 2..=MRU_DEPTH).contains(&cap),
        "cap {cap}\n{monstats}"
    );
    assert!(depth <= cap && depth >= cap * 9 / 10, "depth {depth}/{cap}");
    assert!(recycled as usize >= SOURCES - cap as usize, "{monstats}");
    for rows in [&theirs, &mine] {
        assert!(
            rows.len() as u64 <= cap && rows.len() as u64 >= cap * 9 / 10,
            "{} rows: first {:?} last {:?}",
            rows.len(),
            &rows[..3.min(rows.len())],
            &rows[rows.len().saturating_sub(5)..]
        );
    }
    // the flood's sources are what fills the list, newest first
    assert!(mine.iter().filter(|r| r.contains("198.19.")).count() as u64 >= cap * 9 / 10);
    // a burst earns at most one answer and one kiss per source while the MRU remembers it
    // (a forgotten source is a new one): never more than 2 of every BURST packets
    let bursts = SOURCES * PASSES;
    assert!(
        time_replies <= bursts + 100,
        "{time_replies} time replies for {bursts} bursts"
    );
    assert!(kisses <= bursts, "{kisses} kisses for {bursts} bursts");
    assert!(
        kisses >= bursts / 2,
        "{kisses} kisses: rate limiting never tripped?"
    );
    // memory: the MRU's own budget plus slack, whatever the number of sources
    assert!(
        rss_after <= rss_before + 16 * 1024,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );
}
