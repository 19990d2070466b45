//! Our ntpd as an NTS client (RFC 8915) of the real chronyd 4.3 and NTPsec 1.2 NTS servers
//! on the namespace LAN, with a private CA and IP-address certificates made by the test
//! with the openssl CLI; and the ways a key exchange or a reply must be refused.
//!
//! Hosts: 1 chronyd NTS server, 2 NTPsec NTS server, 3 ours → chronyd, 4 ours → NTPsec
//! (test `…_of_chronyd_and_ntpsec`); 1 chronyd with another CA's certificate, 2 chronyd
//! with an expired certificate, 3 a key-exchange server that closes at once, 4 a good
//! chronyd NTS server that a forger in host 4's namespace also "answers" for (and replays one of its
//! genuine replies to), 6 ours with all four, 7 ours with `nts nocerttimecheck` and the
//! expired server (test `…_rejects`). Every daemon runs without CAP_SYS_TIME; ours observe-only.

mod common;
use common::certs::{make_ca, make_cert};
use common::{lan::Lan, ntpd, peers};
use std::net::TcpListener;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(40);

/// chronyd as an NTS server on host `i` (local stratum 2).
fn chronyd_nts(lan: &Lan, i: usize, cert: &Path, key: &Path) {
    let dump = lan.host(i).dir.join("ntsdump");
    std::fs::create_dir_all(&dump).unwrap();
    peers::chronyd_server(
        lan,
        i,
        2,
        None,
        &format!(
            "ntsservercert {}\nntsserverkey {}\nntsdumpdir {}\n",
            cert.display(),
            key.display(),
            dump.display()
        ),
    );
}

/// Our ntpd on host `i` with `lines`, polling every 8 s.
fn ours(lan: &Lan, i: usize, lines: &str) {
    ntpd::start(
        lan,
        i,
        &format!("restrict default\nrestrict 127.0.0.1\n{lines}"),
        &[],
    );
}

/// `name=value` pairs of our `ntpq -c "rv 0 nts_…"`.
fn nts_counters(lan: &Lan, i: usize) -> Vec<(String, u64)> {
    let out = ntpd::our_ntpq(
        lan,
        i,
        &[
            "-c",
            "rv 0 nts_client_send,nts_client_recv_good,nts_client_recv_bad,nts_ke_probes_good,nts_ke_probes_bad",
            "127.0.0.1",
        ],
    );
    String::from_utf8_lossy(&out.stdout)
        .split([',', '\n'])
        .filter_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// A counter from [`nts_counters`]; 0 when missing (an ntpq that timed out on a busy
/// machine: the waits ask again, the final checks look at the tables).
fn counter(c: &[(String, u64)], name: &str) -> u64 {
    c.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| *v)
        .unwrap_or(0)
}

