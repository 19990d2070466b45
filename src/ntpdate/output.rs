//! ntpdate 4.2.8's text: the per-server lines and its msyslog-style log lines
//! (` 5 Jan 12:00:01 ntpdate[1234]: …` on stdout, errors on stderr, or syslog with `-s`).

use std::io::Write;
use std::net::SocketAddr;

use super::choose::ServerView;
use super::target::NTP_PORT;

/// `server 192.0.2.10, stratum 2, offset -0.001234, delay 0.02571`
pub fn server_line(s: &ServerView) -> String {
    format!(
        "server {}, stratum {}, offset {}, delay {}",
        addr_text(s.addr),
        s.stratum,
        offset_text(s.offset),
        delay_text(s.delay)
    )
}

/// The address as ntpdate shows it: just the IP for port 123; with the `HOST:PORT`
/// extension the port too.
pub fn addr_text(a: SocketAddr) -> String {
    if a.port() == NTP_PORT {
        a.ip().to_string()
    } else {
        a.to_string()
    }
}

/// Signed seconds, six decimals, `-` only for negatives (ntp.org's `lfptoa(x, 6)`).
pub fn offset_text(x: f64) -> String {
    format!("{x:.6}")
}

/// Seconds, five decimals (`fptoa(x, 5)`).
pub fn delay_text(x: f64) -> String {
    format!("{x:.5}")
}

/// The result line's text, without the log prefix.
pub fn result_message(step: bool, server: SocketAddr, offset: f64) -> String {
    format!(
        "{} time server {} offset {} sec",
        if step { "step" } else { "adjust" },
        addr_text(server),
        offset_text(offset)
    )
}

/// Where log lines go: the terminal (notices on stdout, errors on stderr, with the time
/// and `ntpdate[PID]` prefix) or syslog (`-s`; ident `ntpdate`, LOG_PID, facility daemon).
pub struct Logger {
    syslog: bool,
}

impl Logger {
    pub fn new(syslog: bool) -> Logger {
        if syslog {
            crate::sys::syslog::open(c"ntpdate", false);
        }
        Logger { syslog }
    }

    pub fn notice(&self, msg: &str) {
        self.log(libc::LOG_NOTICE, msg);
    }

    pub fn error(&self, msg: &str) {
        self.log(libc::LOG_ERR, msg);
    }

    fn log(&self, level: libc::c_int, msg: &str) {
        if self.syslog {
            crate::sys::syslog::send(level, msg);
            return;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let line = format!(
            "{} ntpdate[{}]: {}\n",
            crate::localtime::log_stamp(now),
            std::process::id(),
            msg
        );
        // A closed stdout/stderr must not turn into a panic.
        if level <= libc::LOG_ERR {
            let _ = std::io::stderr().write_all(line.as_bytes());
        } else {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats_match_ntp_org() {
        assert_eq!(offset_text(-0.001234), "-0.001234");
        assert_eq!(offset_text(0.5), "0.500000");
        assert_eq!(delay_text(0.025713), "0.02571");
        assert_eq!(delay_text(0.0), "0.00000");
    }

    #[test]
    fn result_and_address_text() {
        let a: SocketAddr = "192.0.2.10:123".parse().unwrap();
        assert_eq!(
            result_message(false, a, -0.001234),
            "adjust time server 192.0.2.10 offset -0.001234 sec"
        );
        let b: SocketAddr = "[2001:db8::1]:1123".parse().unwrap();
        assert_eq!(
            result_message(true, b, 2.5),
            "step time server [2001:db8::1]:1123 offset 2.500000 sec"
        );
    }
}
