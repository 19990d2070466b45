//! Mode 6 decoder: any datagram must decode (or be refused) without panicking, through
//! every layer a hostile peer can reach: header/trailer, reassembly, variable text, and
//! the server responder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntpkit::wire::control::{decode_request_vars, decode_vars, Opcode, Packet, Reassembler};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Packet::decode(data) {
        let _ = decode_vars(p.data);
        let _ = decode_request_vars(p.data);
        let mut r = Reassembler::new(p.header.sequence, p.header.opcode);
        let _ = r.accept(data);
    }
    let _ = Reassembler::new(1, Opcode::READVAR).accept(data);
});
