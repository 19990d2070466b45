//! What the responder's tests share: a sample daemon state at a fixed time, a responder
//! with two keys (key 1 is the controlkey), and helpers to build requests and reassemble
//! replies the way a client would.

pub(super) use super::Responder;
pub(super) use crate::config::RestrictFlags;
pub(super) use crate::control::sample::SampleState;
pub(super) use crate::wire::auth::{Key, KeyStore, KeyType};
pub(super) use crate::wire::control::{
    self, decode_vars, encode, encode_authenticated, lookup, Accepted, ControlHeader as Header,
    ErrorCode, Opcode, Packet, Reassembler, Response,
};
pub(super) use crate::wire::time::NtpTimestamp;

pub(super) const NOW: NtpTimestamp = NtpTimestamp(0xeeb1_99a9_0000_0000);

pub(super) fn state() -> SampleState {
    SampleState::new(|| NOW, "198.18.0.2:123".parse().unwrap())
}

pub(super) fn responder() -> Responder {
    let mut keys = KeyStore::new();
    keys.insert(Key::new(1, KeyType::Md5, b"secretpassword"));
    keys.insert(Key::new(2, KeyType::Sha1, b"another"));
    Responder::new(keys, Some(1), [7; 16])
}

pub(super) const LOCAL: &str = "127.0.0.1:40000";
pub(super) const REMOTE: &str = "198.18.0.9:40000";

pub(super) fn ask(
    r: &mut Responder,
    req: &[u8],
    from: &str,
    restrict: RestrictFlags,
) -> Vec<Vec<u8>> {
    r.respond(req, from.parse().unwrap(), &state(), restrict)
}

pub(super) fn reassemble(
    datagrams: &[Vec<u8>],
    seq: u16,
    op: Opcode,
) -> Result<Response, ErrorCode> {
    let mut re = Reassembler::new(seq, op);
    for d in datagrams {
        match re.accept(d) {
            Ok(Accepted::Complete(r)) => return Ok(r),
            Ok(_) => {}
            Err(control::ReassemblyError::Server(code, _)) => return Err(code),
            Err(e) => panic!("{e}"),
        }
    }
    panic!("incomplete")
}

pub(super) fn request(op: Opcode, seq: u16, assoc: u16, data: &[u8]) -> Vec<u8> {
    encode(&Header::request(2, op, seq, assoc), data)
}

pub(super) fn capture(frame: u32) -> Vec<u8> {
    crate::wire::control::test_support::ntpsec_capture()
        .into_iter()
        .find(|f| f.0 == frame)
        .unwrap()
        .3
}
