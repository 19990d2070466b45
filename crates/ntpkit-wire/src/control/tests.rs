//! Mode 6 codec tests: header bytes as ntpq sends them, fragmentation and reassembly,
//! status word texts, READVAR text both ways, and a recorded NTPsec session.

use super::test_support::ntpsec_capture;
use super::*;
use proptest::prelude::*;

fn response_header(seq: u16) -> ControlHeader {
    let mut h = ControlHeader::request(2, Opcode::READVAR, seq, 0);
    h.response = true;
    h.status = 0x0615;
    h
}

#[test]
fn header_round_trips_and_matches_ntpq_request_bytes() {
    // ntpq's first READSTAT: VN 2, mode 6, opcode 1, sequence 1.
    let h = ControlHeader::request(2, Opcode::READSTAT, 1, 0);
    let bytes = encode(&h, &[]);
    assert_eq!(bytes, [0x16, 0x01, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    let p = Packet::decode(&bytes).unwrap();
    assert_eq!(p.header, h);
    assert!(p.auth.is_none());
}

#[test]
fn status_words_print_as_ntpq_does() {
    assert_eq!(
        SystemStatusWord::decode(0x0615).to_string(),
        "leap_none, sync_ntp, 1 event, clock_sync"
    );
    assert_eq!(SystemStatusWord::decode(0x0615).encode(), 0x0615);
    let p = PeerStatusWord::decode(0x961a);
    assert_eq!(
        p.to_string(),
        "conf, reach, sel_sys.peer, 1 event, sys_peer"
    );
    assert_eq!(p.tally(), '*');
    assert_eq!(p.encode(), 0x961a);
    assert_eq!(PeerStatusWord::decode(0x9014).select.condition(), "reject");
    assert_eq!(
        SystemStatusWord::decode(0xc000).to_string(),
        "leap_alarm, sync_unspec, no events, unspecified"
    );
}

#[test]
fn text_builder_wraps_before_72_columns() {
    let mut b = TextBuilder::new();
    for i in 0..12 {
        b.raw(&format!("variable{i}"), 12345);
    }
    let text = b.finish();
    let s = String::from_utf8(text.clone()).unwrap();
    assert!(s.ends_with("\r\n"));
    for line in s.split("\r\n") {
        assert!(line.len() < MAX_LINE_LEN, "{line:?}");
    }
    let vars = decode_vars(&text);
    assert_eq!(vars.len(), 12);
    assert_eq!(vars[11], ("variable11".into(), Value("12345".into())));
}

#[test]
fn decoder_keeps_quotes_commas_and_survives_garbage() {
    let data =
        b"version=\"ntpd 4.2.8p15, yes\", leap=00,\r\nfiltdelay= 0.51 \xff\xfe 0.52,flag\0\0";
    let v = decode_vars(data);
    assert_eq!(v[0].0, "version");
    assert_eq!(v[0].1.text(), "ntpd 4.2.8p15, yes");
    assert_eq!(v[1], ("leap".into(), Value("00".into())));
    assert_eq!(v[2].0, "filtdelay");
    assert!(v[2].1.raw().starts_with("0.51 "));
    assert_eq!(v[3], ("flag".into(), Value::default()));
}

#[test]
fn authenticated_packet_trailer_is_found() {
    let h = ControlHeader::request(2, Opcode::WRITEVAR, 7, 0);
    let pkt = encode_authenticated(&h, b"leap=0", 1, |_| vec![0xaa; 16]);
    assert_eq!(pkt.len(), 24 + 4 + 16);
    let p = Packet::decode(&pkt).unwrap();
    let a = p.auth.unwrap();
    assert_eq!(a.key_id, 1);
    assert_eq!(a.mac, &[0xaa; 16]);
    assert_eq!(p.signed.len(), 24);
    assert_eq!(p.data, b"leap=0");
}

#[test]
fn server_error_reply_is_reported() {
    let mut h = response_header(3);
    h.error = true;
    h.status = (ErrorCode::UNKNOWNVAR.0 as u16) << 8;
    let mut r = Reassembler::new(3, Opcode::READVAR);
    assert_eq!(
        r.accept(&encode(&h, &[])),
        Err(ReassemblyError::Server(ErrorCode::UNKNOWNVAR, 0))
    );
}

#[test]
fn missing_fragment_keeps_waiting() {
    let body: Vec<u8> = (0..1200u32).map(|i| (i % 251) as u8).collect();
    let frags = fragment(&response_header(9), &body);
    assert_eq!(frags.len(), 3);
    let mut r = Reassembler::new(9, Opcode::READVAR);
    assert_eq!(r.accept(&frags[2]), Ok(Accepted::Partial));
    assert_eq!(r.accept(&frags[0]), Ok(Accepted::Partial));
    assert_eq!(r.accept(&frags[0]), Ok(Accepted::Duplicate));
    // someone else's sequence number is not ours
    let other = fragment(&response_header(10), &body);
    assert_eq!(r.accept(&other[1]), Ok(Accepted::Ignored));
    match r.accept(&frags[1]) {
        Ok(Accepted::Complete(resp)) => assert_eq!(resp.data, body),
        other => panic!("{other:?}"),
    }
}

fn frame(n: u32) -> Vec<u8> {
    ntpsec_capture().into_iter().find(|f| f.0 == n).unwrap().3
}

#[test]
fn ntpsec_capture_decodes() {
    // frame 1: NTPsec's ntpq READSTAT (it sets LI=3 in requests), 2: the assoc list
    let f1 = frame(1);
    let req = Packet::decode(&f1).unwrap();
    assert_eq!(req.header.opcode, Opcode::READSTAT);
    assert_eq!(req.header.version, 2);
    let mut r = Reassembler::new(1, Opcode::READSTAT);
    let Ok(Accepted::Complete(list)) = r.accept(&frame(2)) else {
        panic!()
    };
    assert_eq!(
        SystemStatusWord::decode(list.header.status).to_string(),
        "leap_none, sync_unspec, 1 event, freq_mode"
    );
    let assocs = decode_assoc_list(&list.data);
    assert_eq!(assocs.len(), 1);
    assert_eq!(assocs[0].0, 17767);
    assert_eq!(assocs[0].1.tally(), '*');
    // frames 4+5: peer variables in two fragments, with NTPsec's garbage bytes in
    // filtdelay; delivered in reverse order
    let mut r = Reassembler::new(2, Opcode::READVAR);
    assert_eq!(r.accept(&frame(5)), Ok(Accepted::Partial));
    let Ok(Accepted::Complete(peer)) = r.accept(&frame(4)) else {
        panic!()
    };
    let vars = decode_vars(&peer.data);
    assert_eq!(lookup(&vars, "srcadr").unwrap().raw(), "198.18.0.1");
    assert_eq!(lookup(&vars, "stratum").unwrap().as_i64(), Some(5));
    assert_eq!(lookup(&vars, "reach").unwrap().as_i64(), Some(0xf));
    assert!(lookup(&vars, "filtdelay").is_some());
    assert_eq!(lookup(&vars, "pmode").unwrap().as_i64(), Some(4));
    assert_eq!(
        PeerStatusWord::decode(peer.header.status).to_string(),
        "conf, auth, reach, sel_sys.peer, 1 event, sys_peer"
    );
    // frame 43: padding after count is not zeroed by NTPsec; only count bytes count
    let mut r = Reassembler::new(1, Opcode::READVAR);
    let Ok(Accepted::Complete(ss)) = r.accept(&frame(43)) else {
        panic!()
    };
    let vars = decode_vars(&ss.data);
    assert_eq!(lookup(&vars, "ss_numctlreq").unwrap().as_i64(), Some(19));
    // every datagram of the session decodes
    for (n, _, _, bytes) in ntpsec_capture() {
        Packet::decode(&bytes).unwrap_or_else(|e| panic!("frame {n}: {e}"));
    }
}

proptest! {
    #[test]
    fn fragments_reassemble_in_any_order_with_duplicates(
        body in proptest::collection::vec(any::<u8>(), 0..4000),
        order_seed in any::<u64>(),
        dup in any::<bool>(),
    ) {
        let frags = fragment(&response_header(42), &body);
        for f in &frags {
            let p = Packet::decode(f).unwrap();
            prop_assert!(p.data.len() <= MAX_DATA_LEN);
            prop_assert_eq!(f.len() % 4, 0);
        }
        let mut order: Vec<usize> = (0..frags.len()).collect();
        let mut s = order_seed;
        for i in (1..order.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            order.swap(i, (s >> 33) as usize % (i + 1));
        }
        if dup && order.len() > 1 {
            order.insert(1, order[0]);
        }
        let mut r = Reassembler::new(42, Opcode::READVAR);
        let mut done = None;
        for (k, &i) in order.iter().enumerate() {
            match r.accept(&frags[i]).unwrap() {
                Accepted::Complete(resp) => { prop_assert_eq!(k, order.len() - 1); done = Some(resp) }
                Accepted::Partial | Accepted::Duplicate => {}
                Accepted::Ignored => prop_assert!(false, "ignored"),
            }
        }
        let resp = done.expect("complete");
        prop_assert_eq!(resp.data, body);
        prop_assert_eq!(resp.header.status, 0x0615);
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Packet::decode(&bytes);
        let _ = decode_vars(&bytes);
        let _ = decode_request_vars(&bytes);
        let _ = Reassembler::new(1, Opcode::READVAR).accept(&bytes);
    }

    #[test]
    fn text_round_trips(values in proptest::collection::vec((0u32..1_000_000, -1e6f64..1e6), 1..40)) {
        let mut b = TextBuilder::new();
        for (i, (u, f)) in values.iter().enumerate() {
            b.raw(&format!("u{i}"), u);
            b.ms3(&format!("f{i}"), *f);
        }
        let vars = decode_vars(&b.finish());
        prop_assert_eq!(vars.len(), values.len() * 2);
        for (i, (u, f)) in values.iter().enumerate() {
            prop_assert_eq!(vars[2 * i].1.as_i64(), Some(*u as i64));
            prop_assert!((vars[2 * i + 1].1.as_f64().unwrap() - f).abs() <= 0.0005 + 1e-9);
        }
    }
}
