//! A fixed but realistic `ControlState`: a stratum 2 daemon with three configured servers
//! (one system peer, one candidate, one unreachable). It documents what the daemon must
//! provide, and it is the harness for protocol tests: unit tests here and the system test
//! where NTPsec's ntpq parses what `Responder` makes of it. Not a model of a peer's clock.

use super::server::{ControlState, MruRow, PeerVars, SystemVars, Var};
use crate::wire::control::{ErrorCode, PeerStatusWord, Select, SystemStatusWord};
use crate::wire::time::NtpTimestamp;
use std::net::SocketAddr;

pub struct SampleState {
    clock: Box<dyn Fn() -> NtpTimestamp + Send + Sync>,
    /// This host's address, shown as every peer's `dstadr`.
    pub local: SocketAddr,
    /// Authorised WRITEVARs of system variables, recorded (assoc, name, value).
    pub written: std::sync::Mutex<Vec<(u16, String, String)>>,
}

/// Seconds before `now` at which each peer was last heard.
const LAST_HEARD: [u32; 3] = [12, 40, 0];

impl SampleState {
    /// `clock` gives now (a fixed value in unit tests, the system clock in the harness).
    pub fn new(
        clock: impl Fn() -> NtpTimestamp + Send + Sync + 'static,
        local: SocketAddr,
    ) -> Self {
        SampleState {
            clock: Box::new(clock),
            local,
            written: Default::default(),
        }
    }

    pub fn peer_addr(assoc: u16) -> Option<SocketAddr> {
        match assoc {
            1 => "198.18.0.1:123".parse().ok(),
            2 => "198.18.0.3:123".parse().ok(),
            3 => "198.18.0.4:123".parse().ok(),
            _ => None,
        }
    }

    fn status(assoc: u16) -> Option<PeerStatusWord> {
        let (select, count, event, reach) = match assoc {
            1 => (Select::SysPeer, 1, 10, true),
            2 => (Select::Candidate, 2, 4, true),
            3 => (Select::Reject, 1, 1, false),
            _ => return None,
        };
        use crate::wire::control::peer_flags::*;
        Some(PeerStatusWord {
            flags: CONFIG | if reach { REACH } else { 0 },
            select,
            event_count: count,
            event,
        })
    }
}

fn ago(now: NtpTimestamp, secs: u32) -> NtpTimestamp {
    NtpTimestamp::from_parts(now.seconds().wrapping_sub(secs), 0x1f3b_645a)
}

impl ControlState for SampleState {
    fn now(&self) -> NtpTimestamp {
        (self.clock)()
    }

    fn system_status(&self) -> SystemStatusWord {
        SystemStatusWord {
            leap: 0,
            source: 6,
            event_count: 1,
            event: 5,
        }
    }

    fn system_vars(&self) -> Vec<Var> {
        let now = self.now();
        SystemVars {
            version: "ntpd ntpkit 0.1.0".into(),
            processor: "x86_64".into(),
            system: "Linux/6.1.0".into(),
            leap: 0,
            stratum: 2,
            precision: -23,
            rootdelay_ms: 0.512,
            rootdisp_ms: 1.234,
            refid: "198.18.0.1".into(),
            reftime: ago(now, 12),
            clock: now,
            peer: 1,
            tc: 6,
            mintc: 3,
            offset_ms: -0.034120,
            frequency_ppm: -12.345,
            sys_jitter_ms: 0.021002,
            clk_jitter_ms: 0.015,
            clk_wander_ppm: 0.002,
            tai: 37,
            leapsec: None,
            expire: None,
            peer_addr: Self::peer_addr(1),
            peer_mode: 3,
        }
        .to_vars()
    }

    fn associations(&self) -> Vec<(u16, PeerStatusWord)> {
        (1..=3)
            .filter_map(|a| Self::status(a).map(|s| (a, s)))
            .collect()
    }

    fn peer_vars(&self, assoc: u16) -> Option<(PeerStatusWord, Vec<Var>)> {
        let status = Self::status(assoc)?;
        let now = self.now();
        let i = assoc as usize - 1;
        let reachable = status.has(crate::wire::control::peer_flags::REACH);
        let delay = [0.512, 1.204, 0.0][i];
        let offset = [-0.034, 0.871, 0.0][i];
        let vars = PeerVars {
            ntscookies: None,
            srcadr: Self::peer_addr(assoc)?,
            dstadr: self.local,
            srchost: None,
            leap: if reachable { 0 } else { 3 },
            stratum: if reachable { [1, 3, 0][i] } else { 16 },
            precision: -20,
            rootdelay_ms: [0.0, 0.731, 0.0][i],
            rootdisp_ms: [0.488, 2.1, 0.0][i],
            refid: ["GPS", "198.18.0.9", "INIT"][i].into(),
            reftime: if reachable {
                ago(now, 30)
            } else {
                NtpTimestamp(0)
            },
            rec: if reachable {
                ago(now, LAST_HEARD[i])
            } else {
                NtpTimestamp(0)
            },
            reach: [0xff, 0x7f, 0x00][i],
            unreach: [0, 0, 9][i],
            hmode: 3,
            pmode: if reachable { 4 } else { 0 },
            hpoll: 6,
            ppoll: [6, 6, 10][i],
            headway: 0,
            flash: if reachable { 0 } else { 0x1200 },
            keyid: 0,
            offset_ms: offset,
            delay_ms: delay,
            dispersion_ms: [0.950, 1.9, 15937.5][i],
            jitter_ms: [0.021, 0.116, 0.0][i],
            filtdelay_ms: vec![delay; 8],
            filtoffset_ms: vec![offset; 8],
            filtdisp_ms: (0..8).map(|k| 0.05 * k as f64).collect(),
            xleave: None,
            asym: None,
        };
        Some((status, vars.to_vars()))
    }

    /// System variables accept (and record) authorised writes; peers' do not.
    fn write_var(&self, assoc: u16, name: &str, value: &str) -> Result<(), ErrorCode> {
        if assoc != 0 {
            return Err(ErrorCode::PERMISSION);
        }
        if let Ok(mut w) = self.written.lock() {
            w.push((assoc, name.to_string(), value.to_string()));
        }
        Ok(())
    }

    fn mru(&self) -> Vec<MruRow> {
        let now = self.now();
        (1..=3u16)
            .filter_map(|a| Self::peer_addr(a).map(|addr| (a, addr)))
            .map(|(a, addr)| MruRow {
                addr,
                first: ago(now, 600),
                last: ago(now, a as u32 * 7),
                count: 40 - a as u64,
                mode: 4,
                version: 4,
                restrict: 0,
            })
            .collect()
    }
}
