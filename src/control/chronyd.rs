//! chronyd's cmdmon answers seen through ntpq's and ntpstat's eyes: sources become peer
//! rows and associations, tracking becomes the system variables, so the 4.2.8 layouts in
//! `peers`/`cooked` render a chronyd host like any mode 6 daemon. The mapping (and why)
//! is in docs/chronyd.md.
//!
//! Sign conventions differ: chronyd's sample offsets are the local clock minus the source
//! (positive: local fast), ntpq's are the source minus the local clock; chronyd's
//! frequency is the clock's own error (positive: fast), ntpd's the correction applied.

use super::cmdmon::{self, Client, Endpoint};
use super::peers::PeerRow;
use crate::wire::cmdmon::{
    Addr, NtpData, SourceData, SourceMode, SourceState, SourceStats, Status, Tracking,
};
use crate::wire::control::{peer_flags, PeerStatusWord, Select, SystemStatusWord, Value, VarList};
use crate::wire::time::{NtpTimestamp, UnixTime};
use std::net::IpAddr;

/// chronyd's reference id for its own `local` clock ("LOCL" would be 0x4C4F434C; chronyd
/// uses 127.127.1.1 like ntpd's LOCAL driver).
pub const LOCAL_REFID: u32 = 0x7f7f_0101;

/// One source with what else chronyd tells about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Source {
    pub index: u32,
    pub data: SourceData,
    pub stats: Option<SourceStats>,
    /// Only over the Unix socket (chronyd refuses NTP_DATA over UDP).
    pub ntp: Option<NtpData>,
}

impl Source {
    /// The association id ntpq shows: chronyd has none, so the 1-based index.
    pub fn assid(&self) -> u16 {
        self.index.saturating_add(1).min(u32::from(u16::MAX)) as u16
    }

    pub fn peer_status(&self) -> PeerStatusWord {
        PeerStatusWord {
            flags: peer_flags::CONFIG
                | if self.data.reach & 0xff != 0 {
                    peer_flags::REACH
                } else {
                    0
                },
            select: select_of(self.data.state),
            event_count: 0,
            event: 0,
        }
    }
}

/// chronyd's source state as ntpq's select code: `*` selected, `+` combined, `-` not
/// combined, `x` falseticker, `~` too variable → `-`, `?` unusable → ` `.
pub fn select_of(state: SourceState) -> Select {
    match state {
        SourceState::Selected => Select::SysPeer,
        SourceState::Selectable => Select::Candidate,
        SourceState::Unselected | SourceState::Jittery => Select::Outlier,
        SourceState::Falseticker => Select::Falsetick,
        SourceState::NonSelectable | SourceState::Unknown(_) => Select::Reject,
    }
}

/// Every source, with its statistics and (over the Unix socket) its NTP data: three
/// round trips whatever the number of sources (the count, then data and statistics of
/// all at once, then the NTP data of all at once).
/// `known`: a count just read (the detection's N_SOURCES), saving that round trip.
pub fn fetch_sources(client: &mut Client, known: Option<u32>) -> cmdmon::Result<Vec<Source>> {
    use crate::wire::cmdmon::{ReplyBody, Request};
    let n = match known {
        Some(n) => n,
        None => client.n_sources()?,
    }
    .min(MAX_SOURCES);
    let reqs: Vec<Request> = (0..n)
        .flat_map(|i| [Request::SourceData(i), Request::SourceStats(i)])
        .collect();
    let mut replies = client.request_many(&reqs)?.into_iter();
    let mut out = Vec::with_capacity(n as usize);
    for index in 0..n {
        let (data, stats) = (replies.next(), replies.next());
        let data = match data {
            Some(Ok(ReplyBody::SourceData(d))) => d,
            // the list changed under us (a source removed): show what there is
            Some(Err(e)) if e.status() == Some(Status::NOSUCHSOURCE) => break,
            Some(Err(e)) => return Err(e),
            _ => return Err(unexpected(client, Request::SourceData(index))),
        };
        let stats = match stats {
            Some(Ok(ReplyBody::SourceStats(s))) => Some(s),
            _ => None,
        };
        out.push(Source {
            index,
            data,
            stats,
            ntp: None,
        });
    }
    // chronyd refuses NTP_DATA over UDP: do not ask
    if matches!(client.endpoint(), Endpoint::Unix(_)) {
        let wanted: Vec<(usize, IpAddr)> = out
            .iter()
            .enumerate()
            .filter(|(_, s)| s.data.mode != SourceMode::RefClock)
            .filter_map(|(i, s)| s.data.addr.ip().map(|a| (i, a)))
            .collect();
        let reqs: Vec<Request> = wanted.iter().map(|&(_, a)| Request::NtpData(a)).collect();
        for ((i, _), r) in wanted.iter().zip(client.request_many(&reqs)?) {
            if let Ok(ReplyBody::NtpData(d)) = r {
                out[*i].ntp = Some(d);
            }
        }
    }
    Ok(out)
}

