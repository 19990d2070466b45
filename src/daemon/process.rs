//! Process lifecycle: daemonising (with a pipe so the parent exits with the child's start-up
//! verdict), the pidfile, and dropping root while keeping CAP_SYS_TIME.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::unistd::{Gid, Group, Uid, User};
use rustix::thread::{CapabilitySet, CapabilitySets};

use crate::sys::process::{fork_single_threaded, ForkResult};

/// The child's end of the start-up pipe: report "ready" or an error to the waiting parent,
/// and with `-w` later "synchronised".
pub struct StartupPipe {
    file: Option<File>,
    /// `-w`: the parent also waits for the first synchronisation.
    await_sync: bool,
}

/// The byte that says "started"; with `-w`, [`SYNCED`] follows when synchronised.
const READY: u8 = 0;
const SYNCED: u8 = b'S';

/// `-w`'s exit code when the clock was not synchronised in time (ntpd: ETIMEDOUT).
pub const EXIT_WAIT_SYNC_TIMEOUT: i32 = libc::ETIMEDOUT;

impl StartupPipe {
    /// For a foreground daemon: nothing to report to.
    pub fn none() -> Self {
        StartupPipe {
            file: None,
            await_sync: false,
        }
    }

    pub fn ready(&mut self) {
        if let Some(f) = self.file.as_mut() {
            let _ = f.write_all(&[READY]);
        }
        if !self.await_sync {
            self.file = None;
        }
    }

    /// Whether the parent still waits for the first synchronisation (`-w`).
    pub fn awaiting_sync(&self) -> bool {
        self.await_sync && self.file.is_some()
    }

    pub fn synced(&mut self) {
        if let Some(mut f) = self.file.take() {
            let _ = f.write_all(&[SYNCED]);
        }
    }

    pub fn failed(&mut self, msg: &str) {
        if let Some(mut f) = self.file.take() {
            let _ = f.write_all(msg.as_bytes());
        }
    }
}

/// Wait up to `secs` for one byte on `fd`: Some(byte), or None on timeout or end of file.
fn read_byte_within(f: &mut File, secs: u32) -> Option<u8> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs.into());
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return None;
        }
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        let mut pfd = [PollFd::new(f.as_fd(), PollFlags::POLLIN)];
        match poll(
            &mut pfd,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(0) => return None,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return None,
            Ok(_) => {
                let mut b = [0u8; 1];
                return match f.read(&mut b) {
                    Ok(1) => Some(b[0]),
                    _ => None,
                };
            }
        }
    }
}

/// Fork into the background. Returns in the child only; the parent waits for the child to
/// report start-up and exits 0, or prints the child's error and exits 1. With `wait_sync`
/// (`-w SECS`) the parent then waits up to SECS for the first synchronisation and exits 0,
/// or ETIMEDOUT when it did not come. Must run before any thread is started.
pub fn daemonize(wait_sync: Option<u32>) -> io::Result<StartupPipe> {
    let (read_end, write_end) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    match fork_single_threaded()? {
        ForkResult::Child => {
            drop(read_end);
            let _ = nix::unistd::setsid();
            let _ = std::env::set_current_dir("/");
            if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
                let _ = nix::unistd::dup2_stdin(&null);
                let _ = nix::unistd::dup2_stdout(&null);
                let _ = nix::unistd::dup2_stderr(&null);
                // with stdin closed, /dev/null itself became 0-2: keep it open
                if std::os::fd::AsRawFd::as_raw_fd(&null) <= 2 {
                    let _ = std::os::fd::IntoRawFd::into_raw_fd(null);
                }
            }
            Ok(StartupPipe {
                file: Some(File::from(write_end)),
                await_sync: wait_sync.is_some(),
            })
        }
        ForkResult::Parent { .. } => {
            drop(write_end);
            let mut f = File::from(read_end);
            let mut first = [0u8; 1];
            if matches!(f.read(&mut first), Ok(1)) && first[0] == READY {
                let Some(secs) = wait_sync else {
                    std::process::exit(0);
                };
                if read_byte_within(&mut f, secs) == Some(SYNCED) {
                    std::process::exit(0);
                }
                eprintln!("ntpd: not synchronised within {secs} s (-w)");
                std::process::exit(EXIT_WAIT_SYNC_TIMEOUT);
            }
            let mut msg = first.to_vec();
            if first[0] == READY {
                msg.clear();
            }
            let _ = f.read_to_end(&mut msg);
            let text = String::from_utf8_lossy(&msg);
            if text.is_empty() {
                eprintln!("ntpd: the daemon exited during start-up (see the log)");
            } else {
                eprintln!("{}", text.trim_end());
            }
            std::process::exit(1);
        }
    }
}

/// A pidfile that is removed when dropped.
pub struct PidFile(PathBuf);

impl PidFile {
    /// Write our PID atomically (temp file + rename).
    pub fn create(path: &Path) -> io::Result<PidFile> {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, format!("{}\n", std::process::id()))?;
        std::fs::rename(&tmp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })?;
        Ok(PidFile(path.to_path_buf()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `-u user[:group]`: the ids to switch to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
}

/// Why `-u user[:group]` does not resolve.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("bad user name {0:?}")]
    BadUserName(String),
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    #[error("bad group name {0:?}")]
    BadGroupName(String),
    #[error("unknown group {0:?}")]
    UnknownGroup(String),
    #[error("user {0} has no group; give one as {0}:GROUP")]
    NoGroup(String),
}

