//! Simulation tests: the engine against simulated servers in virtual time, fixed seeds.
//! The accuracy class the README claims is asserted in one place, [`accuracy`]; the other
//! bounds only say "converged", "not followed", etc.

use ntpkit::sim::{run, Scenario, ServerFault, SimConfig, SimResult};
use ntpkit::wire::packet::Leap;

fn scenario(s: Scenario, seed: u64) -> SimConfig {
    let mut c = SimConfig {
        seed,
        ..SimConfig::default()
    };
    s.apply(&mut c);
    c
}

fn short(mut c: SimConfig, duration: f64) -> SimConfig {
    c.duration = duration;
    c
}

/// The README's simulation table (`ntpsim --table`: median of seeds 1–10, 40000 s, the
/// presets' defaults) as bounds on seeds 1–3: twice the headline figure, so a regression
/// of the engine (a 5× one certainly) fails here while tuning within the class does not.
/// Whoever moves the README's figures moves these with them. (Checked 2026-12-01: with
/// the estimator's delay window cut from 32 samples to 1, S1 seed 1 went from 33.0 to
/// 92.4 µs and S2 from 174 to 1706 µs against the fixed-poll figures of the time; both
/// failed here, while the bounds these replaced, 300 and 3000 µs, let both through.)
/// Since the poll adapts (issue 13) the packets each server gets are part of the class
/// too: polling at 64 s for ever, as the engine used to, is 614 packets.
mod accuracy {
    /// Seeds the bounds are asserted on.
    pub const SEEDS: std::ops::RangeInclusive<u64> = 1..=3;
    /// README "S1 LAN, RMS offset (packets per server)": 48.9 µs (250).
    pub const S1_RMS_OFFSET_US: f64 = 2.0 * 48.9;
    pub const S1_PACKETS_PER_SERVER: f64 = 1.5 * 250.0;
    /// README "S2 WAN, RMS offset (packets per server)": 402.2 µs (92). Three times: the
    /// WAN's seeds spread further (seed 2 is 1086 µs, 2.7× the median of seeds 1–10; the
    /// matrix's goal is 3×).
    pub const S2_RMS_OFFSET_US: f64 = 3.0 * 402.2;
    pub const S2_PACKETS_PER_SERVER: f64 = 1.5 * 92.0;
    /// README "S1 with wander 1e-9, RMS offset (packets per server)": 44.3 µs (94): a
    /// stable oscillator is polled rarely once its wander is learnt.
    pub const STABLE_RMS_OFFSET_US: f64 = 2.0 * 44.3;
    pub const STABLE_PACKETS_PER_SERVER: f64 = 1.5 * 94.0;
    /// README "S3 (+0.1 s), settle below 1 ms": 2 s, no backward step.
    pub const S3_SETTLE_S: f64 = 2.0 * 2.0;
}

fn packets_per_server(c: &SimConfig, r: &SimResult) -> f64 {
    r.packets_sent as f64 / c.servers.max(1) as f64
}

#[test]
fn accuracy_class_of_the_readme() {
    for seed in accuracy::SEEDS {
        let c1 = scenario(Scenario::S1, seed);
        let s1 = run(&c1);
        assert!(
            packets_per_server(&c1, &s1) <= accuracy::S1_PACKETS_PER_SERVER,
            "S1 seed {seed}: {:.0} packets per server, class ≤ {}: {s1:?}",
            packets_per_server(&c1, &s1),
            accuracy::S1_PACKETS_PER_SERVER
        );
        assert!(
            s1.rms_offset_us < accuracy::S1_RMS_OFFSET_US,
            "S1 seed {seed}: RMS offset {:.1} µs, class < {} µs: {s1:?}",
            s1.rms_offset_us,
            accuracy::S1_RMS_OFFSET_US
        );
        let c2 = scenario(Scenario::S2, seed);
        let s2 = run(&c2);
        assert!(
            packets_per_server(&c2, &s2) <= accuracy::S2_PACKETS_PER_SERVER,
            "S2 seed {seed}: {:.0} packets per server, class ≤ {}: {s2:?}",
            packets_per_server(&c2, &s2),
            accuracy::S2_PACKETS_PER_SERVER
        );
        assert!(
            s2.rms_offset_us < accuracy::S2_RMS_OFFSET_US,
            "S2 seed {seed}: RMS offset {:.1} µs, class < {} µs: {s2:?}",
            s2.rms_offset_us,
            accuracy::S2_RMS_OFFSET_US
        );
        let mut c4 = scenario(Scenario::S1, seed);
        c4.wander = 1e-9;
        let s4 = run(&c4);
        assert!(
            packets_per_server(&c4, &s4) <= accuracy::STABLE_PACKETS_PER_SERVER,
            "S1 wander 1e-9 seed {seed}: {:.0} packets per server, class ≤ {}: {s4:?}",
            packets_per_server(&c4, &s4),
            accuracy::STABLE_PACKETS_PER_SERVER
        );
        assert!(
            s4.rms_offset_us < accuracy::STABLE_RMS_OFFSET_US,
            "S1 wander 1e-9 seed {seed}: RMS offset {:.1} µs, class < {} µs: {s4:?}",
            s4.rms_offset_us,
            accuracy::STABLE_RMS_OFFSET_US
        );
        let s3 = run(&scenario(Scenario::S3, seed));
        assert!(
            s3.settle_1ms_s.is_some_and(|s| s <= accuracy::S3_SETTLE_S),
            "S3 seed {seed}: settled below 1 ms at {:?} s, class ≤ {} s: {s3:?}",
            s3.settle_1ms_s,
            accuracy::S3_SETTLE_S
        );
        assert_eq!(
            (s3.steps, s3.backward_steps),
            (0, 0),
            "S3 seed {seed}: {s3:?}"
        );
    }
}

