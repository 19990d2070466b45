//! Process lifecycle: daemonising (with a pipe so the parent exits with the child's start-up
//! verdict), the pidfile, and dropping root while keeping CAP_SYS_TIME.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::path::{Path, PathBuf};

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
    use std::os::fd::AsRawFd;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs.into());
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return None;
        }
        let mut pfd = libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd for the duration of the call.
        match unsafe { libc::poll(&mut pfd, 1, ms) } {
            0 => return None,
            n if n < 0 => {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return None;
            }
            _ => {
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
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 fills the two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: no other thread runs yet (the caller's contract), so the child may go on.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            // SAFETY: closing our copy of the read end; setsid has no arguments.
            unsafe { libc::close(fds[0]) };
            unsafe { libc::setsid() };
            let _ = std::env::set_current_dir("/");
            let devnull = CString::new("/dev/null").expect("no NUL");
            // SAFETY: a valid path; the descriptors are ours to redirect.
            let fd = unsafe { libc::open(devnull.as_ptr(), libc::O_RDWR) };
            if fd >= 0 {
                for target in 0..3 {
                    unsafe { libc::dup2(fd, target) };
                }
                if fd > 2 {
                    unsafe { libc::close(fd) };
                }
            }
            Ok(StartupPipe {
                // SAFETY: fds[1] is the write end, owned from here on by this File.
                file: Some(unsafe { File::from_raw_fd(fds[1]) }),
                await_sync: wait_sync.is_some(),
            })
        }
        _ => {
            // SAFETY: closing the write end; fds[0] is then owned by the File.
            unsafe { libc::close(fds[1]) };
            let mut f = unsafe { File::from_raw_fd(fds[0]) };
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

/// Resolve `user[:group]` (names or numbers).
pub fn lookup_ids(spec: &str) -> Result<Ids, String> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let (uid, user_gid) = if let Ok(n) = user.parse::<u32>() {
        let pw = unsafe { libc::getpwuid(n) };
        (
            n,
            if pw.is_null() {
                None
            } else {
                Some(unsafe { (*pw).pw_gid })
            },
        )
    } else {
        let name = CString::new(user).map_err(|_| format!("bad user name {user:?}"))?;
        let pw = unsafe { libc::getpwnam(name.as_ptr()) };
        if pw.is_null() {
            return Err(format!("unknown user {user:?}"));
        }
        unsafe { ((*pw).pw_uid, Some((*pw).pw_gid)) }
    };
    let gid = match group {
        Some(g) if !g.is_empty() => {
            if let Ok(n) = g.parse::<u32>() {
                n
            } else {
                let name = CString::new(g).map_err(|_| format!("bad group name {g:?}"))?;
                let gr = unsafe { libc::getgrnam(name.as_ptr()) };
                if gr.is_null() {
                    return Err(format!("unknown group {g:?}"));
                }
                unsafe { (*gr).gr_gid }
            }
        }
        _ => {
            user_gid.ok_or_else(|| format!("user {user} has no group; give one as {user}:GROUP"))?
        }
    };
    Ok(Ids { uid, gid })
}

const CAP_NET_BIND_SERVICE: u32 = 10;
const CAP_SYS_TIME: u32 = 25;
/// `_LINUX_CAPABILITY_VERSION_3`.
const CAP_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The capabilities kept across `-u`: CAP_SYS_TIME (when the clock is ours to adjust) and
/// CAP_NET_BIND_SERVICE, as NTPsec keeps them; only those the process has.
pub fn kept_capabilities(keep_time: bool, permitted: u32) -> u32 {
    let mut want = 1u32 << CAP_NET_BIND_SERVICE;
    if keep_time {
        want |= 1 << CAP_SYS_TIME;
    }
    want & permitted
}

/// The permitted set (capabilities 0–31) of this process.
fn permitted_capabilities() -> io::Result<u32> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget writes two CapData (version 3) into `data`, which has room for them.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(data[0].permitted)
}

/// Switch to `ids`, keeping only CAP_SYS_TIME (when `keep_time`) and CAP_NET_BIND_SERVICE so
/// the clock can still be disciplined. Sockets are bound before this.
pub fn drop_privileges(ids: Ids, keep_time: bool) -> Result<(), String> {
    let os = |what: &str| format!("{what}: {}", io::Error::last_os_error());
    let keep = kept_capabilities(
        keep_time,
        permitted_capabilities().map_err(|e| format!("capget: {e}"))?,
    );
    // SAFETY: plain system calls with valid arguments; `groups` outlives setgroups.
    unsafe {
        if keep != 0 && libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0 {
            return Err(os("prctl(PR_SET_KEEPCAPS)"));
        }
        let groups = [ids.gid];
        if libc::setgroups(1, groups.as_ptr()) != 0 {
            return Err(os("setgroups"));
        }
        if libc::setgid(ids.gid) != 0 {
            return Err(os("setgid"));
        }
        if libc::setuid(ids.uid) != 0 {
            return Err(os("setuid"));
        }
    }
    if keep != 0 {
        let mut header = CapHeader {
            version: CAP_VERSION_3,
            pid: 0,
        };
        let data = [
            CapData {
                effective: keep,
                permitted: keep,
                inheritable: 0,
            },
            CapData::default(),
        ];
        // SAFETY: capset reads two CapData (version 3) from `data`.
        let r = unsafe {
            libc::syscall(
                libc::SYS_capset,
                &mut header as *mut CapHeader,
                data.as_ptr(),
            )
        };
        if r != 0 {
            return Err(os("capset"));
        }
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
            .contains("unknown user"));
        assert!(lookup_ids("root:no-such-group-ntpkit")
            .unwrap_err()
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
