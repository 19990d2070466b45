//! A snapshot of the daemon for mode 6 (ntpq, ntpstat): system variables, associations and
//! the MRU list, built when a control request arrives. The control server reads it through
//! `ControlState`; it never sees the daemon's live structures.

use std::net::{SocketAddr, SocketAddrV4};

use super::server::Shared;
use super::status::ServerStatus;
use crate::control::server::{ControlState, MruRow, PeerVars, SystemVars, Var};
use crate::wire::control::{
    peer_flags, PeerStatusWord as PeerStatus, Select, SystemStatusWord as SystemStatus,
};
use crate::wire::time::NtpTimestamp;

/// One association as ntpq shows it.
#[derive(Clone, Debug)]
pub struct PeerView {
    pub assoc_id: u16,
    pub status: PeerStatus,
    pub vars: PeerVars,
}

/// Everything mode 6 reports, at one instant.
#[derive(Clone, Debug)]
pub struct DaemonView {
    pub now: NtpTimestamp,
    pub status: SystemStatus,
    pub system: SystemVars,
    pub peers: Vec<PeerView>,
    pub mru: Vec<MruRow>,
    /// Packet counters (`ss_*`, `ntpq -c sysstats`).
    pub sysstats: super::sysstats::SysStats,
    /// `setvar` / `--var` / `--dvar` variables, after the built-in ones.
    pub setvars: Vec<crate::config::SetVar>,
    /// The NTS server's counters (`nts_server_*`, `nts_cookie_*`, `nts_ke_serves_*`).
    pub nts_server: Vec<Var>,
    /// NTS client counters (`nts_client_*`, `nts_ke_probes_*`, `ntpq -c nts`).
    pub nts_client: super::nts_client::NtsClientCounters,
}

/// ntpd's version string as `ntpq -c rv` shows it.
pub fn version_string() -> String {
    format!("ntpd ntpkit-{} (ntpkit)", env!("CARGO_PKG_VERSION"))
}

fn uname() -> (String, String) {
    let u = rustix::system::uname();
    let field = |f: &std::ffi::CStr| f.to_string_lossy().into_owned();
    (
        field(u.machine()),
        format!("{}/{}", field(u.sysname()), field(u.release())),
    )
}

/// The system half of a view from what the server publishes. `event` is the last system
/// event code (ntpd's: 1 freq_not_set, 5 clock_sync, …), `event_count` how many so far.
pub fn system_from(
    st: &ServerStatus,
    now: NtpTimestamp,
    sys_peer: Option<(u16, SocketAddr, u8)>,
    source: u8,
    event: (u8, u8),
    discipline: Discipline,
) -> (SystemStatus, SystemVars) {
    let (processor, system) = uname();
    let leap = st.leap.bits();
    let status = SystemStatus {
        leap,
        source: if st.is_synchronised() { source } else { 0 },
        event_count: event.0,
        event: event.1,
    };
    let vars = SystemVars {
        version: version_string(),
        processor,
        system,
        leap,
        stratum: st.stratum,
        precision: st.precision,
        rootdelay_ms: st.root_delay * 1e3,
        rootdisp_ms: st.root_dispersion_at(now) * 1e3,
        refid: st.refid.render(st.stratum),
        reftime: st.reference_time,
        clock: now,
        peer: sys_peer.map(|p| p.0).unwrap_or(0),
        tc: discipline.poll,
        mintc: 3,
        offset_ms: discipline.offset * 1e3,
        frequency_ppm: discipline.frequency_ppm,
        sys_jitter_ms: discipline.sys_jitter * 1e3,
        clk_jitter_ms: discipline.clk_jitter * 1e3,
        clk_wander_ppm: discipline.wander_ppm,
        tai: 0,
        leapsec: None,
        expire: None,
        peer_addr: sys_peer.map(|p| p.1),
        peer_mode: sys_peer.map(|p| p.2).unwrap_or(0),
    };
    (status, vars)
}

/// The clock discipline's state as the system variables show it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Discipline {
    pub poll: i8,
    pub offset: f64,
    pub frequency_ppm: f64,
    pub sys_jitter: f64,
    pub clk_jitter: f64,
    pub wander_ppm: f64,
}

