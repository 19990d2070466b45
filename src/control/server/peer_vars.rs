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
    /// `asym`: the jitter asymmetry the engine corrects this source's samples by (the
    /// offset error per unit of excess delay, −0.5 … +0.5; 0 while the correction is
    /// off). None for rows without an estimator (an unresolved name, the LOCAL driver).
    pub asym: Option<f64>,
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
        if let Some(a) = self.asym {
            v.push(Var::new("asym", Fixed3(asym_value(a))));
        }
        v
    }
}

/// The value `asym` carries, rounded to its three decimals here so that it never reads
/// `-0.000` (an unused correction, or a value that small, reads `0.000`); NaN reads as
/// none.
fn asym_value(a: f64) -> f64 {
    if a.is_finite() {
        (a.clamp(-0.5, 0.5) * 1e3).round() / 1e3 + 0.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::super::vars::{render_vars, PEER_VARS_IF_SET};
    use super::*;
    use crate::wire::control::{decode_vars, encode_request_vars, lookup, ErrorCode};

    fn vars(asym: Option<f64>) -> PeerVars {
        PeerVars {
            srcadr: "198.18.0.2:123".parse().unwrap(),
            dstadr: "198.18.0.3:123".parse().unwrap(),
            srchost: None,
            leap: 0,
            stratum: 11,
            precision: -24,
            rootdelay_ms: 0.0,
            rootdisp_ms: 0.1,
            refid: "LOCL".into(),
            reftime: NtpTimestamp(0xeeb1_99a0_0000_0000),
            rec: NtpTimestamp(0xeeb1_99a9_0000_0000),
            reach: 0xff,
            unreach: 0,
            hmode: 3,
            pmode: 4,
            hpoll: 0,
            ppoll: 0,
            headway: 0,
            flash: 0,
            keyid: 0,
            offset_ms: -0.0051,
            delay_ms: 0.0162,
            dispersion_ms: 0.9,
            jitter_ms: 0.002,
            filtdelay_ms: vec![0.02; 8],
            filtoffset_ms: vec![-0.005; 8],
            filtdisp_ms: vec![0.0; 8],
            ntscookies: None,
            xleave: None,
            asym,
        }
    }

    /// READVAR's text for `names` (empty: the default list).
    fn read(v: &PeerVars, names: &[&str]) -> Result<String, ErrorCode> {
        let text = render_vars(&v.to_vars(), &encode_request_vars(names), PEER_VARS_IF_SET)?;
        Ok(String::from_utf8(text).unwrap())
    }

    #[test]
    fn asym_is_the_last_default_variable_with_three_decimals() {
        let text = read(&vars(Some(-0.48712)), &[]).unwrap();
        assert!(text.trim_end().ends_with("asym=-0.487"), "{text}");
        let parsed = decode_vars(text.as_bytes());
        assert_eq!(parsed.last().unwrap().0, "asym");
        assert_eq!(lookup(&parsed, "asym").unwrap().as_f64(), Some(-0.487));
        // every variable ntpq's peers billboard reads is still there, in ntpd's order
        let names: Vec<&str> = parsed.iter().map(|v| v.0.as_str()).collect();
        assert_eq!(names[..2], ["srcadr", "srcport"]);
        assert_eq!(
            names[names.len() - 4..],
            ["filtdelay", "filtoffset", "filtdisp", "asym"]
        );
        assert_eq!(
            read(&vars(Some(0.31)), &["asym"]).unwrap().trim_end(),
            "asym=0.310"
        );
    }

    #[test]
    fn asym_without_a_correction_reads_zero_never_minus_zero_or_nan() {
        for a in [0.0, -0.0, -0.0004, f64::NAN, f64::INFINITY] {
            let text = read(&vars(Some(a)), &["asym"]).unwrap();
            assert_eq!(text.trim_end(), "asym=0.000", "{a}");
        }
        // out of range (never from the engine): clamped to the physical bound
        let text = read(&vars(Some(-0.7)), &["asym"]).unwrap();
        assert_eq!(text.trim_end(), "asym=-0.500");
    }

    #[test]
    fn a_row_without_asym_answers_nothing_for_it_not_unknownvar() {
        let v = vars(None);
        assert!(!read(&v, &[]).unwrap().contains("asym"));
        assert_eq!(read(&v, &["asym"]).unwrap(), "");
        let both = read(&v, &["offset", "asym"]).unwrap();
        assert_eq!(both.trim_end(), "offset=-0.005");
        assert_eq!(read(&v, &["asymm"]), Err(ErrorCode::UNKNOWNVAR));
    }
}
