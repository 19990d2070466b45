//! Symmetric mode (`peer`) between engines in virtual time: mode 1 packets carrying the
//! system variables, RFC 5905 origin/receive bookkeeping, duplicates and bogus packets,
//! the lower stratum becoming the other's system peer, and the loop test.

use ntpkit::engine::{Action, AssocId, Engine, EngineConfig, SelectCode, SourceConfig};
use ntpkit::wire::packet::{Header, Leap, Mode, RefId};
use ntpkit::wire::time::{NtpDuration, NtpShort, NtpTimestamp, UnixTime};

const A_ADDR: [u8; 4] = [198, 18, 0, 1];
const B_ADDR: [u8; 4] = [198, 18, 0, 2];
const ONE_WAY: f64 = 0.001;

fn t0() -> NtpTimestamp {
    NtpTimestamp::from_unix(UnixTime::new(1_780_000_000, 0))
}

fn at(s: f64) -> NtpTimestamp {
    t0() + NtpDuration::from_seconds(s)
}

fn secs(ts: NtpTimestamp) -> f64 {
    (ts - t0()).to_seconds()
}

struct Node {
    engine: Engine,
    /// The association for the other node.
    peer: AssocId,
}

fn peer_config(addr: [u8; 4]) -> SourceConfig {
    SourceConfig::peer(addr.into()).with_polls(3, 4)
}

/// A (with the LOCAL driver at `a_local` unless None) and B peering with each other.
fn pair(a_local: Option<u8>) -> (Node, Node) {
    let mut a = Engine::new(EngineConfig::default(), t0());
    if let Some(stratum) = a_local {
        a.add_source(SourceConfig::local_clock(stratum).with_polls(3, 4), t0());
    }
    let a_peer = a.add_source(peer_config(B_ADDR), t0());
    a.set_local_address(a_peer, A_ADDR.into());
    // two hosts never share their poll fuzz (with the same, both sides would poll at the
    // same instants forever and every packet would cross the other's in flight)
    let config = EngineConfig {
        seed: 42,
        ..EngineConfig::default()
    };
    let mut b = Engine::new(config, t0());
    let b_peer = b.add_source(peer_config(A_ADDR), t0());
    b.set_local_address(b_peer, B_ADDR.into());
    (
        Node {
            engine: a,
            peer: a_peer,
        },
        Node {
            engine: b,
            peer: b_peer,
        },
    )
}

/// Run both engines until `until`; every packet reaches the other side after ONE_WAY
/// unless `lose` says so. Returns (time, from A?, packet) for every packet sent.
fn run(
    a: &mut Node,
    b: &mut Node,
    from: f64,
    until: f64,
    lose: impl Fn(f64, bool) -> bool,
) -> Vec<(f64, bool, Header)> {
    let mut log = Vec::new();
    let mut in_flight: Vec<(f64, bool, Header)> = Vec::new();
    let mut now = from;
    loop {
        let next_timer = secs(a.engine.next_wakeup()).min(secs(b.engine.next_wakeup()));
        let next_arrival = in_flight.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
        let next = next_timer.min(next_arrival).max(now);
        if next > until {
            break;
        }
        now = next + 1e-6;
        in_flight.sort_by(|x, y| x.0.total_cmp(&y.0));
        while in_flight.first().is_some_and(|p| p.0 <= now) {
            let (_, to_b, packet) = in_flight.remove(0);
            let node = if to_b { &mut *b } else { &mut *a };
            node.engine.handle_packet(node.peer, &packet, at(now));
        }
        for (from_a, node) in [(true, &mut *a), (false, &mut *b)] {
            if secs(node.engine.next_wakeup()) > now {
                continue;
            }
            for action in node.engine.handle_timer(at(now)) {
                if let Action::Send { packet, .. } = action {
                    log.push((now, from_a, packet));
                    if !lose(now, from_a) {
                        in_flight.push((now + ONE_WAY, from_a, packet));
                    }
                }
            }
        }
    }
    log
}

