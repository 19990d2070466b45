//! Issue 4's "observe-only is also chosen automatically, with a clear warning, when a clock
//! adjustment fails with EPERM", and the other side of it: with the capability, ntpd -q -g
//! really sets the clock, and ntpd -q -G steps even a correction below the step threshold.
//! All only inside a qemu guest, which has its own clock: the host's clock is never
//! involved.
//!
//! The initramfs (tests/qemu/guest.rs builds it) holds busybox, our ntpkit, util-linux's
//! setpriv (to start ntpd without CAP_SYS_TIME) and libfaketime (a server whose clock runs
//! ahead, so that setting the clock is visible), each with the libraries `ldd` lists.
//! tests/qemu/ntpd_eperm_init.sh runs the steps; this file checks what they printed.
//!
//! Skips loudly when qemu, a kernel image, busybox, setpriv or libfaketime is missing.

mod common;
#[path = "qemu/guest.rs"]
mod guest;

use guest::Step;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const TEST: &str = "root_qemu_ntpd_eperm_falls_back_to_observe_only_and_root_sets_the_clock";
const FAKETIME_LIB: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
/// The warning run.rs prints when its trial adjustment is refused.
const WARNING: &str = "not permitted to adjust the system clock (no CAP_SYS_TIME): \
                       continuing in observe-only mode, as with --observe-only";

#[test]
fn root_qemu_ntpd_eperm_falls_back_to_observe_only_and_root_sets_the_clock() {
    let Some(host) = guest::Host::find_or_skip(TEST) else {
        return;
    };
    let Some(setpriv) = common::find_program("setpriv", &["/usr/bin"]) else {
        return common::skip(TEST, "needs util-linux's setpriv (apt: util-linux)");
    };
    if !Path::new(FAKETIME_LIB).exists() {
        return common::skip(TEST, "needs libfaketime (apt: faketime)");
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let mut cpio = host.initramfs(dir.path());
    cpio.dir("usr/lib");
    cpio.dir("usr/lib/faketime");
    cpio.file("usr/bin/setpriv", &std::fs::read(&setpriv).unwrap(), 0o755);
    cpio.file(
        "usr/lib/faketime/libfaketime.so.1",
        &std::fs::read(FAKETIME_LIB).unwrap(),
        0o755,
    );
    cpio.libraries_of(&[
        common::ntpkit_bin(),
        setpriv.clone(),
        PathBuf::from(FAKETIME_LIB),
    ]);

    let console = host.boot(cpio, include_str!("qemu/ntpd_eperm_init.sh"), dir.path());
    let (steps, _) = guest::parse_console(&console);
    assert!(
        console.contains("@@DONE"),
        "the guest did not finish its checks; console:\n{console}"
    );
    check(&steps, &console);
}

fn check(steps: &BTreeMap<String, Step>, console: &str) {
    let get = |name: &str| -> &Step { guest::step(steps, name, console) };
    let text = |s: &Step| format!("{}\n{}", s.out.join("\n"), s.err.join("\n"));

    // 1. Without CAP_SYS_TIME and without --observe-only: the warning, once, then serving as usual.
    let log = text(get("nocap_log"));
    eprintln!("ntpd without CAP_SYS_TIME, log:\n{log}");
    assert_eq!(log.matches(WARNING).count(), 1, "{log}");
    assert!(!log.contains("panicked"), "{log}");
    assert_eq!(get("nocap_alive").rc, 0, "ntpd died:\n{log}");
    assert_eq!(get("nocap_still_alive").rc, 0, "ntpd died:\n{log}");
    let serves = get("nocap_serves");
    assert_eq!(serves.rc, 0, "{serves:?}");
    assert!(
        text(serves).contains("stratum 11"),
        "not serving the local clock at stratum 11: {serves:?}"
    );
    let rv = text(get("nocap_rv"));
    assert!(rv.contains("stratum=11"), "{rv}");
    assert!(rv.contains("leap=00"), "{rv}");
    // ntpd -q without the capability: the same warning, says it did not set, exits 1,
    // and indeed the guest's clock did not jump (the server serves the guest's own time)
    let q = get("nocap_q");
    let q_text = text(q);
    eprintln!("ntpd -q -g without CAP_SYS_TIME:\n{q_text}");
    assert_eq!(q.rc, 1, "{q_text}");
    assert!(q_text.contains(WARNING), "{q_text}");
    assert!(
        q_text.contains("ntpd: time not set (not permitted"),
        "{q_text}"
    );
    assert!(!q_text.contains("ntpd: time set"), "{q_text}");
    let moved = q.now - get("nocap_q_before").now;
    assert!((0..=70).contains(&moved), "clock moved {moved} s");

    // 2. As root against a server 1 h ahead (as measured): without -g, refused and unset;
    let fake = text(get("fake_serves"));
    eprintln!("the server ahead, by ntpdate -q: {fake}");
    assert!(fake.contains("offset 3"), "{fake}");
    let nog = get("root_q_nog");
    let nog_moved = nog.now - get("root_q_nog_before").now;
    eprintln!("ntpd -q (no -g) as root: rc {} {}", nog.rc, text(nog));
    assert_ne!(nog.rc, 0, "{nog:?}");
    assert!(text(nog).contains("exceeds the sanity limit"), "{nog:?}");
    assert!(
        (0..=70).contains(&nog_moved),
        "clock moved {nog_moved} s without -g"
    );
    // with -g the guest's clock is stepped by the measured offset (±70 s for the run)
    let set = get("root_q");
    let set_text = text(set);
    let jumped = get("root_q_after").now - get("root_q_before").now;
    eprintln!(
        "ntpd -q -g as root: rc {} {set_text}; the guest's date moved {jumped} s",
        set.rc
    );
    assert_eq!(set.rc, 0, "{set_text}");
    assert!(set_text.contains("ntpd: time set +3"), "{set_text}");
    assert!(!set_text.contains(WARNING), "{set_text}");
    assert!(
        (3590..=3670).contains(&jumped),
        "the guest's clock moved {jumped} s"
    );
    // -G (step run in part 1, against the server of the guest's own clock): a correction
    // far below the 128 ms step threshold, stepped all the same
    let forced = get("root_q_forced");
    let forced_text = text(forced);
    eprintln!("ntpd -q -G as root: rc {} {forced_text}", forced.rc);
    assert_eq!(forced.rc, 0, "{forced_text}");
    let offset: f64 = forced_text
        .split("ntpd: time set ")
        .nth(1)
        .and_then(|t| t.split('s').next())
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or_else(|| panic!("no 'ntpd: time set ±S.SSSSSSs': {forced_text}"));
    assert!(offset.abs() < 0.1, "{forced_text}");
}
