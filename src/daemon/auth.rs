//! Symmetric-key authentication of server replies (ntpd's `keys` + `trustedkey`): a request
//! MAC'd with a trusted key gets a reply MAC'd with the same key; a request whose MAC fails
//! is dropped, as NTPsec does (ntp.org sends a crypto-NAK, which NTPsec's ntpdig cannot
//! parse).

use std::ops::RangeInclusive;

use crate::wire::auth::KeyStore;
use crate::wire::message::Packet;
use crate::wire::packet::HEADER_LEN;

pub struct ServerAuth {
    pub keys: KeyStore,
    pub trusted: Vec<RangeInclusive<u32>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthVerdict {
    /// No MAC in the request: answer unauthenticated.
    None,
    /// Valid MAC by trusted key `id`: sign the reply with it.
    Trusted(u32),
    /// A MAC that fails (unknown or untrusted key, wrong digest): no answer.
    Failed,
}

impl ServerAuth {
    pub fn is_trusted(&self, id: u32) -> bool {
        self.trusted.iter().any(|r| r.contains(&id))
    }

    /// Judge the MAC of a request longer than a bare header.
    pub fn check(&self, request: &[u8]) -> AuthVerdict {
        let Ok(d) = Packet::decode(request) else {
            return AuthVerdict::Failed;
        };
        let Some(mac) = d.packet.mac else {
            return AuthVerdict::None;
        };
        if mac.is_crypto_nak() || !self.is_trusted(mac.key_id) {
            return AuthVerdict::Failed;
        }
        match self
            .keys
            .verify_digest(mac.key_id, &request[..d.mac_offset], &mac.digest)
        {
            Ok(id) => AuthVerdict::Trusted(id),
            Err(_) => AuthVerdict::Failed,
        }
    }

    /// Append the MAC of `key` over the 48-byte reply (already carrying its transmit time).
    pub fn sign(&self, key: u32, reply: &[u8; HEADER_LEN]) -> Option<Vec<u8>> {
        let mac = self.keys.sign(key, reply).ok()?;
        let mut out = reply.to_vec();
        out.extend_from_slice(&mac);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn auth() -> ServerAuth {
        let (keys, d) = crate::config::keys_file::parse(
            "1 MD5 sesame\n2 SHA1 0123456789abcdef0123456789abcdef01234567\n3 MD5 other\n",
            Path::new("keys"),
        );
        assert!(d.is_empty(), "{d:?}");
        ServerAuth {
            keys,
            trusted: vec![1..=2],
        }
    }

    fn request(a: &ServerAuth, key: u32) -> Vec<u8> {
        let mut r = vec![0u8; 48];
        r[0] = 0x23;
        let mac = a.keys.sign(key, &r).unwrap();
        r.extend_from_slice(&mac);
        r
    }

    #[test]
    fn trusted_keys_sign_and_everything_else_fails() {
        let a = auth();
        assert_eq!(a.check(&request(&a, 1)), AuthVerdict::Trusted(1));
        assert_eq!(a.check(&request(&a, 2)), AuthVerdict::Trusted(2));
        // known but not trusted
        assert_eq!(a.check(&request(&a, 3)), AuthVerdict::Failed);
        let mut bad = request(&a, 1);
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert_eq!(a.check(&bad), AuthVerdict::Failed);
        assert_eq!(a.check(&[0x23; 48]), AuthVerdict::None);
        let reply = [7u8; 48];
        let signed = a.sign(1, &reply).unwrap();
        assert_eq!(signed.len(), 68);
        assert_eq!(a.keys.verify(&signed[..48], &signed[48..]), Ok(1));
    }
}
