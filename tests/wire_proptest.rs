//! Property tests: everything the wire layer encodes decodes to the same value, and the
//! decoder survives arbitrary bytes.

use ntpkit::wire::auth::{Key, KeyStore, KeyType};
use ntpkit::wire::extension::ExtensionField;
use ntpkit::wire::message::{Mac, Packet};
use ntpkit::wire::packet::{Header, Leap, Mode, RefId};
use ntpkit::wire::time::{NtpShort, NtpTimestamp, UnixTime};
use proptest::prelude::*;

fn header_strategy() -> impl Strategy<Value = Header> {
    (
        (
            0u8..4,
            1u8..=4,
            1u8..=5,
            any::<u8>(),
            any::<i8>(),
            any::<i8>(),
        ),
        (any::<u32>(), any::<u32>(), any::<[u8; 4]>()),
        (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()),
    )
        .prop_map(
            |((li, vn, mode, st, poll, prec), (rd, rdisp, refid), (a, b, c, d))| Header {
                leap: Leap::from_bits(li),
                version: vn,
                mode: Mode::from_bits(mode),
                stratum: st,
                poll,
                precision: prec,
                root_delay: NtpShort(rd),
                root_dispersion: NtpShort(rdisp),
                reference_id: RefId(refid),
                reference_ts: NtpTimestamp(a),
                origin_ts: NtpTimestamp(b),
                receive_ts: NtpTimestamp(c),
                transmit_ts: NtpTimestamp(d),
            },
        )
}

fn field_strategy() -> impl Strategy<Value = ExtensionField> {
    (any::<u16>(), proptest::collection::vec(any::<u8>(), 0..80))
        .prop_map(|(t, v)| ExtensionField::new(t, &v))
}

fn key_strategy() -> impl Strategy<Value = Key> {
    (
        1u32..=65535,
        prop_oneof![
            Just(KeyType::Md5),
            Just(KeyType::Sha1),
            Just(KeyType::Aes128Cmac)
        ],
        proptest::collection::vec(any::<u8>(), 1..32),
    )
        .prop_map(|(id, t, s)| Key::new(id, t, &s))
}

proptest! {
    #[test]
    fn header_round_trips(h in header_strategy()) {
        prop_assert_eq!(Header::parse(&h.serialize()).unwrap(), h);
    }

    #[test]
    fn packet_with_fields_round_trips_unsigned(
        h in header_strategy(),
        fields in proptest::collection::vec(field_strategy(), 0..4),
    ) {
        let p = Packet { header: h, extensions: fields, mac: None };
        let bytes = p.to_bytes();
        let q = Packet::parse(&bytes).unwrap();
        prop_assert_eq!(q.header, p.header);
        prop_assert_eq!(q.extensions.len(), p.extensions.len());
        prop_assert!(q.mac.is_none());
        for (a, b) in q.extensions.iter().zip(&p.extensions) {
            prop_assert_eq!(a.field_type, b.field_type);
            // the last field may have been padded to 28 bytes; padding is zeros
            prop_assert_eq!(&a.body[..b.body.len()], &b.body[..]);
            prop_assert!(a.body[b.body.len()..].iter().all(|&x| x == 0));
        }
        // and re-encoding what was decoded is byte-identical
        prop_assert_eq!(q.to_bytes(), bytes);
    }

    #[test]
    fn signed_packet_round_trips_and_verifies(
        h in header_strategy(),
        fields in proptest::collection::vec(field_strategy(), 0..3),
        key in key_strategy(),
        flip in any::<prop::sample::Index>(),
    ) {
        let mut p = Packet { header: h, extensions: fields, mac: None };
        let bytes = p.to_bytes_signed(&key);
        let mut ks = KeyStore::new();
        ks.insert(key.clone());
        let (q, id) = Packet::parse_verified(&bytes, &ks).unwrap();
        prop_assert_eq!(id, Some(key.id));
        prop_assert_eq!(&q, &p);
        prop_assert_eq!(q.to_bytes(), bytes.clone());
        // any single flipped bit in the signed part breaks the MAC
        let mut bad = bytes.clone();
        let covered = bytes.len() - 4 - key.key_type.digest_len();
        let i = flip.index(covered);
        bad[i] ^= 0x01;
        prop_assert!(Packet::parse_verified(&bad, &ks).is_err());
    }

    #[test]
    fn stored_mac_round_trips(h in header_strategy(), id in any::<u32>(), len in prop_oneof![Just(0usize), Just(16), Just(20)]) {
        let p = Packet { header: h, extensions: vec![], mac: Some(Mac { key_id: id, digest: vec![0xab; len] }) };
        prop_assert_eq!(Packet::parse(&p.to_bytes()).unwrap(), p);
    }

    #[test]
    fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Packet::decode(&bytes);
        let _ = Packet::parse_verified(&bytes, &KeyStore::new());
    }

    #[test]
    fn decoder_never_panics_on_mutated_packets(
        h in header_strategy(),
        fields in proptest::collection::vec(field_strategy(), 0..3),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut b = Packet { header: h, extensions: fields, mac: None }.to_bytes();
        for (i, v) in edits {
            let i = i.index(b.len());
            b[i] = v;
        }
        let n = cut.index(b.len() + 1);
        let _ = Packet::decode(&b[..n]);
    }

    #[test]
    fn timestamp_bytes_round_trip(x in any::<u64>()) {
        let t = NtpTimestamp(x);
        prop_assert_eq!(NtpTimestamp::from_be_bytes(t.to_be_bytes()), t);
        prop_assert_eq!(NtpTimestamp::parse_hex(&t.to_hex_string()), Some(t));
    }

    /// Unix time → NTP → Unix is exact to the nanosecond for any instant within 68 years
    /// of the pivot, in any era (1900 … 2036 … 2106 and beyond).
    #[test]
    fn unix_ntp_unix_round_trips_across_eras(
        pivot_secs in -2_208_988_800i64..6_000_000_000,
        delta in -2_000_000_000i64..2_000_000_000,
        nanos in 0u32..1_000_000_000,
    ) {
        let pivot = UnixTime::new(pivot_secs, 0);
        let t = UnixTime::new(pivot_secs + delta, nanos);
        let back = NtpTimestamp::from_unix(t).to_unix(pivot);
        let err = (back - t).abs();
        prop_assert!(err <= 1e-9, "{t:?} -> {back:?}");
    }

    /// NTP → Unix → NTP is within one nanosecond (4.3 fraction units).
    #[test]
    fn ntp_unix_ntp_round_trips(x in any::<u64>(), pivot_secs in 0i64..5_000_000_000) {
        let t = NtpTimestamp(x);
        let back = NtpTimestamp::from_unix(t.to_unix(UnixTime::new(pivot_secs, 0)));
        let diff = (back - t).0.abs();
        prop_assert!(diff <= 5, "{t:?} -> {back:?} ({diff})");
    }
}
