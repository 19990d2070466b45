//! Our ntpd on the namespace LAN, judged by NTPsec's ntpdig/ntpdate (and later chronyd and
//! NTPsec's ntpd). Our ntpd always runs `--observe-only -n` and through `Lan::spawn`, i.e. without
//! CAP_SYS_TIME: it can never touch this machine's clock.

mod common;
use common::ntpd::{self, ntpdig};
use common::{lan::Lan, peers};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const LOCAL10: &str = "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n";

fn lan(test: &str, n: usize) -> Option<Lan> {
    if !common::needs(test, &[("ntpdig", "ntpsec-ntpdig")]) {
        return None;
    }
    common::lan_or_skip(test, n)
}

/// Wait until our daemon on host `i` has bound its sockets (the log says so).
fn wait_listening(lan: &Lan, i: usize) {
    let ok = lan.wait_for(Duration::from_secs(10), || {
        lan.log(i, "ntpkit.log")
            .contains("serving on")
            .then_some(())
    });
    assert!(
        ok.is_some(),
        "ntpd did not start:\n{}",
        lan.log(i, "ntpkit.log")
    );
}

#[test]
fn root_netns_ntpd_unsynchronised_answers_exactly_as_ntpsec_does() {
    let test = "root_netns_ntpd_unsynchronised_answers_exactly_as_ntpsec_does";
    if !common::needs(test, &[("ntpd", "ntpsec")]) {
        return;
    }
    let Some(lan) = lan(test, 3) else { return };
    ntpd::start(&lan, 1, "", &[]);
    // NTPsec with no sources at all: unsynchronised, as we are
    std::fs::write(lan.host(2).dir.join("ntp.conf"), "restrict default\n").unwrap();
    let conf = lan.host(2).dir.join("ntp.conf");
    lan.spawn(
        2,
        "ntpsec.log",
        &["ntpd", "-n", "-c", conf.to_str().unwrap()],
    );
    wait_listening(&lan, 1);
    let ntpsec = lan
        .wait_for(Duration::from_secs(10), || {
            let (ok, text) = ntpdig(&lan, 3, "198.18.0.2");
            (!ok && text.contains("Response dropped")).then_some(text)
        })
        .expect("NTPsec answers");
    let (ok, ours) = ntpdig(&lan, 3, "198.18.0.1");
    assert!(!ok, "{ours}");
    // leap 3 and stratum 0 on the wire: ntpdig drops both the same way
    assert_eq!(
        ours.replace("198.18.0.1", "X"),
        ntpsec.replace("198.18.0.2", "X"),
        "ours: {ours}\nNTPsec: {ntpsec}"
    );
    assert!(ours.contains("stratum 0"), "{ours}");
    let out = lan.run(3, &["ntpdate", "-q", "198.18.0.1"]);
    assert!(!out.status.success());
}

