//! Interleaved mode (RFC 9769) with the real chronyd 4.3 on the namespace LAN, both ways.
//!
//! - Host 2's chronyd serves host 3's ntpd (`server 198.18.0.2 xleave`): chronyd counts
//!   interleaved packets (`chronyc serverstats`), our mode 6 counts interleaved samples
//!   (the `xleave` peer variable).
//! - Host 1's ntpd serves host 4's chronyd (`server 198.18.0.1 xleave`): `chronyc ntpdata`
//!   says its exchanges are interleaved, our mode 6 counts interleaved replies.
//! - Host 5 talks to host 1 by hand: the third exchange is interleaved and carries the
//!   kernel's transmit time of the second reply; a request repeating an origin already
//!   answered (its reply "lost") gets a basic reply; then a flood of interleaved-looking
//!   requests from many ports and two addresses leaves the server's table at its bound.
//!
//! Every daemon is observe-only without CAP_SYS_TIME (`Lan::spawn`); chronyd runs `-x`.

mod common;
use common::netns_udp::{request, ts};
use common::{netns_udp, ntpd, peers};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

const TEST: &str = "root_netns_xleave_with_chronyd_both_ways";
const LOCAL10: &str = "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n";
/// A small bound on what the server remembers (the table follows the MRU list's size).
const MRU: &str = "mru maxdepth 64\n";

/// One request and its reply (origin, receive, transmit), skipping stale datagrams.
fn exchange(sock: &UdpSocket, to: SocketAddr, req: &[u8; 48]) -> (u64, u64, u64) {
    for _ in 0..5 {
        sock.send_to(req, to).unwrap();
        let mut buf = [0u8; 512];
        for _ in 0..5 {
            let Ok((n, _)) = sock.recv_from(&mut buf) else {
                break;
            };
            if n >= 48 && buf[0] & 7 == 4 {
                let org = ts(&buf[24..32]);
                if org == ts(&req[40..48]) || org == ts(&req[32..40]) {
                    return (org, ts(&buf[32..40]), ts(&buf[40..48]));
                }
            }
        }
    }
    panic!("no reply from {to}");
}

