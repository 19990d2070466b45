//! Interleaved symmetric mode (`peer HOST xleave`) on the namespace LAN, with the real
//! chronyd 4.3 and between two of our daemons.
//!
//! Host 1 (ours, serving LOCAL at stratum 10) peers with host 2 (chronyd, `peer … xleave`)
//! and with host 3 (ours, `--single-thread`). Every pair polls at 2 s. Passes when chronyd
//! says its latest exchange with us was interleaved and it has taken good samples
//! (`chronyc ntpdata`), and our mode 6 counts interleaved samples (`xleave=N`, at least
//! two) on both ends of both pairs; and when the offsets measured are those of kernel
//! timestamps on both sides: every host shares one kernel clock, so the true offset is 0,
//! and most of the latest samples, chronyd's (its measurements log, interleaved ones) of us
//! and each of ours (rawstats, every sample) of the other, must be within [`BOUND_US`].
//! With a transmit time read in user space before the send, chronyd saw us ~20 µs off and
//! ours saw each other 40–90 µs off in a basic exchange; with the kernel's, ~0.2 µs. Between
//! two of ours that needs every exchange interleaved and kernel-stamped: the pair's
//! packets alternate (host 1, nearer the reference, answers each of host 3's at once, much as
//! chronyd schedules a symmetric pair) and each leaves from the socket the peer's come in
//! on, so its kernel timestamp is handed over before the answer. The exchange rules (a
//! lost or reordered packet leaves that exchange basic) are unit tests of
//! `daemon::xleave_sym`, the schedule of the engine's `peer`.
//!
//! Every daemon is observe-only without CAP_SYS_TIME (`Lan::spawn`); chronyd runs `-x`.

mod common;
use common::{lan::Lan, ntpd};
use std::time::Duration;

const TEST: &str = "root_netns_xleave_symmetric_with_chronyd_and_ours";

/// The median |offset| (µs) of the latest [`SAMPLES`] interleaved samples must stay below
/// this: kernel timestamps give ~0.2 µs here, a user-space transmit time ~20 µs; a loaded
/// 2-core machine delays packets, not timestamps, so the bound leaves room only for noise.
const BOUND_US: f64 = 5.0;
const SAMPLES: usize = 7;

fn median_abs(mut v: Vec<f64>) -> f64 {
    v.iter_mut().for_each(|x| *x = x.abs());
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// chronyd's measurements log: the offsets (µs) of its interleaved samples of `source`
/// (`DATE TIME IP L St 123 567 ABCD LP RP Score Offset … MTxRx`; MTxRx is e.g. `1I K K`,
/// I for interleaved, B for basic).
fn chronyd_interleaved_offsets(log: &str, source: &str) -> Vec<f64> {
    log.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let interleaved = f.len() > 14 && f[f.len() - 3].ends_with('I');
            // every test passed (chronyd logs the failed ones too, offset 0)
            let good = f.len() > 14 && f[5..8].concat() == "1111111111";
            (f.get(2) == Some(&source) && interleaved && good)
                .then(|| f[11].parse::<f64>().ok().map(|o| o * 1e6))
                .flatten()
        })
        .collect()
}

/// Our rawstats: the offsets (µs) of the samples from `source`, computed from the four
/// timestamps logged (`MJD S SRC DST T1 T2 T3 T4 …`, each `SECONDS.NANOSECONDS`), those
/// with a sane delay only. For an interleaved peer every line is a sample (a packet that
/// completes no exchange is not logged, as NTPsec logs none failing its origin checks;
/// logged with its own fields, which name two different exchanges, such a line read as a
/// sample 40–220 µs off and failed CI).
fn our_offsets(log: &str, source: &str) -> Vec<f64> {
    let t = |s: &str| -> Option<(i64, i64)> {
        let (a, b) = s.split_once('.')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    };
    let d = |a: (i64, i64), b: (i64, i64)| (a.0 - b.0) as f64 * 1e6 + (a.1 - b.1) as f64 * 1e-3;
    log.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 8 || f[2] != source {
                return None;
            }
            let (t1, t2, t3, t4) = (t(f[4])?, t(f[5])?, t(f[6])?, t(f[7])?);
            let delay = d(t4, t1) - d(t3, t2);
            ((0.0..100_000.0).contains(&delay)).then(|| (d(t2, t1) + d(t3, t4)) / 2.0)
        })
        .collect()
}

