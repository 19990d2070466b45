//! ntpstat against Debian's `ntpstat` (the classic C program) on the namespace LAN: both run
//! back to back against the same daemon, in every state a daemon can be in — synchronised
//! (an NTPsec client of an NTPsec orphan server, once it has synced), an orphan server
//! itself, unsynchronised (a client whose server does not exist), no daemon at all — and
//! must print the same bytes on stdout and stderr and exit with the same code.
//!
//! Debian's ntpstat talks mode 6 to 127.0.0.1:123 only (it never asks chronyc), so nothing
//! else in the namespace can answer for the daemon.

mod common;
use common::{lan::Lan, ntpd, peers};
use std::time::Duration;

const TEST: &str = "root_netns_ntpstat_matches_debian_against_ntpsec";

#[derive(Debug, PartialEq)]
struct Run {
    stdout: String,
    stderr: String,
    code: Option<i32>,
}

fn ntpstat(lan: &Lan, host: usize, argv: &[&str]) -> Run {
    let out = lan.run(host, argv);
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code(),
    }
}

/// Debian's then ours, back to back; a poll or a clock update between the two can change
/// the figures, so retry a few times before calling a difference real.
fn compare(lan: &Lan, host: usize, what: &str) -> Run {
    let ours_bin = common::ntpkit_bin();
    let ours_argv = [ours_bin.to_str().unwrap(), "ntpstat"];
    let mut last = None;
    for _ in 0..5 {
        let theirs = ntpstat(lan, host, &["ntpstat"]);
        let ours = ntpstat(lan, host, &ours_argv);
        if ours == theirs {
            eprintln!(
                "{what}: identical ({:?}):\n{}{}",
                ours.code, ours.stdout, ours.stderr
            );
            return ours;
        }
        last = Some((ours, theirs));
        std::thread::sleep(Duration::from_millis(300));
    }
    let (ours, theirs) = last.unwrap();
    panic!("{what}: ours and Debian's ntpstat differ\nours:   {ours:?}\ntheirs: {theirs:?}");
}

#[test]
fn root_netns_ntpstat_matches_debian_against_ntpsec() {
    for (p, pkg) in [("ntpd", "ntpsec"), ("ntpstat", "ntpstat")] {
        if common::find_program(p, &["/usr/sbin"]).is_none() {
            return common::skip(TEST, &format!("needs {p} (apt: {pkg})"));
        }
    }
    let Some(lan) = common::lan_or_skip(TEST, 4) else {
        return;
    };
    peers::ntpsec_server(&lan, 1, 5, "");
    peers::ntpsec_client(&lan, 2, &["198.18.0.1"], "");
    peers::ntpsec_client(&lan, 3, &["198.18.0.9"], "");

    // No daemon: nothing listens on 127.0.0.1:123 in host 4.
    let none = compare(&lan, 4, "no daemon");
    assert_eq!(none.code, Some(2));
    assert_eq!(
        none.stderr,
        "Unable to talk to NTP daemon. Is it running?\n"
    );
    assert_eq!(none.stdout, "");

    // Unsynchronised: the client's server is absent. Wait until NTPsec answers at all.
    let debian_code = |host| ntpstat(&lan, host, &["ntpstat"]).code;
    lan.wait_for(Duration::from_secs(30), || {
        (debian_code(3) == Some(1)).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "NTPsec on host 3 never answered:\n{}",
            lan.log(3, "ntpsec.log")
        )
    });
    let unsynced = compare(&lan, 3, "unsynchronised client");
    assert!(
        unsynced.stdout.starts_with("unsynchronised\n"),
        "{unsynced:?}"
    );
    assert_eq!(unsynced.code, Some(1));

    // Synchronised: the client of the orphan server, once it has synced.
    lan.wait_for(Duration::from_secs(180), || {
        (debian_code(2) == Some(0)).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "NTPsec client never synchronised:\n{}\n{:?}",
            lan.log(2, "ntpsec.log"),
            ntpstat(&lan, 2, &["ntpstat"])
        )
    });
    let synced = compare(&lan, 2, "synchronised client");
    // (NTPsec reports its clock source as "unspecified" here: the status word's source
    // field is whatever the daemon says, and both programs print it alike.)
    let first = synced.stdout.lines().next().unwrap_or("");
    assert!(
        first.starts_with("synchronised to ") && first.ends_with(" at stratum 6 "),
        "{synced:?}"
    );
    assert!(
        synced.stdout.contains("   time correct to within "),
        "{synced:?}"
    );
    assert_eq!(synced.code, Some(0));

    // The orphan server itself, whatever NTPsec reports for it.
    compare(&lan, 1, "orphan server");
}

#[test]
fn root_netns_ntpstat_matches_debian_against_our_ntpd() {
    let test = "root_netns_ntpstat_matches_debian_against_our_ntpd";
    for (p, pkg) in [("ntpd", "ntpsec"), ("ntpstat", "ntpstat")] {
        if common::find_program(p, &["/usr/sbin"]).is_none() {
            return common::skip(test, &format!("needs {p} (apt: {pkg})"));
        }
    }
    let Some(lan) = common::lan_or_skip(test, 3) else {
        return;
    };
    peers::ntpsec_server(&lan, 1, 5, "");
    let restrict = "restrict default\nrestrict 127.0.0.1\nrestrict ::1\n";
    ntpd::start(
        &lan,
        2,
        &format!("{restrict}server 198.18.0.1 iburst minpoll 3 maxpoll 4\n"),
        &[],
    );
    ntpd::start(
        &lan,
        3,
        &format!("{restrict}server 198.18.0.9 iburst minpoll 3 maxpoll 4\n"),
        &[],
    );
    let debian_code = |host| ntpstat(&lan, host, &["ntpstat"]).code;

    lan.wait_for(Duration::from_secs(30), || {
        (debian_code(3) == Some(1)).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "our ntpd on host 3 never answered Debian's ntpstat: {:?}\n{}",
            ntpstat(&lan, 3, &["ntpstat"]),
            lan.log(3, "ntpkit.log")
        )
    });
    let unsynced = compare(&lan, 3, "our ntpd, unsynchronised");
    assert!(
        unsynced.stdout.starts_with("unsynchronised\n"),
        "{unsynced:?}"
    );

    lan.wait_for(Duration::from_secs(180), || {
        (debian_code(2) == Some(0)).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "our ntpd never synchronised: {:?}\n{}",
            ntpstat(&lan, 2, &["ntpstat"]),
            lan.log(2, "ntpkit.log")
        )
    });
    let synced = compare(&lan, 2, "our ntpd, synchronised");
    assert!(
        synced
            .stdout
            .starts_with("synchronised to NTP server (198.18.0.1) at stratum 6 \n"),
        "{synced:?}"
    );
}
