//! The NTS server's counters, under NTPsec's names, as non-default system variables: what
//! NTPsec's `ntpq -c nts` (ntsinfo) reads for the server side. The client side's counters
//! (`nts_client_*`, `nts_ke_probes_*`) are the NTS client's.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::control::server::{Var, VarValue};

#[derive(Default, Debug)]
pub struct NtsServerCounters {
    /// NTS requests whose cookie and authenticator verified.
    pub recv_good: AtomicU64,
    /// NTS requests that did not (answered with an NTSN kiss or dropped).
    pub recv_bad: AtomicU64,
    /// Authenticated replies sent.
    pub send: AtomicU64,
    pub cookie_make: AtomicU64,
    /// Cookies opened with the newest key, the one before, the one before that, and older.
    pub cookie_decode: AtomicU64,
    pub cookie_decode_old: AtomicU64,
    pub cookie_decode_old2: AtomicU64,
    pub cookie_decode_older: AtomicU64,
    /// Cookies whose key we no longer (or never) had.
    pub cookie_decode_too_old: AtomicU64,
    /// Cookies that did not open (forged, damaged).
    pub cookie_decode_error: AtomicU64,
    pub ke_serves_good: AtomicU64,
    pub ke_serves_bad: AtomicU64,
}

impl NtsServerCounters {
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// A cookie opened with the key `age` rotations old.
    pub fn decoded(&self, age: usize) {
        Self::bump(match age {
            0 => &self.cookie_decode,
            1 => &self.cookie_decode_old,
            2 => &self.cookie_decode_old2,
            _ => &self.cookie_decode_older,
        });
    }

    /// The values NTPsec's `ntpq -c nts` asks for (server side).
    pub fn vars(&self) -> Vec<Var> {
        let get =
            |a: &AtomicU64| VarValue::Int(a.load(Ordering::Relaxed).min(i64::MAX as u64) as i64);
        [
            ("nts_server_recv_good", &self.recv_good),
            ("nts_server_recv_bad", &self.recv_bad),
            ("nts_server_send", &self.send),
            ("nts_cookie_make", &self.cookie_make),
            ("nts_cookie_decode", &self.cookie_decode),
            ("nts_cookie_decode_old", &self.cookie_decode_old),
            ("nts_cookie_decode_old2", &self.cookie_decode_old2),
            ("nts_cookie_decode_older", &self.cookie_decode_older),
            ("nts_cookie_decode_too_old", &self.cookie_decode_too_old),
            ("nts_cookie_decode_error", &self.cookie_decode_error),
            ("nts_ke_serves_good", &self.ke_serves_good),
            ("nts_ke_serves_bad", &self.ke_serves_bad),
        ]
        .into_iter()
        .map(|(n, a)| Var::extra(n, get(a)))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_server_name_ntpsecs_ntpq_asks_for_is_there() {
        let c = NtsServerCounters::default();
        c.decoded(0);
        c.decoded(5);
        NtsServerCounters::bump(&c.recv_good);
        let vars = c.vars();
        let value = |n: &str| vars.iter().find(|v| v.name == n).map(|v| v.value.clone());
        assert_eq!(value("nts_cookie_decode"), Some(VarValue::Int(1)));
        assert_eq!(value("nts_cookie_decode_older"), Some(VarValue::Int(1)));
        assert_eq!(value("nts_server_recv_good"), Some(VarValue::Int(1)));
        assert!(vars.iter().all(|v| !v.default));
        assert_eq!(vars.len(), 12);
    }
}
