//! bench/xleave-trace.py, the kernel-path view of a traced truth-is-zero run (issue 19):
//! packets are followed by their skb from the sender's eth0 through the bridge to the
//! receiver's, packets that are not IPv4 NTP are left out, a CPU that records nothing for
//! tens of µs inside a path counts as a quiet stretch, and our client's samples are matched
//! to their packets by T1.

use std::fs;
use std::path::Path;
use std::process::Command;

const BASE: u64 = 1_796_342_000; // Unix seconds of the synthetic run
const NTP_UNIX: u64 = 2_208_988_800;

/// One trace line as ftrace prints it (clock tai, µs resolution).
fn line(comm: &str, cpu: u32, sec: u64, us: u64, event: &str, rest: &str) -> String {
    format!(
        "{comm:>16}-{pid:<6} [{cpu:03}] b.s1. {s}.{us:06}: {event}: {rest}\n",
        pid = 4242,
        s = BASE + sec
    )
}

fn xmit(dev: &str, skb: &str, proto: &str) -> String {
    format!(
        "dev={dev} queue_mapping=0 skbaddr={skb} protocol={proto} ip_summed=3 len=90 data_len=0"
    )
}

fn rx(dev: &str, skb: &str) -> String {
    format!("dev={dev} skbaddr={skb} len=76")
}

/// A request from host 31 to host 3 sent at second `sec`: eth0 out at 10 µs, into the
/// bridge at 12, the bridge's transmit toward v3 at `br_tx`, the server's receive at `rx_at`.
fn request(sec: u64, skb: &str, br_tx: u64, rx_at: u64) -> String {
    let c = "ntpkit";
    line(
        c,
        0,
        sec,
        10,
        "net_dev_start_xmit",
        &xmit("eth0", skb, "0x0800"),
    ) + &line(c, 0, sec, 12, "netif_rx", &rx("v31", skb))
        + &line(c, 0, sec, 13, "softirq_entry", "vec=3 [action=NET_RX]")
        + &line(
            c,
            0,
            sec,
            br_tx,
            "net_dev_start_xmit",
            &xmit("v3", skb, "0x0800"),
        )
        + &line(c, 0, sec, rx_at, "netif_rx", &rx("eth0", skb))
        + &line(
            c,
            0,
            sec,
            rx_at + 2,
            "softirq_exit",
            "vec=3 [action=NET_RX]",
        )
}

/// A rawstats line whose T1 is at `t1_ns` after second `sec` and T2 `leg_ns` later.
fn rawstats(sec: u64, t1_ns: u64, leg_ns: u64) -> String {
    let ntp = |ns: u64| {
        format!(
            "{}.{:09}",
            BASE + sec + NTP_UNIX + ns / 1_000_000_000,
            ns % 1_000_000_000
        )
    };
    format!(
        "61378 100.000 198.18.0.3 198.18.0.31 {} {} {} {} 0 4 4 11 3 -26 0.000000 0.000656 127.127.1.0 0 0 0\n",
        ntp(t1_ns),
        ntp(t1_ns + leg_ns),
        ntp(t1_ns + leg_ns + 80_000),
        ntp(t1_ns + leg_ns + 81_000),
    )
}

/// `text` as DIR/ktrace.gz, compressed by gzip as bench/ktrace.sh does.
fn write_trace(dir: &Path, text: &str) {
    fs::write(dir.join("ktrace"), text).unwrap();
    let status = Command::new("gzip")
        .arg(dir.join("ktrace"))
        .status()
        .expect("run gzip");
    assert!(status.success());
}

#[test]
fn follows_packets_counts_a_quiet_stretch_and_places_t1_at_the_bridge_port() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("clients"), "h31 ours ours\n").unwrap();
    let mut trace = String::from("# tracer: nop\n#\n");
    trace += &request(100, "00000000aaaa0001", 20, 21); // undisturbed
    trace += &request(108, "00000000aaaa0002", 80, 81); // the CPU went quiet for 67 µs
    trace += &request(116, "00000000aaaa0003", 20, 25); // slow last hop
                                                        // an IPv6 packet as long as an NTP one, which the bridge would flood: not followed
    trace += &line(
        "kworker/0:0",
        1,
        120,
        5,
        "net_dev_start_xmit",
        &xmit("eth0", "00000000bbbb0001", "0x86dd"),
    );
    trace += &line(
        "kworker/0:0",
        1,
        120,
        7,
        "netif_rx",
        &rx("v31", "00000000bbbb0001"),
    );
    write_trace(d, &trace);
    fs::write(
        d.join("ktrace-stats"),
        "cpu0 overrun: 0 dropped events: 0 \n",
    )
    .unwrap();
    fs::create_dir(d.join("h31")).unwrap();
    // T1 half a µs after each bridge transmit, as the kernel's last transmit stamp comes
    let raw =
        rawstats(100, 20_500, 800) + &rawstats(108, 80_500, 600) + &rawstats(116, 20_500, 4_000);
    fs::write(d.join("h31/rawstats"), raw).unwrap();

    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/bench/xleave-trace.py"
        ))
        .arg(d)
        .output()
        .expect("run python3");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("# 3 packets followed"), "{text}");
    let row = text
        .lines()
        .find(|l| l.starts_with("ours") && l.contains(" request "))
        .unwrap_or_else(|| panic!("no request row: {text}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    // server client leg n p50 p90 p99 max >3
    assert_eq!(cols[3..], ["3", "15", "71", "71", "71", "3"], "{row}");
    assert!(text.contains("1 in 0.1 ms of paths"), "{text}");
    assert!(text.contains("leg 4.0 µs"), "{text}");
    assert!(
        !text.contains("leg 0.8") && !text.contains("leg 0.6"),
        "{text}"
    );
    assert!(
        text.contains(
            "a median 10.5 µs after the packet left the client's eth0 and 0.5 µs after the bridge"
        ),
        "{text}"
    );
}

#[test]
fn a_run_without_a_trace_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/bench/xleave-trace.py"
        ))
        .arg(dir.path())
        .output()
        .expect("run python3");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ktrace.gz: no trace") && err.contains("XLEAVE_TRACE=1"),
        "{err}"
    );
}
