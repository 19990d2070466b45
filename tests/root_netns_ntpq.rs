//! ntpq and the mode 6 responder against the judges, on the namespace LAN:
//! - our ntpq and NTPsec's ntpq, both asking the same NTPsec ntpd (a client of another
//!   NTPsec host), show the same peers, tally codes, refids, strata, types, polls, reach;
//! - `noquery` makes a remote ntpq time out while 127.0.0.1 is answered;
//! - NTPsec's ntpq parses what `control::server::Responder` answers (a UDP harness on
//!   port 123 of a LAN host, serving `control::sample::SampleState`).

mod common;
use common::ntpd::{self, our_ntpq};
use common::peers;
use ntpkit::config::RestrictFlags;
use ntpkit::control::sample::SampleState;
use ntpkit::control::server::Responder;
use ntpkit::wire::time::NtpTimestamp;
use std::net::{IpAddr, UdpSocket};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn errtext(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The columns of a peers table that do not depend on timing: tally, remote, refid,
/// stratum, type, poll, reach (both ntp.org's and NTPsec's layouts).
fn peer_columns(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .skip_while(|l| !l.starts_with("====="))
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (tally, rest) = l.split_at(1);
            let f: Vec<&str> = rest.split_whitespace().collect();
            let mut cols = vec![tally.to_string()];
            // remote refid st t when poll reach ...
            for i in [0, 1, 2, 3, 5, 6] {
                cols.push(f.get(i).unwrap_or(&"?").to_string());
            }
            cols
        })
        .collect()
}

fn needs_ntpsec(test: &str) -> bool {
    for p in ["ntpd", "ntpq"] {
        if common::find_program(p, &["/usr/sbin"]).is_none() {
            common::skip(test, &format!("needs NTPsec's {p} (apt: ntpsec)"));
            return false;
        }
    }
    true
}

#[test]
fn root_netns_ntpq_shows_what_ntpsec_ntpq_shows() {
    let test = "root_netns_ntpq_shows_what_ntpsec_ntpq_shows";
    if !needs_ntpsec(test) {
        return;
    }
    let Some(lan) = common::lan_or_skip(test, 2) else {
        return;
    };
    peers::ntpsec_server(&lan, 1, 5, "");
    peers::ntpsec_client(&lan, 2, &["198.18.0.1"], "");
    let synced = lan.wait_for(Duration::from_secs(90), || {
        let t = text(&lan.run(2, &["ntpq", "-pn"]));
        t.lines().any(|l| l.starts_with('*')).then_some(t)
    });
    assert!(
        synced.is_some(),
        "NTPsec client never selected its server:\n{}",
        lan.log(2, "ntpsec.log")
    );

    // timing-independent columns agree (reach/poll can move between two runs: retry)
    let mut last = (String::new(), String::new());
    let agreed = (0..5).any(|_| {
        let a = our_ntpq(&lan, 2, &["-pn"]);
        assert_eq!(a.status.code(), Some(0), "{}", errtext(&a));
        let theirs = text(&lan.run(2, &["ntpq", "-pn"]));
        let b = text(&our_ntpq(&lan, 2, &["-pn"]));
        let t = peer_columns(&theirs);
        let same = !t.is_empty() && (peer_columns(&text(&a)) == t || peer_columns(&b) == t);
        last = (text(&a), theirs);
        if !same {
            std::thread::sleep(Duration::from_secs(1));
        }
        same
    });
    assert!(agreed, "ours:\n{}\nNTPsec's:\n{}", last.0, last.1);
    let ours_table = last.0;
    // ntp.org 4.2.8 layout: 78 columns, tally * for the system peer
    let lines: Vec<&str> = ours_table.lines().collect();
    assert_eq!(
        lines[0],
        "     remote           refid      st t when poll reach   delay   offset  jitter"
    );
    assert_eq!(lines[1], "=".repeat(78));
    assert!(
        lines[2].starts_with("*198.18.0.1      127.0.0.1        5 u "),
        "{ours_table}"
    );
    assert_eq!(lines[2].len(), 78, "{ours_table}");

    // associations: same ids and conditions as NTPsec's ntpq
    let as_ours = text(&our_ntpq(&lan, 2, &["-c", "as"]));
    let as_theirs = text(&lan.run(2, &["ntpq", "-c", "as"]));
    let pick = |t: &str| -> Vec<(String, String)> {
        t.lines()
            .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f[1].to_string(), f[6].to_string())
            })
            .collect()
    };
    assert_eq!(pick(&as_ours), pick(&as_theirs), "{as_ours}\n{as_theirs}");
    assert!(as_ours.contains("sys.peer"), "{as_ours}");

    // rv, rv of the association, sysinfo parse
    let rv = our_ntpq(&lan, 2, &["-n", "-c", "rv", "-c", "rv &1", "-c", "sysinfo"]);
    let rv_text = text(&rv);
    assert_eq!(rv.status.code(), Some(0));
    assert!(rv_text.starts_with("associd=0 status="), "{rv_text}");
    assert!(rv_text.contains("stratum=6"), "{rv_text}");
    assert!(rv_text.contains("version=\"ntpd ntpsec"), "{rv_text}");
    assert!(
        rv_text.contains("srcadr=198.18.0.1, srcport=123"),
        "{rv_text}"
    );
    assert!(
        rv_text.contains("system peer:        198.18.0.1:123"),
        "{rv_text}"
    );
    assert!(rv_text.contains("system peer mode:   client"), "{rv_text}");
    assert!(errtext(&rv).is_empty(), "{}", errtext(&rv));

    // JSON carries the same rows
    let j = text(&our_ntpq(&lan, 2, &["-pn", "--json"]));
    let v: serde_json::Value = serde_json::from_str(j.trim()).expect("one JSON object");
    assert_eq!(v["result"][0]["srcadr"], "198.18.0.1");
    assert_eq!(v["result"][0]["tally"], "*");
    assert_eq!(v["result"][0]["stratum"], 5);

    // an unknown variable is an error message from the server, exit code stays 0
    let bad = our_ntpq(&lan, 2, &["-c", "rv 0 nosuchvariable"]);
    assert_eq!(bad.status.code(), Some(0));
    assert_eq!(
        errtext(&bad),
        "***A request variable unknown to the server\n"
    );
    // an unresolvable host is exit code 1
    let nohost = our_ntpq(&lan, 2, &["-p", "no-such-host.invalid"]);
    assert_eq!(nohost.status.code(), Some(1), "{}", errtext(&nohost));
}

