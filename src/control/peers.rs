//! The peers table of ntpq in ntp.org 4.2.8's layout (`dopeers`/`doprintpeers`), built
//! from the default READVAR reply of each association.

use crate::wire::control::{lookup, PeerStatusWord, Value};
use crate::wire::time::NtpTimestamp;
use serde::Serialize;
use std::net::IpAddr;

/// Which flavour of the table (`peers`, `opeers`, `apeers`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerTable {
    /// refid column, jitter
    Peers,
    /// local address column, dispersion
    Old,
    /// narrow refid plus association id
    Assoc,
}

pub const RULE_WIDTH: usize = 78;

pub fn header(table: PeerTable) -> &'static str {
    match table {
        PeerTable::Peers => {
            "     remote           refid      st t when poll reach   delay   offset  jitter"
        }
        PeerTable::Old => {
            "     remote           local      st t when poll reach   delay   offset    disp"
        }
        PeerTable::Assoc => {
            "     remote       refid   assid  st t when poll reach   delay   offset  jitter"
        }
    }
}

/// One association, parsed (what `--json` prints; the text row is rendered from it).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PeerRow {
    pub assid: u16,
    pub status: u16,
    pub tally: char,
    pub remote: String,
    pub srcadr: String,
    pub srcport: Option<u16>,
    pub refid: String,
    pub dstadr: String,
    pub stratum: i64,
    #[serde(rename = "type")]
    pub kind: char,
    /// Seconds since the last packet (`None` if never).
    pub when: Option<i64>,
    pub poll: i64,
    pub reach: u32,
    /// The decimal text the daemon sent, in ms (kept as text for exact rounding).
    pub delay: String,
    pub offset: String,
    pub jitter: String,
    pub dispersion: String,
    /// The jitter asymmetry the daemon corrects this source by (`asym`, ntpkit's and, from
    /// chronyd's "Jitter asymmetry", chronyd's), as sent; absent when the daemon has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asym: Option<String>,
}

/// Refclock type names of ntp.org's `clocktypes[]` for `127.127.t.u` remotes.
fn refclock_name(kind: u8) -> Option<&'static str> {
    Some(match kind {
        1 => "LOCAL",
        3 => "WWV_PST",
        4 => "WWVB_SPEC",
        5 => "TRUETIME",
        6 => "IRIG_AUDIO",
        7 => "CHU_AUDIO",
        8 => "GENERIC",
        9 => "GPS_MX4200",
        10 => "GPS_AS2201",
        11 => "GPS_ARBITER",
        12 => "IRIG_TPRO",
        13 => "ATOM_LEITCH",
        14 => "MSF_EES",
        16 => "GPS_BANC",
        17 => "GPS_DATUM",
        18 => "ACTS_MODEM",
        19 => "WWV_HEATH",
        20 => "GPS_NMEA",
        21 => "GPS_VME",
        22 => "PPS",
        26 => "GPS_HP",
        27 => "MSF_ARCRON",
        28 => "SHM",
        29 => "GPS_PALISADE",
        30 => "GPS_ONCORE",
        31 => "GPS_JUPITER",
        32 => "CHRONOLOG",
        33 => "DUMBCLOCK",
        34 => "ULINK_M320",
        35 => "PCF",
        36 => "WWV_AUDIO",
        37 => "GPS_FG",
        38 => "HOPF_S",
        39 => "HOPF_P",
        40 => "JJY",
        41 => "TT_IRIG",
        42 => "GPS_ZYFER",
        43 => "GPS_RIPENCC",
        44 => "NEOCLK4X",
        45 => "PCI_TSYNC",
        46 => "GPSD_JSON",
        _ => return None,
    })
}

/// `127.127.t.u` → `NAME(u)` (ntp.org's `refnumtoa`).
pub fn refclock_display(addr: &IpAddr) -> Option<String> {
    match addr {
        IpAddr::V4(v4) if v4.octets()[0] == 127 && v4.octets()[1] == 127 => {
            let [_, _, t, u] = v4.octets();
            Some(match refclock_name(t) {
                Some(n) => format!("{n}({u})"),
                None => format!("REFCLK({t},{u})"),
            })
        }
        _ => None,
    }
}

