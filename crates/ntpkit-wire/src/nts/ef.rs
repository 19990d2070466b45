//! NTS extension fields in NTP packets (RFC 8915 §5) and the sealed packets built from them.
//!
//! An NTS packet is the 48-byte header, extension fields, and last the NTS Authenticator
//! and Encrypted Extension Fields field. There is no legacy MAC: everything after the
//! header is an extension-field chain to the last byte, so a 20- or 24-byte tail is a
//! malformed field here, never a MAC. The authenticator's AEAD covers, as associated data,
//! the packet from its first byte up to the authenticator field; fields after the
//! authenticator are not covered and are ignored.
//!
//! Authenticator body (§5.6): nonce length (u16), ciphertext length (u16), the nonce
//! padded to 4, the ciphertext padded to 4, then optional padding. The ciphertext is the
//! AEAD's output (16-byte SIV ‖ encrypted extension fields).

use super::aead::{AeadError, AeadKey};
use crate::extension::{ExtensionError, ExtensionField, MIN_FIELD_LEN};
use crate::packet::HEADER_LEN;

/// Extension field types (RFC 8915 §7.5).
pub mod ef_type {
    pub const UNIQUE_IDENTIFIER: u16 = 0x0104;
    pub const COOKIE: u16 = 0x0204;
    pub const COOKIE_PLACEHOLDER: u16 = 0x0304;
    pub const AUTHENTICATOR: u16 = 0x0404;
}

