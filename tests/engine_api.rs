//! The engine's event/action API driven by hand: iburst timing, KoD handling, packet
//! tests, the LOCAL driver, orphan mode, drift in/out and status snapshots.

use ntpkit::engine::{
    Action, AssocId, ClockCommand, Engine, EngineConfig, SelectCode, SourceConfig, SystemEvent,
};
use ntpkit::wire::packet::{Header, Leap, Mode, RefId};
use ntpkit::wire::time::{NtpDuration, NtpShort, NtpTimestamp, UnixTime};

fn t0() -> NtpTimestamp {
    NtpTimestamp::from_unix(UnixTime::new(1_780_000_000, 0))
}

fn at(s: f64) -> NtpTimestamp {
    t0() + NtpDuration::from_seconds(s)
}

fn sends(actions: &[Action]) -> Vec<Header> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { packet, .. } => Some(*packet),
            _ => None,
        })
        .collect()
}

/// A server reply to `request`, with the server `offset` ahead and 1 ms each way.
fn reply(request: &Header, offset: f64) -> Header {
    let t2 = request.transmit_ts + NtpDuration::from_seconds(0.001 + offset);
    Header {
        leap: Leap::NoWarning,
        version: 4,
        mode: Mode::Server,
        stratum: 1,
        poll: request.poll,
        precision: -20,
        root_delay: NtpShort(0),
        root_dispersion: NtpShort::from_seconds(1e-4),
        reference_id: RefId::from_ascii("GPS"),
        reference_ts: t2,
        origin_ts: request.transmit_ts,
        receive_ts: t2,
        transmit_ts: t2,
    }
}

fn kiss(request: &Header, code: &str, poll: i8) -> Header {
    Header {
        leap: Leap::Unsync,
        stratum: 0,
        poll,
        reference_id: RefId::from_ascii(code),
        ..reply(request, 0.0)
    }
}

/// Run the engine's timers until `until`, answering every request after 2 ms with
/// `answer` (None drops it). Returns every (time, request) sent.
fn drive(
    e: &mut Engine,
    from: f64,
    until: f64,
    mut answer: impl FnMut(&Header) -> Option<Header>,
) -> Vec<(f64, Header)> {
    let mut sent = Vec::new();
    let mut now = from;
    loop {
        let wake = (e.next_wakeup() - t0()).to_seconds().max(now);
        if wake > until {
            break;
        }
        now = wake + 1e-6;
        let actions = e.handle_timer(at(now));
        for (assoc, req) in actions.iter().filter_map(|a| match a {
            Action::Send { assoc, packet } => Some((*assoc, *packet)),
            _ => None,
        }) {
            sent.push((now, req));
            if let Some(rep) = answer(&req) {
                e.handle_packet(
                    assoc,
                    &rep,
                    req.transmit_ts + NtpDuration::from_seconds(0.002),
                );
            }
        }
    }
    sent
}

fn server() -> SourceConfig {
    SourceConfig::server("192.0.2.1".parse().unwrap())
}

#[test]
fn iburst_sends_eight_packets_two_seconds_apart_then_polls_at_minpoll() {
    let mut e = Engine::new(EngineConfig::default(), t0());
    e.add_source(server().with_iburst(), t0());
    let sent = drive(&mut e, 0.0, 300.0, |r| Some(reply(r, 0.0)));
    let times: Vec<f64> = sent.iter().map(|s| s.0).collect();
    assert!(times.len() >= 10, "{times:?}");
    for w in times[..8].windows(2) {
        assert!((w[1] - w[0] - 2.0).abs() < 0.01, "burst spacing {times:?}");
    }
    // After the burst, no faster than one per 64 s.
    for w in times[7..].windows(2) {
        assert!(w[1] - w[0] >= 64.0 - 1e-3, "poll spacing {times:?}");
    }
    assert!(sent
        .iter()
        .all(|(_, h)| h.mode == Mode::Client && h.poll == 6));
    let st = e.system_status();
    assert!(st.synchronized && st.stratum == 2, "{st:?}");
    assert_eq!(st.refid, RefId([192, 0, 2, 1]));
    assert_eq!(st.sync_source, 6);
    let p = e.peer_status(e.associations()[0]).unwrap();
    // The burst counts as one poll in the reach register (ntpd), then one bit per poll.
    assert_eq!(p.reach, 0x1f);
    assert_eq!(p.select, SelectCode::SysPeer);
    assert_eq!(p.filter.len(), 8);
    assert!(
        p.offset.abs() < 1e-3 && (p.delay - 0.002).abs() < 1e-4,
        "{p:?}"
    );
}

