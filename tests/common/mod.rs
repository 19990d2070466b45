//! Shared helpers for system tests: the ntpkit binary, loud skips, and a namespace LAN.
#![allow(dead_code)]

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
    eprintln!("SKIPPED {test}: {why}");
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