/// The shortest unique identifier a packet may carry (RFC 8915 §5.3).
pub const MIN_UNIQUE_ID_LEN: usize = 32;
/// The nonce length we send (AES-SIV's natural 16 bytes).
pub const NONCE_LEN: usize = 16;
/// The kiss code a server sends when it cannot decrypt the cookie (RFC 8915 §5.7).
pub const NTSN: [u8; 4] = *b"NTSN";

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NtsEfError {
    #[error("packet of {0} bytes is shorter than the 48-byte header")]
    ShortPacket(usize),
    #[error(transparent)]
    Extension(#[from] ExtensionError),
    #[error("{0} bytes after the last extension field (NTS packets carry no MAC)")]
    Trailing(usize),
    #[error("malformed NTS authenticator at offset {offset}: {what}")]
    BadAuthenticator { offset: usize, what: &'static str },
    #[error("no NTS authenticator field")]
    NoAuthenticator,
    #[error("more than one {0:#06x} field")]
    Duplicate(u16),
    #[error("no unique identifier field")]
    NoUniqueId,
    #[error("unique identifier of {0} bytes (at least 32 required)")]
    ShortUniqueId(usize),
    #[error("unique identifier does not match the request")]
    UniqueIdMismatch,
    #[error("no NTS cookie field")]
    NoCookie,
    #[error("NTS authentication: {0}")]
    Aead(#[from] AeadError),
    #[error("encrypted extension fields: {0}")]
    Inner(&'static str),
}

/// The authenticator field as received, and where it starts (= the length of the
/// associated data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticator {
    pub offset: usize,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl Authenticator {
    fn parse(body: &[u8], offset: usize) -> Result<Authenticator, NtsEfError> {
        let bad = |what| NtsEfError::BadAuthenticator { offset, what };
        let [n0, n1, c0, c1, ref rest @ ..] = *body else {
            return Err(bad("shorter than its two length words"));
        };
        let nlen = usize::from(u16::from_be_bytes([n0, n1]));
        let clen = usize::from(u16::from_be_bytes([c0, c1]));
        if nlen == 0 {
            return Err(bad("empty nonce"));
        }
        let npad = nlen.next_multiple_of(4);
        let nonce = rest.get(..nlen).ok_or(bad("nonce runs past the field"))?;
        let ct_area = rest.get(npad..).ok_or(bad("nonce runs past the field"))?;
        let ciphertext = ct_area
            .get(..clen)
            .ok_or(bad("ciphertext runs past the field"))?;
        if ct_area.len() < clen.next_multiple_of(4) {
            return Err(bad("ciphertext padding runs past the field"));
        }
        Ok(Authenticator {
            offset,
            nonce: nonce.to_vec(),
            ciphertext: ciphertext.to_vec(),
        })
    }

    /// The field body for `nonce` and `ciphertext` (RFC 8915 §5.6 padding: each part to 4;
    /// a nonce shorter than 16 bytes gets extra padding up to 16).
    fn body(nonce: &[u8], ciphertext: &[u8]) -> Vec<u8> {
        let mut b = Vec::with_capacity(4 + nonce.len() + ciphertext.len() + 8);
        b.extend_from_slice(&(nonce.len() as u16).to_be_bytes());
        b.extend_from_slice(&(ciphertext.len() as u16).to_be_bytes());
        b.extend_from_slice(nonce);
        b.resize(4 + nonce.len().next_multiple_of(4), 0);
        b.extend_from_slice(ciphertext);
        b.resize(b.len().next_multiple_of(4), 0);
        let extra = NONCE_LEN.saturating_sub(nonce.len().next_multiple_of(4));
        b.resize(b.len() + extra, 0);
        b
    }
}

/// A packet split into header, the fields the AEAD covers, and the authenticator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// Fields before the authenticator (all of them when there is none), with offsets.
    pub fields: Vec<(usize, ExtensionField)>,
    pub auth: Option<Authenticator>,
    /// Fields after the authenticator: not authenticated, ignored.
    pub ignored_after_auth: usize,
}

impl Split {
    /// Split `buf`: the header must be there, then a chain of extension fields (RFC 7822
    /// lengths) running exactly to the end.
    pub fn parse(buf: &[u8]) -> Result<Split, NtsEfError> {
        if buf.len() < HEADER_LEN {
            return Err(NtsEfError::ShortPacket(buf.len()));
        }
        let mut split = Split {
            fields: Vec::new(),
            auth: None,
            ignored_after_auth: 0,
        };
        let mut offset = HEADER_LEN;
        while offset < buf.len() {
            let (f, n) = ExtensionField::parse(&buf[offset..], offset).map_err(|e| match e {
                ExtensionError::Truncated { available, .. } => NtsEfError::Trailing(available),
                e => NtsEfError::Extension(e),
            })?;
            if split.auth.is_some() {
                split.ignored_after_auth += 1;
            } else if f.field_type == ef_type::AUTHENTICATOR {
                split.auth = Some(Authenticator::parse(&f.body, offset)?);
            } else {
                split.fields.push((offset, f));
            }
            offset += n;
        }
        Ok(split)
    }

    /// The body of the only field of type `t` before the authenticator.
    pub fn only(&self, t: u16) -> Result<Option<&[u8]>, NtsEfError> {
        let mut it = self.fields.iter().filter(|(_, f)| f.field_type == t);
        let first = it.next().map(|(_, f)| &f.body[..]);
        if it.next().is_some() {
            return Err(NtsEfError::Duplicate(t));
        }
        Ok(first)
    }

    /// The unique identifier (padding included: identifiers we send are multiples of 4).
    pub fn unique_id(&self) -> Result<&[u8], NtsEfError> {
        let id = self
            .only(ef_type::UNIQUE_IDENTIFIER)?
            .ok_or(NtsEfError::NoUniqueId)?;
        if id.len() < MIN_UNIQUE_ID_LEN {
            return Err(NtsEfError::ShortUniqueId(id.len()));
        }
        Ok(id)
    }

    /// Check the authenticator with `key` over `buf` (the bytes this was split from) and
    /// return the decrypted extension fields.
    pub fn open(&self, buf: &[u8], key: &AeadKey) -> Result<Vec<ExtensionField>, NtsEfError> {
        let auth = self.auth.as_ref().ok_or(NtsEfError::NoAuthenticator)?;
        let ad = buf.get(..auth.offset).ok_or(NtsEfError::NoAuthenticator)?;
        let plain = key.open(&auth.nonce, ad, &auth.ciphertext)?;
        parse_inner(&plain)
    }
}

/// The plaintext of the authenticator: a chain of extension fields. It is authenticated
/// already, so only the framing is checked (lengths a multiple of 4, at least 4).
fn parse_inner(mut b: &[u8]) -> Result<Vec<ExtensionField>, NtsEfError> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let [t0, t1, l0, l1, ..] = *b else {
            return Err(NtsEfError::Inner("truncated field header"));
        };
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        if len < 4 || len % 4 != 0 {
            return Err(NtsEfError::Inner("field length not a multiple of 4"));
        }
        let body = b
            .get(4..len)
            .ok_or(NtsEfError::Inner("field runs past the end"))?;
        out.push(ExtensionField {
            field_type: u16::from_be_bytes([t0, t1]),
            body: body.to_vec(),
        });
        b = &b[len..];
    }
    Ok(out)
}

fn write_field(out: &mut Vec<u8>, t: u16, value: &[u8]) {
    ExtensionField::new(t, value).write(out, MIN_FIELD_LEN);
}

/// Append the authenticator sealing `out` (header + fields so far) and `inner` fields.
fn seal_onto(
    out: &mut Vec<u8>,
    inner: &[ExtensionField],
    key: &AeadKey,
    nonce: &[u8],
) -> Result<(), NtsEfError> {
    let mut plain = Vec::new();
    for f in inner {
        f.write(&mut plain, MIN_FIELD_LEN);
    }
    let ct = key.seal(nonce, out, &plain)?;
    write_field(
        out,
        ef_type::AUTHENTICATOR,
        &Authenticator::body(nonce, &ct),
    );
    Ok(())
}

/// A client's request: `header`, unique identifier, one cookie, `placeholders` cookie
/// placeholders of the cookie's size, sealed with the C2S key and `nonce`.
pub fn build_request(
    header: &[u8; HEADER_LEN],
    unique_id: &[u8],
    cookie: &[u8],
    placeholders: usize,
    c2s: &AeadKey,
    nonce: &[u8],
) -> Result<Vec<u8>, NtsEfError> {
    if unique_id.len() < MIN_UNIQUE_ID_LEN {
        return Err(NtsEfError::ShortUniqueId(unique_id.len()));
    }
    let mut out = Vec::with_capacity(HEADER_LEN + 64 + (placeholders + 1) * (cookie.len() + 8));
    out.extend_from_slice(header);
    write_field(&mut out, ef_type::UNIQUE_IDENTIFIER, unique_id);
    write_field(&mut out, ef_type::COOKIE, cookie);
    let zeros = vec![0u8; cookie.len()];
    for _ in 0..placeholders {
        write_field(&mut out, ef_type::COOKIE_PLACEHOLDER, &zeros);
    }
    seal_onto(&mut out, &[], c2s, nonce)?;
    Ok(out)
}

/// A client request as a server reads it, before it knows the key (that is in the cookie).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRequest {
    pub split: Split,
    pub unique_id: Vec<u8>,
    pub cookie: Vec<u8>,
    /// Body lengths of the cookie placeholders, in order.
    pub placeholders: Vec<usize>,
}

