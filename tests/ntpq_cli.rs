//! The ntpq front end on loopback (no root needed): the binary against
//! `control::server::Responder` serving `control::sample::SampleState` on a free
//! 127.0.0.1 port (the `HOST:PORT` extension). Flags, interactive mode, JSON, errors.

mod common;
use ntpkit::config::RestrictFlags;
use ntpkit::control::sample::SampleState;
use ntpkit::control::server::Responder;
use ntpkit::wire::time::NtpTimestamp;
use std::io::Write;
use std::net::UdpSocket;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// The responder's keys; its controlkey is 1.
const KEYS: &str = "1 md5 secretpassword\n2 sha1 0123456789abcdef0123456789abcdef01234567\n";

/// A responder on 127.0.0.1:<free port> for the life of the test process.
fn server() -> String {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        let state = SampleState::new(
            || NtpTimestamp::from_system_time(std::time::SystemTime::now()),
            "198.18.0.2:123".parse().unwrap(),
        );
        let (keys, _) = ntpkit::config::keys_file::parse(KEYS, std::path::Path::new("keys"));
        let mut r = Responder::new(keys, Some(1), [1; 16]);
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            for d in r.respond(&buf[..n], from, &state, RestrictFlags::NONE) {
                let _ = sock.send_to(&d, from);
            }
        }
    });
    addr.to_string()
}

