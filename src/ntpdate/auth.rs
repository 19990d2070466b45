//! `-a KEY -k KEYFILE`: sign requests with one key of the keys file and accept only replies
//! that carry a MAC with that key (the legacy trailer after the 48-byte header). Keys and
//! digests are `wire::auth`'s.

use std::path::Path;

use crate::config::keys_file;
use crate::wire::auth::Key;
use crate::wire::packet::HEADER_LEN;

/// Why `-a KEY -k KEYFILE` gives no key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The keys file could not be read (its message names the file).
    #[error("{0}")]
    Unreadable(Box<dyn std::error::Error + Send + Sync>),
    /// No such key; `notes` are the file's `file:line` diagnostics, one per line after.
    #[error("authentication key {id} unknown{}", notes_after(.notes))]
    Unknown { id: u32, notes: Vec<String> },
}

fn notes_after(notes: &[String]) -> String {
    notes.iter().map(|n| format!("\n{n}")).collect()
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

    /// Key `id` from the keys file at `path`. Problems on other lines are returned as
    /// `file:line` warnings; an unreadable file or a missing key is an error.
    pub fn load(path: &Path, id: u32) -> Result<(Authenticator, Vec<String>), KeyError> {
        let (store, diagnostics) =
            keys_file::load(path).map_err(|e| KeyError::Unreadable(e.into()))?;
        let notes: Vec<String> = diagnostics.iter().map(|d| d.to_string()).collect();
        match store.get(id) {
            Some(key) => Ok((Authenticator::new(key.clone()), notes)),
            None => Err(KeyError::Unknown { id, notes }),
        }
    }

    /// Append key id and digest to a request.
    pub fn sign(&self, packet: &mut Vec<u8>) {
        let mac = self.key.mac(packet);
        packet.extend_from_slice(&mac);
    }

    /// Whether a reply carries a valid MAC with our key.
    pub fn verify(&self, packet: &[u8]) -> bool {
        let dlen = self.key.key_type.digest_len();
        let Some(mac_at) = packet.len().checked_sub(4 + dlen) else {
            return false;
        };
        if mac_at < HEADER_LEN {
            return false;
        }
        let id = u32::from_be_bytes([
            packet[mac_at],
            packet[mac_at + 1],
            packet[mac_at + 2],
            packet[mac_at + 3],
        ]);
        id == self.key.id && self.key.verify(&packet[..mac_at], &packet[mac_at + 4..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::auth::KeyType;

    #[test]
    fn sign_then_verify_and_tamper() {
        for (kind, secret) in [
            (KeyType::Md5, &b"secret"[..]),
            (KeyType::Sha1, &[7u8; 20][..]),
            (KeyType::Aes128Cmac, &[9u8; 16][..]),
        ] {
            let a = Authenticator::new(Key::new(3, kind, secret));
            let mut p = vec![0x23u8; 48];
            a.sign(&mut p);
            assert_eq!(p.len(), 48 + 4 + kind.digest_len());
            assert!(a.verify(&p));
            let mut bad = p.clone();
            bad[10] ^= 1;
            assert!(!a.verify(&bad));
            assert!(!a.verify(&p[..48]));
            let other = Authenticator::new(Key::new(4, kind, secret));
            assert!(!other.verify(&p), "wrong key id");
        }
    }

    #[test]
    fn md5_known_answer() {
        // MD5("secret" || 48 zero bytes), computed independently with Python's hashlib.
        let a = Authenticator::new(Key::new(1, KeyType::Md5, b"secret"));
        let mut p = vec![0u8; 48];
        a.sign(&mut p);
        assert_eq!(&p[48..52], &[0, 0, 0, 1]);
        let hex: String = p[52..].iter().map(|x| format!("{x:02x}")).collect();
        assert_eq!(hex, "cffb1b806c0408d3fcf421b90206de76");
    }

    #[test]
    fn load_reports_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ntp.keys");
        std::fs::write(&path, "1 M secret\n2 NOPE x\n").unwrap();
        let (_, notes) = Authenticator::load(&path, 1).unwrap();
        assert!(notes[0].contains("ntp.keys:2"), "{notes:?}");
        let err = Authenticator::load(&path, 9).unwrap_err().to_string();
        assert!(err.starts_with("authentication key 9 unknown"), "{err}");
        assert!(Authenticator::load(&dir.path().join("none"), 1).is_err());
    }
}
