//! The peer variables (`ntpq rv ASSOC`) in ntp.org's default order. Separate: it is the
//! contract with ntpq's peers billboard and NTPsec's parsers (REFERENCE.md §3.3), one
//! struct the daemon fills in per association.

use super::{Var, VarValue};
use crate::wire::time::NtpTimestamp;
use std::net::SocketAddr;

/// Peer variables in ntp.org's default order, for `ControlState::peer_vars`.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerVars {
    pub srcadr: SocketAddr,
    pub dstadr: SocketAddr,
    /// Pool/DNS name (ntp.org sends it for pool associations only).
    pub srchost: Option<String>,
    pub leap: u8,
    pub stratum: u8,
    pub precision: i8,
    pub rootdelay_ms: f64,
    pub rootdisp_ms: f64,
    pub refid: String,
    pub reftime: NtpTimestamp,
    pub rec: NtpTimestamp,
    pub reach: u8,
    pub unreach: u32,
    pub hmode: u8,
    pub pmode: u8,
    pub hpoll: i8,
    pub ppoll: i8,
    pub headway: u32,
    pub flash: u32,
    pub keyid: u32,
    pub offset_ms: f64,
    pub delay_ms: f64,
    pub dispersion_ms: f64,
    pub jitter_ms: f64,
    /// Newest first, 8 values each.
    pub filtdelay_ms: Vec<f64>,
    pub filtoffset_ms: Vec<f64>,
    pub filtdisp_ms: Vec<f64>,
    /// NTS associations: cookies held (NTPsec sends it only for them).
    pub ntscookies: Option<u32>,
    /// `server … xleave`: how many samples were taken in interleaved mode (RFC 9769).
    pub xleave: Option<u64>,
}

impl PeerVars {
    pub fn to_vars(&self) -> Vec<Var> {
        use VarValue::*;
        let mut v = vec![
            Var::new("srcadr", Text(self.srcadr.ip().to_string())),
            Var::new("srcport", Int(self.srcadr.port() as i64)),
        ];
        if let Some(h) = &self.srchost {
            v.push(Var::new("srchost", Quoted(h.clone())));
        }
        v.extend([
            Var::new("dstadr", Text(self.dstadr.ip().to_string())),
            Var::new("dstport", Int(self.dstadr.port() as i64)),
            Var::new("leap", Int(self.leap as i64)),
            Var::new("stratum", Int(self.stratum as i64)),
            Var::new("precision", Int(self.precision as i64)),
            Var::new("rootdelay", Ms3(self.rootdelay_ms)),
            Var::new("rootdisp", Ms3(self.rootdisp_ms)),
            Var::new("refid", Text(self.refid.clone())),
            Var::new("reftime", Timestamp(self.reftime)),
            Var::new("rec", Timestamp(self.rec)),
            Var::new("reach", Hex(self.reach as u64)),
            Var::new("unreach", Int(self.unreach as i64)),
            Var::new("hmode", Int(self.hmode as i64)),
            Var::new("pmode", Int(self.pmode as i64)),
            Var::new("hpoll", Int(self.hpoll as i64)),
            Var::new("ppoll", Int(self.ppoll as i64)),
            Var::new("headway", Int(self.headway as i64)),
            Var::new("flash", Hex(self.flash as u64)),
            Var::new(
                "keyid",
                if self.keyid > 65535 {
                    Hex(self.keyid as u64)
                } else {
                    Int(self.keyid as i64)
                },
            ),
            Var::new("offset", Ms3(self.offset_ms)),
            Var::new("delay", Ms3(self.delay_ms)),
            Var::new("dispersion", Ms3(self.dispersion_ms)),
            Var::new("jitter", Ms3(self.jitter_ms)),
            Var::new("filtdelay", Array2(self.filtdelay_ms.clone())),
            Var::new("filtoffset", Array2(self.filtoffset_ms.clone())),
            Var::new("filtdisp", Array2(self.filtdisp_ms.clone())),
        ]);
        if let Some(n) = self.ntscookies {
            v.push(Var::new("ntscookies", Int(n as i64)));
        }
        if let Some(n) = self.xleave {
            v.push(Var::new("xleave", Int(n.min(i64::MAX as u64) as i64)));
        }
        v
    }
}