#[test]
fn root_netns_ntpd_local_clock_driver_serves_stratum_11_to_ntpdig_and_ntpdate() {
    let test = "root_netns_ntpd_local_clock_driver_serves_stratum_11_to_ntpdig_and_ntpdate";
    if !common::needs(test, &[("ntpdate", "ntpsec-ntpdate")]) {
        return;
    }
    let Some(lan) = lan(test, 2) else { return };
    ntpd::start(&lan, 1, LOCAL10, &[]);
    let line = peers::wait_serving(&lan, 2, "198.18.0.1", Duration::from_secs(20))
        .unwrap_or_else(|| panic!("not serving:\n{}", lan.log(1, "ntpkit.log")));
    // ntp.org: fudge stratum 10 is the driver's stratum; the daemon is one more
    assert!(line.contains(" s11 no-leap"), "{line}");
    // same clock, same machine: the offset is tiny
    let offset: f64 = line.split_whitespace().nth(3).unwrap().parse().unwrap();
    assert!(offset.abs() < 0.05, "{line}");
    let out = lan.run(2, &["ntpdate", "-q", "198.18.0.1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("s11"), "{text}");
    // IPv6 too (the wildcard [::] socket), here over ::1
    let (ok, v6) = ntpdig(&lan, 1, "::1");
    assert!(ok && v6.contains(" s11 no-leap"), "{v6}");
}

#[test]
fn root_netns_ntpd_single_thread_syncs_and_serves_from_one_thread() {
    let test = "root_netns_ntpd_single_thread_syncs_and_serves_from_one_thread";
    if !common::needs(test, &[("ntpd", "ntpsec")]) {
        return;
    }
    let Some(lan) = lan(test, 3) else { return };
    peers::ntpsec_server(&lan, 3, 5, "");
    peers::wait_serving(&lan, 2, "198.18.0.3", Duration::from_secs(20)).expect("NTPsec serving");
    // a name (resolved with a blocking getaddrinfo in this mode) and an address
    let pid = ntpd::start(
        &lan,
        1,
        "server localhost iburst\nserver 198.18.0.3 iburst\n",
        &["--single-thread", "-4"],
    );
    let line = lan
        .wait_for(Duration::from_secs(30), || {
            let (ok, text) = ntpdig(&lan, 2, "198.18.0.1");
            (ok && text.contains(" s6 no-leap")).then_some(text)
        })
        .unwrap_or_else(|| panic!("not serving s6:\n{}", lan.log(1, "ntpkit.log")));
    assert!(line.contains("198.18.0.1"), "{line}");
    let threads = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .count();
    assert_eq!(threads, 1, "{}", lan.log(1, "ntpkit.log"));
    let sockets = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|t| t.to_string_lossy().starts_with("socket:"))
        .count();
    assert!(sockets <= 20, "{sockets} sockets");
    assert!(
        lan.log(1, "ntpkit.log").contains("(localhost)"),
        "{}",
        lan.log(1, "ntpkit.log")
    );
}

#[test]
fn root_netns_ntpd_restrict_default_ignore_answers_only_the_allowed_host() {
    let test = "root_netns_ntpd_restrict_default_ignore_answers_only_the_allowed_host";
    let Some(lan) = lan(test, 3) else { return };
    let conf = format!("restrict default ignore\nrestrict 198.18.0.2\n{LOCAL10}");
    ntpd::start(&lan, 1, &conf, &[]);
    peers::wait_serving(&lan, 2, "198.18.0.1", Duration::from_secs(20))
        .unwrap_or_else(|| panic!("allowed host not served:\n{}", lan.log(1, "ntpkit.log")));
    let (ok, text) = ntpdig(&lan, 3, "198.18.0.1");
    assert!(!ok, "ignored host was answered: {text}");
    assert!(
        !text.contains("Response"),
        "ignored host got a packet: {text}"
    );
}

#[test]
fn root_netns_ntpd_noserve_denies_time_but_not_to_others() {
    let test = "root_netns_ntpd_noserve_denies_time_but_not_to_others";
    let Some(lan) = lan(test, 3) else { return };
    let conf = format!("restrict default noserve\nrestrict 198.18.0.2 nomodify notrap\n{LOCAL10}");
    ntpd::start(&lan, 1, &conf, &[]);
    peers::wait_serving(&lan, 2, "198.18.0.1", Duration::from_secs(20))
        .unwrap_or_else(|| panic!("allowed host not served:\n{}", lan.log(1, "ntpkit.log")));
    let (ok, text) = ntpdig(&lan, 3, "198.18.0.1");
    assert!(
        !ok && !text.contains("Response"),
        "noserve host was answered: {text}"
    );
}

#[test]
fn root_netns_ntpd_kod_limited_sends_rate_kisses_and_limited_alone_drops() {
    let test = "root_netns_ntpd_kod_limited_sends_rate_kisses_and_limited_alone_drops";
    let Some(lan) = lan(test, 4) else { return };
    let conf = format!("restrict default kod limited\nrestrict 198.18.0.3 limited\n{LOCAL10}");
    ntpd::start(&lan, 1, &conf, &[]);
    // host 4 waits until the LOCAL driver is selected (its own queries get limited too)
    let ok = lan.wait_for(Duration::from_secs(20), || {
        let (ok, text) = ntpdig(&lan, 4, "198.18.0.1");
        std::thread::sleep(Duration::from_secs(2));
        (ok && text.contains(" s11 ")).then_some(())
    });
    assert!(ok.is_some(), "{}", lan.log(1, "ntpkit.log"));
    // back-to-back queries: the first is answered, the next trip `discard minimum`
    let (ok, first) = ntpdig(&lan, 2, "198.18.0.1");
    assert!(ok && first.contains(" s11 "), "{first}");
    let (ok, second) = ntpdig(&lan, 2, "198.18.0.1");
    assert!(!ok, "{second}");
    assert!(
        second.contains("probable KOD"),
        "expected a RATE kiss: {second}"
    );
    // without `kod`, a limited client just gets nothing
    let (ok, first) = ntpdig(&lan, 3, "198.18.0.1");
    assert!(ok, "{first}");
    let (ok, second) = ntpdig(&lan, 3, "198.18.0.1");
    assert!(!ok && !second.contains("Response"), "{second}");
}

#[test]
fn root_netns_ntpd_interface_flag_limits_where_it_listens() {
    let test = "root_netns_ntpd_interface_flag_limits_where_it_listens";
    let Some(lan) = lan(test, 2) else { return };
    ntpd::start(&lan, 1, LOCAL10, &["-I", "127.0.0.1"]);
    wait_listening(&lan, 1);
    let local = peers::wait_serving(&lan, 1, "127.0.0.1", Duration::from_secs(10));
    assert!(local.is_some(), "{}", lan.log(1, "ntpkit.log"));
    let (ok, text) = ntpdig(&lan, 2, "198.18.0.1");
    assert!(!ok && !text.contains("Response"), "{text}");
}

#[test]
fn root_netns_ntpd_sighup_reopens_the_log_and_sigterm_saves_drift_removes_pidfile_exits_0() {
    let test =
        "root_netns_ntpd_sighup_reopens_the_log_and_sigterm_saves_drift_removes_pidfile_exits_0";
    let Some(lan) = lan(test, 1) else { return };
    let dir = lan.host(1).dir.clone();
    let pidfile = dir.join("ntpd.pid");
    let drift = dir.join("ntp.drift");
    std::fs::write(
        dir.join("ntpkit.conf"),
        format!("{LOCAL10}driftfile {}\n", drift.display()),
    )
    .unwrap();
    let bin = common::ntpkit_bin();
    let mut child = lan
        .command(
            1,
            &[
                "setpriv",
                "--inh-caps=-sys_time",
                "--bounding-set=-sys_time",
                bin.to_str().unwrap(),
                "ntpd",
                "--observe-only",
                "-n",
                "-c",
                dir.join("ntpkit.conf").to_str().unwrap(),
                "-p",
                pidfile.to_str().unwrap(),
                "-l",
                dir.join("ntpd.log").to_str().unwrap(),
            ],
        )
        .spawn()
        .unwrap();
    let pid = lan
        .wait_for(Duration::from_secs(10), || {
            std::fs::read_to_string(&pidfile)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
        })
        .expect("pidfile written");
    assert_eq!(pid as u32, child.id());
    // synchronised to LOCAL: from then on the frequency is known and worth saving
    lan.wait_for(Duration::from_secs(10), || {
        std::fs::read_to_string(dir.join("ntpd.log"))
            .ok()
            .filter(|l| l.contains("synchronized"))
            .map(|_| ())
    })
    .expect("synchronised to LOCAL");
    // log rotation: move the file away, SIGHUP, and the daemon writes a fresh one
    std::fs::rename(dir.join("ntpd.log"), dir.join("ntpd.log.1")).unwrap();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGHUP,
    );
    lan.wait_for(Duration::from_secs(10), || {
        std::fs::read_to_string(dir.join("ntpd.log"))
            .ok()
            .filter(|l| l.contains("SIGHUP"))
            .map(|_| ())
    })
    .expect("log reopened after SIGHUP");
    let t = Instant::now();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    );
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(!pidfile.exists());
    let log = std::fs::read_to_string(dir.join("ntpd.log")).unwrap();
    assert!(log.contains("SIGTERM"), "{log}");
    let saved = std::fs::read_to_string(&drift).expect("drift file written at exit");
    assert!(saved.trim().parse::<f64>().is_ok(), "{saved:?}");
}

