//! The simulation loop: true time advances in one-second wander steps; packets and engine
//! wake-ups happen in between at exact instants.

use super::rng::Rng;
use super::scenario::{ServerFault, SimConfig};
use crate::clock::{SimulatedClock, SystemClock};
use crate::engine::{Action, AssocId, Engine, EngineConfig, SelectCode, SourceConfig};
use crate::wire::packet::{Header, Leap, Mode, RefId};
use crate::wire::time::{NtpShort, NtpTimestamp, UnixTime};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::net::IpAddr;

/// What a run measured. Offsets are clock − true time, sampled every true second.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SimResult {
    pub rms_offset_us: f64,
    pub max_abs_offset_us: f64,
    pub mean_offset_us: f64,
    pub rms_freq_ppm: f64,
    /// Largest error of the drift compensation (oscillator + frequency correction, phase
    /// slews excluded; t ≥ 2000 s), ppm: a runaway shows here.
    pub max_freq_error_ppm: f64,
    /// Time after which |offset| stays below 1 ms (whole run); null if it never does.
    pub settle_1ms_s: Option<f64>,
    pub packets_sent: u64,
    pub steps: usize,
    pub backward_steps: usize,
    /// Seconds during which a falseticker server was the system peer or a survivor.
    pub falseticker_selected_s: u64,
    /// Largest |frequency error| during outages, ppm (holdover quality).
    pub outage_max_freq_error_ppm: f64,
    pub final_frequency_ppm: f64,
    /// Leap indicator last handed to the clock.
    pub clock_leap: String,
    /// Leap indicator the engine announces at the end (system variable `leap`).
    pub announced_leap: String,
    pub synchronized_at_end: bool,
    /// Seconds during which a server under a fault (`server_faults`, from its start) was
    /// the system peer or a combined survivor.
    pub faulty_selected_s: u64,
    /// Servers (numbered from 1) whose association the engine demobilised.
    pub demobilized: Vec<usize>,
    /// The system peer at the end (server number), if any.
    pub sys_peer_at_end: Option<usize>,
    /// True time at which the engine, synchronised before, first announced leap 3
    /// (unsynchronised), s.
    pub unsynchronized_at_s: Option<f64>,
    /// When that should happen by the PHI arithmetic: the true time of the last update
    /// plus (maxdist − rootdelay/2 − rootdisp) / PHI, from the status at that moment.
    pub unsynchronized_expected_s: Option<f64>,
    /// The first true time after `unsynchronized_at_s` at which it was synchronised again.
    pub resynchronized_at_s: Option<f64>,
}

#[derive(Debug, PartialEq)]
struct Pending {
    at: f64,
    seq: u64,
    kind: PacketEvent,
}

#[derive(Debug, PartialEq)]
enum PacketEvent {
    /// A reply reaches the client.
    Reply { assoc: AssocId, header: Header },
}

impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    // Min-heap on time, then arrival order.
    fn cmp(&self, other: &Self) -> Ordering {
        other.at.total_cmp(&self.at).then(other.seq.cmp(&self.seq))
    }
}

struct Stats {
    from: f64,
    n: u64,
    sum: f64,
    sum_sq: f64,
    max_abs: f64,
    freq_sq: f64,
    freq_max: f64,
    last_unsettled: Option<f64>,
    ever_settled_sample: bool,
}

/// Run one simulation.
pub fn run(cfg: &SimConfig) -> SimResult {
    run_with(cfg, EngineConfig::default())
}

/// Run with a given engine configuration (the seed is taken from the simulation).
pub fn run_with(cfg: &SimConfig, engine_config: EngineConfig) -> SimResult {
    run_observed(cfg, engine_config, &mut |_, _| {})
}

