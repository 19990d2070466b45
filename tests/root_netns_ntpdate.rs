//! ntpdate against real servers on the namespace LAN: NTPsec's ntpd, chronyd, a chronyd
//! under faketime (a falseticker), an unsynchronised NTPsec, a rate-limiting NTPsec (KoD),
//! silence, and the clock-setting path without CAP_SYS_TIME. Our offsets are compared
//! with NTPsec's own ntpdate (ntpdig) against the same servers.
//!
//! Never sets this machine's clock: every run is `-q`, or without CAP_SYS_TIME.

mod common;
use common::lan_or_skip as lan;
use common::{lan::Lan, lan::NO_SYS_TIME, peers};
use std::process::Output;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// Whether the reference programs are here; skips (loudly) otherwise.
fn have_references(test: &str, need_chrony: bool) -> bool {
    let programs = [
        ("ntpd", "ntpsec"),
        ("ntpdig", "ntpsec-ntpdig"),
        ("faketime", "faketime"),
        ("setpriv", "util-linux"),
    ];
    if !common::needs(test, &programs) {
        return false;
    }
    if need_chrony && common::chrony_program("chronyd").is_none() {
        common::skip(
            test,
            "needs chronyd (unpacked under /opt/chrony by .ci/run)",
        );
        return false;
    }
    true
}

