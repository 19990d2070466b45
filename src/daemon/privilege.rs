//! What ntpd does as root before it gives root up: raise the scheduling priority (`-N`,
//! `-P`), hand the drift file and the statistics directory to the `-u` user, and chroot
//! (`-i`). The order in [`super::run`] is ntp.org's: pidfile, these, chroot, then setuid.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::log;
use super::process::Ids;
use super::settings::Priority;

/// ntpd's `NTPD_PRIO`: the nice value tried when SCHED_FIFO is refused.
const FALLBACK_NICE: i32 = -12;

/// The SCHED_FIFO priority `-N` / `-P p` asks for, within the policy's range.
pub fn fifo_priority(want: Priority, min: i32, max: i32) -> i32 {
    match want {
        Priority::Highest => max,
        Priority::Fifo(p) => p.clamp(min, max),
    }
}

/// `-N` / `-P`: SCHED_FIFO as ntp.org's `set_process_priority`, else nice −12. Called
/// before any thread is started (threads inherit the policy). Failures are logged; the
/// daemon runs on at its old priority, as ntpd does.
pub fn raise_priority(want: Priority) {
    let fifo_err =
        match crate::sys::process::set_fifo_priority(|min, max| fifo_priority(want, min, max)) {
            Ok(p) => {
                log::info(&format!("running at SCHED_FIFO priority {p}"));
                return;
            }
            Err(e) => e,
        };
    match rustix::process::setpriority_process(None, FALLBACK_NICE) {
        Ok(()) => log::notice(&format!(
            "sched_setscheduler(SCHED_FIFO): {fifo_err}; running at nice {FALLBACK_NICE} instead"
        )),
        Err(e) => log::error(&format!(
            "cannot raise the priority: sched_setscheduler: {fifo_err}; setpriority: {}",
            io::Error::from(e)
        )),
    }
}

/// Why `-i DIR` failed.
#[derive(Debug, thiserror::Error)]
pub enum ChrootError {
    #[error("-i {}: bad directory name", .0.display())]
    BadName(PathBuf),
    #[error("-i {}: {call}: {err}", .dir.display())]
    Os {
        dir: PathBuf,
        call: &'static str,
        err: io::Error,
    },
}

pub fn chroot(dir: &Path) -> Result<(), ChrootError> {
    if dir.as_os_str().as_bytes().contains(&0) {
        return Err(ChrootError::BadName(dir.into()));
    }
    let os = |call: &'static str| {
        move |err: io::Error| ChrootError::Os {
            dir: dir.into(),
            call,
            err,
        }
    };
    nix::unistd::chroot(dir)
        .map_err(io::Error::from)
        .map_err(os("chroot"))?;
    std::env::set_current_dir("/").map_err(os("chdir /"))
}

fn dedicated(dir: &Path) -> bool {
    dir.file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase().contains("ntp"))
        .unwrap_or(false)
}

fn chown(path: &Path, ids: Ids) -> io::Result<()> {
    std::os::unix::fs::chown(path, Some(ids.uid), Some(ids.gid))
}

/// Make `dir` usable by `ids`: create it (owned by them) when missing; take over an
/// existing one only when it is dedicated to NTP; else say what the user cannot write.
fn hand_over_dir(dir: &Path, ids: Ids, what: &str) {
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let made = std::fs::create_dir_all(dir).and_then(|_| chown(dir, ids));
            match made {
                Ok(()) => log::info(&format!("{what} {}: created", dir.display())),
                Err(e) => log::error(&format!("{what} {}: cannot create: {e}", dir.display())),
            }
        }
        Err(e) => log::error(&format!("{what} {}: {e}", dir.display())),
        Ok(m) if m.uid() == ids.uid => {}
        Ok(_) if dedicated(dir) => {
            if let Err(e) = chown(dir, ids) {
                log::error(&format!("{what} {}: cannot chown: {e}", dir.display()));
            }
        }
        Ok(m) => {
            let others_write = m.mode() & 0o002 != 0;
            let group_write = m.mode() & 0o020 != 0 && m.gid() == ids.gid;
            if !others_write && !group_write {
                log::warn(&format!(
                    "{what} {}: not writable by uid {} (left alone: not an NTP directory)",
                    dir.display(),
                    ids.uid
                ));
            }
        }
    }
}

/// Files ntpd keeps writing after it dropped root, handed to `ids` while still root (ntp.org
/// creates them as root and lets the packaging own the directories; we also do that part,
/// so `-u ntp:ntp` works on a host that never had ntpd's packaging).
pub fn hand_over_files(driftfile: Option<&Path>, statsdir: Option<&Path>, ids: Ids) {
    if let Some(drift) = driftfile {
        if let Some(dir) = drift.parent().filter(|d| !d.as_os_str().is_empty()) {
            hand_over_dir(dir, ids, "driftfile directory");
        }
        if drift.exists() {
            if let Err(e) = chown(drift, ids) {
                log::error(&format!("driftfile {}: cannot chown: {e}", drift.display()));
            }
        }
    }
    if let Some(dir) = statsdir {
        hand_over_dir(dir, ids, "statsdir");
        // yesterday's files, written as root by an earlier run, are appended to today
        if dedicated(dir) {
            for f in root_owned_files(dir) {
                let _ = chown(&f, ids);
            }
        }
    }
}

fn root_owned_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.metadata()
                .map(|m| m.is_file() && m.uid() == 0)
                .unwrap_or(false)
        })
        .map(|e| e.path())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n_is_the_highest_fifo_priority_and_p_is_clamped() {
        assert_eq!(fifo_priority(Priority::Highest, 1, 99), 99);
        assert_eq!(fifo_priority(Priority::Fifo(40), 1, 99), 40);
        assert_eq!(fifo_priority(Priority::Fifo(500), 1, 99), 99);
        assert_eq!(fifo_priority(Priority::Fifo(-3), 1, 99), 1);
    }

    #[test]
    fn only_ntp_directories_are_taken_over() {
        for d in [
            "/var/lib/ntp",
            "/var/log/ntpstats",
            "/var/lib/ntpsec",
            "/x/NTP",
        ] {
            assert!(dedicated(Path::new(d)), "{d}");
        }
        for d in ["/var/log", "/tmp", "/", "/etc"] {
            assert!(!dedicated(Path::new(d)), "{d}");
        }
    }

    #[test]
    fn missing_directories_are_created_for_the_user() {
        let dir = tempfile::tempdir().unwrap();
        let me = Ids {
            uid: rustix::process::getuid().as_raw(),
            gid: rustix::process::getgid().as_raw(),
        };
        let stats = dir.path().join("a/ntpstats");
        let drift = dir.path().join("lib/ntp/drift");
        hand_over_files(Some(&drift), Some(&stats), me);
        assert!(stats.is_dir());
        assert!(drift.parent().unwrap().is_dir());
        assert!(!drift.exists(), "the drift file itself is written later");
    }
}
