//! NTS extension fields in NTP packets (RFC 8915 §5) on arbitrary bytes: splitting the
//! field chain, reading a client request and checking a response never panic, and nothing
//! a fuzzer can make without the key is accepted as authentic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ntpkit::wire::nts::aead::{Aead, AeadKey};
use ntpkit::wire::nts::ef::{open_response, ClientRequest, Split, Verdict};

fuzz_target!(|data: &[u8]| {
    let key = AeadKey::new(Aead::AesSivCmac256, &[0x5a; 32]).expect("32-byte key");
    if let Ok(split) = Split::parse(data) {
        let _ = split.unique_id();
        if let Some(a) = &split.auth {
            assert!(a.offset < data.len());
        }
    }
    if let Ok(req) = ClientRequest::parse(data) {
        assert!(req.unique_id.len() >= 32);
        let _ = req.open(data, &key);
    }
    let uid = data.get(48 + 4..48 + 36).unwrap_or(&[0; 32]);
    if let Ok(v) = open_response(data, uid, &key) {
        // Only an NTSN kiss can pass without the key: forging the SIV is out of reach.
        assert_eq!(v, Verdict::Nak);
    }
});
