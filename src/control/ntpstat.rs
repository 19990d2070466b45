//! `ntpstat`: the synchronisation status of the local daemon, exactly as Debian's `ntpstat`
//! (the classic C program by G. Richard Keech, package `ntpstat` 0.0.0.1) reports it.
//!
//! That program sends one READVAR for the system variables (NTP version 2, sequence 1, the
//! whole 576-byte message), takes the first reply datagram only, and reads it with substring
//! searches (`refid=`, `stratum=`, `rootdisp=`, `rootdelay=`, `tc=`) plus the status word.
//! Its wording, spacing (`at stratum 3 ` has a trailing space) and edge cases are kept here
//! so scripts that parse it keep working; `-m MAXERROR` comes from the later shell version.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use crate::wire::control::{ControlHeader, Opcode, HEADER_LEN, MAX_DATA_LEN};

/// The C program's message: header, 468 bytes of data, 96 of authenticator.
pub const MESSAGE_LEN: usize = HEADER_LEN + MAX_DATA_LEN + 96;
/// It waits one second for the answer.
pub const TIMEOUT: Duration = Duration::from_secs(1);

const SOURCES: [&str; 10] = [
    "unspecified",
    "atomic clock",
    "VLF radio",
    "HF radio",
    "UHF radio",
    "local net",
    "NTP server",
    "UDP/TIME",
    "wristwatch",
    "modem",
];

/// What ntpstat prints and exits with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Outcome {
    fn fail(msg: &str) -> Outcome {
        Outcome {
            stdout: String::new(),
            stderr: format!("{msg}\n"),
            code: 2,
        }
    }
}

/// The request the C program sends: `0x16 0x02`, sequence 1, zeros to 576 bytes.
pub fn request() -> [u8; MESSAGE_LEN] {
    let mut msg = [0u8; MESSAGE_LEN];
    let header = ControlHeader::request(2, Opcode::READVAR, 1, 0);
    msg[..HEADER_LEN].copy_from_slice(&header.to_bytes());
    msg
}

/// Ask the daemon at `server` (127.0.0.1:123 normally) and interpret its answer.
pub fn query(server: SocketAddr, max_error_ms: Option<&str>) -> Outcome {
    let local: SocketAddr = match server.ip() {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let Ok(socket) = UdpSocket::bind(local) else {
        return Outcome::fail("unable to open socket");
    };
    if let Err(e) = socket.connect(server) {
        return Outcome::fail(&format!(
            "On connect: {}\nunable to connect to socket",
            crate::rtc::sync::strerror(&e)
        ));
    }
    let mut msg = request();
    if let Err(e) = socket.send(&msg) {
        return Outcome::fail(&format!(
            "On send: {}\nunable to send command to NTP port",
            crate::rtc::sync::strerror(&e)
        ));
    }
    let _ = socket.set_read_timeout(Some(TIMEOUT));
    // The reply lands on the request buffer, as in the C program: bytes it does not
    // overwrite keep the request's (zero) contents.
    match socket.recv(&mut msg) {
        Ok(_) => interpret(&msg, max_error_ms),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Outcome::fail("timeout")
        }
        Err(_) => Outcome::fail("Unable to talk to NTP daemon. Is it running?"),
    }
}

/// Where ntpstat looks for chronyd when mode 6 gets no answer.
pub fn chronyd_endpoints(server: SocketAddr) -> Vec<super::cmdmon::Endpoint> {
    use super::cmdmon::Endpoint;
    let mut v = Vec::new();
    let sock = std::path::Path::new(crate::wire::cmdmon::DEFAULT_SOCKET);
    if sock.exists() {
        v.push(Endpoint::Unix(sock.to_path_buf()));
    }
    v.push(Endpoint::Udp(SocketAddr::new(
        server.ip(),
        crate::wire::cmdmon::PORT,
    )));
    v
}

