//! Symmetric-key authentication for `-a KEY -k KEYFILE`: the keys file (`keyid type key`,
//! types M/MD5, SHA1, AES128CMAC; ASCII keys up to 20 characters, longer ones hex) and the
//! legacy MAC trailer (key id + digest) after the 48-byte header.
//!
//! Kept small and local to ntpdate until the wire layer's `auth` module lands; the formats
//! are the same, so switching over is a matter of imports.

use std::path::Path;

use aes::Aes128;
use cmac::{Cmac, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;

use crate::wire::packet::HEADER_LEN;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    Md5,
    Sha1,
    Aes128Cmac,
}

impl KeyType {
    fn parse(s: &str) -> Option<KeyType> {
        match s.to_ascii_uppercase().as_str() {
            "M" | "MD5" => Some(KeyType::Md5),
            "SHA1" | "SHA-1" => Some(KeyType::Sha1),
            "AES128CMAC" | "AES-128-CMAC" | "CMAC" => Some(KeyType::Aes128Cmac),
            _ => None,
        }
    }
    fn digest_len(self) -> usize {
        match self {
            KeyType::Md5 | KeyType::Aes128Cmac => 16,
            KeyType::Sha1 => 20,
        }
    }
}

/// One key from a keys file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    pub id: u32,
    pub kind: KeyType,
    pub secret: Vec<u8>,
}

/// Parse a keys file's text; errors name `path:line`.
pub fn parse_keys(path: &Path, text: &str) -> Result<Vec<Key>, String> {
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = || format!("{}:{}", path.display(), n + 1);
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [id, kind, secret, ..] = fields[..] else {
            return Err(format!("{}: expected `keyid type key`", at()));
        };
        let id: u32 = id
            .parse()
            .ok()
            .filter(|&i| i >= 1)
            .ok_or_else(|| format!("{}: bad key id {id:?}", at()))?;
        let kind =
            KeyType::parse(kind).ok_or_else(|| format!("{}: unknown key type {kind:?}", at()))?;
        let secret = if secret.len() > 20 {
            decode_hex(secret).ok_or_else(|| format!("{}: key is not valid hex", at()))?
        } else {
            secret.as_bytes().to_vec()
        };
        keys.push(Key { id, kind, secret });
    }
    Ok(keys)
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Signs requests and checks replies with one key.
#[derive(Clone, Debug)]
pub struct Authenticator {
    key: Key,
}

impl Authenticator {
    pub fn new(key: Key) -> Authenticator {
        Authenticator { key }
    }

    fn digest(&self, data: &[u8]) -> Vec<u8> {
        let k = &self.key.secret;
        match self.key.kind {
            KeyType::Md5 => {
                let mut h = Md5::new();
                h.update(k);
                h.update(data);
                h.finalize().to_vec()
            }
            KeyType::Sha1 => {
                let mut h = Sha1::new();
                h.update(k);
                h.update(data);
                h.finalize().to_vec()
            }
            KeyType::Aes128Cmac => {
                // AES-128 needs exactly 16 key bytes: shorter keys are zero-padded, as
                // ntpd does.
                let mut key16 = [0u8; 16];
                for (d, s) in key16.iter_mut().zip(k) {
                    *d = *s;
                }
                let mut mac = <Cmac<Aes128> as Mac>::new_from_slice(&key16)
                    .expect("16-byte key is always valid");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    /// Append key id and digest to a 48-byte request.
    pub fn sign(&self, packet: &mut Vec<u8>) {
        let digest = self.digest(packet);
        packet.extend_from_slice(&self.key.id.to_be_bytes());
        packet.extend_from_slice(&digest);
    }

    /// Whether a reply carries a valid MAC with our key.
    pub fn verify(&self, packet: &[u8]) -> bool {
        let dlen = self.key.kind.digest_len();
        if packet.len() < HEADER_LEN + 4 + dlen {
            return false;
        }
        let mac_at = packet.len() - 4 - dlen;
        let id = u32::from_be_bytes([
            packet[mac_at],
            packet[mac_at + 1],
            packet[mac_at + 2],
            packet[mac_at + 3],
        ]);
        if id != self.key.id {
            return false;
        }
        let want = self.digest(&packet[..mac_at]);
        // Constant time is not needed for a one-shot client, but it is free.
        want.iter()
            .zip(&packet[mac_at + 4..])
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &str =
        "# comment\n1 M secret\n2 SHA1 0123456789abcdef0123456789abcdef01234567 # hex\n\
                        3 AES128CMAC 000102030405060708090a0b0c0d0e0f\n";

    #[test]
    fn parses_keys_file() {
        let keys = parse_keys(Path::new("k"), KEYS).unwrap();
        assert_eq!(keys.len(), 3);
        assert_eq!(keys[0].secret, b"secret");
        assert_eq!(keys[1].secret.len(), 20);
        assert_eq!(keys[2].kind, KeyType::Aes128Cmac);
        let err = parse_keys(Path::new("/etc/ntp.keys"), "1 M a\n7 BLAKE x\n").unwrap_err();
        assert!(err.starts_with("/etc/ntp.keys:2:"), "{err}");
        assert!(parse_keys(Path::new("k"), "x M a").is_err());
        assert!(parse_keys(
            Path::new("k"),
            "1 SHA1 0123456789abcdef0123456789abcdef0123456z"
        )
        .is_err());
    }

    #[test]
    fn sign_then_verify_and_tamper() {
        for key in parse_keys(Path::new("k"), KEYS).unwrap() {
            let a = Authenticator::new(key.clone());
            let mut p = vec![0x23u8; 48];
            a.sign(&mut p);
            assert_eq!(p.len(), 48 + 4 + key.kind.digest_len());
            assert!(a.verify(&p));
            p[10] ^= 1;
            assert!(!a.verify(&p));
            assert!(!a.verify(&p[..48]));
        }
    }

    #[test]
    fn md5_known_answer() {
        // MD5("secret" || 48 zero bytes), computed independently with Python's hashlib.
        let a = Authenticator::new(Key {
            id: 1,
            kind: KeyType::Md5,
            secret: b"secret".to_vec(),
        });
        let mut p = vec![0u8; 48];
        a.sign(&mut p);
        assert_eq!(&p[48..52], &[0, 0, 0, 1]);
        assert_eq!(hex(&p[52..]), MD5_SECRET_ZEROS);
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    const MD5_SECRET_ZEROS: &str = "cffb1b806c0408d3fcf421b90206de76";
}