fn is_refclock(addr: Option<IpAddr>) -> bool {
    matches!(addr, Some(IpAddr::V4(v)) if v.octets()[0] == 127 && v.octets()[1] == 127)
}

/// Parse an address as ntpd prints it (`a.b.c.d`, `a.b.c.d:port`, `[v6]:port`, `v6`).
pub fn parse_addr(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(a) = s.parse() {
        return Some(a);
    }
    if let Some(r) = s.strip_prefix('[') {
        return r.split_once(']').and_then(|(a, _)| a.parse().ok());
    }
    s.rsplit_once(':').and_then(|(a, _)| a.parse().ok())
}

/// The `t` column (ntp.org: from hmode, else from the addresses; NTPsec: the cookies held
/// by an NTS client association, `ntscookies`).
fn type_char(
    hmode: Option<i64>,
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    ntscookies: Option<i64>,
) -> char {
    let unspecified = src.is_none_or(|a| a.is_unspecified());
    let mcast = src.is_some_and(|a| a.is_multicast());
    match hmode {
        Some(1) => 's',
        Some(2) => 'S',
        Some(3) if is_refclock(src) => 'l',
        Some(3) if unspecified => 'p',
        Some(3) if mcast => 'a',
        Some(3) => match ntscookies {
            Some(n) if n >= 0 => char::from_digit(n.min(9) as u32, 10).unwrap_or('9'),
            _ => 'u',
        },
        Some(5) if mcast => 'M',
        Some(5) => 'B',
        Some(6) => 'b',
        _ if is_refclock(src) => 'l',
        _ if dst.is_some_and(|a| a.is_multicast()) => 'm',
        _ if hmode.is_some() => '-',
        _ => 'u',
    }
}

/// Build a row from an association's default variables. `name_of` turns an address into
/// what the remote column shows (hostname or numeric); `now` is the local time.
pub fn row_from_vars(
    assid: u16,
    status: u16,
    vars: &[(String, Value)],
    now: NtpTimestamp,
    name_of: &mut dyn FnMut(IpAddr) -> String,
) -> PeerRow {
    let get = |n: &str| lookup(vars, n);
    let int = |n: &str| get(n).and_then(Value::as_i64);
    let text = |n: &str| {
        get(n)
            .map(|v| v.text().trim().to_string())
            .unwrap_or_default()
    };
    let srcadr_text = text("srcadr");
    let src = parse_addr(&srcadr_text);
    let dst = parse_addr(&text("dstadr"));
    let remote = match get("srchost") {
        Some(h) if !h.text().is_empty() => h.text().to_string(),
        _ => match src {
            Some(a) => name_of(a),
            None => srcadr_text.clone(),
        },
    };
    let refid_raw = text("refid");
    let refid = if refid_raw.is_empty() {
        String::new()
    } else if refid_raw.len() <= 4 {
        format!(".{refid_raw}.")
    } else {
        refid_raw
    };
    let hpoll = int("hpoll").unwrap_or(0);
    let ppoll = int("ppoll").unwrap_or(0);
    let poll_exp = hpoll.min(ppoll).clamp(0, 62);
    let ts = |n: &str| {
        get(n)
            .and_then(Value::as_timestamp)
            .filter(|t| t.seconds() != 0)
    };
    let when = ts("rec").or_else(|| ts("reftime")).map(|last| {
        if now.seconds() < last.seconds() {
            -1
        } else {
            (now.seconds() - last.seconds()) as i64
        }
    });
    let ms = |n: &str| {
        get(n)
            .map(|v| v.text().trim().to_string())
            .unwrap_or_default()
    };
    let jitter = get("jitter").map(|v| v.text().trim().to_string());
    PeerRow {
        assid,
        status,
        tally: PeerStatusWord::decode(status).tally(),
        remote,
        srcadr: srcadr_text,
        srcport: int("srcport").map(|p| p as u16),
        refid,
        dstadr: text("dstadr"),
        stratum: int("stratum").unwrap_or(0),
        kind: type_char(int("hmode"), src, dst, int("ntscookies")),
        when,
        poll: 1i64 << poll_exp,
        reach: int("reach").unwrap_or(0) as u32,
        delay: ms("delay"),
        offset: ms("offset"),
        jitter: jitter.unwrap_or_else(|| ms("dispersion")),
        dispersion: ms("dispersion"),
        asym: get("asym").map(|v| v.text().trim().to_string()),
    }
}