#[test]
fn root_netns_xleave_with_chronyd_both_ways() {
    let Some((_, chronyc)) = common::chronyd_and_chronyc_or_skip(TEST) else {
        return;
    };
    if !common::needs(TEST, &[("ntpdig", "ntpsec-ntpdig")]) {
        return;
    }
    let Some(lan) = common::lan_or_skip(TEST, 5) else {
        return;
    };
    let chronyc = chronyc.to_str().unwrap().to_string();
    ntpd::start(
        &lan,
        1,
        &format!("{LOCAL10}{MRU}restrict default\nrestrict 127.0.0.1\n"),
        &[],
    );
    peers::chronyd_server(&lan, 2, 8, None, "");
    ntpd::start(
        &lan,
        3,
        "server 198.18.0.2 xleave iburst minpoll 3 maxpoll 3\nrestrict 127.0.0.1\n",
        &[],
    );
    let sock4 = common::spawn_chronyd(
        &lan,
        4,
        &common::chrony_program("chronyd").unwrap(),
        "client.conf",
        "server 198.18.0.1 xleave iburst minpoll 3 maxpoll 3\n",
    );
    let sock4 = sock4.to_str().unwrap().to_string();
    let sock2 = lan.host(2).dir.join("chronyd-run/chronyd.sock");
    let sock2 = sock2.to_str().unwrap().to_string();
    let server1: SocketAddr = "198.18.0.1:123".parse().unwrap();
    assert!(
        peers::wait_serving(&lan, 5, "198.18.0.1", Duration::from_secs(20)).is_some(),
        "our server never synchronised to LOCAL:\n{}",
        lan.log(1, "ntpkit.log")
    );

    // host 5 by hand: basic, basic (remembered), interleaved
    let s5 = netns_udp::socket_in(&lan.host(5).ns);
    let (o1, r1, _) = exchange(&s5, server1, &request(0, 0, 0x1111));
    assert_eq!(o1, 0x1111);
    assert_eq!(r1 & 1, 1, "our receive timestamps carry the mark");
    let (o2, r2, x2) = exchange(&s5, server1, &request(r1, 0x2221, 0x2222));
    assert_eq!(o2, 0x2222, "nothing remembered for r1 yet: basic");
    let (o3, r3, x3) = exchange(&s5, server1, &request(r2, 0x3331, 0x3332));
    assert_eq!(o3, 0x3331, "interleaved: origin is our receive field");
    let after = (x3.wrapping_sub(r2) as i64) as f64 / 4294967296.0;
    assert!(
        (0.0..0.5).contains(&after) && x3 != x2,
        "the transmit time of reply 2 (kernel), after its request arrived: {after}"
    );
    // reply 3 "lost": the client asks again with r2, already handed out once → basic
    let (o4, _, _) = exchange(&s5, server1, &request(r2, 0x4441, 0x4442));
    assert_eq!(o4, 0x4442, "a repeated origin falls back to basic");
    let _ = r3;

    // chronyd serves our ntpd in interleaved mode
    let ours = lan.wait_for(Duration::from_secs(40), || {
        let out = lan.run(2, &[&chronyc, "-h", &sock2, "serverstats"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let n: u64 = text
            .lines()
            .find(|l| l.starts_with("Interleaved NTP packets"))?
            .rsplit(':')
            .next()?
            .trim()
            .parse()
            .ok()?;
        let assoc = ntpd::our_ntpq_text(&lan, 3, &["-n", "-c", "as"]);
        let id = assoc
            .lines()
            .find_map(|l| l.split_whitespace().nth(1)?.parse::<u16>().ok())?;
        let vars = ntpd::our_ntpq_text(&lan, 3, &["-n", "-c", &format!("rv {id} xleave,offset")]);
        (n > 0 && ntpd::numeric_var(&vars, "xleave")? > 0).then_some((n, vars))
    });
    if let Some((n, vars)) = &ours {
        eprintln!(
            "chronyd served {n} interleaved packets; our client: {}",
            vars.trim()
        );
    }
    assert!(
        ours.is_some(),
        "chronyd → ours not interleaved: serverstats {}\nour log:\n{}",
        String::from_utf8_lossy(&lan.run(2, &[&chronyc, "-h", &sock2, "serverstats"]).stdout),
        lan.log(3, "ntpkit.log")
    );

    // we serve chronyd in interleaved mode
    let theirs = lan.wait_for(Duration::from_secs(40), || {
        let out = lan.run(4, &[&chronyc, "-h", &sock4, "-n", "ntpdata", "198.18.0.1"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let interleaved = text
            .lines()
            .find(|l| l.starts_with("Interleaved"))?
            .contains("Yes");
        let stats = ntpd::our_ntpq_text(
            &lan,
            1,
            &["-n", "-c", "rv 0 xleave_replies,xleave_kernel_tx"],
        );
        (interleaved
            && ntpd::numeric_var(&stats, "xleave_replies")? > 1
            && ntpd::numeric_var(&stats, "xleave_kernel_tx")? > 0)
            .then_some(text)
    });
    if let Some(text) = &theirs {
        eprintln!("chronyc ntpdata:\n{text}");
    }
    assert!(
        theirs.is_some(),
        "ours → chronyd not interleaved: {}\n{}",
        String::from_utf8_lossy(
            &lan.run(4, &[&chronyc, "-h", &sock4, "-n", "ntpdata", "198.18.0.1"])
                .stdout
        ),
        lan.log(4, "chronyd.log")
    );

    // a stranger cannot make the server remember more than its bound: interleaved-looking
    // requests from 200 ports of host 5 and host 2, each to be remembered
    let mut flooders: Vec<UdpSocket> = (0..100)
        .map(|_| netns_udp::socket_in(&lan.host(5).ns))
        .collect();
    flooders.extend((0..100).map(|_| netns_udp::socket_in(&lan.host(2).ns)));
    for (k, s) in flooders.iter().enumerate() {
        for j in 0..5u64 {
            let n = (k as u64) << 8 | j;
            let _ = s.send_to(&request(n << 1 | 1, n + 7, n + 9), server1);
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let stats = ntpd::our_ntpq_text(
        &lan,
        1,
        &[
            "-n",
            "-c",
            "rv 0 xleave_stored,xleave_maxstored,xleave_replies",
        ],
    );
    let (stored, bound) = (
        ntpd::numeric_var(&stats, "xleave_stored"),
        ntpd::numeric_var(&stats, "xleave_maxstored"),
    );
    let (Some(stored), Some(bound)) = (stored, bound) else {
        panic!("no table figures: {stats}");
    };
    eprintln!("after the flood: {}", stats.trim());
    assert!(bound <= 64 && bound > 0, "{stats}");
    assert!(
        stored <= bound && stored >= bound / 2,
        "1000 requests to remember, bound {bound}: {stats}"
    );
}
