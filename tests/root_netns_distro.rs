//! Differential, against NTPsec on the same input: the stock ntp.conf of Debian 12 (ntpsec),
//! Ubuntu 20.04 (ntp 4.2.8), CentOS 7 (ntp) and the seed how-to's pasted config
//! (tests/fixtures/distro/: the first server moved onto the test LAN, every other name
//! ending in .invalid so nothing is ever resolved). Each config runs under NTPsec's ntpd on
//! one host and ours on another, both clients of an NTPsec server on host 1. NTPsec's ntpq
//! reads both: ours stays up, answers `ntpq -pn` and shows at least NTPsec's rows.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

const CONFIGS: &[&str] = &[
    "debian12-ntpsec.conf",
    "ubuntu2004-ntp.conf",
    "centos7-ntp.conf",
    "seed-pasted.conf",
];

/// The stock file with every path it writes or reads moved into the host's directory
/// (drift, stats, keys, the RHEL crypto include), so neither daemon touches /var or /etc.
/// The keys file and the include exist with RHEL's stock content (comments only).
fn localize(text: &str, dir: &Path) -> String {
    let d = dir.display();
    std::fs::create_dir_all(dir.join("stats")).unwrap();
    std::fs::write(
        dir.join("pw"),
        "# Specify the password to decrypt a private key\n# crypto pw PASSWORD\n",
    )
    .unwrap();
    std::fs::write(dir.join("keys"), "# 65535\tM\tpass\t#MD5 key\n").unwrap();
    let body = text
        .replace("/var/lib/ntpsec/", &format!("{d}/"))
        .replace("/var/lib/ntp/", &format!("{d}/"))
        .replace("/etc/ntp/crypto/pw", &format!("{d}/pw"))
        .replace("/etc/ntp/keys", &format!("{d}/keys"));
    // statsdir must come before the statistics lines; both daemons' defaults are in /var/log
    format!("statsdir {d}/stats/\n{body}")
}

/// The rows of `ntpq -pn` output: (remote, type) — what must match between the daemons
/// (timing columns differ by nature).
fn rows(out: &str) -> BTreeSet<(String, String)> {
    out.lines()
        .skip_while(|l| !l.starts_with("===="))
        .skip(1)
        .filter_map(|l| {
            let remote = l.get(1..16)?.trim().to_string();
            let mut rest = l.get(16..)?.split_whitespace();
            let _refid = rest.next()?;
            let _st = rest.next()?;
            let t = rest.next()?.to_string();
            Some((remote, t))
        })
        .collect()
}

fn reached(out: &str, addr: &str) -> bool {
    out.lines().any(|l| {
        l.get(1..).is_some_and(|r| r.starts_with(addr))
            && l.split_whitespace()
                .nth(6)
                .is_some_and(|reach| reach != "0")
    })
}

#[test]
fn root_netns_distro_configs_run_as_under_ntpsec() {
    let Some(lan) = common::lan_or_skip("root_netns_distro_configs_run_as_under_ntpsec", 9) else {
        return;
    };
    if !common::needs(
        "root_netns_distro_configs_run_as_under_ntpsec",
        &[("ntpd", "NTPsec's ntpd"), ("ntpq", "NTPsec's ntpq")],
    ) {
        return;
    }
    common::peers::ntpsec_server(&lan, 1, 3, "");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/distro");
    let mut pairs = Vec::new();
    for (k, name) in CONFIGS.iter().enumerate() {
        let (theirs, ours) = (2 + 2 * k, 3 + 2 * k);
        let stock = std::fs::read_to_string(fixtures.join(name)).unwrap();
        let conf = lan.host(theirs).dir.join("ntp.conf");
        std::fs::write(&conf, localize(&stock, &lan.host(theirs).dir)).unwrap();
        lan.spawn(
            theirs,
            "ntpsec.log",
            &["ntpd", "-n", "-c", conf.to_str().unwrap()],
        );
        common::ntpd::start(&lan, ours, &localize(&stock, &lan.host(ours).dir), &[]);
        pairs.push((*name, theirs, ours));
    }

    let mut failures = Vec::new();
    for &(name, theirs, ours) in &pairs {
        // NTPsec's view once its iburst to the LAN server has been answered
        let ntpsec = lan
            .wait_for(Duration::from_secs(40), || {
                let out = common::ntpd::ntpsec_peers(&lan, theirs);
                reached(&out, "198.18.0.1").then_some(out)
            })
            .unwrap_or_else(|| common::ntpd::ntpsec_peers(&lan, theirs));
        let want = rows(&ntpsec);
        if want.is_empty() {
            failures.push(format!(
                "{name}: NTPsec shows no rows:\n{ntpsec}\n{}",
                lan.log(theirs, "ntpsec.log")
            ));
            continue;
        }
        // ours, read by NTPsec's ntpq, shows at least those rows and has heard the server
        let mut last = String::new();
        let ok = lan.wait_for(Duration::from_secs(30), || {
            last = common::ntpd::ntpsec_peers(&lan, ours);
            (rows(&last).is_superset(&want) && reached(&last, "198.18.0.1")).then_some(())
        });
        eprintln!("== {name}\n-- NTPsec:\n{ntpsec}-- ntpkit:\n{last}");
        if ok.is_none() {
            failures.push(format!(
                "{name}: ntpkit's rows {:?} lack NTPsec's {:?}\n{last}\n{}",
                rows(&last),
                want.difference(&rows(&last)).collect::<Vec<_>>(),
                lan.log(ours, "ntpkit.log")
            ));
        }
    }
    // still up at the end, for every config
    for &(name, _, ours) in &pairs {
        if rows(&common::ntpd::ntpsec_peers(&lan, ours)).is_empty() {
            failures.push(format!(
                "{name}: ntpkit stopped answering\n{}",
                lan.log(ours, "ntpkit.log")
            ));
        }
    }
    // the seed's annotated lines: each skipped word is named with file:line:col
    let seed_log = lan.log(3 + 2 * 3, "ntpkit.log");
    if !seed_log.contains("'<==以这部主机为最优先的server' skipped") {
        failures.push(format!(
            "seed: no warning for the skipped annotation\n{seed_log}"
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