/// ntp.org's `prettyinterval`: seconds, then minutes, hours, days, each rounded.
pub fn pretty_interval(secs: Option<i64>) -> String {
    let Some(mut d) = secs.filter(|&s| s > 0) else {
        return "-".into();
    };
    if d <= 2048 {
        return d.to_string();
    }
    d = (d + 29) / 60;
    if d <= 300 {
        return format!("{d}m");
    }
    d = (d + 29) / 60;
    if d <= 96 {
        return format!("{d}h");
    }
    format!("{}d", (d + 11) / 24)
}

/// Round a decimal number given as text to `places` decimals, half away from zero, exactly
/// (no binary float in between, like ntpq's l_fp arithmetic). Unparseable → as is.
pub fn round_decimal(text: &str, places: usize) -> String {
    let t = text.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return text.to_string();
    }
    // all digits as one integer scaled by 10^places, plus the rounding digit
    let mut kept: Vec<u8> = int.bytes().map(|b| b - b'0').collect();
    if kept.is_empty() {
        kept.push(0);
    }
    let fb: Vec<u8> = frac.bytes().map(|b| b - b'0').collect();
    for i in 0..places {
        kept.push(*fb.get(i).unwrap_or(&0));
    }
    if fb.get(places).is_some_and(|&d| d >= 5) {
        let mut i = kept.len();
        loop {
            if i == 0 {
                kept.insert(0, 1);
                break;
            }
            i -= 1;
            if kept[i] == 9 {
                kept[i] = 0;
            } else {
                kept[i] += 1;
                break;
            }
        }
    }
    let split = kept.len() - places;
    let mut int_part: String = kept[..split].iter().map(|d| (b'0' + d) as char).collect();
    let trimmed = int_part.trim_start_matches('0');
    int_part = if trimmed.is_empty() {
        "0".into()
    } else {
        trimmed.into()
    };
    let frac_part: String = kept[split..].iter().map(|d| (b'0' + d) as char).collect();
    let sign = if neg { "-" } else { "" };
    if places == 0 {
        format!("{sign}{int_part}")
    } else {
        format!("{sign}{int_part}.{frac_part}")
    }
}

/// C's `%W.Ps` for ASCII: truncate to P, right-align in W.
fn trunc_right(s: &str, width: usize, precision: usize) -> String {
    let t: String = s.chars().take(precision).collect();
    format!("{t:>width$}")
}

