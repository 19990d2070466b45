//! The server's answer to one packet, sans-I/O: request bytes, source, receive time and the
//! current system status in; a reply (or the reason for silence) out. The transmit
//! timestamp is left for the socket layer to stamp just before the packet leaves.

use std::net::SocketAddr;

use super::access::{
    AccessPolicy, RES_DONTSERVE, RES_DONTTRUST, RES_IGNORE, RES_KOD, RES_LIMITED, RES_NOQUERY,
};
use super::mru::Mru;
use super::status::ServerStatus;
use crate::wire::packet::{Leap, RefId, HEADER_LEN};
use crate::wire::time::{NtpShort, NtpTimestamp};

/// The lowest poll ntpd advertises in a KoD (`ntp_minpoll`).
const KOD_MIN_POLL: i8 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `out[..48]` holds the reply; stamp the transmit time and send it.
    Reply,
    /// `out[..48]` holds a RATE kiss-o'-death (no transmit stamp needed: it echoes the
    /// client's own transmit timestamp everywhere).
    Kod,
    /// A mode 6 control request the restrictions allow: for the control server.
    Control,
    /// A packet for the daemon's own associations (a reply to a request we sent, a
    /// symmetric or broadcast packet): for the main loop.
    Association,
    Drop(DropReason),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    Malformed,
    Ignored,
    NoServe,
    NoQuery,
    NoPeer,
    NoTrust,
    RateLimited,
    Unsupported,
}

/// Decide about one packet. `mru` is the monitor table (None with `disable monitor`, which
/// ntpd refuses when `limited` is in use; we simply do no rate control then).
pub fn respond(
    req: &[u8],
    src: SocketAddr,
    rx: NtpTimestamp,
    access: &dyn AccessPolicy,
    mru: Option<&mut Mru>,
    status: &ServerStatus,
    out: &mut [u8; HEADER_LEN],
) -> Outcome {
    let Some(&first) = req.first() else {
        return Outcome::Drop(DropReason::Malformed);
    };
    let mode = first & 7;
    let version = (first >> 3) & 7;
    let flags = access.flags(src);
    if flags & RES_IGNORE != 0 {
        return Outcome::Drop(DropReason::Ignored);
    }
    if mode == 6 {
        return if flags & RES_NOQUERY != 0 {
            Outcome::Drop(DropReason::NoQuery)
        } else {
            Outcome::Control
        };
    }
    if req.len() < HEADER_LEN || !(1..=4).contains(&version) {
        return Outcome::Drop(DropReason::Malformed);
    }
    // An NTPv1 client sends mode 0; ntpd answers it as a client request.
    let client = mode == 3 || (mode == 0 && version == 1);
    if !client && mode != 1 {
        return match mode {
            2 | 4 | 5 => Outcome::Association,
            _ => Outcome::Drop(DropReason::Unsupported),
        };
    }
    if flags & RES_DONTSERVE != 0 {
        return Outcome::Drop(DropReason::NoServe);
    }
    // notrust: only authenticated requests (which carry more than a header) are served
    if flags & RES_DONTTRUST != 0 && req.len() <= HEADER_LEN {
        return Outcome::Drop(DropReason::NoTrust);
    }
    // Symmetric active from a host we have no `peer` line for (those the caller routes
    // to their association): answered statelessly in mode 2, `nopeer` or not. That is
    // ntp.org 4.2.8's AM_NEWPASS with auth enabled (its default): `nopeer` only forbids
    // mobilising an association for an unauthenticated packet, and the stateless passive
    // reply is what it sends instead. NTPsec answers the same way.
    let flags = match mru {
        Some(m) => m.monitor(src.ip(), src.port(), mode, version, rx, flags),
        None => flags & !(RES_LIMITED | RES_KOD),
    };
    let client_xmt = &req[40..48];
    if flags & RES_LIMITED != 0 {
        if flags & RES_KOD == 0 || !client {
            return Outcome::Drop(DropReason::RateLimited);
        }
        // RATE kiss: stratum 0, alarm, the client's own fields echoed, no time leaked.
        out.copy_from_slice(&req[..HEADER_LEN]);
        out[0] = (Leap::Unsync.bits() << 6) | (version << 3) | 4;
        out[1] = 0;
        out[2] = (req[2] as i8).max(KOD_MIN_POLL) as u8;
        out[3] = status.precision as u8;
        out[12..16].copy_from_slice(&RefId::from_ascii("RATE").0);
        out[24..32].copy_from_slice(client_xmt);
        out[32..40].copy_from_slice(client_xmt);
        out[40..48].copy_from_slice(client_xmt);
        return Outcome::Kod;
    }
    let reply_mode = if client { 4 } else { 2 };
    out[0] = (status.leap.bits() << 6) | (version << 3) | reply_mode;
    out[1] = status.wire_stratum();
    out[2] = req[2];
    out[3] = status.precision as u8;
    out[4..8].copy_from_slice(&NtpShort::from_seconds(status.root_delay).0.to_be_bytes());
    out[8..12].copy_from_slice(
        &NtpShort::from_seconds(status.root_dispersion_at(rx))
            .0
            .to_be_bytes(),
    );
    out[12..16].copy_from_slice(&status.refid.0);
    out[16..24].copy_from_slice(&status.reference_time.to_be_bytes());
    out[24..32].copy_from_slice(client_xmt);
    out[32..40].copy_from_slice(&rx.to_be_bytes());
    out[40..48].fill(0);
    Outcome::Reply
}