#[test]
fn lan_converges_and_stays_within_a_millisecond() {
    for seed in 1..=3 {
        let r = run(&scenario(Scenario::S1, seed));
        // (the RMS offset's class: accuracy_class_of_the_readme)
        assert!(r.max_abs_offset_us < 2000.0, "seed {seed}: {r:?}");
        assert!(
            r.settle_1ms_s.is_some_and(|s| s < 3000.0),
            "seed {seed}: {r:?}"
        );
        assert!(
            r.packets_sent <= 625,
            "seed {seed}: {} packets",
            r.packets_sent
        );
        assert!(r.synchronized_at_end);
        // The frequency learnt cancels the +10 ppm oscillator (plus its wander).
        assert!((r.final_frequency_ppm + 10.0).abs() < 5.0, "{r:?}");
    }
}

#[test]
fn wan_converges() {
    let r = run(&scenario(Scenario::S2, 1));
    // (the RMS offset's class: accuracy_class_of_the_readme)
    assert!(r.settle_1ms_s.is_some(), "{r:?}");
    assert!(r.synchronized_at_end, "{r:?}");
    assert!(r.packets_sent <= 625);
}

#[test]
fn initial_offset_below_step_threshold_is_slewed_quickly_without_stepping() {
    for seed in 1..=3 {
        let r = run(&short(scenario(Scenario::S3, seed), 4000.0));
        assert_eq!(r.steps, 0, "seed {seed}: {r:?}");
        assert!(
            r.settle_1ms_s.is_some_and(|s| s <= 30.0),
            "seed {seed}: {r:?}"
        );
    }
}

#[test]
fn initial_offset_beyond_step_threshold_is_stepped_once_at_start() {
    let mut c = short(scenario(Scenario::S1, 4), 3000.0);
    c.offset = -0.5; // client 0.5 s behind: one step forward
    let r = run(&c);
    assert_eq!(r.steps, 1, "{r:?}");
    assert_eq!(r.backward_steps, 0);
    assert!(r.settle_1ms_s.is_some_and(|s| s < 60.0), "{r:?}");
}

/// `ntpd -G`: the first correction is a step even below the step threshold — here the
/// S3 clock 0.1 s ahead, which is otherwise slewed (above) — backwards if need be, and
/// only the first: a later backward jump of the server is slewed as without -G.
#[test]
fn force_step_once_steps_the_first_correction_only() {
    use ntpkit::engine::EngineConfig;
    use ntpkit::sim::run_with;
    let mut forced = EngineConfig::default();
    forced.step.force_first_step = true;
    let c = short(scenario(Scenario::S3, 1), 2000.0);
    let r = run_with(&c, forced.clone());
    assert_eq!((r.steps, r.backward_steps), (1, 1), "{r:?}");
    // the whole 0.1 s at once, at the first update (iburst: within seconds)
    assert!(r.settle_1ms_s.is_some_and(|s| s <= 10.0), "{r:?}");
    let r = run(&c);
    assert_eq!(r.steps, 0, "without -G the same start is slewed: {r:?}");
    let mut c = short(scenario(Scenario::S3, 2), 6000.0);
    c.server_steps.push((3000.0, -0.3));
    let r = run_with(&c, forced);
    assert_eq!((r.steps, r.backward_steps), (1, 1), "{r:?}");
}