/// As `run_with`, calling `on_update` with the clock's time and the system status after
/// each clock update, where ntpd writes a loopstats line (`ntpsim --loopstats`).
pub fn run_observed(
    cfg: &SimConfig,
    mut engine_config: EngineConfig,
    on_update: &mut dyn FnMut(UnixTime, &crate::engine::SystemStatus),
) -> SimResult {
    let mut rng = Rng::new(cfg.seed);
    let epoch = UnixTime::new(cfg.start_unix, 0);
    let max_dist = engine_config.max_dist;
    let mut clock = SimulatedClock::new(epoch, cfg.offset, cfg.freq_ppm);
    engine_config.seed = cfg.seed ^ 0x5eed;
    let now = |c: &SimulatedClock| NtpTimestamp::from_unix(c.now().expect("simulated"));
    let mut engine = Engine::new(engine_config, now(&clock));
    let mut server_offsets = Vec::new();
    let mut ids = Vec::new();
    for k in 1..=cfg.servers.max(1) {
        let addr = IpAddr::from([198, 18, 0, k as u8]);
        let id = engine.add_source(
            SourceConfig::server(addr)
                .with_iburst()
                .with_polls(cfg.minpoll, cfg.maxpoll),
            now(&clock),
        );
        ids.push(id);
        if let (true, Some(c), Some(s)) =
            (cfg.tell_engine_stamps, cfg.client_stamps, cfg.server_stamps)
        {
            engine.set_timestamps(id, super::stamps::worse(c, s));
        }
        let off = cfg
            .falsetickers
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, o)| *o)
            .unwrap_or(0.0);
        server_offsets.push(off);
    }
    let false_ids: Vec<AssocId> = ids
        .iter()
        .zip(&server_offsets)
        .filter(|(_, o)| **o != 0.0)
        .map(|(id, _)| *id)
        .collect();

    let mut queue: BinaryHeap<Pending> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut packets_sent = 0u64;
    let mut falseticker_selected_s = 0u64;
    let mut outage_max_freq = 0.0f64;
    let mut faulty_selected_s = 0u64;
    let mut demobilized = Vec::new();
    let mut was_synchronized = false;
    let mut unsynchronized_at = None;
    let mut unsynchronized_expected = None;
    let mut resynchronized_at = None;
    let fault_of = |k: usize, t: f64| {
        cfg.server_faults
            .iter()
            .filter(|(n, at, _)| *n == k && t >= *at)
            .map(|(_, _, f)| *f)
            .collect::<Vec<ServerFault>>()
    };
    let mut stats = Stats {
        from: cfg.stats_from,
        n: 0,
        sum: 0.0,
        sum_sq: 0.0,
        max_abs: 0.0,
        freq_sq: 0.0,
        freq_max: 0.0,
        last_unsettled: None,
        ever_settled_sample: false,
    };
    let in_outage = |t: f64| cfg.outages.iter().any(|&(s, l)| t >= s && t < s + l);
    let mut next_tick: f64 = 1.0;
    let mut leap_pending = false;
    let mut burst_left = 0.0f64;
    let mut wake = clock_to_true(&clock, engine.next_wakeup());
    let mut actions: Vec<Action> = Vec::new();
    let mut last_reftime = None;
    let mut clock_updated = false;

    loop {
        let next_packet = queue.peek().map(|p| p.at).unwrap_or(f64::INFINITY);
        let t_next = next_tick.min(next_packet).min(wake);
        if t_next > cfg.duration {
            break;
        }
        let dt = (t_next - clock.true_time()).max(0.0);
        clock.advance(dt);
        let t = clock.true_time();
        if next_packet <= wake && next_packet < next_tick {
            let p = queue.pop().expect("peeked");
            match p.kind {
                PacketEvent::Reply { assoc, header } => {
                    // the client's receive timestamp, late by its kind's error
                    let late = cfg
                        .client_stamps
                        .map_or(0.0, |k| super::stamps::rx_error(k, &mut rng));
                    let t4 = now(&clock) + crate::wire::time::NtpDuration::from_seconds(late);
                    actions.extend(engine.handle_packet(assoc, &header, t4));
                }
            }
        } else if wake < next_tick {
            actions.extend(engine.handle_timer(now(&clock)));
        } else {
            // One true second: sample the clock, then let the oscillator wander.
            next_tick += 1.0;
            if leap_pending {
                leap_pending = false;
                match cfg.server_leap {
                    Leap::Insert => clock.leap_second(1.0),
                    Leap::Delete => clock.leap_second(-1.0),
                    _ => {}
                }
            }
            let offset = clock.offset();
            if t >= stats.from {
                stats.n += 1;
                stats.sum += offset;
                stats.sum_sq += offset * offset;
                stats.max_abs = stats.max_abs.max(offset.abs());
                let fe = clock.frequency_error() * 1e6;
                stats.freq_sq += fe * fe;
                // the drift compensation's error (phase slews excluded): a runaway shows
                let drift_error = clock.oscillator_error() * 1e6 + engine.frequency_ppm();
                stats.freq_max = stats.freq_max.max(drift_error.abs());
            }
            if offset.abs() >= 1e-3 {
                stats.last_unsettled = Some(t);
            } else {
                stats.ever_settled_sample = true;
            }
            if in_outage(t) {
                outage_max_freq = outage_max_freq.max((clock.frequency_error() * 1e6).abs());
            }
            for (k, id) in ids.iter().enumerate() {
                if fault_of(k + 1, t).is_empty() {
                    continue;
                }
                let selected = engine
                    .peer_status(*id)
                    .map(|p| matches!(p.select, SelectCode::SysPeer | SelectCode::Candidate))
                    .unwrap_or(false);
                if selected {
                    faulty_selected_s += 1;
                }
            }
            if !cfg.server_faults.is_empty() || !cfg.outages.is_empty() {
                let st = engine.system_status();
                if was_synchronized && !st.synchronized && unsynchronized_at.is_none() {
                    unsynchronized_at = Some(t);
                    let age = (now(&clock) - st.reftime).to_seconds();
                    let margin = max_dist - st.root_delay / 2.0 - st.root_dispersion;
                    unsynchronized_expected = Some(t - age + margin / crate::engine::filter::PHI);
                }
                if st.synchronized && unsynchronized_at.is_some() && resynchronized_at.is_none() {
                    resynchronized_at = Some(t);
                }
                was_synchronized = st.synchronized;
            }
            for id in &false_ids {
                let selected = engine
                    .peer_status(*id)
                    .map(|p| matches!(p.select, SelectCode::SysPeer | SelectCode::Candidate))
                    .unwrap_or(false);
                if selected {
                    falseticker_selected_s += 1;
                }
            }
            let mut f = clock.oscillator_error() + cfg.wander * rng.normal();
            if let Some((amplitude, period)) = cfg.temperature {
                let phase = |t: f64| (2.0 * std::f64::consts::PI * t / period).sin();
                f += amplitude * 1e-6 * (phase(t + 1.0) - phase(t));
            }
            clock.set_oscillator_error(f);
            if let Some(at) = cfg.leap_at {
                if t < at && t + 1.0 >= at {
                    leap_pending = true;
                }
            }
        }
        for action in actions.drain(..) {
            match action {
                Action::Send { assoc, packet } => {
                    packets_sent += 1;
                    let k = ids.iter().position(|i| *i == assoc).unwrap_or(0);
                    let base = cfg.delay_base
                        + cfg
                            .route_changes
                            .iter()
                            .filter(|(at, _)| t >= *at)
                            .map(|(_, d)| d)
                            .sum::<f64>();
                    let up = (base + extra_delay(&mut rng, cfg.delay_exp, cfg.delay_tail)).max(0.0);
                    let mut down = (base
                        + extra_delay(
                            &mut rng,
                            cfg.delay_exp_reply.unwrap_or(cfg.delay_exp),
                            cfg.delay_tail,
                        ))
                    .max(0.0);
                    let mut lost = rng.uniform() < cfg.loss
                        || rng.uniform() < cfg.loss
                        || in_outage(t)
                        || in_outage(t + up + down);
                    if let Some((start, mean_len)) = cfg.loss_bursts {
                        if burst_left >= 1.0 {
                            burst_left -= 1.0;
                            lost = true;
                        } else if rng.uniform() < start {
                            // geometric length with the given mean, this packet included
                            let p = 1.0 / mean_len.max(1.0);
                            burst_left = ((1.0 - rng.uniform()).ln() / (1.0 - p).ln()).floor();
                            lost = true;
                        }
                    }
                    if lost {
                        continue;
                    }
                    // timestamp errors (none drawn for exact stamps): T1 was read before
                    // the request left, which it does that much later; the server stamps
                    // its receive time late, reads its transmit time then, and the reply
                    // leaves after that by its transmit stamp's error
                    let (sent_late, server_rx) = match (cfg.client_stamps, cfg.server_stamps) {
                        (None, None) => (0.0, 0.0),
                        (c, s) => (
                            c.map_or(0.0, |k| -super::stamps::tx_error(k, &mut rng)),
                            s.map_or(0.0, |k| super::stamps::rx_error(k, &mut rng)),
                        ),
                    };
                    if let Some(k) = cfg.server_stamps {
                        down += server_rx - super::stamps::tx_error(k, &mut rng);
                    }
                    let up = up + sent_late;
                    let server_time = clock.true_instant(t + up);
                    let jumped: f64 = cfg
                        .server_steps
                        .iter()
                        .filter(|(at, _)| t + up >= *at)
                        .map(|(_, s)| s)
                        .sum();
                    let faults = fault_of(k + 1, t + up);
                    let fault_step: f64 = faults
                        .iter()
                        .map(|f| match f {
                            ServerFault::Step(s) => *s,
                            _ => 0.0,
                        })
                        .sum();
                    let unsync = faults.contains(&ServerFault::Unsync);
                    let deny = faults.contains(&ServerFault::Deny);
                    let ts = NtpTimestamp::from_unix(server_time)
                        + crate::wire::time::NtpDuration::from_seconds(
                            server_offsets[k] + jumped + fault_step,
                        );
                    let reply = Header {
                        leap: if unsync || deny {
                            Leap::Unsync
                        } else if cfg.leap_at.is_some_and(|at| t + up >= at) {
                            Leap::NoWarning
                        } else {
                            cfg.server_leap
                        },
                        version: 4,
                        mode: Mode::Server,
                        // unsynchronised: stratum 0 on the wire, as ntpd sends 16
                        stratum: if deny || unsync { 0 } else { 1 },
                        poll: packet.poll,
                        precision: -20,
                        root_delay: NtpShort(0),
                        root_dispersion: NtpShort::from_seconds(1e-5),
                        reference_id: RefId::from_ascii(if deny {
                            "DENY"
                        } else if unsync {
                            "INIT"
                        } else {
                            "GPS"
                        }),
                        reference_ts: ts,
                        origin_ts: packet.transmit_ts,
                        receive_ts: ts + crate::wire::time::NtpDuration::from_seconds(server_rx),
                        transmit_ts: ts + crate::wire::time::NtpDuration::from_seconds(server_rx),
                    };
                    seq += 1;
                    queue.push(Pending {
                        at: t + up + down,
                        seq,
                        kind: PacketEvent::Reply {
                            assoc,
                            header: reply,
                        },
                    });
                }
                Action::Clock(cmd) => {
                    clock_updated = true;
                    let result = crate::engine::apply_clock_command(&mut clock, cmd);
                    engine.clock_result(&cmd, &result);
                }
                Action::Demobilize { assoc, .. } => {
                    if let Some(k) = ids.iter().position(|i| *i == assoc) {
                        demobilized.push(k + 1);
                    }
                }
                _ => {}
            }
        }
        if clock_updated {
            clock_updated = false;
            let st = engine.system_status();
            if st.synchronized && last_reftime != Some(st.reftime) {
                last_reftime = Some(st.reftime);
                on_update(clock.now().expect("simulated"), &st);
            }
        }
        wake = clock_to_true(&clock, engine.next_wakeup());
    }

    let n = stats.n.max(1) as f64;
    let steps = clock.steps().len();
    let backward_steps = clock.steps().iter().filter(|s| s.1 < 0.0).count();
    let settle = match stats.last_unsettled {
        None => Some(0.0),
        Some(t) if t + 1.0 < cfg.duration => Some(t),
        Some(_) => None,
    };
    SimResult {
        rms_offset_us: (stats.sum_sq / n).sqrt() * 1e6,
        max_abs_offset_us: stats.max_abs * 1e6,
        mean_offset_us: stats.sum / n * 1e6,
        rms_freq_ppm: (stats.freq_sq / n).sqrt(),
        max_freq_error_ppm: stats.freq_max,
        settle_1ms_s: settle,
        packets_sent,
        steps,
        backward_steps,
        falseticker_selected_s,
        outage_max_freq_error_ppm: outage_max_freq,
        final_frequency_ppm: engine.frequency_ppm(),
        clock_leap: format!("{:?}", clock.leap()),
        announced_leap: format!("{:?}", engine.system_status().leap),
        synchronized_at_end: clock.sync_status().synchronized,
        faulty_selected_s,
        demobilized,
        sys_peer_at_end: engine
            .system_status()
            .peer
            .and_then(|p| ids.iter().position(|i| *i == p))
            .map(|k| k + 1),
        unsynchronized_at_s: unsynchronized_at,
        unsynchronized_expected_s: unsynchronized_expected,
        resynchronized_at_s: resynchronized_at,
    }
}

/// One direction's delay beyond the base: exponential with mean `scale`, or Pareto of shape
/// `tail` with the same mean (congestion: mostly short, now and then very long). One
/// uniform draw either way.
fn extra_delay(rng: &mut Rng, scale: f64, tail: Option<f64>) -> f64 {
    match tail {
        None => scale * rng.exponential(),
        Some(alpha) => {
            let u = 1.0 - rng.uniform();
            scale * (alpha - 1.0) * (u.powf(-1.0 / alpha) - 1.0)
        }
    }
}

/// The true time at which the clock will read `ts` (rate ≈ 1 is close enough for
/// scheduling; the engine copes with being woken slightly early or late).
fn clock_to_true(clock: &SimulatedClock, ts: NtpTimestamp) -> f64 {
    let now = NtpTimestamp::from_unix(clock.now().expect("simulated"));
    // A microsecond late, so that nanosecond rounding of readings can never leave the
    // engine just short of its deadline.
    clock.true_time() + (ts - now).to_seconds().max(0.0) + 1e-6
}
