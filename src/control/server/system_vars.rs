//! The system variables (`ntpq rv`, assoc 0) in ntp.org's default order, with the leapfile
//! dates in NTPsec's form. Separate: it is the contract with ntpq's and ntpstat's parsers
//! (REFERENCE.md §3.2), one struct the daemon fills in.

use super::{Var, VarValue};
use crate::wire::time::NtpTimestamp;
use std::net::SocketAddr;

/// System variables in ntp.org's default order, for `ControlState::system_vars`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SystemVars {
    pub version: String,
    pub processor: String,
    pub system: String,
    pub leap: u8,
    pub stratum: u8,
    pub precision: i8,
    pub rootdelay_ms: f64,
    pub rootdisp_ms: f64,
    /// Rendered refid (dotted quad or code).
    pub refid: String,
    pub reftime: NtpTimestamp,
    pub clock: NtpTimestamp,
    /// System peer association id (0 none).
    pub peer: u16,
    pub tc: i8,
    pub mintc: i8,
    pub offset_ms: f64,
    pub frequency_ppm: f64,
    pub sys_jitter_ms: f64,
    pub clk_jitter_ms: f64,
    pub clk_wander_ppm: f64,
    pub tai: i32,
    /// The leapfile's last leap and its expiry, NTP seconds (None without a leapfile).
    pub leapsec: Option<i64>,
    pub expire: Option<i64>,
    /// System peer address (`peeradr`, non-default) and its host mode.
    pub peer_addr: Option<SocketAddr>,
    pub peer_mode: u8,
}

impl SystemVars {
    pub fn to_vars(&self) -> Vec<Var> {
        use VarValue::*;
        let mut v = vec![
            Var::new("version", Quoted(self.version.clone())),
            Var::new("processor", Quoted(self.processor.clone())),
            Var::new("system", Quoted(self.system.clone())),
            Var::new("leap", Int(self.leap as i64)),
            Var::new("stratum", Int(self.stratum as i64)),
            Var::new("precision", Int(self.precision as i64)),
            Var::new("rootdelay", Ms3(self.rootdelay_ms)),
            Var::new("rootdisp", Ms3(self.rootdisp_ms)),
            Var::new("refid", Text(self.refid.clone())),
            Var::new("reftime", Timestamp(self.reftime)),
            Var::new("clock", Timestamp(self.clock)),
            Var::new("peer", Int(self.peer as i64)),
            Var::new("tc", Int(self.tc as i64)),
            Var::new("mintc", Int(self.mintc as i64)),
            Var::new("offset", Ms6(self.offset_ms)),
            Var::new("frequency", Fixed3(self.frequency_ppm)),
            Var::new("sys_jitter", Ms6(self.sys_jitter_ms)),
            Var::new("clk_jitter", Ms3(self.clk_jitter_ms)),
            Var::new("clk_wander", Fixed3(self.clk_wander_ppm)),
        ];
        if self.tai > 0 {
            v.push(Var::new("tai", Int(self.tai as i64)));
        }
        if let Some(t) = self.leapsec {
            v.push(Var::new("leapsec", Text(leap_date(t))));
        }
        if let Some(t) = self.expire {
            v.push(Var::new("expire", Text(leap_date(t))));
        }
        if let Some(a) = self.peer_addr {
            v.push(Var::extra("peeradr", Text(a.to_string())));
            v.push(Var::extra("peermode", Int(self.peer_mode as i64)));
        }
        v.push(Var::extra(
            "rootdist",
            Ms3(self.rootdelay_ms / 2.0 + self.rootdisp_ms),
        ));
        v.push(Var::extra("authdelay", Ms3(0.0)));
        v
    }
}

/// A leapfile date as NTPsec's ntpd sends `leapsec` and `expire`: `2017-01-01T00:00Z`
/// (ntp.org sends `201701010000`; ntpkit speaks NTPsec's dialect).
fn leap_date(ntp_seconds: i64) -> String {
    // saturating: the value comes from a leapfile, which may say anything
    let unix = ntp_seconds.saturating_sub(crate::wire::time::UNIX_NTP_OFFSET as i64);
    let (y, m, d) = crate::wire::time::civil_from_days(unix.div_euclid(86_400));
    let secs = unix.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leap_dates_are_sent_as_ntpsec_does() {
        assert_eq!(leap_date(3_692_217_600), "2017-01-01T00:00Z");
        assert_eq!(leap_date(4_275_590_400), "2035-06-28T00:00Z");
        // a hostile leapfile's extremes print as some date, never overflow
        assert!(!leap_date(i64::MIN).is_empty());
        assert!(!leap_date(i64::MAX).is_empty());
        let vars = SystemVars {
            tai: 37,
            leapsec: Some(3_692_217_600),
            expire: Some(4_275_590_400),
            ..Default::default()
        }
        .to_vars();
        let names: Vec<&str> = vars.iter().map(|v| v.name.as_ref()).collect();
        let at = names.iter().position(|n| *n == "tai").expect("tai");
        assert_eq!(names[at..at + 3], ["tai", "leapsec", "expire"]);
        assert!(!SystemVars::default()
            .to_vars()
            .iter()
            .any(|v| v.name == "leapsec" || v.name == "expire" || v.name == "tai"));
    }
}
