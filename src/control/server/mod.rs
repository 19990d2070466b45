//! The daemon side of mode 6, sans-I/O: `Responder::respond` turns one request datagram
//! into the datagrams to send back (none = drop), reading the daemon through the
//! `ControlState` trait. The daemon owns the socket, the clock and the randomness.
//!
//! Behaviour follows ntp.org's `process_control` (REFERENCE.md §2.3): malformed or
//! response-flagged packets are dropped silently, format problems get BADFMT, writes need
//! a MAC by the `controlkey`, `noquery` drops everything, MRU needs a fresh nonce.
//!
//! This file holds the front door (drop rules, the rate limit, the reply header); the rest
//! is one job a file: `state` is what the daemon exposes, `dispatch` picks the handler by
//! opcode, `vars` renders READVAR text (the lists are built by `system_vars` and
//! `peer_vars`), `write` authorises WRITEVAR, `nonce` and `mru` serve `mrulist`,
//! `rate_limit` holds off-host floods, `reply` fragments and signs what goes out.

mod dispatch;
mod mru;
mod nonce;
mod peer_vars;
mod rate_limit;
mod reply;
mod state;
mod system_vars;
mod vars;
mod write;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

pub use mru::{MruRow, MRU_FRAGS_LIMIT, MRU_ROW_LIMIT};
pub use nonce::NONCE_LIFETIME_SECS;
pub use peer_vars::PeerVars;
pub use rate_limit::RateLimiter;
pub use state::ControlState;
pub use system_vars::SystemVars;
pub use vars::{read_vars_local, Var, VarValue};

use crate::config::RestrictFlags;
use crate::wire::auth::KeyStore;
use crate::wire::control::{ControlHeader as Header, ErrorCode, Packet};
use nonce::Nonces;
use reply::{datagrams, error_reply, request_key, Reply};
use std::net::SocketAddr;

/// The mode 6 responder with its per-daemon state: keys, the nonce secret, the limiter.
pub struct Responder {
    keys: KeyStore,
    control_key: Option<u32>,
    nonces: Nonces,
    pub limiter: RateLimiter,
}

impl Responder {
    /// `nonce_secret` must be random (the daemon reads it from the OS at start).
    pub fn new(keys: KeyStore, control_key: Option<u32>, nonce_secret: [u8; 16]) -> Responder {
        Responder {
            keys,
            control_key,
            nonces: Nonces::new(nonce_secret),
            limiter: RateLimiter::default(),
        }
    }

    /// Answer one request from `source`: the datagrams to send back, empty to drop.
    pub fn respond(
        &mut self,
        request: &[u8],
        source: SocketAddr,
        state: &dyn ControlState,
        restrict: RestrictFlags,
    ) -> Vec<Vec<u8>> {
        if restrict.contains(RestrictFlags::IGNORE) || restrict.contains(RestrictFlags::NOQUERY) {
            return Vec::new();
        }
        let Ok(p) = Packet::decode(request) else {
            return Vec::new();
        };
        let h = p.header;
        if h.response || h.more || h.error || h.offset != 0 || !(1..=4).contains(&h.version) {
            return Vec::new();
        }
        let now = state.now();
        if !source.ip().is_loopback() {
            let t = now.seconds() as f64 + now.fraction() as f64 / 4294967296.0;
            if !self.limiter.allow(source.ip(), t) {
                return Vec::new();
            }
        }
        let mut reply_header = Header {
            leap: state.system_status().leap,
            version: h.version,
            response: true,
            error: false,
            more: false,
            opcode: h.opcode,
            sequence: h.sequence,
            status: 0,
            assoc_id: h.assoc_id,
            offset: 0,
            count: 0,
        };
        let auth_key = request_key(&self.keys, &p);
        if request.len() % 4 != 0 {
            return datagrams(
                &self.keys,
                error_reply(reply_header, ErrorCode::BADFMT),
                auth_key,
            );
        }
        let result = self.dispatch(&p, source, state, restrict, auth_key, &mut reply_header);
        let reply = match result {
            Ok(body) => Reply {
                header: reply_header,
                body,
            },
            Err(code) => error_reply(reply_header, code),
        };
        datagrams(&self.keys, reply, auth_key)
    }
}
