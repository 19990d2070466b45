//! The namespace LAN itself works: hosts reach each other, real NTP servers (NTPsec's ntpd
//! in orphan mode, chronyd, chronyd under faketime) answer across the bridge, and dropping
//! the LAN removes everything. Needs root (network namespaces); skips loudly otherwise.

mod common;
use common::{lan::Lan, peers};
use std::time::Duration;

fn offset_of(ntpdig_line: &str) -> f64 {
    // "2026-11-25 17:23:28.534534 (+0000) +0.000037 +/- 0.000177 198.18.0.1 s5 no-leap"
    ntpdig_line
        .split_whitespace()
        .nth(3)
        .and_then(|s| s.parse().ok())
        .expect("ntpdig offset")
}

#[test]
fn root_netns_lan_carries_ntp_between_hosts_and_cleans_up() {
    let test = "root_netns_lan_carries_ntp_between_hosts_and_cleans_up";
    for (p, pkg) in [
        ("ntpd", "ntpsec"),
        ("ntpdig", "ntpsec-ntpdig"),
        ("faketime", "faketime"),
    ] {
        if common::find_program(p, &["/usr/sbin"]).is_none() {
            return common::skip(test, &format!("needs {p} (apt: {pkg})"));
        }
    }
    if common::chrony_program("chronyd").is_none() {
        return common::skip(
            test,
            "needs chronyd (unpacked under /opt/chrony by .ci/run)",
        );
    }
    let lan = match Lan::new(4) {
        Ok(l) => l,
        Err(why) => return common::skip(test, &why),
    };
    peers::ntpsec_server(&lan, 1, 5, "");
    peers::chronyd_server(&lan, 2, 8, None, "");
    peers::chronyd_server(&lan, 3, 8, Some("+2.5s"), "");
    let t = Duration::from_secs(20);
    let ntpsec = peers::wait_serving(&lan, 4, "198.18.0.1", t)
        .unwrap_or_else(|| panic!("NTPsec silent:\n{}", lan.log(1, "ntpsec.log")));
    assert!(ntpsec.contains(" s5 "), "{ntpsec}");
    let chrony = peers::wait_serving(&lan, 4, "198.18.0.2", t)
        .unwrap_or_else(|| panic!("chronyd silent:\n{}", lan.log(2, "chronyd.log")));
    assert!(chrony.contains(" s8 "), "{chrony}");
    assert!(offset_of(&chrony).abs() < 0.1, "{chrony}");
    let fake = peers::wait_serving(&lan, 4, "198.18.0.3", t)
        .unwrap_or_else(|| panic!("faketime chronyd silent:\n{}", lan.log(3, "chronyd.log")));
    let off = offset_of(&fake);
    assert!(
        (off - 2.5).abs() < 0.2,
        "falseticker should be 2.5 s ahead: {fake}"
    );

    let names: Vec<String> = (1..=4).map(|i| lan.host(i).ns.clone()).collect();
    drop(lan);
    let list = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap()
        .stdout;
    let list = String::from_utf8(list).unwrap();
    for n in names {
        assert!(!list.contains(&n), "namespace {n} left behind");
    }
}