/// Our ntpdate inside host `i`.
fn ntpdate(lan: &Lan, i: usize, args: &[&str]) -> Output {
    let bin = common::ntpkit_bin();
    let mut argv = vec![bin.to_str().unwrap(), "ntpdate"];
    argv.extend_from_slice(args);
    lan.run(i, &argv)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `server A, stratum N, offset X, delay Y` → (A, N, X, Y); panics on any other shape.
fn parse_server_line(line: &str) -> (String, u8, f64, f64) {
    let rest = line
        .strip_prefix("server ")
        .unwrap_or_else(|| panic!("not a server line: {line:?}"));
    let parts: Vec<&str> = rest.split(", ").collect();
    assert_eq!(parts.len(), 4, "{line:?}");
    let field = |p: &str, name: &str| -> String {
        p.strip_prefix(name)
            .unwrap_or_else(|| panic!("{name} missing in {line:?}"))
            .to_string()
    };
    let offset = field(parts[2], "offset ");
    let delay = field(parts[3], "delay ");
    // ntp.org's number formats: six and five decimals, no plus sign
    assert_eq!(offset.split('.').nth(1).map(str::len), Some(6), "{line:?}");
    assert_eq!(delay.split('.').nth(1).map(str::len), Some(5), "{line:?}");
    assert!(!offset.starts_with('+'), "{line:?}");
    (
        parts[0].to_string(),
        field(parts[1], "stratum ").parse().unwrap(),
        offset.parse().unwrap(),
        delay.parse().unwrap(),
    )
}

/// ` 5 Jan 12:00:01 ntpdate[1234]: MSG` → MSG, checking the prefix's shape.
fn log_message(line: &str) -> String {
    let (prefix, msg) = line
        .split_once(": ")
        .unwrap_or_else(|| panic!("not a log line: {line:?}"));
    let b = prefix.as_bytes();
    assert!(prefix.len() > 16, "{line:?}");
    assert!(b[0] == b' ' || b[0].is_ascii_digit(), "{line:?}");
    assert!(b[1].is_ascii_digit() && b[2] == b' ', "{line:?}");
    assert_eq!(&prefix[9..10], ":", "{line:?}");
    assert!(prefix[15..].starts_with(" ntpdate["), "{line:?}");
    assert!(prefix.ends_with(']'), "{line:?}");
    msg.to_string()
}

/// NTPsec's offset for each server, one `ntpdig` (what NTPsec's `ntpdate -q` runs) per
/// server, since with several servers it reports only the one it picks.
fn reference_offsets(lan: &Lan, i: usize, servers: &[&str]) -> Vec<(String, f64)> {
    servers
        .iter()
        .filter_map(|s| {
            let out = lan.run(i, &["ntpdig", "-t", "1", s]);
            // "2026-11-25 17:23:28.534534 (+0000) +0.000037 +/- 0.000177 198.18.0.1 s5 no-leap"
            let line = text(&out.stdout);
            let f: Vec<&str> = line.split_whitespace().collect();
            Some((f.get(6)?.to_string(), f.get(3)?.parse().ok()?))
        })
        .collect()
}

#[test]
fn root_netns_ntpdate_chooses_a_truechimer_and_matches_ntpsec() {
    let test = "root_netns_ntpdate_chooses_a_truechimer_and_matches_ntpsec";
    if !have_references(test, true) {
        return;
    }
    let Some(lan) = lan(test, 5) else { return };
    peers::ntpsec_server(&lan, 1, 5, "");
    peers::chronyd_server(&lan, 2, 8, None, "");
    peers::chronyd_server(&lan, 3, 8, Some("+2.5s"), "");
    peers::chronyd_server(&lan, 4, 9, None, "");
    let servers = ["198.18.0.1", "198.18.0.2", "198.18.0.3", "198.18.0.4"];
    for (i, s) in servers.iter().enumerate() {
        peers::wait_serving(&lan, 5, s, WAIT).unwrap_or_else(|| {
            panic!(
                "server {s} silent:\n{}{}",
                lan.log(i + 1, "ntpsec.log"),
                lan.log(i + 1, "chronyd.log")
            )
        });
    }

    let out = ntpdate(
        &lan,
        5,
        &["-q", servers[0], servers[1], servers[2], servers[3]],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    let parsed: Vec<_> = lines[..4].iter().map(|l| parse_server_line(l)).collect();
    for (p, s) in parsed.iter().zip(servers) {
        assert_eq!(p.0, s, "argument order: {stdout}");
    }
    assert_eq!(
        parsed.iter().map(|p| p.1).collect::<Vec<_>>(),
        vec![5, 8, 8, 9],
        "{stdout}"
    );
    assert!(
        (parsed[2].2 - 2.5).abs() < 0.2,
        "falseticker offset: {stdout}"
    );
    for p in [&parsed[0], &parsed[1], &parsed[3]] {
        assert!(p.2.abs() < 0.05 && p.3 > 0.0 && p.3 < 0.5, "{stdout}");
    }
    let msg = log_message(lines[4]);
    assert!(msg.starts_with("adjust time server "), "{msg}");
    assert!(msg.ends_with(" sec"), "{msg}");
    let chosen = msg.split_whitespace().nth(3).unwrap();
    assert_ne!(chosen, "198.18.0.3", "the falseticker was chosen: {stdout}");
    assert!(servers.contains(&chosen), "{msg}");

    // The falseticker is a falseticker to the ranking too.
    let out = ntpdate(
        &lan,
        5,
        &["-q", "--json", servers[0], servers[2], servers[3]],
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let fake = json["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["address"] == "198.18.0.3")
        .expect("falseticker listed");
    assert_eq!(fake["status"], "falseticker", "{json}");
    assert!(fake["rank"].is_null(), "{json}");
    assert_ne!(json["chosen"], "198.18.0.3");

    // Same servers, same moment: NTPsec's ntpdate sees the same offsets (to within LAN
    // noise, generous for two busy cores).
    let reference = reference_offsets(&lan, 5, &servers);
    assert_eq!(reference.len(), 4, "NTPsec ntpdate: {reference:?}");
    for (addr, theirs) in &reference {
        let ours = parsed.iter().find(|p| &p.0 == addr).expect("same server").2;
        assert!(
            (ours - theirs).abs() < 0.02,
            "{addr}: ours {ours}, NTPsec {theirs}"
        );
    }
}

#[test]
fn root_netns_ntpdate_unknown_host_and_silence() {
    let test = "root_netns_ntpdate_unknown_host_and_silence";
    if !have_references(test, false) {
        return;
    }
    let Some(lan) = lan(test, 2) else { return };
    // Host 1 exists but runs no server; the unknown name cannot leave the namespace.
    let out = ntpdate(
        &lan,
        2,
        &["-q", "-t", "1", "no-such-host.invalid", "198.18.0.1"],
    );
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("ntpdate: can't find host no-such-host.invalid\n"),
        "{stderr}"
    );
    assert_eq!(
        stdout,
        "server 198.18.0.1, stratum 0, offset 0.000000, delay 0.00000\n"
    );
    let last = stderr.lines().last().unwrap();
    assert_eq!(
        log_message(last),
        "no server suitable for synchronization found"
    );

    // Nothing resolvable at all.
    let out = ntpdate(&lan, 2, &["-q", "no-such-host.invalid"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no servers can be used, exiting"));
}

#[test]
fn root_netns_ntpdate_never_chooses_unsynchronised_or_kod_servers() {
    let test = "root_netns_ntpdate_never_chooses_unsynchronised_or_kod_servers";
    if !have_references(test, true) {
        return;
    }
    let Some(lan) = lan(test, 4) else { return };
    peers::chronyd_server(&lan, 1, 8, None, "");
    // An NTPsec client whose only server does not exist: it answers, unsynchronised.
    peers::ntpsec_client(&lan, 2, &["198.18.0.99"], "");
    // An NTPsec server that rate-limits hard and says so with Kiss-o'-Death RATE. Its
    // readiness is checked over mode 6 from its own host, so that no NTP query uses up
    // our client's allowance before the real one.
    peers::ntpsec_server(
        &lan,
        3,
        5,
        "restrict default kod limited\nlimit average 0.5 burst 2 kod 50",
    );
    peers::wait_serving(&lan, 4, "198.18.0.1", WAIT).expect("chronyd serving");
    lan.wait_for(WAIT, || {
        let out = lan.run(3, &["ntpq", "-c", "rv 0 stratum", "127.0.0.1"]);
        text(&out.stdout).contains("stratum=5").then_some(())
    })
    .unwrap_or_else(|| panic!("NTPsec not in orphan mode:\n{}", lan.log(3, "ntpsec.log")));
    let unsync = lan
        .wait_for(WAIT, || {
            let out = lan.run(4, &["ntpdig", "-t", "1", "198.18.0.2"]);
            let t = text(&out.stdout) + &text(&out.stderr);
            (!t.is_empty()).then_some(t)
        })
        .expect("unsynchronised NTPsec answers");

    // Rate-limited: the burst draws a RATE kiss and the server is dropped; chrony wins.
    let out = ntpdate(
        &lan,
        4,
        &["-q", "--json", "198.18.0.3", "198.18.0.2", "198.18.0.1"],
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["chosen"], "198.18.0.1", "{json}");
    let status = |a: &str| {
        json["servers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["address"] == a)
            .unwrap()["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(status("198.18.0.3"), "KoD RATE", "{json}");
    assert_eq!(status("198.18.0.2"), "unsynchronised", "{json}");
    assert_eq!(out.status.code(), Some(0));

    // Unsynchronised alone: printed, never chosen.
    let out = ntpdate(&lan, 4, &["-q", "198.18.0.2"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout} (ntpdig: {unsync})");
    let (_, stratum, _, _) = parse_server_line(stdout.lines().next().unwrap());
    assert_eq!(stratum, 16, "{stdout}");
    assert!(text(&out.stderr).contains("no server suitable for synchronization found"));
}

#[test]
fn root_netns_ntpdate_samples_one_to_eight() {
    let test = "root_netns_ntpdate_samples_one_to_eight";
    if !have_references(test, true) {
        return;
    }
    let Some(lan) = lan(test, 2) else { return };
    peers::chronyd_server(&lan, 1, 8, None, "");
    peers::wait_serving(&lan, 2, "198.18.0.1", WAIT).expect("chronyd serving");
    for p in 1..=8 {
        let ps = p.to_string();
        let out = ntpdate(&lan, 2, &["-q", "-d", "-p", &ps, "198.18.0.1"]);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "-p {p}: {stdout}");
        assert!(
            stdout.contains(&format!("198.18.0.1: sent {p}, received {p},")),
            "-p {p}: {stdout}"
        );
        let line = stdout
            .lines()
            .find(|l| l.starts_with("server "))
            .expect("server line");
        let (_, stratum, offset, _) = parse_server_line(line);
        assert_eq!(stratum, 8);
        assert!(offset.abs() < 0.05, "{stdout}");
    }
}

#[test]
fn root_netns_ntpdate_without_cap_sys_time_changes_nothing() {
    let test = "root_netns_ntpdate_without_cap_sys_time_changes_nothing";
    if !have_references(test, true) {
        return;
    }
    let Some(lan) = lan(test, 2) else { return };
    peers::chronyd_server(&lan, 1, 8, None, "");
    peers::wait_serving(&lan, 2, "198.18.0.1", WAIT).expect("chronyd serving");

    // First make sure the capability really is gone in such a process; only then let
    // ntpdate try to set the clock.
    let mut probe: Vec<&str> = NO_SYS_TIME.to_vec();
    probe.extend(["grep", "^CapEff:", "/proc/self/status"]);
    let caps = text(&lan.run(2, &probe).stdout);
    let eff = u64::from_str_radix(caps.split_whitespace().nth(1).expect("CapEff"), 16).unwrap();
    const CAP_SYS_TIME: u32 = 25;
    assert_eq!(
        eff & (1 << CAP_SYS_TIME),
        0,
        "setpriv left CAP_SYS_TIME: {caps}"
    );

    let bin = common::ntpkit_bin();
    for (flag, what) in [("-B", "adj_systime"), ("-b", "step-systime")] {
        let mut argv: Vec<&str> = NO_SYS_TIME.to_vec();
        argv.extend([bin.to_str().unwrap(), "ntpdate", flag, "198.18.0.1"]);
        let out = lan.run(2, &argv);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{flag}: {stderr}");
        assert_eq!(
            log_message(stderr.lines().last().unwrap()),
            format!("{what}: Operation not permitted")
        );
        // no result line: nothing was adjusted
        assert_eq!(text(&out.stdout), "", "{flag}");
    }
}

/// `/etc/netns/<ns>/hosts`, which `ip netns exec` mounts over /etc/hosts for processes in
/// that namespace only; removed again on drop.
struct NetnsHosts(std::path::PathBuf);

impl NetnsHosts {
    fn new(ns: &str, text: &str) -> NetnsHosts {
        let dir = std::path::Path::new("/etc/netns").join(ns);
        std::fs::create_dir_all(&dir).expect("create /etc/netns/NS");
        std::fs::write(dir.join("hosts"), text).expect("write hosts");
        NetnsHosts(dir)
    }
}

impl Drop for NetnsHosts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        // leave /etc/netns itself only if someone else uses it
        let _ = std::fs::remove_dir("/etc/netns");
    }
}

#[test]
fn root_netns_ntpdate_every_address_of_a_name_ipv6_and_ports() {
    let test = "root_netns_ntpdate_every_address_of_a_name_ipv6_and_ports";
    if !have_references(test, true) {
        return;
    }
    let Some(lan) = lan(test, 3) else { return };
    peers::chronyd_server(&lan, 1, 8, None, "");
    peers::ntpsec_server(&lan, 2, 5, "");
    peers::wait_serving(&lan, 3, "198.18.0.1", WAIT).expect("chronyd serving");
    peers::wait_serving(&lan, 3, "198.18.0.2", WAIT).expect("NTPsec serving");
    let _hosts = NetnsHosts::new(
        &lan.host(3).ns,
        "127.0.0.1 localhost\n198.18.0.1 pair\n198.18.0.2 pair\n",
    );

    // One name, two addresses: both queried, one line each (in getaddrinfo's order).
    let out = ntpdate(&lan, 3, &["-q", "-p", "2", "pair:123"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let mut servers: Vec<String> = stdout
        .lines()
        .filter(|l| l.starts_with("server "))
        .map(|l| parse_server_line(l).0)
        .collect();
    servers.sort();
    assert_eq!(servers, ["198.18.0.1", "198.18.0.2"], "{stdout}");

    // IPv6 and explicit ports on the server's own loopback.
    let out = ntpdate(&lan, 1, &["-q", "[::1]:123", "127.0.0.1:123"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let lines: Vec<_> = stdout.lines().collect();
    assert_eq!(parse_server_line(lines[0]).0, "::1", "{stdout}");
    assert_eq!(parse_server_line(lines[1]).0, "127.0.0.1", "{stdout}");
    assert_eq!(parse_server_line(lines[0]).1, 8, "{stdout}");

    // -4 leaves no IPv6 address to ask.
    let out = ntpdate(&lan, 1, &["-q", "-4", "[::1]:123", "127.0.0.1"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("ntpdate: can't find host [::1]:123"));
    assert_eq!(
        text(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("server "))
            .count(),
        1
    );
}

#[test]
fn root_netns_ntpdate_rank_table_without_a_terminal() {
    let test = "root_netns_ntpdate_rank_table_without_a_terminal";
    if !have_references(test, true) {
        return;
    }
    let Some(lan) = lan(test, 4) else { return };
    peers::chronyd_server(&lan, 1, 8, None, "");
    peers::ntpsec_server(&lan, 2, 5, "");
    peers::chronyd_server(&lan, 3, 8, Some("+2.5s"), "");
    for s in ["198.18.0.1", "198.18.0.2", "198.18.0.3"] {
        peers::wait_serving(&lan, 4, s, WAIT).expect("serving");
    }
    // FORCE_COLOR unset and stdout a pipe: plain ASCII, no escape sequences.
    let out = lan.run(
        4,
        &[
            "env",
            "-u",
            "FORCE_COLOR",
            common::ntpkit_bin().to_str().unwrap(),
            "ntpdate",
            "-q",
            "--rank",
            "198.18.0.3",
            "198.18.0.1",
            "198.18.0.2",
            "198.18.0.9",
        ],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(!stdout.contains('\x1b'), "{stdout:?}");
    let rows: Vec<&str> = stdout.lines().filter(|l| l.contains("198.18.0.")).collect();
    assert_eq!(rows.len(), 4, "{stdout}");
    // ranked servers first (1 and 2), then the falseticker, then the silent one
    assert!(
        rows[0].contains("| 1 ") && rows[0].contains("best"),
        "{stdout}"
    );
    assert!(rows[1].contains("| 2 "), "{stdout}");
    assert!(
        rows[2].contains("198.18.0.3") && rows[2].contains("falseticker"),
        "{stdout}"
    );
    assert!(
        rows[3].contains("198.18.0.9") && rows[3].contains("no reply"),
        "{stdout}"
    );
    assert!(rows[3].contains("0/4"), "{stdout}");
}

#[test]
fn root_netns_ntpdate_authenticates_with_ntpsec() {
    let test = "root_netns_ntpdate_authenticates_with_ntpsec";
    if !have_references(test, false) {
        return;
    }
    let Some(lan) = lan(test, 2) else { return };
    let server_keys = lan.host(1).dir.join("ntp.keys");
    std::fs::write(
        &server_keys,
        "1 MD5 tr0ub4dor\n2 SHA1 0123456789abcdef0123456789abcdef01234567\n",
    )
    .unwrap();
    peers::ntpsec_server(
        &lan,
        1,
        5,
        &format!("keys {}\ntrustedkey 1 2", server_keys.display()),
    );
    peers::wait_serving(&lan, 2, "198.18.0.1", WAIT).expect("NTPsec serving");
    let client_keys = lan.host(2).dir.join("ntp.keys");
    std::fs::write(
        &client_keys,
        "1 MD5 tr0ub4dor\n2 SHA1 0123456789abcdef0123456789abcdef01234567\n3 MD5 wrong\n",
    )
    .unwrap();
    let keys = client_keys.to_str().unwrap();
    for key in ["1", "2"] {
        let out = ntpdate(&lan, 2, &["-q", "-a", key, "-k", keys, "198.18.0.1"]);
        let stdout = text(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "key {key}: {stdout}{}",
            text(&out.stderr)
        );
        assert_eq!(parse_server_line(stdout.lines().next().unwrap()).1, 5);
    }
    // A key the server does not know, or key 1 with the wrong secret: NTPsec drops such
    // requests silently, and nothing unsigned would be used anyway.
    let wrong_keys = lan.host(2).dir.join("wrong.keys");
    std::fs::write(&wrong_keys, "1 MD5 password\n").unwrap();
    for (key, file) in [("3", keys), ("1", wrong_keys.to_str().unwrap())] {
        let out = ntpdate(
            &lan,
            2,
            &[
                "-q",
                "-t",
                "1",
                "-a",
                key,
                "-k",
                file,
                "--json",
                "198.18.0.1",
            ],
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(out.status.code(), Some(1), "{json}");
        assert!(json["chosen"].is_null(), "{json}");
        assert_eq!(json["servers"][0]["status"], "no reply", "{json}");
    }
}
