//! Faults of the servers our ntpd follows, with real peers on the namespace LAN: a server
//! stepping its clock, a server losing its own synchronisation, every server lost (holdover,
//! then unsynchronised once the error bound passes maxdist). Judged by NTPsec's ntpq and
//! Debian's ntpstat. Our ntpd always runs `--observe-only -n` through `Lan::spawn` (no CAP_SYS_TIME).
//!
//! KoD DENY has no system test: neither NTPsec 1.2.2 nor chronyd 4.3 sends a DENY or RSTR
//! kiss (see docs/hardening.md, "Faults"); the simulation tests it.

mod common;
use common::{lan::Lan, ntpd, peers};
use std::time::Duration;

/// libfaketime's preload library (Debian's path); its clock offset is read from a file on
/// every call, so a test can jump our daemon's clock while it runs.
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

fn lan(test: &str, n: usize) -> Option<Lan> {
    let needed = [
        ("ntpd", "ntpsec"),
        ("ntpq", "ntpsec"),
        ("ntpstat", "ntpstat"),
    ];
    if !common::needs(test, &needed) {
        return None;
    }
    common::lan_or_skip(test, n)
}

/// The `ntpq -pn` line of `addr`, if listed.
fn line_of(peers: &str, addr: &str) -> Option<String> {
    peers
        .lines()
        .find(|l| l.get(1..).is_some_and(|r| r.starts_with(addr)))
        .map(str::to_string)
}

fn tally(peers: &str, addr: &str) -> Option<char> {
    line_of(peers, addr).and_then(|l| l.chars().next())
}

/// System variables by NTPsec's ntpq: `name=value` pairs of `rv 0`.
fn rv(lan: &Lan, i: usize) -> std::collections::HashMap<String, String> {
    let out = lan.run(
        i,
        &[
            "ntpq",
            "-c",
            "rv 0 leap,stratum,refid,frequency,rootdisp",
            "127.0.0.1",
        ],
    );
    String::from_utf8_lossy(&out.stdout)
        .split(',')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        })
        .collect()
}

