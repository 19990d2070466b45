//! Every ntp.conf line of the operator how-to (/work/shared/seed/, copied into
//! tests/fixtures/seed/) parses, with the warnings ntpd would give.

use ntpkit::config::{AssociationKind, Config, RestrictFlags, Severity, Target};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/seed")
        .join(name)
}

fn line_of(path: &Path, needle: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .position(|l| l.starts_with(needle))
        .unwrap_or_else(|| panic!("{needle} not in fixture"))
        + 1
}

#[test]
fn every_seed_line_parses_with_ntpds_warnings() {
    let path = fixture("ntp.conf");
    let (c, diags) = Config::load(&path).expect("seed config loads");
    for d in &diags {
        eprintln!("{d}");
    }
    assert!(
        diags.iter().all(|d| d.severity == Severity::Warning),
        "no line of the seed is a syntax error: {diags:#?}"
    );

    // The capitalised keywords are unknown to ntpd: a warning naming file:line, line skipped.
    let unknown: Vec<(usize, String)> = diags
        .iter()
        .filter(|d| d.message.starts_with("unknown keyword"))
        .map(|d| (d.location.line, d.to_string()))
        .collect();
    assert_eq!(unknown.len(), 3, "{unknown:?}");
    assert_eq!(unknown[0].0, line_of(&path, "Fudge 127.127.1.0"));
    assert_eq!(unknown[1].0, line_of(&path, "Fudge 192.168.6.3"));
    assert_eq!(unknown[2].0, line_of(&path, "Restrict default"));
    assert!(unknown[0].1.contains("ntp.conf:"), "{}", unknown[0].1);
    assert!(unknown[0].1.contains("'Fudge'"), "{}", unknown[0].1);

    // Unimplemented directives are named, never silently dropped.
    for kw in [
        "broadcast",
        "broadcastclient",
        "multicastclient",
        "manycastserver",
        "manycastclient",
        "crypto",
    ] {
        let line = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .position(|l| l.split_whitespace().next() == Some(kw))
            .unwrap()
            + 1;
        assert!(
            diags
                .iter()
                .any(|d| d.location.line == line && d.message.contains("not implemented")),
            "{kw} at line {line} not reported: {diags:#?}"
        );
    }
    // 3 unknown keywords, 7 ignored lines, `requestkey`, `statistics clockstats cryptostats`
    assert_eq!(diags.len(), 3 + 7 + 3, "{diags:#?}");

    // The master's local clock: the lower-case fudge applies, stratum 10.
    let local: Vec<_> = c
        .associations
        .iter()
        .filter(|a| a.is_local_clock())
        .collect();
    assert_eq!(
        local.len(),
        2,
        "server 127.127.1.0 appears twice in the seed"
    );
    assert!(local.iter().all(|a| a.refclock_stratum() == Some(10)));
    let names = c
        .associations
        .iter()
        .filter(|a| matches!(a.target, Target::Name(_)))
        .count();
    assert_eq!(names, 8);
    assert!(c
        .associations
        .iter()
        .all(|a| a.kind == AssociationKind::Server));
    let prefer = c.associations.iter().find(|a| a.prefer).unwrap();
    assert_eq!(
        prefer.target,
        Target::Address("220.130.158.71".parse().unwrap())
    );

    // Restrictions as the seed intends them.
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let r = &c.restrictions;
    let dflt = RestrictFlags::KOD
        | RestrictFlags::NOMODIFY
        | RestrictFlags::NOTRAP
        | RestrictFlags::NOPEER
        | RestrictFlags::NOQUERY;
    assert_eq!(r.lookup(ip("203.0.113.1")), dflt);
    assert_eq!(r.lookup(ip("2001:db8::1")), dflt);
    assert_eq!(r.lookup(ip("127.0.0.1")), RestrictFlags::NONE);
    assert_eq!(r.lookup(ip("::1")), RestrictFlags::NONE);
    assert_eq!(r.lookup(ip("59.124.196.84")), RestrictFlags::NONE);
    assert_eq!(
        r.lookup(ip("192.168.100.20")),
        RestrictFlags::NOMODIFY | RestrictFlags::NOTRAP
    );
    assert_eq!(
        r.lookup(ip("192.168.6.3")),
        RestrictFlags::NOMODIFY
            | RestrictFlags::NOTRAP
            | RestrictFlags::NOPEER
            | RestrictFlags::NOQUERY
    );
    assert_eq!(
        r.lookup(ip("192.168.6.77")),
        RestrictFlags::NOMODIFY | RestrictFlags::NOTRAP
    );

    assert_eq!(
        c.driftfile.as_deref(),
        Some(Path::new("/var/lib/ntp/drift"))
    );
    assert_eq!(c.keys_file.as_deref(), Some(Path::new("/etc/ntp/keys")));
    assert!(!c.system.monitor);
    assert!(c.is_trusted_key(42) && !c.is_trusted_key(5));
    assert_eq!((c.request_key, c.control_key), (Some(8), Some(8)));
    assert_eq!(c.enabled_stats().count(), 4);
}

