//! A whole NTP packet for modes 1–5: the 48-byte header, extension fields, and the
//! optional legacy MAC trailer.
//!
//! What follows the header is split the way ntpd's `receive()` does it: while more than
//! 24 bytes remain, the next thing is an extension field; a remainder of 24 bytes or
//! fewer is the MAC (4 = crypto-NAK, key id only; 20 = key id + MD5/AES-CMAC digest;
//! 24 = key id + SHA-1 digest). That is why RFC 7822 wants the last extension field to be
//! at least 28 bytes when no MAC follows; [`Packet::to_bytes`] pads it so.
//!
//! The decoder never panics: every malformed input is a [`PacketError`].

use super::auth::{AuthError, Key, KeyStore};
use super::extension::{ExtensionError, ExtensionField, MIN_FIELD_LEN, MIN_LAST_FIELD_LEN};
use super::packet::{Header, HeaderError, HEADER_LEN};
use std::fmt;

/// ntpd's `MAX_MAC_LEN`: key id + 20-byte digest.
pub const MAX_MAC_LEN: usize = 24;
/// ntpd's `MIN_MAC_LEN`: a bare key id (crypto-NAK).
pub const MIN_MAC_LEN: usize = 4;

/// The legacy MAC trailer.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Mac {
    pub key_id: u32,
    /// 16 bytes (MD5, AES-128-CMAC), 20 (SHA-1), or empty for a crypto-NAK.
    pub digest: Vec<u8>,
}

impl Mac {
    /// A crypto-NAK: key id only, telling the peer its MAC failed.
    pub fn is_crypto_nak(&self) -> bool {
        self.digest.is_empty()
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mac {{ key_id: {}, digest: ", self.key_id)?;
        for b in &self.digest {
            write!(f, "{b:02x}")?;
        }
        write!(f, " }}")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    pub header: Header,
    pub extensions: Vec<ExtensionField>,
    pub mac: Option<Mac>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error(transparent)]
    Header(#[from] HeaderError),
    #[error(transparent)]
    Extension(#[from] ExtensionError),
    #[error("{0} bytes after the header/extension fields are not a multiple of 4")]
    Unaligned(usize),
    #[error("{0}-byte MAC trailer: a MAC is 4 (crypto-NAK), 20 or 24 bytes")]
    BadMacLength(usize),
}

/// A decoded packet plus where its MAC starts, so the MAC can be checked over the exact
/// bytes received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub packet: Packet,
    /// Bytes `[..mac_offset]` are what the MAC covers (`== len` when there is no MAC).
    pub mac_offset: usize,
}

impl Packet {
    /// A packet with no extension fields and no MAC.
    pub fn new(header: Header) -> Packet {
        Packet {
            header,
            extensions: Vec::new(),
            mac: None,
        }
    }

    /// Decode a packet.
    pub fn parse(buf: &[u8]) -> Result<Packet, PacketError> {
        Packet::decode(buf).map(|d| d.packet)
    }

    /// Decode a packet and report where the MAC begins.
    pub fn decode(buf: &[u8]) -> Result<Decoded, PacketError> {
        let header = Header::parse(buf)?;
        let mut extensions = Vec::new();
        let mut offset = HEADER_LEN;
        let mut mac = None;
        loop {
            let rest = &buf[offset..];
            if rest.is_empty() {
                break;
            }
            if rest.len() % 4 != 0 {
                return Err(PacketError::Unaligned(rest.len()));
            }
            if rest.len() <= MAX_MAC_LEN {
                if !matches!(rest.len(), MIN_MAC_LEN | 20 | MAX_MAC_LEN) {
                    return Err(PacketError::BadMacLength(rest.len()));
                }
                mac = Some(Mac {
                    key_id: u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]),
                    digest: rest[4..].to_vec(),
                });
                break;
            }
            let (field, len) = ExtensionField::parse(rest, offset)?;
            extensions.push(field);
            offset += len;
        }
        Ok(Decoded {
            packet: Packet {
                header,
                extensions,
                mac,
            },
            mac_offset: offset,
        })
    }

    /// The bytes a MAC covers: the header and the extension fields (the last one padded
    /// to 28 bytes only when no MAC follows, so pass `with_mac`).
    fn body_bytes(&self, with_mac: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + 64 + MAX_MAC_LEN);
        out.extend_from_slice(&self.header.serialize());
        let n = self.extensions.len();
        for (i, f) in self.extensions.iter().enumerate() {
            let min = if i + 1 == n && !with_mac {
                MIN_LAST_FIELD_LEN
            } else {
                MIN_FIELD_LEN
            };
            f.write(&mut out, min);
        }
        out
    }