#[test]
fn peers_send_mode_1_with_their_system_variables_and_echo_each_other() {
    let (mut a, mut b) = pair(Some(10));
    let log = run(&mut a, &mut b, 0.0, 200.0, |_, _| false);
    assert!(log.iter().all(|(_, _, p)| p.mode == Mode::SymmetricActive));
    // the first packet of each side knows nothing of the other
    let first_b = log.iter().find(|p| !p.1).unwrap();
    assert!(first_b.2.origin_ts.is_zero() && first_b.2.receive_ts.is_zero());
    // later ones echo the other side's latest transmit timestamp and when it arrived
    let last_b = log.iter().rev().find(|p| !p.1).unwrap();
    let a_before: Vec<&(f64, bool, Header)> = log
        .iter()
        .filter(|p| p.1 && p.0 + ONE_WAY < last_b.0)
        .collect();
    let echoed = a_before.last().unwrap();
    assert_eq!(last_b.2.origin_ts, echoed.2.transmit_ts);
    let arrival = secs(last_b.2.receive_ts) - echoed.0;
    assert!((arrival - ONE_WAY).abs() < 1e-4, "{arrival}");
    // A (LOCAL stratum 10) serves stratum 11; B follows it at 12
    let last_a = log.iter().rev().find(|p| p.1).unwrap();
    assert_eq!((last_a.2.stratum, last_a.2.leap), (11, Leap::NoWarning));
    let sb = b.engine.system_status();
    assert!(sb.synchronized, "{sb:?}");
    assert_eq!(sb.stratum, 12);
    assert_eq!(sb.peer, Some(b.peer));
    assert_eq!(sb.refid, RefId(A_ADDR));
    let pb = b.engine.peer_status(b.peer).unwrap();
    assert_eq!((pb.hmode, pb.pmode), (1, 1));
    assert_ne!(pb.reach, 0);
    assert!(
        pb.delay > 0.0 && (pb.delay - 2.0 * ONE_WAY).abs() < 1e-4,
        "{pb:?}"
    );
    assert!(pb.offset.abs() < 1e-4, "{pb:?}");
    // A sees B (reachable, stratum 12) but B is synchronised to A: a loop, never chosen
    let pa = a.engine.peer_status(a.peer).unwrap();
    assert_ne!(pa.reach, 0);
    assert_eq!(pa.stratum, 12);
    assert_eq!(pa.refid, RefId(A_ADDR));
    assert_ne!(pa.select, SelectCode::SysPeer);
    assert_ne!(a.engine.system_status().peer, Some(a.peer));
}

#[test]
fn unsynchronised_peers_reach_each_other_without_samples() {
    let (mut a, mut b) = pair(None);
    run(&mut a, &mut b, 0.0, 120.0, |_, _| false);
    for n in [&a, &b] {
        let p = n.engine.peer_status(n.peer).unwrap();
        assert_ne!(p.reach, 0, "{p:?}");
        assert_eq!(p.stratum, 16);
        assert!(!n.engine.system_status().synchronized);
    }
}

#[test]
fn duplicates_and_packets_not_answering_ours_are_no_samples() {
    let (mut a, mut b) = pair(Some(10));
    let log = run(&mut a, &mut b, 0.0, 100.0, |_, _| false);
    let received = b.engine.peer_status(b.peer).unwrap().received;
    let last_a = log.iter().rev().find(|p| p.1).unwrap().2;
    // a replay of A's last packet
    b.engine.handle_packet(b.peer, &last_a, at(101.0));
    let p = b.engine.peer_status(b.peer).unwrap();
    assert_eq!(p.received, received);
    assert_eq!(p.flash & 0x0001, 0x0001, "pkt_dup");
    // a fresh packet whose origin is not our last transmit timestamp (forged or stale)
    let mut forged = last_a;
    forged.transmit_ts = at(101.5);
    forged.origin_ts = at(7.0);
    b.engine.handle_packet(b.peer, &forged, at(101.6));
    let p = b.engine.peer_status(b.peer).unwrap();
    assert_eq!(p.received, received);
    assert_eq!(p.flash & 0x0002, 0x0002, "pkt_bogus");
    // a server-mode packet is not for a symmetric association
    let mut server = last_a;
    server.mode = Mode::Server;
    server.transmit_ts = at(102.0);
    b.engine.handle_packet(b.peer, &server, at(102.1));
    assert_eq!(b.engine.peer_status(b.peer).unwrap().received, received);
}