#[test]
fn seed_includefile_of_a_missing_file_is_an_error_that_says_where_and_loading_goes_on() {
    let path = fixture("seed-include.conf");
    // as ntpd: CentOS 7's stock `includefile /etc/ntp/crypto/pw` on a host without it is
    // logged, and the daemon runs with the rest of the file
    let (c, d) = Config::load(&path).expect("a missing include does not stop loading");
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].is_error());
    let msg = d[0].to_string();
    assert!(msg.contains("seed-include.conf:3:13"), "{msg}");
    assert!(msg.contains("/etc/ntp/crypto/pw"), "{msg}");
    assert!(
        c.keys_file.is_some(),
        "the lines after the include still count"
    );

    // With the file present (RHEL ships it with everything commented out) it loads.
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(
        &pw,
        "# Specify the password to decrypt a private key\n# crypto pw PASSWORD\n",
    )
    .unwrap();
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("/etc/ntp/crypto/pw", pw.to_str().unwrap());
    let (c, d) = Config::parse_str(&text, &path).unwrap();
    assert!(d.is_empty(), "{d:?}");
    assert!(c.keys_file.is_some());
}

#[test]
fn seed_lines_as_printed_are_syntax_errors_at_the_right_column() {
    let path = fixture("seed-verbatim.conf");
    let (c, diags) = Config::load(&path).unwrap();
    for d in &diags {
        eprintln!("{d}");
    }
    let at: Vec<(usize, Option<usize>, Severity)> = diags
        .iter()
        .map(|d| (d.location.line, d.location.column, d.severity))
        .collect();
    // The blog's glued-on prose is not ntp.conf. NTPsec keeps each directive up to the
    // first word that cannot continue it and logs a syntax error; ntpkit does the same
    // with a warning for every word it skips.
    let first_skipped: Vec<(usize, Option<usize>)> = {
        let mut v: Vec<(usize, Option<usize>)> = Vec::new();
        for &(line, col, sev) in &at {
            assert_eq!(sev, Severity::Warning, "line {line}");
            if v.last().map(|l| l.0) != Some(line) {
                v.push((line, col));
            }
        }
        v
    };
    assert_eq!(
        first_skipped,
        vec![
            (1, Some(53)), // "//当前节点IP地址"
            (2, Some(57)), // "//集群所在网段…"
            (3, Some(53)), // "<==拒绝"
            (4, Some(17)), // second "restrict"
            (5, Some(22)), // second "server"
            (8, Some(25)), // "<==放行"
        ]
    );
    assert_eq!(at.len(), 18, "one warning per skipped word");
    // What came before the prose counts: 127.127.1.0 and the first server of line 5.
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(c.associations.len(), 2);
    assert_eq!(
        c.associations[0].target,
        Target::Address("59.124.196.83".parse().unwrap())
    );
    assert_eq!(c.restrictions.lookup(ip("::1")), RestrictFlags::NONE);
    assert_eq!(
        c.restrictions.lookup(ip("192.168.6.3")),
        RestrictFlags::NOMODIFY
            | RestrictFlags::NOTRAP
            | RestrictFlags::NOPEER
            | RestrictFlags::NOQUERY
    );
    let c = Config {
        associations: c.associations[1..].to_vec(),
        ..c
    };
    assert_eq!(c.associations[0].refclock_stratum(), Some(10));
}
