use super::*;
use crate::config::diagnostic::Severity;

fn parse(text: &str) -> (Config, Vec<Diagnostic>) {
    Config::parse_str(text, Path::new("/etc/ntp.conf")).expect("no fatal error")
}

/// Without the "accepted, not implemented" notes (tested on their own).
fn parse_quiet(text: &str) -> (Config, Vec<Diagnostic>) {
    let (c, d) = parse(text);
    let d = d
        .into_iter()
        .filter(|d| !d.message.contains("accepted, not implemented"))
        .collect();
    (c, d)
}

#[test]
fn nts_options_as_ntpsec_spells_them() {
    use crate::wire::nts::aead::Aead;
    let (c, d) = parse(
        "server 198.18.0.1 nts ca /etc/ntpsec/ca.pem aead aes-siv-cmac-256 port 4461 iburst\n\
         pool nts.example nts noval\nserver 198.18.0.2\n",
    );
    assert!(d.is_empty(), "{d:?}");
    let nts = c.associations[0].nts.clone().unwrap();
    assert_eq!(nts.ca.as_deref(), Some(Path::new("/etc/ntpsec/ca.pem")));
    assert_eq!(nts.aead, Some(Aead::AesSivCmac256));
    assert_eq!(nts.port, Some(4461));
    assert!(!nts.noval && c.associations[0].iburst);
    assert!(c.associations[1].nts.as_ref().unwrap().noval);
    assert_eq!(c.associations[2].nts, None);
    // never an unauthenticated association where NTS was asked for
    for bad in [
        "server 198.18.0.1 nts key 1\n",
        "peer 198.18.0.1 nts\n",
        "server 198.18.0.1 nts aead AES_GCM\n",
    ] {
        let (c, d) = parse(bad);
        assert!(c.associations.is_empty(), "{bad}");
        assert_eq!(d[0].severity, Severity::Error, "{bad}: {d:?}");
        assert_eq!(d[0].location.line, 1, "{bad}");
    }
    // an NTS option without nts: warned, the association is plain (as written)
    let (c, d) = parse("server 198.18.0.1 noval\n");
    assert_eq!(c.associations[0].nts, None);
    assert!(d[0].message.contains("no 'nts'"), "{d:?}");
}

fn one_diag(text: &str) -> Diagnostic {
    let (_, d) = parse(text);
    assert_eq!(d.len(), 1, "{d:?}");
    d.into_iter().next().unwrap()
}

#[test]
fn server_options() {
    let (c, d) = parse_quiet(
        "server -4 time.example.com key 7 version 3 prefer minpoll 4 maxpoll 8 iburst burst noselect true mode 5\n",
    );
    assert!(d.is_empty(), "{d:?}");
    let a = &c.associations[0];
    assert_eq!(a.kind, AssociationKind::Server);
    assert_eq!(a.target, Target::Name("time.example.com".into()));
    assert_eq!(a.family, Some(AddressFamily::V4));
    assert_eq!(a.key, Some(7));
    assert_eq!(a.version, 3);
    assert!(a.prefer && a.iburst && a.burst && a.noselect && a.always_true);
    assert_eq!((a.minpoll, a.maxpoll), (4, 8));
    assert_eq!(a.mode, Some(5));
    assert_eq!(a.location.line, 1);
}

#[test]
fn pool_peer_and_ipv6() {
    let (c, d) = parse("pool 0.pool.ntp.org iburst\npeer -6 2001:db8::1\n");
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(c.associations[0].kind, AssociationKind::Pool);
    assert_eq!(c.associations[1].kind, AssociationKind::Peer);
    assert_eq!(
        c.associations[1].target,
        Target::Address("2001:db8::1".parse().unwrap())
    );
    assert_eq!(c.associations[1].minpoll, 6);
    assert_eq!(c.associations[1].maxpoll, 10);
    assert_eq!(c.associations[1].version, 4);
}