#[test]
fn root_netns_ntpd_daemonises_and_reports_startup_failures_to_the_caller() {
    let test = "root_netns_ntpd_daemonises_and_reports_startup_failures_to_the_caller";
    let Some(lan) = lan(test, 2) else { return };
    let dir = lan.host(1).dir.clone();
    std::fs::write(dir.join("ntpkit.conf"), LOCAL10).unwrap();
    let pidfile = dir.join("ntpd.pid");
    let bin = common::ntpkit_bin();
    let conf = dir.join("ntpkit.conf");
    let argv = [
        "setpriv",
        "--inh-caps=-sys_time",
        "--bounding-set=-sys_time",
        bin.to_str().unwrap(),
        "ntpd",
        "--observe-only",
        "-c",
        conf.to_str().unwrap(),
        "-p",
        pidfile.to_str().unwrap(),
    ];
    // the parent returns 0 once the daemon is serving
    let out = lan.run(1, &argv);
    assert!(
        out.status.success(),
        "{:?} {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let line = peers::wait_serving(&lan, 2, "198.18.0.1", Duration::from_secs(10));
    assert!(line.is_some_and(|l| l.contains(" s11 ")));
    // a second daemon cannot have port 123: the caller sees the error and exit 1
    let out = lan.run(1, &argv);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("123") && err.contains("in use"), "{err}");
}