/// Our `ntpq -pn` row for `addr`: (tally, t column).
fn our_row(lan: &Lan, i: usize, addr: &str) -> Option<(char, String)> {
    let out = ntpd::our_ntpq(lan, i, &["-pn", "127.0.0.1"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines().find_map(|l| {
        let tally = l.chars().next()?;
        let fields: Vec<&str> = l.get(1..)?.split_whitespace().collect();
        if fields.first() != Some(&addr) {
            return None;
        }
        Some((tally, fields.get(3)?.to_string()))
    })
}

/// The number at the end of the line of `text` starting with `legend`.
fn table_value(text: &str, legend: &str) -> u64 {
    text.lines()
        .find(|l| l.trim_start().starts_with(legend))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap_or_else(|| panic!("{legend} not in:\n{text}"))
}

#[test]
fn root_netns_nts_client_of_chronyd_and_ntpsec() {
    const TEST: &str = "root_netns_nts_client_of_chronyd_and_ntpsec";
    if !common::needs_chronyd(TEST)
        || !common::needs(TEST, &[("openssl", "openssl"), ("ntpd", "ntpsec")])
    {
        return;
    }
    let Some((_, chronyc)) = common::chronyd_and_chronyc_or_skip(TEST) else {
        return;
    };
    let Some(lan) = common::lan_or_skip(TEST, 4) else {
        return;
    };
    let dir = lan.dir().to_path_buf();
    let ca = make_ca(&dir, "ca");
    let (c1, k1) = make_cert(&dir, "ca", "s1", "198.18.0.1", None);
    let (c2, k2) = make_cert(&dir, "ca", "s2", "198.18.0.2", None);
    chronyd_nts(&lan, 1, &c1, &k1);
    let d2 = lan.host(2).dir.clone();
    peers::ntpsec_server(
        &lan,
        2,
        2,
        &format!(
            "nts enable\nnts key {}\nnts cert {}\nnts cookie {}/nts-keys\n",
            k2.display(),
            c2.display(),
            d2.display()
        ),
    );
    let ca = ca.display();
    ours(
        &lan,
        3,
        &format!("server 198.18.0.1 nts ca {ca} iburst minpoll 3 maxpoll 3\n"),
    );
    ours(
        &lan,
        4,
        &format!("server 198.18.0.2 nts ca {ca} iburst minpoll 3 maxpoll 3\n"),
    );

    for (host, server) in [(3, "198.18.0.1"), (4, "198.18.0.2")] {
        let row = lan.wait_for(WAIT, || {
            our_row(&lan, host, server).filter(|(tally, _)| *tally == '*')
        });
        let (_, t) = row.unwrap_or_else(|| {
            panic!(
                "host {host}: {server} never selected over NTS\nntpq: {:?}\nour log:\n{}\nserver logs:\n{}{}",
                our_row(&lan, host, server),
                lan.log(host, "ntpkit.log"),
                lan.log(1, "chronyd.log"),
                lan.log(2, "ntpsec.log")
            )
        });
        // NTPsec's t column: the cookies held (8 after every good reply)
        assert!(
            t.parse::<u32>().is_ok_and(|n| (1..=8).contains(&n)),
            "host {host}: t column {t:?} is not a cookie count"
        );
        // a few polls (iburst: 2 s apart), every one answered and authenticated
        let c = lan
            .wait_for(WAIT, || {
                let c = nts_counters(&lan, host);
                (counter(&c, "nts_client_recv_good") >= 3).then_some(c)
            })
            .unwrap_or_else(|| panic!("host {host}: {:?}", nts_counters(&lan, host)));
        assert_eq!(counter(&c, "nts_ke_probes_good"), 1, "{c:?}");
        // (a first attempt may find the server not listening yet: nts_ke_probes_bad)
        assert_eq!(counter(&c, "nts_client_recv_bad"), 0, "{c:?}");
        let log = lan.log(host, "ntpkit.log");
        assert!(log.contains(&format!("NTS-KE with {server}:4460")), "{log}");
        // our ntpq's nts table shows the same counters, in NTPsec's words
        let out = ntpd::our_ntpq(&lan, host, &["-c", "nts", "127.0.0.1"]);
        let text = String::from_utf8_lossy(&out.stdout);
        // read after the rv above: counters only grow
        assert!(
            table_value(&text, "NTS client recvs good:") >= counter(&c, "nts_client_recv_good"),
            "{text}"
        );
        assert_eq!(
            table_value(&text, "NTS KE client probes good:"),
            1,
            "{text}"
        );
        assert_eq!(table_value(&text, "NTS client recvs w error:"), 0, "{text}");
    }

    // --json: the same counters as numbers
    let out = ntpd::our_ntpq(&lan, 3, &["--json", "-c", "nts", "127.0.0.1"]);
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("ntpq --json -c nts is JSON");
    assert_eq!(json["command"], "ntsinfo", "{json}");
    assert!(
        json["result"]["nts_client_recv_good"].as_u64() >= Some(3),
        "{json}"
    );
    assert_eq!(
        json["result"]["nts_ke_probes_good"].as_u64(),
        Some(1),
        "{json}"
    );

    // NTPsec's own ntpq reads our client counters under its names
    let out = lan.run(3, &["ntpq", "-c", "nts", "127.0.0.1"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(table_value(&text, "NTS client recvs good:") >= 3, "{text}");
    assert_eq!(
        table_value(&text, "NTS KE client probes good:"),
        1,
        "{text}"
    );

    // chronyd: every NTP packet it got (all ours) was authenticated
    let sock = lan.host(1).dir.join("chronyd-run/chronyd.sock");
    let stats = lan.run(
        1,
        &[
            chronyc.to_str().unwrap(),
            "-h",
            sock.to_str().unwrap(),
            "serverstats",
        ],
    );
    let stats = String::from_utf8_lossy(&stats.stdout).into_owned();
    let field = |name: &str| -> u64 {
        stats
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(':').next()?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} not in serverstats:\n{stats}"))
    };
    let (received, authenticated) = (
        field("NTP packets received"),
        field("Authenticated NTP packets"),
    );
    assert!(received >= 3, "{stats}");
    assert_eq!(
        received, authenticated,
        "chronyd got unauthenticated packets:\n{stats}"
    );
    assert_eq!(field("NTS-KE connections accepted"), 1, "{stats}");

    // NTPsec: its `ntpq -c nts` counts good NTS requests and no bad ones
    let out = lan.run(2, &["ntpq", "-c", "nts", "127.0.0.1"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let value = |legend: &str| table_value(&text, legend);
    assert!(value("NTS server recvs good:") >= 3, "{text}");
    // NTPsec may rotate its cookie key just after starting (a fresh `nts cookie` file):
    // a request with a cookie of the key before is "too old" for it. Every other error
    // (a bad authenticator, a malformed packet) would be ours.
    assert_eq!(
        value("NTS server recvs w error:"),
        value("NTS decode cookies too old:"),
        "{text}"
    );
    assert_eq!(value("NTS KE serves good:"), 1, "{text}");

    // chronyd restarted with new cookie keys: it answers our old cookies with an NTSN
    // kiss, and we make a new key exchange and carry on authenticated
    lan.kill_host(1);
    let pidfile = lan.host(1).dir.join("chronyd-run/chronyd.pid");
    let gone = lan.wait_for(WAIT, || {
        // dead, or a zombie until the LAN reaps its children
        let pid = std::fs::read_to_string(&pidfile).unwrap_or_default();
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()));
        let running = stat.is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                != Some("Z")
        });
        (!running).then_some(())
    });
    assert!(gone.is_some(), "chronyd on host 1 did not stop");
    let _ = std::fs::remove_file(&pidfile);
    let dump = lan.host(1).dir.join("ntsdump");
    std::fs::remove_dir_all(&dump).unwrap();
    chronyd_nts(&lan, 1, &c1, &k1);
    let rekeyed = lan.wait_for(WAIT, || {
        let c = nts_counters(&lan, 3);
        (counter(&c, "nts_ke_probes_good") == 2).then_some(c)
    });
    let log = lan.log(3, "ntpkit.log");
    assert!(
        rekeyed.is_some(),
        "no new key exchange after NTSN\n{log}\nchronyd:\n{}",
        lan.log(1, "chronyd.log")
    );
    assert!(log.contains("198.18.0.1:123: NTSN kiss"), "{log}");
    let good = counter(&nts_counters(&lan, 3), "nts_client_recv_good");
    let more = lan.wait_for(WAIT, || {
        (counter(&nts_counters(&lan, 3), "nts_client_recv_good") > good).then_some(())
    });
    assert!(
        more.is_some(),
        "no good reply after the new key exchange\n{log}"
    );
}

/// A TCP listener on `addr` inside namespace `ns` that accepts key-exchange connections
/// and closes each at once (after reading what comes first).
fn closing_ke_server(ns: &str, addr: &str) {
    let path = format!("/run/netns/{ns}");
    let addr = addr.to_string();
    let listener = std::thread::spawn(move || {
        let f = std::fs::File::open(&path).unwrap();
        // only this helper thread moves
        let rc = rustix::thread::move_into_link_name_space(
            f.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        );
        rc.unwrap_or_else(|e| panic!("setns {path}: {e}"));
        TcpListener::bind(&addr).expect("bind in namespace")
    })
    .join()
    .unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { return };
            let mut buf = [0u8; 512];
            let _ = std::io::Read::read(&mut c, &mut buf);
            drop(c);
        }
    });
}

