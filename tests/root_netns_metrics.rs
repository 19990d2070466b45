//! Issue 15's metrics on the namespace LAN, against the real consumers:
//! - host 1: our ntpd (observe-only, LOCAL clock) with `metrics 198.18.0.1:9975 allow
//!   198.18.0.3`; host 2: NTPsec's ntpd, a client of host 1, answering mode 6 only to
//!   host 3 (`restrict default noquery`, `restrict 198.18.0.3`); host 3: `ntpkit exporter`
//!   reading NTPsec, and Debian's Prometheus scraping both every 5 s. `promtool check
//!   metrics` passes on both outputs, Prometheus's own OpenMetrics parser takes them (`up`
//!   is 1), and a PromQL query answers a source's offset for each target. Host 2 is refused.
//! - `/metrics` under a flood of connections and malformed requests: the daemon's memory
//!   stays bounded, NTP replies keep coming and the endpoint still answers afterwards.
//!   (Whether the serving rate holds within 5 % is a benchmark: bench/metrics-flood.sh.)

mod common;
use common::{netns_udp, ntpd};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LOCAL10: &str = "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n";

/// A TCP connection to `addr` made from inside namespace `ns` (a helper thread enters it;
/// the socket stays there).
fn connect_in(ns: &str, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let f = std::fs::File::open(&path)?;
        // setns moves only this helper thread
        rustix::thread::move_into_link_name_space(
            f.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )?;
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.set_write_timeout(Some(Duration::from_secs(5)))?;
        Ok(s)
    })
    .join()
    .expect("namespace thread")
}

