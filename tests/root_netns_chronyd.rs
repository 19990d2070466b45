//! ntpq and ntpstat against the real chronyd 4.3 on the namespace LAN, judged by chronyc.
//!
//! Host 4 runs chronyd (`-x`, no CAP_SYS_TIME) with three sources: our ntpd (LOCAL driver,
//! host 1), NTPsec in orphan mode (host 2) and a chronyd 1.5 s ahead under faketime
//! (host 3, the falseticker). Our `ntpq -pn` must show what `chronyc -n sources` /
//! `sourcestats` show (same set, same selected source, same falseticker, offsets and
//! jitter within chronyc's rounding), `ntpq -c rv` what `chronyc tracking` shows; over
//! the Unix socket and over UDP 323 (host 5 is in cmdallow, host 6 is not). `ntpstat` on
//! a chronyd host prints what Debian's prints on an ntpd host in the same state.

mod common;
use common::{lan::Lan, ntpd, peers};
use ntpkit::control::cmdmon::{Client, Endpoint};
use ntpkit::wire::cmdmon::Status;
use std::path::Path;
use std::time::Duration;

const TEST: &str = "root_netns_chronyd_ntpq_ntpstat_match_chronyc";
const LOCAL10: &str = "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n";
const RESTRICT: &str = "restrict default\nrestrict 127.0.0.1\nrestrict ::1\n";

fn text(o: &std::process::Output) -> (String, String, Option<i32>) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        o.status.code(),
    )
}

fn ours(lan: &Lan, host: usize, args: &[&str]) -> (String, String, Option<i32>) {
    text(&ntpd::our_ntpq(lan, host, args))
}

fn ntpstat(lan: &Lan, host: usize, debian: bool) -> (String, String, Option<i32>) {
    let bin = common::ntpkit_bin();
    let argv: Vec<&str> = if debian {
        vec!["ntpstat"]
    } else {
        vec![bin.to_str().unwrap(), "ntpstat"]
    };
    text(&lan.run(host, &argv))
}

/// The text with every number replaced by `N`: the shape two daemons' lines share.
fn shape(s: &str) -> String {
    let mut out = String::new();
    let mut in_num = false;
    for c in s.chars() {
        if c.is_ascii_digit() {
            if !in_num {
                out.push('N');
            }
            in_num = true;
        } else {
            in_num = false;
            out.push(c);
        }
    }
    out
}

/// chronyc's `12ns`, `-35us`, `+1500ms`, `2s` in seconds, and the resolution it printed.
fn chronyc_quantity(s: &str) -> (f64, f64) {
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let scale = match unit {
        "ns" => 1e-9,
        "us" => 1e-6,
        "ms" => 1e-3,
        _ => 1.0,
    };
    let v: f64 = num
        .parse()
        .unwrap_or_else(|_| panic!("chronyc quantity {s:?}"));
    (v * scale, scale)
}

/// One source as chronyc shows it: state char, address, the bracketed (measured) offset
/// in seconds and its resolution.
#[derive(Debug)]
struct ChronycSource {
    state: char,
    addr: String,
    orig_offset: (f64, f64),
}

fn chronyc_sources(text: &str) -> Vec<ChronycSource> {
    text.lines()
        .filter(|l| {
            let mut c = l.chars();
            c.next().is_some_and(|m| "^=#".contains(m))
                && c.next().is_some_and(|s| "*+-x~? ".contains(s))
        })
        .map(|l| {
            let state = l.chars().nth(1).unwrap();
            let addr = l[2..].split_whitespace().next().unwrap().to_string();
            let orig = l
                .split_once('[')
                .and_then(|(_, r)| r.split_once(']'))
                .map(|(v, _)| chronyc_quantity(v.trim()))
                .unwrap_or((0.0, 1.0));
            ChronycSource {
                state,
                addr,
                orig_offset: orig,
            }
        })
        .collect()
}

