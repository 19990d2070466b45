//! More of our ntpd on the namespace LAN, judged by NTPsec's ntpd/ntpq/ntpdig: the leapfile's
//! system variables, each association's local address (`dstadr`), `interface` directives and
//! pool maintenance. Our ntpd always runs `--observe-only -n` and through `Lan::spawn`, i.e. without
//! CAP_SYS_TIME: it can never touch this machine's clock.

mod common;
use common::ntpd::{self, ntpdig};
use common::{lan::Lan, peers};
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

const LOCAL10: &str = "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n";

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn lan(test: &str, n: usize) -> Option<Lan> {
    if !common::needs(
        test,
        &[
            ("ntpd", "ntpsec"),
            ("ntpq", "ntpsec"),
            ("ntpdig", "ntpsec-ntpdig"),
        ],
    ) {
        return None;
    }
    common::lan_or_skip(test, n)
}

/// The leap second table fixture: the IERS data with an expiry far in the future (the
/// system's copy may have expired, and then daemons treat it differently).
fn leapfile() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/leap/leap-seconds.list")
}

/// Give host `i` another address on its LAN interface.
fn add_address(lan: &Lan, i: usize, addr: &str) {
    let out = std::process::Command::new("ip")
        .args(["-n", &lan.host(i).ns, "addr", "add", addr, "dev", "eth0"])
        .output()
        .expect("ip");
    assert!(out.status.success(), "{out:?}");
}

/// NTPsec's ntpq on host `i` asking the daemon there.
fn ntpq(lan: &Lan, i: usize, args: &[&str]) -> String {
    let mut argv = vec!["ntpq", "-n"];
    argv.extend_from_slice(args);
    argv.push("127.0.0.1");
    text(&lan.run(i, &argv))
}

/// Our ntpq on host `i` asking the daemon there.
fn our_ntpq(lan: &Lan, i: usize, args: &[&str]) -> String {
    text(&ntpd::our_ntpq(
        lan,
        i,
        &[&["-n"], args, &["127.0.0.1"]].concat(),
    ))
}

#[test]
fn root_netns_ntpd_leapfile_tai_leapsec_expire_as_ntpsec_shows_them() {
    let test = "root_netns_ntpd_leapfile_tai_leapsec_expire_as_ntpsec_shows_them";
    let Some(lan) = lan(test, 2) else { return };
    let leap = format!("leapfile {}\n", leapfile().display());
    peers::ntpsec_server(&lan, 1, 5, &leap);
    ntpd::start(
        &lan,
        2,
        &format!("restrict default\nrestrict 127.0.0.1\n{LOCAL10}{leap}"),
        &[],
    );
    let query = ["-c", "rv 0 tai,leapsec,expire"];
    // the variables' line (NTPsec, having no associations, says so on a line before it)
    let vars_line = |t: String| t.lines().find(|l| l.contains("tai=")).map(str::to_string);
    // NTPsec fills in `tai` from its timer a few seconds after start
    let theirs = lan
        .wait_for(Duration::from_secs(20), || vars_line(ntpq(&lan, 1, &query)))
        .unwrap_or_else(|| panic!("NTPsec shows no tai:\n{}", lan.log(1, "ntpsec.log")));
    let ours = lan
        .wait_for(Duration::from_secs(20), || vars_line(ntpq(&lan, 2, &query)))
        .unwrap_or_else(|| panic!("ours shows no tai:\n{}", lan.log(2, "ntpkit.log")));
    assert_eq!(ours, theirs, "ours:\n{ours}\nNTPsec's:\n{theirs}");
    // the fixture's values, as the table says: 37 s since 2017, expiring in June 2035
    assert!(
        theirs.contains("tai=37") && theirs.contains("2017-01-01T00:00Z"),
        "{theirs}"
    );
    assert!(theirs.contains("2035-06-28T00:00Z"), "{theirs}");
    // and in the full system variables list too, formatted the same
    let full = ntpq(&lan, 2, &["-c", "rv"]);
    for var in theirs.trim().split(", ") {
        assert!(full.contains(var), "{var} missing from:\n{full}");
    }
}

