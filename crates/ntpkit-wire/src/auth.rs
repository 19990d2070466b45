//! Symmetric-key authentication: the keys file's text and the legacy MAC (key id + digest).
//! Reading the file and reporting its problems as `file:line` diagnostics is the `ntpkit`
//! crate's business (`config::keys_file`); here is only text → keys.
//!
//! Digests, as ntp.org and NTPsec compute them (REFERENCE.md §1.7, RFC 8573):
//! - MD5 and SHA-1: `H(key || data)`, 16 and 20 bytes;
//! - AES-128-CMAC: `CMAC(key, data)`, 16 bytes, the key zero-padded or cut to 16 bytes.
//!
//! `data` is whatever the protocol signs: for modes 1–5 the header and extension fields
//! before the MAC; for mode 6 (ntpq `-a`, `controlkey`) the padded control message. The
//! functions here take any byte slice so both can use them.

use std::collections::BTreeMap;
use std::fmt;

/// The largest digest we produce (SHA-1).
pub const MAX_DIGEST_LEN: usize = 20;

/// Key ids are 1–65535 (NTPsec's range; ntp.org stops at 65534). 0 is reserved.
pub const MAX_KEY_ID: u32 = 65535;

/// A digest algorithm of the keys file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    Md5,
    Sha1,
    Aes128Cmac,
}

impl KeyType {
    /// The keys-file type name, case-insensitively: `M`/`MD5`, `SHA1`/`SHA`,
    /// `AES128CMAC` (ntp.org), `AES`/`AES-128`/`AES-128-CMAC`/`CMAC` (NTPsec).
    pub fn from_name(name: &str) -> Option<KeyType> {
        match name.to_ascii_uppercase().as_str() {
            "M" | "MD5" => Some(KeyType::Md5),
            "SHA1" | "SHA" | "SHA-1" => Some(KeyType::Sha1),
            "AES128CMAC" | "AES" | "AES-128" | "AES-128-CMAC" | "CMAC" => Some(KeyType::Aes128Cmac),
            _ => None,
        }
    }

    /// Digest length in bytes (the MAC on the wire is 4 bytes longer).
    pub fn digest_len(self) -> usize {
        match self {
            KeyType::Md5 | KeyType::Aes128Cmac => 16,
            KeyType::Sha1 => 20,
        }
    }

    /// The name ntpq shows (`keytype` variable) and a keys file accepts.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Md5 => "MD5",
            KeyType::Sha1 => "SHA1",
            KeyType::Aes128Cmac => "AES128CMAC",
        }
    }
}

/// One symmetric key.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    pub id: u32,
    pub key_type: KeyType,
    pub secret: Vec<u8>,
}

impl fmt::Debug for Key {
    /// Never prints the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Key {{ id: {}, type: {}, {} bytes }}",
            self.id,
            self.key_type.name(),
            self.secret.len()
        )
    }
}

impl Key {
    pub fn new(id: u32, key_type: KeyType, secret: &[u8]) -> Key {
        Key {
            id,
            key_type,
            secret: secret.to_vec(),
        }
    }

    /// The digest of `data` under this key.
    pub fn digest(&self, data: &[u8]) -> Digest {
        let mut out = Digest {
            bytes: [0; MAX_DIGEST_LEN],
            len: self.key_type.digest_len(),
        };
        match self.key_type {
            KeyType::Md5 => {
                use md5::Digest as _;
                let mut h = md5::Md5::new();
                h.update(&self.secret);
                h.update(data);
                out.bytes[..16].copy_from_slice(&h.finalize());
            }
            KeyType::Sha1 => {
                use sha1::Digest as _;
                let mut h = sha1::Sha1::new();
                h.update(&self.secret);
                h.update(data);
                out.bytes[..20].copy_from_slice(&h.finalize());
            }
            KeyType::Aes128Cmac => {
                use cmac::Mac as _;
                let mut k = [0u8; 16];
                let n = self.secret.len().min(16);
                k[..n].copy_from_slice(&self.secret[..n]);
                let mut m = <cmac::Cmac<aes::Aes128> as cmac::Mac>::new_from_slice(&k)
                    .expect("a 16-byte key is always valid for AES-128");
                m.update(data);
                out.bytes[..16].copy_from_slice(&m.finalize().into_bytes());
            }
        }
        out
    }

    /// The MAC trailer for `data`: 4-byte key id (big-endian) then the digest.
    pub fn mac(&self, data: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(4 + MAX_DIGEST_LEN);
        v.extend_from_slice(&self.id.to_be_bytes());
        v.extend_from_slice(self.digest(data).as_bytes());
        v
    }

