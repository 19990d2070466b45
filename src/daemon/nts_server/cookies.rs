//! The server's cookie keys and its cookies (RFC 8915 §6: the format is the server's own).
//!
//! A cookie is `key id (4) ‖ nonce (16) ‖ AES-SIV-CMAC-256(key, AD = key id, nonce,
//! C2S ‖ S2C)`: 100 bytes for AEAD 15, 164 for 17. The AEAD the keys belong to is told by
//! their length (32 or 64 bytes each), so it needs no byte of its own. Nothing about the
//! client is kept: the cookie carries its keys, sealed with a key only this server holds.
//!
//! Keys rotate (a new one a day by default) and the newest [`KEPT`] are kept, so a cookie
//! stays good for a week after it was made; they are saved in the cookie file (0600,
//! written whole then renamed over the old one), so a restart does not invalidate the
//! cookies clients hold. Key ids are random: a cookie from another server names a key this
//! one does not have.

use std::io::Write;
use std::path::Path;

use aes_siv::aead::{AeadInPlace, KeyInit};
use aes_siv::{Aes128SivAead, Nonce};

use crate::config::nts::{AEAD_AES_SIV_CMAC_256, AEAD_AES_SIV_CMAC_512};

/// How many keys are kept: today's and the previous seven (a week at one a day).
pub const KEPT: usize = 8;
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 16;
const TAG_LEN: usize = 16;
const FILE_MAGIC: &str = "ntpkit-nts-cookie-keys 1";

/// Fill `buf` from the kernel's CSPRNG, through a per-thread buffer: the serving path
/// needs 32 random bytes a reply (two nonces), and a getrandom(2) call for each would cost
/// more than the AES-SIV work around them.
pub fn random_bytes(buf: &mut [u8]) {
    use std::cell::RefCell;
    const POOL: usize = 4096;
    thread_local! {
        static BUF: RefCell<(Box<[u8; POOL]>, usize)> = RefCell::new((Box::new([0; POOL]), POOL));
    }
    if buf.len() > POOL / 4 {
        return crate::random::fill(buf);
    }
    BUF.with(|b| {
        let (pool, used) = &mut *b.borrow_mut();
        if *used + buf.len() > POOL {
            crate::random::fill(&mut pool[..]);
            *used = 0;
        }
        buf.copy_from_slice(&pool[*used..*used + buf.len()]);
        // never hand out the same bytes twice
        pool[*used..*used + buf.len()].fill(0);
        *used += buf.len();
    })
}

pub struct CookieKey {
    pub id: u32,
    /// Unix seconds.
    pub created: u64,
    key: [u8; KEY_LEN],
    cipher: Aes128SivAead,
}

impl Clone for CookieKey {
    fn clone(&self) -> CookieKey {
        CookieKey::new(self.id, self.created, self.key)
    }
}

impl CookieKey {
    fn new(id: u32, created: u64, key: [u8; KEY_LEN]) -> CookieKey {
        CookieKey {
            id,
            created,
            key,
            cipher: Aes128SivAead::new((&key).into()),
        }
    }

    fn random(created: u64) -> CookieKey {
        let mut key = [0u8; KEY_LEN];
        random_bytes(&mut key);
        let mut id = [0u8; 4];
        random_bytes(&mut id);
        CookieKey::new(u32::from_be_bytes(id), created, key)
    }
}

/// What a cookie holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieContents {
    pub aead: u16,
    pub c2s: Vec<u8>,
    pub s2c: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieError {
    /// Its key is not (or no longer) ours: another server's, or older than a week.
    UnknownKey,
    /// The key is ours but the cookie does not open (forged or damaged).
    Undecryptable,
}

/// The keys, newest first.
#[derive(Clone)]
pub struct CookieKeys {
    keys: Vec<CookieKey>,
}

/// Why the cookie key file is not usable (the daemon then starts with a new key).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CookieFileError {
    #[error("line 1: not an ntpkit cookie key file ('{}' expected)", FILE_MAGIC)]
    NotOurs,
    #[error("line {line}: {what}")]
    BadLine { line: usize, what: &'static str },
    #[error("no keys")]
    NoKeys,
}