#[test]
fn root_netns_ntpd_without_leapfile_leaves_the_leap_variables_out_as_ntpsec() {
    let test = "root_netns_ntpd_without_leapfile_leaves_the_leap_variables_out_as_ntpsec";
    let Some(lan) = lan(test, 2) else { return };
    peers::ntpsec_server(&lan, 1, 5, "");
    ntpd::start(
        &lan,
        2,
        &format!("restrict default\nrestrict 127.0.0.1\n{LOCAL10}"),
        &[],
    );
    // asked by name, both answer with what they have: no error, no leap variables
    let query = ["-c", "rv 0 leap,tai,leapsec,expire"];
    let vars_line = |t: String| t.lines().find(|l| l.contains("leap=")).map(str::to_string);
    let theirs = lan
        .wait_for(Duration::from_secs(20), || {
            // once NTPsec's orphan mode has made it synchronised, as ours will be
            vars_line(ntpq(&lan, 1, &query)).filter(|l| l.starts_with("leap=00"))
        })
        .unwrap_or_else(|| panic!("NTPsec:\n{}", lan.log(1, "ntpsec.log")));
    let ours = lan
        .wait_for(Duration::from_secs(20), || {
            vars_line(ntpq(&lan, 2, &query)).filter(|l| *l == theirs)
        })
        .unwrap_or_else(|| panic!("ours: {}\nNTPsec's: {theirs}", ntpq(&lan, 2, &query)));
    assert_eq!(ours, "leap=00");
    let full = ntpq(&lan, 2, &["-c", "rv"]);
    assert!(
        !full.contains("leapsec") && !full.contains("tai="),
        "{full}"
    );
}

#[test]
fn root_netns_ntpd_dstadr_is_the_local_address_toward_each_source_as_ntpsec() {
    let test = "root_netns_ntpd_dstadr_is_the_local_address_toward_each_source_as_ntpsec";
    let Some(lan) = lan(test, 3) else { return };
    peers::ntpsec_server(&lan, 1, 5, "");
    ntpd::start(
        &lan,
        2,
        &format!("restrict default\nrestrict 127.0.0.1\nserver 198.18.0.1 iburst\n{LOCAL10}"),
        &[],
    );
    peers::ntpsec_client(&lan, 3, &["198.18.0.1"], "");
    let query = ["-c", "rv &1 srcadr,dstadr"];
    let vars_line = |t: String| {
        t.lines()
            .find(|l| l.contains("dstadr="))
            .map(str::to_string)
    };
    let theirs = lan
        .wait_for(Duration::from_secs(20), || vars_line(ntpq(&lan, 3, &query)))
        .unwrap_or_else(|| panic!("NTPsec client:\n{}", lan.log(3, "ntpsec.log")));
    let ours = lan
        .wait_for(Duration::from_secs(20), || vars_line(ntpq(&lan, 2, &query)))
        .unwrap_or_else(|| panic!("ours:\n{}", lan.log(2, "ntpkit.log")));
    assert_eq!(theirs, "srcadr=198.18.0.1, dstadr=198.18.0.3");
    assert_eq!(ours, theirs.replace("198.18.0.3", "198.18.0.2"));
    // ntpq's old peers table shows dstadr as the "local" column; the LOCAL driver is local
    let table = our_ntpq(&lan, 2, &["-c", "opeers"]);
    let local_of = |remote: &str| {
        table
            .lines()
            .find(|l| l.get(1..).is_some_and(|r| r.starts_with(remote)))
            .and_then(|l| l[1..].split_whitespace().nth(1).map(str::to_string))
    };
    assert_eq!(
        local_of("198.18.0.1").as_deref(),
        Some("198.18.0.2"),
        "{table}"
    );
    assert_eq!(
        local_of("LOCAL(0)").as_deref(),
        Some("127.0.0.1"),
        "{table}"
    );
    let theirs_table = our_ntpq(&lan, 3, &["-c", "opeers"]);
    assert!(
        theirs_table.contains("198.18.0.1      198.18.0.3"),
        "{theirs_table}"
    );
}

