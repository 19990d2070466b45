//! The NTP packet decoder (header, extension fields, MAC trailer) on arbitrary bytes:
//! never panics, and whatever it accepts re-encodes to the same bytes and verifies (or
//! fails to verify) without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ntpkit::wire::auth::{Key, KeyStore, KeyType};
use ntpkit::wire::message::Packet;

fuzz_target!(|data: &[u8]| {
    let mut keys = KeyStore::new();
    keys.insert(Key::new(1, KeyType::Md5, b"fuzz"));
    keys.insert(Key::new(2, KeyType::Sha1, b"fuzz"));
    keys.insert(Key::new(3, KeyType::Aes128Cmac, b"fuzz"));
    if let Ok(d) = Packet::decode(data) {
        assert!(d.mac_offset <= data.len());
        let again = d.packet.to_bytes();
        // Accepted input is canonical except for a short last field without a MAC,
        // which the encoder pads to 28 bytes (RFC 7822); that decodes to the same packet.
        let redecoded = Packet::parse(&again).expect("our own encoding decodes");
        assert_eq!(redecoded.header, d.packet.header);
        assert_eq!(redecoded.extensions.len(), d.packet.extensions.len());
        assert_eq!(redecoded.mac, d.packet.mac);
    }
    let _ = Packet::parse_verified(data, &keys);
});
