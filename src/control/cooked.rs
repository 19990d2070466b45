//! ntpq's "cooked" text output in ntp.org 4.2.8's layout: `rv` variable lists (wrapped at
//! 72 columns, timestamps as dates, reach in octal, flash as names), `associations`,
//! `sysinfo`/`kerninfo` label tables and the `mrulist` table.

use super::client::{Association, MruList};
use super::peers::{parse_addr, round_decimal};
use crate::localtime::LocalTime;
use crate::wire::control::{Select, Value};
use crate::wire::time::NtpTimestamp;

/// Wraps `name=value` items like ntpq's `output()`: `", "` between items, `",\n"` when the
/// line would pass 72 columns.
#[derive(Default)]
pub struct Wrapped {
    out: String,
    line: usize,
    any: bool,
}

const MAX_OUT_LINE: usize = 72;

impl Wrapped {
    pub fn push(&mut self, name: &str, value: &str) {
        let len = name.len() + 1 + value.chars().count();
        if self.any {
            if self.line + len + 2 > MAX_OUT_LINE {
                self.out.push_str(",\n");
                self.line = 0;
            } else {
                self.out.push_str(", ");
                self.line += 2;
            }
        }
        self.out.push_str(name);
        self.out.push('=');
        self.out.push_str(value);
        self.line += len;
        self.any = true;
    }

    pub fn finish(mut self) -> String {
        if self.any {
            self.out.push('\n');
        }
        self.out
    }
}

/// ntp.org's `prettydate`: `xxxxxxxx.xxxxxxxx  Wed, Nov 25 2026 17:30:08.944` (local time).
pub fn pretty_date(t: NtpTimestamp) -> String {
    let msec = ((t.fraction() as u64 * 1000) >> 32).min(999);
    let Some(lt) = LocalTime::at(
        t.to_unix(<crate::wire::time::UnixTime as crate::clock::WallClock>::now())
            .secs,
    ) else {
        return format!("{:08x}.{:08x}", t.seconds(), t.fraction());
    };
    format!(
        "{:08x}.{:08x}  {}, {} {:2} {:4} {:2}:{:02}:{:02}.{:03}",
        t.seconds(),
        t.fraction(),
        lt.weekday_name(),
        lt.month_name(),
        lt.day,
        lt.year,
        lt.hour,
        lt.minute,
        lt.second,
        msec
    )
}

const FLASH_NAMES: [&str; 13] = [
    "pkt_dup",
    "pkt_bogus",
    "pkt_unsync",
    "pkt_denied",
    "pkt_auth",
    "pkt_stratum",
    "pkt_header",
    "pkt_autokey",
    "pkt_crypto",
    "peer_stratum",
    "peer_dist",
    "peer_loop",
    "peer_unreach",
];

/// ntp.org's `tstflags`: `00 ok` or `400 peer_dist, ...`.
pub fn flash_text(v: u64) -> String {
    let mut s = format!("{v:02x}");
    if v == 0 {
        s.push_str(" ok");
        return s;
    }
    let mut sep = " ";
    for (i, name) in FLASH_NAMES.iter().enumerate() {
        if v & (1 << i) != 0 {
            s.push_str(sep);
            s.push_str(name);
            sep = ", ";
        }
    }
    s
}

/// ntp.org's `outputarr`: name padded to 11, each value `%7s` with 2 decimals.
fn array_text(name: &str, v: &str) -> Option<String> {
    let values: Vec<&str> = v.split_whitespace().collect();
    if values.is_empty() || values.len() > 8 {
        return None;
    }
    let mut s = " ".repeat(11usize.saturating_sub(name.len()));
    for (i, x) in values.iter().enumerate() {
        if x.parse::<f64>().is_err() {
            return None;
        }
        if i > 0 {
            s.push(' ');
        }
        let r: String = round_decimal(x, 2).chars().take(7).collect();
        s.push_str(&format!("{r:>7}"));
    }
    Some(s)
}

/// Non-printable characters the way ntpq's `atoascii` shows them.
fn printable(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            c if (c as u32) < 0x20 => {
                out.push('^');
                out.push((c as u8 + 0x40) as char);
            }
            '\u{7f}' => out.push_str("^?"),
            c => out.push(c),
        }
    }
    out
}