impl CookieKeys {
    pub fn fresh(now: u64) -> CookieKeys {
        CookieKeys {
            keys: vec![CookieKey::random(now)],
        }
    }

    pub fn ids(&self) -> Vec<u32> {
        self.keys.iter().map(|k| k.id).collect()
    }

    /// A new key when the newest is `rotate_secs` old (or from the future: a clock that
    /// was set back); the oldest beyond [`KEPT`] go. Returns whether anything changed.
    pub fn rotate_if_due(&mut self, now: u64, rotate_secs: u64) -> bool {
        let newest = self.keys[0].created;
        if now < newest.saturating_add(rotate_secs) && now >= newest {
            return false;
        }
        self.rotate(now);
        true
    }

    pub fn rotate(&mut self, now: u64) {
        let mut k = CookieKey::random(now);
        while self.keys.iter().any(|o| o.id == k.id) {
            k = CookieKey::random(now);
        }
        self.keys.insert(0, k);
        self.keys.truncate(KEPT);
    }

    /// A cookie holding the two keys (their length tells the AEAD), sealed with the
    /// newest key.
    pub fn make(&self, c2s: &[u8], s2c: &[u8]) -> Vec<u8> {
        debug_assert_eq!(c2s.len(), s2c.len());
        let key = &self.keys[0];
        let id = key.id.to_be_bytes();
        let mut nonce = [0u8; NONCE_LEN];
        random_bytes(&mut nonce);
        let mut out = Vec::with_capacity(4 + NONCE_LEN + TAG_LEN + c2s.len() * 2);
        out.extend_from_slice(&id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&[0u8; TAG_LEN]);
        out.extend_from_slice(c2s);
        out.extend_from_slice(s2c);
        let body = 4 + NONCE_LEN + TAG_LEN;
        let tag = key
            .cipher
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), &id, &mut out[body..])
            .expect("AES-SIV seals any length");
        out[4 + NONCE_LEN..body].copy_from_slice(&tag);
        out
    }

    /// Open a cookie: its contents and the age of its key (0 newest, 1 the one before…).
    pub fn open(&self, cookie: &[u8]) -> Result<(CookieContents, usize), CookieError> {
        let body = 4 + NONCE_LEN + TAG_LEN;
        if cookie.len() < 4 {
            return Err(CookieError::UnknownKey);
        }
        let id = u32::from_be_bytes([cookie[0], cookie[1], cookie[2], cookie[3]]);
        let Some(age) = self.keys.iter().position(|k| k.id == id) else {
            return Err(CookieError::UnknownKey);
        };
        let aead = match cookie.len().checked_sub(body) {
            Some(64) => AEAD_AES_SIV_CMAC_256,
            Some(128) => AEAD_AES_SIV_CMAC_512,
            _ => return Err(CookieError::Undecryptable),
        };
        let mut plain = cookie[body..].to_vec();
        self.keys[age]
            .cipher
            .decrypt_in_place_detached(
                Nonce::from_slice(&cookie[4..4 + NONCE_LEN]),
                &cookie[..4],
                &mut plain,
                cookie[4 + NONCE_LEN..body].into(),
            )
            .map_err(|_| CookieError::Undecryptable)?;
        let half = plain.len() / 2;
        Ok((
            CookieContents {
                aead,
                s2c: plain[half..].to_vec(),
                c2s: {
                    plain.truncate(half);
                    plain
                },
            },
            age,
        ))
    }

    /// The cookie file's text: a header, then one `id created key` line per key, newest
    /// first.
    pub fn render(&self) -> String {
        let mut s = format!(
            "{FILE_MAGIC}\n# NTS cookie keys of ntpkit's ntpd: key id, created (Unix s), key; newest first. Keep secret.\n"
        );
        for k in &self.keys {
            let hex: String = k.key.iter().map(|b| format!("{b:02x}")).collect();
            s.push_str(&format!("{:08x} {} {hex}\n", k.id, k.created));
        }
        s
    }

    pub fn parse(text: &str) -> Result<CookieKeys, CookieFileError> {
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, l)) if l.trim() == FILE_MAGIC => {}
            _ => return Err(CookieFileError::NotOurs),
        }
        let mut keys = Vec::new();
        for (i, line) in lines {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |what: &'static str| CookieFileError::BadLine { line: i + 1, what };
            let w: Vec<&str> = line.split_whitespace().collect();
            let [id, created, key] = w[..] else {
                return Err(bad("expected 'id created key'"));
            };
            let id = u32::from_str_radix(id, 16).map_err(|_| bad("bad key id"))?;
            let created: u64 = created.parse().map_err(|_| bad("bad creation time"))?;
            if key.len() != KEY_LEN * 2 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad("key is not 64 hex digits"));
            }
            let mut k = [0u8; KEY_LEN];
            for (j, b) in k.iter_mut().enumerate() {
                *b = u8::from_str_radix(&key[2 * j..2 * j + 2], 16).map_err(|_| bad("bad key"))?;
            }
            keys.push(CookieKey::new(id, created, k));
        }
        if keys.is_empty() {
            return Err(CookieFileError::NoKeys);
        }
        keys.sort_by_key(|k| std::cmp::Reverse(k.created));
        keys.truncate(KEPT);
        Ok(CookieKeys { keys })
    }

    /// Write the file atomically: a 0600 temporary beside it, synced, renamed over it.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let result = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(self.render().as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_opens_to_its_keys_and_names_its_key_age() {
        let mut keys = CookieKeys::fresh(1000);
        let c = keys.make(&[1; 32], &[2; 32]);
        assert_eq!(c.len(), 100);
        let (got, age) = keys.open(&c).unwrap();
        assert_eq!((got.aead, age), (15, 0));
        assert_eq!((got.c2s, got.s2c), (vec![1; 32], vec![2; 32]));
        let c17 = keys.make(&[3; 64], &[4; 64]);
        assert_eq!(c17.len(), 164);
        assert_eq!(keys.open(&c17).unwrap().0.aead, 17);
        // two cookies for the same keys differ (a fresh nonce each): unlinkable
        assert_ne!(c, keys.make(&[1; 32], &[2; 32]));
        assert!(!keys.rotate_if_due(1000 + 86_399, 86_400));
        assert!(keys.rotate_if_due(1000 + 86_400, 86_400));
        assert_eq!(keys.open(&c).unwrap().1, 1);
        for day in 2..KEPT as u64 {
            keys.rotate(1000 + day * 86_400);
        }
        assert_eq!(keys.open(&c).unwrap().1, KEPT - 1);
        keys.rotate(1000 + 9 * 86_400);
        assert_eq!(keys.open(&c), Err(CookieError::UnknownKey));
    }

    #[test]
    fn forged_damaged_and_foreign_cookies_do_not_open() {
        let keys = CookieKeys::fresh(5);
        let other = CookieKeys::fresh(5);
        let c = keys.make(&[1; 32], &[2; 32]);
        assert_eq!(other.open(&c), Err(CookieError::UnknownKey));
        for i in 4..c.len() {
            let mut d = c.clone();
            d[i] ^= 1;
            assert_eq!(keys.open(&d), Err(CookieError::Undecryptable), "byte {i}");
        }
        assert!(keys.open(&c[..50]).is_err());
        assert!(keys.open(&[]).is_err());
    }

    #[test]
    fn the_file_round_trips_and_a_restart_keeps_cookies_good() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("nts-keys");
        let mut keys = CookieKeys::fresh(100);
        keys.rotate(200);
        let c = keys.make(&[7; 32], &[8; 32]);
        keys.save(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let back = CookieKeys::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(back.ids(), keys.ids());
        assert_eq!(back.open(&c).unwrap().0.c2s, vec![7; 32]);
        assert!(CookieKeys::parse("L: 32\nI: abc\n").is_err());
        assert!(CookieKeys::parse(&format!("{FILE_MAGIC}\n12 x y\n")).is_err());
        assert_eq!(
            std::fs::read_dir(d.path()).unwrap().count(),
            1,
            "no temporary left"
        );
    }
}