#[test]
fn without_iburst_one_packet_per_poll() {
    let mut e = Engine::new(EngineConfig::default(), t0());
    e.add_source(server(), t0());
    let sent = drive(&mut e, 0.0, 200.0, |r| Some(reply(r, 0.0)));
    assert!(sent.len() <= 4, "{}", sent.len());
}

#[test]
fn unanswered_iburst_sends_only_the_first_packet_of_each_burst() {
    let mut e = Engine::new(EngineConfig::default(), t0());
    e.add_source(server().with_iburst(), t0());
    let sent = drive(&mut e, 0.0, 1000.0, |_| None);
    // No reply: one packet per poll interval, never a burst.
    assert!(sent.len() <= 1000 / 64 + 1, "{}", sent.len());
    assert!(!e.system_status().synchronized);
}

#[test]
fn kod_rate_raises_the_poll_interval() {
    let mut e = Engine::new(EngineConfig::default(), t0());
    let id = e.add_source(server().with_iburst(), t0());
    let sent = drive(&mut e, 0.0, 5000.0, |r| Some(kiss(r, "RATE", 10)));
    let times: Vec<f64> = sent.iter().map(|s| s.0).collect();
    for w in times[1..].windows(2) {
        assert!(w[1] - w[0] >= 1024.0 - 1e-3, "{times:?}");
    }
    let p = e.peer_status(id).unwrap();
    assert!(p.hpoll >= 10);
    assert_eq!(p.last_event, 7, "rate_exceeded");
}

#[test]
fn kod_deny_demobilizes() {
    let mut e = Engine::new(EngineConfig::default(), t0());
    let id = e.add_source(server(), t0());
    let first = sends(&e.handle_timer(at(1.5)));
    assert_eq!(first.len(), 1);
    let actions = e.handle_packet(id, &kiss(&first[0], "DENY", 6), at(1.51));
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::Demobilize { assoc, .. } if *assoc == id)));
    let later = drive(&mut e, 2.0, 5000.0, |r| Some(reply(r, 0.0)));
    assert!(later.is_empty());
}

#[test]
fn bogus_and_duplicate_replies_are_dropped() {
    let mut e = Engine::new(EngineConfig::default(), t0());
    let id = e.add_source(server(), t0());
    let req = sends(&e.handle_timer(at(1.5)))[0];
    let mut wrong_origin = reply(&req, 0.0);
    wrong_origin.origin_ts = at(99.0);
    e.handle_packet(id, &wrong_origin, at(1.51));
    let p = e.peer_status(id).unwrap();
    assert_eq!(p.reach, 0);
    assert_eq!(p.flash & 0x0002, 0x0002, "pkt_bogus");
    let good = reply(&req, 0.0);
    e.handle_packet(id, &good, at(1.51));
    assert_eq!(e.peer_status(id).unwrap().reach, 1);
    e.handle_packet(id, &good, at(1.52));
    let p = e.peer_status(id).unwrap();
    assert_eq!(p.flash & 0x0001, 0x0001, "pkt_dup");
    assert_eq!(p.received, 1);
}

#[test]
fn unsynchronised_server_is_reachable_but_not_selected() {
    let mut e = Engine::new(EngineConfig::default(), t0());
    let id = e.add_source(server().with_iburst(), t0());
    drive(&mut e, 0.0, 200.0, |r| {
        Some(Header {
            leap: Leap::Unsync,
            stratum: 16,
            ..reply(r, 0.0)
        })
    });
    let p = e.peer_status(id).unwrap();
    assert_ne!(p.reach, 0);
    assert_eq!(p.select, SelectCode::Reject);
    assert!(!e.system_status().synchronized);
}

