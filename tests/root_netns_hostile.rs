//! Hostile input against our running ntpd: one LAN host throws malformed, truncated,
//! wrong-version, badly authenticated, mode 7 and mode 6 garbage (a few thousand datagrams,
//! up to the UDP maximum) at it while another host keeps asking NTPsec's ntpdig for the
//! time. The daemon must stay up, keep answering the good client, answer none of the junk,
//! and count what it dropped in the `ss_*` variables (`ntpq -c sysstats`).
//!
//! Our ntpd runs `--observe-only -n` through `Lan::spawn`: no CAP_SYS_TIME, observe-only.

mod common;
use common::{lan::Lan, netns_udp, ntpd, peers};
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const SERVER: &str = "198.18.0.1:123";

/// A small deterministic generator: the junk is the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn header(version: u8, mode: u8) -> Vec<u8> {
    let mut h = vec![0u8; 48];
    h[0] = (version << 3) | mode;
    h[2] = 6;
    h[40..48].copy_from_slice(&0x1234_5678_9abc_def0u64.to_be_bytes());
    h
}

fn mode6(version: u8, flags_opcode: u8, seq: u16, assoc: u16, offset: u16, count: u16) -> Vec<u8> {
    let mut p = vec![(version << 3) | 6, flags_opcode];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&assoc.to_be_bytes());
    p.extend_from_slice(&offset.to_be_bytes());
    p.extend_from_slice(&count.to_be_bytes());
    p
}

/// The junk, by the `ss_*` counter each kind must land in.
#[derive(Default)]
struct Junk {
    by_counter: HashMap<&'static str, Vec<Vec<u8>>>,
}

impl Junk {
    fn add(&mut self, counter: &'static str, p: Vec<u8>) {
        self.by_counter.entry(counter).or_default().push(p);
    }
    fn count(&self, counter: &str) -> usize {
        self.by_counter.get(counter).map_or(0, |v| v.len())
    }
    fn total(&self) -> usize {
        self.by_counter.values().map(|v| v.len()).sum()
    }
}