impl ClientRequest {
    pub fn parse(buf: &[u8]) -> Result<ClientRequest, NtsEfError> {
        let split = Split::parse(buf)?;
        if split.auth.is_none() {
            return Err(NtsEfError::NoAuthenticator);
        }
        let unique_id = split.unique_id()?.to_vec();
        let cookie = split
            .only(ef_type::COOKIE)?
            .ok_or(NtsEfError::NoCookie)?
            .to_vec();
        let placeholders = split
            .fields
            .iter()
            .filter(|(_, f)| f.field_type == ef_type::COOKIE_PLACEHOLDER)
            .map(|(_, f)| f.body.len())
            .collect();
        Ok(ClientRequest {
            split,
            unique_id,
            cookie,
            placeholders,
        })
    }

    /// Authenticate the request with the C2S key from its cookie; returns its encrypted
    /// fields (usually none).
    pub fn open(&self, buf: &[u8], c2s: &AeadKey) -> Result<Vec<ExtensionField>, NtsEfError> {
        self.split.open(buf, c2s)
    }
}

/// A server's response: `header`, the request's unique identifier, and `cookies` inside
/// the authenticator sealed with the S2C key and `nonce`.
pub fn build_response(
    header: &[u8; HEADER_LEN],
    unique_id: &[u8],
    cookies: &[Vec<u8>],
    s2c: &AeadKey,
    nonce: &[u8],
) -> Result<Vec<u8>, NtsEfError> {
    let mut out = Vec::with_capacity(HEADER_LEN + 64 + cookies.len() * 112);
    out.extend_from_slice(header);
    write_field(&mut out, ef_type::UNIQUE_IDENTIFIER, unique_id);
    let inner: Vec<ExtensionField> = cookies
        .iter()
        .map(|c| ExtensionField::new(ef_type::COOKIE, c))
        .collect();
    seal_onto(&mut out, &inner, s2c, nonce)?;
    Ok(out)
}