#[test]
fn never_steps_backwards_after_start_but_follows_by_slewing() {
    let mut c = short(scenario(Scenario::S1, 5), 9000.0);
    c.server_steps.push((3000.0, -0.3));
    let r = run(&c);
    assert_eq!(r.steps, 0, "{r:?}");
    // 0.3 s at 500 ppm takes 600 s; after stepout and slew the clock follows the server.
    assert!(r.max_abs_offset_us > 250_000.0, "{r:?}");
}

#[test]
fn forward_jump_after_start_is_stepped_after_stepout() {
    let mut c = short(scenario(Scenario::S1, 6), 6000.0);
    c.server_steps.push((3000.0, 0.3));
    let r = run(&c);
    assert_eq!(r.steps, 1, "{r:?}");
    assert_eq!(r.backward_steps, 0);
}

#[test]
fn falseticker_is_never_selected() {
    for seed in 1..=3 {
        let r = run(&short(scenario(Scenario::S4, seed), 10_000.0));
        // At the adaptive poll the RFC 5905 intervals (which grow with the clock filter's
        // age, PHI·age over up to eight polls) can take it in; the estimators disagree by
        // 50 ms, so it is discarded ('-') and never moves the clock.
        assert_eq!(r.falseticker_selected_s, 0, "seed {seed}: {r:?}");
        assert!(r.rms_offset_us < 300.0, "seed {seed}: {r:?}");
        assert!(r.max_abs_offset_us < 500.0, "seed {seed}: {r:?}");
    }
    // Two falsetickers out of five, on opposite sides.
    let mut c = short(scenario(Scenario::S1, 2), 10_000.0);
    c.servers = 5;
    c.falsetickers = vec![(2, 0.08), (4, -0.05)];
    let r = run(&c);
    assert_eq!(r.falseticker_selected_s, 0, "{r:?}");
    assert!(r.rms_offset_us < 300.0, "{r:?}");
}

#[test]
fn frequency_holds_during_an_outage() {
    for seed in 1..=3 {
        let r: SimResult = run(&short(scenario(Scenario::S5, seed), 20_000.0));
        // Wander alone moves the oscillator ~0.6 ppm in an hour; a lost frequency
        // estimate would be off by the full 10 ppm.
        assert!(r.outage_max_freq_error_ppm < 3.0, "seed {seed}: {r:?}");
        assert!(r.synchronized_at_end);
    }
}

#[test]
fn leap_indicator_from_servers_is_announced_and_armed_only_on_the_last_day() {
    // The simulation starts 2026-05-28 20:26:40 UTC; a leap announced by the servers is
    // taken to be at the end of the month (2026-06-01 00:00, 272000 s later).
    let mut c = short(scenario(Scenario::S1, 1), 600.0);
    c.server_leap = Leap::Insert;
    let r = run(&c);
    assert_eq!(r.announced_leap, "Insert");
    assert_eq!(r.clock_leap, "NoWarning", "not armed days before the leap");
    c.duration = 200_000.0;
    assert_eq!(run(&c).clock_leap, "Insert");
    c.server_leap = Leap::Delete;
    assert_eq!(run(&c).clock_leap, "Delete");
    c.server_leap = Leap::NoWarning;
    let r = run(&c);
    assert_eq!(
        (r.clock_leap.as_str(), r.announced_leap.as_str()),
        ("NoWarning", "NoWarning")
    );
}

#[test]
fn packet_loss_is_survived() {
    let mut c = short(scenario(Scenario::S1, 3), 20_000.0);
    c.loss = 0.2;
    let r = run(&c);
    assert!(r.rms_offset_us < 500.0, "{r:?}");
    assert!(r.packets_sent <= 625);
}

#[test]
fn preset_equals_its_explicit_parameters() {
    let preset = scenario(Scenario::S2, 9);
    let explicit = SimConfig {
        delay_base: 1e-2,
        delay_exp: 1e-3,
        freq_ppm: 10.0,
        wander: 1e-8,
        offset: 0.0,
        seed: 9,
        ..SimConfig::default()
    };
    assert_eq!(preset, explicit);
    let (a, b) = (run(&short(preset, 5000.0)), run(&short(explicit, 5000.0)));
    assert_eq!(a, b);
}

// ---- Faults (issue 7) ----

/// ntp.org's `tos maxdist` default and RFC 5905's PHI: holdover lasts (maxdist − bound at
/// the last update) / PHI ≈ 100000 s.
const MAXDIST: f64 = 1.5;
const PHI: f64 = 15e-6;

