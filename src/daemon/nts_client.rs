//! The NTS state of one client association (RFC 8915 §5–6): the keys and cookies from the
//! last key exchange, the unique identifier of the request in flight, and what to do with
//! each reply. No I/O here: `Core` sends what [`NtsSession::seal`] returns and hands every
//! datagram from the server to [`NtsSession::check`], which is the only way a reply
//! reaches the engine of an NTS association.

use std::collections::VecDeque;
use std::net::SocketAddr;

use super::nts_ke::KeOutcome;
use crate::control::server::{Var, VarValue};
use crate::wire::nts::aead::SessionKeys;
use crate::wire::nts::ef::{self, Verdict};
use crate::wire::packet::HEADER_LEN;

/// Cookies kept per association (RFC 8915 §5.7: a client keeps up to eight).
pub const MAX_COOKIES: usize = 8;

/// What a reply turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum ReplyCheck {
    /// Authentic: give the header to the engine.
    Good,
    /// An NTSN kiss for our request: the server lost our keys; key exchange again.
    Nak,
    /// Dropped: the reason, for the log.
    Bad(String),
}

#[derive(Debug)]
pub struct NtsSession {
    keys: SessionKeys,
    cookies: VecDeque<Vec<u8>>,
    /// The unique identifier of the last request sent; a reply must echo it.
    pending_uid: Option<[u8; 32]>,
    pub ntp_addr: SocketAddr,
}

/// Bytes from the kernel's random source (RFC 8915 wants unpredictable identifiers and
/// nonces). getrandom(2) never fails for short reads once the pool is initialised.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // No entropy source at all: retry; getrandom blocks only at early boot.
    while getrandom::getrandom(&mut b).is_err() {
        std::thread::yield_now();
    }
    b
}

impl NtsSession {
    pub fn new(outcome: KeOutcome) -> NtsSession {
        let mut cookies: VecDeque<Vec<u8>> = outcome.cookies.into();
        cookies.truncate(MAX_COOKIES);
        NtsSession {
            keys: outcome.keys,
            cookies,
            pending_uid: None,
            ntp_addr: outcome.ntp_addr,
        }
    }

    pub fn cookies(&self) -> usize {
        self.cookies.len()
    }

    /// The request for `header`: one cookie spent, placeholders asking for as many new
    /// ones as bring us back to eight. None when no cookie is left (key exchange again).
    pub fn seal(&mut self, header: &[u8]) -> Option<Vec<u8>> {
        let header: &[u8; HEADER_LEN] = header.get(..HEADER_LEN)?.try_into().ok()?;
        let cookie = self.cookies.pop_front()?;
        let placeholders = (MAX_COOKIES - 1).saturating_sub(self.cookies.len());
        let uid = random_bytes::<32>();
        let nonce = random_bytes::<{ ef::NONCE_LEN }>();
        let out =
            ef::build_request(header, &uid, &cookie, placeholders, &self.keys.c2s, &nonce).ok()?;
        self.pending_uid = Some(uid);
        Some(out)
    }

    /// Check a datagram from the server against the request in flight.
    pub fn check(&mut self, data: &[u8]) -> ReplyCheck {
        let Some(uid) = self.pending_uid else {
            return ReplyCheck::Bad("no request in flight".into());
        };
        match ef::open_response(data, &uid, &self.keys.s2c) {
            Ok(Verdict::Authentic(reply)) => {
                // one reply per request: a replay of it is now a mismatch
                self.pending_uid = None;
                for c in reply.cookies {
                    if self.cookies.len() < MAX_COOKIES {
                        self.cookies.push_back(c);
                    }
                }
                ReplyCheck::Good
            }
            Ok(Verdict::Nak) => {
                self.pending_uid = None;
                ReplyCheck::Nak
            }
            Err(e) => ReplyCheck::Bad(e.to_string()),
        }
    }
}

/// The NTS client counters NTPsec's ntpd exposes over mode 6 (`ntpq -c nts`), with its
/// names. Only the main loop touches them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NtsClientCounters {
    pub client_send: u64,
    pub client_recv_good: u64,
    pub client_recv_bad: u64,
    pub ke_probes_good: u64,
    pub ke_probes_bad: u64,
}

