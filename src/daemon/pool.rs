//! `pool` upkeep, as ntp.org's: pool members are preemptible; one that has not answered
//! for [`UNREACH_POLLS`] polls (ntpd's NTP_UNREACH) is demobilised, and the pool's name is
//! resolved again to fill the associations up to `tos maxclock` with addresses not in use.
//! An address dropped as unreachable is not taken again for [`DROPPED_FOR_SECS`], so a
//! name that keeps returning it does not cycle through the same dead server.

use std::collections::HashMap;
use std::net::IpAddr;

/// Polls without a reply after which a pool member goes (ntp.org NTP_UNREACH).
pub const UNREACH_POLLS: u32 = 10;
/// How long (s) an address dropped as unreachable stays out of the pool.
pub const DROPPED_FOR_SECS: u64 = 3600;

/// Whether a pool member is dead: nothing in the reach register and `UNREACH_POLLS` polls
/// unanswered.
pub fn is_unreachable(reach: u8, unreach: u32) -> bool {
    reach == 0 && unreach >= UNREACH_POLLS
}

/// What one `pool` line remembers between resolutions.
#[derive(Clone, Debug, Default)]
pub struct PoolMemory {
    /// Address → when it was dropped (daemon seconds).
    dropped: HashMap<IpAddr, u64>,
}

impl PoolMemory {
    pub fn dropped(&mut self, addr: IpAddr, now: u64) {
        self.dropped.insert(addr, now);
    }

    /// From a fresh resolution, the addresses to mobilise: at most `room`, in the order the
    /// resolver gave, none in use, none dropped in the last `DROPPED_FOR_SECS`.
    pub fn pick(
        &mut self,
        resolved: &[IpAddr],
        in_use: impl Fn(IpAddr) -> bool,
        room: usize,
        now: u64,
    ) -> Vec<IpAddr> {
        self.dropped
            .retain(|_, at| now.saturating_sub(*at) < DROPPED_FOR_SECS);
        resolved
            .iter()
            .copied()
            .filter(|a| !in_use(*a) && !self.dropped.contains_key(a))
            .take(room)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(v: &[&str]) -> Vec<IpAddr> {
        v.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn refills_with_unused_addresses_and_skips_dropped_ones_for_a_while() {
        let mut m = PoolMemory::default();
        let all = ips(&["10.0.0.4", "10.0.0.5", "10.0.0.2", "10.0.0.3"]);
        let in_use = ips(&["10.0.0.2"]);
        m.dropped("10.0.0.4".parse().unwrap(), 100);
        m.dropped("10.0.0.5".parse().unwrap(), 100);
        let got = m.pick(&all, |a| in_use.contains(&a), 2, 130);
        assert_eq!(got, ips(&["10.0.0.3"]));
        let later = m.pick(&all, |a| in_use.contains(&a), 1, 100 + DROPPED_FOR_SECS);
        assert_eq!(later, ips(&["10.0.0.4"]));
        assert!(m.pick(&all, |_| false, 0, 0).is_empty());
    }

    #[test]
    fn unreachable_means_silent_for_ntpds_ten_polls() {
        assert!(!is_unreachable(0, UNREACH_POLLS - 1));
        assert!(is_unreachable(0, UNREACH_POLLS));
        assert!(!is_unreachable(0b1000_0000, UNREACH_POLLS));
    }
}
