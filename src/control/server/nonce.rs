//! The nonces `mrulist` must carry (REQ_NONCE hands one out, READ_MRU checks it): the
//! time it was issued plus a keyed hash of that time and the client's address, so a
//! client must be able to receive at its address before we send it the MRU list, and
//! we keep no per-client state. Separate: it is the only secret-keyed code in mode 6.

use crate::wire::time::NtpTimestamp;
use std::net::IpAddr;

/// How long a nonce from REQ_NONCE stays valid (NTPsec: 16 s).
pub const NONCE_LIFETIME_SECS: u32 = 16;

/// Issues and checks nonces with the daemon's random secret.
pub(super) struct Nonces {
    secret: [u8; 16],
}

impl Nonces {
    pub(super) fn new(secret: [u8; 16]) -> Nonces {
        Nonces { secret }
    }

    /// A nonce for `addr` at `now`: 24 hex digits, seconds, fraction, hash.
    pub(super) fn issue(&self, addr: IpAddr, now: NtpTimestamp) -> String {
        let (s, f) = (now.seconds(), now.fraction());
        format!("{s:08x}{f:08x}{:08x}", self.hash(addr, s, f))
    }

    fn hash(&self, addr: IpAddr, secs: u32, frac: u32) -> u32 {
        use md5::Digest;
        let mut h = md5::Md5::new();
        h.update(self.secret);
        h.update(secs.to_be_bytes());
        h.update(frac.to_be_bytes());
        match addr {
            IpAddr::V4(a) => h.update(a.octets()),
            IpAddr::V6(a) => h.update(a.octets()),
        }
        let d = h.finalize();
        u32::from_be_bytes([d[0], d[1], d[2], d[3]])
    }

    /// A nonce we issued to `addr` within the last 16 s.
    pub(super) fn valid(&self, nonce: &str, addr: IpAddr, now: NtpTimestamp) -> bool {
        if nonce.len() != 24 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
            return false;
        }
        let part = |i: usize| u32::from_str_radix(&nonce[i..i + 8], 16).unwrap_or(0);
        let (s, f, hash) = (part(0), part(8), part(16));
        if self.hash(addr, s, f) != hash {
            return false;
        }
        let age = now.seconds().wrapping_sub(s);
        age <= NONCE_LIFETIME_SECS
    }
}
