//! The MACs and the way out: which key authenticated a request, and how a reply (header
//! plus body, or ntp.org's error form) becomes datagrams, fragmented and signed by that
//! key. Separate because every opcode's answer leaves through here, whatever produced it.

use crate::wire::auth::KeyStore;
use crate::wire::control::{self, ControlHeader as Header, ErrorCode, Packet};

/// One answer before fragmenting.
pub(super) struct Reply {
    pub(super) header: Header,
    pub(super) body: Vec<u8>,
}

/// The key whose MAC the request carries. The MAC must be by a key we know; a bad one
/// makes the request unauthenticated.
pub(super) fn request_key(keys: &KeyStore, p: &Packet) -> Option<u32> {
    p.auth
        .and_then(|a| keys.verify_digest(a.key_id, p.signed, a.mac).ok())
}

/// ntp.org's error form: the error bit, the code in the status word's high byte, no body.
pub(super) fn error_reply(mut header: Header, code: ErrorCode) -> Reply {
    header.error = true;
    header.status = (code.0 as u16) << 8;
    Reply {
        header,
        body: Vec::new(),
    }
}

/// The reply's datagrams, each signed by `key` when the request was authenticated by it.
pub(super) fn datagrams(keys: &KeyStore, reply: Reply, key: Option<u32>) -> Vec<Vec<u8>> {
    let datagrams = control::fragment(&reply.header, &reply.body);
    let Some(key) = key.and_then(|k| keys.get(k)) else {
        return datagrams;
    };
    datagrams
        .into_iter()
        .map(|d| {
            let Ok(p) = Packet::decode(&d) else { return d };
            control::encode_authenticated(&p.header, p.data, key.id, |m| {
                key.digest(m).as_bytes().to_vec()
            })
        })
        .collect()
}