/// More sources than chronyd allows is a reply not to trust.
const MAX_SOURCES: u32 = 4096;

fn unexpected(client: &Client, req: crate::wire::cmdmon::Request) -> cmdmon::Error {
    cmdmon::Error::Unexpected(client.endpoint().to_string(), req.command())
}

/// A reference id as text: printable ASCII (a refclock's or kiss code), else dotted quad.
pub fn refid_text(id: u32) -> String {
    let b = id.to_be_bytes();
    let end = b.iter().position(|&c| c == 0).unwrap_or(4);
    if end > 0 && b[..end].iter().all(|c| c.is_ascii_graphic()) && b[end..].iter().all(|&c| c == 0)
    {
        return String::from_utf8_lossy(&b[..end]).into_owned();
    }
    std::net::Ipv4Addr::from(id).to_string()
}

/// The remote column for a source without a name lookup (refclocks by their refid).
fn remote_of(data: &SourceData) -> String {
    match (data.mode, data.addr) {
        (SourceMode::RefClock, Addr::Ip(IpAddr::V4(v4))) => refid_text(u32::from(v4)),
        (_, Addr::Ip(ip)) => ip.to_string(),
        (_, Addr::Id(n)) => format!("unresolved#{n}"),
        (_, Addr::Unspec) => "0.0.0.0".into(),
    }
}

fn ms(seconds: f64) -> String {
    // + 0.0: no "-0.000" for a source never measured
    format!("{:.6}", seconds * 1e3 + 0.0)
}

/// What ntpq's refid column shows for a source: its server's reference as ntpd prints
/// it (`.GPS.` at stratum 0/1, an address above); `-` when chronyd did not say.
fn source_refid(src: &Source) -> String {
    if src.data.mode == SourceMode::RefClock {
        return format!(".{}.", remote_of(&src.data));
    }
    match &src.ntp {
        Some(n) if n.stratum >= 16 || n.ref_id == 0 => ".INIT.".into(),
        Some(n) if n.stratum <= 1 => format!(".{}.", refid_text(n.ref_id)),
        Some(n) => std::net::Ipv4Addr::from(n.ref_id).to_string(),
        None => "-".into(),
    }
}

/// A source as a row of ntpq's peers table. `name_of` resolves addresses (or not, `-n`).
pub fn peer_row(src: &Source, name_of: &mut dyn FnMut(IpAddr) -> String) -> PeerRow {
    let d = &src.data;
    let remote = match (d.mode, d.addr) {
        (SourceMode::RefClock, _) => remote_of(d),
        (_, Addr::Ip(ip)) => name_of(ip),
        _ => remote_of(d),
    };
    let status = src.peer_status();
    PeerRow {
        assid: src.assid(),
        status: status.encode(),
        tally: status.tally(),
        remote,
        srcadr: remote_of(d),
        srcport: match d.mode {
            SourceMode::RefClock => None,
            _ => Some(src.ntp.as_ref().map_or(123, |n| n.remote_port)),
        },
        refid: source_refid(src),
        dstadr: src
            .ntp
            .as_ref()
            .and_then(|n| n.local_addr.ip())
            .map_or_else(|| "0.0.0.0".into(), |a| a.to_string()),
        stratum: i64::from(d.stratum),
        kind: match d.mode {
            SourceMode::Client => 'u',
            SourceMode::Peer => 's',
            SourceMode::RefClock => 'l',
            SourceMode::Unknown(_) => '-',
        },
        when: (d.since_sample != u32::MAX).then_some(i64::from(d.since_sample)),
        poll: 1i64 << i64::from(d.poll).clamp(0, 62),
        reach: u32::from(d.reach & 0xff),
        delay: src
            .ntp
            .as_ref()
            .map_or_else(|| "-".into(), |n| ms(n.peer_delay)),
        offset: ms(-d.orig_latest_meas),
        // chronyd's deviation of no samples is a placeholder (4 s); ntpd shows 0 there
        jitter: match &src.stats {
            Some(s) if s.n_samples == 0 => ms(0.0),
            Some(s) => ms(s.sd),
            None => "-".into(),
        },
        dispersion: ms(d.latest_meas_err),
        asym: src.ntp.as_ref().map(|n| asym_text(n.jitter_asymmetry)),
    }
}