/// An NTSN kiss-o'-death: `header` (stratum 0, reference id `NTSN`, set by the caller)
/// and the request's unique identifier, unauthenticated (RFC 8915 §5.7).
pub fn build_nak(header: &[u8; HEADER_LEN], unique_id: &[u8]) -> Vec<u8> {
    let mut out = header.to_vec();
    write_field(&mut out, ef_type::UNIQUE_IDENTIFIER, unique_id);
    out
}

/// What a client takes from an authenticated response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// New cookies from the encrypted part (unencrypted ones are ignored).
    pub cookies: Vec<Vec<u8>>,
}

/// How a client classifies a response to its request with `unique_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Authenticated with the S2C key; the header may be used.
    Authentic(Reply),
    /// An NTSN kiss echoing our unique identifier: the server lost our keys; do a new
    /// key exchange. (Unauthenticated by nature, so it must not change anything else.)
    Nak,
}

/// Check a server's response to the request that carried `unique_id`.
pub fn open_response(buf: &[u8], unique_id: &[u8], s2c: &AeadKey) -> Result<Verdict, NtsEfError> {
    let split = Split::parse(buf)?;
    // The identifier is compared before anything is decrypted: a reply to some other
    // request (or a replay) is dropped cheaply.
    if split.unique_id()? != padded(unique_id).as_slice() {
        return Err(NtsEfError::UniqueIdMismatch);
    }
    if split.auth.is_none() {
        let stratum = buf[1];
        if stratum == 0 && buf[12..16] == NTSN {
            return Ok(Verdict::Nak);
        }
        return Err(NtsEfError::NoAuthenticator);
    }
    let inner = split.open(buf, s2c)?;
    let cookies = inner
        .into_iter()
        .filter(|f| f.field_type == ef_type::COOKIE)
        .map(|f| f.body)
        .collect();
    Ok(Verdict::Authentic(Reply { cookies }))
}

/// `value` zero-padded as [`ExtensionField::new`] pads a body.
fn padded(value: &[u8]) -> Vec<u8> {
    ExtensionField::new(0, value).body
}

#[cfg(test)]
mod tests {
    use super::super::aead::Aead;
    use super::*;
    use proptest::prelude::*;

    fn keys(aead: Aead) -> (AeadKey, AeadKey) {
        (
            AeadKey::new(aead, &vec![1; aead.key_len()]).unwrap(),
            AeadKey::new(aead, &vec![2; aead.key_len()]).unwrap(),
        )
    }