/// Resolve `user[:group]` (names or numbers).
pub fn lookup_ids(spec: &str) -> Result<Ids, LookupError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let (uid, user_gid) = if let Ok(n) = user.parse::<u32>() {
        let pw = User::from_uid(Uid::from_raw(n)).ok().flatten();
        (n, pw.map(|pw| pw.gid.as_raw()))
    } else {
        if user.contains('\0') {
            return Err(LookupError::BadUserName(user.into()));
        }
        match User::from_name(user).ok().flatten() {
            Some(pw) => (pw.uid.as_raw(), Some(pw.gid.as_raw())),
            None => return Err(LookupError::UnknownUser(user.into())),
        }
    };
    let gid = match group {
        Some(g) if !g.is_empty() => {
            if let Ok(n) = g.parse::<u32>() {
                n
            } else if g.contains('\0') {
                return Err(LookupError::BadGroupName(g.into()));
            } else {
                match Group::from_name(g).ok().flatten() {
                    Some(gr) => gr.gid.as_raw(),
                    None => return Err(LookupError::UnknownGroup(g.into())),
                }
            }
        }
        _ => user_gid.ok_or_else(|| LookupError::NoGroup(user.into()))?,
    };
    Ok(Ids { uid, gid })
}

const CAP_NET_BIND_SERVICE: u32 = 10;
const CAP_SYS_TIME: u32 = 25;

/// The capabilities kept across `-u`: CAP_SYS_TIME (when the clock is ours to adjust) and
/// CAP_NET_BIND_SERVICE, as NTPsec keeps them; only those the process has.
pub fn kept_capabilities(keep_time: bool, permitted: u32) -> u32 {
    let mut want = 1u32 << CAP_NET_BIND_SERVICE;
    if keep_time {
        want |= 1 << CAP_SYS_TIME;
    }
    want & permitted
}

/// A system call of [`drop_privileges`] that failed.
#[derive(Debug, thiserror::Error)]
#[error("{call}: {err}")]
pub struct PrivilegeError {
    pub call: &'static str,
    pub err: io::Error,
}

fn failed<E: Into<io::Error>>(call: &'static str) -> impl FnOnce(E) -> PrivilegeError {
    move |e| PrivilegeError {
        call,
        err: e.into(),
    }
}

/// Switch to `ids`, keeping only CAP_SYS_TIME (when `keep_time`) and CAP_NET_BIND_SERVICE so
/// the clock can still be disciplined. Sockets are bound before this.
pub fn drop_privileges(ids: Ids, keep_time: bool) -> Result<(), PrivilegeError> {
    // capabilities 0–31 are all that matter here (both kept ones are below 32)
    let permitted = rustix::thread::capabilities(None)
        .map_err(failed("capget"))?
        .permitted
        .bits() as u32;
    let keep = kept_capabilities(keep_time, permitted);
    if keep != 0 {
        rustix::thread::set_keep_capabilities(true).map_err(failed("prctl(PR_SET_KEEPCAPS)"))?;
    }
    let gid = Gid::from_raw(ids.gid);
    nix::unistd::setgroups(&[gid]).map_err(failed("setgroups"))?;
    nix::unistd::setgid(gid).map_err(failed("setgid"))?;
    nix::unistd::setuid(Uid::from_raw(ids.uid)).map_err(failed("setuid"))?;
    if keep != 0 {
        let keep = CapabilitySet::from_bits_retain(keep.into());
        let sets = CapabilitySets {
            effective: keep,
            permitted: keep,
            inheritable: CapabilitySet::empty(),
        };
        rustix::thread::set_capabilities(None, sets).map_err(failed("capset"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_group_specs_resolve() {
        assert_eq!(lookup_ids("root").unwrap(), Ids { uid: 0, gid: 0 });
        assert_eq!(lookup_ids("0:0").unwrap(), Ids { uid: 0, gid: 0 });
        assert!(lookup_ids("no-such-user-ntpkit")
            .unwrap_err()
            .to_string()
            .contains("unknown user"));
        assert!(lookup_ids("root:no-such-group-ntpkit")
            .unwrap_err()
            .to_string()
            .contains("unknown group"));
    }

    #[test]
    fn u_keeps_sys_time_and_net_bind_service_when_held() {
        let all = u32::MAX;
        let time = 1 << CAP_SYS_TIME;
        let bind = 1 << CAP_NET_BIND_SERVICE;
        assert_eq!(kept_capabilities(true, all), time | bind);
        assert_eq!(kept_capabilities(false, all), bind);
        // under setpriv --bounding-set=-sys_time: not asked for, so capset cannot fail
        assert_eq!(kept_capabilities(true, all & !time), bind);
        assert_eq!(kept_capabilities(true, 0), 0);
    }

    #[test]
    fn the_pidfile_holds_our_pid_and_goes_away() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ntpd.pid");
        let f = PidFile::create(&p).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            format!("{}\n", std::process::id())
        );
        drop(f);
        assert!(!p.exists());
    }
}
