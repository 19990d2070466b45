//! Issue 15's "the kernel's view kept true", inside a qemu guest (its own clock; the host's
//! is never involved): our ntpd synchronised to its LOCAL clock (127.127.1.0) tells the
//! kernel — `maxerror` (root delay/2 + root dispersion), `esterror` (jitter), `STA_UNSYNC`
//! cleared, the kernel PLL off so `offset` stays 0 — and in observe-only mode it tells it
//! nothing. busybox's `adjtimex` reads what node_exporter's timex collector reads; the test
//! prints the `node_timex_*` values node_exporter would export.
//!
//! tests/qemu/kernel_view_init.sh runs the steps. Skips loudly when qemu, a kernel image or
//! busybox is missing.

mod common;
#[path = "qemu/guest.rs"]
mod guest;

use guest::Step;
use std::collections::BTreeMap;

const TEST: &str = "root_qemu_kernel_view_ntpd_keeps_adjtimex_true_and_observe_only_writes_nothing";
const STA_PLL: i64 = 0x0001;
const STA_UNSYNC: i64 = 0x0040;

/// busybox adjtimex's fields (`-o  offset:       0 us`, `    status:       64 (UNSYNC)`):
/// name → number.
fn timex(s: &Step) -> BTreeMap<String, i64> {
    s.out
        .iter()
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            // the settable ones carry their option letter first
            let name = name.trim();
            let name = match name.strip_prefix('-') {
                Some(opt) => opt.split_once(char::is_whitespace)?.1.trim(),
                None => name,
            };
            let v = rest.split_whitespace().next()?.parse().ok()?;
            Some((name.to_string(), v))
        })
        .collect()
}

/// What node_exporter's timex collector would export from these fields.
fn node_timex(t: &BTreeMap<String, i64>) -> String {
    let status = t["status"];
    format!(
        "node_timex_sync_status {} node_timex_maxerror_seconds {} \
         node_timex_estimated_error_seconds {} node_timex_offset_seconds {} node_timex_status {}",
        i64::from(status & STA_UNSYNC == 0),
        t["maxerror"] as f64 / 1e6,
        t["esterror"] as f64 / 1e6,
        t["offset"] as f64 / 1e6,
        status
    )
}

#[test]
fn root_qemu_kernel_view_ntpd_keeps_adjtimex_true_and_observe_only_writes_nothing() {
    let Some(host) = guest::Host::find_or_skip(TEST) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cpio = host.initramfs(dir.path());
    cpio.libraries_of(&[common::ntpkit_bin()]);
    let console = host.boot(cpio, include_str!("qemu/kernel_view_init.sh"), dir.path());
    let (steps, _) = guest::parse_console(&console);
    assert!(
        console.contains("@@DONE"),
        "the guest did not finish its checks; console:\n{console}"
    );
    let get = |name: &str| -> &Step { guest::step(&steps, name, &console) };
    let logs = get("logs").out.join("\n");

    let fresh = timex(get("fresh"));
    eprintln!("fresh guest:        {}", node_timex(&fresh));
    assert_ne!(fresh["status"] & STA_UNSYNC, 0, "{fresh:?}");

    // observe-only: synchronised, and the kernel is left exactly as it was
    assert_eq!(
        get("observe_sync").rc,
        0,
        "observe-only ntpd never synchronised:\n{logs}"
    );
    let observed = timex(get("observe_adjtimex"));
    eprintln!("observe-only ntpd:  {}", node_timex(&observed));
    for f in [
        "status",
        "maxerror",
        "esterror",
        "offset",
        "freq.adjust",
        "tick",
    ] {
        assert_eq!(
            observed[f], fresh[f],
            "observe-only changed {f}: {observed:?}\n{logs}"
        );
    }

    // disciplining: STA_UNSYNC clear, true error bounds, no kernel PLL
    assert_eq!(
        get("discipline_sync").rc,
        0,
        "ntpd never synchronised:\n{logs}"
    );
    let synced = timex(get("discipline_adjtimex"));
    let line = node_timex(&synced);
    eprintln!("disciplining ntpd:  {line}");
    eprintln!("its mode 6 view:    {}", get("discipline_rv").out.join(" "));
    assert_eq!(synced["status"] & STA_UNSYNC, 0, "{synced:?}\n{logs}");
    assert_eq!(synced["status"] & STA_PLL, 0, "{synced:?}");
    assert!(line.contains("node_timex_sync_status 1"), "{line}");
    // LOCAL clock: root delay 0, root dispersion of a few ms growing at 15 µs/s; the kernel
    // adds its own 500 µs/s between our updates
    assert!(
        (0..1_000_000).contains(&synced["maxerror"]),
        "maxerror {} µs: {synced:?}",
        synced["maxerror"]
    );
    assert!(
        (0..100_000).contains(&synced["esterror"]),
        "esterror {} µs",
        synced["esterror"]
    );
    assert_eq!(
        synced["offset"], 0,
        "the kernel PLL holds no offset: {synced:?}"
    );
}
