//! Shared helpers for system tests: the ntpkit binary, loud skips, and a namespace LAN.
#![allow(dead_code)]

pub mod certs;
pub mod lan;
pub mod peers;

use std::path::PathBuf;

/// The ntpkit binary cargo built for this test run.
pub fn ntpkit_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ntpkit"))
}

/// Set by `.ci/run`: every skip becomes a failure, so a green CI cannot hide one.
pub const REQUIRE_ENV: &str = "NTPKIT_REQUIRE_SYSTEM_TESTS";

/// Skip a test loudly, or fail it when CI requires system tests to run.
/// Returns normally only when skipping is allowed; the caller then returns.
pub fn skip(test: &str, why: &str) {
    if std::env::var_os(REQUIRE_ENV).is_some_and(|v| v != "0") {
        panic!("{test}: cannot run: {why} ({REQUIRE_ENV} is set, so this is a failure)");
    }
    // Straight to stderr, not eprintln!: the test harness captures the macros' output of a
    // passing test, and a skip must be seen.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// What of the host clock's adjtimex state a test must leave as it found it: the status word,
/// frequency, pending offset and tick. (maxerror grows on its own and is left out.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostClock {
    pub status: i64,
    pub freq: i64,
    pub offset: i64,
    pub tick: i64,
}

impl HostClock {
    /// A read (modes 0), which needs no privilege and changes nothing.
    pub fn now() -> HostClock {
        let mut tx = ntpkit::sys::clock::empty_timex();
        ntpkit::sys::clock::adjtime_realtime(&mut tx).expect("clock_adjtime read");
        HostClock {
            status: tx.status as i64,
            freq: tx.freq as i64,
            offset: tx.offset as i64,
            tick: tx.tick as i64,
        }
    }

    /// Nothing disciplines this clock (kernel unsynchronised, frequency 0), so any change
    /// while a test runs is the test's. On a host that chronyd or timesyncd disciplines the
    /// frequency and offset move by themselves, and a comparison would prove nothing.
    pub fn undisciplined(&self) -> bool {
        self.status & libc::STA_UNSYNC as i64 != 0 && self.freq == 0
    }
}

/// Whether we are root (namespaces, port 123, setpriv need it).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Find a program on PATH or in the given extra places (chrony is unpacked, not installed).
pub fn find_program(name: &str, extra: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .chain(extra.iter().map(|d| PathBuf::from(d).join(name)))
        .find(|p| p.is_file())
}

/// chronyd/chronyc: installed, or unpacked by `.ci/run` under /opt/chrony.
pub fn chrony_program(name: &str) -> Option<PathBuf> {
    find_program(name, &["/opt/chrony/usr/sbin", "/opt/chrony/usr/bin"])
}
pub mod netns_udp;

/// Check that each `(program, Debian package)` is installed; otherwise skip loudly (a
/// failure in CI) and return false.
pub fn needs(test: &str, programs: &[(&str, &str)]) -> bool {
    for (p, pkg) in programs {
        if find_program(p, &["/usr/sbin"]).is_none() {
            skip(test, &format!("needs {p} (apt: {pkg})"));
            return false;
        }
    }
    true
}

/// A namespace LAN of `n` hosts, or a loud skip (a failure in CI) and None.
pub fn lan_or_skip(test: &str, n: usize) -> Option<lan::Lan> {
    match lan::Lan::new(n) {
        Ok(l) => Some(l),
        Err(why) => {
            skip(test, &why);
            None
        }
    }
}
pub mod ntpd;

/// chronyd, or a loud skip (a failure in CI) and false.
pub fn needs_chronyd(test: &str) -> bool {
    if chrony_program("chronyd").is_none() {
        skip(
            test,
            "needs chronyd (unpacked under /opt/chrony by .ci/run)",
        );
        return false;
    }
    true
}

/// chronyd and chronyc, or a loud skip (a failure in CI) and None.
pub fn chronyd_and_chronyc_or_skip(test: &str) -> Option<(PathBuf, PathBuf)> {
    match (chrony_program("chronyd"), chrony_program("chronyc")) {
        (Some(chronyd), Some(chronyc)) => Some((chronyd, chronyc)),
        _ => {
            skip(
                test,
                "needs chronyd and chronyc (unpacked under /opt/chrony by .ci/run)",
            );
            None
        }
    }
}

/// Start `chronyd -x -d` (it never sets the clock) on host `i` with `directives` followed
/// by its drift, pid and command-socket files in the host's directory; the config goes to
/// `conf_name` there, the log to chronyd.log. Returns the command socket, for chronyc.
pub fn spawn_chronyd(
    lan: &lan::Lan,
    i: usize,
    chronyd: &std::path::Path,
    conf_name: &str,
    directives: &str,
) -> PathBuf {
    let dir = lan.host(i).dir.clone();
    // chronyd refuses a socket directory others can write to
    let sockdir = dir.join("chronyd-run");
    std::fs::create_dir_all(&sockdir).unwrap();
    std::fs::set_permissions(
        &sockdir,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let conf = dir.join(conf_name);
    std::fs::write(
        &conf,
        format!(
            "{directives}driftfile {d}/c.drift\npidfile {s}/c.pid\nbindcmdaddress {s}/c.sock\n",
            d = dir.display(),
            s = sockdir.display()
        ),
    )
    .unwrap();
    lan.spawn(
        i,
        "chronyd.log",
        &[
            chronyd.to_str().unwrap(),
            "-x",
            "-d",
            "-u",
            "root",
            "-f",
            conf.to_str().unwrap(),
        ],
    );
    sockdir.join("c.sock")
}

/// `chronyc -n sources` on host `i` against the chronyd listening on `sock`: its output.
pub fn chronyc_sources(
    lan: &lan::Lan,
    i: usize,
    chronyc: &std::path::Path,
    sock: &std::path::Path,
) -> String {
    let out = lan.run(
        i,
        &[
            chronyc.to_str().unwrap(),
            "-h",
            sock.to_str().unwrap(),
            "-n",
            "sources",
        ],
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A process's resident set (VmRSS), KiB; panics if it is gone.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process alive");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}