#[test]
fn one_sided_loss_still_lets_the_other_side_learn() {
    // B's packets never arrive at A: A still answers B's origin (from nothing: A has
    // nothing to echo) — so B only gets samples while it hears A answering its packets
    let (mut a, mut b) = pair(Some(10));
    run(&mut a, &mut b, 0.0, 150.0, |_, from_a| !from_a);
    let pb = b.engine.peer_status(b.peer).unwrap();
    // A never heard B: its packets echo nothing, so none answers a packet of B's
    assert_eq!(pb.received, 0, "{pb:?}");
    assert_ne!(pb.flash & 0x0002, 0, "pkt_bogus: {pb:?}");
    let pa = a.engine.peer_status(a.peer).unwrap();
    assert_eq!(pa.reach, 0);
}

#[test]
fn a_peer_that_drops_mode_1_but_answers_mode_3_is_polled_as_a_server() {
    // NTPsec since 0.9.5: `peer` is `server`, mode 1 goes to the bit bucket
    let mut e = Engine::new(EngineConfig::default(), t0());
    let id = e.add_source(peer_config(B_ADDR), t0());
    let mut now = 0.0;
    let mut modes = Vec::new();
    while now < 200.0 {
        now = secs(e.next_wakeup()).max(now) + 1e-6;
        for action in e.handle_timer(at(now)) {
            let Action::Send { packet, .. } = action else {
                continue;
            };
            modes.push(packet.mode);
            if packet.mode != Mode::Client {
                continue;
            }
            let t2 = packet.transmit_ts + NtpDuration::from_seconds(ONE_WAY);
            let reply = Header {
                leap: Leap::NoWarning,
                mode: Mode::Server,
                stratum: 5,
                precision: -20,
                reference_id: RefId([127, 0, 0, 1]),
                reference_ts: t2,
                origin_ts: packet.transmit_ts,
                receive_ts: t2,
                transmit_ts: t2,
                ..packet
            };
            e.handle_packet(id, &reply, t2 + NtpDuration::from_seconds(ONE_WAY));
        }
    }
    let first_client = modes.iter().position(|m| *m == Mode::Client).unwrap();
    assert_eq!(first_client, 4, "{modes:?}");
    assert!(modes[..4].iter().all(|m| *m == Mode::SymmetricActive));
    assert!(modes[4..].iter().all(|m| *m == Mode::Client), "{modes:?}");
    let p = e.peer_status(id).unwrap();
    assert_ne!(p.reach, 0);
    assert_eq!((p.hmode, p.pmode), (1, 4));
    let st = e.system_status();
    assert!(st.synchronized && st.stratum == 6, "{st:?}");
    assert_eq!(st.peer, Some(id));
}

