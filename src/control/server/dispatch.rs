//! Request dispatch: which handler answers each opcode, and the status word it puts in
//! the reply header. Separate so the list of what we offer (and refuse) reads in one place.

use super::mru::read_mru;
use super::vars::{render_vars, PEER_VARS_IF_SET, SYSTEM_VARS_IF_SET};
use super::write::write_vars;
use super::{ControlState, Responder};
use crate::config::RestrictFlags;
use crate::wire::control::{
    encode_assoc_list, ControlHeader as Header, ErrorCode, Opcode, Packet, TextBuilder,
};
use std::net::SocketAddr;

impl Responder {
    /// The body of the answer to `p` (its status goes into `reply`), or the error code.
    pub(super) fn dispatch(
        &self,
        p: &Packet,
        source: SocketAddr,
        state: &dyn ControlState,
        restrict: RestrictFlags,
        auth_key: Option<u32>,
        reply: &mut Header,
    ) -> Result<Vec<u8>, ErrorCode> {
        let assoc = p.header.assoc_id;
        match p.header.opcode {
            Opcode::UNSPEC => {
                reply.status = state.system_status().encode();
                Ok(Vec::new())
            }
            Opcode::READSTAT if assoc == 0 => {
                reply.status = state.system_status().encode();
                let mut list = state.associations();
                list.sort_by_key(|(id, _)| *id);
                Ok(encode_assoc_list(&list))
            }
            Opcode::READSTAT => {
                let (st, _) = state.peer_vars(assoc).ok_or(ErrorCode::BADASSOC)?;
                reply.status = st.encode();
                Ok(Vec::new())
            }
            Opcode::READVAR => {
                let vars = if assoc == 0 {
                    reply.status = state.system_status().encode();
                    state.system_vars()
                } else {
                    let (st, vars) = state.peer_vars(assoc).ok_or(ErrorCode::BADASSOC)?;
                    reply.status = st.encode();
                    vars
                };
                let optional = if assoc == 0 {
                    SYSTEM_VARS_IF_SET
                } else {
                    PEER_VARS_IF_SET
                };
                render_vars(&vars, p.data, optional)
            }
            Opcode::READCLOCK => {
                let (st, vars) = state.clock_vars(assoc).ok_or(ErrorCode::BADASSOC)?;
                reply.status = st.encode();
                render_vars(&vars, p.data, &[])
            }
            Opcode::WRITEVAR => {
                write_vars(p.data, assoc, state, restrict, auth_key, self.control_key)?;
                reply.status = state.system_status().encode();
                Ok(Vec::new())
            }
            Opcode::REQ_NONCE => {
                reply.status = state.system_status().encode();
                let mut t = TextBuilder::new();
                t.raw("nonce", self.nonces.issue(source.ip(), state.now()));
                Ok(t.finish())
            }
            Opcode::READ_MRU => {
                if restrict.contains(RestrictFlags::NOMRULIST) {
                    return Err(ErrorCode::PERMISSION);
                }
                reply.status = state.system_status().encode();
                read_mru(p.data, source.ip(), state, &self.nonces)
            }
            Opcode::WRITECLOCK => Err(ErrorCode::PERMISSION),
            // traps, run-time configuration and interface lists are not offered
            _ => Err(ErrorCode::BADOP),
        }
    }
}
