//! Our ntpd as an NTS server (RFC 8915) for the real chronyd 4.3 and NTPsec 1.2 clients on
//! the namespace LAN, with certificates the test makes with the openssl CLI (a private CA,
//! a server certificate for IP:198.18.0.1).
//!
//! Host 1: our ntpd (LOCAL clock, stratum 10) with `nts enable`, cookie keys rotating every
//! 20 s. Host 2: chronyd `server 198.18.0.1 nts`. Host 3: NTPsec `server 198.18.0.1 nts ca`.
//! In turn: both clients authenticate (chronyc authdata: NTS, cookies, no NAK; sources
//! selects us; NTPsec's `ntpq -c nts` counts good receives; NTPsec's ntpq reads our server
//! counters); a restart with the same cookie file keeps the clients' cookies good; a
//! certificate replaced on disk is what the next key exchange presents (openssl
//! s_client); a restart with new cookie keys (so the clients hold another server's
//! cookies) is answered with NTSN and the clients recover by a new key exchange.

mod common;
use common::{certs, lan::Lan, ntpd, peers};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

const TEST: &str = "root_netns_nts_server_chronyd_and_ntpsec_clients";

/// A private CA (once) and a server certificate (`name`.pem / `name`.key) for IP:198.18.0.1.
fn make_certs(dir: &Path, name: &str) {
    if !dir.join("ca.pem").exists() {
        certs::make_ca(dir, "ca");
    }
    certs::make_cert(dir, "ca", name, "198.18.0.1", None);
}