fn build_junk() -> Junk {
    let mut j = Junk::default();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // every mode, truncated anywhere inside the header (mode 6 goes to the control server)
    for mode in 0..8u8 {
        for len in [0usize, 1, 2, 3, 4, 8, 12, 16, 20, 24, 32, 40, 44, 47] {
            let mut p = header(4, mode);
            p.truncate(len);
            let counter = match (len, mode) {
                (0, _) => "ss_badformat",
                (_, 6) => "ss_numctlreq",
                _ => "ss_badformat",
            };
            j.add(counter, p);
        }
        // wrong versions, full length
        for version in [0u8, 5, 6, 7] {
            let counter = if mode == 6 {
                "ss_numctlreq"
            } else {
                "ss_badformat"
            };
            j.add(counter, header(version, mode));
        }
    }
    // modes nobody may ask us in: mode 7 (ntpdc; the monlist request of the 2014
    // amplification attacks, bare and padded) and mode 0 above NTPv1
    let monlist = vec![0x17, 0x00, 0x03, 0x2a, 0, 0, 0, 0];
    j.add("ss_badformat", monlist.clone());
    let mut padded = monlist.clone();
    padded.resize(48, 0);
    for _ in 0..50 {
        j.add("ss_declined", padded.clone());
        j.add("ss_declined", header(4, 7));
        j.add("ss_declined", header(3, 0));
    }
    // extension fields: lengths too big, zero, too small, unaligned; trailers of every size
    for ef_len in [0u16, 2, 3, 4, 7, 0xfff8, 0xffff, 64, 1000] {
        let mut p = header(4, 3);
        p.extend_from_slice(&0x0104u16.to_be_bytes());
        p.extend_from_slice(&ef_len.to_be_bytes());
        p.extend(rng.bytes(56));
        j.add("ss_badformat|ss_badauth", p);
    }
    for extra in [1usize, 2, 3, 5, 7, 9, 13, 17, 21, 23, 27, 30] {
        let mut p = header(4, 3);
        p.extend(rng.bytes(extra));
        j.add("ss_badformat", p);
    }
    for _ in 0..100 {
        let mut p = header(4, 3);
        let n = 4 * (6 + (rng.next() % 200) as usize);
        p.extend(rng.bytes(n));
        // a garbage trailer may happen to parse as fields plus a MAC: then the MAC fails
        j.add("ss_badformat|ss_badauth", p);
    }
    // MACs: wrong digest for trusted key 1 (MD5) and 2 (SHA-1), unknown and untrusted
    // key ids, and a crypto-NAK from a "client"
    for i in 0..100u32 {
        for (key, len) in [(1u32, 16usize), (2, 20), (999 + i, 16), (3, 16), (0, 0)] {
            let mut p = header(4, 3);
            p.extend_from_slice(&key.to_be_bytes());
            p.extend(rng.bytes(len));
            j.add("ss_badauth", p);
        }
    }
    // mode 6: response/error/more bits set, fragments at nonsense offsets, counts beyond
    // the datagram, unknown opcodes, unaligned lengths, bad associations
    for i in 0..60u16 {
        for p in [
            mode6(2, 0x80 | 2, i, 0, 0, 0),
            mode6(2, 0x40 | 2, i, 0, 0, 0),
            mode6(2, 0x20 | 2, i, 0, 0, 0),
            mode6(2, 2, i, 0, 468 * (i % 5 + 1), 4),
            mode6(2, 2, i, 0, 0xfffc, 0xffff),
            mode6(2, 2, i, 0, 0, 500),
            mode6(2, 31, i, 0, 0, 0),
            mode6(2, 2, i, 0xffff, 0, 0),
            mode6(2, 10, i, 0, 0, 0),
            {
                let mut p = mode6(2, 2, i, 0, 0, 5);
                p.extend_from_slice(b"abcde");
                p
            },
            {
                let mut p = mode6(4, 2, i, 0, 0, 40);
                p.extend(rng.bytes(40));
                p
            },
        ] {
            j.add("ss_numctlreq", p);
        }
    }
    // zero-length and one-byte datagrams
    for _ in 0..200 {
        j.add("ss_badformat", Vec::new());
        j.add("ss_badformat", vec![(rng.next() as u8) & !7]);
    }
    // random junk of random length, never mode 6 and never a valid version
    for _ in 0..1000 {
        let n = (rng.next() % 600) as usize + 1;
        let mut p = rng.bytes(n);
        p[0] = (p[0] & !0x3f) | (5 + (rng.next() % 3) as u8) << 3 | (rng.next() % 6) as u8;
        j.add("ss_badformat", p);
    }
    // datagrams up to the UDP maximum, one with a valid-looking header in front
    for (len, first) in [
        (65507usize, 0x23u8),
        (65507, 0x3d),
        (9000, 0x16),
        (1500, 0x2f),
    ] {
        let mut p = rng.bytes(len);
        p[0] = first;
        let counter = if first & 7 == 6 {
            "ss_numctlreq"
        } else {
            "ss_badformat|ss_badauth"
        };
        for _ in 0..5 {
            j.add(counter, p.clone());
        }
    }
    j
}