/// The latest `SAMPLES` of `v`, once there are that many besides the first two (a pair's
/// first exchange is basic, and so is its second when a side sent twice before the other's
/// first packet came).
fn latest(v: Vec<f64>) -> Option<Vec<f64>> {
    (v.len() >= SAMPLES + 2).then(|| v[v.len() - SAMPLES..].to_vec())
}

fn rawstats_conf(lan: &Lan, host: usize) -> String {
    format!(
        "statsdir {}/\nstatistics rawstats\nfilegen rawstats file rawstats type none enable\n",
        lan.host(host).dir.display()
    )
}

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
        &("server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n\
         peer 198.18.0.2 xleave minpoll 1 maxpoll 1\n\
         peer 198.18.0.3 xleave minpoll 1 maxpoll 1\n\
         restrict default\nrestrict 127.0.0.1\n"
            .to_string()
            + &rawstats_conf(&lan, 1)),
        &[],
    );
    let sock2 = common::spawn_chronyd(
        &lan,
        2,
        &common::chrony_program("chronyd").unwrap(),
        "peer.conf",
        &format!(
            // noselect: a selected chronyd -x measures against its own corrected virtual
            // clock, which moves a few µs; unselected, its offsets are the raw samples
            "peer 198.18.0.1 xleave minpoll 1 maxpoll 1 noselect\nlocal stratum 10\nallow all\n\
             logdir {}\nlog measurements\n",
            lan.host(2).dir.display()
        ),
    );
    let sock2 = sock2.to_str().unwrap().to_string();
    ntpd::start(
        &lan,
        3,
        &("peer 198.18.0.1 xleave minpoll 1 maxpoll 1\nrestrict default\nrestrict 127.0.0.1\n"
            .to_string()
            + &rawstats_conf(&lan, 3)),
        // the serving round in the main loop: its hand-over of our kernel timestamps too
        &["--single-thread"],
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

    // the offsets, once enough interleaved samples are in: chronyd's of us, ours of each other
    let measurements = || lan.log(2, "measurements.log");
    let rawstats = |host: usize| lan.log(host, "rawstats");
    let offsets = lan.wait_for(Duration::from_secs(30), || {
        Some((
            latest(chronyd_interleaved_offsets(&measurements(), "198.18.0.1"))?,
            latest(our_offsets(&rawstats(1), "198.18.0.3"))?,
            latest(our_offsets(&rawstats(3), "198.18.0.1"))?,
        ))
    });
    let Some((chronyd, host1, host3)) = offsets else {
        panic!(
            "too few samples logged\nmeasurements.log:\n{}\nrawstats 1:\n{}\nrawstats 3:\n{}",
            measurements(),
            rawstats(1),
            rawstats(3)
        );
    };
    eprintln!("offsets (µs) chronyd of ours {chronyd:.2?}; ours of ours {host1:.2?} {host3:.2?}");
    // a majority each: a basic exchange or a user-space transmit time in more than 3 of
    // the latest 7 fails
    let kernel_stamped_needed = SAMPLES / 2 + 1;
    for (who, v) in [
        ("chronyd's of us (host 1)", chronyd),
        ("host 1's of host 3", host1),
        ("host 3's of host 1", host3),
    ] {
        let within = v.iter().filter(|x| x.abs() < BOUND_US).count();
        assert!(
            within >= kernel_stamped_needed,
            "{who}: {within} of {} latest samples within {BOUND_US} µs, {kernel_stamped_needed} needed (median |offset| {:.2}): {v:.2?} (a user-space transmit time?)\nmeasurements.log:\n{}\nlog 1:\n{}",
            v.len(),
            median_abs(v.clone()),
            measurements(),
            lan.log(1, "ntpkit.log")
        );
    }
}