    /// Encode the packet with its MAC as stored (no digest is computed).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.body_bytes(self.mac.is_some());
        if let Some(mac) = &self.mac {
            out.extend_from_slice(&mac.key_id.to_be_bytes());
            out.extend_from_slice(&mac.digest[..mac.digest.len().min(MAX_MAC_LEN - 4)]);
        }
        out
    }

    /// Encode the packet signed with `key`: the MAC is computed over the header and
    /// extension fields and stored in `self.mac`.
    pub fn to_bytes_signed(&mut self, key: &Key) -> Vec<u8> {
        let mut out = self.body_bytes(true);
        let mac = key.mac(&out);
        self.mac = Some(Mac {
            key_id: key.id,
            digest: mac[4..].to_vec(),
        });
        out.extend_from_slice(&mac);
        out
    }

    /// Decode `buf` and check its MAC against `keys`. `Ok((packet, Some(id)))` for a
    /// good MAC, `Ok((packet, None))` for a packet without one; a crypto-NAK or a bad
    /// MAC is an [`AuthError`] inside `Err(Ok(..))`.
    pub fn parse_verified(
        buf: &[u8],
        keys: &KeyStore,
    ) -> Result<(Packet, Option<u32>), Result<AuthError, PacketError>> {
        let d = Packet::decode(buf).map_err(Err)?;
        let Some(mac) = &d.packet.mac else {
            return Ok((d.packet, None));
        };
        let id = keys
            .verify_digest(mac.key_id, &buf[..d.mac_offset], &mac.digest)
            .map_err(Ok)?;
        Ok((d.packet, Some(id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::KeyType;
    use crate::time::NtpTimestamp;

    fn header() -> Header {
        Header::client_request(4, 6, NtpTimestamp(0x1234_5678_9abc_def0))
    }

    #[test]
    fn plain_header_round_trips() {
        let p = Packet::new(header());
        let b = p.to_bytes();
        assert_eq!(b.len(), 48);
        assert_eq!(Packet::parse(&b).unwrap(), p);
    }

    #[test]
    fn md5_sha1_and_nak_trailers() {
        let mut ks = KeyStore::new();
        ks.insert(Key::new(1, KeyType::Md5, b"one"));
        ks.insert(Key::new(2, KeyType::Sha1, b"two"));
        ks.insert(Key::new(3, KeyType::Aes128Cmac, b"three"));
        for (id, len) in [(1, 68), (2, 72), (3, 68)] {
            let mut p = Packet::new(header());
            let b = p.to_bytes_signed(ks.get(id).unwrap());
            assert_eq!(b.len(), len);
            let (q, got) = Packet::parse_verified(&b, &ks).unwrap();
            assert_eq!(got, Some(id));
            assert_eq!(q, p);
            let mut bad = b.clone();
            bad[40] ^= 1;
            assert_eq!(
                Packet::parse_verified(&bad, &ks).unwrap_err(),
                Ok(AuthError::BadDigest(id))
            );
        }
        let mut nak = Packet::new(header()).to_bytes();
        nak.extend_from_slice(&7u32.to_be_bytes());
        let p = Packet::parse(&nak).unwrap();
        assert!(p.mac.unwrap().is_crypto_nak());
    }

    #[test]
    fn extension_fields_with_and_without_mac() {
        let mut p = Packet::new(header());
        p.extensions.push(ExtensionField::new(0x0104, &[9; 32]));
        p.extensions.push(ExtensionField::new(0x0204, b"short"));
        // without a MAC the last field is padded to 28 bytes
        let b = p.to_bytes();
        assert_eq!(b.len(), 48 + 36 + 28);
        let q = Packet::parse(&b).unwrap();
        assert_eq!(q.extensions.len(), 2);
        assert_eq!(q.extensions[1].body.len(), 24);
        assert_eq!(&q.extensions[1].body[..5], b"short");
        assert_eq!(q.to_bytes(), b);
        // with a MAC the 16-byte last field stays 16
        let key = Key::new(5, KeyType::Md5, b"k");
        let b = p.to_bytes_signed(&key);
        assert_eq!(b.len(), 48 + 36 + 16 + 20);
        let d = Packet::decode(&b).unwrap();
        assert_eq!(d.mac_offset, 48 + 36 + 16);
        assert_eq!(d.packet.extensions.len(), 2);
        assert_eq!(d.packet.mac.as_ref().unwrap().key_id, 5);
    }

    #[test]
    fn malformed_trailers_are_errors() {
        let base = Packet::new(header()).to_bytes();
        for extra in [1usize, 2, 3, 8, 12, 16, 26, 30] {
            let mut b = base.clone();
            b.resize(48 + extra, 0);
            assert!(
                Packet::parse(&b).is_err(),
                "{extra} trailing bytes accepted"
            );
        }
        // a field whose length runs past the end
        let mut b = base.clone();
        b.extend_from_slice(&[0, 1, 0, 200]);
        b.resize(48 + 28, 0);
        assert!(matches!(
            Packet::parse(&b),
            Err(PacketError::Extension(ExtensionError::Overrun { .. }))
        ));
    }
}
