//! ntpd's log: a file (`-l`, `logfile`), stderr (`-n` without a file) or syslog (daemon
//! facility). Synchronous and thread-free, so `--single-thread` stays single-threaded.
//! SIGHUP reopens the file (log rotation).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;

#[derive(Clone, Debug)]
pub enum Target {
    Stderr,
    File(PathBuf),
    Syslog,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 3,
    Warning = 4,
    Notice = 5,
    Info = 6,
    Debug = 7,
}

struct Logger {
    target: Target,
    file: Option<File>,
}

static LOGGER: Mutex<Option<Logger>> = Mutex::new(None);
/// Extra verbosity from `-d` (each one more).
static DEBUG: AtomicU8 = AtomicU8::new(0);

fn open(path: &PathBuf) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Start logging to `target`. A log file that cannot be opened is an error for the caller.
pub fn init(target: Target, debug: u8) -> std::io::Result<()> {
    DEBUG.store(debug, Ordering::Relaxed);
    let file = match &target {
        Target::File(p) => Some(open(p)?),
        _ => None,
    };
    if let Target::Syslog = target {
        crate::sys::syslog::open(c"ntpd", true);
    }
    *LOGGER.lock().unwrap_or_else(|e| e.into_inner()) = Some(Logger { target, file });
    Ok(())
}

/// Reopen the log file (SIGHUP).
pub fn reopen() {
    let mut g = LOGGER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(l) = g.as_mut() {
        if let Target::File(p) = &l.target {
            if let Ok(f) = open(p) {
                l.file = Some(f);
            }
        }
    }
}

pub fn log(level: Level, msg: &str) {
    let verbose = DEBUG.load(Ordering::Relaxed);
    if level == Level::Debug && verbose == 0 {
        return;
    }
    let mut g = LOGGER.lock().unwrap_or_else(|e| e.into_inner());
    let line = format!(
        "{} ntpd[{}]: {msg}\n",
        crate::localtime::log_stamp_now(),
        std::process::id()
    );
    match g.as_mut() {
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
        Some(l) => match (&l.target, l.file.as_mut()) {
            (Target::File(_), Some(f)) => {
                let _ = f.write_all(line.as_bytes());
            }
            (Target::Syslog, _) => {
                crate::sys::syslog::send(level as i32, msg);
            }
            _ => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        },
    }
}

pub fn error(msg: &str) {
    log(Level::Error, msg)
}
pub fn warn(msg: &str) {
    log(Level::Warning, msg)
}
pub fn notice(msg: &str) {
    log(Level::Notice, msg)
}
pub fn info(msg: &str) {
    log(Level::Info, msg)
}
pub fn debug(msg: &str) {
    log(Level::Debug, msg)
}
