//! syslog(3), for ntpd's and ntpdate's `-s`/`logfile`-less logging: the C library's own
//! client, so the lines look exactly like ntp.org's (ident, PID, facility daemon).

use std::ffi::{CStr, CString};

/// openlog(ident, LOG_PID [| LOG_NDELAY], LOG_DAEMON).
pub fn open(ident: &'static CStr, ndelay: bool) {
    let opts = libc::LOG_PID | if ndelay { libc::LOG_NDELAY } else { 0 };
    // SAFETY: openlog keeps the ident pointer; `ident` is 'static and NUL-terminated.
    unsafe { libc::openlog(ident.as_ptr(), opts, libc::LOG_DAEMON) };
}

/// One message at `level` (LOG_ERR … LOG_DEBUG); a NUL inside becomes a space.
pub fn send(level: libc::c_int, msg: &str) {
    let text = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    // SAFETY: the format and its one argument are valid NUL-terminated strings; "%s" keeps
    // the message from being read as a format.
    unsafe { libc::syslog(level, c"%s".as_ptr(), text.as_ptr()) };
}