#[test]
fn local_clock_with_fudge_in_any_order() {
    let (c, d) = parse_quiet(
        "fudge 127.127.1.0 stratum 10 refid GPS time1 0.5 flag1 1\nserver 127.127.1.0\n",
    );
    assert!(d.is_empty(), "{d:?}");
    let a = &c.associations[0];
    assert!(a.is_local_clock());
    assert_eq!(a.refclock_stratum(), Some(10));
    assert_eq!(a.refclock_refid().as_deref(), Some("GPS"));
    assert_eq!(a.fudge.time1, Some(0.5));
    assert_eq!(a.fudge.flags[0], Some(true));
    let (c, _) = parse("server 127.127.1.0\n");
    assert_eq!(c.associations[0].refclock_stratum(), Some(5));
    assert_eq!(c.associations[0].refclock_refid().as_deref(), Some("LOCL"));
}

#[test]
fn capitalised_fudge_is_an_unknown_keyword_warning() {
    let (c, d) = parse("server 192.168.6.3\nFudge 192.168.6.3 stratum 10\n");
    assert_eq!(c.associations.len(), 1);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].severity, Severity::Warning);
    assert_eq!(d[0].location.line, 2);
    let s = d[0].to_string();
    assert!(
        s.starts_with("/etc/ntp.conf:2:1: warning: unknown keyword 'Fudge'"),
        "{s}"
    );
    assert!(s.contains("did you mean 'fudge'"), "{s}");
}

#[test]
fn fudge_of_a_network_address_and_orphan_fudge() {
    let d = one_diag("server 192.168.6.3\nfudge 192.168.6.3 stratum 10\n");
    assert!(d.is_error());
    assert_eq!(d.location.column, Some(7));
    let d = one_diag("fudge 127.127.1.0 stratum 10\n");
    assert_eq!(d.severity, Severity::Warning);
    assert!(d.message.contains("without a 'server 127.127.1.0'"), "{d}");
}

#[test]
fn other_refclock_drivers_and_unimplemented_directives_warn() {
    let (c, d) = parse(
        "server 127.127.20.0 mode 1\nbroadcastclient\ncrypto pw x\nmanycastserver 239.1.1.1\n",
    );
    assert!(c.associations.is_empty());
    assert_eq!(d.len(), 4, "{d:?}");
    assert!(d.iter().all(|d| d.severity == Severity::Warning));
    assert!(d[0].message.contains("driver 20"));
    assert_eq!(d[1].location.line, 2);
    assert!(
        d[2].to_string()
            .contains("'crypto' accepted, not implemented by ntpkit"),
        "{}",
        d[2]
    );
}

#[test]
fn syntax_errors_name_line_and_column_and_skip_the_line() {
    let d = one_diag("server a.example minpoll x\n");
    assert!(d.is_error());
    assert_eq!((d.location.line, d.location.column), (1, Some(26)));
    assert_eq!(
        d.to_string(),
        "/etc/ntp.conf:1:26: error: minpoll: 'x' is not a number"
    );
    let (c, d) = parse("\nserver\n");
    assert!(c.associations.is_empty());
    assert_eq!(
        d[0].to_string(),
        "/etc/ntp.conf:2:8: error: missing server address"
    );
    let d = one_diag("restrict 192.168.1.0 mask 255.255.256.0\n");
    assert_eq!(d.location.column, Some(27));
    assert!(d.message.contains("bad mask"));
    let d = one_diag("restrict 10.0.0.1 nomodify bogus\n");
    assert_eq!(d.location.column, Some(28));
    let d = one_diag("server 1.2.3.4 version 5\n");
    assert!(d.message.contains("out of range"), "{d}");
    let d = one_diag("restrict 192.168.6.3 nomodify notrap nopeer noquery //当前节点IP地址\n");
    assert_eq!(d.location.column, Some(53));
    let d = one_diag("server 192.168.6.3//x\n");
    assert!(d.message.contains("bad address"));
}