    fn header(mode: u8) -> [u8; 48] {
        let mut h = [0u8; 48];
        h[0] = (4 << 3) | mode;
        h[40..48].copy_from_slice(&[9; 8]);
        h
    }

    #[test]
    fn request_response_exchange() {
        for aead in Aead::ALL {
            let (c2s, s2c) = keys(aead);
            let uid = [7u8; 32];
            let cookie = vec![5u8; 100];
            let req = build_request(&header(3), &uid, &cookie, 2, &c2s, &[3; 16]).unwrap();
            // 48 + uid 36 + cookie 104 + 2 placeholders 104 + auth 4+4+16+16
            assert_eq!(req.len(), 48 + 36 + 3 * 104 + 40);
            let parsed = ClientRequest::parse(&req).unwrap();
            assert_eq!(parsed.unique_id, uid);
            assert_eq!(parsed.cookie, cookie);
            assert_eq!(parsed.placeholders, vec![100, 100]);
            assert_eq!(parsed.open(&req, &c2s).unwrap(), vec![]);
            assert!(matches!(
                parsed.open(&req, &s2c),
                Err(NtsEfError::Aead(AeadError::Authentication))
            ));
            let cookies = vec![vec![8u8; 100]; 3];
            let resp = build_response(&header(4), &uid, &cookies, &s2c, &[4; 16]).unwrap();
            assert_eq!(
                open_response(&resp, &uid, &s2c).unwrap(),
                Verdict::Authentic(Reply {
                    cookies: cookies.clone()
                })
            );
            // wrong key, wrong id, any flipped bit
            assert!(open_response(&resp, &uid, &c2s).is_err());
            assert_eq!(
                open_response(&resp, &[6u8; 32], &s2c),
                Err(NtsEfError::UniqueIdMismatch)
            );
            for i in 0..resp.len() {
                let mut bad = resp.clone();
                bad[i] ^= 0x10;
                assert!(
                    !matches!(open_response(&bad, &uid, &s2c), Ok(Verdict::Authentic(_))),
                    "flipped byte {i} accepted"
                );
            }
        }
    }