#[test]
fn one_server_stepping_by_a_second_is_never_followed() {
    for seed in 1..=3 {
        let mut c = short(scenario(Scenario::S1, seed), 12_000.0);
        c.servers = 3;
        c.server_faults = vec![(2, 5000.0, ServerFault::Step(1.0))];
        let r = run(&c);
        eprintln!("MEASURED step seed {seed}: {r:?}");
        assert_eq!(r.steps, 0, "seed {seed}: {r:?}");
        // Its pre-step samples keep it a survivor in the clock filter for a few polls
        // (its estimator disagrees with the others, so it is not combined); never longer
        // than the filter's eight stages (at the adaptive poll, up to 256 s here).
        assert!(r.faulty_selected_s < 8 * 264, "seed {seed}: {r:?}");
        assert!(r.rms_offset_us < 300.0, "seed {seed}: {r:?}");
        assert!(r.max_abs_offset_us < 2000.0, "seed {seed}: {r:?}");
        assert!(r.synchronized_at_end && r.sys_peer_at_end.is_some_and(|p| p != 2));
    }
}

#[test]
fn a_server_going_unsynchronised_is_dropped_for_the_other() {
    let mut c = short(scenario(Scenario::S1, 3), 12_000.0);
    c.servers = 2;
    c.server_faults = vec![(1, 5000.0, ServerFault::Unsync)];
    let r = run(&c);
    // at most until its first leap-3 reply (one poll at the adaptive poll, here up to
    // 128 s + fuzz)
    assert!(r.faulty_selected_s <= 140, "{r:?}");
    assert_eq!(r.sys_peer_at_end, Some(2), "{r:?}");
    assert!(r.synchronized_at_end, "{r:?}");
    assert!(r.rms_offset_us < 300.0, "{r:?}");
    assert_eq!(r.unsynchronized_at_s, None, "{r:?}");
}

#[test]
fn the_only_server_going_unsynchronised_leaves_holdover() {
    let mut c = short(scenario(Scenario::S1, 4), 20_000.0);
    c.server_faults = vec![(1, 5000.0, ServerFault::Unsync)];
    let r = run(&c);
    eprintln!("MEASURED unsync alone: {r:?}");
    // until its first leap-3 reply: one poll at the adaptive poll (a stable clock's wander
    // once learnt allows 128 s here; up to 256 s + fuzz)
    assert!(r.faulty_selected_s <= 280, "{r:?}");
    assert_eq!(r.sys_peer_at_end, None, "{r:?}");
    // 15000 s of holdover: the bound grew by 0.23 s, below maxdist: still synchronised
    assert!(r.synchronized_at_end, "{r:?}");
    assert_eq!(r.unsynchronized_at_s, None, "{r:?}");
    // the frequency learnt before is kept: offset after 15000 s stays small
    assert!((r.final_frequency_ppm + 10.0).abs() < 3.0, "{r:?}");
    assert!(r.max_abs_offset_us < 20_000.0, "{r:?}");
}

#[test]
fn all_servers_lost_for_days_holdover_then_unsynchronised_then_back() {
    let start = 10_000.0;
    let length = 2.0 * 86_400.0;
    let mut c = short(scenario(Scenario::S1, 5), start + length + 4000.0);
    c.servers = 3;
    c.outages = vec![(start, length)];
    let r = run(&c);
    eprintln!("MEASURED holdover: {r:?}");
    // holdover: the frequency error stays at what the wander makes of it in two days
    // (√172800 · 1e-8 ≈ 4 ppm for a random walk; a lost estimate would be off by 10 ppm)
    assert!(r.outage_max_freq_error_ppm < 8.0, "{r:?}");
    let at = r.unsynchronized_at_s.expect("turns unsynchronised");
    let expected = r.unsynchronized_expected_s.unwrap();
    // PHI arithmetic: (maxdist − bound) / PHI after the last update (within a poll
    // before the outage), to the simulated second (plus the clock's ppm-level rate error)
    assert!(
        (at - expected).abs() < 3.0,
        "at {at} expected {expected}: {r:?}"
    );
    // (the last update is at most one poll before the outage: up to maxpoll, 1024 s + fuzz,
    // at the adaptive poll of three agreeing servers)
    assert!(at > start + (MAXDIST - 0.01) / PHI - 1100.0, "{r:?}");
    assert!(at < start + MAXDIST / PHI + 1.0, "{r:?}");
    // back within a few polls of the servers' return (unreachable polls back off to
    // maxpoll, 1024 s)
    let back = r.resynchronized_at_s.expect("resynchronises");
    assert!(
        back > start + length && back < start + length + 2200.0,
        "{r:?}"
    );
    assert!(r.synchronized_at_end, "{r:?}");
    // Two days of a random-walk frequency (1e-8/√s) build up √(q·T³/3) ≈ 0.4 s RMS of
    // offset: whether the return is slewed or stepped (after stepout, forwards only) is
    // the seed's luck; never backwards.
    assert_eq!(r.backward_steps, 0, "{r:?}");
    assert!(r.steps <= 1, "{r:?}");
}

