//! What the server tells its clients about this host's clock: the system variables that the
//! engine (or the LOCAL driver) sets and every reply copies.

use crate::wire::packet::{Leap, RefId};
use crate::wire::time::NtpTimestamp;

/// Internal stratum meaning "unsynchronised"; sent as 0 on the wire, as ntpd does.
pub const STRATUM_UNSPEC: u8 = 16;

/// The system variables this server puts in every reply (not the mode 6 system status
/// word, which wire's control module encodes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServerStatus {
    pub leap: Leap,
    /// 1–15 synchronised, 16 unsynchronised (internal numbering).
    pub stratum: u8,
    /// log2 seconds
    pub precision: i8,
    /// seconds
    pub root_delay: f64,
    /// seconds, at `reference_time`; replies add PHI·age.
    pub root_dispersion: f64,
    pub refid: RefId,
    pub reference_time: NtpTimestamp,
}

/// Dispersion growth rate (RFC 5905 PHI, 15 ppm).
pub const PHI: f64 = 15e-6;

impl ServerStatus {
    /// The state at start: alarm, stratum 16, refid INIT.
    pub fn unsynchronised(precision: i8) -> Self {
        ServerStatus {
            leap: Leap::Unsync,
            stratum: STRATUM_UNSPEC,
            precision,
            root_delay: 0.0,
            root_dispersion: 0.0,
            refid: RefId::from_ascii("INIT"),
            reference_time: NtpTimestamp::ZERO,
        }
    }

    pub fn is_synchronised(&self) -> bool {
        self.leap != Leap::Unsync && self.stratum < STRATUM_UNSPEC
    }

    /// The stratum byte as sent (ntpd's STRATUM_TO_PKT: 16 → 0).
    pub fn wire_stratum(&self) -> u8 {
        if self.stratum >= STRATUM_UNSPEC {
            0
        } else {
            self.stratum
        }
    }

    /// Root dispersion as of `now`: grows at PHI since the last clock update.
    pub fn root_dispersion_at(&self, now: NtpTimestamp) -> f64 {
        if self.reference_time.is_zero() {
            return self.root_dispersion;
        }
        let age = (now - self.reference_time).to_seconds().max(0.0);
        self.root_dispersion + PHI * age
    }
}

/// The precision of this host's clock as ntpd measures it: the smallest step between two
/// readings of the realtime clock, as log2 seconds (e.g. −23 ≈ 119 ns).
pub fn measure_precision() -> i8 {
    let mut smallest = u64::MAX;
    let mut last = crate::daemon::netio::realtime_nanos();
    let mut seen = 0;
    for _ in 0..100_000 {
        let now = crate::daemon::netio::realtime_nanos();
        if now > last {
            smallest = smallest.min(now - last);
            seen += 1;
            if seen >= 100 {
                break;
            }
        }
        last = now;
    }
    if smallest == u64::MAX {
        return -20;
    }
    let secs = smallest as f64 * 1e-9;
    (secs.log2().round() as i32).clamp(-30, 0) as i8
}