    fn capture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/captures/{name}.hex",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../..")
        );
        let text = std::fs::read_to_string(path).unwrap();
        let hex: String = text.chars().filter(|c| c.is_ascii_hexdigit()).collect();
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    /// chronyd 4.3's own NTS packets (captured on the namespace LAN) split as RFC 8915 says:
    /// the request has an identifier, one cookie and an authenticator with a 16-byte nonce;
    /// the response echoes the identifier (we hold no key, so it cannot be opened).
    #[test]
    fn chrony_packets_split() {
        for (req, resp) in [
            ("nts-01-chrony-client-ext", "nts-02-chrony-server-ext"),
            ("nts-03-chrony-client-ext", "nts-04-chrony-server-ext"),
        ] {
            let req_b = capture(req);
            let r = ClientRequest::parse(&req_b).unwrap();
            assert_eq!(r.unique_id.len(), 32);
            assert!(!r.cookie.is_empty());
            let auth = r.split.auth.as_ref().unwrap();
            assert_eq!(auth.nonce.len(), 16);
            assert!(auth.ciphertext.len() >= 16);
            let resp_b = capture(resp);
            let s = Split::parse(&resp_b).unwrap();
            assert_eq!(s.unique_id().unwrap(), &r.unique_id[..]);
            assert!(s.auth.is_some());
            let (_, key) = keys(Aead::AesSivCmac256);
            assert!(matches!(
                open_response(&resp_b, &r.unique_id, &key),
                Err(NtsEfError::Aead(AeadError::Authentication))
            ));
        }
    }

    #[test]
    fn nak_needs_our_id_and_kiss() {
        let (_, s2c) = keys(Aead::AesSivCmac256);
        let uid = [7u8; 32];
        let mut h = header(4);
        h[1] = 0;
        h[12..16].copy_from_slice(b"NTSN");
        let nak = build_nak(&h, &uid);
        assert_eq!(open_response(&nak, &uid, &s2c), Ok(Verdict::Nak));
        assert_eq!(
            open_response(&nak, &[1u8; 32], &s2c),
            Err(NtsEfError::UniqueIdMismatch)
        );
        let plain = build_nak(&header(4), &uid);
        assert_eq!(
            open_response(&plain, &uid, &s2c),
            Err(NtsEfError::NoAuthenticator)
        );
    }

    #[test]
    fn no_mac_confusion_and_framing() {
        let (c2s, _) = keys(Aead::AesSivCmac256);
        let req = build_request(&header(3), &[7; 32], &[5; 64], 0, &c2s, &[3; 16]).unwrap();
        // a 20- or 24-byte tail is not a MAC in an NTS packet
        for extra in [4usize, 20, 24] {
            let mut b = req.clone();
            b.resize(b.len() + extra, 0);
            assert!(ClientRequest::parse(&b).is_err(), "{extra}-byte tail");
        }
        assert_eq!(Split::parse(&req[..47]), Err(NtsEfError::ShortPacket(47)));
        // two cookies
        let mut two = header(3).to_vec();
        write_field(&mut two, ef_type::UNIQUE_IDENTIFIER, &[1; 32]);
        write_field(&mut two, ef_type::COOKIE, &[1; 32]);
        write_field(&mut two, ef_type::COOKIE, &[1; 32]);
        seal_onto(&mut two, &[], &c2s, &[3; 16]).unwrap();
        assert_eq!(
            ClientRequest::parse(&two),
            Err(NtsEfError::Duplicate(ef_type::COOKIE))
        );
    }

    #[test]
    fn authenticator_bodies() {
        assert!(Authenticator::parse(&[0, 16, 0, 16], 0).is_err());
        assert!(Authenticator::parse(&[0, 0, 0, 0], 0).is_err());
        let b = Authenticator::body(&[1; 5], &[2; 17]);
        // 4 + 8 + 20 + (16 - 8) extra
        assert_eq!(b.len(), 40);
        let a = Authenticator::parse(&b, 9).unwrap();
        assert_eq!((a.nonce.len(), a.ciphertext.len(), a.offset), (5, 17, 9));
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..400)) {
            let (c2s, s2c) = keys(Aead::AesSivCmac256);
            let _ = open_response(&b, &[0; 32], &s2c);
            if let Ok(r) = ClientRequest::parse(&b) {
                let _ = r.open(&b, &c2s);
            }
        }

        #[test]
        fn sealed_round_trips(uid in proptest::collection::vec(any::<u8>(), 32..64),
                              cookie in proptest::collection::vec(any::<u8>(), 1..200),
                              n in 0usize..8,
                              nonce in proptest::collection::vec(any::<u8>(), 1..40),
                              cookies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..150), 0..8)) {
            let (c2s, s2c) = keys(Aead::AesSivCmac512);
            let req = build_request(&header(3), &uid, &cookie, n, &c2s, &nonce).unwrap();
            let parsed = ClientRequest::parse(&req).unwrap();
            prop_assert_eq!(parsed.placeholders.len(), n);
            prop_assert!(parsed.open(&req, &c2s).is_ok());
            let resp = build_response(&header(4), &parsed.unique_id, &cookies, &s2c, &nonce).unwrap();
            let Verdict::Authentic(reply) = open_response(&resp, &uid, &s2c).unwrap() else {
                panic!("not authentic")
            };
            // cookie bodies come back padded to 4 (and at least 12): their prefix is ours
            prop_assert_eq!(reply.cookies.len(), cookies.len());
            for (got, sent) in reply.cookies.iter().zip(&cookies) {
                prop_assert_eq!(&got[..sent.len()], &sent[..]);
            }
        }
    }
}