#[test]
fn root_netns_ntpd_interface_rules_ignore_and_drop_addresses_last_rule_wins() {
    let test = "root_netns_ntpd_interface_rules_ignore_and_drop_addresses_last_rule_wins";
    if !common::needs(test, &[("ping", "iputils-ping")]) {
        return;
    }
    let Some(lan) = lan(test, 2) else { return };
    add_address(&lan, 1, "198.18.0.101/24");
    add_address(&lan, 1, "198.18.0.102/24");
    // ntp.org: the last matching rule decides; `all` spares loopback, which stays open
    let conf = format!(
        "interface ignore all\ninterface listen eth0\ninterface ignore 198.18.0.101\n\
         interface drop 198.18.0.102\nrestrict default\nrestrict 127.0.0.1\n{LOCAL10}"
    );
    ntpd::start(&lan, 1, &conf, &[]);
    let served = peers::wait_serving(&lan, 2, "198.18.0.1", Duration::from_secs(20))
        .unwrap_or_else(|| panic!("198.18.0.1 not served:\n{}", lan.log(1, "ntpkit.log")));
    assert!(served.contains(" s11 "), "{served}");
    for silent in ["198.18.0.101", "198.18.0.102"] {
        let (ok, text) = ntpdig(&lan, 2, silent);
        assert!(
            !ok && !text.contains("Response"),
            "{silent} answered: {text}"
        );
    }
    // loopback is always open: ntpq works on the host itself
    let rv = ntpq(&lan, 1, &["-c", "rv 0 stratum"]);
    assert!(rv.contains("stratum=11"), "{rv}");
    let log = lan.log(1, "ntpkit.log");
    assert!(
        log.contains("Listen and drop on eth0 198.18.0.102:123"),
        "{log}"
    );
    assert!(
        log.contains("Listen normally on eth0 198.18.0.1:123"),
        "{log}"
    );
    assert!(!log.contains("198.18.0.101:123"), "{log}");
    // the silent addresses themselves are reachable: it is the rules that keep them quiet
    let ping = lan.run(2, &["ping", "-c", "1", "-W", "2", "198.18.0.101"]);
    assert!(ping.status.success(), "{ping:?}");
}

/// `/etc/netns/<ns>/hosts`, which `ip netns exec` mounts over /etc/hosts for programs
/// started in that namespace; removed when dropped.
struct NetnsHosts(PathBuf);

impl NetnsHosts {
    fn new(ns: &str, text: &str) -> NetnsHosts {
        let dir = PathBuf::from("/etc/netns").join(ns);
        std::fs::create_dir_all(&dir).expect("/etc/netns/<ns>");
        std::fs::write(dir.join("hosts"), text).expect("hosts");
        NetnsHosts(dir)
    }
}

