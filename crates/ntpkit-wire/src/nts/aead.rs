//! The AEAD algorithms NTS uses (AES-SIV-CMAC, RFC 5297) and the derivation of the C2S/S2C
//! keys from the TLS exporter (RFC 8915 §5.1).
//!
//! Sealing follows RFC 8915 §5.6 with the RFC 5116 interface of RFC 5297 §6: the
//! associated data is one header, the nonce the last one, and the output is the 16-byte
//! synthetic IV followed by the ciphertext.

use aes_siv::siv::{Aes128Siv, Aes256Siv};
use aes_siv::KeyInit;
use std::fmt;

/// Length of the synthetic IV (the authentication tag) that prefixes every ciphertext.
pub const TAG_LEN: usize = 16;

/// An AEAD algorithm from the IANA "AEAD Algorithms" registry that NTS may negotiate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Aead {
    /// AEAD_AES_SIV_CMAC_256, id 15, mandatory to implement (RFC 8915 §5.1).
    AesSivCmac256,
    /// AEAD_AES_SIV_CMAC_512, id 17.
    AesSivCmac512,
}

impl Aead {
    /// Every algorithm we implement, most preferred first.
    pub const ALL: [Aead; 2] = [Aead::AesSivCmac512, Aead::AesSivCmac256];

    pub fn id(self) -> u16 {
        match self {
            Aead::AesSivCmac256 => 15,
            Aead::AesSivCmac512 => 17,
        }
    }

    pub fn from_id(id: u16) -> Option<Aead> {
        match id {
            15 => Some(Aead::AesSivCmac256),
            17 => Some(Aead::AesSivCmac512),
            _ => None,
        }
    }

    /// Key length in bytes (both halves of the SIV key).
    pub fn key_len(self) -> usize {
        match self {
            Aead::AesSivCmac256 => 32,
            Aead::AesSivCmac512 => 64,
        }
    }

    /// The name NTPsec's `aead` option and its logs use.
    pub fn name(self) -> &'static str {
        match self {
            Aead::AesSivCmac256 => "AES_SIV_CMAC_256",
            Aead::AesSivCmac512 => "AES_SIV_CMAC_512",
        }
    }

    /// Parse an `aead NAME` option: NTPsec's names (`AES_SIV_CMAC_256`), with `-` for `_`
    /// and in any case, or the numeric id.
    pub fn from_name(name: &str) -> Option<Aead> {
        let norm = name.trim().to_ascii_uppercase().replace('-', "_");
        if let Ok(id) = norm.parse::<u16>() {
            return Aead::from_id(id);
        }
        match norm.as_str() {
            "AES_SIV_CMAC_256" | "AEAD_AES_SIV_CMAC_256" => Some(Aead::AesSivCmac256),
            "AES_SIV_CMAC_512" | "AEAD_AES_SIV_CMAC_512" => Some(Aead::AesSivCmac512),
            _ => None,
        }
    }
}

impl fmt::Display for Aead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A key for one direction (C2S or S2C) of one algorithm.
#[derive(Clone, PartialEq, Eq)]
pub struct AeadKey {
    aead: Aead,
    bytes: Vec<u8>,
}

impl fmt::Debug for AeadKey {
    // Never print key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AeadKey({}, {} bytes)", self.aead, self.bytes.len())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AeadError {
    #[error("{aead} needs a {want}-byte key, got {got} bytes")]
    KeyLength { aead: Aead, want: usize, got: usize },
    #[error("the nonce is empty")]
    EmptyNonce,
    #[error("authentication failed (wrong key, or the packet was altered)")]
    Authentication,
    #[error("ciphertext of {0} bytes is shorter than the 16-byte tag")]
    ShortCiphertext(usize),
    #[error("TLS exporter failed: {0}")]
    Exporter(String),
}

impl AeadKey {
    pub fn new(aead: Aead, bytes: &[u8]) -> Result<AeadKey, AeadError> {
        if bytes.len() != aead.key_len() {
            return Err(AeadError::KeyLength {
                aead,
                want: aead.key_len(),
                got: bytes.len(),
            });
        }
        Ok(AeadKey {
            aead,
            bytes: bytes.to_vec(),
        })
    }

    pub fn aead(&self) -> Aead {
        self.aead
    }