#[test]
fn a_deny_kiss_demobilises_that_server_only() {
    let mut c = short(scenario(Scenario::S1, 6), 10_000.0);
    c.servers = 3;
    c.server_faults = vec![(3, 3000.0, ServerFault::Deny)];
    let r = run(&c);
    assert_eq!(r.demobilized, vec![3], "{r:?}");
    // selected only until its first DENY reply (the next poll after the fault, up to
    // 128 s + fuzz here)
    assert!(r.faulty_selected_s <= 140, "{r:?}");
    assert!(r.synchronized_at_end, "{r:?}");
    assert!(r.sys_peer_at_end.is_some_and(|p| p != 3), "{r:?}");
    assert!(r.rms_offset_us < 300.0, "{r:?}");
    // a demobilised association is never polled again: 2 servers × ~625 + < 3000 s of one
    assert!(r.packets_sent < 2 * 170 + 70, "{r:?}");
}

#[test]
fn across_the_2036_era_boundary_nothing_changes() {
    // 2036-02-07 06:28:16 UTC: NTP seconds wrap to era 1
    let era1 = 2_085_978_496i64;
    for servers in 1..=3 {
        let mut c = short(scenario(Scenario::S1, servers as u64), 4.0 * 3600.0);
        c.start_unix = era1 - 3600;
        c.servers = servers;
        let r = run(&c);
        eprintln!("MEASURED 2036 {servers} servers: {r:?}");
        assert_eq!(r.steps, 0, "{servers} servers: {r:?}");
        assert!(r.rms_offset_us < 300.0, "{servers} servers: {r:?}");
        assert!(r.max_abs_offset_us < 2000.0, "{servers} servers: {r:?}");
        assert!(r.synchronized_at_end, "{servers} servers: {r:?}");
        // the same run an era earlier (same seed, same true-time course) measures the same
        let mut before = c.clone();
        before.start_unix = era1 - 3600 - 86_400 * 365;
        let b = run(&before);
        assert!(
            (b.rms_offset_us - r.rms_offset_us).abs() < 0.05 * b.rms_offset_us + 1.0,
            "{servers} servers: 2036 {r:?}\n2035 {b:?}"
        );
    }
}

/// Issue 13: with the kernel backend's limits (±50 000 ppm, simulated exactly) and a drift
/// compensation of the same sign as the start-up slew (+0.1 s ahead: slew down; +10 ppm
/// fast: drift down), the slew is planned within the limits and only what the clock
/// accepted is booked: every seed settles within seconds and never steps backwards.
#[test]
fn startup_slew_at_the_kernels_limits_settles_in_seconds_every_seed() {
    use ntpkit::engine::EngineConfig;
    use ntpkit::sim::run_with;
    let drift_file = EngineConfig {
        initial_frequency_ppm: Some(-10.0),
        ..EngineConfig::default()
    };
    for seed in 1..=20 {
        for (what, engine) in [
            ("learnt drift", EngineConfig::default()),
            ("drift file", drift_file.clone()),
        ] {
            let r = run_with(&short(scenario(Scenario::S3, seed), 2500.0), engine);
            assert_eq!(r.backward_steps, 0, "seed {seed}, {what}: {r:?}");
            assert!(
                r.settle_1ms_s.is_some_and(|s| s <= 6.0),
                "seed {seed}, {what}: {r:?}"
            );
        }
    }
}

/// An engine told the clock takes more than it does (a wrong declaration) has commands
/// refused: it books only what the clock did, so it still converges (slower) instead of
/// believing in corrections that never happened.
#[test]
fn refused_clock_commands_are_not_booked() {
    use ntpkit::clock::ClockLimits;
    use ntpkit::engine::EngineConfig;
    use ntpkit::sim::run_with;
    let engine = EngineConfig {
        clock_limits: ClockLimits {
            max_frequency_ppm: 200_000.0,
            max_drift_ppm: 500.0,
        },
        initial_slew_ppm: 100_000.0,
        ..EngineConfig::default()
    };
    for seed in 1..=5 {
        let r = run_with(&short(scenario(Scenario::S3, seed), 4000.0), engine.clone());
        assert_eq!(r.steps, 0, "seed {seed}: {r:?}");
        assert!(
            r.settle_1ms_s.is_some_and(|s| s <= 30.0),
            "seed {seed}: {r:?}"
        );
        assert!(r.rms_offset_us < 300.0, "seed {seed}: {r:?}");
    }
}