/// NTPsec keeps a command that is complete when an unexpected word comes (bison's
/// default reduction) and logs a syntax error; a word missing inside an option drops
/// the line. Checked against NTPsec 1.2.2's ntpd (`ntpq -pn` of the same file).
#[test]
fn trailing_words_are_skipped_and_the_directive_kept_as_ntpsec_does() {
    let (c, d) = parse(
        "server 198.18.0.2 prefer <==以这部主机为最优先的server\n\
         server 198.18.0.3 server 198.18.0.4 # 3.默认的\n\
         restrict default kod nomodify notrap nopeer noquery <==拒绝 IPv4 的用户\n\
         restrict -6 ::1 restrict 192.168.100.0 mask 255.255.255.0 nomodify <==放行\n\
         server 198.18.0.5 iburst bogus minpoll 4\n\
         server 198.18.0.6 minpoll x\n\
         driftfile /var/lib/ntp/drift junk\n",
    );
    let servers: Vec<String> = c
        .associations
        .iter()
        .map(|a| match &a.target {
            Target::Address(ip) => ip.to_string(),
            t => format!("{t:?}"),
        })
        .collect();
    assert_eq!(servers, ["198.18.0.2", "198.18.0.3", "198.18.0.5"]);
    assert!(c.associations[0].prefer);
    assert!(c.associations[2].iburst);
    assert_eq!(c.associations[2].minpoll, 6, "minpoll came after the skip");
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert!(c
        .restrictions
        .lookup(ip("203.0.113.1"))
        .contains(RestrictFlags::NOQUERY));
    assert_eq!(c.restrictions.lookup(ip("::1")), RestrictFlags::NONE);
    // the second restrict on line 4 was skipped: the LAN gets the default entry
    assert_eq!(
        c.restrictions.lookup(ip("192.168.100.7")),
        c.restrictions.lookup(ip("203.0.113.1"))
    );
    assert_eq!(
        c.driftfile.as_deref(),
        Some(Path::new("/var/lib/ntp/drift"))
    );
    // one warning per skipped word, at its column; one error for the broken minpoll
    let at = |line: usize| -> Vec<(usize, Severity)> {
        d.iter()
            .filter(|d| d.location.line == line)
            .map(|d| (d.location.column.unwrap(), d.severity))
            .collect()
    };
    assert_eq!(at(1), [(26, Severity::Warning)]);
    assert_eq!(at(2), [(19, Severity::Warning), (26, Severity::Warning)]);
    assert_eq!(at(3).len(), 3);
    assert_eq!(at(4).len(), 6);
    assert_eq!(at(5).len(), 3);
    assert_eq!(at(6), [(27, Severity::Error)]);
    assert_eq!(at(7), [(30, Severity::Warning)]);
    assert!(d[0].to_string().starts_with(
        "/etc/ntp.conf:1:26: warning: '<==以这部主机为最优先的server' skipped (not a server option)"
    ), "{}", d[0]);
}

#[test]
fn not_implemented_keywords_are_reported_once_each() {
    let (_, d) = parse(
        "server 192.0.2.1 preempt\nserver 192.0.2.2 preempt\ntinker allan 1500\n\
         tinker allan 1000\nenable kernel\nstatistics loopstats sysstats cryptostats\n",
    );
    let msgs: Vec<String> = d.iter().map(|d| d.to_string()).collect();
    assert_eq!(msgs.len(), 4, "{msgs:#?}");
    assert!(msgs[0].starts_with(
        "/etc/ntp.conf:1:18: warning: server option 'preempt' accepted, not implemented"
    ));
    assert!(msgs[1].contains(":3:8: warning: 'tinker allan' accepted"));
    assert!(msgs[2].contains(":5:8: warning: 'enable kernel' accepted"));
    assert!(msgs[3].contains(":6:31: warning: statistics 'cryptostats' accepted"));
}

#[test]
fn xleave_and_chrony_s_hwtimestamp_are_taken() {
    let (c, d) = parse(
        "server 192.0.2.1 xleave iburst\nhwtimestamp *\nhwtimestamp eth0 minpoll 0 nocrossts rxfilter all\nhwtimestamp\n",
    );
    assert!(c.associations[0].xleave);
    assert_eq!(c.hwtimestamp, ["*", "eth0"]);
    let msgs: Vec<String> = d.iter().map(|d| d.to_string()).collect();
    assert_eq!(msgs.len(), 1, "{msgs:#?}");
    assert!(msgs[0].starts_with("/etc/ntp.conf:4:"), "{}", msgs[0]);
}

