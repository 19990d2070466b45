//! Mode 6 decoder: any datagram must decode (or be refused) without panicking, through
//! every layer a hostile peer can reach: header/trailer, reassembly, variable text, and
//! the server responder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntpkit::config::RestrictFlags;
use ntpkit::control::sample::SampleState;
use ntpkit::control::server::Responder;
use ntpkit::wire::control::{decode_request_vars, decode_vars, Opcode, Packet, Reassembler};
use ntpkit::wire::time::NtpTimestamp;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Packet::decode(data) {
        let _ = decode_vars(p.data);
        let _ = decode_request_vars(p.data);
        let mut r = Reassembler::new(p.header.sequence, p.header.opcode);
        let _ = r.accept(data);
    }
    let _ = Reassembler::new(1, Opcode::READVAR).accept(data);
    let state = SampleState::new(
        || NtpTimestamp(0xeeb1_99a9_0000_0000),
        "198.18.0.2:123".parse().unwrap(),
    );
    let mut responder = Responder::new(Default::default(), Some(1), [3; 16]);
    for d in responder.respond(data, "198.18.0.9:4000".parse().unwrap(), &state, RestrictFlags::NONE) {
        assert!(d.len() <= 12 + 468 + 4 + 20, "datagram too large");
        assert!(Packet::decode(&d).is_ok(), "we produced an undecodable reply");
    }
});
