//! Restriction flags as ntp.org numbers them (`RES_*` in ntp.h); the same values appear as
//! `rs.#` in mode 6 MRU replies, so keep them bit-exact.
//!
//! The daemon asks an [`AccessPolicy`] for the flags of a source address; the `restrict`
//! table parsed from ntp.conf is one, the built-in "allow everything" is another.

use std::net::SocketAddr;

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
/// `noepeer`: no ephemeral (passive) symmetric associations, even for authenticated mode 1.
pub const RES_NOEPEER: u32 = 0x4000;

/// The restriction flags that apply to a packet from `src` (most specific match wins).
pub trait AccessPolicy: Send + Sync {
    fn flags(&self, src: SocketAddr) -> u32;
}

/// No `restrict` lines at all: everything is allowed, as in ntpd.
pub struct AllowAll;

impl AccessPolicy for AllowAll {
    fn flags(&self, _src: SocketAddr) -> u32 {
        0
    }
}

impl AccessPolicy for crate::config::Restrictions {
    fn flags(&self, src: SocketAddr) -> u32 {
        self.lookup_with_port(src.ip(), Some(src.port())).bits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{restrict::prefix_mask, RestrictEntry, RestrictFlags, Restrictions};

    #[test]
    fn the_config_layer_restrictions_are_an_access_policy_with_ntpd_bit_values() {
        let mut r = Restrictions::allow_all();
        r.default_v4 = RestrictFlags::IGNORE;
        let ip = "198.18.0.2".parse().unwrap();
        r.add(RestrictEntry::new(
            ip,
            prefix_mask(false, 32),
            RestrictFlags::NOQUERY | RestrictFlags::KOD,
            false,
        ));
        let p: &dyn AccessPolicy = &r;
        assert_eq!(p.flags("10.0.0.1:123".parse().unwrap()), RES_IGNORE);
        assert_eq!(
            p.flags("198.18.0.2:5000".parse().unwrap()),
            RES_NOQUERY | RES_KOD
        );
    }
}
