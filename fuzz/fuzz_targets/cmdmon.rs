//! chronyd cmdmon reply decoder: any datagram decodes or is refused without panicking, and
//! what decodes goes through the ntpq/ntpstat views (peer rows, rv variables, ntpstat's
//! lines) without panicking either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntpkit::control::chronyd::{self, Source};
use ntpkit::control::ntpstat::interpret_chronyd;
use ntpkit::wire::cmdmon::{decode_reply, ReplyBody, MAX_REPLY_LEN};
use ntpkit::wire::time::NtpTimestamp;

fuzz_target!(|data: &[u8]| {
    let Ok(reply) = decode_reply(data) else {
        return;
    };
    assert!(data.len() <= MAX_REPLY_LEN, "an oversized reply was accepted");
    match reply.body {
        ReplyBody::SourceData(d) => {
            let src = Source { index: u32::MAX, data: d, stats: None, ntp: None };
            let _ = chronyd::peer_row(&src, &mut |a| a.to_string());
            let _ = chronyd::peer_vars(&src);
            let _ = chronyd::associations(std::slice::from_ref(&src));
        }
        ReplyBody::Tracking(t) => {
            let _ = chronyd::system_vars(&t, &[], NtpTimestamp(0xeeb1_99a9_0000_0000));
            let o = interpret_chronyd(&t, &[], Some("10"));
            assert!(matches!(o.code, 0 | 1));
        }
        _ => {}
    }
});
