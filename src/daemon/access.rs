//! Restriction flags as ntp.org numbers them (`RES_*` in ntp.h); the same values appear as
//! `rs.#` in mode 6 MRU replies, so keep them bit-exact.
//!
//! The daemon asks an [`AccessPolicy`] for the flags of a source address; the `restrict`
//! table parsed from ntp.conf is one, the built-in "allow everything" is another.

use std::net::IpAddr;

pub const RES_IGNORE: u32 = 0x0001;
pub const RES_DONTSERVE: u32 = 0x0002;
pub const RES_DONTTRUST: u32 = 0x0004;
pub const RES_VERSION: u32 = 0x0008;
pub const RES_NOPEER: u32 = 0x0010;
pub const RES_LIMITED: u32 = 0x0020;
pub const RES_NOQUERY: u32 = 0x0040;
pub const RES_NOMODIFY: u32 = 0x0080;
pub const RES_NOTRAP: u32 = 0x0100;
pub const RES_LPTRAP: u32 = 0x0200;
pub const RES_KOD: u32 = 0x0400;
pub const RES_MSSNTP: u32 = 0x0800;
pub const RES_FLAKE: u32 = 0x1000;
pub const RES_NOMRULIST: u32 = 0x2000;

/// The restriction flags that apply to a packet from `addr` (most specific match wins).
pub trait AccessPolicy: Send + Sync {
    fn flags(&self, addr: IpAddr) -> u32;
}

/// No `restrict` lines at all: everything is allowed, as in ntpd.
pub struct AllowAll;

impl AccessPolicy for AllowAll {
    fn flags(&self, _addr: IpAddr) -> u32 {
        0
    }
}

/// A restrict table given as (address, mask, flags) entries; the entry with the longest mask
/// that matches wins, `default` being the zero mask of each family. Used when the config
/// layer hands us its parsed `restrict` lines.
#[derive(Clone, Debug, Default)]
pub struct RestrictTable {
    entries: Vec<RestrictEntry>,
}

#[derive(Clone, Debug)]
pub struct RestrictEntry {
    pub addr: IpAddr,
    pub mask: IpAddr,
    pub flags: u32,
}

fn bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => u32::from(v4) as u128,
        IpAddr::V6(v6) => u128::from(v6),
    }
}

impl RestrictTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add or replace the entry for (addr, mask), as a later `restrict` line for the same
    /// address does in ntpd.
    pub fn set(&mut self, addr: IpAddr, mask: IpAddr, flags: u32) {
        let masked = |a: IpAddr| bits(a) & bits(mask);
        if let Some(e) = self.entries.iter_mut().find(|e| {
            e.addr.is_ipv4() == addr.is_ipv4() && e.mask == mask && masked(e.addr) == masked(addr)
        }) {
            e.flags = flags;
        } else {
            self.entries.push(RestrictEntry { addr, mask, flags });
        }
    }

    pub fn entries(&self) -> &[RestrictEntry] {
        &self.entries
    }
}

impl AccessPolicy for RestrictTable {
    fn flags(&self, addr: IpAddr) -> u32 {
        // An IPv4-mapped IPv6 source is matched as the IPv4 address it carries.
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
            a => a,
        };
        let a = bits(addr);
        self.entries
            .iter()
            .filter(|e| e.addr.is_ipv4() == addr.is_ipv4())
            .filter(|e| bits(e.addr) & bits(e.mask) == a & bits(e.mask))
            .max_by_key(|e| bits(e.mask).count_ones())
            .map(|e| e.flags)
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn most_specific_match_wins_and_families_are_separate() {
        let mut t = RestrictTable::new();
        t.set(ip("0.0.0.0"), ip("0.0.0.0"), RES_IGNORE);
        t.set(ip("::"), ip("::"), RES_NOQUERY);
        t.set(ip("198.18.0.0"), ip("255.255.255.0"), RES_NOQUERY);
        t.set(ip("198.18.0.2"), ip("255.255.255.255"), 0);
        assert_eq!(t.flags(ip("10.1.1.1")), RES_IGNORE);
        assert_eq!(t.flags(ip("198.18.0.7")), RES_NOQUERY);
        assert_eq!(t.flags(ip("198.18.0.2")), 0);
        assert_eq!(t.flags(ip("::ffff:198.18.0.2")), 0);
        assert_eq!(t.flags(ip("2001:db8::1")), RES_NOQUERY);
    }

    #[test]
    fn a_repeated_line_replaces_the_flags() {
        let mut t = RestrictTable::new();
        t.set(ip("0.0.0.0"), ip("0.0.0.0"), RES_IGNORE);
        t.set(ip("0.0.0.0"), ip("0.0.0.0"), RES_KOD | RES_LIMITED);
        assert_eq!(t.entries().len(), 1);
        assert_eq!(t.flags(ip("1.2.3.4")), RES_KOD | RES_LIMITED);
    }
}
