//! The keys file parser on arbitrary text: never panics; every key it accepts has a valid
//! id and can sign.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ntpkit::config::keys_file;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (keys, diags) = keys_file::parse(&text, Path::new("fuzz.keys"));
    for d in &diags {
        let _ = d.to_string();
    }
    for id in keys.ids().collect::<Vec<_>>() {
        assert!((1..=65535).contains(&id));
        let mac = keys.sign(id, data).expect("a parsed key signs");
        assert_eq!(keys.verify(data, &mac), Ok(id));
    }
});