impl Drop for NetnsHosts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The remote column of a peers table.
/// The members' addresses in an `ntpq -p` table (the pool's own `.POOL.` row, which NTPsec
/// and ntpkit show for the life of the daemon, left out).
fn remotes(table: &str) -> Vec<String> {
    table
        .lines()
        .skip_while(|l| !l.starts_with("====="))
        .skip(1)
        .filter(|l| !l.contains(".POOL."))
        .filter_map(|l| l.get(1..)?.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn root_netns_ntpd_pool_replaces_unreachable_members_up_to_maxclock() {
    let test = "root_netns_ntpd_pool_replaces_unreachable_members_up_to_maxclock";
    let Some(lan) = lan(test, 5) else { return };
    // hosts 2 and 3 exist but serve no time; 4 and 5 run NTPsec
    let _hosts = NetnsHosts::new(
        &lan.host(1).ns,
        "127.0.0.1 localhost\n198.18.0.2 pool.test\n198.18.0.3 pool.test\n\
         198.18.0.4 pool.test\n198.18.0.5 pool.test\n",
    );
    // glibc returns every line of the name (host.conf `multi on`), sorted by RFC 6724
    // (longest prefix shared with our 198.18.0.1 first: .2 and .3 share 30 bits, .4 and .5
    // 29; ties keep the file's order)
    let resolved = text(&lan.run(1, &["getent", "ahostsv4", "pool.test"]));
    let order: Vec<&str> = resolved
        .lines()
        .filter(|l| l.contains("DGRAM"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        order,
        ["198.18.0.2", "198.18.0.3", "198.18.0.4", "198.18.0.5"],
        "{resolved}"
    );
    peers::ntpsec_server(&lan, 4, 5, "");
    peers::ntpsec_server(&lan, 5, 5, "");
    // room for three: the first resolution takes .2, .3 (dead) and .4
    ntpd::start(
        &lan,
        1,
        "tos maxclock 3\npool pool.test iburst minpoll 1 maxpoll 1\n\
         restrict default\nrestrict 127.0.0.1\n",
        &[],
    );
    let first = lan
        .wait_for(Duration::from_secs(15), || {
            let t = our_ntpq(&lan, 1, &["-p"]);
            (remotes(&t).len() == 3).then_some(t)
        })
        .unwrap_or_else(|| panic!("no pool members:\n{}", lan.log(1, "ntpkit.log")));
    let mut got = remotes(&first);
    got.sort();
    assert_eq!(got, ["198.18.0.2", "198.18.0.3", "198.18.0.4"], "{first}");
    // ten unanswered 2 s polls later the dead ones go and .5 takes a place
    let last = lan.wait_for(Duration::from_secs(60), || {
        let t = our_ntpq(&lan, 1, &["-p"]);
        let mut r = remotes(&t);
        r.sort();
        (r == ["198.18.0.4", "198.18.0.5"]).then_some(t)
    });
    let log = lan.log(1, "ntpkit.log");
    let last =
        last.unwrap_or_else(|| panic!("pool not refilled:\n{}\n{log}", our_ntpq(&lan, 1, &["-p"])));
    for dead in ["198.18.0.2", "198.18.0.3"] {
        assert!(
            log.contains(&format!("{dead}: pool server unreachable")),
            "{log}"
        );
    }
    // NTPsec's ntpq sees the same two associations, both reachable
    let theirs = lan
        .wait_for(Duration::from_secs(20), || {
            let t = ntpq(&lan, 1, &["-p"]);
            let rows: Vec<Vec<&str>> = t
                .lines()
                .skip_while(|l| !l.starts_with("====="))
                .skip(1)
                .filter(|l| !l.contains(".POOL."))
                .map(|l| l[1..].split_whitespace().collect())
                .collect();
            (rows.len() == 2
                && rows
                    .iter()
                    .all(|r| r.get(6).is_some_and(|reach| *reach != "0")))
            .then_some(t)
        })
        .unwrap_or_else(|| panic!("NTPsec's ntpq:\n{}\nours:\n{last}", ntpq(&lan, 1, &["-p"])));
    assert!(
        theirs.contains("198.18.0.4") && theirs.contains("198.18.0.5"),
        "{theirs}"
    );
}

/// A number from ntpq's `iostats` table, by its label ("input wakeups:").
fn iostat(table: &str, label: &str) -> Option<u64> {
    table
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn root_netns_ntpd_idle_serving_threads_do_not_wake_and_stop_promptly() {
    let test = "root_netns_ntpd_idle_serving_threads_do_not_wake_and_stop_promptly";
    let Some(lan) = lan(test, 1) else { return };
    // a LAN master with nobody asking: nothing for its serving threads to do
    ntpd::start(
        &lan,
        1,
        &format!("restrict default\nrestrict 127.0.0.1\n{LOCAL10}"),
        &[],
    );
    let wakeups = || {
        let t = ntpq(&lan, 1, &["-c", "iostats"]);
        let all = iostat(&t, "input wakeups:")?;
        let useful = iostat(&t, "useful input wakeups:")?;
        Some((all - useful, t))
    };
    let (before, _) = lan
        .wait_for(Duration::from_secs(10), wakeups)
        .unwrap_or_else(|| panic!("no iostats:\n{}", lan.log(1, "ntpkit.log")));
    std::thread::sleep(Duration::from_secs(3));
    let (after, table) = wakeups().expect("iostats");
    // before: one worker per core and listening address woke 5 times a second
    assert!(
        after - before <= 1,
        "{} wakeups without a datagram in 3 s:\n{table}",
        after - before
    );
    // SIGTERM: the workers, asleep in their receives, are woken and joined
    let pids = lan.pids(1);
    assert!(!pids.is_empty());
    assert!(std::process::Command::new("kill")
        .arg("-TERM")
        .args(pids.iter().map(i32::to_string))
        .status()
        .expect("kill")
        .success());
    let gone = lan.wait_for(Duration::from_secs(5), || {
        lan.pids(1).is_empty().then_some(())
    });
    assert!(
        gone.is_some(),
        "still running 5 s after SIGTERM: {:?}\n{}",
        lan.pids(1),
        lan.log(1, "ntpkit.log")
    );
    let log = lan.log(1, "ntpkit.log");
    assert!(
        log.contains("exiting on signal 15") && !log.contains("panicked"),
        "{log}"
    );
}