/// The LOCAL driver as an association (ntpq: `*LOCAL(0) .LOCL. 10 l …`).
pub fn local_clock_peer(
    lc: &super::settings::LocalClock,
    now: NtpTimestamp,
    polls: u32,
    selected: bool,
    last_update: NtpTimestamp,
) -> PeerView {
    let reach = if polls >= 8 {
        0xff
    } else {
        (1u16 << polls) as u8 - 1
    };
    let status = PeerStatus {
        flags: peer_flags::CONFIG | if reach != 0 { peer_flags::REACH } else { 0 },
        select: if selected {
            Select::SysPeer
        } else {
            Select::Candidate
        },
        event_count: 1,
        event: if selected { 10 } else { 4 },
    };
    let _ = now;
    let vars = PeerVars {
        ntscookies: None,
        srcadr: SocketAddr::V4(SocketAddrV4::new(lc.address, 123)),
        dstadr: "127.0.0.1:123".parse().expect("literal"),
        srchost: None,
        leap: 0,
        stratum: lc.stratum,
        precision: -23,
        rootdelay_ms: 0.0,
        rootdisp_ms: 0.0,
        refid: lc.refid.ascii(),
        reftime: last_update,
        rec: last_update,
        reach,
        unreach: 0,
        hmode: 3,
        pmode: 4,
        hpoll: 6,
        ppoll: 6,
        headway: 0,
        flash: 0,
        keyid: 0,
        offset_ms: 0.0,
        delay_ms: 0.0,
        dispersion_ms: 10.0,
        jitter_ms: 0.0,
        filtdelay_ms: vec![0.0; 8],
        filtoffset_ms: vec![0.0; 8],
        filtdisp_ms: vec![10.0; 8],
        xleave: None,
        asym: None,
    };
    PeerView {
        assoc_id: 1,
        status,
        vars,
    }
}

/// First association id of the rows for names not resolved yet (one per `pool` line, and
/// per `server` line whose name has no address yet), clear of the engine's ids, which
/// count up from 1.
pub const UNRESOLVED_ID_BASE: u16 = 0xff00;

/// A `pool` line, or a `server`/`peer` name still unresolved, as NTPsec shows it: address
/// 0.0.0.0 (:: for `-6`), the name in `srchost`, stratum 16, refid `POOL` (ntpq's type
/// `p`) or `DNS`, never reached. NTPsec keeps the pool's row for the life of the daemon.
pub fn unresolved_peer(assoc_id: u16, name: &str, pool: bool, v6: bool, poll: i8) -> PeerView {
    let zero: std::net::IpAddr = if v6 {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    };
    let status = PeerStatus {
        flags: peer_flags::CONFIG | if pool { peer_flags::BCAST } else { 0 },
        select: Select::Reject,
        event_count: 1,
        event: 1, // mobilize
    };
    let vars = PeerVars {
        ntscookies: None,
        srcadr: SocketAddr::new(zero, 0),
        dstadr: SocketAddr::new(zero, 0),
        srchost: Some(name.to_string()),
        leap: 3,
        stratum: 16,
        precision: -24,
        rootdelay_ms: 0.0,
        rootdisp_ms: 0.0,
        refid: if pool { "POOL" } else { "DNS" }.to_string(),
        reftime: NtpTimestamp::ZERO,
        rec: NtpTimestamp::ZERO,
        reach: 0,
        unreach: 0,
        hmode: 3,
        pmode: 0,
        hpoll: poll,
        ppoll: poll,
        headway: 0,
        flash: 0x1400, // peer_dist, peer_unreach, as NTPsec
        keyid: 0,
        offset_ms: 0.0,
        delay_ms: 0.0,
        dispersion_ms: 16000.0,
        jitter_ms: 0.0,
        filtdelay_ms: vec![0.0; 8],
        filtoffset_ms: vec![0.0; 8],
        filtdisp_ms: vec![16000.0; 8],
        xleave: None,
        asym: None,
    };
    PeerView {
        assoc_id,
        status,
        vars,
    }
}

/// Where an association points, as the daemon knows it (the engine knows only addresses).
pub struct Source {
    pub addr: SocketAddr,
    pub srchost: Option<String>,
    pub key: Option<u32>,
    /// NTS associations: the cookies held (NTPsec's `ntscookies`, ntpq's `t` column).
    pub nts_cookies: Option<usize>,
}

/// An engine association as mode 6 peer variables (times in ms, as ntpd sends them).
pub fn peer_vars(
    p: &crate::engine::PeerStatus,
    source: &Source,
    local_addr: SocketAddr,
) -> PeerVars {
    let ms = |v: f64| v * 1e3;
    // a reference clock's refid is its code (.LOCL.), whatever its stratum
    let refclock =
        matches!(source.addr.ip(), std::net::IpAddr::V4(a) if a.octets()[..2] == [127, 127]);
    PeerVars {
        srcadr: source.addr,
        dstadr: local_addr,
        srchost: source.srchost.clone(),
        leap: p.leap.bits(),
        stratum: p.stratum,
        precision: p.precision,
        rootdelay_ms: ms(p.root_delay),
        rootdisp_ms: ms(p.root_dispersion),
        refid: if refclock {
            p.refid.ascii()
        } else {
            p.refid.render(p.stratum)
        },
        reftime: p.reftime,
        rec: p.rec,
        reach: p.reach,
        unreach: p.unreach,
        hmode: p.hmode,
        pmode: p.pmode,
        hpoll: p.hpoll,
        ppoll: if refclock { p.hpoll } else { p.ppoll },
        headway: 0,
        flash: p.flash as u32,
        keyid: source.key.unwrap_or(0),
        offset_ms: ms(p.offset),
        delay_ms: ms(p.delay),
        dispersion_ms: ms(p.dispersion),
        jitter_ms: ms(p.jitter),
        filtdelay_ms: p.filter.iter().map(|f| ms(f.1)).collect(),
        filtoffset_ms: p.filter.iter().map(|f| ms(f.0)).collect(),
        filtdisp_ms: p.filter.iter().map(|f| ms(f.2)).collect(),
        ntscookies: source.nts_cookies.map(|n| n as u32),
        xleave: None,
        asym: Some(p.asymmetry),
    }
}

