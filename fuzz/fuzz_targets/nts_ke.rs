//! NTS-KE messages (RFC 8915 §4) on arbitrary bytes: the framing and both message decoders
//! never panic, and whatever decodes re-encodes to a message that decodes to the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ntpkit::wire::nts::ke::{message_len, parse_records, Request, Response};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(n)) = message_len(data) {
        assert!(n <= data.len());
        let _ = parse_records(&data[..n]);
    }
    if let Ok(req) = Request::decode(data) {
        assert_eq!(Request::decode(&req.encode()).as_ref(), Ok(&req));
    }
    if let Ok(resp) = Response::decode(data) {
        let again = Response::decode(&resp.encode()).expect("our own encoding decodes");
        if resp.error.is_none() {
            assert_eq!(again, resp);
        } else {
            assert_eq!(again.error, resp.error);
        }
    }
});
