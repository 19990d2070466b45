//! Interleaved symmetric mode (`peer HOST xleave`) on the namespace LAN, with the real
//! chronyd 4.3 and between two of our daemons.
//!
//! Host 1 (ours, serving LOCAL at stratum 10) peers with host 2 (chronyd, `peer … xleave`)
//! and with host 3 (ours). Every pair polls at 2 s. Passes when chronyd says its latest
//! exchange with us was interleaved and it has taken good samples (`chronyc ntpdata`),
//! and our mode 6 counts interleaved samples (`xleave=N`, at least two) on both ends of
//! both pairs. The exchange rules (a lost or
//! reordered packet leaves that exchange basic) are unit tests of `daemon::xleave_sym`.
//!
//! Every daemon is observe-only without CAP_SYS_TIME (`Lan::spawn`); chronyd runs `-x`.

mod common;
use common::{lan::Lan, ntpd};
use std::time::Duration;

const TEST: &str = "root_netns_xleave_symmetric_with_chronyd_and_ours";

/// Interleaved samples host `host`'s association with `peer` counts (mode 6 `xleave`).
fn xleave_samples(lan: &Lan, host: usize, peer: &str) -> Option<u64> {
    let assoc = ntpd::our_ntpq_text(lan, host, &["-n", "-c", "as"]);
    let ids: Vec<u16> = assoc
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect();
    ids.into_iter().find_map(|id| {
        let vars = ntpd::our_ntpq_text(lan, host, &["-n", "-c", &format!("rv {id} srcadr,xleave")]);
        vars.contains(&format!("srcadr={peer}"))
            .then(|| ntpd::numeric_var(&vars, "xleave"))
            .flatten()
    })
}

#[test]
fn root_netns_xleave_symmetric_with_chronyd_and_ours() {
    let Some((_, chronyc)) = common::chronyd_and_chronyc_or_skip(TEST) else {
        return;
    };
    let Some(lan) = common::lan_or_skip(TEST, 3) else {
        return;
    };
    let chronyc = chronyc.to_str().unwrap().to_string();
    ntpd::start(
        &lan,
        1,
        "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n\
         peer 198.18.0.2 xleave minpoll 1 maxpoll 1\n\
         peer 198.18.0.3 xleave minpoll 1 maxpoll 1\n\
         restrict default\nrestrict 127.0.0.1\n",
        &[],
    );
    let sock2 = common::spawn_chronyd(
        &lan,
        2,
        &common::chrony_program("chronyd").unwrap(),
        "peer.conf",
        "peer 198.18.0.1 xleave minpoll 1 maxpoll 1\nlocal stratum 10\nallow all\n",
    );
    let sock2 = sock2.to_str().unwrap().to_string();
    ntpd::start(
        &lan,
        3,
        "peer 198.18.0.1 xleave minpoll 1 maxpoll 1\nrestrict default\nrestrict 127.0.0.1\n",
        &[],
    );
    let ntpdata = || {
        let out = lan.run(2, &[&chronyc, "-h", &sock2, "-n", "ntpdata", "198.18.0.1"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    // ours ↔ chronyd: both ends see interleaved exchanges
    let with_chronyd = lan.wait_for(Duration::from_secs(40), || {
        let text = ntpdata();
        let field = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_string())
        };
        let theirs = field("Interleaved")? == "Yes";
        let good: u64 = field("Total good RX")?.parse().ok()?;
        let ours = xleave_samples(&lan, 1, "198.18.0.2")?;
        (theirs && good > 0 && ours > 1).then_some((ours, text))
    });
    if let Some((ours, text)) = &with_chronyd {
        eprintln!("ours counted {ours} interleaved samples from chronyd; chronyc ntpdata:\n{text}");
    }
    assert!(
        with_chronyd.is_some(),
        "ours ↔ chronyd not interleaved: ours {:?}\nchronyc ntpdata:\n{}\nchronyd log:\n{}\nour log:\n{}",
        xleave_samples(&lan, 1, "198.18.0.2"),
        ntpdata(),
        lan.log(2, "chronyd.log"),
        lan.log(1, "ntpkit.log")
    );

    // ours ↔ ours: each end counts interleaved samples from the other
    let pair = lan.wait_for(Duration::from_secs(30), || {
        let a = xleave_samples(&lan, 1, "198.18.0.3")?;
        let b = xleave_samples(&lan, 3, "198.18.0.1")?;
        (a > 1 && b > 1).then_some((a, b))
    });
    eprintln!("ours ↔ ours interleaved samples: {pair:?}");
    assert!(
        pair.is_some(),
        "ours ↔ ours not interleaved: host 1 {:?}, host 3 {:?}\nlog 1:\n{}\nlog 3:\n{}",
        xleave_samples(&lan, 1, "198.18.0.3"),
        xleave_samples(&lan, 3, "198.18.0.1"),
        lan.log(1, "ntpkit.log"),
        lan.log(3, "ntpkit.log")
    );
}