/// chronyd's "Jitter asymmetry" as ntpkit's peer variable `asym`: the same quantity with
/// the sign of ntpd's offset (chronyd's negative is a request leg that varies more, ours a
/// reply leg: its offsets are the other way round, as `offset` above).
fn asym_text(jitter_asymmetry: f64) -> String {
    let a = if jitter_asymmetry.is_finite() {
        (-jitter_asymmetry * 1e3).round() / 1e3 + 0.0
    } else {
        0.0
    };
    format!("{a:.3}")
}

/// The associations list (`ntpq -c as`).
pub fn associations(sources: &[Source]) -> Vec<super::client::Association> {
    sources
        .iter()
        .map(|s| super::client::Association {
            id: s.assid(),
            status: s.peer_status(),
        })
        .collect()
}

fn timestamp(t: crate::wire::cmdmon::Timespec) -> NtpTimestamp {
    if t.secs == 0 && t.nanos == 0 {
        return NtpTimestamp::ZERO;
    }
    NtpTimestamp::from_unix(UnixTime {
        secs: t.secs,
        nanos: t.nanos.min(999_999_999),
    })
}

fn var(name: &str, text: String) -> (String, Value) {
    (name.to_string(), Value(text))
}

/// The selected source, if any.
pub fn selected(sources: &[Source]) -> Option<&Source> {
    sources
        .iter()
        .find(|s| s.data.state == SourceState::Selected)
}

/// ntpd's `tc` for chronyd: the selected source's poll, else the shortest of any source.
pub fn system_poll(sources: &[Source]) -> Option<i16> {
    selected(sources)
        .map(|s| s.data.poll)
        .or_else(|| sources.iter().map(|s| s.data.poll).min())
}

/// The system status word ntpd would send in chronyd's state.
pub fn system_status(t: &Tracking) -> u16 {
    SystemStatusWord {
        leap: if t.leap > 3 { 3 } else { t.leap as u8 },
        source: clock_source(t),
        event_count: 0,
        event: 0,
    }
    .encode()
}

/// The clock source code of ntpd's status word (ntpstat names it): 6 an NTP server,
/// 5 the local clock, 0 anything else (a refclock, or none).
pub fn clock_source(t: &Tracking) -> u8 {
    if t.leap >= 3 {
        0
    } else if t.addr.ip().is_some() {
        6
    } else if t.ref_id == LOCAL_REFID {
        5
    } else {
        0
    }
}

/// `ntpq -c rv` for chronyd: tracking in ntpd's variable names and units.
pub fn system_vars(t: &Tracking, sources: &[Source], now: NtpTimestamp) -> (u16, VarList) {
    let refid = if t.addr.ip().is_some() {
        // ntpd shows an IPv6 reference as its 32-bit refid too
        std::net::Ipv4Addr::from(t.ref_id).to_string()
    } else if t.ref_id == 0 {
        "INIT".into()
    } else {
        refid_text(t.ref_id)
    };
    let mut v = vec![
        var("version", "\"chronyd (cmdmon)\"".into()),
        var("leap", t.leap.min(3).to_string()),
        var("stratum", t.stratum.to_string()),
        var("rootdelay", format!("{:.3}", t.root_delay * 1e3)),
        var("rootdisp", format!("{:.3}", t.root_dispersion * 1e3)),
        var("refid", refid),
        var("reftime", timestamp(t.ref_time).to_hex_string()),
        var("clock", now.to_hex_string()),
    ];
    if let Some(s) = selected(sources) {
        v.push(var("peer", s.assid().to_string()));
    }
    if let Some(p) = system_poll(sources) {
        v.push(var("tc", p.to_string()));
    }
    v.extend([
        // positive: the clock is behind, as ntpd's offset
        var("offset", format!("{:.6}", t.current_correction * 1e3)),
        var("frequency", format!("{:.3}", -t.freq_ppm)),
        var("sys_jitter", format!("{:.6}", t.rms_offset * 1e3)),
        var("clk_wander", format!("{:.3}", t.skew_ppm)),
        var("rootdist", format!("{:.3}", root_distance_ms(t))),
    ]);
    (system_status(t), v)
}