/// Our server's NTS counters, read with our ntpq on host 1.
fn counters(lan: &Lan) -> HashMap<String, u64> {
    let names = "nts_server_recv_good,nts_server_recv_bad,nts_server_send,nts_cookie_decode,\
                 nts_cookie_decode_old,nts_cookie_decode_old2,nts_cookie_decode_older,\
                 nts_cookie_decode_too_old,nts_cookie_decode_error,nts_ke_serves_good,\
                 nts_ke_serves_bad,nts_cookie_make";
    let out = ntpd::our_ntpq(lan, 1, &["-c", &format!("rv 0 {names}"), "127.0.0.1"]);
    String::from_utf8_lossy(&out.stdout)
        .split([',', '\n'])
        .filter_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// chronyc -n authdata's row for our server: (mode, NAKs, cookies held).
fn authdata(lan: &Lan, chronyc: &Path, sock: &Path) -> Option<(String, u64, u64, String)> {
    let out = lan.run(
        2,
        &[
            chronyc.to_str().unwrap(),
            "-h",
            sock.to_str().unwrap(),
            "-n",
            "authdata",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let row = text.lines().find(|l| l.starts_with("198.18.0.1"))?;
    let w: Vec<&str> = row.split_whitespace().collect();
    // Name/IP Mode KeyID Type KLen Last Atmp NAK Cook CLen
    Some((
        w.get(1)?.to_string(),
        w.get(7)?.parse().ok()?,
        w.get(8)?.parse().ok()?,
        text.clone(),
    ))
}

fn selected(lan: &Lan, chronyc: &Path, sock: &Path) -> bool {
    common::chronyc_sources(lan, 2, chronyc, sock)
        .lines()
        .any(|l| l.starts_with("^*") && l.contains("198.18.0.1"))
}

/// The leaf certificate `openssl s_client -alpn ntske/1` gets from host 1's port 4460.
fn presented_cert(lan: &Lan, ca: &Path) -> String {
    let out = lan.run(
        2,
        &[
            "sh", "-c",
            &format!(
                "openssl s_client -alpn ntske/1 -tls1_3 -CAfile {} -connect 198.18.0.1:4460 </dev/null 2>&1",
                ca.display()
            ),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("ALPN protocol: ntske/1"), "{text}");
    assert!(text.contains("Verify return code: 0 (ok)"), "{text}");
    pem_body(&text)
}

fn pem_body(text: &str) -> String {
    let start = text
        .find("-----BEGIN CERTIFICATE-----")
        .expect("a certificate");
    let end = text[start..]
        .find("-----END CERTIFICATE-----")
        .expect("end")
        + start;
    text[start..end].split_whitespace().collect()
}

fn server_conf(dir: &Path) -> String {
    format!(
        "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\nrestrict default\nrestrict 127.0.0.1\n\
         nts enable cert {d}/server.pem key {d}/server.key cookie {d}/nts-keys rotate 20\n",
        d = dir.display()
    )
}

fn start_server(lan: &Lan, dir: &Path) {
    ntpd::start(lan, 1, &server_conf(dir), &[]);
    let up = lan.wait_for(Duration::from_secs(10), || {
        let t = lan.log(1, "ntpkit.log");
        t.contains("NTS-KE server on port 4460").then_some(())
    });
    assert!(up.is_some(), "{}", lan.log(1, "ntpkit.log"));
}

#[test]
fn root_netns_nts_server_chronyd_and_ntpsec_clients() {
    let Some((_chronyd, chronyc)) = common::chronyd_and_chronyc_or_skip(TEST) else {
        return;
    };
    if !common::needs(TEST, &[("openssl", "openssl"), ("ntpd", "ntpsec")]) {
        return;
    }
    let Some(lan) = common::lan_or_skip(TEST, 3) else {
        return;
    };
    let dir: PathBuf = lan.dir().to_path_buf();
    make_certs(&dir, "server");
    start_server(&lan, &dir);
    let ca = dir.join("ca.pem");
    let sock = common::spawn_chronyd(
        &lan,
        2,
        &_chronyd,
        "chrony.conf",
        &format!(
            "server 198.18.0.1 nts iburst minpoll 3 maxpoll 3\nntstrustedcerts {}\n",
            ca.display()
        ),
    );
    peers::ntpsec_client(
        &lan,
        3,
        &[&format!("198.18.0.1 nts ca {}", ca.display())],
        "",
    );

    // chronyd: NTS, cookies, no NAK, and it selects us
    let ok = lan.wait_for(Duration::from_secs(40), || {
        let (mode, nak, cookies, _) = authdata(&lan, &chronyc, &sock)?;
        (mode == "NTS" && nak == 0 && cookies >= 7 && selected(&lan, &chronyc, &sock)).then_some(())
    });
    assert!(
        ok.is_some(),
        "chronyd: {:?}\n{}\nours: {}\n{:?}",
        authdata(&lan, &chronyc, &sock),
        common::chronyc_sources(&lan, 2, &chronyc, &sock),
        lan.log(1, "ntpkit.log"),
        counters(&lan)
    );
    // NTPsec: good NTS receives counted by its own ntpq
    let ntpsec_good = || {
        let out = lan.run(3, &["ntpq", "-c", "nts", "127.0.0.1"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines()
            .find(|l| l.starts_with("NTS client recvs good:"))
            .and_then(|l| l.rsplit(':').next()?.trim().parse::<u64>().ok())
            .filter(|&n| n > 0)
    };
    let got = lan.wait_for(Duration::from_secs(30), ntpsec_good);
    assert!(
        got.is_some(),
        "NTPsec: {}\n{}",
        String::from_utf8_lossy(&lan.run(3, &["ntpq", "-c", "nts", "127.0.0.1"]).stdout),
        lan.log(3, "ntpsec.log")
    );
    // NTPsec's ntpq reads our server's counters under NTPsec's names
    let out = lan.run(1, &["ntpq", "-c", "nts", "127.0.0.1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("NTS server recvs good:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.rsplit(':')
            .next()
            .unwrap()
            .trim()
            .parse::<u64>()
            .unwrap()
            > 0,
        "{text}"
    );
    let c = counters(&lan);
    assert!(c["nts_ke_serves_good"] >= 2, "{c:?}");
    assert_eq!(
        c["nts_cookie_decode_too_old"] + c["nts_cookie_decode_error"],
        0,
        "{c:?}"
    );

    // rotation: within 20 s a new key; cookies sealed with the one before still open
    let rotated = lan.wait_for(Duration::from_secs(40), || {
        let c = counters(&lan);
        (c.get("nts_cookie_decode_old").copied().unwrap_or(0) > 0).then_some(c)
    });
    assert!(rotated.is_some(), "{:?}", counters(&lan));

    // a restart with the same cookie file: the clients' next packets are answered
    lan.kill_host(1);
    start_server(&lan, &dir);
    let kept = lan.wait_for(Duration::from_secs(30), || {
        let c = counters(&lan);
        (c.get("nts_server_recv_good").copied().unwrap_or(0) >= 2).then_some(c)
    });
    let c = kept.unwrap_or_else(|| panic!("{:?}\n{}", counters(&lan), lan.log(1, "ntpkit.log")));
    assert_eq!(c["nts_cookie_decode_too_old"], 0, "{c:?}");
    assert_eq!(c["nts_server_recv_bad"], 0, "{c:?}");
    assert_eq!(
        c["nts_ke_serves_good"], 0,
        "no new key exchange needed: {c:?}"
    );
    let (_, nak, _, text) = authdata(&lan, &chronyc, &sock).unwrap();
    assert_eq!(nak, 0, "{text}");

    // a TLS client without ALPN ntske/1 is refused and counted; nothing else changes
    let out = lan.run(
        2,
        &[
            "sh",
            "-c",
            &format!(
                "openssl s_client -tls1_3 -CAfile {} -connect 198.18.0.1:4460 </dev/null 2>&1",
                ca.display()
            ),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("No ALPN negotiated"), "{text}");
    let refused = lan.wait_for(Duration::from_secs(10), || {
        (counters(&lan)
            .get("nts_ke_serves_bad")
            .copied()
            .unwrap_or(0)
            >= 1)
            .then_some(())
    });
    assert!(refused.is_some(), "{:?}", counters(&lan));

    // a renewed certificate on disk: the next key exchange presents it
    let before = presented_cert(&lan, &ca);
    assert_eq!(
        before,
        pem_body(&std::fs::read_to_string(dir.join("server.pem")).unwrap())
    );
    make_certs(&dir, "renewed");
    // key first, then the certificate, each renamed into place as an ACME client does
    std::fs::copy(dir.join("renewed.key"), dir.join("server.key.new")).unwrap();
    std::fs::rename(dir.join("server.key.new"), dir.join("server.key")).unwrap();
    std::fs::copy(dir.join("renewed.pem"), dir.join("server.pem.new")).unwrap();
    std::fs::rename(dir.join("server.pem.new"), dir.join("server.pem")).unwrap();
    let renewed = pem_body(&std::fs::read_to_string(dir.join("renewed.pem")).unwrap());
    let seen = lan.wait_for(Duration::from_secs(15), || {
        (presented_cert(&lan, &ca) == renewed).then_some(())
    });
    assert!(seen.is_some(), "{}", lan.log(1, "ntpkit.log"));

    // new cookie keys (the clients now hold another server's cookies): NTSN, then a new
    // key exchange (chronyd's NAK column only flags a NAK since its last key exchange, so
    // our counters tell), and chronyd keeps us selected
    lan.kill_host(1);
    std::fs::remove_file(dir.join("nts-keys")).unwrap();
    start_server(&lan, &dir);
    let recovered = lan.wait_for(Duration::from_secs(40), || {
        let c = counters(&lan);
        let (mode, _, _, _) = authdata(&lan, &chronyc, &sock)?;
        (c.get("nts_cookie_decode_too_old").copied().unwrap_or(0) >= 1
            && c.get("nts_ke_serves_good").copied().unwrap_or(0) >= 1
            && c.get("nts_server_recv_good").copied().unwrap_or(0) >= 1
            && mode == "NTS")
            .then_some(c)
    });
    assert!(
        recovered.is_some(),
        "{:?}\n{:?}\n{}",
        counters(&lan),
        authdata(&lan, &chronyc, &sock),
        lan.log(1, "ntpkit.log")
    );
    let still = lan.wait_for(Duration::from_secs(20), || {
        selected(&lan, &chronyc, &sock).then_some(())
    });
    assert!(
        still.is_some(),
        "{}",
        common::chronyc_sources(&lan, 2, &chronyc, &sock)
    );
}