#[test]
fn a_passive_association_answers_in_mode_2_and_follows_the_active_side() {
    let (mut a, _) = pair(Some(10));
    let config = EngineConfig {
        seed: 7,
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(config, t0());
    let peer = engine.add_source(SourceConfig::passive_peer(A_ADDR.into(), 3), t0());
    let mut b = Node { engine, peer };
    let log = run(&mut a, &mut b, 0.0, 200.0, |_, _| false);
    assert!(log
        .iter()
        .filter(|p| !p.1)
        .all(|p| p.2.mode == Mode::SymmetricPassive));
    let pb = b.engine.peer_status(b.peer).unwrap();
    assert_eq!((pb.hmode, pb.pmode), (2, 1));
    assert_eq!(b.engine.system_status().peer, Some(b.peer));
    assert_eq!(b.engine.system_status().stratum, 12);
}

/// One engine with a `peer` (polls `min`..`max`) against a symmetric peer that sends its
/// own mode 1 every `2^peer_poll` s, advertising that poll and echoing our latest packet
/// (as ntpd and chronyd do), until `until`. Returns the modes we sent and the engine.
fn against_a_peer_polling_at(
    min: i8,
    max: i8,
    peer_poll: i8,
    until: f64,
) -> (Vec<Mode>, Engine, AssocId) {
    let mut e = Engine::new(EngineConfig::default(), t0());
    let id = e.add_source(SourceConfig::peer(B_ADDR.into()).with_polls(min, max), t0());
    let mut modes = Vec::new();
    let mut last_ours: Option<(NtpTimestamp, NtpTimestamp)> = None;
    let interval = 2f64.powi(peer_poll as i32);
    let mut peer_next = 5.0;
    let mut now = 0.0;
    while now < until {
        now = secs(e.next_wakeup()).min(peer_next).max(now) + 1e-6;
        if now >= peer_next {
            peer_next += interval;
            let (origin, receive) = last_ours.unwrap_or((NtpTimestamp::ZERO, NtpTimestamp::ZERO));
            let packet = Header {
                leap: Leap::NoWarning,
                version: 4,
                mode: Mode::SymmetricActive,
                stratum: 5,
                poll: peer_poll,
                precision: -20,
                root_delay: NtpShort(0),
                root_dispersion: NtpShort(0),
                reference_id: RefId([127, 0, 0, 1]),
                reference_ts: at(now),
                origin_ts: origin,
                receive_ts: receive,
                transmit_ts: at(now),
            };
            e.handle_packet(id, &packet, at(now + ONE_WAY));
        }
        for action in e.handle_timer(at(now)) {
            if let Action::Send { packet, .. } = action {
                modes.push(packet.mode);
                last_ours = Some((packet.transmit_ts, at(now + ONE_WAY)));
            }
        }
    }
    (modes, e, id)
}

#[test]
fn a_peer_heard_in_symmetric_mode_is_never_polled_as_a_server_whatever_its_poll() {
    // an ntpd or chronyd peer polling every 128 s while we poll every 8–16 s: our reach
    // register drains between its packets, but it speaks mode 1, so we stay in mode 1
    let (modes, e, id) = against_a_peer_polling_at(3, 4, 7, 1200.0);
    assert!(modes.len() > 50, "{}", modes.len());
    assert!(
        modes.iter().all(|m| *m == Mode::SymmetricActive),
        "{modes:?}"
    );
    assert_ne!(e.peer_status(id).unwrap().received, 0);
}

#[test]
fn a_forged_packet_with_a_foreign_origin_does_not_change_what_we_echo() {
    let (mut a, mut b) = pair(Some(10));
    let log = run(&mut a, &mut b, 0.0, 100.0, |_, _| false);
    let last_a = log.iter().rev().find(|p| p.1).unwrap().2;
    // an off-path forger: a fresh transmit timestamp and an origin that is none of B's
    let mut forged = last_a;
    forged.transmit_ts = at(100.5);
    forged.origin_ts = at(7.0);
    b.engine.handle_packet(b.peer, &forged, at(100.6));
    // B's next packet (before anything more from A) still echoes A's genuine last
    // transmit, not the forger's
    let when = secs(b.engine.next_wakeup()).max(100.7);
    let next_b = b
        .engine
        .handle_timer(at(when))
        .into_iter()
        .find_map(|action| match action {
            Action::Send { packet, .. } => Some(packet),
            _ => None,
        })
        .expect("B polls");
    assert_eq!(next_b.origin_ts, last_a.transmit_ts, "{next_b:?}");
}

/// Packets after `skip` s that follow one of the same side's (two in a row make the next
/// exchange basic in interleaved mode).
fn twice_in_a_row(log: &[(f64, bool, Header)], skip: f64) -> usize {
    let later: Vec<_> = log.iter().filter(|p| p.0 > skip).collect();
    later.windows(2).filter(|w| w[0].1 == w[1].1).count()
}

#[test]
fn a_pair_s_packets_keep_alternating_as_chronyd_spaces_them() {
    // A (LOCAL: stratum 11) is nearer the reference than B (12): it answers each of B's
    // packets at once, whatever B's poll fuzz does
    let (mut a, mut b) = pair(Some(10));
    let log = run(&mut a, &mut b, 0.0, 3000.0, |_, _| false);
    assert!(log.len() > 300, "{}", log.len());
    assert_eq!(twice_in_a_row(&log, 200.0), 0, "{log:?}");
    let answers: Vec<f64> = log
        .windows(2)
        .filter(|w| w[0].0 > 200.0 && !w[0].1)
        .map(|w| w[1].0 - w[0].0)
        .collect();
    assert!(answers.iter().all(|d| *d < 0.1), "{answers:?}");
    // equal strata (both unsynchronised): half a poll apart, so neither side's fuzz makes
    // the timers drift through each other
    let (mut a, mut b) = pair(None);
    let log = run(&mut a, &mut b, 0.0, 3000.0, |_, _| false);
    assert!(log.len() > 300, "{}", log.len());
    assert_eq!(twice_in_a_row(&log, 200.0), 0, "{log:?}");
    for w in log.windows(2).filter(|w| w[0].0 > 200.0) {
        let gap = w[1].0 - w[0].0;
        assert!((2.0..14.0).contains(&gap), "{gap}");
    }
}