#[test]
fn poll_limits_are_clamped_with_a_warning() {
    let (c, d) = parse("server a.example minpoll -1 maxpoll 20\n");
    assert_eq!(d.len(), 2);
    assert_eq!(
        (c.associations[0].minpoll, c.associations[0].maxpoll),
        (0, 17)
    );
    // NTPsec's lower limit: 0 (1 s) is accepted as it is
    let (c, d) = parse("server a.example minpoll 1 maxpoll 1\n");
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(c.associations[0].minpoll, 1);
    let (c, d) = parse("server a.example minpoll 12 maxpoll 8\n");
    assert_eq!(d.len(), 1);
    assert_eq!(c.associations[0].maxpoll, 12);
}

#[test]
fn restrict_lines_build_the_lookup_table() {
    let (c, d) = parse(
        "restrict default kod nomodify notrap nopeer noquery\n\
         restrict -6 default kod nomodify notrap nopeer noquery ignore\n\
         restrict 127.0.0.1\n\
         restrict -6 ::1\n\
         restrict 192.168.100.0 mask 255.255.255.0 nomodify\n\
         restrict 10.0.0.0/8 limited kod ntpport\n\
         restrict source nomodify\n\
         restrict ntp.example.com noquery\n\
         restrict 192.0.2.9 serverresponse fuzz\n",
    );
    assert!(d.is_empty(), "{d:?}");
    let r = &c.restrictions;
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let dflt = RestrictFlags::KOD
        | RestrictFlags::NOMODIFY
        | RestrictFlags::NOTRAP
        | RestrictFlags::NOPEER
        | RestrictFlags::NOQUERY;
    assert_eq!(r.lookup(ip("203.0.113.5")), dflt);
    assert_eq!(r.lookup(ip("2001:db8::5")), dflt | RestrictFlags::IGNORE);
    assert_eq!(r.lookup(ip("127.0.0.1")), RestrictFlags::NONE);
    assert_eq!(r.lookup(ip("::1")), RestrictFlags::NONE);
    assert_eq!(r.lookup(ip("192.168.100.9")), RestrictFlags::NOMODIFY);
    assert_eq!(
        r.lookup_with_port(ip("10.9.9.9"), Some(123)),
        RestrictFlags::LIMITED | RestrictFlags::KOD
    );
    assert_eq!(r.lookup_with_port(ip("10.9.9.9"), Some(5000)), dflt);
    assert_eq!(r.source, Some(RestrictFlags::NOMODIFY));
    assert_eq!(r.unresolved[0].0, "ntp.example.com");
    assert_eq!(
        r.lookup(ip("192.0.2.9")),
        RestrictFlags::SERVERRESPONSE_FUZZ
    );
}

#[test]
fn keys_and_trustedkey_ranges() {
    let (c, d) = parse_quiet(
        "keys /etc/ntp/keys\ntrustedkey 4 8 42 (100 ... 105) (200...201)\nrequestkey 8\ncontrolkey 9\n",
    );
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(c.keys_file.as_deref(), Some(Path::new("/etc/ntp/keys")));
    for id in [4, 8, 42, 100, 103, 105, 200, 201] {
        assert!(c.is_trusted_key(id), "{id}");
    }
    for id in [5, 99, 106, 202] {
        assert!(!c.is_trusted_key(id), "{id}");
    }
    assert_eq!((c.request_key, c.control_key), (Some(8), Some(9)));
    let d = one_diag("trustedkey (5 ... 2)\n");
    assert!(d.message.contains("empty"), "{d}");
    let d = one_diag("trustedkey 0\n");
    assert_eq!(d.location.column, Some(12));
}