/// Our ntpq -pn rows: (tally, remote, refid, offset ms, jitter ms).
fn our_rows(text: &str) -> Vec<(char, String, String, String, String)> {
    text.lines()
        .skip_while(|l| !l.starts_with("===="))
        .skip(1)
        .map(|l| {
            let tally = l.chars().next().unwrap();
            let f: Vec<&str> = l[1..].split_whitespace().collect();
            (
                tally,
                f[0].to_string(),
                f[1].to_string(),
                f[8].to_string(),
                f[9].to_string(),
            )
        })
        .collect()
}

/// `Name : value` lines of `chronyc tracking`.
fn tracking_field<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_once(" : "))
        .map(|(_, v)| v.trim())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// `name=value` from ntpq's rv output.
fn rv_field<'a>(text: &'a str, name: &str) -> &'a str {
    let key = format!("{name}=");
    text.split([',', '\n'])
        .map(str::trim)
        .find_map(|f| f.strip_prefix(&key))
        .map(|v| v.split_whitespace().next().unwrap_or(""))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// chronyc (sources + sourcestats) and ours, back to back; a new sample between the two
/// can move the figures, so this retries before calling a difference real.
fn compare_peers(lan: &Lan, chronyc: &Path, sock: &Path) -> String {
    let sock_s = sock.to_str().unwrap();
    let c = |cmd: &str| {
        let out = lan.run(4, &[chronyc.to_str().unwrap(), "-h", sock_s, "-n", cmd]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let mut last = String::new();
    for _ in 0..8 {
        let sources = c("sources");
        let stats = c("sourcestats");
        let (mine, err, code) = ours(lan, 4, &["-pn", "--socket", sock_s]);
        assert_eq!((err.as_str(), code), ("", Some(0)), "{mine}");
        let theirs = chronyc_sources(&sources);
        let rows = our_rows(&mine);
        let mut problems = Vec::new();
        if theirs.len() != rows.len() {
            problems.push(format!("{} sources vs {} rows", theirs.len(), rows.len()));
        }
        for t in &theirs {
            let Some(r) = rows.iter().find(|r| r.1 == t.addr) else {
                problems.push(format!("{} missing", t.addr));
                continue;
            };
            let want = match t.state {
                '*' => '*',
                '+' => '+',
                '-' | '~' => '-',
                'x' => 'x',
                _ => ' ',
            };
            if r.0 != want {
                problems.push(format!(
                    "{}: tally {:?} for chronyc's {:?}",
                    t.addr, r.0, t.state
                ));
            }
            // ntpq's offset is the source minus us, chronyc's us minus the source
            let ours_ms: f64 = r.3.parse().unwrap();
            let (v, res) = t.orig_offset;
            if (ours_ms / 1e3 + v).abs() > res + 0.0006e-3 {
                problems.push(format!("{}: offset {ours_ms} ms vs chronyc {v} s", t.addr));
            }
            let stat_line = stats
                .lines()
                .find(|l| l.split_whitespace().next() == Some(t.addr.as_str()))
                .unwrap_or_else(|| panic!("{} not in sourcestats:\n{stats}", t.addr));
            let sd = chronyc_quantity(stat_line.split_whitespace().last().unwrap());
            let jitter_ms: f64 = r.4.parse().unwrap();
            if (jitter_ms / 1e3 - sd.0).abs() > sd.1 + 0.0006e-3 {
                problems.push(format!(
                    "{}: jitter {jitter_ms} ms vs Std Dev {sd:?}",
                    t.addr
                ));
            }
        }
        if problems.is_empty() {
            eprintln!("chronyc:\n{sources}{stats}ours:\n{mine}");
            return mine;
        }
        last = format!("{problems:?}\nchronyc:\n{sources}{stats}ours:\n{mine}");
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("ntpq -pn and chronyc differ: {last}");
}

/// `ntpq -c rv` against `chronyc tracking`, retried like `compare_peers`.
fn compare_tracking(lan: &Lan, chronyc: &Path, sock: &Path) {
    let sock_s = sock.to_str().unwrap();
    let mut last = String::new();
    for _ in 0..8 {
        let out = lan.run(
            4,
            &[chronyc.to_str().unwrap(), "-h", sock_s, "-n", "tracking"],
        );
        let tracking = String::from_utf8_lossy(&out.stdout).into_owned();
        let (rv, _, _) = ours(lan, 4, &["-c", "rv", "--socket", sock_s]);
        let secs = |name: &str| -> f64 {
            tracking_field(&tracking, name)
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        let num = |name: &str| -> f64 { rv_field(&rv, name).parse().unwrap() };
        let refid = tracking_field(&tracking, "Reference ID");
        let system_time = tracking_field(&tracking, "System time");
        let correction = secs("System time")
            * if system_time.contains("slow") {
                1.0
            } else {
                -1.0
            };
        let freq = secs("Frequency")
            * if tracking_field(&tracking, "Frequency").contains("slow") {
                -1.0
            } else {
                1.0
            };
        let checks = [
            (
                "stratum",
                rv_field(&rv, "stratum") == tracking_field(&tracking, "Stratum"),
            ),
            (
                "refid",
                refid.ends_with(&format!("({})", rv_field(&rv, "refid"))),
            ),
            (
                "leap",
                (rv_field(&rv, "leap") == "00")
                    == (tracking_field(&tracking, "Leap status") == "Normal"),
            ),
            (
                "rootdelay",
                (num("rootdelay") - secs("Root delay") * 1e3).abs() <= 0.0006,
            ),
            (
                "rootdisp",
                (num("rootdisp") - secs("Root dispersion") * 1e3).abs() <= 0.0006,
            ),
            ("offset", (num("offset") - correction * 1e3).abs() <= 0.001),
            // ntpd's frequency is the correction: the opposite of chronyd's clock error
            ("frequency", (num("frequency") + freq).abs() <= 0.0011),
        ];
        let failed: Vec<&str> = checks.iter().filter(|c| !c.1).map(|c| c.0).collect();
        if failed.is_empty() {
            eprintln!("chronyc tracking:\n{tracking}ntpq -c rv:\n{rv}");
            return;
        }
        last = format!("{failed:?}\n{tracking}\n{rv}");
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("ntpq -c rv and chronyc tracking differ: {last}");
}

#[test]
fn root_netns_chronyd_ntpq_ntpstat_match_chronyc() {
    let Some((chronyd, chronyc)) = common::chronyd_and_chronyc_or_skip(TEST) else {
        return;
    };
    if !common::needs(
        TEST,
        &[
            ("ntpd", "ntpsec"),
            ("ntpdig", "ntpsec-ntpdig"),
            ("ntpstat", "ntpstat"),
            ("faketime", "faketime"),
        ],
    ) {
        return;
    }
    let Some(lan) = common::lan_or_skip(TEST, 7) else {
        return;
    };
    let start = std::time::Instant::now();
    ntpd::start(&lan, 1, LOCAL10, &[]);
    peers::ntpsec_server(&lan, 2, 5, "");
    peers::chronyd_server(&lan, 3, 8, Some("+1.5s"), "");
    // host 5: our ntpd that cannot synchronise; host 7: our ntpd synchronised to host 1
    ntpd::start(
        &lan,
        5,
        &format!("{RESTRICT}server 198.18.0.99 iburst minpoll 3\n"),
        &[],
    );
    ntpd::start(
        &lan,
        7,
        &format!("{RESTRICT}server 198.18.0.1 iburst minpoll 3 maxpoll 4\n"),
        &[],
    );
    for s in ["198.18.0.1", "198.18.0.2", "198.18.0.3"] {
        peers::wait_serving(&lan, 4, s, Duration::from_secs(30))
            .unwrap_or_else(|| panic!("{s} not serving"));
    }
    let sock = common::spawn_chronyd(
        &lan,
        4,
        &chronyd,
        "chrony-client.conf",
        "server 198.18.0.1 iburst minpoll 0 maxpoll 1\n\
         server 198.18.0.2 iburst minpoll 0 maxpoll 1\n\
         server 198.18.0.3 iburst minpoll 0 maxpoll 1\n\
         bindcmdaddress 0.0.0.0\ncmdallow 198.18.0.5\n",
    );
    // host 6: a chronyd whose only source does not exist
    let sock6 = common::spawn_chronyd(
        &lan,
        6,
        &chronyd,
        "chrony-lost.conf",
        "server 198.18.0.99 iburst\n",
    );
    lan.wait_for(Duration::from_secs(60), || {
        let s = chronyc_sources(&common::chronyc_sources(&lan, 4, &chronyc, &sock));
        let selected = s.iter().any(|s| s.state == '*');
        let false_ticker = s.iter().any(|s| s.addr == "198.18.0.3" && s.state == 'x');
        (selected && false_ticker).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "chronyd never selected a source and flagged the falseticker:\n{}\n{}",
            common::chronyc_sources(&lan, 4, &chronyc, &sock),
            lan.log(4, "chronyd.log")
        )
    });
    eprintln!("set up in {:.1} s", start.elapsed().as_secs_f64());

    // -pn and rv over the Unix socket, against chronyc
    let table = compare_peers(&lan, &chronyc, &sock);
    assert!(table.contains("x198.18.0.3 "), "{table}");
    compare_tracking(&lan, &chronyc, &sock);
    let sock_s = sock.to_str().unwrap();

    // -c as, --json, --watch over the socket
    let (assoc, _, _) = ours(&lan, 4, &["-c", "as", "--socket", sock_s]);
    assert!(assoc.contains("falsetick"), "{assoc}");
    assert!(assoc.contains("sys.peer"), "{assoc}");
    assert_eq!(
        assoc.lines().filter(|l| l.contains(" yes ")).count(),
        3,
        "{assoc}"
    );
    let (json, _, _) = ours(&lan, 4, &["--json", "-pn", "--socket", sock_s]);
    let v: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    let rows = v["result"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{json}");
    assert!(
        rows.iter()
            .any(|r| r["tally"] == "x" && r["srcadr"] == "198.18.0.3"),
        "{json}"
    );
    let bin = common::ntpkit_bin();
    let watch = lan.run(
        4,
        &[
            "timeout",
            "2.5",
            bin.to_str().unwrap(),
            "ntpq",
            "--watch",
            "1",
            "-pn",
            "--socket",
            sock_s,
        ],
    );
    let watched = String::from_utf8_lossy(&watch.stdout);
    assert!(watched.matches("     remote ").count() >= 2, "{watched}");

    // the library over the socket, from here (a Unix socket is not in a namespace)
    let mut c = Client::connect(Endpoint::Unix(sock.clone()), Duration::from_secs(3)).unwrap();
    let stats = c.server_stats().unwrap();
    assert!(
        stats
            .counters
            .iter()
            .any(|(n, v)| *n == "command_packets_received" && *v > 0),
        "{stats:?}"
    );
    assert_eq!(c.activity().unwrap().online, 3);
    assert_eq!(c.rtc().unwrap_err().status(), Some(Status::NORTC));
    let nd = c.ntp_data("198.18.0.1".parse().unwrap()).unwrap();
    assert_eq!((nd.remote_port, nd.stratum), (123, 11));
    drop(c);

    // UDP 323 from a cmdallowed host: found without being told (auto), same sources
    let (udp, err, _) = ours(&lan, 5, &["-pn", "198.18.0.4"]);
    assert_eq!(err, "", "{udp}");
    let udp_rows = our_rows(&udp);
    let sock_rows = our_rows(&table);
    assert_eq!(
        udp_rows
            .iter()
            .map(|r| (&r.1, r.2.as_str()))
            .collect::<Vec<_>>(),
        sock_rows.iter().map(|r| (&r.1, "-")).collect::<Vec<_>>(),
        "over UDP chronyd does not give NTP data (refid): {udp}"
    );
    let (rv, _, _) = ours(&lan, 5, &["-c", "rv", "198.18.0.4"]);
    assert!(rv.contains("stratum="), "{rv}");
    // ... and from one that is not: one line that says why
    let (out, err, code) = ours(
        &lan,
        6,
        &[
            "--protocol",
            "chronyd",
            "-c",
            "timeout 500",
            "-p",
            "198.18.0.4",
        ],
    );
    assert_eq!((out.as_str(), code), ("", Some(0)), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("506 Cannot talk to daemon") && err.contains("cmdallow"),
        "{err}"
    );
    let (_, err, _) = ours(&lan, 6, &["-c", "timeout 300", "-pn", "198.18.0.4"]);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("***Request timed out") && err.contains("cmdallow"),
        "{err}"
    );

    // ntpstat: synchronised (chronyd on 4, our ntpd on 7)
    lan.wait_for(Duration::from_secs(30), || {
        (ntpstat(&lan, 7, true).2 == Some(0)).then_some(())
    })
    .unwrap_or_else(|| panic!("our ntpd never synchronised:\n{}", lan.log(7, "ntpkit.log")));
    let chrony = ntpstat(&lan, 4, false);
    let debian = ntpstat(&lan, 7, true);
    eprintln!(
        "ntpstat, chronyd synchronised:\n{}ntpstat (Debian), ntpd synchronised:\n{}",
        chrony.0, debian.0
    );
    assert_eq!(
        (shape(&chrony.0), chrony.1.as_str(), chrony.2),
        (shape(&debian.0), "", debian.2)
    );
    let out = lan.run(
        4,
        &[chronyc.to_str().unwrap(), "-h", sock_s, "-n", "tracking"],
    );
    let tracking = String::from_utf8_lossy(&out.stdout).into_owned();
    let addr = tracking_field(&tracking, "Reference ID")
        .split_once('(')
        .unwrap()
        .1
        .trim_end_matches(')');
    let stratum = tracking_field(&tracking, "Stratum");
    assert!(
        chrony.0.starts_with(&format!(
            "synchronised to NTP server ({addr}) at stratum {stratum} \n"
        )),
        "{chrony:?}\n{tracking}"
    );

    // unsynchronised (chronyd on 6, our ntpd on 5)
    lan.wait_for(Duration::from_secs(30), || {
        (ntpstat(&lan, 5, true).2 == Some(1)).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "our ntpd on 5 never answered:\n{}",
            lan.log(5, "ntpkit.log")
        )
    });
    let chrony = ntpstat(&lan, 6, false);
    let mut debian = ntpstat(&lan, 5, true);
    // ntpd's status word still names its start-up as the last event, which Debian's ntpstat
    // reports; chronyd has no events to report
    debian.0 = debian.0.replace("  time server re-starting\n", "");
    eprintln!(
        "ntpstat, chronyd unsynchronised:\n{}ntpstat (Debian), ntpd unsynchronised:\n{}",
        chrony.0, debian.0
    );
    assert_eq!(
        (shape(&chrony.0), chrony.1.as_str(), chrony.2),
        (shape(&debian.0), "", debian.2)
    );
    assert!(chrony.0.starts_with("unsynchronised\n"), "{chrony:?}");
    let _ = sock6;

    // not running: chronyd on 6 gone, as Debian's says of a host with no daemon
    lan.kill_host(6);
    let chrony = ntpstat(&lan, 6, false);
    let debian = ntpstat(&lan, 6, true);
    assert_eq!(chrony, debian);
    assert_eq!(chrony.2, Some(2));
    eprintln!("done in {:.1} s", start.elapsed().as_secs_f64());
}
