//! /etc/adjtime on arbitrary bytes: parsing never panics, neither does the drift arithmetic
//! hwclock does with the values (correction at a plausible RTC time, calibration), and a
//! file we render from what we parsed reads back without warnings to the same fields.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ntpkit::rtc::adjtime::{Adjtime, Timescale};
use ntpkit::rtc::Timeval;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (adj, _warnings) = Adjtime::parse(&text);
    let rtc_now = 1_764_000_000;
    let _ = adj.drift_correction(rtc_now);
    let mut cal = adj.clone();
    let decision = cal.calibrate(
        Timeval::new(rtc_now, 250_000),
        Timeval::new(rtc_now - 3, 0),
        true,
    );
    let _ = decision.describe();

    let rendered = adj.render();
    let (back, warnings) = Adjtime::parse(&rendered);
    let finite = adj.drift_factor.is_finite() && adj.not_adjusted.is_finite();
    if finite {
        assert!(warnings.is_empty(), "{rendered:?}: {warnings:?}");
        assert_eq!(back.last_adj_time, adj.last_adj_time);
        assert_eq!(back.last_calib_time, adj.last_calib_time);
        let want = if adj.timescale == Timescale::Local {
            Timescale::Local
        } else {
            Timescale::Utc
        };
        assert_eq!(back.timescale, want);
    }
});