/// `ntpq -c "rv ASSID"` for chronyd: a source's variables in ntpd's names.
pub fn peer_vars(src: &Source) -> (u16, VarList) {
    let d = &src.data;
    let mut v = vec![var("srcadr", remote_of(d))];
    if let Some(port) = peer_row(src, &mut |a| a.to_string()).srcport {
        v.push(var("srcport", port.to_string()));
    }
    if let Some(n) = &src.ntp {
        if let Some(a) = n.local_addr.ip() {
            v.push(var("dstadr", a.to_string()));
        }
        v.push(var("leap", n.leap.min(3).to_string()));
    }
    v.push(var("stratum", d.stratum.to_string()));
    if let Some(n) = &src.ntp {
        v.push(var("precision", n.precision.to_string()));
        v.push(var("rootdelay", format!("{:.3}", n.root_delay * 1e3)));
        v.push(var("rootdisp", format!("{:.3}", n.root_dispersion * 1e3)));
    }
    let refid = source_refid(src);
    v.push(var("refid", refid.trim_matches('.').to_string()));
    if let Some(n) = &src.ntp {
        v.push(var("reftime", timestamp(n.ref_time).to_hex_string()));
    }
    v.push(var("reach", format!("0x{:x}", d.reach & 0xff)));
    v.push(var(
        "hmode",
        match d.mode {
            SourceMode::Peer => "1",
            _ => "3",
        }
        .into(),
    ));
    v.push(var("hpoll", d.poll.to_string()));
    if let Some(n) = &src.ntp {
        v.push(var("ppoll", n.poll.to_string()));
        v.push(var("delay", ms(n.peer_delay)));
    }
    v.push(var("offset", ms(-d.orig_latest_meas)));
    v.push(var("dispersion", format!("{:.3}", d.latest_meas_err * 1e3)));
    if let Some(s) = &src.stats {
        v.push(var("jitter", ms(s.sd)));
    }
    if let Some(n) = &src.ntp {
        v.push(var("asym", asym_text(n.jitter_asymmetry)));
    }
    (src.peer_status().encode(), v)
}

/// chronyc's (and RHEL ntpstat's) bound on the clock's error: half the root delay, the
/// root dispersion and what is still to be corrected, in ms.
pub fn root_distance_ms(t: &Tracking) -> f64 {
    (t.root_delay / 2.0 + t.root_dispersion + t.current_correction.abs()) * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chronyds_jitter_asymmetry_takes_ntpds_sign() {
        // chronyd: positive = the reply leg varies more; ours: negative
        assert_eq!(asym_text(0.4871), "-0.487");
        assert_eq!(asym_text(-0.3), "0.300");
        assert_eq!(asym_text(0.0), "0.000");
        assert_eq!(asym_text(-0.0), "0.000");
        assert_eq!(asym_text(0.0004), "0.000");
        assert_eq!(asym_text(f64::NAN), "0.000");
    }

    fn data(state: SourceState, reach: u16) -> SourceData {
        SourceData {
            addr: Addr::Ip("198.18.0.1".parse().unwrap()),
            poll: 6,
            stratum: 2,
            state,
            mode: SourceMode::Client,
            flags: 0,
            reach,
            since_sample: 33,
            orig_latest_meas: -0.0025,
            latest_meas: -0.0025,
            latest_meas_err: 0.0001,
        }
    }

    #[test]
    fn states_map_to_ntpq_tally_codes() {
        let tally = |st| select_of(st).tally();
        assert_eq!(tally(SourceState::Selected), '*');
        assert_eq!(tally(SourceState::Selectable), '+');
        assert_eq!(tally(SourceState::Unselected), '-');
        assert_eq!(tally(SourceState::Jittery), '-');
        assert_eq!(tally(SourceState::Falseticker), 'x');
        assert_eq!(tally(SourceState::NonSelectable), ' ');
    }

    #[test]
    fn a_source_renders_in_the_428_layout() {
        let src = Source {
            index: 0,
            data: data(SourceState::Selected, 0o377),
            stats: Some(SourceStats {
                ref_id: 0,
                addr: Addr::Unspec,
                n_samples: 8,
                n_runs: 4,
                span_seconds: 400,
                sd: 0.000_123_4,
                resid_freq_ppm: 0.0,
                skew_ppm: 0.1,
                est_offset: 0.0,
                est_offset_err: 0.0,
            }),
            ntp: None,
        };
        let row = peer_row(&src, &mut |a| a.to_string());
        let line = super::super::peers::render_row(
            &row,
            super::super::peers::PeerTable::Peers,
            false,
            None,
            false,
        );
        assert_eq!(
            line,
            "*198.18.0.1      -                2 u   33   64  377        -    2.500   0.123"
        );
        assert_eq!(line.len(), super::super::peers::RULE_WIDTH);
    }

    #[test]
    fn association_ids_saturate() {
        // found by fuzz/fuzz_targets/cmdmon.rs: index + 1 overflowed
        let src = Source {
            index: u32::MAX,
            data: data(SourceState::Selected, 1),
            stats: None,
            ntp: None,
        };
        assert_eq!(src.assid(), u16::MAX);
    }

    #[test]
    fn refids() {
        assert_eq!(refid_text(0x4750_5300), "GPS");
        assert_eq!(refid_text(0x5050_5330), "PPS0");
        assert_eq!(refid_text(0xc612_0001), "198.18.0.1");
        assert_eq!(refid_text(LOCAL_REFID), "127.127.1.1");
    }
}
