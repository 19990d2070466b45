//! Simulation parameters and the named scenarios (presets).

use crate::wire::packet::Leap;

/// A fault of one server, from some time on (`SimConfig::server_faults`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ServerFault {
    /// The server's clock jumps by this many seconds (and stays there).
    Step(f64),
    /// The server loses its own synchronisation: it answers with leap 3, stratum 16.
    Unsync,
    /// The server answers every request with a kiss-o'-death DENY.
    Deny,
}

/// The model (the one clknetsim uses, so results compare with chronyd's).
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Initial oscillator frequency error, ppm (positive: the client clock runs fast).
    pub freq_ppm: f64,
    /// Random-walk frequency wander: frequency(t+1 s) = frequency(t) + wander·N(0,1).
    pub wander: f64,
    /// One-way delay = delay_base + delay_exp·Exp(1), independently in each direction, s.
    pub delay_base: f64,
    pub delay_exp: f64,
    /// Initial offset of the client clock, s (positive: the client clock is ahead).
    pub offset: f64,
    /// Probability that a packet (either direction) is lost.
    pub loss: f64,
    pub servers: usize,
    /// (server number from 1, offset of that server's clock in s).
    pub falsetickers: Vec<(usize, f64)>,
    /// (start, length), s: no packet gets through.
    pub outages: Vec<(f64, f64)>,
    /// (time, step), s: every server's clock jumps by `step` at `time`.
    pub server_steps: Vec<(f64, f64)>,
    pub duration: f64,
    pub seed: u64,
    pub minpoll: i8,
    pub maxpoll: i8,
    /// Leap indicator the servers announce.
    pub server_leap: Leap,
    /// Statistics start here (steady state), s.
    pub stats_from: f64,
    /// (server number from 1, time, fault): one server misbehaves from that time on.
    pub server_faults: Vec<(usize, f64, ServerFault)>,
    /// Unix time at which the simulation starts (true time 0).
    pub start_unix: i64,
    /// Scale of the reply direction's extra delay, s (None: `delay_exp`, symmetric).
    pub delay_exp_reply: Option<f64>,
    /// Extra delays from a Pareto distribution of this shape (long-tailed congestion)
    /// with mean `delay_exp`, instead of the exponential (None).
    pub delay_tail: Option<f64>,
    /// The oscillator's frequency cycles with temperature: (amplitude ppm, period s).
    pub temperature: Option<(f64, f64)>,
    /// Packets are lost in bursts: (probability that a packet starts a burst, mean burst
    /// length in packets).
    pub loss_bursts: Option<(f64, f64)>,
    /// (time, change of the base delay in both directions, s): route changes.
    pub route_changes: Vec<(f64, f64)>,
    /// True time of the leap second the servers announce (`server_leap`): a client clock
    /// that has not armed it is a second off UTC afterwards.
    pub leap_at: Option<f64>,
    /// The kind of timestamps the client and the servers take (`sim::stamps`); `None`:
    /// exact timestamps, as before the model existed (the presets).
    pub client_stamps: Option<super::stamps::StampKind>,
    pub server_stamps: Option<super::stamps::StampKind>,
    /// Tell the engine which kind its samples carry (`Engine::set_timestamps`).
    pub tell_engine_stamps: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            freq_ppm: 10.0,
            wander: 1e-8,
            delay_base: 1e-4,
            delay_exp: 1e-4,
            offset: 0.0,
            loss: 0.0,
            servers: 1,
            falsetickers: Vec::new(),
            outages: Vec::new(),
            server_steps: Vec::new(),
            duration: 40_000.0,
            seed: 1,
            minpoll: 6,
            maxpoll: 10,
            server_leap: Leap::NoWarning,
            stats_from: 2000.0,
            server_faults: Vec::new(),
            start_unix: 1_780_000_000,
            delay_exp_reply: None,
            delay_tail: None,
            temperature: None,
            loss_bursts: None,
            route_changes: Vec::new(),
            leap_at: None,
            client_stamps: None,
            server_stamps: None,
            tell_engine_stamps: true,
        }
    }
}

/// Named parameter sets; each is exactly the same as giving its parameters explicitly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// LAN: delay 1e-4 + 1e-4·Exp, +10 ppm, wander 1e-8.
    S1,
    /// WAN: delay 1e-2 + 1e-3·Exp.
    S2,
    /// S1 with the client clock 0.1 s ahead at start.
    S3,
    /// S1 with three servers, the third 50 ms off.
    S4,
    /// S1 with an hour's outage from t = 10000 s.
    S5,
}

impl Scenario {
    pub const ALL: [Scenario; 5] = [
        Scenario::S1,
        Scenario::S2,
        Scenario::S3,
        Scenario::S4,
        Scenario::S5,
    ];

    pub fn parse(s: &str) -> Option<Scenario> {
        match s.to_ascii_uppercase().as_str() {
            "S1" => Some(Scenario::S1),
            "S2" => Some(Scenario::S2),
            "S3" => Some(Scenario::S3),
            "S4" => Some(Scenario::S4),
            "S5" => Some(Scenario::S5),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Scenario::S1 => "S1",
            Scenario::S2 => "S2",
            Scenario::S3 => "S3",
            Scenario::S4 => "S4",
            Scenario::S5 => "S5",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Scenario::S1 => "LAN: delay 1e-4+1e-4*Exp, +10 ppm, wander 1e-8",
            Scenario::S2 => "WAN: delay 1e-2+1e-3*Exp, +10 ppm, wander 1e-8",
            Scenario::S3 => "S1 with +0.1 s initial offset",
            Scenario::S4 => "S1 with 3 servers, server 3 is a falseticker (+50 ms)",
            Scenario::S5 => "S1 with a 3600 s outage at t=10000 s",
        }
    }

    /// Apply this preset's parameters on top of `base` (which carries seed/duration).
    pub fn apply(self, base: &mut SimConfig) {
        let d = SimConfig::default();
        base.freq_ppm = d.freq_ppm;
        base.wander = d.wander;
        base.delay_base = d.delay_base;
        base.delay_exp = d.delay_exp;
        base.offset = 0.0;
        base.servers = 1;
        base.falsetickers.clear();
        base.outages.clear();
        base.server_steps.clear();
        base.server_faults.clear();
        base.client_stamps = None;
        base.server_stamps = None;
        match self {
            Scenario::S1 => {}
            Scenario::S2 => {
                base.delay_base = 1e-2;
                base.delay_exp = 1e-3;
            }
            Scenario::S3 => base.offset = 0.1,
            Scenario::S4 => {
                base.servers = 3;
                base.falsetickers.push((3, 0.05));
            }
            Scenario::S5 => base.outages.push((10_000.0, 3600.0)),
        }
    }
}