#[test]
fn root_netns_ntpq_noquery_remote_times_out_loopback_answers() {
    let test = "root_netns_ntpq_noquery_remote_times_out_loopback_answers";
    if !needs_ntpsec(test) {
        return;
    }
    let Some(lan) = common::lan_or_skip(test, 3) else {
        return;
    };
    // NTPsec answers the LAN only with a restrict line for it; host 1 adds noquery
    peers::ntpsec_server(&lan, 1, 5, "restrict 198.18.0.0 mask 255.255.255.0 noquery");
    peers::ntpsec_server(&lan, 2, 5, "restrict 198.18.0.0 mask 255.255.255.0");
    let args = ["-n", "-c", "timeout 1000", "-c", "rv 0 stratum"];
    let up = lan.wait_for(Duration::from_secs(20), || {
        let o = our_ntpq(&lan, 1, &[&args[..], &["127.0.0.1"]].concat());
        text(&o).contains("stratum=").then_some(o)
    });
    assert!(
        up.is_some(),
        "loopback unanswered:\n{}",
        lan.log(1, "ntpsec.log")
    );
    // the control: the same query to the host without noquery is answered
    let open = lan.wait_for(Duration::from_secs(20), || {
        let o = our_ntpq(&lan, 3, &[&args[..], &["198.18.0.2"]].concat());
        text(&o).contains("stratum=").then_some(o)
    });
    assert!(open.is_some(), "host without noquery never answered");
    let closed = our_ntpq(&lan, 3, &[&args[..], &["198.18.0.1"]].concat());
    assert_eq!(errtext(&closed), "***Request timed out\n");
    assert_eq!(text(&closed), "");
    assert_eq!(
        closed.status.code(),
        Some(0),
        "ntpq's exit code after a timeout"
    );
}

