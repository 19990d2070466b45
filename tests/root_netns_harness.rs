//! The namespace LAN itself works: hosts reach each other, a real NTP server (NTPsec's ntpd
//! in orphan mode) answers across the bridge, and dropping the LAN removes everything.
//! Needs root (network namespaces); skips loudly otherwise.

mod common;
use common::lan::Lan;
use std::time::Duration;

#[test]
fn root_netns_lan_carries_ntp_between_hosts_and_cleans_up() {
    let test = "root_netns_lan_carries_ntp_between_hosts_and_cleans_up";
    if common::find_program("ntpd", &["/usr/sbin"]).is_none()
        || common::find_program("ntpdig", &[]).is_none()
    {
        return common::skip(
            test,
            "needs NTPsec's ntpd and ntpdig (apt: ntpsec ntpsec-ntpdig)",
        );
    }
    let lan = match Lan::new(2) {
        Ok(l) => l,
        Err(why) => return common::skip(test, &why),
    };
    let conf = lan.host(1).dir.join("ntp.conf");
    std::fs::write(
        &conf,
        "tos orphan 5 orphanwait 0\nrestrict default\nrestrict 127.0.0.1\n",
    )
    .unwrap();
    lan.spawn(1, "ntpd.log", &["ntpd", "-n", "-c", conf.to_str().unwrap()]);
    let answer = lan.wait_for(Duration::from_secs(20), || {
        let out = lan.run(2, &["ntpdig", "-t", "1", "198.18.0.1"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.success() && text.contains(" s5 ")).then_some(text)
    });
    assert!(
        answer.is_some(),
        "no NTP answer across the LAN; ntpd log:\n{}",
        lan.log(1, "ntpd.log")
    );
    let names: Vec<String> = [lan.host(1).ns.clone(), lan.host(2).ns.clone()].to_vec();
    drop(lan);
    let list = String::from_utf8(
        std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    for n in names {
        assert!(!list.contains(&n), "namespace {n} left behind");
    }
}