#[test]
fn drift_is_restored_at_start_and_reported_for_the_drift_file() {
    let cfg = EngineConfig {
        initial_frequency_ppm: Some(-12.5),
        ..EngineConfig::default()
    };
    let mut e = Engine::new(cfg, t0());
    e.add_source(server(), t0());
    let actions = e.handle_timer(at(0.0));
    assert!(actions.contains(&Action::Clock(ClockCommand::SetFrequency { ppm: -12.5 })));
    assert_eq!(e.system_status().last_event, SystemEvent::FreqSet as u8);
    assert_eq!(e.frequency_ppm(), -12.5);
}

#[test]
fn panic_threshold_stops_the_daemon_unless_first_correction_is_allowed() {
    let mut e = Engine::new(EngineConfig::default(), t0());
    e.add_source(server().with_iburst(), t0());
    let mut panicked = false;
    let mut now = 0.0;
    for _ in 0..5 {
        now = (e.next_wakeup() - t0()).to_seconds().max(now) + 1e-6;
        for a in e.handle_timer(at(now)) {
            if let Action::Send { assoc, packet } = a {
                let acts = e.handle_packet(assoc, &reply(&packet, 5000.0), at(now + 0.002));
                panicked |= acts.iter().any(|a| matches!(a, Action::Panic { .. }));
            }
        }
    }
    assert!(panicked);

    let mut cfg = EngineConfig::default();
    cfg.step.allow_first_panic = true;
    let mut e = Engine::new(cfg, t0());
    let id = e.add_source(server(), t0());
    let req = sends(&e.handle_timer(at(1.5)))[0];
    let acts = e.handle_packet(id, &reply(&req, 5000.0), at(1.502));
    assert!(acts
        .iter()
        .any(|a| matches!(a, Action::Clock(ClockCommand::Step { offset }) if (*offset - 5000.0).abs() < 0.01)));
}

#[test]
fn local_clock_driver_synchronises_at_fudge_stratum_plus_one() {
    let mut e = Engine::new(EngineConfig::default(), t0());
    let id = e.add_source(SourceConfig::local_clock(10), t0());
    let sent = drive(&mut e, 0.0, 200.0, |_| None);
    assert!(sent.is_empty(), "the LOCAL driver sends nothing");
    let st = e.system_status();
    assert!(st.synchronized, "{st:?}");
    assert_eq!(st.stratum, 11);
    assert_eq!(st.peer, Some(id));
    assert_eq!(st.sync_source, 5);
    let p = e.peer_status(id).unwrap();
    assert_eq!(p.refid, RefId::from_ascii("LOCL"));
    assert_eq!(p.stratum, 10);
}

#[test]
fn real_server_wins_over_the_local_clock() {
    let mut e = Engine::new(EngineConfig::default(), t0());
    let local = e.add_source(SourceConfig::local_clock(10), t0());
    let remote = e.add_source(server().with_iburst(), t0());
    drive(&mut e, 0.0, 300.0, |r| Some(reply(r, 0.0)));
    assert_eq!(e.system_status().peer, Some(remote));
    assert_ne!(e.peer_status(local).unwrap().select, SelectCode::SysPeer);
}

#[test]
fn orphan_mode_after_orphanwait_without_sources() {
    let cfg = EngineConfig {
        orphan_stratum: 10,
        orphan_wait: 100.0,
        ..EngineConfig::default()
    };
    let mut e = Engine::new(cfg, t0());
    e.add_source(server(), t0());
    drive(&mut e, 0.0, 50.0, |_| None);
    assert!(!e.system_status().orphan);
    drive(&mut e, 50.0, 400.0, |_| None);
    let st = e.system_status();
    assert!(st.orphan && st.stratum == 10, "{st:?}");
    assert_eq!(st.refid, RefId([127, 0, 0, 1]));
    assert_eq!(st.leap, Leap::NoWarning);
}

#[test]
fn remove_source_forgets_it() {
    let mut e = Engine::new(EngineConfig::default(), t0());
    let a = e.add_source(server(), t0());
    let b = e.add_source(SourceConfig::server("192.0.2.2".parse().unwrap()), t0());
    assert_ne!(a, b);
    assert!(e.remove_source(a));
    assert!(!e.remove_source(a));
    assert_eq!(e.associations(), vec![b]);
    assert!(e.peer_status(AssocId(999)).is_none());
}