#[test]
fn root_netns_ntpd_mode6_serves_ntpq_and_ntpstat_and_noquery_drops_it() {
    let test = "root_netns_ntpd_mode6_serves_ntpq_and_ntpstat_and_noquery_drops_it";
    if !common::needs(test, &[("ntpq", "ntpsec"), ("ntpstat", "ntpstat")]) {
        return;
    }
    let Some(lan) = lan(test, 2) else { return };
    // the seed's restrict lines: queries only from this host
    let conf = format!(
        "restrict default kod nomodify notrap nopeer noquery\nrestrict 127.0.0.1\n{LOCAL10}"
    );
    ntpd::start(&lan, 1, &conf, &[]);
    wait_listening(&lan, 1);
    let out = lan
        .wait_for(Duration::from_secs(10), || {
            let out = lan.run(1, &["ntpq", "-pn", "127.0.0.1"]);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.contains("*LOCAL(0)").then_some(text)
        })
        .unwrap_or_else(|| panic!("ntpq -p:\n{}", lan.log(1, "ntpkit.log")));
    assert!(out.contains(".LOCL.") && out.contains(" 10 "), "{out}");
    let rv = lan.run(1, &["ntpq", "-c", "rv", "127.0.0.1"]);
    let rv = String::from_utf8_lossy(&rv.stdout);
    assert!(
        rv.contains("stratum=11") && rv.contains("sync_local"),
        "{rv}"
    );
    // Debian's ntpstat reads the same over mode 6
    let st = lan.run(1, &["ntpstat"]);
    let text = String::from_utf8_lossy(&st.stdout);
    assert_eq!(st.status.code(), Some(0), "{text}");
    assert!(text.contains("stratum 11"), "{text}");
    // from the LAN: time yes (kod nomodify … noquery), queries silently dropped
    peers::wait_serving(&lan, 2, "198.18.0.1", Duration::from_secs(10)).expect("time served");
    let q = lan.run(2, &["ntpq", "-pn", "198.18.0.1"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&q.stdout),
        String::from_utf8_lossy(&q.stderr)
    );
    assert!(
        !text.contains("127.127.1.0") && !text.contains("LOCAL(0)"),
        "noquery host got an answer: {text}"
    );
    assert!(text.contains("timed out"), "{text}");
}