    /// Whether `digest` is this key's digest of `data`, compared in constant time.
    pub fn verify(&self, data: &[u8], digest: &[u8]) -> bool {
        let ours = self.digest(data);
        constant_time_eq(ours.as_bytes(), digest)
    }
}

/// A computed digest (up to 20 bytes, no allocation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Digest {
    bytes: [u8; MAX_DIGEST_LEN],
    len: usize,
}

impl Digest {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Equal length and equal bytes, without an early exit that would leak the position of
/// the first difference through timing.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Why a MAC did not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("key {0} is not in the keys file")]
    UnknownKey(u32),
    #[error("key {0} is not trusted")]
    UntrustedKey(u32),
    #[error("MAC for key {key_id} has a {got}-byte digest, {key_type} needs {want}")]
    WrongDigestLength {
        key_id: u32,
        key_type: &'static str,
        got: usize,
        want: usize,
    },
    #[error("MAC for key {0} does not match")]
    BadDigest(u32),
    #[error("MAC trailer too short ({0} bytes)")]
    Truncated(usize),
}

/// What is wrong with one keys-file line. Every kind but [`KeyLineError::Duplicate`] means
/// the line was skipped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyLineError {
    /// A field is missing (`"key id"`, `"key type"`, `"key"`).
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("key id '{0}' is not a number from 1 to {MAX_KEY_ID}")]
    BadId(String),
    #[error("unknown key type '{0}' (MD5, SHA1, AES128CMAC)")]
    UnknownType(String),
    #[error("a key of up to 20 characters must be printable ASCII")]
    NotPrintable,
    /// Longer than 20 characters and not all hex digits; the length in characters.
    #[error("a key longer than 20 characters must be hex digits ({0} characters given)")]
    NotHex(usize),
    #[error("hex key has an odd number of digits ({0})")]
    OddHexDigits(usize),
    #[error("hex key longer than 64 digits ({0})")]
    HexTooLong(usize),
    #[error("bad address '{0}' in key's address list")]
    BadAddress(String),
    #[error("unexpected '{0}'")]
    Unexpected(String),
    /// The key id was defined on an earlier line; this later line wins (a warning, the
    /// key is kept).
    #[error("key {0} defined again; the later line wins")]
    Duplicate(u32),
}

impl KeyLineError {
    /// Whether the line was still used (only a redefinition is).
    pub fn is_warning(&self) -> bool {
        matches!(self, KeyLineError::Duplicate(_))
    }
}

/// A problem on one keys-file line: where (line and column count from 1; the column is
/// absent when the whole line is meant) and what.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {error}")]
pub struct KeyLineIssue {
    pub line: usize,
    pub column: Option<usize>,
    #[source]
    pub error: KeyLineError,
}

/// The keys of a keys file, by id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyStore {
    keys: BTreeMap<u32, Key>,
}

impl KeyStore {
    pub fn new() -> KeyStore {
        KeyStore::default()
    }

    pub fn insert(&mut self, key: Key) {
        self.keys.insert(key.id, key);
    }

    pub fn get(&self, id: u32) -> Option<&Key> {
        self.keys.get(&id)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.keys.keys().copied()
    }

