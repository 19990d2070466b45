//! The responder end to end: NTPsec's captured requests answered, the text layout ntpd
//! clients parse, errors and silent drops, amplification, and our own client and ntpq
//! talking to it over loopback.

use super::test_support::*;
use crate::control::client::Client;
use crate::wire::control::decode_assoc_list;

#[test]
fn ntpsec_ntpq_readstat_and_readvar_are_answered() {
    let mut r = responder();
    // NTPsec's READSTAT (LI bits set in the request, sequence 1)
    let out = ask(&mut r, &capture(1), LOCAL, RestrictFlags::NONE);
    let resp = reassemble(&out, 1, Opcode::READSTAT).unwrap();
    assert_eq!(resp.header.status, 0x0615);
    let list = decode_assoc_list(&resp.data);
    assert_eq!(list.iter().map(|a| a.0).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(list[0].1.tally(), '*');
    // NTPsec's READVAR of the default system variables
    let out = ask(&mut r, &capture(13), LOCAL, RestrictFlags::NONE);
    let resp = reassemble(&out, 1, Opcode::READVAR).unwrap();
    let names: Vec<String> = decode_vars(&resp.data).into_iter().map(|v| v.0).collect();
    assert_eq!(
        &names[..8],
        [
            "version",
            "processor",
            "system",
            "leap",
            "stratum",
            "precision",
            "rootdelay",
            "rootdisp"
        ]
    );
    assert!(
        !names.contains(&"peeradr".to_string()),
        "peeradr is not a default variable"
    );
    // NTPsec's sysinfo: named variables, in the order asked
    let out = ask(&mut r, &capture(15), LOCAL, RestrictFlags::NONE);
    let resp = reassemble(&out, 1, Opcode::READVAR).unwrap();
    let vars = decode_vars(&resp.data);
    assert_eq!(vars[0].0, "peeradr");
    assert_eq!(vars[0].1.raw(), "198.18.0.1:123");
    assert_eq!(lookup(&vars, "peermode").unwrap().as_i64(), Some(3));
    assert_eq!(vars.last().unwrap().0, "authdelay");
}

#[test]
fn text_responses_follow_ntpd_layout() {
    let mut r = responder();
    let out = ask(
        &mut r,
        &request(Opcode::READVAR, 5, 1, b""),
        LOCAL,
        RestrictFlags::NONE,
    );
    for d in &out {
        assert_eq!(d.len() % 4, 0);
        assert!(d.len() <= 12 + control::MAX_DATA_LEN);
    }
    let resp = reassemble(&out, 5, Opcode::READVAR).unwrap();
    assert_eq!(resp.header.status, 0x961a);
    let text = String::from_utf8(resp.data.clone()).unwrap();
    assert!(text.ends_with("\r\n"));
    for line in text.split("\r\n") {
        assert!(line.len() < 72 + 20, "{line}");
    }
    let vars = decode_vars(&resp.data);
    assert_eq!(
        vars[0],
        ("srcadr".into(), control::Value("198.18.0.1".into()))
    );
    assert_eq!(lookup(&vars, "reach").unwrap().raw(), "0xff");
    assert_eq!(lookup(&vars, "delay").unwrap().raw(), "0.512");
    assert!(lookup(&vars, "rec")
        .unwrap()
        .raw()
        .starts_with("0xeeb1999d."));
    assert_eq!(
        lookup(&vars, "filtdelay").unwrap().raw(),
        "0.51 0.51 0.51 0.51 0.51 0.51 0.51 0.51"
    );
}

#[test]
fn errors_and_drops() {
    let mut r = responder();
    let code = |out: Vec<Vec<u8>>, seq, op| reassemble(&out, seq, op).unwrap_err();
    let unknown = ask(
        &mut r,
        &request(Opcode::READVAR, 2, 0, b"stratum,nosuchvar"),
        LOCAL,
        RestrictFlags::NONE,
    );
    assert_eq!(code(unknown, 2, Opcode::READVAR), ErrorCode::UNKNOWNVAR);
    // leapfile variables without a leapfile: known, so no error, just not there
    let unset = ask(
        &mut r,
        &request(Opcode::READVAR, 5, 0, b"stratum,leapsec,expire"),
        LOCAL,
        RestrictFlags::NONE,
    );
    let text = reassemble(&unset, 5, Opcode::READVAR)
        .expect("no error")
        .data;
    assert_eq!(String::from_utf8_lossy(&text).trim_end(), "stratum=2");
    let badassoc = ask(
        &mut r,
        &request(Opcode::READVAR, 3, 99, b""),
        LOCAL,
        RestrictFlags::NONE,
    );
    assert_eq!(code(badassoc, 3, Opcode::READVAR), ErrorCode::BADASSOC);
    let trap = ask(
        &mut r,
        &request(Opcode::SETTRAP, 4, 0, b""),
        LOCAL,
        RestrictFlags::NONE,
    );
    assert_eq!(code(trap, 4, Opcode::SETTRAP), ErrorCode::BADOP);
    let mut odd = request(Opcode::READVAR, 6, 0, b"");
    odd.push(0);
    assert_eq!(
        code(
            ask(&mut r, &odd, LOCAL, RestrictFlags::NONE),
            6,
            Opcode::READVAR
        ),
        ErrorCode::BADFMT
    );
    // dropped silently: noquery, ignore, responses, garbage, fragments
    let readstat = request(Opcode::READSTAT, 1, 0, b"");
    assert!(ask(&mut r, &readstat, REMOTE, RestrictFlags::NOQUERY).is_empty());
    assert!(ask(&mut r, &readstat, REMOTE, RestrictFlags::IGNORE).is_empty());
    let mut resp = Header::request(2, Opcode::READSTAT, 1, 0);
    resp.response = true;
    assert!(ask(&mut r, &encode(&resp, b""), LOCAL, RestrictFlags::NONE).is_empty());
    assert!(ask(&mut r, b"\x16\x01\x00", LOCAL, RestrictFlags::NONE).is_empty());
    let mut v0 = readstat.clone();
    v0[0] = 6; // version 0
    assert!(ask(&mut r, &v0, LOCAL, RestrictFlags::NONE).is_empty());
}

/// Bytes out per byte in for each unauthenticated query an off-host source can make
/// (UDP payloads; add 28 bytes of IPv4+UDP header to each side for wire ratios).
/// Printed for docs/mode6.md (`cargo test --lib amplification -- --nocapture`).
#[test]
fn amplification_of_unauthenticated_requests() {
    let mut r = responder();
    let cases: [(&str, Vec<u8>); 6] = [
        ("READSTAT assoc list", request(Opcode::READSTAT, 1, 0, b"")),
        (
            "READVAR system default",
            request(Opcode::READVAR, 1, 0, b""),
        ),
        ("READVAR peer default", request(Opcode::READVAR, 1, 1, b"")),
        ("REQ_NONCE", request(Opcode::REQ_NONCE, 1, 0, b"")),
        (
            "READ_MRU without nonce",
            request(Opcode::READ_MRU, 1, 0, b"frags=128"),
        ),
        (
            "WRITEVAR unauthenticated",
            request(Opcode::WRITEVAR, 1, 0, b"leap=0"),
        ),
    ];
    for (what, req) in cases {
        let out = ask(&mut r, &req, REMOTE, RestrictFlags::NONE);
        let bytes: usize = out.iter().map(Vec::len).sum();
        let ratio = bytes as f64 / req.len() as f64;
        let wire = (bytes + 28 * out.len()) as f64 / (req.len() + 28) as f64;
        println!(
            "| {what} | {} | {bytes} in {} datagram(s) | {ratio:.1} | {wire:.1} |",
            req.len(),
            out.len()
        );
        // no unauthenticated query reaches a second fragment's worth of amplification
        // beyond the peer variables (two fragments, like NTPsec's)
        assert!(out.len() <= 2, "{what}");
        if what.contains("MRU") || what.contains("WRITEVAR") {
            assert_eq!(bytes, 12, "{what}: only an error header");
        }
    }
}

#[test]
fn our_client_and_ntpq_session_against_the_responder_on_loopback() {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let mut r = responder();
        let st = SampleState::new(
            || NtpTimestamp::from_system_time(std::time::SystemTime::now()),
            "198.18.0.2:123".parse().unwrap(),
        );
        let mut buf = [0u8; 1024];
        sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            if &buf[..n] == b"stop" {
                break;
            }
            for d in r.respond(&buf[..n], from, &st, RestrictFlags::NONE) {
                sock.send_to(&d, from).unwrap();
            }
        }
    });
    let mut c = Client::connect(&addr.to_string(), std::time::Duration::from_secs(2)).unwrap();
    let (sys, list) = c.associations().unwrap();
    assert_eq!(sys.to_string(), "leap_none, sync_ntp, 1 event, clock_sync");
    assert_eq!(list.len(), 3);
    let v = c.read_vars(0, &["stratum", "refid"]).unwrap();
    assert_eq!(v.get("stratum").unwrap().as_i64(), Some(2));
    let mru = c.mrulist(&[], 4).unwrap();
    assert_eq!(mru.entries.len(), 3);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    {
        let opts = crate::control::ntpq::Options {
            numeric: true,
            ..Default::default()
        };
        let host = addr.to_string();
        let mut s = crate::control::ntpq::Session::new(
            opts,
            std::slice::from_ref(&host),
            &mut out,
            &mut err,
        );
        assert!(s.open_host(&host));
        s.run("peers");
        s.run("as");
    }
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // `when` (columns 38..42) depends on which second the query lands in
    let blank = |l: &str| format!("{}WHEN{}", &l[..38], &l[42..]);
    assert_eq!(
        blank(lines[2]),
        "*198.18.0.1      .GPS.            1 u WHEN   64  377    0.512   -0.034   0.021"
    );
    assert!(
        blank(lines[3]).starts_with(
            "+198.18.0.3      198.18.0.9       3 u WHEN   64  177    1.204    0.871   0.116"
        ),
        "{text}"
    );
    assert!(
        lines[4].starts_with(" 198.18.0.4      .INIT.          16 u    -   64    0"),
        "{text}"
    );
    assert!(
        text.contains("  2     2  9424   yes   yes  none candidate   reachable  2"),
        "{text}"
    );
    assert!(err.is_empty(), "{}", String::from_utf8_lossy(&err));
    let stop = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    stop.send_to(b"stop", addr).unwrap();
    server.join().unwrap();
}