#[test]
fn root_netns_ntpd_signs_replies_for_trusted_keys_like_ntpsec() {
    let test = "root_netns_ntpd_signs_replies_for_trusted_keys_like_ntpsec";
    let Some(lan) = lan(test, 2) else { return };
    let dir = lan.host(2).dir.clone();
    let keys = dir.join("keys");
    let wrong = dir.join("wrong.keys");
    let untrusted = dir.join("untrusted.keys");
    std::fs::write(
        &keys,
        "1 MD5 sesame\n2 SHA1 0123456789abcdef0123456789abcdef01234567\n",
    )
    .unwrap();
    std::fs::write(&wrong, "1 MD5 open\n").unwrap();
    std::fs::write(&untrusted, "3 MD5 sesame\n").unwrap();
    let server_keys = lan.host(1).dir.join("keys");
    std::fs::write(
        &server_keys,
        "1 MD5 sesame\n2 SHA1 0123456789abcdef0123456789abcdef01234567\n3 MD5 sesame\n",
    )
    .unwrap();
    let conf = format!("keys {}\ntrustedkey 1 2\n{LOCAL10}", server_keys.display());
    ntpd::start(&lan, 1, &conf, &[]);
    peers::wait_serving(&lan, 2, "198.18.0.1", Duration::from_secs(10)).expect("serving");
    let dig = |key: &str, file: &PathBuf| {
        let out = lan.run(
            2,
            &[
                "ntpdig",
                "-t",
                "1",
                "-a",
                key,
                "-k",
                file.to_str().unwrap(),
                "198.18.0.1",
            ],
        );
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    for key in ["1", "2"] {
        let (ok, text) = dig(key, &keys);
        assert!(ok && text.contains(" s11 "), "key {key}: {text}");
    }
    // a wrong secret or an untrusted key: no answer (NTPsec drops these too)
    let (_, text) = dig("1", &wrong);
    assert!(!text.contains(" s11 "), "{text}");
    let (_, text) = dig("3", &untrusted);
    assert!(!text.contains(" s11 "), "{text}");
}

/// Start our ntpd on `i` as a client of `upstream` and measure how long until a third host
/// sees it serving stratum `want` with no leap warning. Returns the ntpdig line.
fn sync_and_serve(lan: &Lan, i: usize, upstream: &str, observer: usize, want: u8) -> String {
    let start = Instant::now();
    let stats = lan.host(i).dir.join("stats");
    std::fs::create_dir_all(&stats).unwrap();
    let conf = format!(
        "server {upstream} iburst\nstatsdir {}/\nstatistics loopstats peerstats\n",
        stats.display()
    );
    ntpd::start(lan, i, &conf, &[]);
    let me = format!("198.18.0.{i}");
    let line = lan
        .wait_for(Duration::from_secs(60), || {
            let (ok, text) = ntpdig(lan, observer, &me);
            (ok && text.contains(&format!(" s{want} no-leap"))).then_some(text)
        })
        .unwrap_or_else(|| panic!("never served s{want}:\n{}", lan.log(i, "ntpkit.log")));
    eprintln!(
        "MEASURED: synchronised to {upstream} and serving s{want} after {:.1} s (goal ≤ 5 s with iburst)",
        start.elapsed().as_secs_f64()
    );
    line
}

#[test]
fn root_netns_ntpd_synchronises_to_ntpsec_and_serves_stratum_plus_one() {
    let test = "root_netns_ntpd_synchronises_to_ntpsec_and_serves_stratum_plus_one";
    if !common::needs(test, &[("ntpd", "ntpsec")]) {
        return;
    }
    let Some(lan) = lan(test, 3) else { return };
    peers::ntpsec_server(&lan, 1, 5, "");
    peers::wait_serving(&lan, 3, "198.18.0.1", Duration::from_secs(20)).expect("NTPsec serving");
    let line = sync_and_serve(&lan, 2, "198.18.0.1", 3, 6);
    let offset: f64 = line.split_whitespace().nth(3).unwrap().parse().unwrap();
    assert!(offset.abs() < 0.05, "{line}");
    // ntpq (NTPsec's) sees the association as the system peer
    let out = lan.run(2, &["ntpq", "-pn", "127.0.0.1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("*198.18.0.1"), "{text}");
    // classic stats lines: loopstats 7 fields, peerstats 8 with the peer's address
    let stats = lan.host(2).dir.join("stats");
    let read = |name: &str| std::fs::read_to_string(stats.join(name)).unwrap_or_default();
    let loopstats = read("loopstats");
    let first = loopstats
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no loopstats in {stats:?}"));
    assert_eq!(first.split_whitespace().count(), 7, "{first}");
    let peerstats = read("peerstats");
    let first = peerstats.lines().next().expect("peerstats line");
    let fields: Vec<&str> = first.split_whitespace().collect();
    assert_eq!((fields.len(), fields[2]), (8, "198.18.0.1"), "{first}");
}

#[test]
fn root_netns_ntpd_synchronises_to_chronyd_and_serves_stratum_plus_one() {
    let test = "root_netns_ntpd_synchronises_to_chronyd_and_serves_stratum_plus_one";
    if !common::needs_chronyd(test) {
        return;
    }
    let Some(lan) = lan(test, 3) else { return };
    peers::chronyd_server(&lan, 1, 8, None, "");
    peers::wait_serving(&lan, 3, "198.18.0.1", Duration::from_secs(20)).expect("chronyd serving");
    let line = sync_and_serve(&lan, 2, "198.18.0.1", 3, 9);
    assert!(line.contains("198.18.0.2"), "{line}");
}

#[test]
fn root_netns_ntpd_is_selected_by_a_chronyd_client() {
    let test = "root_netns_ntpd_is_selected_by_a_chronyd_client";
    let Some((chronyd, chronyc)) = common::chronyd_and_chronyc_or_skip(test) else {
        return;
    };
    let Some(lan) = lan(test, 2) else { return };
    ntpd::start(&lan, 1, LOCAL10, &[]);
    peers::wait_serving(&lan, 2, "198.18.0.1", Duration::from_secs(20)).expect("serving");
    let sock = common::spawn_chronyd(
        &lan,
        2,
        &chronyd,
        "chrony-client.conf",
        "server 198.18.0.1 iburst minpoll 0 maxpoll 2\n",
    );
    let sources = lan
        .wait_for(Duration::from_secs(60), || {
            let text = common::chronyc_sources(&lan, 2, &chronyc, &sock);
            text.contains("^* 198.18.0.1").then_some(text)
        })
        .unwrap_or_else(|| panic!("chronyd never selected us:\n{}", lan.log(2, "chronyd.log")));
    assert!(sources.contains(" 11 "), "stratum 11 expected: {sources}");
}

#[test]
fn root_netns_ntpd_seed_three_node_cluster_master_11_followers_12() {
    let test = "root_netns_ntpd_seed_three_node_cluster_master_11_followers_12";
    let Some(lan) = lan(test, 4) else { return };
    // the seed's master: LOCAL driver at stratum 10 (ntp.org serves one more: 11)
    ntpd::start(
        &lan,
        1,
        "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n",
        &[],
    );
    peers::wait_serving(&lan, 4, "198.18.0.1", Duration::from_secs(20)).expect("master serving");
    ntpd::start(&lan, 2, "server 198.18.0.1 iburst\n", &[]);
    // the seed's follower verbatim, capital-F `Fudge` and all: a warning, then it works
    ntpd::start(
        &lan,
        3,
        "server 198.18.0.1 iburst\nFudge 198.18.0.1 stratum 10\n",
        &[],
    );
    let (ok, master) = ntpdig(&lan, 4, "198.18.0.1");
    assert!(ok && master.contains(" s11 no-leap"), "{master}");
    for follower in [2, 3] {
        let addr = format!("198.18.0.{follower}");
        let line = lan
            .wait_for(Duration::from_secs(60), || {
                let (ok, text) = ntpdig(&lan, 4, &addr);
                (ok && text.contains(" s12 no-leap")).then_some(text)
            })
            .unwrap_or_else(|| panic!("follower {follower}:\n{}", lan.log(follower, "ntpkit.log")));
        assert!(line.contains(&addr));
    }
    let log = lan.log(3, "ntpkit.log");
    assert!(log.contains(":2") && log.contains("Fudge"), "{log}");
}

#[test]
fn root_netns_ntpd_q_sets_once_and_exits() {
    let test = "root_netns_ntpd_q_sets_once_and_exits";
    if !common::needs(test, &[("ntpd", "ntpsec")]) {
        return;
    }
    let Some(lan) = lan(test, 2) else { return };
    peers::ntpsec_server(&lan, 1, 5, "");
    peers::wait_serving(&lan, 2, "198.18.0.1", Duration::from_secs(20)).expect("NTPsec serving");
    let conf = lan.host(2).dir.join("q.conf");
    std::fs::write(&conf, "server 198.18.0.1 iburst\n").unwrap();
    let bin = common::ntpkit_bin();
    let out = lan.run(
        2,
        &[
            "timeout",
            "60",
            "setpriv",
            "--inh-caps=-sys_time",
            "--bounding-set=-sys_time",
            bin.to_str().unwrap(),
            "ntpd",
            "-q",
            "--observe-only",
            "-n",
            "--port",
            "0",
            "-c",
            conf.to_str().unwrap(),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.starts_with("ntpd: time slew ") || text.starts_with("ntpd: time set "),
        "{text}"
    );
}

#[test]
fn root_netns_ntpd_u_drops_root_after_binding_port_123() {
    let test = "root_netns_ntpd_u_drops_root_after_binding_port_123";
    let Some(lan) = lan(test, 2) else { return };
    let pid = ntpd::start(&lan, 1, LOCAL10, &["-u", "nobody"]);
    let line = peers::wait_serving(&lan, 2, "198.18.0.1", Duration::from_secs(20))
        .unwrap_or_else(|| panic!("not serving:\n{}", lan.log(1, "ntpkit.log")));
    assert!(line.contains(" s11 "), "{line}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid.split_whitespace().skip(1).all(|u| u == "65534"),
        "{uid}"
    );
}

#[test]
fn root_netns_ntpd_restrict_ignore_also_drops_replies_unless_restrict_source_allows() {
    let test = "root_netns_ntpd_restrict_ignore_also_drops_replies_unless_restrict_source_allows";
    let Some(lan) = lan(test, 4) else { return };
    ntpd::start(&lan, 1, LOCAL10, &[]);
    peers::wait_serving(&lan, 4, "198.18.0.1", Duration::from_secs(20)).expect("upstream");
    // ntpd semantics: `ignore` applies to every packet, also our upstream's replies…
    ntpd::start(
        &lan,
        2,
        "restrict default ignore\nserver 198.18.0.1 iburst\n",
        &[],
    );
    // …unless `restrict source` opens the door for the associations' own addresses
    ntpd::start(
        &lan,
        3,
        "restrict default ignore\nrestrict source nomodify noquery\nrestrict 198.18.0.4\nserver 198.18.0.1 iburst\n",
        &[],
    );
    let served = lan.wait_for(Duration::from_secs(30), || {
        let (ok, text) = ntpdig(&lan, 4, "198.18.0.3");
        (ok && text.contains(" s12 ")).then_some(text)
    });
    assert!(served.is_some(), "{}", lan.log(3, "ntpkit.log"));
    let out = lan.run(2, &["ntpq", "-pn", "127.0.0.1"]);
    let _ = out; // host 2 ignores everyone, ntpq included
    let log = lan.log(2, "ntpkit.log");
    assert!(!log.contains("synchronized to"), "{log}");
}

#[test]
fn root_netns_ntpd_with_ntpsec_and_chronyd_upstream_selects_one_and_serves() {
    let test = "root_netns_ntpd_with_ntpsec_and_chronyd_upstream_selects_one_and_serves";
    if !common::needs(test, &[("ntpd", "ntpsec"), ("ntpq", "ntpsec")]) {
        return;
    }
    if !common::needs_chronyd(test) {
        return;
    }
    let Some(lan) = lan(test, 4) else { return };
    peers::ntpsec_server(&lan, 1, 5, "");
    peers::chronyd_server(&lan, 2, 8, None, "");
    for s in ["198.18.0.1", "198.18.0.2"] {
        peers::wait_serving(&lan, 4, s, Duration::from_secs(20)).expect("upstream serving");
    }
    ntpd::start(
        &lan,
        3,
        "server 198.18.0.1 iburst\nserver 198.18.0.2 iburst\n",
        &[],
    );
    let line = lan
        .wait_for(Duration::from_secs(60), || {
            let (ok, text) = ntpdig(&lan, 4, "198.18.0.3");
            (ok && (text.contains(" s6 no-leap") || text.contains(" s9 no-leap"))).then_some(text)
        })
        .unwrap_or_else(|| panic!("not serving:\n{}", lan.log(3, "ntpkit.log")));
    assert!(line.contains("198.18.0.3"), "{line}");
    // both associations reachable, exactly one system peer, as NTPsec's ntpq shows it
    let peers = lan
        .wait_for(Duration::from_secs(20), || {
            let out = lan.run(3, &["ntpq", "-pn", "127.0.0.1"]);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let rows: Vec<&str> = text.lines().filter(|l| l.contains("198.18.0.")).collect();
            let reached = rows
                .iter()
                .filter(|r| r.split_whitespace().nth(6).is_some_and(|v| v != "0"))
                .count();
            (rows.len() == 2 && reached == 2).then_some(text)
        })
        .unwrap_or_else(|| panic!("ntpq -p:\n{}", lan.log(3, "ntpkit.log")));
    assert_eq!(peers.matches('*').count(), 1, "{peers}");
}