    /// Parse keys-file text (`keyid type key [addresses]` lines, `#` comments). Bad lines
    /// are skipped, as ntpd does, and returned as [`KeyLineIssue`]s with their line (and
    /// column) numbers; a key defined again replaces the earlier one (a warning).
    ///
    /// ```
    /// use ntpkit_wire::auth::{KeyStore, KeyLineError};
    ///
    /// let (keys, issues) = KeyStore::from_text("1 MD5 secret # comment\n2 FOO x\n");
    /// assert_eq!(keys.ids().collect::<Vec<_>>(), [1]);
    /// assert_eq!((issues[0].line, issues[0].column), (2, Some(3)));
    /// assert_eq!(issues[0].error, KeyLineError::UnknownType("FOO".into()));
    /// assert_eq!(issues[0].error.to_string(), "unknown key type 'FOO' (MD5, SHA1, AES128CMAC)");
    /// ```
    pub fn from_text(text: &str) -> (KeyStore, Vec<KeyLineIssue>) {
        let mut store = KeyStore::new();
        let mut issues = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("");
            if line.trim().is_empty() {
                continue;
            }
            match parse_key_line(line) {
                Ok(key) => {
                    if store.keys.contains_key(&key.id) {
                        issues.push(KeyLineIssue {
                            line: i + 1,
                            column: None,
                            error: KeyLineError::Duplicate(key.id),
                        });
                    }
                    store.insert(key);
                }
                Err((column, error)) => issues.push(KeyLineIssue {
                    line: i + 1,
                    column: Some(column),
                    error,
                }),
            }
        }
        (store, issues)
    }

    /// Sign `data` with key `id`: the MAC trailer (key id + digest) to append.
    pub fn sign(&self, id: u32, data: &[u8]) -> Result<Vec<u8>, AuthError> {
        Ok(self.get(id).ok_or(AuthError::UnknownKey(id))?.mac(data))
    }

    /// Check a MAC trailer (`key id || digest`) over `data`. Returns the key id.
    pub fn verify(&self, data: &[u8], mac: &[u8]) -> Result<u32, AuthError> {
        if mac.len() < 4 {
            return Err(AuthError::Truncated(mac.len()));
        }
        let id = u32::from_be_bytes([mac[0], mac[1], mac[2], mac[3]]);
        self.verify_digest(id, data, &mac[4..])
    }

    /// Check `digest` over `data` for key `id`.
    pub fn verify_digest(&self, id: u32, data: &[u8], digest: &[u8]) -> Result<u32, AuthError> {
        let key = self.get(id).ok_or(AuthError::UnknownKey(id))?;
        let want = key.key_type.digest_len();
        if digest.len() != want {
            return Err(AuthError::WrongDigestLength {
                key_id: id,
                key_type: key.key_type.name(),
                got: digest.len(),
                want,
            });
        }
        if key.verify(data, digest) {
            Ok(id)
        } else {
            Err(AuthError::BadDigest(id))
        }
    }
}

/// One keys-file line (comment already removed) → key, or (column, what is wrong).
fn parse_key_line(line: &str) -> Result<Key, (usize, KeyLineError)> {
    let fields = fields_with_columns(line);
    let end_col = line.chars().count() + 1;
    let field = |i: usize, what: &'static str| {
        fields
            .get(i)
            .copied()
            .ok_or((end_col, KeyLineError::Missing(what)))
    };
    let (id_col, id_text) = field(0, "key id")?;
    let id: u32 = id_text
        .parse()
        .ok()
        .filter(|id| (1..=MAX_KEY_ID).contains(id))
        .ok_or_else(|| (id_col, KeyLineError::BadId(id_text.to_string())))?;
    let (type_col, type_text) = field(1, "key type")?;
    let key_type = KeyType::from_name(type_text)
        .ok_or_else(|| (type_col, KeyLineError::UnknownType(type_text.to_string())))?;
    let (key_col, key_text) = field(2, "key")?;
    let secret = decode_secret(key_text).map_err(|m| (key_col, m))?;
    if let Some(&(col, addrs)) = fields.get(3) {
        for a in addrs.split(',').filter(|a| !a.is_empty()) {
            let ip = a.split('/').next().unwrap_or(a);
            if ip.parse::<std::net::IpAddr>().is_err() {
                return Err((col, KeyLineError::BadAddress(a.to_string())));
            }
        }
    }
    if let Some(&(col, extra)) = fields.get(4) {
        return Err((col, KeyLineError::Unexpected(extra.to_string())));
    }
    Ok(Key {
        id,
        key_type,
        secret,
    })
}

/// ≤ 20 characters: the key is the printable ASCII text itself; longer: hex digits (up to
/// 64, i.e. 32 bytes, as NTPsec allows).
fn decode_secret(text: &str) -> Result<Vec<u8>, KeyLineError> {
    let n = text.chars().count();
    if n <= 20 {
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(KeyLineError::NotPrintable);
        }
        return Ok(text.as_bytes().to_vec());
    }
    if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(KeyLineError::NotHex(n));
    }
    if n % 2 != 0 {
        return Err(KeyLineError::OddHexDigits(n));
    }
    if n > 64 {
        return Err(KeyLineError::HexTooLong(n));
    }
    Ok((0..n)
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap_or(0))
        .collect())
}

