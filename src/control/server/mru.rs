//! The MRU (monitoring) list for `ntpq mrulist`: READ_MRU's paging (`last.0`/`addr.0`
//! resume, `limit`, `frags`, `mincount`) under ntp.org's caps, behind a fresh nonce.
//! Separate because it is the one reply that can grow large, so its bounds live here.

use super::nonce::Nonces;
use super::ControlState;
use crate::wire::control::{self, ErrorCode, TextBuilder};
use crate::wire::time::NtpTimestamp;
use std::net::{IpAddr, SocketAddr};

/// ntp.org's caps on one MRU reply.
pub const MRU_ROW_LIMIT: usize = 256;
pub const MRU_FRAGS_LIMIT: usize = 128;

/// One row of the MRU (monitoring) list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MruRow {
    pub addr: SocketAddr,
    pub first: NtpTimestamp,
    pub last: NtpTimestamp,
    pub count: u64,
    pub mode: u8,
    pub version: u8,
    pub restrict: u32,
}

/// The MRU list text for a READ_MRU request `data` from `addr`: BADVALUE without a nonce
/// we issued to `addr` in the last 16 s; the rows oldest first, from where `last.0`/`addr.0`
/// left off, with `now` and `last.newest` when the list is complete.
pub(super) fn read_mru(
    data: &[u8],
    addr: IpAddr,
    state: &dyn ControlState,
    nonces: &Nonces,
) -> Result<Vec<u8>, ErrorCode> {
    let items = control::decode_request_vars(data);
    let get = |n: &str| {
        items
            .iter()
            .find(|(k, _)| k == n)
            .and_then(|(_, v)| v.as_deref())
    };
    let now = state.now();
    match get("nonce") {
        Some(n) if nonces.valid(n, addr, now) => {}
        _ => return Err(ErrorCode::BADVALUE),
    }
    let frags = get("frags")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(MRU_FRAGS_LIMIT)
        .clamp(1, MRU_FRAGS_LIMIT);
    let limit = get("limit")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(MRU_ROW_LIMIT)
        .clamp(1, MRU_ROW_LIMIT);
    let mincount = get("mincount")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let resume = get("last.0").and_then(NtpTimestamp::parse_hex).map(|t| {
        (
            t,
            get("addr.0")
                .and_then(|a| a.parse::<SocketAddr>().ok())
                .map(|a| a.to_string())
                .unwrap_or_default(),
        )
    });
    let mut rows = state.mru();
    rows.sort_by_key(|r| (r.last, r.addr.to_string()));
    let mut out = TextBuilder::new();
    out.raw("nonce", nonces.issue(addr, now));
    let budget = frags * control::MAX_DATA_LEN;
    let mut complete = true;
    let fresh = rows.iter().filter(|r| r.count >= mincount).filter(|r| {
        resume
            .as_ref()
            .is_none_or(|(t, a)| (r.last, r.addr.to_string()) > (*t, a.clone()))
    });
    for (i, r) in fresh.enumerate() {
        if i >= limit {
            complete = false;
            break;
        }
        // a row is about 130 bytes: stop before the reply outgrows `frags`
        if out.len() + 200 > budget {
            complete = false;
            break;
        }
        out.raw(&format!("addr.{i}"), r.addr)
            .timestamp(&format!("last.{i}"), r.last)
            .timestamp(&format!("first.{i}"), r.first)
            .raw(&format!("ct.{i}"), r.count)
            .raw(&format!("mv.{i}"), (r.version & 7) << 3 | (r.mode & 7))
            .hex(&format!("rs.{i}"), r.restrict as u64);
    }
    if complete {
        out.timestamp("now", now);
        if let Some(newest) = rows.last() {
            out.timestamp("last.newest", newest.last);
        }
    }
    Ok(out.finish())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;

    #[test]
    fn mru_needs_a_fresh_nonce() {
        let mut r = responder();
        let out = ask(
            &mut r,
            &request(Opcode::REQ_NONCE, 1, 0, b""),
            REMOTE,
            RestrictFlags::NONE,
        );
        let nonce = decode_vars(&reassemble(&out, 1, Opcode::REQ_NONCE).unwrap().data);
        let nonce = lookup(&nonce, "nonce").unwrap().raw().to_string();
        let req = format!("nonce={nonce}, frags=32");
        let out = ask(
            &mut r,
            &request(Opcode::READ_MRU, 2, 0, req.as_bytes()),
            REMOTE,
            RestrictFlags::NONE,
        );
        let vars = decode_vars(&reassemble(&out, 2, Opcode::READ_MRU).unwrap().data);
        assert_eq!(
            lookup(&vars, "addr.0").unwrap().raw(),
            "198.18.0.4:123",
            "oldest first"
        );
        assert_eq!(lookup(&vars, "ct.2").unwrap().as_i64(), Some(39));
        assert!(lookup(&vars, "now").is_some());
        // the nonce is bound to the address it was given to
        let out = ask(
            &mut r,
            &request(Opcode::READ_MRU, 3, 0, req.as_bytes()),
            "198.18.0.10:1",
            RestrictFlags::NONE,
        );
        assert_eq!(
            reassemble(&out, 3, Opcode::READ_MRU).unwrap_err(),
            ErrorCode::BADVALUE
        );
        // NTPsec's READ_MRU carries NTPsec's nonce, which is not ours
        let out = ask(&mut r, &capture(19), LOCAL, RestrictFlags::NONE);
        assert_eq!(
            reassemble(&out, 2, Opcode::READ_MRU).unwrap_err(),
            ErrorCode::BADVALUE
        );
        // stale after 16 s
        let later = SampleState::new(
            || NtpTimestamp(NOW.0 + (17u64 << 32)),
            "198.18.0.2:123".parse().unwrap(),
        );
        let out = r.respond(
            &request(Opcode::READ_MRU, 4, 0, req.as_bytes()),
            REMOTE.parse().unwrap(),
            &later,
            RestrictFlags::NONE,
        );
        assert_eq!(
            reassemble(&out, 4, Opcode::READ_MRU).unwrap_err(),
            ErrorCode::BADVALUE
        );
        assert_eq!(
            reassemble(
                &ask(
                    &mut r,
                    &request(Opcode::READ_MRU, 5, 0, req.as_bytes()),
                    REMOTE,
                    RestrictFlags::NOMRULIST
                ),
                5,
                Opcode::READ_MRU
            )
            .unwrap_err(),
            ErrorCode::PERMISSION
        );
    }
}