/// Debian's ntpstat on host `i`: (exit code, output).
fn ntpstat(lan: &Lan, i: usize) -> (i32, String) {
    let out = lan.run(i, &["ntpstat"]);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn wait_peers(lan: &Lan, i: usize, secs: u64, what: &str, ok: impl Fn(&str) -> bool) -> String {
    lan.wait_for(Duration::from_secs(secs), || {
        let p = ntpd::ntpsec_peers(lan, i);
        ok(&p).then_some(p)
    })
    .unwrap_or_else(|| {
        panic!(
            "{what}: not reached in {secs} s\n{}\n{}",
            ntpd::ntpsec_peers(lan, i),
            lan.log(i, "ntpkit.log")
        )
    })
}

/// The reach column of `addr`'s `ntpq -pn` line (octal), 0 if absent.
fn reach(peers: &str, addr: &str) -> u8 {
    line_of(peers, addr)
        .and_then(|l| u8::from_str_radix(l.split_whitespace().nth(6)?, 8).ok())
        .unwrap_or(0)
}

/// The offset column of `addr`'s `ntpq -pn` line, ms (NaN if absent).
fn offset_ms(peers: &str, addr: &str) -> f64 {
    line_of(peers, addr)
        .and_then(|l| {
            l.split_whitespace()
                .nth(8)?
                .trim_start_matches('+')
                .parse()
                .ok()
        })
        .unwrap_or(f64::NAN)
}

const POLL8: &str = "iburst minpoll 3 maxpoll 3";
/// 2 s polls and no iburst: every poll shifts the reach register (burst packets do not, so
/// after an iburst the register would not count silent polls until the burst ran out).
const POLL2: &str = "minpoll 1 maxpoll 1";

#[test]
fn root_netns_faults_a_server_stepping_a_second_is_marked_falseticker() {
    let test = "root_netns_faults_a_server_stepping_a_second_is_marked_falseticker";
    if !common::needs(test, &[("faketime", "faketime")]) {
        return;
    }
    let Some(lan) = lan(test, 4) else { return };
    if !common::needs_chronyd(test) {
        return;
    }
    peers::ntpsec_server(&lan, 2, 5, "");
    peers::ntpsec_server(&lan, 3, 5, "");
    peers::chronyd_server(&lan, 4, 5, None, "");
    let conf: String = (2..=4)
        .map(|h| format!("server 198.18.0.{h} {POLL8}\n"))
        .collect();
    ntpd::start(&lan, 1, &conf, &[]);
    // all three followed (the clock filter's eight stages hold pre-step samples, so
    // stepping later only makes the test slower: up to eight polls before `x`)
    wait_peers(&lan, 1, 30, "all three selected", |p| {
        (2..=4).all(|h| matches!(tally(p, &format!("198.18.0.{h}")), Some('*' | '+')))
    });
    // chronyd's clock steps forward by 1.5 s: restarted under libfaketime
    lan.kill_host(4);
    // the killed chronyd stays a zombie until the LAN reaps it: its pidfile would stop
    // the new one
    let _ = std::fs::remove_file(lan.host(4).dir.join("chronyd-run/chronyd.pid"));
    peers::chronyd_server(&lan, 4, 5, Some("+1.5s"), "");
    // eight 8 s polls until the last pre-step sample leaves the filter, then the
    // selection: 90 s leaves room for a loaded machine (it passed in 45 s by luck)
    let p = wait_peers(&lan, 1, 90, "the stepped server marked x", |p| {
        tally(p, "198.18.0.4") == Some('x') && offset_ms(p, "198.18.0.4") > 1400.0
    });
    eprintln!("MEASURED stepped server:\n{p}");
    assert!(
        matches!(tally(&p, "198.18.0.2"), Some('*' | '+'))
            && matches!(tally(&p, "198.18.0.3"), Some('*' | '+')),
        "{p}"
    );
    // our clock was never taken along: our offset to the good servers stays tiny
    for h in [2, 3] {
        let offset = offset_ms(&p, &format!("198.18.0.{h}"));
        assert!(offset.abs() < 50.0, "{p}");
    }
    let (code, text) = ntpstat(&lan, 1);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn root_netns_faults_a_server_going_unsynchronised_is_dropped_for_the_other() {
    let test = "root_netns_faults_a_server_going_unsynchronised_is_dropped_for_the_other";
    let Some(lan) = lan(test, 3) else { return };
    // host 2 serves stratum 4 and wins; host 3 serves stratum 6
    peers::ntpsec_server(&lan, 2, 4, "");
    peers::ntpsec_server(&lan, 3, 6, "");
    let conf = format!("server 198.18.0.2 {POLL8}\nserver 198.18.0.3 {POLL8}\n");
    ntpd::start(&lan, 1, &conf, &[]);
    wait_peers(&lan, 1, 30, "host 2 the system peer", |p| {
        tally(p, "198.18.0.2") == Some('*') && tally(p, "198.18.0.3") == Some('+')
    });
    // host 2's daemon is replaced by an NTPsec with no sources: leap 3, stratum 0 (INIT)
    lan.kill_host(2);
    let conf2 = lan.host(2).dir.join("unsync.conf");
    std::fs::write(&conf2, "restrict default\nrestrict 127.0.0.1\n").unwrap();
    lan.spawn(
        2,
        "ntpsec-unsync.log",
        &["ntpd", "-n", "-c", conf2.to_str().unwrap()],
    );
    let p = wait_peers(&lan, 1, 40, "host 3 the system peer", |p| {
        tally(p, "198.18.0.3") == Some('*')
            && tally(p, "198.18.0.2").is_some_and(|t| !matches!(t, '*' | '+' | '#' | 'o'))
    });
    eprintln!("MEASURED unsynchronised server:\n{p}");
    // still answering (reach keeps growing), shown as ntpd shows it: stratum 16
    let line = line_of(&p, "198.18.0.2").unwrap();
    assert!(line.split_whitespace().nth(2) == Some("16"), "{line}");
    let vars = rv(&lan, 1);
    assert_eq!(
        vars.get("stratum").map(String::as_str),
        Some("7"),
        "{vars:?}"
    );
    assert_eq!(vars.get("leap").map(String::as_str), Some("00"), "{vars:?}");
    let (code, text) = ntpstat(&lan, 1);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn root_netns_faults_all_servers_lost_holdover_then_unsynchronised_past_maxdist() {
    let test = "root_netns_faults_all_servers_lost_holdover_then_unsynchronised_past_maxdist";
    if !common::needs(test, &[("faketime", "faketime")]) {
        return;
    }
    if !std::path::Path::new(LIBFAKETIME).exists() {
        common::skip(test, "needs libfaketime (apt: libfaketime)");
        return;
    }
    let Some(lan) = lan(test, 3) else { return };
    if !common::needs_chronyd(test) {
        return;
    }
    // chronyd servers whose clocks run 100 ppm fast (libfaketime), so that the frequency
    // our ntpd learns and must keep is not zero
    peers::chronyd_server(&lan, 2, 5, Some("+0 x1.0001"), "");
    peers::chronyd_server(&lan, 3, 5, Some("+0 x1.0001"), "");
    // our ntpd single-threaded under libfaketime, its clock offset read from a file
    let offset_file = lan.host(1).dir.join("faketime");
    std::fs::write(&offset_file, "+0\n").unwrap();
    let env = [
        format!("LD_PRELOAD={LIBFAKETIME}"),
        format!("FAKETIME_TIMESTAMP_FILE={}", offset_file.display()),
        "FAKETIME_NO_CACHE=1".to_string(),
    ];
    let conf = format!("server 198.18.0.2 {POLL2}\nserver 198.18.0.3 {POLL2}\n");
    ntpd::start_with_env(&lan, 1, &conf, &env, &["--single-thread"]);
    wait_peers(&lan, 1, 30, "synchronised", |p| {
        p.lines().any(|l| l.starts_with('*'))
    });
    let (code, text) = ntpstat(&lan, 1);
    assert_eq!(code, 0, "{text}");
    let learnt = |v: &std::collections::HashMap<String, String>| {
        v.get("frequency")
            .and_then(|f| f.parse::<f64>().ok())
            .is_some_and(|f| f > 20.0)
    };
    let before = lan
        .wait_for(Duration::from_secs(30), || Some(rv(&lan, 1)).filter(learnt))
        .unwrap_or_else(|| panic!("the servers' 100 ppm not learnt: {:?}", rv(&lan, 1)));
    // Kill only once both clock filters are full (eight replies in a row): how many silent
    // polls it takes to lose the system peer depends on how many real samples the filter
    // holds, and killing at an arbitrary point of the start-up left two, three or four.
    let p = wait_peers(&lan, 1, 40, "eight replies in a row", |p| {
        ["198.18.0.2", "198.18.0.3"]
            .iter()
            .all(|a| reach(p, a) == 0xff)
    });
    let sys_peer = p
        .lines()
        .find(|l| l.starts_with('*'))
        .and_then(|l| l.get(1..)?.split_whitespace().next())
        .expect("a system peer")
        .to_string();

    // every server goes away
    lan.kill_host(2);
    lan.kill_host(3);
    // From the third silent poll on, each poll shifts a 16 s dummy into the clock filter
    // (ntpd). Of eight real samples, four dummies leave a dispersion of
    // 16·(2⁻⁵+2⁻⁶+2⁻⁷+2⁻⁸) = 0.94 s; the fifth makes it 1.94 s, past maxdist (1.5 s): the
    // system peer goes at the seventh silent poll (at the eighth, reach 0, at the latest).
    let p = wait_peers(&lan, 1, 60, "no system peer", |p| {
        !p.lines().any(|l| l.starts_with('*'))
    });
    eprintln!("MEASURED servers gone:\n{p}");
    assert_eq!(
        reach(&p, &sys_peer) & 0x7f,
        0,
        "the system peer went before its filter passed maxdist (seven silent polls):\n{p}"
    );
    // holdover: still synchronised, on the learnt frequency (read now: the last replies
    // before the kill may still have moved it), which must stay
    let (code, text) = ntpstat(&lan, 1);
    assert_eq!(code, 0, "holdover must still be synchronised: {text}");
    let held = rv(&lan, 1);
    assert!(learnt(&held), "{held:?}");
    assert_eq!(held.get("leap").map(String::as_str), Some("00"), "{held:?}");
    let frequency = held.get("frequency").cloned().expect("frequency");

    // two days later (realtime and monotonic both jump): the error bound has grown by
    // 172800 s × 15 µs/s = 2.6 s, past maxdist (1.5 s)
    std::fs::write(&offset_file, "+172800\n").unwrap();
    let (code, text) = lan
        .wait_for(Duration::from_secs(20), || {
            let (code, text) = ntpstat(&lan, 1);
            (code == 1).then_some((code, text))
        })
        .unwrap_or_else(|| {
            panic!(
                "not unsynchronised: {:?}\n{}",
                ntpstat(&lan, 1),
                lan.log(1, "ntpkit.log")
            )
        });
    eprintln!("MEASURED after two days: ntpstat exit {code}: {text}");
    assert!(text.starts_with("unsynchronised"), "{text}");
    let after = rv(&lan, 1);
    eprintln!("MEASURED rv before {before:?} held {held:?} after {after:?}");
    assert_eq!(
        after.get("leap").map(String::as_str),
        Some("11"),
        "{after:?}"
    );
    assert_eq!(
        after.get("stratum").map(String::as_str),
        Some("16"),
        "{after:?}"
    );
    assert_eq!(
        after.get("refid").map(String::as_str),
        Some("INIT"),
        "{after:?}"
    );
    assert_eq!(after.get("frequency"), Some(&frequency), "{after:?}");
    assert!(
        lan.log(1, "ntpkit.log").contains("unsynchronised"),
        "{}",
        lan.log(1, "ntpkit.log")
    );
    // the jump reached the daemon's monotonic timers too: it kept running
    let p = ntpd::ntpsec_peers(&lan, 1);
    assert!(line_of(&p, "198.18.0.2").is_some(), "{p}");
}
