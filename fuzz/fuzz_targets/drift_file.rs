//! The drift file parser on arbitrary bytes (read() decodes them lossily, as here): never
//! panics; an accepted value is finite and within ±500 PPM, and what the daemon would
//! write back for it reads back as the same value to the written precision.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ntpkit::config::drift::{format_ppm, parse, MAX_FREQ_PPM};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let path = Path::new("/var/lib/ntp/ntp.drift");
    match parse(&text, path) {
        Ok(d) => {
            assert!(d.ppm.is_finite() && d.ppm.abs() <= MAX_FREQ_PPM, "{d:?}");
            let again = parse(&format_ppm(d.ppm), path).expect("our own format reads back");
            // half a unit of the third decimal, plus binary rounding (-12.3445 → -12.344)
            assert!((again.ppm - d.ppm).abs() <= 0.0005 + 1e-9, "{d:?} → {again:?}");
            assert!(!again.clamped);
        }
        Err(e) => {
            // the message names the file and a line of the input
            let msg = e.to_string();
            assert!(msg.starts_with("/var/lib/ntp/ntp.drift:"), "{msg}");
        }
    }
});