/// Cook one variable (ntp.org `cookedprint`); `None` name lookup means "print raw".
/// `host_of` renders a source address (hostname unless -n).
pub fn cook(name: &str, value: &Value, host_of: &mut dyn FnMut(&str) -> String) -> String {
    let raw = value.raw();
    let bad = || format!("{}?", printable(raw));
    match name {
        "leap" => match value.as_i64() {
            Some(v @ 0..=3) => format!("{}{}", (v >> 1) & 1, v & 1),
            _ => bad(),
        },
        "reach" => match value.as_i64() {
            Some(v) if v >= 0 => format!("{v:03o}"),
            _ => bad(),
        },
        "reftime" | "clock" | "org" | "rec" | "xmt" => match value.as_timestamp() {
            Some(t) => pretty_date(t),
            None => bad(),
        },
        "flash" => match value.as_i64() {
            Some(v) if v >= 0 => flash_text(v as u64),
            _ => bad(),
        },
        "srcadr" | "peeradr" => match parse_addr(value.text()) {
            Some(_) => host_of(value.text()),
            None => bad(),
        },
        "dstadr" => match parse_addr(value.text()) {
            Some(_) => value.text().to_string(),
            None => bad(),
        },
        "filtdelay" | "filtoffset" | "filtdisp" | "filterror" => {
            array_text(name, value.text()).unwrap_or_else(bad)
        }
        _ => printable(raw),
    }
}