/// `rv 0 names` by our ntpq on the daemon's host: name → value.
fn ss_vars(lan: &Lan, names: &[&str]) -> HashMap<String, u64> {
    let query = format!("rv 0 {}", names.join(","));
    let out = ntpd::our_ntpq(lan, 1, &["-c", &query, "127.0.0.1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| Some((k.trim().to_string(), v.trim().parse().ok()?)))
        .collect()
}

fn send_paced(sock: &UdpSocket, packets: &[&Vec<u8>]) -> usize {
    let to: SocketAddr = SERVER.parse().unwrap();
    let mut sent = 0;
    for (i, p) in packets.iter().enumerate() {
        if sock.send_to(p, to).is_ok() {
            sent += 1;
        }
        // a burst of 50, then a breather: the point is hostile content, not loss
        if i % 50 == 49 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    sent
}

#[test]
fn root_netns_hostile_junk_is_dropped_counted_and_good_clients_still_served() {
    let test = "root_netns_hostile_junk_is_dropped_counted_and_good_clients_still_served";
    for (p, pkg) in [("ntpdig", "ntpsec-ntpdig"), ("ntpq", "ntpsec")] {
        if common::find_program(p, &["/usr/sbin"]).is_none() {
            return common::skip(test, &format!("needs {p} (apt: {pkg})"));
        }
    }
    let Some(lan) = common::lan_or_skip(test, 3) else {
        return;
    };
    let dir = lan.host(1).dir.clone();
    let keys = dir.join("keys");
    std::fs::write(
        &keys,
        "1 MD5 sesame\n2 SHA1 0123456789abcdef0123456789abcdef01234567\n3 MD5 untrusted\n",
    )
    .unwrap();
    let conf = format!(
        "keys {}\ntrustedkey 1 2\nserver 127.127.1.0\nfudge 127.127.1.0 stratum 10\n",
        keys.display()
    );
    let pid = ntpd::start(&lan, 1, &conf, &[]);
    let bin = common::ntpkit_bin();
    peers::wait_serving(&lan, 3, "198.18.0.1", Duration::from_secs(20))
        .unwrap_or_else(|| panic!("not serving:\n{}", lan.log(1, "ntpkit.log")));
    let before = ss_vars(&lan, &["ss_received"]);
    assert!(
        before.contains_key("ss_received"),
        "ss_received not readable:\n{}",
        lan.log(1, "ntpkit.log")
    );

    // the good client asks once a second from host 3 for as long as the attack lasts
    let stop = Arc::new(AtomicBool::new(false));
    let (asked, answered) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let good = {
        let ns = lan.host(3).ns.clone();
        let (stop, asked, answered) = (stop.clone(), asked.clone(), answered.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let out = std::process::Command::new("ip")
                    .args(["netns", "exec", &ns, "ntpdig", "-t", "2", "198.18.0.1"])
                    .output()
                    .expect("ntpdig");
                asked.fetch_add(1, Ordering::Relaxed);
                if out.status.success() && String::from_utf8_lossy(&out.stdout).contains(" s11 ") {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        })
    };

    let junk = build_junk();
    let attacker = netns_udp::socket_in(&lan.host(2).ns);
    let mut all: Vec<&Vec<u8>> = junk.by_counter.values().flatten().collect();
    // interleave the kinds, deterministically
    let mut rng = Rng(42);
    for i in (1..all.len()).rev() {
        all.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
    let mut sent = 0;
    for round in 0..2 {
        sent += send_paced(&attacker, &all);
        if round == 0 {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    let (replies, _, kept) = netns_udp::drain(&attacker, usize::MAX);
    stop.store(true, Ordering::Relaxed);
    good.join().unwrap();

    // still alive, nothing panicked
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "ntpd died:\n{}",
        lan.log(1, "ntpkit.log")
    );
    let log = lan.log(1, "ntpkit.log");
    assert!(!log.contains("panicked"), "{log}");
    // the good client was served throughout, and still is
    let (asked, answered) = (
        asked.load(Ordering::Relaxed),
        answered.load(Ordering::Relaxed),
    );
    eprintln!("good client: {answered}/{asked} answered during the attack");
    assert!(asked >= 2 && answered == asked, "{answered}/{asked}");
    peers::wait_serving(&lan, 3, "198.18.0.1", Duration::from_secs(5)).expect("serving after");

    // the only answers junk may earn are single mode 6 responses (errors, or the status
    // word for a header that happens to be a valid no-op request): never time, never mode 7
    for r in &kept {
        assert!(
            r.len() >= 12 && r.len() <= 480 && r[0] & 7 == 6 && r[1] & 0x80 != 0,
            "junk was answered with {r:02x?}"
        );
    }
    eprintln!(
        "sent {sent} junk datagrams ({} kinds × 2 rounds); {replies} mode 6 error replies",
        junk.total()
    );

    let names = [
        "ss_received",
        "ss_badformat",
        "ss_badauth",
        "ss_declined",
        "ss_restricted",
        "ss_numctlreq",
        "ss_processed",
    ];
    let after = ss_vars(&lan, &names);
    let delta = |n: &str| after.get(n).copied().unwrap_or(0) - before.get(n).copied().unwrap_or(0);
    eprintln!("counters after: {after:?}");
    // the socket may lose a few datagrams under load; the counters must see nearly all
    let nearly = |expected: usize| (expected * 2) * 9 / 10;
    let received = after["ss_received"] - before["ss_received"];
    assert!(
        received as usize >= nearly(junk.total()),
        "received {received} of {sent}"
    );
    assert!(
        delta("ss_badformat") as usize >= nearly(junk.count("ss_badformat")),
        "{after:?}"
    );
    assert!(
        delta("ss_badauth") as usize >= nearly(junk.count("ss_badauth")),
        "{after:?}"
    );
    let either = junk.count("ss_badformat|ss_badauth");
    assert!(
        (delta("ss_badformat") + delta("ss_badauth")) as usize
            >= nearly(junk.count("ss_badformat") + junk.count("ss_badauth") + either),
        "{after:?}"
    );
    assert!(
        delta("ss_declined") as usize >= nearly(junk.count("ss_declined")),
        "{after:?}"
    );
    assert!(
        delta("ss_numctlreq") as usize >= nearly(junk.count("ss_numctlreq")),
        "{after:?}"
    );

    // NTPsec's ntpq and ours read the same counters with `sysstats`, in the same layout;
    // the drop counters do not move between the two reads (nothing hostile is in flight)
    let ntpsec = sysstats_by(&lan, &["ntpq"]);
    let ours = sysstats_by(&lan, &[bin.to_str().unwrap(), "ntpq"]);
    eprintln!("NTPsec ntpq sysstats: {ntpsec:?}\nour ntpq sysstats: {ours:?}");
    for (label, var) in [
        ("bad length or format:", "ss_badformat"),
        ("authentication failed:", "ss_badauth"),
        ("declined:", "ss_declined"),
        ("restricted:", "ss_restricted"),
        ("rate limited:", "ss_limited"),
        ("KoD responses:", "ss_kodsent"),
    ] {
        let (theirs, mine) = (ntpsec.get(label), ours.get(label));
        assert!(
            theirs.is_some(),
            "NTPsec's ntpq shows no {label:?}: {ntpsec:?}"
        );
        assert_eq!(theirs, mine, "{label}");
        // and both agree with the variable read by name (it can only have grown since)
        if let Some(by_name) = after.get(var) {
            assert!(
                mine.unwrap() >= by_name,
                "{label} {mine:?} < {var}={by_name}"
            );
        }
    }
    assert!(ours["bad length or format:"] >= after["ss_badformat"]);
    assert!(ours["packets received:"] >= after["ss_received"]);
    // the other tables read too: what the serving threads received, and the MRU list
    let out = ntpd::our_ntpq(&lan, 1, &["-c", "iostats", "-c", "monstats", "127.0.0.1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let totals = totals_of(&text);
    assert!(
        totals.get("received packets:").copied().unwrap_or(0) >= received,
        "{text}"
    );
    assert!(
        totals.get("addresses in use:").copied().unwrap_or(0) >= 2,
        "{text}"
    );
}

/// `label: total …` lines of a counter display: label (with its colon) → first number.
fn totals_of(text: &str) -> HashMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (label, rest) = l.split_once(':')?;
            let n = rest.split_whitespace().next()?.parse().ok()?;
            Some((format!("{}:", label.trim()), n))
        })
        .collect()
}

/// `ntpq -c sysstats` run by `argv` on the daemon's host.
fn sysstats_by(lan: &Lan, argv: &[&str]) -> HashMap<String, u64> {
    let mut args = argv.to_vec();
    args.extend(["-c", "sysstats", "127.0.0.1"]);
    let out = lan.run(1, &args);
    let text = String::from_utf8_lossy(&out.stdout);
    let totals = totals_of(&text);
    assert!(
        totals.contains_key("bad length or format:"),
        "no sysstats from {argv:?}:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    totals
}