#[test]
fn status_word_encodes_leap_source_and_events() {
    let mut e = Engine::new(EngineConfig::default(), t0());
    e.add_source(server().with_iburst(), t0());
    drive(&mut e, 0.0, 100.0, |r| Some(reply(r, 0.0)));
    let st = e.system_status();
    let w = st.status_word();
    assert_eq!(w >> 14, 0, "leap_none");
    assert_eq!((w >> 8) & 0x3f, 6, "sync_ntp");
    assert!((w >> 4) & 0xf >= 2);
}

#[test]
fn leapfile_arms_the_kernel_on_the_last_day_and_reports_tai() {
    use ntpkit::engine::leap::LeapTable;
    // t0 is 2026-05-28 20:26:40 UTC; a (made-up) leap at 2026-05-29 00:00 UTC.
    let leap_at = 1_780_012_800i64 + 2_208_988_800;
    let text = format!(
        "#@ {}\n3692217600 37\n{} 38\n",
        leap_at + 10_000_000,
        leap_at
    );
    let cfg = EngineConfig {
        leap_table: Some(LeapTable::parse(&text).unwrap()),
        ..EngineConfig::default()
    };
    let mut e = Engine::new(cfg, t0());
    e.add_source(server().with_iburst(), t0());
    let mut armed = false;
    let mut now = 0.0;
    while now < 100.0 {
        now = (e.next_wakeup() - t0()).to_seconds().max(now) + 1e-6;
        let mut acts = e.handle_timer(at(now));
        for a in acts.clone() {
            if let Action::Send { assoc, packet } = a {
                acts.extend(e.handle_packet(assoc, &reply(&packet, 0.0), at(now + 0.002)));
            }
        }
        armed |= acts.contains(&Action::Clock(ClockCommand::SetLeap(Leap::Insert)));
    }
    assert!(armed);
    let st = e.system_status();
    assert_eq!(st.leap, Leap::Insert);
    assert_eq!(st.tai, Some(37));
    assert_eq!(st.leapsec, Some(leap_at));
}

#[test]
fn observe_only_engine_reports_the_real_offset_and_commands_nothing() {
    let mut e = Engine::new(EngineConfig::default(), t0());
    e.add_source(server().with_iburst(), t0());
    e.set_observe_only();
    let mut clock_commands = 0;
    let mut now = 0.0;
    // The server is 50 ms ahead and its clock runs 20 ppm faster than ours; nothing we
    // do changes that (our clock is not adjusted).
    while now < 3000.0 {
        now = (e.next_wakeup() - t0()).to_seconds().max(now) + 1e-6;
        let acts = e.handle_timer(at(now));
        for a in &acts {
            if let Action::Send { assoc, packet } = a {
                let off = 0.05 + 20e-6 * now;
                let more = e.handle_packet(*assoc, &reply(packet, off), at(now + 0.002));
                clock_commands += more
                    .iter()
                    .filter(|a| matches!(a, Action::Clock(_)))
                    .count();
            }
        }
        clock_commands += acts
            .iter()
            .filter(|a| matches!(a, Action::Clock(_)))
            .count();
    }
    assert_eq!(clock_commands, 0);
    let st = e.system_status();
    assert!(st.synchronized);
    let expected = 0.05 + 20e-6 * now;
    assert!((st.offset - expected).abs() < 2e-3, "{st:?} vs {expected}");
    assert!((st.frequency_ppm - 20.0).abs() < 1.0, "{st:?}");
}

#[test]
fn configured_minpoll_is_honoured() {
    let mut e = Engine::new(EngineConfig::default(), t0());
    e.add_source(server().with_polls(4, 4), t0());
    let sent = drive(&mut e, 0.0, 400.0, |r| Some(reply(r, 0.0)));
    assert!(sent.iter().all(|(_, h)| h.poll == 4));
    for w in sent.windows(2) {
        let gap = w[1].0 - w[0].0;
        assert!((16.0..=17.0 + 1e-3).contains(&gap), "{gap}");
    }
}