/// For a mode 1 packet from a configured symmetric peer: it has been through [`respond`]
/// like anyone's (restrictions, MRU monitoring, rate limit); what would have been a
/// stateless mode 2 answer goes to the peer's association instead (its next poll is the
/// answer), and a rate-limited peer gets no kiss, only silence.
pub fn for_symmetric_peer(outcome: Outcome) -> Outcome {
    match outcome {
        Outcome::Reply => Outcome::Association,
        Outcome::Kod => Outcome::Drop(DropReason::RateLimited),
        other => other,
    }
}

/// Write the transmit timestamp into a reply produced by [`respond`].
pub fn stamp_transmit(out: &mut [u8], tx: NtpTimestamp) {
    out[40..48].copy_from_slice(&tx.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{restrict::prefix_mask, RestrictEntry, RestrictFlags, Restrictions};
    use crate::daemon::access::AllowAll;
    use crate::daemon::mru::Discard;
    use crate::wire::packet::{Header, Mode};

    fn request(mode: u8, version: u8, xmt: u64) -> Vec<u8> {
        let mut r = vec![0u8; 48];
        r[0] = (version << 3) | mode;
        r[2] = 6;
        r[40..48].copy_from_slice(&xmt.to_be_bytes());
        r
    }
    fn src(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }
    fn synced() -> ServerStatus {
        ServerStatus {
            leap: Leap::NoWarning,
            stratum: 11,
            precision: -23,
            root_delay: 0.25,
            root_dispersion: 0.5,
            refid: RefId::from_ascii("LOCL"),
            reference_time: NtpTimestamp(0xeeb1_9985_0000_0000),
        }
    }

    #[test]
    fn a_client_request_gets_the_system_variables_and_its_own_timestamp_back() {
        let mut out = [0u8; 48];
        let rx = NtpTimestamp(0xeeb1_9985_8000_0000);
        let o = respond(
            &request(3, 4, 0x1122334455667788),
            src("10.0.0.1:4000"),
            rx,
            &AllowAll,
            None,
            &synced(),
            &mut out,
        );
        assert_eq!(o, Outcome::Reply);
        let h = Header::parse(&out).unwrap();
        assert_eq!(
            (h.leap, h.version, h.mode, h.stratum, h.poll, h.precision),
            (Leap::NoWarning, 4, Mode::Server, 11, 6, -23)
        );
        assert_eq!(h.reference_id, RefId::from_ascii("LOCL"));
        assert_eq!(h.origin_ts, NtpTimestamp(0x1122334455667788));
        assert_eq!(h.receive_ts, rx);
        assert!((h.root_delay.to_seconds() - 0.25).abs() < 1e-4);
        // half a second after the reference time: dispersion grew by PHI·0.5
        assert!((h.root_dispersion.to_seconds() - 0.5).abs() < 1e-3);
        stamp_transmit(&mut out, NtpTimestamp(42));
        assert_eq!(Header::parse(&out).unwrap().transmit_ts, NtpTimestamp(42));
    }

    #[test]
    fn unsynchronised_means_alarm_and_stratum_zero_on_the_wire() {
        let mut out = [0u8; 48];
        let st = ServerStatus::unsynchronised(-20);
        let o = respond(
            &request(3, 3, 1),
            src("10.0.0.1:123"),
            NtpTimestamp(5),
            &AllowAll,
            None,
            &st,
            &mut out,
        );
        assert_eq!(o, Outcome::Reply);
        let h = Header::parse(&out).unwrap();
        assert_eq!((h.leap, h.stratum, h.version), (Leap::Unsync, 0, 3));
        assert_eq!(h.reference_id, RefId::from_ascii("INIT"));
    }

    #[test]
    fn restrictions_decide_who_is_answered() {
        use crate::daemon::access::*;
        let mut t = Restrictions::allow_all();
        t.default_v4 = RestrictFlags(RES_IGNORE);
        host(&mut t, "10.0.0.2", RES_NOQUERY | RES_NOPEER);
        host(&mut t, "10.0.0.3", RES_NOSERVE_FOR_TEST);
        let mut out = [0u8; 48];
        let st = synced();
        let go = |req: &[u8], s: &str, out: &mut [u8; 48]| {
            respond(req, src(s), NtpTimestamp(1), &t, None, &st, out)
        };
        assert_eq!(
            go(&request(3, 4, 1), "10.0.0.1:1", &mut out),
            Outcome::Drop(DropReason::Ignored)
        );
        assert_eq!(
            go(&request(3, 4, 1), "10.0.0.2:1", &mut out),
            Outcome::Reply
        );
        // nopeer: no association is mobilised, but the stateless mode 2 answer still goes
        assert_eq!(
            go(&request(1, 4, 1), "10.0.0.2:1", &mut out),
            Outcome::Reply
        );
        assert_eq!(Header::parse(&out).unwrap().mode, Mode::SymmetricPassive);
        assert_eq!(
            go(&[0x16, 2, 0, 0], "10.0.0.2:1", &mut out),
            Outcome::Drop(DropReason::NoQuery)
        );
        assert_eq!(
            go(&request(3, 4, 1), "10.0.0.3:1", &mut out),
            Outcome::Drop(DropReason::NoServe)
        );
        assert_eq!(
            go(&[0x16, 2, 0, 0], "10.0.0.3:1", &mut out),
            Outcome::Control
        );
        // symmetric active without nopeer: answered statelessly in mode 2
        host(&mut t, "10.0.0.4", 0);
        let o = respond(
            &request(1, 4, 1),
            src("10.0.0.4:123"),
            NtpTimestamp(1),
            &t,
            None,
            &st,
            &mut out,
        );
        assert_eq!(o, Outcome::Reply);
        assert_eq!(Header::parse(&out).unwrap().mode, Mode::SymmetricPassive);
    }
    const RES_NOSERVE_FOR_TEST: u32 = RES_DONTSERVE;

    #[test]
    fn a_symmetric_peer_s_mode_1_passes_the_restrictions_and_the_monitor_first() {
        use crate::daemon::access::*;
        let mut t = Restrictions::allow_all();
        host(&mut t, "10.0.0.1", RES_IGNORE);
        host(&mut t, "10.0.0.2", RES_DONTSERVE);
        host(&mut t, "10.0.0.3", 0);
        host(&mut t, "10.0.0.4", RES_LIMITED | RES_KOD);
        let mut out = [0u8; 48];
        let st = synced();
        let mut mru = Mru::new(100, Discard::default());
        let mut go = |s: &str, at: u64| {
            let o = respond(
                &request(1, 4, at),
                src(s),
                NtpTimestamp(at << 32),
                &t,
                Some(&mut mru),
                &st,
                &mut out,
            );
            for_symmetric_peer(o)
        };
        assert_eq!(go("10.0.0.1:123", 1), Outcome::Drop(DropReason::Ignored));
        assert_eq!(go("10.0.0.2:123", 1), Outcome::Drop(DropReason::NoServe));
        assert_eq!(go("10.0.0.3:123", 1), Outcome::Association);
        // a peer flooding faster than `discard minimum` allows: dropped, never kissed
        let outcomes: Vec<Outcome> = (0..3).map(|_| go("10.0.0.4:123", 100)).collect();
        assert_eq!(outcomes[0], Outcome::Association);
        assert!(
            outcomes.contains(&Outcome::Drop(DropReason::RateLimited)),
            "{outcomes:?}"
        );
        assert!(!outcomes.contains(&Outcome::Kod));
        // and each one is in the MRU list
        let seen: Vec<String> = mru.iter().map(|e| e.addr.to_string()).collect();
        assert!(seen.contains(&"10.0.0.3".to_string()), "{seen:?}");
        assert!(seen.contains(&"10.0.0.4".to_string()), "{seen:?}");
    }

    fn host(t: &mut Restrictions, addr: &str, flags: u32) {
        t.add(RestrictEntry::new(
            addr.parse().unwrap(),
            prefix_mask(false, 32),
            RestrictFlags(flags),
            false,
        ));
    }

    #[test]
    fn limited_with_kod_sends_a_rate_kiss_that_leaks_no_time() {
        let mut t = Restrictions::allow_all();
        t.default_v4 = RestrictFlags(RES_KOD | RES_LIMITED);
        let mut mru = Mru::new(100, Discard::default());
        let mut out = [0u8; 48];
        let st = synced();
        let req = request(3, 4, 0xabcdef);
        let first = respond(
            &req,
            src("10.0.0.9:5"),
            NtpTimestamp(100 << 32),
            &t,
            Some(&mut mru),
            &st,
            &mut out,
        );
        assert_eq!(first, Outcome::Reply);
        let second = respond(
            &req,
            src("10.0.0.9:5"),
            NtpTimestamp((100 << 32) + 1000),
            &t,
            Some(&mut mru),
            &st,
            &mut out,
        );
        assert_eq!(second, Outcome::Kod);
        let h = Header::parse(&out).unwrap();
        assert_eq!((h.leap, h.stratum, h.mode), (Leap::Unsync, 0, Mode::Server));
        assert_eq!(h.reference_id, RefId::from_ascii("RATE"));
        assert_eq!(h.origin_ts, NtpTimestamp(0xabcdef));
        assert_eq!(h.receive_ts, NtpTimestamp(0xabcdef));
        assert_eq!(h.transmit_ts, NtpTimestamp(0xabcdef));
        let third = respond(
            &req,
            src("10.0.0.9:5"),
            NtpTimestamp((100 << 32) + 2000),
            &t,
            Some(&mut mru),
            &st,
            &mut out,
        );
        assert_eq!(third, Outcome::Drop(DropReason::RateLimited));
    }

    #[test]
    fn garbage_is_dropped_not_answered() {
        let mut out = [0u8; 48];
        let st = synced();
        for junk in [
            &[][..],
            &[0x1b; 20][..],
            &request(3, 0, 1)[..],
            &request(3, 7, 1)[..],
            &request(7, 2, 1)[..],
        ] {
            let o = respond(
                junk,
                src("10.0.0.1:1"),
                NtpTimestamp(1),
                &AllowAll,
                None,
                &st,
                &mut out,
            );
            assert!(matches!(o, Outcome::Drop(_)), "{junk:?} → {o:?}");
        }
        assert_eq!(
            respond(
                &request(4, 4, 1),
                src("10.0.0.1:123"),
                NtpTimestamp(1),
                &AllowAll,
                None,
                &st,
                &mut out
            ),
            Outcome::Association
        );
    }
}