#[test]
fn metrics_needs_an_allow_list_off_loopback() {
    let (c, d) = parse_quiet("metrics 127.0.0.1:9975\n");
    assert!(d.is_empty(), "{d:?}");
    let m = c.metrics.unwrap();
    assert_eq!(m.addr.to_string(), "127.0.0.1:9975");
    assert!(m.permits("127.0.0.1".parse().unwrap()));
    assert!(m.permits("::ffff:127.0.0.1".parse().unwrap()));
    assert!(!m.permits("198.18.0.3".parse().unwrap()));
    let (c, d) = parse_quiet("metrics [::]:9975 allow 198.18.0.0/24 2001:db8::1\n");
    assert!(d.is_empty(), "{d:?}");
    let m = c.metrics.unwrap();
    assert!(m.permits("198.18.0.200".parse().unwrap()));
    assert!(m.permits("::ffff:198.18.0.7".parse().unwrap()));
    assert!(!m.permits("198.18.1.1".parse().unwrap()));
    assert!(m.permits("2001:db8::1".parse().unwrap()));
    assert!(!m.permits("2001:db8::2".parse().unwrap()));
    for (line, says, column) in [
        ("metrics 198.18.0.1:9975\n", "needs 'allow", 9),
        ("metrics 9975\n", "bad metrics address", 9),
        (
            "metrics 127.0.0.1:9975 permit 10.0.0.0/8\n",
            "expected 'allow'",
            24,
        ),
        ("metrics 127.0.0.1:9975 allow\n", "missing", 30),
        (
            "metrics 127.0.0.1:9975 allow 10.0.0.0/33\n",
            "bad allow address",
            30,
        ),
    ] {
        let (c, d) = parse_quiet(line);
        assert_eq!(d.len(), 1, "{line}: {d:?}");
        assert!(d[0].message.contains(says), "{line}: {}", d[0]);
        assert_eq!(d[0].location.column, Some(column), "{line}: {}", d[0]);
        assert!(c.metrics.is_none(), "{line}");
    }
}

#[test]
fn misc_directives() {
    let (c, d) = parse_quiet(
        "driftfile /var/lib/ntp/drift\n\
         disable monitor kernel\nenable calibrate\n\
         statistics loopstats peerstats\nstatsdir /var/log/ntpstats/\n\
         filegen loopstats file loops type week nolink enable\n\
         filegen clockstats type none disable\n\
         logfile /var/log/ntp.log\nlogconfig =syncall +clockall\n\
         pidfile /run/ntpd.pid\nleapfile /usr/share/zoneinfo/leap-seconds.list\n\
         tinker panic 0 step 0.128 stepout 900 allan 1500 dispersion 15 freq 0 huffpuff 7200\n\
         tos minclock 4 minsane 2 orphan 10 orphanwait 0 maxclock 7 maxdist 2 mindist 0.01 floor 2 ceiling 15 cohort 1 beacon 60\n\
         interface listen eth0\ninterface ignore ipv6\ninterface drop 10.0.0.0/8\n\
         rtcsync\nmru maxdepth 1024 maxage 64\nsetvar owner = \"The Boss\" default\n\
         discard average 4 minimum 1 monitor 100\nnonvolatile 1e-6\n",
    );
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(
        c.driftfile.as_deref(),
        Some(Path::new("/var/lib/ntp/drift"))
    );
    assert!(!c.system.monitor && !c.system.kernel && c.system.calibrate && c.system.ntp);
    let stats: Vec<&str> = c.enabled_stats().map(|(n, _)| n).collect();
    assert_eq!(stats, vec!["loopstats", "peerstats"]);
    let lg = &c.filegens["loopstats"];
    assert_eq!(lg.file.as_deref(), Some("loops"));
    assert_eq!(lg.kind, FileGenType::Week);
    assert!(!lg.link);
    assert!(!c.filegens["clockstats"].enabled);
    assert_eq!(c.logconfig, vec!["=syncall", "+clockall"]);
    assert_eq!(c.tinker.panic, Some(0.0));
    assert_eq!(c.tinker.step, Some(0.128));
    assert_eq!(c.tos.minclock, 4);
    assert_eq!(c.tos.orphan, 10);
    assert!(c.tos.cohort);
    assert_eq!(c.interfaces.len(), 3);
    assert_eq!(
        c.interfaces[2].matches,
        InterfaceMatch::Prefix("10.0.0.0".parse().unwrap(), 8)
    );
    assert!(c.rtcsync);
    assert_eq!(c.mru["maxdepth"], 1024);
    assert_eq!(c.setvars[0].name, "owner");
    assert_eq!(c.setvars[0].value, "The Boss");
    assert!(c.setvars[0].default);
    assert_eq!(c.discard.average, 4);
    assert_eq!(c.nonvolatile, Some(1e-6));
    let (c, d) = parse("driftfile /a 1e-7\ndriftfile\n");
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(c.driftfile, None);
    let d = one_diag("driftfile /a x\n");
    assert_eq!(d.location.column, Some(14));
}

