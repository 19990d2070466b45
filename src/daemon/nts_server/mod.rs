//! The NTS server (RFC 8915): the key-exchange listener ([`ke`]), the cookie keys
//! ([`cookies`]), the TLS identity ([`tls`]), its counters ([`counters`]) and, here, the
//! answer to an NTP request that carries NTS extension fields.
//!
//! The serving threads call [`NtsServer::answer`] only for requests with extension fields
//! whose first field is an NTS unique identifier ([`is_nts_request`]); every other packet
//! takes the serving path unchanged.

pub mod cookies;
pub mod counters;
pub mod ke;
pub mod tls;

use std::sync::{Arc, RwLock};

use self::cookies::{CookieError, CookieKeys};
use self::counters::NtsServerCounters;
use crate::wire::nts::aead::{Aead, AeadKey};
use crate::wire::nts::ef::{self, ef_type, ClientRequest};
use crate::wire::packet::HEADER_LEN;

/// Most cookies handed out at once (RFC 8915 §4.1.6: eight in a key exchange; a request
/// never holds more than a cookie and seven placeholders from a client keeping eight).
pub const MAX_COOKIES: usize = 8;

/// State the serving threads and the key-exchange server share.
pub struct NtsServer {
    keys: RwLock<Arc<CookieKeys>>,
    pub counters: NtsServerCounters,
}

/// What to do with an NTS request.
#[derive(Debug, PartialEq, Eq)]
pub enum NtsAnswer {
    /// An authenticated reply (transmit time already stamped and sealed).
    Reply(Vec<u8>),
    /// An NTSN kiss-o'-death (RFC 8915 §5.7): the cookie or the authenticator did not
    /// verify; the client should do a new key exchange.
    Nak(Vec<u8>),
    /// Malformed: no reply (no unique identifier to echo, no cookie, no authenticator…).
    Drop,
}

/// Whether `req` is an NTS request: its first extension field is a unique identifier (as
/// chronyd, NTPsec and ntpkit send them). Cheap: two bytes read.
pub fn is_nts_request(req: &[u8]) -> bool {
    req.len() > HEADER_LEN + 4
        && u16::from_be_bytes([req[HEADER_LEN], req[HEADER_LEN + 1]]) == ef_type::UNIQUE_IDENTIFIER
}

impl NtsServer {
    pub fn new(keys: CookieKeys) -> NtsServer {
        NtsServer {
            keys: RwLock::new(Arc::new(keys)),
            counters: NtsServerCounters::default(),
        }
    }

    pub fn keys(&self) -> Arc<CookieKeys> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_keys(&self, keys: CookieKeys) {
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
    }

    /// `n` cookies for a client holding `c2s`/`s2c`.
    pub fn make_cookies(&self, n: usize, c2s: &[u8], s2c: &[u8]) -> Vec<Vec<u8>> {
        let keys = self.keys();
        let out: Vec<Vec<u8>> = (0..n).map(|_| keys.make(c2s, s2c)).collect();
        self.counters
            .cookie_make
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        out
    }

    /// Answer an NTS request. `header` is the reply header the serving path built for it
    /// (the restrictions and rate limits have passed); `stamp` writes the transmit time
    /// into a header, called as late as possible before sealing.
    pub fn answer(
        &self,
        req: &[u8],
        header: &[u8; HEADER_LEN],
        stamp: impl Fn(&mut [u8; HEADER_LEN]),
    ) -> NtsAnswer {
        let c = &self.counters;
        let Ok(parsed) = ClientRequest::parse(req) else {
            NtsServerCounters::bump(&c.recv_bad);
            return NtsAnswer::Drop;
        };
        let nak = |c: &NtsServerCounters| {
            NtsServerCounters::bump(&c.recv_bad);
            let mut h = *header;
            // leap alarm, stratum 0, kiss code NTSN; the timestamps stay (the origin
            // timestamp is how the client matches it to its request)
            h[0] = (h[0] & 0x3f) | 0xc0;
            h[1] = 0;
            h[12..16].copy_from_slice(&ef::NTSN);
            stamp(&mut h);
            NtsAnswer::Nak(ef::build_nak(&h, &parsed.unique_id))
        };
        let contents = match self.keys().open(&parsed.cookie) {
            Ok((contents, age)) => {
                c.decoded(age);
                contents
            }
            Err(CookieError::UnknownKey) => {
                NtsServerCounters::bump(&c.cookie_decode_too_old);
                return nak(c);
            }
            Err(CookieError::Undecryptable) => {
                NtsServerCounters::bump(&c.cookie_decode_error);
                return nak(c);
            }
        };
        let Some(aead) = Aead::from_id(contents.aead) else {
            return nak(c);
        };
        let (Ok(c2s), Ok(s2c)) = (
            AeadKey::new(aead, &contents.c2s),
            AeadKey::new(aead, &contents.s2c),
        ) else {
            return nak(c);
        };
        let Ok(inner) = parsed.open(req, &c2s) else {
            return nak(c);
        };
        NtsServerCounters::bump(&c.recv_good);
        // one fresh cookie for the one spent and one per placeholder, plain or sealed
        let placeholders = parsed.placeholders.len()
            + inner
                .iter()
                .filter(|f| f.field_type == ef_type::COOKIE_PLACEHOLDER)
                .count();
        let mut n = (1 + placeholders).min(MAX_COOKIES);
        let mut h = *header;
        stamp(&mut h);
        let mut nonce = [0u8; ef::NONCE_LEN];
        cookies::random_bytes(&mut nonce);
        loop {
            let fresh = self.make_cookies(n, &contents.c2s, &contents.s2c);
            let Ok(reply) = ef::build_response(&h, &parsed.unique_id, &fresh, &s2c, &nonce) else {
                return NtsAnswer::Drop;
            };
            // never larger than the request (RFC 8915 §5.7: no amplification)
            if reply.len() <= req.len() || n == 1 {
                NtsServerCounters::bump(&c.send);
                return NtsAnswer::Reply(reply);
            }
            n -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::nts::ef::{build_request, open_response, Verdict};

    fn header() -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0] = 0x24;
        h[1] = 2;
        h[24..32].copy_from_slice(&[9; 8]);
        h
    }