/// ntpstat for the local daemon, whichever it is: the mode 6 query (Debian's) and a
/// chronyd cmdmon query run side by side, and the first that gets an answer is printed.
/// A host with neither prints Debian's error (from the mode 6 side).
pub fn query_any(server: SocketAddr, max_error_ms: Option<&str>) -> Outcome {
    use std::sync::mpsc;
    // (answered, outcome): the mode 6 side always reports; chronyd's only when it answered
    let (tx, rx) = mpsc::channel::<(bool, Option<Outcome>)>();
    let max = max_error_ms.map(str::to_string);
    {
        let tx = tx.clone();
        let max = max.clone();
        std::thread::spawn(move || {
            let o = query(server, max.as_deref());
            // a daemon that answered at all (even with something invalid) is reported
            let silent = o.stderr == "timeout\n"
                || o.stderr.starts_with("Unable to talk")
                || o.stderr.starts_with("On ")
                || o.stderr.starts_with("unable to");
            let _ = tx.send((!silent, Some(o)));
        });
    }
    std::thread::spawn(move || {
        let found = chronyd_endpoints(server)
            .into_iter()
            .find_map(|e| query_chronyd(e, max.as_deref()));
        let _ = tx.send((found.is_some(), found));
    });
    let mut mode6_failure = None;
    for _ in 0..2 {
        match rx.recv() {
            Ok((true, Some(o))) => return o,
            Ok((false, Some(o))) => mode6_failure = Some(o),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    mode6_failure.unwrap_or_else(|| Outcome::fail("Unable to talk to NTP daemon. Is it running?"))
}

/// chronyd's state through cmdmon at `endpoint`, or None when it does not answer.
pub fn query_chronyd(
    endpoint: super::cmdmon::Endpoint,
    max_error_ms: Option<&str>,
) -> Option<Outcome> {
    let mut c = super::cmdmon::Client::connect(endpoint, TIMEOUT).ok()?;
    let tracking = c.tracking().ok()?;
    let sources = super::chronyd::fetch_sources(&mut c, None).unwrap_or_default();
    Some(interpret_chronyd(&tracking, &sources, max_error_ms))
}

/// Debian's three lines for chronyd's tracking and sources. The address, stratum and
/// error bound are those RHEL's chrony-aware ntpstat shows (the latter includes the
/// correction chronyd still has to apply); the poll is the selected source's.
pub fn interpret_chronyd(
    t: &crate::wire::cmdmon::Tracking,
    sources: &[super::chronyd::Source],
    max_error_ms: Option<&str>,
) -> Outcome {
    use super::chronyd;
    let mut out = String::new();
    let mut code = 0;
    if t.leap >= 3 {
        out.push_str("unsynchronised\n");
        code = 1;
    } else {
        let source = chronyd::clock_source(t) as usize;
        out.push_str("synchronised to ");
        out.push_str(SOURCES.get(source).copied().unwrap_or("unknown source"));
        if let Some(ip) = t.addr.ip() {
            out.push_str(&format!(" ({ip})"));
        }
        out.push_str(&format!(" at stratum {} \n", t.stratum));
        let error = chronyd::root_distance_ms(t);
        out.push_str(&format!("   time correct to within {error:.0} ms"));
        if let Some(max) = max_error_ms {
            if error > c_atof(max) {
                out.push_str(&format!(" (exceeded maximum of {max} ms)"));
                code = 1;
            }
        }
        out.push('\n');
    }
    match chronyd::system_poll(sources) {
        Some(p) => {
            let seconds = 1i64 << i64::from(p).clamp(0, 62);
            out.push_str(&format!("   polling server every {seconds} s\n"));
        }
        None => out.push_str("poll interval unknown\n"),
    }
    Outcome {
        stdout: out,
        stderr: String::new(),
        code,
    }
}

/// Read a reply (laid over the request buffer) the way the C program does.
pub fn interpret(msg: &[u8; MESSAGE_LEN], max_error_ms: Option<&str>) -> Outcome {
    let (b1, b2) = (msg[0], msg[1]);
    if b1 & 0x3f != 0x16 || b2 & !0x20 != 0x82 {
        return Outcome {
            stdout: String::new(),
            stderr: format!(
                "status word is 0x{b1:02x}{b2:02x}\nreturn data appears to be invalid based on status word\n"
            ),
            code: 2,
        };
    }
    let (status1, status2) = (msg[4], msg[5]);
    let payload = {
        let data = &msg[HEADER_LEN..HEADER_LEN + MAX_DATA_LEN];
        let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
        String::from_utf8_lossy(&data[..end]).into_owned()
    };
    let mut out = String::new();
    let mut code;
    if status1 >> 6 == 3 {
        out.push_str("unsynchronised\n");
        if status2 & 0x0f == 1 {
            out.push_str("  time server re-starting\n");
        }
        code = 1;
    } else {
        code = 0;
        out.push_str("synchronised to ");
        let source = (status1 & 0x3f) as usize;
        out.push_str(SOURCES.get(source).copied().unwrap_or("unknown source"));
        if source == 6 {
            match token_after(&payload, "refid=") {
                Some(t) if !t.is_empty() && t.len() <= 16 => out.push_str(&format!(" ({t})")),
                Some(_) => out.push_str(" <IP unreadable>"),
                None => {
                    code = 1;
                    out.push_str(" <IP unknown>");
                }
            }
        }
        match token_after(&payload, "stratum=") {
            Some(t) if !t.is_empty() && t.len() <= 2 => {
                out.push_str(&format!(" at stratum {t} \n"))
            }
            Some(_) => out.push_str(", stratum unreadable\n"),
            None => {
                code = 1;
                out.push_str(", stratum unknown\n");
            }
        }
        match (
            token_after(&payload, "rootdisp="),
            token_after(&payload, "rootdelay="),
        ) {
            (Some(disp), Some(delay)) => {
                let readable = |t: &str| !t.is_empty() && t.len() <= 10;
                if readable(disp) && readable(delay) {
                    let error = c_atof(disp) + c_atof(delay) / 2.0;
                    out.push_str(&format!("   time correct to within {error:.0} ms"));
                    match max_error_ms {
                        Some(max) if error > c_atof(max) => {
                            out.push_str(&format!(" (exceeded maximum of {max} ms)"));
                            code = 1;
                        }
                        _ => {}
                    }
                    out.push('\n');
                } else {
                    out.push_str("accuracy unreadable\n");
                }
            }
            _ => {
                code = 1;
                out.push_str("accuracy unknown\n");
            }
        }
    }
    match token_after(&payload, "tc=") {
        Some(t) if !t.is_empty() && t.len() <= 2 => {
            let exponent = c_atoi(t);
            let seconds = 1i32.wrapping_shl(exponent as u32);
            out.push_str(&format!("   polling server every {seconds} s\n"));
        }
        Some(_) => out.push_str("poll interval unreadable\n"),
        None => {
            code = 1;
            out.push_str("poll interval unknown\n");
        }
    }
    Outcome {
        stdout: out,
        stderr: String::new(),
        code,
    }
}

/// `strstr(text, key)` then `strtok(…, ",")`: the first comma-delimited token after the
/// first occurrence of `key` (leading commas skipped, as strtok does).
fn token_after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let start = text.find(key)? + key.len();
    let rest = text[start..].trim_start_matches(',');
    Some(rest.split(',').next().unwrap_or(""))
}

/// C `atof`: the longest numeric prefix after white space, else 0.
fn c_atof(s: &str) -> f64 {
    let s = s.trim_start();
    (1..=s.len())
        .rev()
        .filter(|&i| s.is_char_boundary(i))
        .filter(|&i| !s[..i].ends_with(['e', 'E', '+', '-']))
        .find_map(|i| s[..i].parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .unwrap_or(0.0)
}

/// C `atoi`.
fn c_atoi(s: &str) -> i32 {
    let s = s.trim_start();
    let (sign, digits) = match s.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let n: String = digits.chars().take_while(char::is_ascii_digit).collect();
    sign * n.parse::<i32>().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, text: &str) -> [u8; MESSAGE_LEN] {
        let mut msg = request();
        let mut h = ControlHeader::request(2, Opcode::READVAR, 1, 0);
        h.response = true;
        h.status = status;
        h.count = text.len() as u16;
        msg[..HEADER_LEN].copy_from_slice(&h.to_bytes());
        msg[HEADER_LEN..HEADER_LEN + text.len()].copy_from_slice(text.as_bytes());
        msg
    }

    const SYNCED: &str = "version=\"ntpd 4.2.8\", leap=0, stratum=3, precision=-23,\r\n\
        rootdelay=0.734, rootdisp=12.987, refid=198.18.0.1,\r\n\
        reftime=0xeb0e1f43.5fbe76c8, clock=0xeb0e1f70.a9c6c7ee, peer=47742, tc=6,\r\n\
        mintc=3, offset=0.004, frequency=0.000, sys_jitter=0.000";

    #[test]
    fn request_is_the_c_programs_bytes() {
        let r = request();
        assert_eq!(r.len(), 576);
        assert_eq!(&r[..4], &[0x16, 0x02, 0x00, 0x01]);
        assert!(r[4..].iter().all(|&b| b == 0));
    }

    #[test]
    fn synchronised_to_an_ntp_server() {
        // Status 0x0615: leap 0, source 6 (NTP server).
        let o = interpret(&reply(0x0615, SYNCED), None);
        assert_eq!(
            o.stdout,
            "synchronised to NTP server (198.18.0.1) at stratum 3 \n   time correct to within 13 ms\n   polling server every 64 s\n"
        );
        assert_eq!((o.stderr.as_str(), o.code), ("", 0));
        let o = interpret(&reply(0x0615, SYNCED), Some("10"));
        assert!(
            o.stdout
                .contains("within 13 ms (exceeded maximum of 10 ms)\n"),
            "{o:?}"
        );
        assert_eq!(o.code, 1);
    }

    #[test]
    fn unsynchronised_and_restarting() {
        let text = "leap=11, stratum=16, rootdelay=0.000, rootdisp=1.2, refid=INIT, tc=3";
        let o = interpret(&reply(0xc011, text), None);
        assert_eq!(
            o.stdout,
            "unsynchronised\n  time server re-starting\n   polling server every 8 s\n"
        );
        assert_eq!(o.code, 1);
        let o = interpret(&reply(0xc016, text), None);
        assert_eq!(o.stdout, "unsynchronised\n   polling server every 8 s\n");
    }

    #[test]
    fn local_source_and_missing_fields() {
        let o = interpret(
            &reply(0x0514, "stratum=11, rootdelay=0.000, rootdisp=0.5"),
            None,
        );
        assert_eq!(
            o.stdout,
            "synchronised to local net at stratum 11 \n   time correct to within 0 ms\npoll interval unknown\n"
        );
        assert_eq!(o.code, 1);
        let o = interpret(&reply(0x0614, "stratum=123, tc=10"), None);
        assert_eq!(
            o.stdout,
            "synchronised to NTP server <IP unknown>, stratum unreadable\naccuracy unknown\n   polling server every 1024 s\n"
        );
    }

    #[test]
    fn replies_that_are_not_a_readvar_answer() {
        let mut msg = reply(0x0615, SYNCED);
        msg[1] |= 0x40; // error bit
        let o = interpret(&msg, None);
        assert_eq!(
            o.stderr,
            "status word is 0x16c2\nreturn data appears to be invalid based on status word\n"
        );
        assert_eq!((o.stdout.as_str(), o.code), ("", 2));
    }

    fn tracking(leap: u16, addr: Option<&str>) -> crate::wire::cmdmon::Tracking {
        use crate::wire::cmdmon::{Addr, Timespec, Tracking};
        Tracking {
            ref_id: 0xc612_0002,
            addr: addr.map_or(Addr::Unspec, |a| Addr::Ip(a.parse().unwrap())),
            stratum: 6,
            leap,
            ref_time: Timespec::default(),
            current_correction: -0.0021,
            last_offset: 0.0,
            rms_offset: 0.0,
            freq_ppm: 0.0,
            resid_freq_ppm: 0.0,
            skew_ppm: 0.0,
            root_delay: 0.030,
            root_dispersion: 0.0044,
            last_update_interval: 64.0,
        }
    }

    fn source(
        poll: i16,
        state: crate::wire::cmdmon::SourceState,
    ) -> crate::control::chronyd::Source {
        use crate::wire::cmdmon::{Addr, SourceData, SourceMode};
        crate::control::chronyd::Source {
            index: 0,
            data: SourceData {
                addr: Addr::Ip("198.18.0.2".parse().unwrap()),
                poll,
                stratum: 5,
                state,
                mode: SourceMode::Client,
                flags: 0,
                reach: 0o377,
                since_sample: 3,
                orig_latest_meas: 0.0,
                latest_meas: 0.0,
                latest_meas_err: 0.0,
            },
            stats: None,
            ntp: None,
        }
    }

    #[test]
    fn chronyd_states_in_debians_words() {
        use crate::wire::cmdmon::SourceState::*;
        let sources = [source(10, Falseticker), source(6, Selected)];
        // error bound as RHEL's script: 30/2 + 4.4 + |-2.1| = 21.5 → 22 ms (%.0f)
        let o = interpret_chronyd(&tracking(0, Some("198.18.0.2")), &sources, None);
        assert_eq!(
            o.stdout,
            "synchronised to NTP server (198.18.0.2) at stratum 6 \n   time correct to within 22 ms\n   polling server every 64 s\n"
        );
        assert_eq!(o.code, 0);
        let o = interpret_chronyd(&tracking(0, Some("198.18.0.2")), &sources, Some("20"));
        assert!(
            o.stdout.contains("22 ms (exceeded maximum of 20 ms)\n"),
            "{o:?}"
        );
        assert_eq!(o.code, 1);
        let o = interpret_chronyd(&tracking(3, None), &[source(7, NonSelectable)], None);
        assert_eq!(o.stdout, "unsynchronised\n   polling server every 128 s\n");
        assert_eq!(o.code, 1);
        let o = interpret_chronyd(&tracking(3, None), &[], None);
        assert_eq!(o.stdout, "unsynchronised\npoll interval unknown\n");
        let mut local = tracking(0, None);
        local.ref_id = crate::control::chronyd::LOCAL_REFID;
        let o = interpret_chronyd(&local, &[], None);
        assert!(
            o.stdout
                .starts_with("synchronised to local net at stratum 6 \n"),
            "{o:?}"
        );
    }

    #[test]
    fn c_number_parsing() {
        assert_eq!(c_atof("12.987"), 12.987);
        assert_eq!(c_atof(" 1.5e1x"), 15.0);
        assert_eq!(c_atof("abc"), 0.0);
        assert_eq!(c_atoi("10\r\n"), 10);
        assert_eq!(c_atoi("-3"), -3);
    }
}