/// `setvar` lines as mode 6 system variables, as NTPsec sends them: a value with a space
/// (written in quotes) goes out quoted (`owner="The Boss"`), a plain word as it is
/// (`hidden=42`).
pub fn setvar_vars(setvars: &[crate::config::SetVar]) -> Vec<Var> {
    use crate::control::server::VarValue;
    setvars
        .iter()
        .map(|s| Var {
            name: std::borrow::Cow::Owned(s.name.clone()),
            value: if s.value.is_empty() || s.value.contains([' ', '\t', ',', '=', '"']) {
                VarValue::Quoted(s.value.replace('"', ""))
            } else {
                VarValue::Text(s.value.clone())
            },
            default: s.default,
        })
        .collect()
}

/// The MRU list of all shards, most recent first.
pub fn mru_rows(shared: &Shared) -> Vec<MruRow> {
    let mut rows: Vec<MruRow> = shared
        .mru_shards
        .iter()
        .flat_map(|s| {
            let m = s.lock().unwrap_or_else(|e| e.into_inner());
            m.iter()
                .map(|e| MruRow {
                    addr: SocketAddr::new(e.addr, e.port),
                    first: e.first,
                    last: e.last,
                    count: e.count,
                    mode: e.mode,
                    version: e.version,
                    restrict: e.flags,
                })
                .collect::<Vec<_>>()
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.last));
    rows
}

impl ControlState for DaemonView {
    fn now(&self) -> NtpTimestamp {
        self.now
    }
    fn system_status(&self) -> SystemStatus {
        self.status
    }
    fn system_vars(&self) -> Vec<Var> {
        let mut vars = self.system.to_vars();
        vars.extend(self.sysstats.vars());
        vars.extend(self.nts_server.iter().cloned());
        vars.extend(self.nts_client.vars());
        vars.extend(setvar_vars(&self.setvars));
        vars
    }
    fn associations(&self) -> Vec<(u16, PeerStatus)> {
        self.peers.iter().map(|p| (p.assoc_id, p.status)).collect()
    }
    fn peer_vars(&self, assoc: u16) -> Option<(PeerStatus, Vec<Var>)> {
        self.peers
            .iter()
            .find(|p| p.assoc_id == assoc)
            .map(|p| (p.status, p.vars.to_vars()))
    }
    fn mru(&self) -> Vec<MruRow> {
        self.mru.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SetVar;

    fn text(vars: &[Var]) -> Vec<(String, String, bool)> {
        vars.iter()
            .map(|v| (v.name.to_string(), format!("{:?}", v.value), v.default))
            .collect()
    }

    #[test]
    fn a_pool_line_is_a_pool_row_as_ntpsec_shows_it() {
        let row = unresolved_peer(UNRESOLVED_ID_BASE, "0.debian.pool.ntp.org", true, false, 6);
        assert_eq!(
            row.status.encode(),
            0x8811,
            "conf, bcast, reject, 1 event, mobilize"
        );
        let vars = text(&row.vars.to_vars());
        let get = |n: &str| vars.iter().find(|v| v.0 == n).unwrap().1.clone();
        assert_eq!(get("srcadr"), "Text(\"0.0.0.0\")");
        assert_eq!(get("srchost"), "Quoted(\"0.debian.pool.ntp.org\")");
        assert_eq!(get("refid"), "Text(\"POOL\")");
        assert_eq!(get("stratum"), "Int(16)");
        let row = unresolved_peer(UNRESOLVED_ID_BASE + 1, "ntp.example", false, true, 6);
        assert_eq!(row.status.encode(), 0x8011);
        assert_eq!(row.vars.refid, "DNS");
        assert!(row.vars.srcadr.is_ipv6());
    }

    #[test]
    fn setvars_quote_values_with_spaces_and_keep_their_default_mark() {
        let vars = setvar_vars(&[
            SetVar {
                name: "owner".into(),
                value: "The Boss".into(),
                default: true,
            },
            SetVar {
                name: "hidden".into(),
                value: "42".into(),
                default: false,
            },
        ]);
        assert_eq!(
            text(&vars),
            [
                ("owner".into(), "Quoted(\"The Boss\")".into(), true),
                ("hidden".into(), "Text(\"42\")".into(), false)
            ]
        );
    }
}