#[test]
fn includefile_relative_nesting_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir(p.join("sub")).unwrap();
    std::fs::write(
        p.join("main.conf"),
        "includefile sub/a.conf\nserver 192.0.2.1\n",
    )
    .unwrap();
    std::fs::write(
        p.join("sub/a.conf"),
        "includefile b.conf\nserver 192.0.2.2\n",
    )
    .unwrap();
    std::fs::write(p.join("sub/b.conf"), "server 192.0.2.3\nbogus\n").unwrap();
    let (c, d) = Config::load(&p.join("main.conf")).unwrap();
    let addrs: Vec<String> = c
        .associations
        .iter()
        .map(|a| match &a.target {
            Target::Address(ip) => ip.to_string(),
            t => format!("{t:?}"),
        })
        .collect();
    assert_eq!(addrs, vec!["192.0.2.3", "192.0.2.2", "192.0.2.1"]);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].location.file, p.join("sub/b.conf"));
    assert_eq!(d[0].location.line, 2);

    // a missing include is an error naming the line; the rest of the file still counts
    std::fs::write(
        p.join("missing.conf"),
        "\n\nincludefile nothere.conf\nserver 192.0.2.9\n",
    )
    .unwrap();
    let (c, d) = Config::load(&p.join("missing.conf")).unwrap();
    assert_eq!(c.associations.len(), 1);
    assert_eq!(d.len(), 1, "{d:?}");
    let e = d[0].to_string();
    assert!(e.contains("missing.conf:3:13: error: includefile"), "{e}");
    assert!(e.contains("nothere.conf"), "{e}");

    std::fs::write(p.join("loop.conf"), "includefile loop.conf\n").unwrap();
    let (_, d) = Config::load(&p.join("loop.conf")).unwrap();
    assert!(d.iter().all(|d| d.is_error()), "{d:?}");
    assert!(
        d.iter().any(|d| d.message.contains("more than 5 levels")),
        "{d:?}"
    );

    let e = Config::load(&p.join("absent.conf"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("absent.conf"), "{e}");
}

#[test]
fn include_depth_five_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    for i in 0..5 {
        std::fs::write(
            p.join(format!("{i}.conf")),
            format!("includefile {}.conf\n", i + 1),
        )
        .unwrap();
    }
    std::fs::write(p.join("5.conf"), "server 192.0.2.5\n").unwrap();
    let (c, d) = Config::load(&p.join("0.conf")).unwrap();
    assert!(d.is_empty());
    assert_eq!(c.associations.len(), 1);
}

#[test]
fn builtin_default() {
    let c = Config::default_builtin();
    assert!(c.builtin);
    assert_eq!(c.associations.len(), 4);
    assert!(c
        .associations
        .iter()
        .all(|a| a.kind == AssociationKind::Pool && a.iburst));
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert!(c
        .restrictions
        .lookup(ip("192.0.2.1"))
        .contains(RestrictFlags::NOQUERY));
    assert!(c
        .restrictions
        .lookup(ip("2001:db8::1"))
        .contains(RestrictFlags::KOD));
    assert_eq!(c.restrictions.lookup(ip("127.0.0.1")), RestrictFlags::NONE);
    assert_eq!(c.restrictions.lookup(ip("::1")), RestrictFlags::NONE);
}