#[test]
fn burst_sends_eight_packets_per_poll_while_reachable() {
    let mut e = Engine::new(EngineConfig::default(), t0());
    let mut cfg = server();
    cfg.burst = true;
    e.add_source(cfg, t0());
    let sent = drive(&mut e, 0.0, 200.0, |r| Some(reply(r, 0.0)));
    // First poll alone (not yet reachable), then bursts of eight 2 s apart.
    let times: Vec<f64> = sent.iter().map(|s| s.0).collect();
    assert!(times.len() >= 9, "{times:?}");
    let second_poll = &times[1..9];
    for w in second_poll.windows(2) {
        assert!((w[1] - w[0] - 2.0).abs() < 0.01, "{times:?}");
    }
    assert!(times[1] - times[0] >= 64.0 - 1e-3);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
    /// Whatever a server sends back, the engine neither panics nor emits a non-finite
    /// clock command.
    #[test]
    fn arbitrary_replies_never_break_the_engine(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 48),
        echo_origin in proptest::prelude::any::<bool>(),
        arrival in 0.0f64..10.0,
    ) {
        let Ok(mut h) = Header::parse(&bytes) else { return Ok(()); };
        let mut e = Engine::new(EngineConfig::default(), t0());
        let id = e.add_source(server().with_iburst(), t0());
        let req = sends(&e.handle_timer(at(1.5)))[0];
        if echo_origin {
            h.origin_ts = req.transmit_ts;
            h.mode = Mode::Server;
        }
        for a in e.handle_packet(id, &h, at(1.5 + arrival)) {
            if let Action::Clock(ClockCommand::SetFrequency { ppm }) = a {
                proptest::prop_assert!(ppm.is_finite());
            }
            if let Action::Clock(ClockCommand::Step { offset }) = a {
                proptest::prop_assert!(offset.is_finite());
            }
        }
        let _ = e.system_status();
        let _ = e.peer_status(id);
        let _ = e.handle_timer(at(100.0));
    }
}

/// Timers only (no replies) from `from` to `until`; every action with its time.
fn silence(e: &mut Engine, from: f64, until: f64) -> Vec<(f64, Action)> {
    let mut out = Vec::new();
    let mut now = from;
    loop {
        let wake = (e.next_wakeup() - t0()).to_seconds().max(now);
        if wake > until {
            return out;
        }
        now = wake + 1e-6;
        out.extend(e.handle_timer(at(now)).into_iter().map(|a| (now, a)));
    }
}

#[test]
fn holdover_until_the_error_bound_passes_maxdist_then_unsynchronised_then_back() {
    let cfg = EngineConfig {
        max_dist: 0.05,
        ..EngineConfig::default()
    };
    let mut e = Engine::new(cfg, t0());
    let id = e.add_source(server().with_iburst(), t0());
    drive(&mut e, 0.0, 600.0, |r| Some(reply(r, 0.0)));
    let synced = e.system_status();
    assert!(synced.synchronized && synced.peer == Some(id));
    let frequency = e.frequency_ppm();
    let last_update = (synced.reftime - t0()).to_seconds();
    let bound = synced.root_delay / 2.0 + synced.root_dispersion;
    let expected = last_update + (0.05 - bound) / 15e-6;

    let actions = silence(&mut e, 600.0, expected + 500.0);
    // the silent server stops being the system peer long before (three polls: the
    // clock filter's dummy sample takes its root distance past maxdist): the first at the
    // adaptive poll in force (exact replies are very predictable: it may be long), the
    // next two after minpoll (an unanswered poll is retried), each stretched by ≤ 1/16
    let dropped = actions
        .iter()
        .find(|(_, a)| {
            *a == Action::Event(ntpkit::engine::EngineEvent::System(SystemEvent::NoSysPeer))
        })
        .map(|(t, _)| *t)
        .expect("no_sys_peer");
    let poll = 2f64.powi(synced.tc as i32);
    assert!(
        dropped < last_update + 1.07 * (poll + 3.0 * 64.0),
        "{dropped} (poll {poll} s)"
    );
    // holdover keeps the kernel's maxerror true and the clock synchronised …
    assert!(actions.iter().any(|(t, a)| *t < expected
        && matches!(a, Action::Clock(ClockCommand::SetSyncStatus(s)) if s.synchronized && s.max_error > bound)));
    // … until the bound passes maxdist, to the PHI arithmetic
    let (unsync_at, status) = actions
        .iter()
        .find_map(|(t, a)| match a {
            Action::Clock(ClockCommand::SetSyncStatus(s)) if !s.synchronized => Some((*t, *s)),
            _ => None,
        })
        .expect("STA_UNSYNC commanded");
    assert!(
        (unsync_at - expected).abs() < 1.0,
        "{unsync_at} vs {expected}"
    );
    assert!(
        status.max_error >= 0.05 && status.max_error < 0.051,
        "{status:?}"
    );
    let st = e.system_status();
    assert!(!st.synchronized);
    assert_eq!(
        (st.leap, st.stratum, st.refid),
        (Leap::Unsync, 16, RefId::from_ascii("INIT"))
    );
    assert_eq!(st.status_word() >> 14, 3);
    assert_eq!(st.peer, None);
    assert_eq!(e.frequency_ppm(), frequency, "holdover keeps the frequency");

    // the server answers again: a normal update resynchronises
    let back = expected + 500.0;
    drive(&mut e, back, back + 300.0, |r| Some(reply(r, 0.0)));
    let st = e.system_status();
    assert!(st.synchronized && st.peer == Some(id), "{st:?}");
    assert_eq!(st.stratum, 2);
}