/// GET `path` from `addr` as seen from host `ns`: (status, body); None when it fails.
fn get(ns: &str, addr: &str, path: &str, accept: Option<&str>) -> Option<(u16, String)> {
    let mut s = connect_in(ns, addr.parse().unwrap()).ok()?;
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{accept}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// `promtool check metrics` on `text`: (passed, what it said).
fn promtool_check(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A sample's value in exposition text: the first line starting with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

fn needs_all(test: &str) -> bool {
    common::needs(
        test,
        &[
            ("ntpd", "ntpsec"),
            ("promtool", "prometheus"),
            ("prometheus", "prometheus"),
        ],
    )
}

#[test]
fn root_netns_metrics_prometheus_scrapes_ours_and_ntpsec_through_the_exporter() {
    let test = "root_netns_metrics_prometheus_scrapes_ours_and_ntpsec_through_the_exporter";
    if !needs_all(test) {
        return;
    }
    let Some(lan) = common::lan_or_skip(test, 3) else {
        return;
    };
    let bin = common::ntpkit_bin();
    let bin = bin.to_str().unwrap();
    ntpd::start(
        &lan,
        1,
        &format!("{LOCAL10}metrics 198.18.0.1:9975 allow 198.18.0.3/32\n"),
        &[],
    );
    let dir2 = lan.host(2).dir.clone();
    let conf2 = dir2.join("ntp.conf");
    std::fs::write(
        &conf2,
        format!(
            "restrict default kod nomodify noquery\nrestrict 127.0.0.1\nrestrict 198.18.0.3 nomodify\n\
             driftfile {}/ntp.drift\nserver 198.18.0.1 iburst minpoll 3 maxpoll 4\n",
            dir2.display()
        ),
    )
    .unwrap();
    lan.spawn(
        2,
        "ntpsec.log",
        &["ntpd", "-n", "-c", conf2.to_str().unwrap()],
    );
    lan.spawn(
        3,
        "exporter.log",
        &[bin, "exporter", "--listen", "127.0.0.1:9976", "198.18.0.2"],
    );
    let ns3 = lan.host(3).ns.clone();
    let ns2 = lan.host(2).ns.clone();

    // our endpoint, once synchronised to its LOCAL clock
    let ours = lan
        .wait_for(Duration::from_secs(60), || {
            get(&ns3, "198.18.0.1:9975", "/metrics", None)
                .filter(|(st, b)| *st == 200 && sample(b, "ntp_system_synchronized ") == Some(1.0))
                .map(|(_, b)| b)
        })
        .unwrap_or_else(|| {
            panic!(
                "our /metrics never showed synchronised:\n{}",
                lan.log(1, "ntpkit.log")
            )
        });
    let (ok, said) = promtool_check(&ours);
    assert!(ok, "promtool check metrics on ours: {said}\n{ours}");
    assert_eq!(sample(&ours, "ntp_system_stratum "), Some(11.0), "{ours}");
    assert_eq!(
        sample(&ours, "ntp_source_select_state{address=\"127.127.1.0\"} "),
        Some(6.0),
        "{ours}"
    );
    assert!(
        sample(&ours, "ntp_source_uncertainty_seconds{").is_some(),
        "{ours}"
    );
    assert!(
        sample(&ours, "ntp_process_resident_memory_bytes ").unwrap_or(0.0) > 1e6,
        "{ours}"
    );
    // the OpenMetrics form closes with # EOF and names counters without _total
    let (st, om) = get(
        &ns3,
        "198.18.0.1:9975",
        "/metrics",
        Some("application/openmetrics-text; version=1.0.0"),
    )
    .unwrap();
    assert_eq!(st, 200);
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert!(
        om.contains("# TYPE ntp_server_received_packets counter\n"),
        "{om}"
    );
    assert!(
        om.contains("# UNIT ntp_system_offset_seconds seconds\n"),
        "{om}"
    );
    // host 2 is not on the allow list
    let refused = get(&ns2, "198.18.0.1:9975", "/metrics", None);
    assert_eq!(refused.map(|r| r.0), Some(403));

    // NTPsec through the exporter, once it has polled us
    let source = "ntp_source_offset_seconds{target=\"198.18.0.2\",address=\"198.18.0.1\"} ";
    let theirs = lan
        .wait_for(Duration::from_secs(60), || {
            get(&ns3, "127.0.0.1:9976", "/metrics", None)
                .filter(|(st, b)| *st == 200 && sample(b, source).is_some())
                .map(|(_, b)| b)
        })
        .unwrap_or_else(|| {
            let last = get(&ns3, "127.0.0.1:9976", "/metrics", None);
            panic!(
                "the exporter never showed NTPsec's source: {last:?}\nexporter: {}\nntpsec: {}",
                lan.log(3, "exporter.log"),
                lan.log(2, "ntpsec.log")
            )
        });
    let (ok, said) = promtool_check(&theirs);
    assert!(
        ok,
        "promtool check metrics on the exporter's: {said}\n{theirs}"
    );
    assert_eq!(
        sample(&theirs, "ntp_exporter_up{target=\"198.18.0.2\"} "),
        Some(1.0)
    );
    assert!(
        theirs.contains("ntp_build_info{target=\"198.18.0.2\",version=\"ntpd ntpsec-"),
        "{theirs}"
    );
    assert!(
        sample(
            &theirs,
            "ntp_server_received_packets_total{target=\"198.18.0.2\"} "
        )
        .is_some(),
        "{theirs}"
    );

    // a real Prometheus, scraping both every 5 s
    let dir3 = lan.host(3).dir.clone();
    let yml = dir3.join("prometheus.yml");
    let config = [
        "global:",
        "  scrape_interval: 5s",
        "  scrape_timeout: 4s",
        "scrape_configs:",
        "  - job_name: ntpkit",
        "    static_configs:",
        "      - targets: ['198.18.0.1:9975']",
        "  - job_name: exporter",
        "    static_configs:",
        "      - targets: ['127.0.0.1:9976']",
    ];
    std::fs::write(&yml, config.join("\n") + "\n").unwrap();
    let tsdb = dir3.join("tsdb");
    lan.spawn(
        3,
        "prometheus.log",
        &[
            "prometheus",
            "--config.file",
            yml.to_str().unwrap(),
            "--storage.tsdb.path",
            tsdb.to_str().unwrap(),
            "--web.listen-address",
            "127.0.0.1:9090",
        ],
    );
    let query = |q: &str| -> Option<serde_json::Value> {
        let path = format!("/api/v1/query?query={}", urlencode(q));
        let (st, body) = get(&ns3, "127.0.0.1:9090", &path, None)?;
        (st == 200).then(|| serde_json::from_str(&body).ok())?
    };
    // about a minute of scrapes: at least 8 samples of a source's offset for each target
    let counts =
        "count_over_time(ntp_source_offset_seconds{address=~\"127.127.1.0|198.18.0.1\"}[2m])";
    let started = Instant::now();
    let enough = lan.wait_for(Duration::from_secs(120), || {
        let v = query(counts)?;
        let rows = v["data"]["result"].as_array()?.clone();
        let n = |job: &str| {
            rows.iter()
                .filter(|r| r["metric"]["job"] == job)
                .filter_map(|r| r["value"][1].as_str()?.parse::<f64>().ok())
                .fold(0.0, f64::max)
        };
        (n("ntpkit") >= 8.0 && n("exporter") >= 8.0).then_some(rows)
    });
    assert!(
        enough.is_some(),
        "Prometheus did not collect 8 scrapes of each in 120 s: {:?}\n{}",
        query(counts),
        lan.log(3, "prometheus.log")
    );
    eprintln!(
        "Prometheus had 8 scrapes of each after {:?}",
        started.elapsed()
    );
    let up = query("up").expect("query up");
    for r in up["data"]["result"].as_array().unwrap() {
        assert_eq!(r["value"][1], "1", "a target is down: {up}");
    }
    for (q, what) in [
        ("ntp_source_offset_seconds{job=\"ntpkit\",address=\"127.127.1.0\"}", "ours"),
        (
            "ntp_source_offset_seconds{job=\"exporter\",target=\"198.18.0.2\",address=\"198.18.0.1\"}",
            "NTPsec's",
        ),
    ] {
        let v = query(q).expect("query");
        let rows = v["data"]["result"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{what}: {v}");
        let offset: f64 = rows[0]["value"][1].as_str().unwrap().parse().unwrap();
        eprintln!("PromQL {q} = {offset}");
        // both run on this machine's one clock: any offset is small
        assert!(offset.abs() < 0.1, "{what}: {v}");
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn root_netns_metrics_flood_leaves_memory_bounded_and_ntp_served() {
    let test = "root_netns_metrics_flood_leaves_memory_bounded_and_ntp_served";
    let Some(lan) = common::lan_or_skip(test, 3) else {
        return;
    };
    let pid = ntpd::start(
        &lan,
        1,
        &format!("{LOCAL10}metrics 198.18.0.1:9975 allow 198.18.0.0/24\n"),
        &[],
    );
    let ns2 = lan.host(2).ns.clone();
    let ns3 = lan.host(3).ns.clone();
    lan.wait_for(Duration::from_secs(60), || {
        get(&ns3, "198.18.0.1:9975", "/metrics", None).filter(|r| r.0 == 200)
    })
    .unwrap_or_else(|| panic!("no /metrics:\n{}", lan.log(1, "ntpkit.log")));
    let rss_before = common::rss_kib(pid);

    // host 3 asks for the time, one request in flight, all through the flood
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let client = {
        let sock = netns_udp::socket_in(&ns3);
        let (stop, answered) = (stop.clone(), answered.clone());
        std::thread::spawn(move || {
            let server: SocketAddr = "198.18.0.1:123".parse().unwrap();
            let mut buf = [0u8; 512];
            let mut xmt = 1u64;
            while !stop.load(Ordering::Relaxed) {
                let mut r = [0u8; 48];
                r[0] = 0x23;
                r[40..48].copy_from_slice(&xmt.to_be_bytes());
                let _ = sock.send_to(&r, server);
                if let Ok((n, _)) = sock.recv_from(&mut buf) {
                    if n >= 48 && buf[24..32] == xmt.to_be_bytes() {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                }
                xmt += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };

    // host 2 floods: connections left idle, huge heads, garbage, half requests, many
    // at once; bounded to 15 s and 20 000 connections
    let flood_end = Instant::now() + Duration::from_secs(15);
    let made = Arc::new(AtomicU64::new(0));
    let floods: Vec<_> = (0..4)
        .map(|k| {
            let (ns2, made) = (ns2.clone(), made.clone());
            std::thread::spawn(move || {
                let addr: SocketAddr = "198.18.0.1:9975".parse().unwrap();
                let mut idle = Vec::new();
                let mut i = 0u64;
                while Instant::now() < flood_end && made.fetch_add(1, Ordering::Relaxed) < 20_000 {
                    i += 1;
                    let Ok(mut s) = connect_in(&ns2, addr) else {
                        continue;
                    };
                    let _ = s.set_write_timeout(Some(Duration::from_millis(200)));
                    match (i + k) % 5 {
                        // idle: hold it open (up to 64 per thread), say nothing
                        0 => {
                            idle.push(s);
                            if idle.len() > 64 {
                                idle.remove(0);
                            }
                        }
                        1 => {
                            let junk = vec![b'A'; 64 * 1024];
                            let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nX: ");
                            let _ = s.write_all(&junk);
                        }
                        2 => {
                            let _ = s.write_all(
                                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
                            );
                        }
                        3 => {
                            let _ = s.write_all(b"POST /metrics HTTP/1.1\r\n\r\n");
                        }
                        _ => {
                            let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
                        }
                    }
                }
            })
        })
        .collect();
    let mut rss_peak = rss_before;
    let mut answered_during = Vec::new();
    while Instant::now() < flood_end {
        let a = answered.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_secs(1));
        answered_during.push(answered.load(Ordering::Relaxed) - a);
        rss_peak = rss_peak.max(common::rss_kib(pid));
    }
    for f in floods {
        f.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    client.join().unwrap();
    eprintln!(
        "metrics flood: {} connections; RSS {rss_before} KiB before, peak {rss_peak} KiB; \
         NTP answers per second during it: {answered_during:?}",
        made.load(Ordering::Relaxed).min(20_000)
    );
    assert!(
        rss_peak < rss_before + 16 * 1024,
        "RSS grew from {rss_before} to {rss_peak} KiB"
    );
    // NTP replies kept coming: every second of the flood had some
    assert!(
        answered_during.iter().all(|&n| n > 0),
        "NTP service stalled: {answered_during:?}"
    );
    // and the endpoint answers again once it is over (idle connections time out in 5 s)
    let after = lan.wait_for(Duration::from_secs(20), || {
        get(&ns3, "198.18.0.1:9975", "/metrics", None).filter(|r| r.0 == 200)
    });
    assert!(
        after.is_some(),
        "/metrics did not recover:\n{}",
        lan.log(1, "ntpkit.log")
    );
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "ntpd died"
    );
}