    /// The raw key (for a server's cookie, which carries both keys).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Seal `plaintext` with `ad` as associated data: tag ‖ ciphertext.
    pub fn seal(&self, nonce: &[u8], ad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, AeadError> {
        if nonce.is_empty() {
            return Err(AeadError::EmptyNonce);
        }
        let headers: [&[u8]; 2] = [ad, nonce];
        let out = match self.aead {
            Aead::AesSivCmac256 => Aes128Siv::new_from_slice(&self.bytes)
                .map_err(|_| self.length_error())?
                .encrypt(headers, plaintext),
            Aead::AesSivCmac512 => Aes256Siv::new_from_slice(&self.bytes)
                .map_err(|_| self.length_error())?
                .encrypt(headers, plaintext),
        };
        out.map_err(|_| AeadError::Authentication)
    }

    /// Open tag ‖ ciphertext sealed by [`AeadKey::seal`]; any alteration of the
    /// ciphertext, nonce or associated data is [`AeadError::Authentication`].
    pub fn open(&self, nonce: &[u8], ad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, AeadError> {
        if nonce.is_empty() {
            return Err(AeadError::EmptyNonce);
        }
        if ciphertext.len() < TAG_LEN {
            return Err(AeadError::ShortCiphertext(ciphertext.len()));
        }
        let headers: [&[u8]; 2] = [ad, nonce];
        let out = match self.aead {
            Aead::AesSivCmac256 => Aes128Siv::new_from_slice(&self.bytes)
                .map_err(|_| self.length_error())?
                .decrypt(headers, ciphertext),
            Aead::AesSivCmac512 => Aes256Siv::new_from_slice(&self.bytes)
                .map_err(|_| self.length_error())?
                .decrypt(headers, ciphertext),
        };
        out.map_err(|_| AeadError::Authentication)
    }

    fn length_error(&self) -> AeadError {
        AeadError::KeyLength {
            aead: self.aead,
            want: self.aead.key_len(),
            got: self.bytes.len(),
        }
    }
}

/// The C2S and S2C keys of one NTS-KE session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionKeys {
    /// Client to server: the client seals requests, the server opens them.
    pub c2s: AeadKey,
    /// Server to client.
    pub s2c: AeadKey,
}

/// The exporter context of RFC 8915 §5.1: next protocol id, AEAD id (both u16 big-endian),
/// then 0x00 for the C2S key or 0x01 for the S2C key.
pub fn exporter_context(next_protocol: u16, aead: Aead, s2c: bool) -> [u8; 5] {
    let p = next_protocol.to_be_bytes();
    let a = aead.id().to_be_bytes();
    [p[0], p[1], a[0], a[1], u8::from(s2c)]
}

/// Derive both keys with `export(label, context, out)`, which fills `out` from the TLS 1.3
/// exporter of the session (rustls: `export_keying_material(out, label, Some(context))`).
pub fn derive_keys<F, E>(
    next_protocol: u16,
    aead: Aead,
    mut export: F,
) -> Result<SessionKeys, AeadError>
where
    F: FnMut(&str, &[u8], &mut [u8]) -> Result<(), E>,
    E: fmt::Display,
{
    let mut one = |s2c: bool| -> Result<AeadKey, AeadError> {
        let mut buf = vec![0u8; aead.key_len()];
        export(
            super::EXPORTER_LABEL,
            &exporter_context(next_protocol, aead, s2c),
            &mut buf,
        )
        .map_err(|e| AeadError::Exporter(e.to_string()))?;
        AeadKey::new(aead, &buf)
    };
    Ok(SessionKeys {
        c2s: one(false)?,
        s2c: one(true)?,
    })
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

    /// RFC 5297 appendix A.1 (deterministic: one header, no nonce) through the same
    /// primitive, to pin the key-half order and tag placement.
    #[test]
    fn rfc5297_vector() {
        let key = hex("fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
        let ad = hex("101112131415161718191a1b1c1d1e1f2021222324252627");
        let pt = hex("112233445566778899aabbccddee");
        let mut siv = Aes128Siv::new_from_slice(&key).unwrap();
        let ct = siv.encrypt([&ad[..]], &pt).unwrap();
        assert_eq!(
            ct,
            hex("85632d07c6e8f37f950acd320a2ecc9340c02b9690c4dc04daef7f6afe5c")
        );
    }

    #[test]
    fn seal_open_and_tamper() {
        for aead in Aead::ALL {
            let key = AeadKey::new(aead, &vec![7; aead.key_len()]).unwrap();
            let nonce = [1u8; 16];
            let ct = key.seal(&nonce, b"header", b"secret").unwrap();
            assert_eq!(ct.len(), 6 + TAG_LEN);
            assert_eq!(key.open(&nonce, b"header", &ct).unwrap(), b"secret");
            assert_eq!(
                key.open(&nonce, b"headeR", &ct),
                Err(AeadError::Authentication)
            );
            assert_eq!(
                key.open(&[2u8; 16], b"header", &ct),
                Err(AeadError::Authentication)
            );
            let mut bad = ct.clone();
            bad[0] ^= 1;
            assert_eq!(
                key.open(&nonce, b"header", &bad),
                Err(AeadError::Authentication)
            );
            assert!(key.open(&nonce, b"header", &ct[..5]).is_err());
            assert!(key.open(&[], b"header", &ct).is_err());
        }
        assert!(AeadKey::new(Aead::AesSivCmac256, &[0; 64]).is_err());
    }

    #[test]
    fn names_and_ids() {
        for aead in Aead::ALL {
            assert_eq!(Aead::from_id(aead.id()), Some(aead));
            assert_eq!(Aead::from_name(aead.name()), Some(aead));
        }
        assert_eq!(
            Aead::from_name("aes-siv-cmac-256"),
            Some(Aead::AesSivCmac256)
        );
        assert_eq!(Aead::from_name("17"), Some(Aead::AesSivCmac512));
        assert_eq!(Aead::from_name("AES_GCM"), None);
        assert_eq!(Aead::from_id(30), None);
    }

    #[test]
    fn exporter_context_and_derivation() {
        assert_eq!(
            exporter_context(0, Aead::AesSivCmac256, false),
            [0, 0, 0, 15, 0]
        );
        assert_eq!(
            exporter_context(0, Aead::AesSivCmac512, true),
            [0, 0, 0, 17, 1]
        );
        let keys = derive_keys(0, Aead::AesSivCmac256, |label, ctx, out| {
            assert_eq!(label, "EXPORTER-network-time-security");
            out.fill(ctx[4] + 1);
            Ok::<(), String>(())
        })
        .unwrap();
        assert_eq!(keys.c2s.as_bytes(), &[1; 32]);
        assert_eq!(keys.s2c.as_bytes(), &[2; 32]);
        let err = derive_keys(0, Aead::AesSivCmac256, |_, _, _| Err("no session")).unwrap_err();
        assert_eq!(err, AeadError::Exporter("no session".into()));
    }
}