fn fields_with_columns(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start: Option<(usize, usize)> = None; // (byte, column)
    for (col, (byte, c)) in line.char_indices().enumerate() {
        if c.is_whitespace() {
            if let Some((b, cl)) = start.take() {
                out.push((cl + 1, &line[b..byte]));
            }
        } else if start.is_none() {
            start = Some((byte, col));
        }
    }
    if let Some((b, cl)) = start {
        out.push((cl + 1, &line[b..]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn md5_and_sha1_are_hash_of_key_then_data() {
        // MD5("abc") and SHA1("abc") (RFC 1321 / FIPS 180-1 test vectors), split as
        // key "a" + data "bc": the digest must be H(key || data).
        let k = Key::new(1, KeyType::Md5, b"a");
        assert_eq!(
            k.digest(b"bc").as_bytes(),
            hex("900150983cd24fb0d6963f7d28e17f72")
        );
        let k = Key::new(2, KeyType::Sha1, b"ab");
        assert_eq!(
            k.digest(b"c").as_bytes(),
            hex("a9993e364706816aba3e25717850c26c9cd0d89d")
        );
    }

    #[test]
    fn aes_cmac_rfc4493_vectors() {
        let key = hex("2b7e151628aed2a6abf7158809cf4f3c");
        let k = Key::new(3, KeyType::Aes128Cmac, &key);
        assert_eq!(
            k.digest(b"").as_bytes(),
            hex("bb1d6929e95937287fa37d129b756746")
        );
        assert_eq!(
            k.digest(&hex("6bc1bee22e409f96e93d7e117393172a"))
                .as_bytes(),
            hex("070a16b46b4d4144f79bdd9dd04a287c")
        );
    }

    #[test]
    fn mac_trailer_and_constant_time_verify() {
        let mut ks = KeyStore::new();
        ks.insert(Key::new(42, KeyType::Md5, b"secret"));
        let mac = ks.sign(42, b"packet").unwrap();
        assert_eq!(mac.len(), 20);
        assert_eq!(&mac[..4], &42u32.to_be_bytes());
        assert_eq!(ks.verify(b"packet", &mac), Ok(42));
        assert_eq!(ks.verify(b"packeT", &mac), Err(AuthError::BadDigest(42)));
        let mut bad = mac.clone();
        bad[19] ^= 1;
        assert_eq!(ks.verify(b"packet", &bad), Err(AuthError::BadDigest(42)));
        assert!(matches!(
            ks.verify(b"packet", &mac[..19]),
            Err(AuthError::WrongDigestLength { got: 15, .. })
        ));
        assert_eq!(
            ks.verify(b"x", &[0, 0, 0, 7]),
            Err(AuthError::UnknownKey(7))
        );
        assert_eq!(ks.verify(b"x", &[0, 0]), Err(AuthError::Truncated(2)));
        assert!(!constant_time_eq(b"ab", b"abc"));
    }

    #[test]
    fn keys_file_types_ascii_and_hex() {
        let text = "\
# ntp keys
1 M secret1
2 MD5 another # trailing comment
3 SHA1 0123456789abcdef0123456789abcdef01234567
4 sha  sh4
5 AES128CMAC 000102030405060708090a0b0c0d0e0f
6 aes-128 000102030405060708090a0b0c0d0e0f 127.0.0.1,192.0.2.0/24
65535 md5 max
";
        let (ks, d) = KeyStore::from_text(text);
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(ks.len(), 7);
        assert_eq!(ks.get(1).unwrap().secret, b"secret1");
        assert_eq!(ks.get(3).unwrap().key_type, KeyType::Sha1);
        assert_eq!(ks.get(3).unwrap().secret.len(), 20);
        assert_eq!(ks.get(4).unwrap().key_type, KeyType::Sha1);
        assert_eq!(ks.get(5).unwrap().secret, (0..16).collect::<Vec<u8>>());
        assert_eq!(ks.get(6).unwrap().key_type, KeyType::Aes128Cmac);
        assert!(ks.get(65535).is_some());
        assert!(!format!("{:?}", ks.get(1).unwrap()).contains("secret1"));
    }

    #[test]
    fn keys_file_errors_carry_line_column_and_kind() {
        let text = "1 M ok\n0 M zero\n2 FOO x\n3 M\n4 M 0123456789abcdef0123456789abcdefxyz\n\
                    5 M 0123456789abcdef0123456789abcdef012\n70000 M big\n6 M k 999.1.1.1\n\
                    1 M again\n7 M k 127.0.0.1 extra\n";
        let (ks, d) = KeyStore::from_text(text);
        assert_eq!(ks.len(), 1);
        assert_eq!(ks.get(1).unwrap().secret, b"again");
        let got: Vec<(usize, Option<usize>, KeyLineError)> =
            d.into_iter().map(|i| (i.line, i.column, i.error)).collect();
        use KeyLineError::*;
        assert_eq!(
            got,
            [
                (2, Some(1), BadId("0".into())),
                (3, Some(3), UnknownType("FOO".into())),
                (4, Some(4), Missing("key")),
                (5, Some(5), NotHex(35)),
                (6, Some(5), OddHexDigits(35)),
                (7, Some(1), BadId("70000".into())),
                (8, Some(7), BadAddress("999.1.1.1".into())),
                (9, None, Duplicate(1)),
                (10, Some(17), Unexpected("extra".into())),
            ]
        );
    }
}