/// The `associations` table (ntp.org `printassoc`).
pub fn associations_table(list: &[Association], show_all: bool) -> String {
    use crate::wire::control::peer_flags::*;
    let mut out = String::from(
        "\nind assid status  conf reach auth condition  last_event cnt\n\
         ===========================================================\n",
    );
    for (i, a) in list.iter().enumerate() {
        let st = a.status;
        if !show_all && !st.has(CONFIG) && !st.has(REACH) {
            continue;
        }
        let conf = if st.has(CONFIG) { "yes" } else { "no" };
        let (reach, auth) = if st.has(BCAST) {
            ("none", if st.has(AUTHENABLE) { "yes" } else { "none" })
        } else {
            (
                if st.has(REACH) { "yes" } else { "no" },
                match (st.has(AUTHENABLE), st.has(AUTHENTIC)) {
                    (true, true) => "ok ",
                    (true, false) => "bad",
                    _ => "none",
                },
            )
        };
        let last_event = match st.event {
            1 => "mobilize",
            2 => "demobilize",
            3 => "unreachable",
            4 => "reachable",
            5 => "restart",
            6 => "no_reply",
            7 => "rate_exceeded",
            8 => "access_denied",
            9 => "leap_armed",
            10 => "sys_peer",
            11 => "clock_alarm",
            _ => "",
        };
        let line = format!(
            "{:3} {:5}  {:04x}   {:>3.3}  {:>4}  {:>4.4} {:>9.9} {:>11} {:2}",
            i + 1,
            a.id,
            st.encode(),
            conf,
            reach,
            auth,
            condition(st.select),
            last_event,
            st.event_count
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn condition(s: Select) -> &'static str {
    s.condition()
}

/// Label tables of `sysinfo` and `kerninfo` (ntp.org `collect_display_vdc`).
pub const SYSINFO: &[(&str, &str)] = &[
    ("peeradr", "system peer:      "),
    ("peermode", "system peer mode: "),
    ("leap", "leap indicator:   "),
    ("stratum", "stratum:          "),
    ("precision", "log2 precision:   "),
    ("rootdelay", "root delay:       "),
    ("rootdisp", "root dispersion:  "),
    ("refid", "reference ID:     "),
    ("reftime", "reference time:   "),
    ("sys_jitter", "system jitter:    "),
    ("clk_jitter", "clock jitter:     "),
    ("clk_wander", "clock wander:     "),
    ("bcastdelay", "broadcast delay:  "),
    ("authdelay", "symm. auth. delay:"),
];

pub const KERNINFO: &[(&str, &str)] = &[
    ("koffset", "pll offset:          "),
    ("kfreq", "pll frequency:       "),
    ("kmaxerr", "maximum error:       "),
    ("kesterr", "estimated error:     "),
    ("kstflags", "kernel status:       "),
    ("ktimeconst", "pll time constant:   "),
    ("kprecis", "precision:           "),
    ("kfreqtol", "frequency tolerance: "),
    ("kppsfreq", "pps frequency:       "),
    ("kppsstab", "pps stability:       "),
    ("kppsjitter", "pps jitter:          "),
    ("kppscalibdur", "calibration interval "),
    ("kppscalibs", "calibration cycles:  "),
    ("kppsjitexc", "jitter exceeded:     "),
    ("kppsstbexc", "stability exceeded:  "),
    ("kppscaliberrs", "calibration errors:  "),
];

/// ntp.org's `modetoa`.
pub fn mode_name(mode: i64) -> String {
    const NAMES: [&str; 8] = [
        "unspec",
        "sym_active",
        "sym_passive",
        "client",
        "server",
        "broadcast",
        "control",
        "private",
    ];
    match mode {
        0..=7 => NAMES[mode as usize].to_string(),
        8 => "bclient".into(),
        n => format!("mode#{n}"),
    }
}

/// One `label  value` line of a display table.
pub fn display_value(name: &str, value: &Value, host_of: &mut dyn FnMut(&str) -> String) -> String {
    match name {
        "peeradr" => host_of(value.text()),
        "peermode" => value
            .as_i64()
            .map(mode_name)
            .unwrap_or_else(|| value.text().into()),
        "leap" | "reftime" => cook(name, value, host_of),
        _ => value.text().to_string(),
    }
}

/// The `mrulist` table (ntp.org layout), newest first.
pub fn mru_table(list: &MruList, host_of: &mut dyn FnMut(&str) -> String) -> String {
    let mut out = String::from(
        "lstint avgint rstr r m v  count rport remote address\n\
         ==============================================================================\n",
    );
    let now = list.now.map(|t| t.seconds() as i64);
    let mut rows: Vec<_> = list.entries.iter().collect();
    rows.sort_by_key(|e| std::cmp::Reverse(e.last));
    for e in rows {
        let last = e.last.seconds() as i64;
        let lstint = now.map_or(0, |n| n - last);
        let avgint = if e.count > 0 {
            (last - e.first.seconds() as i64) / e.count as i64
        } else {
            0
        };
        let flag = if e.restrict & 0x400 != 0 {
            'K'
        } else if e.restrict & 0x20 != 0 {
            'L'
        } else {
            '.'
        };
        let (host, port) = match e.addr.rsplit_once(':') {
            Some((h, p)) => (h.trim_start_matches('[').trim_end_matches(']'), p),
            None => (e.addr.as_str(), "0"),
        };
        out.push_str(&format!(
            "{:6} {:6} {:4x} {} {} {} {:6} {:>5} {}\n",
            lstint,
            avgint,
            e.restrict & 0xffff,
            flag,
            e.mode_version & 7,
            (e.mode_version >> 3) & 7,
            e.count,
            port,
            host_of(host)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::control::PeerStatusWord;

    #[test]
    fn wrapping_matches_ntpq_output() {
        let mut w = Wrapped::default();
        for i in 0..10 {
            w.push(&format!("name{i}"), "0.123456");
        }
        let s = w.finish();
        assert!(s.lines().all(|l| l.len() <= 72), "{s}");
        assert!(s.starts_with("name0=0.123456, name1=0.123456, name2"));
        assert!(s.contains(",\n"));
    }

    #[test]
    fn cooking() {
        let mut h = |s: &str| s.to_string();
        assert_eq!(cook("leap", &Value("0".into()), &mut h), "00");
        assert_eq!(cook("leap", &Value("3".into()), &mut h), "11");
        assert_eq!(cook("reach", &Value("0xff".into()), &mut h), "377");
        assert_eq!(cook("flash", &Value("0x0".into()), &mut h), "00 ok");
        assert_eq!(
            cook("flash", &Value("0x400".into()), &mut h),
            "400 peer_dist"
        );
        assert_eq!(
            cook("filtdelay", &Value(" 0.51 0.52 1.234".into()), &mut h),
            "     0.51    0.52    1.23"
        );
        // NTPsec's garbage: shown raw with ntpq's `?` mark
        assert!(cook("filtdelay", &Value("0\u{fffd}h 0.04".into()), &mut h).ends_with('?'));
        let d = cook("reftime", &Value("0xeeb199a0.f1d74bec".into()), &mut h);
        assert!(d.starts_with("eeb199a0.f1d74bec  "), "{d}");
        assert!(d.contains(" 2026 "), "{d}");
    }

    #[test]
    fn associations_layout() {
        let list = vec![
            Association {
                id: 12345,
                status: PeerStatusWord::decode(0x961a),
            },
            Association {
                id: 12346,
                status: PeerStatusWord::decode(0x0000),
            },
        ];
        let t = associations_table(&list, false);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "");
        assert_eq!(lines[2].len(), 59);
        assert_eq!(
            lines[3],
            "  1 12345  961a   yes   yes  none  sys.peer    sys_peer  1"
        );
        assert_eq!(lines.len(), 4);
    }
}
