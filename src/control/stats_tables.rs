//! ntpq's counter displays `sysstats`, `iostats` and `monstats`, in NTPsec's layout
//! (`collect_display` / `collect_display2` of its ntpq): a 22-column legend, the value
//! right-aligned in 13, and for packet counters the rate over the period shown above them
//! (`12.0p/s` or `3.0s/p`, rounded half to even as Python's `round`).
//!
//! The daemon serves these as non-default system variables (`ss_*`, `io_*`, `mru_*`), so
//! they are read by name; a variable the daemon lacks is skipped, as NTPsec's ntpq does.

use crate::wire::control::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Int,
    /// Seconds shown as `[ND ]HH:MM:SS`; also the period for the packet rates below it.
    Uptime,
    /// A count with its rate over the last uptime shown.
    Packets,
}

use Format::*;

pub type Table = &'static [(&'static str, &'static str, Format)];

/// `sysstats`, first part: plain values.
pub const SYSSTATS: Table = &[
    ("ss_uptime", "uptime:               ", Uptime),
    ("ss_numctlreq", "control requests:     ", Int),
];

/// `sysstats`, second part: each variable with its `_r` (since reset) twin.
pub const SYSSTATS_SINCE_RESET: Table = &[
    ("ss_reset", "sysstats reset:       ", Uptime),
    ("ss_received", "packets received:     ", Packets),
    ("ss_thisver", "current version:      ", Packets),
    ("ss_oldver", "older version:        ", Packets),
    ("ss_ver1", "NTPv1 total:          ", Packets),
    ("ss_ver1client", "NTPv1 clients:        ", Packets),
    ("ss_ver1zero", "NTPv1 mode0:          ", Packets),
    ("ss_ver1symm", "NTPv1 symm act:       ", Packets),
    ("ss_badformat", "bad length or format: ", Packets),
    ("ss_badauth", "authentication failed:", Packets),
    ("ss_declined", "declined:             ", Packets),
    ("ss_restricted", "restricted:           ", Packets),
    ("ss_limited", "rate limited:         ", Packets),
    ("ss_kodsent", "KoD responses:        ", Packets),
    ("ss_processed", "processed for time:   ", Packets),
];

/// `ntsinfo` (`nts`): NTPsec's NTS counters, client and server, in its order.
pub const NTSINFO: Table = &[
    ("nts_client_send", "NTS client sends:          ", Int),
    ("nts_client_recv_good", "NTS client recvs good:     ", Int),
    ("nts_client_recv_bad", "NTS client recvs w error:  ", Int),
    ("nts_server_recv_good", "NTS server recvs good:     ", Int),
    ("nts_server_recv_bad", "NTS server recvs w error:  ", Int),
    ("nts_server_send", "NTS server sends:          ", Int),
    ("nts_cookie_make", "NTS make cookies:          ", Int),
    ("nts_cookie_decode", "NTS decode cookies:        ", Int),
    ("nts_cookie_decode_old", "NTS decode cookies old:    ", Int),
    ("nts_cookie_decode_old2", "NTS decode cookies old2:   ", Int),
    (
        "nts_cookie_decode_older",
        "NTS decode cookies older:  ",
        Int,
    ),
    (
        "nts_cookie_decode_too_old",
        "NTS decode cookies too old:",
        Int,
    ),
    (
        "nts_cookie_decode_error",
        "NTS decode cookies error:  ",
        Int,
    ),
    ("nts_ke_probes_good", "NTS KE client probes good: ", Int),
    ("nts_ke_probes_bad", "NTS KE client probes bad:  ", Int),
    ("nts_ke_serves_good", "NTS KE serves good:        ", Int),
    ("nts_ke_serves_bad", "NTS KE serves bad:         ", Int),
];

pub const IOSTATS: Table = &[
    ("iostats_reset", "time since reset:     ", Uptime),
    ("total_rbuf", "receive buffers:      ", Int),
    ("free_rbuf", "free receive buffers: ", Int),
    ("used_rbuf", "used receive buffers: ", Int),
    ("rbuf_lowater", "low water refills:    ", Int),
    ("io_dropped", "dropped packets:      ", Packets),
    ("io_ignored", "ignored packets:      ", Packets),
    ("io_received", "received packets:     ", Packets),
    ("io_sent", "packets sent:         ", Packets),
    ("io_sendfailed", "packet send failures: ", Packets),
    ("io_wakeups", "input wakeups:        ", Int),
    ("io_goodwakeups", "useful input wakeups: ", Int),
];