/// The UDP port our ntpd on host `i` polls from (not 123).
fn client_port(lan: &Lan, i: usize) -> Option<u16> {
    let out = lan.run(i, &["ss", "-uanpH"]);
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        if !l.contains("ntpkit") {
            return None;
        }
        let local = l.split_whitespace().nth(3)?;
        let port: u16 = local.rsplit(':').next()?.parse().ok()?;
        (port != 123 && local.starts_with("0.0.0.0")).then_some(port)
    })
}

#[test]
fn root_netns_nts_client_rejects_bad_servers_and_forged_replies() {
    const TEST: &str = "root_netns_nts_client_rejects_bad_servers_and_forged_replies";
    if !common::needs_chronyd(TEST)
        || !common::needs(TEST, &[("openssl", "openssl"), ("faketime", "faketime")])
    {
        return;
    }
    let Some(lan) = common::lan_or_skip(TEST, 7) else {
        return;
    };
    let dir = lan.dir().to_path_buf();
    let ca = make_ca(&dir, "ca");
    make_ca(&dir, "other");
    let (c1, k1) = make_cert(&dir, "other", "s1", "198.18.0.1", None);
    let (c2, k2) = make_cert(&dir, "ca", "s2", "198.18.0.2", Some("2020-01-01 00:00:00"));
    let (c4, k4) = make_cert(&dir, "ca", "s4", "198.18.0.4", None);
    chronyd_nts(&lan, 1, &c1, &k1);
    chronyd_nts(&lan, 2, &c2, &k2);
    closing_ke_server(&lan.host(3).ns, "198.18.0.3:4460");
    chronyd_nts(&lan, 4, &c4, &k4);
    let ca = ca.display();
    // certificate times always checked here, RTC or not (the expired one must be refused)
    let mut conf = String::from("nts nocerttimecheck 0\n");
    for s in 1..=4 {
        conf.push_str(&format!(
            "server 198.18.0.{s} nts ca {ca} iburst minpoll 3 maxpoll 3\n"
        ));
    }
    ours(&lan, 6, &conf);
    // a copy of every UDP datagram host 6 receives, to replay a good NTS reply later
    let sniffer = raw_udp_in(&lan.host(6).ns);
    // host 7: booting without a right clock, `nts nocerttimecheck`: the expired
    // certificate of host 2 is accepted before the first synchronisation
    ours(
        &lan,
        7,
        &format!("nts nocerttimecheck\nserver 198.18.0.2 nts ca {ca} iburst minpoll 3 maxpoll 3\n"),
    );

    // the good server is selected, whatever the others do
    let row = lan.wait_for(WAIT, || {
        our_row(&lan, 6, "198.18.0.4").filter(|(tally, _)| *tally == '*')
    });
    let log = || lan.log(6, "ntpkit.log");
    assert!(row.is_some(), "198.18.0.4 not selected\n{}", log());
    // each bad key exchange: one clear line naming the server and the reason
    let reasons = [
        ("198.18.0.1:4460", "UnknownIssuer"),
        ("198.18.0.2:4460", "certificate expired"),
        ("198.18.0.3:4460", "closed the connection"),
    ];
    let found = lan.wait_for(WAIT, || {
        let l = log();
        reasons
            .iter()
            .all(|(who, why)| {
                l.lines()
                    .any(|x| x.contains(&format!("NTS-KE with {who} failed")) && x.contains(why))
            })
            .then_some(())
    });
    assert!(
        found.is_some(),
        "rejections not logged as expected:\n{}",
        log()
    );
    // none of them became an association: no unauthenticated fallback
    for s in 1..=3 {
        assert!(
            our_row(&lan, 6, &format!("198.18.0.{s}")).is_none(),
            "198.18.0.{s} has an association\n{}",
            log()
        );
    }

    // forged replies "from" the good server (source address 198.18.0.4, as an off-path
    // attacker spoofs it): plain NTP, and NTS-shaped with a made-up identifier and tag
    let port = lan
        .wait_for(WAIT, || client_port(&lan, 6))
        .expect("our client port");
    let before = nts_counters(&lan, 6);
    let forger = common::netns_udp::socket_in(&lan.host(4).ns);
    let mut plain = [0u8; 48];
    plain[0] = 0x24; // v4, server
    plain[1] = 1;
    plain[12..16].copy_from_slice(b"GPS\0");
    let mut nts = plain.to_vec();
    nts.extend_from_slice(&[0x01, 0x04, 0, 36]);
    nts.extend_from_slice(&[0x5a; 32]);
    nts.extend_from_slice(&[0x04, 0x04, 0, 40, 0, 16, 0, 16]);
    nts.extend_from_slice(&[0xa5; 32]);
    for _ in 0..3 {
        forger.send_to(&plain, ("198.18.0.6", port)).unwrap();
        forger.send_to(&nts, ("198.18.0.6", port)).unwrap();
    }
    let rejected = lan.wait_for(Duration::from_secs(10), || {
        let c = nts_counters(&lan, 6);
        (counter(&c, "nts_client_recv_bad") >= counter(&before, "nts_client_recv_bad") + 6)
            .then_some(c)
    });
    assert!(
        rejected.is_some(),
        "forged replies not counted as bad: {:?}\n{}",
        nts_counters(&lan, 6),
        log()
    );
    let l = log();
    assert!(
        l.contains("198.18.0.4:") && l.contains("reply fails NTS authentication"),
        "{l}"
    );
    // and the good server keeps being used and selected
    let good_before = counter(&nts_counters(&lan, 6), "nts_client_recv_good");
    let more = lan.wait_for(Duration::from_secs(20), || {
        (counter(&nts_counters(&lan, 6), "nts_client_recv_good") > good_before).then_some(())
    });
    assert!(
        more.is_some(),
        "no good reply after the forgeries\n{}",
        log()
    );
    assert_eq!(our_row(&lan, 6, "198.18.0.4").map(|r| r.0), Some('*'));

    // a replayed reply: a genuine NTS reply of 198.18.0.4 to us, captured on the way in
    // (its request long answered), sent again from 198.18.0.4:123: counted bad, not used
    let replay = sniffed_nts_reply(&sniffer, port).expect("no NTS reply of 198.18.0.4 sniffed");
    let before = nts_counters(&lan, 6);
    let warned = |l: &str| {
        l.lines()
            .filter(|x| x.contains("198.18.0.4:") && x.contains("reply fails NTS authentication"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    // a good reply since the forgeries: the next bad one is logged at warning level again
    let warned_before = warned(&log()).len();
    // from 198.18.0.4 port 123 itself (chronyd holds that port: a raw socket writes the
    // UDP header; checksum 0 = none, allowed over IPv4)
    let spoofer = raw_udp_in(&lan.host(4).ns);
    let mut udp = Vec::with_capacity(8 + replay.len());
    udp.extend_from_slice(&123u16.to_be_bytes());
    udp.extend_from_slice(&port.to_be_bytes());
    udp.extend_from_slice(&((8 + replay.len()) as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(&replay);
    let to = socket2::SockAddr::from(std::net::SocketAddr::from(([198, 18, 0, 6], 0)));
    for _ in 0..3 {
        spoofer.send_to(&udp, &to).unwrap();
    }
    let rejected = lan.wait_for(Duration::from_secs(10), || {
        let c = nts_counters(&lan, 6);
        (counter(&c, "nts_client_recv_bad") >= counter(&before, "nts_client_recv_bad") + 3)
            .then_some(c)
    });
    assert!(
        rejected.is_some(),
        "replayed replies not counted as bad: {:?}\n{}",
        nts_counters(&lan, 6),
        log()
    );
    let l = log();
    let new_lines = warned(&l).split_off(warned_before);
    assert!(
        new_lines.iter().any(|x| x.contains("198.18.0.4:123:")
            && (x.contains("unique identifier does not match the request")
                || x.contains("no request in flight"))),
        "the replay's log line\n{l}"
    );
    assert_eq!(our_row(&lan, 6, "198.18.0.4").map(|r| r.0), Some('*'));

    // host 7 (nocerttimecheck): the expired certificate accepted, saying why
    let log7 = || lan.log(7, "ntpkit.log");
    let accepted = lan.wait_for(WAIT, || {
        let l = log7();
        (l.contains("NTS: certificate of 198.18.0.2 is expired")
            && our_row(&lan, 7, "198.18.0.2").is_some())
        .then_some(())
    });
    assert!(
        accepted.is_some(),
        "expired certificate not accepted with nocerttimecheck\n{}",
        log7()
    );
    assert!(
        log7().contains("not checked until the clock is first synchronised (nts nocerttimecheck)"),
        "{}",
        log7()
    );
    assert!(
        log().contains("NTS: certificate validity times checked (nts nocerttimecheck 0)"),
        "{}",
        log()
    );
}

/// A raw IPv4/UDP socket in namespace `ns`: a copy of every UDP datagram the host
/// receives; what it sends is a UDP header and payload (the kernel adds the IP header).
fn raw_udp_in(ns: &str) -> socket2::Socket {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // only this helper thread moves
        let rc = rustix::thread::move_into_link_name_space(
            f.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        );
        rc.unwrap_or_else(|e| panic!("setns {path}: {e}"));
        let s = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::RAW,
            Some(socket2::Protocol::UDP),
        )
        .expect("raw socket");
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        s
    })
    .join()
    .expect("namespace thread")
}

/// The payload of the first NTS reply (longer than a bare header) from 198.18.0.4:123 to
/// our `port` the sniffer holds or sees within 20 s.
fn sniffed_nts_reply(sniffer: &socket2::Socket, port: u16) -> Option<Vec<u8>> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 2048];
    while std::time::Instant::now() < deadline {
        let Ok(n) = std::io::Read::read(&mut &*sniffer, &mut buf) else {
            continue;
        };
        let d = &buf[..n];
        let ihl = usize::from(d.first()? & 0x0f) * 4;
        if d.len() < ihl + 8 || d[12..16] != [198, 18, 0, 4] {
            continue;
        }
        let udp = &d[ihl..];
        let (sport, dport) = (
            u16::from_be_bytes([udp[0], udp[1]]),
            u16::from_be_bytes([udp[2], udp[3]]),
        );
        if sport == 123 && dport == port && udp.len() > 8 + 48 {
            return Some(udp[8..].to_vec());
        }
    }
    None
}
