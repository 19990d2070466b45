//! Simulation tests: the engine against simulated servers in virtual time, fixed seeds,
//! loose bounds (the accuracy goals are measured by `ntpsim --table`, not asserted here).

use ntpkit::sim::{run, Scenario, SimConfig, SimResult};
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

#[test]
fn lan_converges_and_stays_within_a_millisecond() {
    for seed in 1..=3 {
        let r = run(&scenario(Scenario::S1, seed));
        assert!(r.rms_offset_us < 300.0, "seed {seed}: {r:?}");
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
    assert!(r.rms_offset_us < 3000.0, "{r:?}");
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
        assert_eq!(r.falseticker_selected_s, 0, "seed {seed}: {r:?}");
        assert!(r.rms_offset_us < 300.0, "seed {seed}: {r:?}");
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