/// Serve `control::server::Responder` over UDP port 123 inside host `ns` (a thread that
/// joined the namespace) until `stop` is set.
fn serve_responder(
    ns: &str,
    restrict: fn(IpAddr) -> RestrictFlags,
) -> (std::thread::JoinHandle<()>, Arc<AtomicBool>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let path = format!("/run/netns/{ns}");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        use std::os::fd::AsFd;
        let f = std::fs::File::open(&path).expect("netns handle");
        // setns moves this thread only
        let rc = rustix::thread::move_into_link_name_space(
            f.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        );
        rc.unwrap_or_else(|e| panic!("setns: {e}"));
        let sock = UdpSocket::bind("0.0.0.0:123").expect("bind port 123 in the namespace");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        ready_tx.send(()).unwrap();
        let state = SampleState::new(
            || NtpTimestamp::from_system_time(std::time::SystemTime::now()),
            "198.18.0.1:123".parse().unwrap(),
        );
        let mut responder = Responder::new(Default::default(), None, [0x5a; 16]);
        let mut buf = [0u8; 2048];
        while !flag.load(Ordering::Relaxed) {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            for d in responder.respond(&buf[..n], from, &state, restrict(from.ip())) {
                let _ = sock.send_to(&d, from);
            }
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("responder thread ready");
    (handle, stop)
}

#[test]
fn root_netns_ntpsec_ntpq_parses_our_responder() {
    let test = "root_netns_ntpsec_ntpq_parses_our_responder";
    if !needs_ntpsec(test) {
        return;
    }
    let Some(lan) = common::lan_or_skip(test, 2) else {
        return;
    };
    let (handle, stop) = serve_responder(&lan.host(1).ns, |_| RestrictFlags::NONE);
    let host = "198.18.0.1";

    let p = lan.run(2, &["ntpq", "-pn", host]);
    let table = text(&p);
    assert!(errtext(&p).is_empty(), "{}", errtext(&p));
    let rows = peer_columns(&table);
    let want = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        rows,
        vec![
            want(&["*", "198.18.0.1", ".GPS.", "1", "u", "64", "377"]),
            want(&["+", "198.18.0.3", "198.18.0.9", "3", "u", "64", "177"]),
            want(&[" ", "198.18.0.4", ".INIT.", "16", "u", "64", "0"]),
        ],
        "{table}"
    );
    // our ntpq prints the same table from the same responder
    let ours_table = text(&our_ntpq(&lan, 2, &["-pn", host]));
    assert_eq!(peer_columns(&ours_table), rows, "{ours_table}");

    let rv = text(&lan.run(2, &["ntpq", "-c", "rv", host]));
    assert!(
        rv.contains("leap_none, sync_ntp, 1 event, clock_sync"),
        "{rv}"
    );
    assert!(rv.contains("version=\"ntpd ntpkit"), "{rv}");
    assert!(rv.contains("stratum=2"), "{rv}");
    assert!(rv.contains("refid=198.18.0.1"), "{rv}");

    let assoc = text(&lan.run(2, &["ntpq", "-c", "as", host]));
    assert!(
        assoc.contains("  1     1  961a   yes   yes  none  sys.peer    sys_peer  1"),
        "{assoc}"
    );
    let peer = text(&lan.run(2, &["ntpq", "-c", "rv 1", host]));
    assert!(peer.contains("srcadr=198.18.0.1"), "{peer}");
    assert!(peer.contains("reach=377"), "{peer}");

    let sysinfo = lan.run(2, &["ntpq", "-c", "sysinfo", host]);
    assert!(
        text(&sysinfo).contains("198.18.0.1:123"),
        "{}{}",
        text(&sysinfo),
        errtext(&sysinfo)
    );

    // NTPsec's mrulist goes through REQ_NONCE and READ_MRU with our nonce
    let mru = lan.run(2, &["ntpq", "-n", "-c", "mrulist", host]);
    let mru_text = text(&mru);
    for a in ["198.18.0.1", "198.18.0.3", "198.18.0.4"] {
        assert!(mru_text.contains(a), "{mru_text}{}", errtext(&mru));
    }

    stop.store(true, Ordering::Relaxed);
    handle.join().unwrap();
}

#[test]
fn root_netns_responder_noquery_drops_remote_only() {
    let test = "root_netns_responder_noquery_drops_remote_only";
    if !needs_ntpsec(test) {
        return;
    }
    let Some(lan) = common::lan_or_skip(test, 2) else {
        return;
    };
    let (handle, stop) = serve_responder(&lan.host(1).ns, |ip| {
        if ip.is_loopback() {
            RestrictFlags::NONE
        } else {
            RestrictFlags::NOQUERY
        }
    });
    let args = ["-n", "-c", "timeout 500", "-c", "rv 0 stratum"];
    let local = our_ntpq(&lan, 1, &[&args[..], &["127.0.0.1"]].concat());
    assert_eq!(text(&local), "stratum=2\n", "{}", errtext(&local));
    let remote = our_ntpq(&lan, 2, &[&args[..], &["198.18.0.1"]].concat());
    assert_eq!(errtext(&remote), "***Request timed out\n");
    let theirs = lan.run(2, &["ntpq", "-c", "rv", "198.18.0.1"]);
    assert!(
        errtext(&theirs).contains("timed out"),
        "{}",
        errtext(&theirs)
    );
    stop.store(true, Ordering::Relaxed);
    handle.join().unwrap();
}

