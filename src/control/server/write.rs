//! WRITEVAR: authorising a write (not `nomodify`, a MAC by the `controlkey`) and handing
//! each known variable to the daemon. Separate because it is the one request that changes
//! the daemon, so its permission rules stand alone.

use super::{ControlState, Var};
use crate::config::RestrictFlags;
use crate::wire::control::{self, ErrorCode};

/// Write the `name=value` items of `data` to association `assoc` (0: the system). Refused
/// under `nomodify` or unless the request's MAC (`auth_key`) is by `control_key`; an
/// unknown name or a missing value stops at that item.
pub(super) fn write_vars(
    data: &[u8],
    assoc: u16,
    state: &dyn ControlState,
    restrict: RestrictFlags,
    auth_key: Option<u32>,
    control_key: Option<u32>,
) -> Result<(), ErrorCode> {
    if restrict.contains(RestrictFlags::NOMODIFY) {
        return Err(ErrorCode::PERMISSION);
    }
    if auth_key.is_none() || auth_key != control_key {
        return Err(ErrorCode::PERMISSION);
    }
    let known: Vec<Var> = if assoc == 0 {
        state.system_vars()
    } else {
        state.peer_vars(assoc).ok_or(ErrorCode::BADASSOC)?.1
    };
    let items = control::decode_request_vars(data);
    for (name, value) in &items {
        if !known.iter().any(|v| v.name == name.as_str()) {
            return Err(ErrorCode::UNKNOWNVAR);
        }
        let Some(value) = value else {
            return Err(ErrorCode::BADVALUE);
        };
        state.write_var(assoc, name, value)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;

    #[test]
    fn writevar_needs_the_control_key() {
        let mut r = responder();
        let data = b"leap=0";
        let plain = request(Opcode::WRITEVAR, 1, 0, data);
        let err = |out: Vec<Vec<u8>>| reassemble(&out, 1, Opcode::WRITEVAR).unwrap_err();
        assert_eq!(
            err(ask(&mut r, &plain, LOCAL, RestrictFlags::NONE)),
            ErrorCode::PERMISSION
        );
        let h = Header::request(2, Opcode::WRITEVAR, 1, 0);
        let md5 = Key::new(1, KeyType::Md5, b"secretpassword");
        let signed = encode_authenticated(&h, data, 1, |m| md5.digest(m).as_bytes().to_vec());
        // authenticated by the controlkey: accepted, the reply signed with the same key
        let st = state();
        let out = r.respond(&signed, LOCAL.parse().unwrap(), &st, RestrictFlags::NONE);
        let p = Packet::decode(&out[0]).unwrap();
        assert_eq!(p.auth.map(|a| a.key_id), Some(1), "reply is signed");
        assert!(
            md5.verify(p.signed, p.auth.unwrap().mac),
            "reply MAC verifies"
        );
        assert!(!p.header.error, "{:?}", p.header);
        assert_eq!(
            *st.written.lock().unwrap(),
            [(0, "leap".to_string(), "0".to_string())]
        );
        // nomodify refuses even the controlkey
        assert_eq!(
            err(ask(&mut r, &signed, LOCAL, RestrictFlags::NOMODIFY)),
            ErrorCode::PERMISSION
        );
        // another known key is not the controlkey; a wrong MAC is no authentication
        let sha = Key::new(2, KeyType::Sha1, b"another");
        let other = encode_authenticated(&h, data, 2, |m| sha.digest(m).as_bytes().to_vec());
        assert_eq!(
            err(ask(&mut r, &other, LOCAL, RestrictFlags::NONE)),
            ErrorCode::PERMISSION
        );
        let forged = encode_authenticated(&h, data, 1, |_| vec![0; 16]);
        let out = ask(&mut r, &forged, LOCAL, RestrictFlags::NONE);
        assert!(Packet::decode(&out[0]).unwrap().auth.is_none());
        // an unknown variable with the right key
        let bad = encode_authenticated(&h, b"nosuch=1", 1, |m| md5.digest(m).as_bytes().to_vec());
        assert_eq!(
            err(ask(&mut r, &bad, LOCAL, RestrictFlags::NONE)),
            ErrorCode::UNKNOWNVAR
        );
    }
}