pub const MONSTATS: Table = &[
    ("mru_enabled", "enabled:              ", Int),
    ("mru_hashslots", "hash slots in use:    ", Int),
    ("mru_depth", "addresses in use:     ", Int),
    ("mru_deepest", "peak addresses:       ", Int),
    ("mru_maxdepth", "maximum addresses:    ", Int),
    ("mru_mindepth", "reclaim above count:  ", Int),
    ("mru_maxage", "reclaim maxage:       ", Uptime),
    ("mru_minage", "reclaim minage:       ", Uptime),
    ("mru_mem", "kilobytes:            ", Int),
    ("mru_maxmem", "maximum kilobytes:    ", Int),
    ("mru_exists", "alloc: exists:        ", Int),
    ("mru_new", "alloc: new:           ", Int),
    ("mru_recycleold", "alloc: recycle old:   ", Int),
    ("mru_recyclefull", "alloc: recycle full:  ", Int),
    ("mru_none", "alloc: none:          ", Int),
    ("mru_oldest_age", "age of oldest slot:   ", Uptime),
];

/// Every variable name a table needs; `since_reset` adds the `_r` twins.
pub fn names(table: Table, since_reset: bool) -> Vec<String> {
    let mut v: Vec<String> = table.iter().map(|(n, _, _)| n.to_string()).collect();
    if since_reset {
        v.extend(table.iter().map(|(n, _, _)| format!("{n}_r")));
    }
    v
}

/// NTPsec's `periodize`: `[ND ]HH:MM:SS`.
pub fn period_text(secs: i64) -> String {
    let mut out = String::new();
    if secs >= 86400 {
        out.push_str(&format!("{}D ", secs / 86400));
    }
    let s = secs.rem_euclid(86400);
    out.push_str(&format!(
        "{:02}:{:02}:{:02}",
        s / 3600,
        (s % 3600) / 60,
        s % 60
    ));
    out
}

/// Python's `str(float)` for the whole numbers `round(x, 0)` yields.
fn py_float(x: f64) -> String {
    if x.abs() < 1e16 {
        format!("{x:.1}")
    } else {
        format!("{x:e}")
    }
}

/// NTPsec's `packetize`: the count, and a rate over `period` seconds as (number, unit).
pub fn packetize(value: Option<&Value>, period: Option<i64>) -> (String, String, String) {
    let Some(packets) = value.and_then(Value::as_i64) else {
        return ("???".into(), String::new(), String::new());
    };
    let period = match period {
        Some(p) if packets != 0 && p != 0 => p as f64,
        _ => return (packets.to_string(), String::new(), String::new()),
    };
    let n = packets as f64;
    if n > period {
        (
            packets.to_string(),
            py_float((n / period).round_ties_even()),
            "p/s".into(),
        )
    } else {
        (
            packets.to_string(),
            py_float((period / n).round_ties_even()),
            "s/p".into(),
        )
    }
}

/// An integer as Python prints it (NTPsec sends some in hex: `mru_enabled=0x3`).
fn int_text(value: &Value) -> String {
    value
        .as_i64()
        .map_or_else(|| value.text().to_string(), |n| n.to_string())
}

fn uptime(value: &Value) -> (Option<i64>, String) {
    match value.as_i64() {
        Some(s) => (Some(s), period_text(s)),
        None => (None, "???".into()),
    }
}

/// One value per line (NTPsec `collect_display`); a packet rate is over the last uptime
/// shown above it (1 s before any).
pub fn render(table: Table, lookup: &dyn Fn(&str) -> Option<Value>) -> String {
    let mut out = String::new();
    let mut run = Some(1);
    for (name, legend, format) in table {
        let Some(value) = lookup(name) else { continue };
        match format {
            Int => out.push_str(&format!("{legend:>13} {:>13}\n", int_text(&value))),
            Uptime => {
                let (secs, text) = uptime(&value);
                run = secs;
                out.push_str(&format!("{legend:<13} {text:>13}\n"));
            }
            Packets => {
                let (n, rate, unit) = packetize(Some(&value), run);
                out.push_str(&format!("{legend:<13} {n:>13} {rate:>10}{unit:<3}\n"));
            }
        }
    }
    out
}

