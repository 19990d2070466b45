//! Process lifecycle: daemonising (with a pipe so the parent exits with the child's start-up
//! verdict), the pidfile, and dropping root while keeping CAP_SYS_TIME.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::path::{Path, PathBuf};

/// The child's end of the start-up pipe: report "ready" or an error to the waiting parent.
pub struct StartupPipe(Option<File>);

impl StartupPipe {
    /// For a foreground daemon: nothing to report to.
    pub fn none() -> Self {
        StartupPipe(None)
    }

    pub fn ready(&mut self) {
        if let Some(mut f) = self.0.take() {
            let _ = f.write_all(b"\0");
        }
    }

    pub fn failed(&mut self, msg: &str) {
        if let Some(mut f) = self.0.take() {
            let _ = f.write_all(msg.as_bytes());
        }
    }
}

/// Fork into the background. Returns in the child only; the parent waits for the child to
/// report start-up and exits 0, or prints the child's error and exits 1. Must run before
/// any thread is started.
pub fn daemonize() -> io::Result<StartupPipe> {
    let mut fds = [0 as RawFd; 2];
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            unsafe { libc::close(fds[0]) };
            unsafe { libc::setsid() };
            let _ = std::env::set_current_dir("/");
            let devnull = CString::new("/dev/null").expect("no NUL");
            let fd = unsafe { libc::open(devnull.as_ptr(), libc::O_RDWR) };
            if fd >= 0 {
                for target in 0..3 {
                    unsafe { libc::dup2(fd, target) };
                }
                if fd > 2 {
                    unsafe { libc::close(fd) };
                }
            }
            Ok(StartupPipe(Some(unsafe { File::from_raw_fd(fds[1]) })))
        }
        _ => {
            unsafe { libc::close(fds[1]) };
            let mut f = unsafe { File::from_raw_fd(fds[0]) };
            let mut msg = Vec::new();
            let _ = f.read_to_end(&mut msg);
            if msg.first() == Some(&0) {
                std::process::exit(0);
            }
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

const CAP_SYS_TIME: u32 = 25;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}
#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Switch to `ids`, keeping only CAP_SYS_TIME (when `keep_time`) so the clock can still be
/// disciplined. Sockets are bound before this, so port 123 needs no capability afterwards.
pub fn drop_privileges(ids: Ids, keep_time: bool) -> Result<(), String> {
    let os = |what: &str| format!("{what}: {}", io::Error::last_os_error());
    unsafe {
        if keep_time && libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0 {
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
    if keep_time {
        let mut header = CapHeader {
            version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
            pid: 0,
        };
        let bit = 1u32 << CAP_SYS_TIME;
        let data = [
            CapData {
                effective: bit,
                permitted: bit,
                inheritable: 0,
            },
            CapData {
                effective: 0,
                permitted: 0,
                inheritable: 0,
            },
        ];
        let r = unsafe {
            libc::syscall(
                libc::SYS_capset,
                &mut header as *mut CapHeader,
                data.as_ptr(),
            )
        };
        if r != 0 {
            return Err(os("capset(CAP_SYS_TIME)"));
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