    fn client(server: &NtsServer) -> (Vec<u8>, AeadKey, AeadKey) {
        let (c2s, s2c) = ([1u8; 32], [2u8; 32]);
        let cookie = server.make_cookies(1, &c2s, &s2c).pop().unwrap();
        (
            cookie,
            AeadKey::new(Aead::AesSivCmac256, &c2s).unwrap(),
            AeadKey::new(Aead::AesSivCmac256, &s2c).unwrap(),
        )
    }

    #[test]
    fn a_good_request_gets_a_sealed_reply_with_a_cookie_per_cookie_and_placeholder() {
        let server = NtsServer::new(CookieKeys::fresh(1));
        let (cookie, c2s, s2c) = client(&server);
        let mut req_header = [0u8; HEADER_LEN];
        req_header[0] = 0x23;
        let uid = [7u8; 32];
        let req = build_request(&req_header, &uid, &cookie, 3, &c2s, &[5; 16]).unwrap();
        assert!(is_nts_request(&req));
        let got = server.answer(&req, &header(), |h| h[40..48].copy_from_slice(&[4; 8]));
        let NtsAnswer::Reply(reply) = got else {
            panic!("{got:?}")
        };
        assert!(reply.len() <= req.len());
        assert_eq!(&reply[40..48], &[4; 8], "stamped before sealing");
        let Verdict::Authentic(r) = open_response(&reply, &uid, &s2c).unwrap() else {
            panic!("not authentic")
        };
        assert_eq!(r.cookies.len(), 4);
        // the new cookies are good for the next request
        let next = build_request(&req_header, &uid, &r.cookies[0], 0, &c2s, &[6; 16]).unwrap();
        assert!(matches!(
            server.answer(&next, &header(), |_| {}),
            NtsAnswer::Reply(_)
        ));
        assert_eq!(
            server
                .counters
                .recv_good
                .load(std::sync::atomic::Ordering::Relaxed),
            2
        );
    }

    #[test]
    fn a_foreign_cookie_or_a_bad_authenticator_gets_ntsn_and_garbage_nothing() {
        let server = NtsServer::new(CookieKeys::fresh(1));
        let other = NtsServer::new(CookieKeys::fresh(1));
        let (cookie, c2s, s2c) = client(&other);
        let uid = [8u8; 32];
        let req = build_request(&[0x23; HEADER_LEN], &uid, &cookie, 0, &c2s, &[5; 16]).unwrap();
        let NtsAnswer::Nak(nak) = server.answer(&req, &header(), |_| {}) else {
            panic!()
        };
        assert_eq!(&nak[12..16], b"NTSN");
        assert_eq!(nak[1], 0);
        assert_eq!(open_response(&nak, &uid, &s2c).unwrap(), Verdict::Nak);
        // our cookie, wrong C2S key: the authenticator fails
        let (mine, _, _) = client(&server);
        let wrong = AeadKey::new(Aead::AesSivCmac256, &[3; 32]).unwrap();
        let req = build_request(&[0x23; HEADER_LEN], &uid, &mine, 0, &wrong, &[5; 16]).unwrap();
        assert!(matches!(
            server.answer(&req, &header(), |_| {}),
            NtsAnswer::Nak(_)
        ));
        // no authenticator at all, or no unique id: dropped
        let mut plain = req.clone();
        plain.truncate(HEADER_LEN + 36 + 4 + mine.len());
        assert_eq!(server.answer(&plain, &header(), |_| {}), NtsAnswer::Drop);
        assert_eq!(
            server.answer(&[0x23; 60], &header(), |_| {}),
            NtsAnswer::Drop
        );
        let c = &server.counters;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!((get(&c.recv_bad), get(&c.cookie_decode_too_old)), (4, 1));
    }
}