/// Totals beside their since-reset twins (NTPsec `collect_display2`).
pub fn render_since_reset(table: Table, lookup: &dyn Fn(&str) -> Option<Value>) -> String {
    let mut out = String::new();
    let (mut run_total, mut run_reset) = (None, None);
    for (name, legend, format) in table {
        let Some(total) = lookup(name) else { continue };
        let reset = lookup(&format!("{name}_r"));
        match format {
            Int => {
                let r = reset.as_ref().map_or("???".into(), int_text);
                out.push_str(&format!("{legend:<13} {:>13} {r:>13}\n", int_text(&total)));
            }
            Uptime => {
                let (secs, text) = uptime(&total);
                let (secs_r, text_r) = reset.as_ref().map_or((None, "???".into()), uptime);
                (run_total, run_reset) = (secs, secs_r);
                out.push_str(&format!("{legend:<13} {text:>13} {text_r:>13}\n"));
            }
            Packets => {
                let (n, rate, unit) = packetize(Some(&total), run_total);
                let (n_r, rate_r, unit_r) = packetize(reset.as_ref(), run_reset);
                out.push_str(&format!(
                    "{legend:<13} {n:>13} {n_r:>13} {rate:>10}{unit:<3} {rate_r:>10}{unit_r:<3}\n"
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<Value> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |n| m.get(n).map(|v| Value(v.clone()))
    }

    #[test]
    fn periods_are_shown_as_ntpsec_does() {
        assert_eq!(period_text(3), "00:00:03");
        assert_eq!(period_text(3600), "01:00:00");
        assert_eq!(period_text(64), "00:01:04");
        assert_eq!(period_text(90061), "1D 01:01:01");
    }

    #[test]
    fn rates_round_half_to_even_like_python() {
        let v = Value("2".into());
        // 3 s / 2 packets = 1.5 → 2.0 (and 2.5 would be 2.0 too)
        assert_eq!(
            packetize(Some(&v), Some(3)),
            ("2".into(), "2.0".into(), "s/p".into())
        );
        assert_eq!(packetize(Some(&v), Some(5)).1, "2.0");
        let many = Value("120".into());
        assert_eq!(
            packetize(Some(&many), Some(10)),
            ("120".into(), "12.0".into(), "p/s".into())
        );
        assert_eq!(packetize(Some(&Value("0".into())), Some(10)).1, "");
        assert_eq!(packetize(Some(&Value("x".into())), Some(10)).0, "???");
    }

    /// The lines NTPsec's ntpq 1.2 printed for its own ntpd, 3 s after start.
    #[test]
    fn sysstats_lines_match_ntpsec_ntpq() {
        let get = vars(&[
            ("ss_uptime", "3"),
            ("ss_numctlreq", "1"),
            ("ss_reset", "3"),
            ("ss_reset_r", "3"),
            ("ss_received", "2"),
            ("ss_received_r", "2"),
            ("ss_thisver", "0"),
            ("ss_thisver_r", "0"),
        ]);
        assert_eq!(
            render(SYSSTATS, &get),
            "uptime:                     00:00:03\ncontrol requests:                  1\n"
        );
        assert_eq!(
            render_since_reset(SYSSTATS_SINCE_RESET, &get),
            "sysstats reset:             00:00:03      00:00:03\n\
             packets received:                  2             2        2.0s/p        2.0s/p\n\
             current version:                   0             0                            \n"
        );
    }

    #[test]
    fn iostats_and_monstats_lines_match_ntpsec_ntpq() {
        let get = vars(&[
            ("iostats_reset", "3"),
            ("total_rbuf", "10"),
            ("io_dropped", "0"),
            ("io_sent", "3"),
            ("mru_maxage", "3600"),
            ("mru_enabled", "0x3"),
        ]);
        assert_eq!(
            render(IOSTATS, &get),
            "time since reset:           00:00:03\n\
             receive buffers:                  10\n\
             dropped packets:                   0              \n\
             packets sent:                      3        1.0s/p\n"
        );
        assert_eq!(
            render(MONSTATS, &get),
            "enabled:                           3\nreclaim maxage:             01:00:00\n"
        );
    }
}