fn ntpq(args: &[&str]) -> Output {
    Command::new(common::ntpkit_bin())
        .arg("ntpq")
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn peers_table_in_ntp_org_layout() {
    let host = server();
    let o = ntpq(&["-pn", &host]);
    assert_eq!(o.status.code(), Some(0));
    let text = out(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert_eq!(
        lines[0],
        "     remote           refid      st t when poll reach   delay   offset  jitter"
    );
    // `when` (columns 38..42) depends on which second the query lands in
    let when = lines[2][38..42].trim().parse::<i64>().unwrap();
    assert!((12..=14).contains(&when), "{text}");
    assert_eq!(
        format!("{}WHEN{}", &lines[2][..38], &lines[2][42..]),
        "*198.18.0.1      .GPS.            1 u WHEN   64  377    0.512   -0.034   0.021"
    );
    assert!(lines.iter().all(|l| l.len() <= 78));
    assert!(!text.contains('\x1b'), "no colour when not a tty");
    // lpeers/opeers/apeers flavours
    let o = out(&ntpq(&["-n", "-c", "opeers", "-c", "apeers", &host]));
    assert!(
        o.contains(
            "     remote           local      st t when poll reach   delay   offset    disp"
        ),
        "{o}"
    );
    assert!(o.contains("*198.18.0.1      198.18.0.2       1 u"), "{o}");
    assert!(o.contains("*198.18.0.1      .GPS.    1       1 u"), "{o}");
}

#[test]
fn readvar_associations_sysinfo_and_errors() {
    let host = server();
    let o = ntpq(&[
        "-n",
        "-c",
        "rv",
        "-c",
        "as",
        "-c",
        "rv 2 reach,stratum",
        "-c",
        "sysinfo",
        &host,
    ]);
    let text = out(&o);
    assert!(text.starts_with(
        "associd=0 status=0615 leap_none, sync_ntp, 1 event, clock_sync,\nversion=\"ntpd ntpkit 0.1.0\", processor=\"x86_64\","
    ), "{text}");
    assert!(
        text.contains("  3     3  8011   yes    no  none    reject    mobilize  1"),
        "{text}"
    );
    assert!(text.contains("\nreach=177, stratum=3\n"), "{text}");
    assert!(text.contains("\nstratum:            2\n"), "{text}");
    let e = ntpq(&["-c", "rv 9", "-c", "bogus", "-c", "c", &host]);
    assert_eq!(
        String::from_utf8_lossy(&e.stderr),
        "***Association ID 9 unknown to server\n***Command `bogus' unknown\n***Command `c' ambiguous\n"
    );
    assert_eq!(e.status.code(), Some(0));
}

#[test]
fn json_for_every_command() {
    let host = server();
    let o = ntpq(&[
        "--json", "-p", "-c", "as", "-c", "rv", "-c", "sysinfo", "-c", "mrulist", &host,
    ]);
    let lines: Vec<serde_json::Value> = out(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let kinds: Vec<&str> = lines
        .iter()
        .map(|v| v["command"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["peers", "associations", "readvar", "sysinfo", "mrulist"]
    );
    assert_eq!(lines[0]["result"][1]["reach"], 0x7f);
    assert_eq!(lines[2]["result"]["vars"]["stratum"], 2);
    assert_eq!(lines[4]["result"].as_array().unwrap().len(), 3);
}

#[test]
fn interactive_prompt_and_local_commands() {
    let host = server();
    let mut child = Command::new(common::ntpkit_bin())
        .args(["ntpq", "-i", "-n", &host])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"host\ntimeout 700\ntimeout\nrv 0 stratum\nquit\npeers\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let text = out(&o);
    assert_eq!(
        text,
        format!(
            "ntpq> current host is {host}\nntpq> ntpq> primary timeout 700 ms\nntpq> stratum=2\nntpq> "
        )
    );
}

#[test]
fn timeouts_and_bad_hosts() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let host = silent.local_addr().unwrap().to_string();
    let t0 = std::time::Instant::now();
    let o = ntpq(&["-c", "timeout 200", "-c", "peers", &host]);
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "***Request timed out\n");
    assert_eq!(out(&o), "", "no header without an association list");
    assert_eq!(o.status.code(), Some(0));
    let bad = ntpq(&["-p", "no-such-host.invalid"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).starts_with("***Can't find host no-such-host.invalid")
    );
    let flag = ntpq(&["-Z"]);
    assert_eq!(flag.status.code(), Some(1));
}

#[test]
fn colour_only_on_a_tty_and_never_with_no_color() {
    if common::find_program("script", &[]).is_none() {
        return common::skip(
            "colour_only_on_a_tty_and_never_with_no_color",
            "needs script(1) for a pty (apt: bsdutils)",
        );
    }
    let host = server();
    let on_tty = |no_color: bool| {
        let cmd = format!("{} ntpq -pn {host}", common::ntpkit_bin().display());
        let mut c = Command::new("script");
        c.args(["-qec", &cmd, "/dev/null"]).env_remove("NO_COLOR");
        if no_color {
            c.env("NO_COLOR", "1");
        }
        out(&c.output().unwrap())
    };
    let coloured = on_tty(false);
    assert!(coloured.contains("\x1b["), "{coloured:?}");
    assert!(coloured.contains("198.18.0.1"), "{coloured:?}");
    let plain = on_tty(true);
    assert!(!plain.contains("\x1b["), "{plain:?}");
    assert!(plain.contains("*198.18.0.1      .GPS."), "{plain:?}");
}

#[test]
fn watch_repeats_the_table() {
    let host = server();
    // the old plain seconds and humantime's form
    for period in ["0.3", "300ms"] {
        let o = Command::new("timeout")
            .args([
                "2",
                common::ntpkit_bin().to_str().unwrap(),
                "ntpq",
                "-pn",
                "--watch",
                period,
                &host,
            ])
            .output()
            .unwrap();
        let text = out(&o);
        let headers = text.matches("     remote           refid").count();
        assert!(headers >= 2, "{period}: {text}");
        assert!(
            !text.contains("\x1b[2J"),
            "no screen clearing when not a tty"
        );
    }
    let o = Command::new(common::ntpkit_bin())
        .args(["ntpq", "-pn", "--watch", "soon", &host])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "ntpq's usage error");
    assert!(String::from_utf8_lossy(&o.stderr).contains("\"soon\" is not a duration"));
}

#[test]
fn writevar_with_the_control_key() {
    let host = server();
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("ntp.keys");
    std::fs::write(&keys, KEYS).unwrap();
    let keys = keys.to_str().unwrap();
    let ok = ntpq(&["-a", "1", "-k", keys, "-c", "writevar 0 leap=0", &host]);
    assert_eq!(
        out(&ok),
        "done! (no data returned)\n",
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let disallowed = "***Server disallowed request (authentication?)\n";
    for args in [
        &["-c", "writevar 0 leap=0"][..],
        &["-a", "2", "-k", keys, "-c", "writevar 0 leap=0"][..],
    ] {
        let o = ntpq(&[args, &[host.as_str()]].concat());
        assert_eq!(String::from_utf8_lossy(&o.stderr), disallowed, "{args:?}");
    }
    // reads are not signed unless asked (`authenticate yes`), and work either way
    let o = ntpq(&[
        "-a",
        "1",
        "-k",
        keys,
        "-c",
        "authenticate yes",
        "-c",
        "rv 0 stratum",
        &host,
    ]);
    assert_eq!(out(&o), "stratum=2\n");
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let missing = ntpq(&["-a", "7", "-k", keys, "-c", "rv", &host]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("key 7 not found"));
}
