//! The ntp.conf parser on arbitrary text: never panics, and every diagnostic names a line
//! of the input. (`includefile` lines may name real files; loading them is part of the
//! code under test, and a missing one is a clean error.)
#![no_main]
use libfuzzer_sys::fuzz_target;
use ntpkit::config::Config;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = text.lines().count();
    if let Ok((config, diags)) = Config::parse_str(&text, Path::new("/nonexistent/fuzz.conf")) {
        for d in &diags {
            let _ = d.to_string();
            if d.location.file == Path::new("/nonexistent/fuzz.conf") {
                assert!(d.location.line >= 1 && d.location.line <= lines.max(1));
            }
        }
        for a in &config.associations {
            assert!(a.minpoll <= a.maxpoll);
        }
        let _ = config.restrictions.lookup("192.0.2.1".parse().unwrap());
        let _ = config.restrictions.lookup("2001:db8::1".parse().unwrap());
    }
});