impl NtsClientCounters {
    /// The system variables (non-default: sent when asked by name, as NTPsec does).
    pub fn vars(&self) -> Vec<Var> {
        let int = |n: u64| VarValue::Int(n.min(i64::MAX as u64) as i64);
        vec![
            Var::extra("nts_client_send", int(self.client_send)),
            Var::extra("nts_client_recv_good", int(self.client_recv_good)),
            Var::extra("nts_client_recv_bad", int(self.client_recv_bad)),
            Var::extra("nts_ke_probes_good", int(self.ke_probes_good)),
            Var::extra("nts_ke_probes_bad", int(self.ke_probes_bad)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::nts::aead::{Aead, AeadKey};

    fn session(cookies: usize) -> NtsSession {
        let key = |b| AeadKey::new(Aead::AesSivCmac256, &[b; 32]).unwrap();
        NtsSession::new(KeOutcome {
            keys: SessionKeys {
                c2s: key(1),
                s2c: key(2),
            },
            cookies: (0..cookies).map(|i| vec![i as u8; 64]).collect(),
            ntp_addr: "198.18.0.1:123".parse().unwrap(),
        })
    }

    #[test]
    fn cookies_are_spent_and_refilled_to_eight() {
        let mut s = session(8);
        let header = [0x23u8; 48];
        let req = s.seal(&header).unwrap();
        assert_eq!(s.cookies(), 7);
        let parsed = ef::ClientRequest::parse(&req).unwrap();
        assert_eq!(parsed.placeholders.len(), 0, "7 left: one back makes 8");
        // the server's answer: our identifier, one cookie, sealed with S2C
        let s2c = AeadKey::new(Aead::AesSivCmac256, &[2; 32]).unwrap();
        let resp = ef::build_response(
            &[0x24; 48],
            &parsed.unique_id,
            &[vec![9; 64]],
            &s2c,
            &[5; 16],
        )
        .unwrap();
        assert_eq!(s.check(&resp), ReplyCheck::Good);
        assert_eq!(s.cookies(), 8);
        // the same reply again (a replay) is dropped
        assert!(matches!(s.check(&resp), ReplyCheck::Bad(_)));
        // and also once the next request is in flight: its identifier was consumed, the
        // new request's own reply still counts
        let req2 = s.seal(&header).unwrap();
        assert_eq!(
            s.check(&resp),
            ReplyCheck::Bad("unique identifier does not match the request".into())
        );
        let uid2 = ef::ClientRequest::parse(&req2).unwrap().unique_id;
        let resp2 = ef::build_response(&[0x24; 48], &uid2, &[vec![8; 64]], &s2c, &[6; 16]).unwrap();
        assert_eq!(s.check(&resp2), ReplyCheck::Good);
        assert_eq!(s.cookies(), 8);
        // with 2 cookies, a request asks for 6 more (one spent, 1 left + 7 = 8)
        let mut s = session(2);
        let req = s.seal(&header).unwrap();
        let parsed = ef::ClientRequest::parse(&req).unwrap();
        assert_eq!(parsed.placeholders.len(), 6);
        s.seal(&header).unwrap();
        assert!(s.seal(&header).is_none(), "no cookie left");
    }

    #[test]
    fn forged_and_nak_replies() {
        let mut s = session(8);
        let req = s.seal(&[0x23; 48]).unwrap();
        let uid = ef::ClientRequest::parse(&req).unwrap().unique_id;
        let wrong = AeadKey::new(Aead::AesSivCmac256, &[3; 32]).unwrap();
        let forged = ef::build_response(&[0x24; 48], &uid, &[], &wrong, &[5; 16]).unwrap();
        assert!(matches!(s.check(&forged), ReplyCheck::Bad(_)));
        let mut plain = [0x24u8; 48].to_vec();
        assert!(matches!(s.check(&plain), ReplyCheck::Bad(_)));
        plain[1] = 0;
        plain[12..16].copy_from_slice(b"NTSN");
        let nak = ef::build_nak(plain[..48].try_into().unwrap(), &uid);
        assert_eq!(s.check(&nak), ReplyCheck::Nak);
    }
}