/// Render one row as ntp.org 4.2.8 prints it. `wide`: long remote names get their own line.
/// `host_column` is the `server` prefix used when several hosts are queried.
pub fn render_row(
    row: &PeerRow,
    table: PeerTable,
    wide: bool,
    host_column: Option<(&str, usize)>,
    color: bool,
) -> String {
    use owo_colors::OwoColorize;
    let mut out = String::new();
    let tally = if color {
        match row.tally {
            '*' | 'o' => row.tally.green().bold().to_string(),
            '+' => row.tally.cyan().to_string(),
            'x' => row.tally.red().bold().to_string(),
            '-' | '.' | '#' => row.tally.yellow().to_string(),
            c => c.to_string(),
        }
    } else {
        row.tally.to_string()
    };
    if let Some((host, width)) = host_column {
        out.push_str(&format!("{host:<width$} "));
    }
    if wide && row.remote.chars().count() > 15 {
        out.push_str(&format!("{tally}{}\n", row.remote));
        let indent = 17 + host_column.map_or(0, |(_, w)| w + 1);
        out.push_str(&" ".repeat(indent));
    } else {
        let remote: String = row.remote.chars().take(15).collect();
        out.push_str(&format!("{tally}{remote:<15} "));
    }
    let (refcol, last) = match table {
        PeerTable::Old => (row.dstadr.as_str(), row.dispersion.as_str()),
        _ => (row.refid.as_str(), row.jitter.as_str()),
    };
    out.push_str(refcol);
    let pad = if table == PeerTable::Assoc { 9 } else { 15 };
    for _ in refcol.chars().count()..pad {
        out.push(' ');
    }
    if table == PeerTable::Assoc {
        out.push_str(&format!("{:<6}", row.assid));
    }
    let reach = format!("{:>3o}", row.reach);
    let reach = match (color, row.reach & 0xff) {
        (false, _) => reach,
        (true, 0xff) => reach.green().to_string(),
        (true, 0) => reach.red().to_string(),
        (true, _) => reach.yellow().to_string(),
    };
    out.push_str(&format!(
        " {:>2} {} {:>4} {:>4}  {reach}  {} {} {}",
        row.stratum,
        row.kind,
        trunc_right(&pretty_interval(row.when), 4, 4),
        trunc_right(&pretty_interval(Some(row.poll)), 4, 4),
        trunc_right(&round_decimal(&row.delay, 3), 7, 7),
        trunc_right(&round_decimal(&row.offset, 3), 8, 7),
        trunc_right(&round_decimal(last, 3), 7, 7),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::control::decode_vars;

    #[test]
    fn nts_associations_show_their_cookies_as_ntpsec_does() {
        let lan: Option<IpAddr> = "198.18.0.1".parse().ok();
        assert_eq!(type_char(Some(3), lan, None, Some(8)), '8');
        assert_eq!(type_char(Some(3), lan, None, Some(0)), '0');
        assert_eq!(type_char(Some(3), lan, None, None), 'u');
        // a pool row stays a pool row
        let any: Option<IpAddr> = "0.0.0.0".parse().ok();
        assert_eq!(type_char(Some(3), any, None, Some(8)), 'p');
    }

    #[test]
    fn intervals_match_prettyinterval() {
        assert_eq!(pretty_interval(None), "-");
        assert_eq!(pretty_interval(Some(0)), "-");
        assert_eq!(pretty_interval(Some(64)), "64");
        assert_eq!(pretty_interval(Some(2048)), "2048");
        assert_eq!(pretty_interval(Some(4096)), "68m");
        assert_eq!(pretty_interval(Some(65536)), "18h");
        assert_eq!(pretty_interval(Some(400_000)), "5d");
    }

    #[test]
    fn decimals_round_half_away_from_zero() {
        assert_eq!(round_decimal("0.041313", 3), "0.041");
        assert_eq!(round_decimal("-0.0345", 3), "-0.035");
        assert_eq!(round_decimal("0.9995", 3), "1.000");
        assert_eq!(round_decimal("12345.6789", 3), "12345.679");
        assert_eq!(round_decimal("-0.0001", 3), "-0.000");
        assert_eq!(round_decimal("5", 3), "5.000");
        assert_eq!(round_decimal("junk", 3), "junk");
        assert_eq!(
            trunc_right(&round_decimal("-23079.4567", 3), 8, 7),
            " -23079."
        );
    }

    #[test]
    fn row_from_ntpsec_peer_vars_matches_ntpq_layout() {
        let vars = decode_vars(
            b"srcadr=198.18.0.1, srcport=123, dstadr=198.18.0.2, dstport=123, leap=0,\r\n\
              hmode=3, stratum=5, ppoll=99, hpoll=3, refid=127.0.0.1, reftime=0x00000000.00000000,\r\n\
              rec=0xeeb199a0.f1d74bec, reach=0xff, delay=0.041313, offset=-0.013011, jitter=0.002849",
        );
        let now = NtpTimestamp::from_parts(0xeeb199a0 + 33, 0);
        let row = row_from_vars(17767, 0x961a, &vars, now, &mut |a| a.to_string());
        let line = render_row(&row, PeerTable::Peers, false, None, false);
        assert_eq!(
            line,
            "*198.18.0.1      127.0.0.1        5 u   33    8  377    0.041   -0.013   0.003"
        );
        assert_eq!(line.len(), RULE_WIDTH);
        assert_eq!(header(PeerTable::Peers).len(), RULE_WIDTH);
        let a = render_row(&row, PeerTable::Assoc, false, None, false);
        // ntp.org pads the refid to 9 columns but never truncates it
        assert!(
            a.starts_with("*198.18.0.1      127.0.0.117767   5 u"),
            "{a}"
        );
    }

    #[test]
    fn asym_goes_to_the_json_row_only() {
        let text = b"srcadr=198.18.0.1, hmode=3, stratum=2, refid=LOCL, hpoll=0, ppoll=0,\r\n\
              reach=0xff, delay=0.016, offset=-0.005, jitter=0.002, asym=-0.487";
        let vars = decode_vars(text);
        let row = row_from_vars(1, 0x961a, &vars, NtpTimestamp(0), &mut |a| a.to_string());
        assert_eq!(row.asym.as_deref(), Some("-0.487"));
        let json = serde_json::to_value(&row).unwrap();
        assert_eq!(json["asym"], "-0.487");
        // the peers table is NTPsec's, byte for byte: no column for it
        let without: Vec<_> = vars.iter().filter(|v| v.0 != "asym").cloned().collect();
        let plain = row_from_vars(1, 0x961a, &without, NtpTimestamp(0), &mut |a| a.to_string());
        assert_eq!(plain.asym, None);
        assert!(serde_json::to_value(&plain).unwrap().get("asym").is_none());
        for table in [PeerTable::Peers, PeerTable::Old, PeerTable::Assoc] {
            assert_eq!(
                render_row(&row, table, false, None, false),
                render_row(&plain, table, false, None, false)
            );
        }
    }

    #[test]
    fn pool_and_refclock_rows() {
        let vars = decode_vars(
            b"srcadr=0.0.0.0, srchost=\"0.pool.ntp.org\", hmode=3, stratum=16, refid=POOL, hpoll=6, ppoll=6, reach=0x0, delay=0.000, offset=0.000, jitter=0.000",
        );
        let row = row_from_vars(1, 0x8811, &vars, NtpTimestamp(0), &mut |a| a.to_string());
        assert_eq!(
            render_row(&row, PeerTable::Peers, false, None, false),
            " 0.pool.ntp.org  .POOL.          16 p    -   64    0    0.000    0.000   0.000"
        );
        // -w: a long name gets its own line, the columns continue below it
        let mut long = row.clone();
        long.remote = "ntp1.example-long-name.org".into();
        let wide = render_row(&long, PeerTable::Peers, true, None, false);
        let (first, second) = wide.split_once('\n').unwrap();
        assert_eq!(first, " ntp1.example-long-name.org");
        assert!(
            second.starts_with(&format!("{}.POOL.", " ".repeat(17))),
            "{wide}"
        );
        let narrow = render_row(&long, PeerTable::Peers, false, None, false);
        assert!(narrow.starts_with(" ntp1.example-lo .POOL."), "{narrow}");
        // several hosts: the server column first
        let multi = render_row(&row, PeerTable::Peers, false, Some(("127.0.0.1", 9)), false);
        assert!(
            multi.starts_with("127.0.0.1  0.pool.ntp.org  .POOL."),
            "{multi}"
        );
        let addr: IpAddr = "127.127.1.0".parse().unwrap();
        assert_eq!(refclock_display(&addr).as_deref(), Some("LOCAL(0)"));
    }
}