#[test]
fn root_netns_ntpstat_and_check_ntp_peer_accept_our_responder() {
    let test = "root_netns_ntpstat_and_check_ntp_peer_accept_our_responder";
    let check_ntp_peer = "/usr/lib/nagios/plugins/check_ntp_peer";
    if common::find_program("ntpstat", &[]).is_none() {
        return common::skip(test, "needs Debian's ntpstat (apt: ntpstat)");
    }
    if !std::path::Path::new(check_ntp_peer).exists() {
        return common::skip(test, "needs check_ntp_peer (apt: monitoring-plugins-basic)");
    }
    let Some(lan) = common::lan_or_skip(test, 1) else {
        return;
    };
    let (handle, stop) = serve_responder(&lan.host(1).ns, |_| RestrictFlags::NONE);
    // the classic C ntpstat: one READVAR to 127.0.0.1:123, the whole 576-byte struct
    let st = lan.run(1, &["ntpstat"]);
    let st_text = text(&st);
    assert_eq!(st.status.code(), Some(0), "{st_text}{}", errtext(&st));
    assert!(
        st_text.starts_with("synchronised to NTP server (198.18.0.1) at stratum 2"),
        "{st_text}"
    );
    assert!(st_text.contains("polling server every 64 s"), "{st_text}");
    // monitoring-plugins: READSTAT, then READVAR of the system peer
    let cp = lan.run(
        1,
        &[check_ntp_peer, "-H", "127.0.0.1", "-w", "1", "-c", "2"],
    );
    let cp_text = text(&cp);
    assert_eq!(cp.status.code(), Some(0), "{cp_text}{}", errtext(&cp));
    assert!(cp_text.starts_with("NTP OK: Offset"), "{cp_text}");
    stop.store(true, Ordering::Relaxed);
    handle.join().unwrap();
}

#[test]
fn root_netns_both_ntpqs_agree_about_our_ntpd() {
    let test = "root_netns_both_ntpqs_agree_about_our_ntpd";
    if !needs_ntpsec(test) {
        return;
    }
    let Some(lan) = common::lan_or_skip(test, 2) else {
        return;
    };
    peers::ntpsec_server(&lan, 1, 5, "");
    ntpd::start(
        &lan,
        2,
        "server 198.18.0.1 iburst minpoll 3 maxpoll 4\nrestrict default\nrestrict 127.0.0.1\n",
        &[],
    );
    let synced = lan.wait_for(Duration::from_secs(90), || {
        let t = text(&our_ntpq(&lan, 2, &["-pn", "127.0.0.1"]));
        t.lines().any(|l| l.starts_with('*')).then_some(t)
    });
    assert!(
        synced.is_some(),
        "our ntpd never selected NTPsec:\n{}",
        lan.log(2, "ntpkit.log")
    );
    let mut last = (String::new(), String::new());
    let agreed = (0..5).any(|_| {
        let a = text(&our_ntpq(&lan, 2, &["-pn", "127.0.0.1"]));
        let theirs = text(&lan.run(2, &["ntpq", "-pn", "127.0.0.1"]));
        let b = text(&our_ntpq(&lan, 2, &["-pn", "127.0.0.1"]));
        let t = peer_columns(&theirs);
        let same = !t.is_empty() && (peer_columns(&a) == t || peer_columns(&b) == t);
        last = (a, theirs);
        if !same {
            std::thread::sleep(Duration::from_secs(1));
        }
        same
    });
    assert!(agreed, "ours:\n{}\nNTPsec's:\n{}", last.0, last.1);
    assert!(last.0.contains("*198.18.0.1 "), "{}", last.0);
    let as_ours = text(&our_ntpq(&lan, 2, &["-c", "as", "127.0.0.1"]));
    assert!(as_ours.contains("sys.peer"), "{as_ours}");
    let rv = our_ntpq(&lan, 2, &["-n", "-c", "rv", "-c", "sysinfo", "127.0.0.1"]);
    assert!(errtext(&rv).is_empty(), "{}", errtext(&rv));
    assert!(text(&rv).contains("stratum=6"), "{}", text(&rv));
}