#[test]
fn an_unsynchronised_servers_init_reply_is_not_a_kiss_of_death() {
    // NTPsec with no sources answers leap 3, stratum 0, refid INIT: only RATE, DENY and
    // RSTR are instructions; this is an ordinary (unusable) reply
    let mut e = Engine::new(EngineConfig::default(), t0());
    let id = e.add_source(server().with_iburst(), t0());
    let sent = drive(&mut e, 0.0, 200.0, |r| Some(kiss(r, "INIT", 6)));
    let p = e.peer_status(id).unwrap();
    assert_ne!(p.reach, 0, "reachable");
    assert_eq!(p.stratum, 16);
    assert_eq!(p.select, SelectCode::Reject);
    assert!(!e.system_status().synchronized);
    // still polled at minpoll, not backed off or demobilised
    assert!(sent.iter().filter(|(t, _)| *t > 20.0).count() >= 2);
}

/// A server that reads its transmit timestamp before the send (chronyd's, NTPsec's basic
/// mode) puts every excess delay on the reply leg: the engine learns a ≈ −0.5 and
/// `PeerStatus::asymmetry` (mode 6's `asym`) reports it once it is used, 0 before.
#[test]
fn peer_status_reports_the_asymmetry_in_use() {
    let mut e = Engine::new(EngineConfig::default(), t0());
    let id = e.add_source(server().with_polls(4, 4), t0());
    // deterministic exponential excess on the reply leg, 50 µs mean (xorshift)
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut excess = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let u = (state >> 11) as f64 / (1u64 << 53) as f64;
        -50e-6 * (1.0 - u).ln()
    };
    let mut now = 0.0;
    let mut seen = Vec::new();
    for _ in 0..200 {
        let wake = (e.next_wakeup() - t0()).to_seconds().max(now);
        now = wake + 1e-6;
        for req in sends(&e.handle_timer(at(now))) {
            // 1 ms each way plus the reply's excess; the server's clock is ours
            let rep = reply(&req, 0.0);
            let arrival = req.transmit_ts + NtpDuration::from_seconds(0.002 + excess());
            e.handle_packet(id, &rep, arrival);
            seen.push(e.peer_status(id).unwrap().asymmetry);
        }
        if seen.len() >= 60 {
            break;
        }
    }
    assert!(seen.len() >= 60, "{} samples", seen.len());
    assert!(
        seen[..8].iter().all(|&a| a == 0.0),
        "nothing used before the estimate has samples: {seen:?}"
    );
    let a = *seen.last().unwrap();
    assert!((-0.5..=-0.4).contains(&a), "asymmetry {a}: {seen:?}");
}
