//! ntpd's `sysstats` counters over mode 6: what the server received and what it dropped,
//! as the non-default system variables `ss_*` that `ntpq -c sysstats` (NTPsec) and
//! `ntpq -c "rv 0 ss_badformat,…"` read.
//!
//! The counters themselves live in [`super::server::Counters`] (atomics the serving threads
//! bump); this module only takes a snapshot and names it. Nothing is ever reset, so the
//! `_r` ("since reset") variants NTPsec's ntpq also asks for equal the totals.

use std::sync::atomic::Ordering;

use super::server::Counters;
use crate::control::server::{Var, VarValue};

/// One reading of the packet counters, plus the daemon's uptime.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SysStats {
    pub uptime: u64,
    pub received: u64,
    /// NTPv4 packets.
    pub this_version: u64,
    /// NTPv1–v3 packets.
    pub old_version: u64,
    /// Too short, wrong version or undecodable.
    pub bad_format: u64,
    /// A MAC that does not verify or names a key we do not trust.
    pub bad_auth: u64,
    /// Modes we do not serve (mode 7, mode 0 above v1, …) and `nopeer` refusals.
    pub declined: u64,
    /// `ignore`, `noserve`, `noquery`, `notrust`.
    pub restricted: u64,
    /// Rate limited, with or without a kiss-o'-death.
    pub limited: u64,
    pub kod_sent: u64,
    /// Requests answered with the time.
    pub processed: u64,
    /// Mode 6 requests passed to the control server.
    pub control_requests: u64,
    /// Dropped because the main loop's queue was full (`io_dropped`).
    pub queue_dropped: u64,
}

impl SysStats {
    pub fn read(c: &Counters, uptime: u64) -> SysStats {
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        SysStats {
            uptime,
            received: get(&c.received),
            this_version: get(&c.this_version),
            old_version: get(&c.old_version),
            bad_format: get(&c.malformed),
            bad_auth: get(&c.bad_auth),
            declined: get(&c.declined),
            restricted: get(&c.restricted),
            limited: get(&c.rate_limited) + get(&c.kod_sent),
            kod_sent: get(&c.kod_sent),
            processed: get(&c.replied),
            control_requests: get(&c.control),
            queue_dropped: get(&c.handoff_dropped),
        }
    }

    /// The `ss_*` variables (all non-default: READVAR without names does not list them).
    pub fn vars(&self) -> Vec<Var> {
        let int = |n: u64| VarValue::Int(n.min(i64::MAX as u64) as i64);
        let mut v = vec![
            Var::extra("ss_uptime", int(self.uptime)),
            Var::extra("ss_numctlreq", int(self.control_requests)),
            Var::extra("ss_reset", int(self.uptime)),
            Var::extra("ss_reset_r", int(self.uptime)),
        ];
        let counted: [(&'static str, &'static str, u64); 12] = [
            ("ss_received", "ss_received_r", self.received),
            ("ss_thisver", "ss_thisver_r", self.this_version),
            ("ss_oldver", "ss_oldver_r", self.old_version),
            ("ss_ver1", "ss_ver1_r", 0),
            ("ss_ver1client", "ss_ver1client_r", 0),
            ("ss_ver1zero", "ss_ver1zero_r", 0),
            ("ss_badformat", "ss_badformat_r", self.bad_format),
            ("ss_badauth", "ss_badauth_r", self.bad_auth),
            ("ss_declined", "ss_declined_r", self.declined),
            ("ss_restricted", "ss_restricted_r", self.restricted),
            ("ss_limited", "ss_limited_r", self.limited),
            ("ss_kodsent", "ss_kodsent_r", self.kod_sent),
        ];
        for (name, since_reset, n) in counted {
            v.push(Var::extra(name, int(n)));
            v.push(Var::extra(since_reset, int(n)));
        }
        v.push(Var::extra("ss_ver1symm", int(0)));
        v.push(Var::extra("ss_ver1symm_r", int(0)));
        v.push(Var::extra("ss_processed", int(self.processed)));
        v.push(Var::extra("ss_processed_r", int(self.processed)));
        v.push(Var::extra("io_dropped", int(self.queue_dropped)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_become_non_default_ss_variables() {
        let c = Counters::default();
        c.received.store(10, Ordering::Relaxed);
        c.malformed.store(3, Ordering::Relaxed);
        c.rate_limited.store(2, Ordering::Relaxed);
        c.kod_sent.store(1, Ordering::Relaxed);
        let s = SysStats::read(&c, 42);
        assert_eq!((s.limited, s.kod_sent, s.bad_format), (3, 1, 3));
        let vars = s.vars();
        assert!(vars.iter().all(|v| !v.default));
        let value = |n: &str| {
            vars.iter()
                .find(|v| v.name == n)
                .map(|v| v.value.clone())
                .unwrap()
        };
        assert_eq!(value("ss_received"), VarValue::Int(10));
        assert_eq!(value("ss_badformat_r"), VarValue::Int(3));
        assert_eq!(value("ss_uptime"), VarValue::Int(42));
        // every name NTPsec's `ntpq -c sysstats` asks for is there, with its `_r` twin
        for n in [
            "ss_reset",
            "ss_thisver",
            "ss_oldver",
            "ss_ver1",
            "ss_ver1client",
            "ss_ver1zero",
            "ss_ver1symm",
            "ss_badauth",
            "ss_declined",
            "ss_restricted",
            "ss_limited",
            "ss_kodsent",
            "ss_processed",
        ] {
            value(n);
            value(&format!("{n}_r"));
        }
    }
}
