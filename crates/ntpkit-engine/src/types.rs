//! The engine's vocabulary: configuration in, actions out, events and status snapshots.

use crate::system_clock::{ClockLimits, SyncStatus};
use ntpkit_wire::packet::{Header, KissCode, Leap, RefId};
use ntpkit_wire::time::NtpTimestamp;
use std::net::IpAddr;

/// Identifies an association (a configured source). Numbered like ntpd's association IDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AssocId(pub u16);

/// What kind of time source an association is.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceKind {
    /// A unicast server polled in client mode (`server ADDR`).
    Server { addr: IpAddr },
    /// A symmetric-active peer (`peer ADDR`): sends mode 1 carrying our system variables,
    /// takes mode 1 and mode 2 packets from the peer as samples (RFC 5905 §8–9).
    Peer { addr: IpAddr },
    /// An ephemeral symmetric-passive association, mobilised by an authenticated mode 1
    /// packet from a host without a `peer` line (ntp.org's AM_NEWPASS): sends mode 2.
    PassivePeer { addr: IpAddr },
    /// The undisciplined local clock (127.127.1.0), `fudge … stratum N [refid X]`.
    LocalClock { stratum: u8, refid: RefId },
}

/// One association's configuration (`server … minpoll … maxpoll … iburst …`).
#[derive(Clone, Debug, PartialEq)]
pub struct SourceConfig {
    /// A server, a symmetric peer or the LOCAL clock driver, with its address.
    pub kind: SourceKind,
    /// Poll interval bounds, log2 seconds (`minpoll`/`maxpoll`).
    pub minpoll: i8,
    pub maxpoll: i8,
    /// Eight packets 2 s apart while unreachable (the rest only after a reply).
    pub iburst: bool,
    /// Eight packets 2 s apart at every poll while reachable.
    pub burst: bool,
    /// `prefer`: chosen as system peer when it survives selection.
    pub prefer: bool,
    /// Polled and shown, never selected.
    pub noselect: bool,
    /// NTP version to send.
    pub version: u8,
}

impl SourceConfig {
    /// A server with ntpd's defaults (minpoll 6, maxpoll 10, version 4).
    pub fn server(addr: IpAddr) -> Self {
        SourceConfig {
            kind: SourceKind::Server { addr },
            minpoll: 6,
            maxpoll: 10,
            iburst: false,
            burst: false,
            prefer: false,
            noselect: false,
            version: 4,
        }
    }

    /// A symmetric-active peer with ntpd's defaults (as [`SourceConfig::server`]).
    pub fn peer(addr: IpAddr) -> Self {
        SourceConfig {
            kind: SourceKind::Peer { addr },
            ..SourceConfig::server(addr)
        }
    }

    /// An ephemeral symmetric-passive association for `addr`, polling at the peer's
    /// poll `ppoll` at first (ntpd: minpoll = the packet's poll, maxpoll 17).
    pub fn passive_peer(addr: IpAddr, ppoll: i8) -> Self {
        SourceConfig {
            kind: SourceKind::PassivePeer { addr },
            ..SourceConfig::server(addr).with_polls(ppoll.clamp(3, 17), 17)
        }
    }

    /// Whether this is a symmetric association (`peer`, or a passive one).
    pub fn is_symmetric(&self) -> bool {
        matches!(
            self.kind,
            SourceKind::Peer { .. } | SourceKind::PassivePeer { .. }
        )
    }

    /// Whether this is an ephemeral symmetric-passive association.
    pub fn is_passive(&self) -> bool {
        matches!(self.kind, SourceKind::PassivePeer { .. })
    }

    /// The LOCAL driver, 127.127.1.0, with refid `LOCL`.
    pub fn local_clock(stratum: u8) -> Self {
        SourceConfig {
            kind: SourceKind::LocalClock {
                stratum,
                refid: RefId::from_ascii("LOCL"),
            },
            ..SourceConfig::server(IpAddr::from([127, 127, 1, 0]))
        }
    }

    /// The same source with `iburst`.
    pub fn with_iburst(mut self) -> Self {
        self.iburst = true;
        self
    }

    /// The same source with `minpoll`/`maxpoll` (maxpoll raised to minpoll if below).
    pub fn with_polls(mut self, minpoll: i8, maxpoll: i8) -> Self {
        self.minpoll = minpoll;
        self.maxpoll = maxpoll.max(minpoll);
        self
    }

    /// The address shown for this source (the LOCAL driver shows 127.127.1.0).
    pub fn addr(&self) -> IpAddr {
        match self.kind {
            SourceKind::Server { addr }
            | SourceKind::Peer { addr }
            | SourceKind::PassivePeer { addr } => addr,
            SourceKind::LocalClock { .. } => IpAddr::from([127, 127, 1, 0]),
        }
    }
}

/// When the clock may be stepped rather than slewed (ntpd's `tinker step/stepout/panic`,
/// `-g`, `-G`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepPolicy {
    /// Offsets beyond this are stepped (at start) instead of slewed; 0 disables stepping.
    pub step_threshold: f64,
    /// How long an offset beyond the threshold must persist before a step after start, s.
    pub stepout: f64,
    /// Beyond this offset the daemon gives up (0 disables the check).
    pub panic_threshold: f64,
    /// `-g`: the first correction may exceed the panic threshold.
    pub allow_first_panic: bool,
    /// `-G` (`--force-step-once`): the first correction is a step whatever its size (even
    /// below the step threshold, or with stepping disabled), as ntpd's `force_step_once`;
    /// later corrections follow the thresholds. The panic check still applies first.
    pub force_first_step: bool,
    /// Whether steps are allowed after the initial synchronisation. Even then a step never
    /// goes backwards: negative offsets are slewed.
    pub step_after_start: bool,
    /// `tinker stepback` / `tinker stepfwd`: the threshold for a step backwards / forwards
    /// (a positive offset steps forwards), over `step_threshold`; 0 never steps that way.
    pub step_back: Option<f64>,
    pub step_fwd: Option<f64>,
}

impl StepPolicy {
    /// The step threshold for a correction of `offset` s (0: never step that way).
    pub fn threshold_for(&self, offset: f64) -> f64 {
        let by_direction = if offset < 0.0 {
            self.step_back
        } else {
            self.step_fwd
        };
        by_direction.unwrap_or(self.step_threshold)
    }
}

impl Default for StepPolicy {
    fn default() -> Self {
        StepPolicy {
            step_threshold: 0.128,
            stepout: 300.0,
            panic_threshold: 1000.0,
            allow_first_panic: false,
            force_first_step: false,
            step_after_start: true,
            step_back: None,
            step_fwd: None,
        }
    }
}

/// System-wide configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    /// When to step rather than slew (`tinker step/stepout/panic`, `-g`).
    pub step: StepPolicy,
    /// Frequency restored from the drift file, ppm (None: unknown, learn it).
    pub initial_frequency_ppm: Option<f64>,
    /// Largest frequency correction (drift compensation), ppm: the kernel's 500.
    pub max_frequency_ppm: f64,
    /// Largest phase-slew rate in normal running, ppm, on top of the drift compensation.
    pub max_slew_ppm: f64,
    /// Largest phase-slew rate for the initial correction, ppm (chrony slews at up to
    /// 83333 ppm; Linux's tick adjustment allows 10 %). Lets a start-up offset below the
    /// step threshold be removed in seconds without stepping backwards.
    pub initial_slew_ppm: f64,
    /// log2 of the local clock precision (system variable `precision`).
    pub precision: i8,
    /// `tos orphan N` (16 disables orphan mode).
    pub orphan_stratum: u8,
    /// `tos orphanwait`, s.
    pub orphan_wait: f64,
    /// `tos minsane`: survivors needed to synchronise.
    pub min_sane: usize,
    /// `tos maxdist`: selection threshold on root distance, s.
    pub max_dist: f64,
    /// `tos mindist`: root distance floor in selection, s.
    pub min_dist: f64,
    /// `tos minclock`: clustering stops pruning at this many survivors.
    pub min_clock: usize,
    /// `tos floor` / `tos ceiling`: sources below floor or at/above ceiling are rejected.
    pub stratum_floor: u8,
    pub stratum_ceiling: u8,
    /// Assumed oscillator wander (random-walk frequency noise, fraction per √s); the
    /// estimator adapts from here.
    pub wander: f64,
    /// What the clock backend accepts ([`crate::system_clock::SystemClock::limits`]): every
    /// command is planned within it.
    pub clock_limits: ClockLimits,
    /// Seed for the poll-interval fuzz (deterministic).
    pub seed: u64,
    /// The `leapfile`, parsed ([`crate::leap::LeapTable::parse`]).
    pub leap_table: Option<crate::leap::LeapTable>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            step: StepPolicy::default(),
            initial_frequency_ppm: None,
            max_frequency_ppm: 500.0,
            max_slew_ppm: 500.0,
            initial_slew_ppm: 50_000.0,
            precision: -20,
            orphan_stratum: 16,
            orphan_wait: 300.0,
            min_sane: 1,
            max_dist: 1.5,
            min_dist: 0.001,
            min_clock: 3,
            stratum_floor: 1,
            stratum_ceiling: 16,
            wander: 1e-8,
            clock_limits: ClockLimits::LINUX,
            seed: 0x6e74_706b_6974,
            leap_table: None,
        }
    }
}

/// A command for the system clock (see [`crate::system_clock::SystemClock`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ClockCommand {
    /// Set the total frequency correction, ppm (drift compensation plus any phase slew in
    /// progress; the engine ends a slew with another `SetFrequency`).
    SetFrequency { ppm: f64 },
    /// Step the clock by `offset` seconds (positive = forward).
    Step { offset: f64 },
    /// Arm or disarm a leap second.
    SetLeap(Leap),
    /// Publish maxerror/esterror and the synchronised flag (clears STA_UNSYNC).
    SetSyncStatus(SyncStatus),
}

/// ntpd's system event codes (mode 6 system status word).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SystemEvent {
    FreqNotSet = 1,
    FreqSet = 2,
    SpikeDetect = 3,
    FreqMode = 4,
    ClockSync = 5,
    Restart = 6,
    PanicStop = 7,
    NoSysPeer = 8,
    LeapArmed = 9,
    LeapDisarmed = 10,
    LeapEvent = 11,
    ClockStep = 12,
}

/// ntpd's peer event codes (mode 6 peer status word).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PeerEvent {
    Mobilize = 1,
    Demobilize = 2,
    Unreachable = 3,
    Reachable = 4,
    Restart = 5,
    NoReply = 6,
    RateExceeded = 7,
    AccessDenied = 8,
    LeapArmed = 9,
    SysPeer = 10,
    ClockEvent = 11,
    BadAuth = 12,
    Popcorn = 13,
}

/// Something worth logging or counting.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EngineEvent {
    System(SystemEvent),
    Peer(AssocId, PeerEvent),
}

/// What the engine asks its driver to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Send this request to the association's address. Its transmit timestamp is the
    /// `now` of the call; the reply must echo it.
    Send {
        assoc: AssocId,
        packet: Header,
    },
    /// Adjust the system clock.
    Clock(ClockCommand),
    /// The association is finished (kiss code DENY/RSTR); drop its socket state.
    Demobilize {
        assoc: AssocId,
        reason: KissCode,
    },
    /// The offset exceeded the panic threshold: ntpd logs and exits.
    Panic {
        offset: f64,
    },
    Event(EngineEvent),
}

/// The mode 6 select code of a peer (`sel_*`, tally character): the selection's outcome.
pub use super::select::Outcome as SelectCode;

/// Per-association status for `ntpq` peer variables (REFERENCE.md §3.3). Times in seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerStatus {
    /// The association.
    pub id: AssocId,
    /// Its configuration.
    pub config: SourceConfig,
    /// The server's header as last received: leap, stratum, precision (log2 s), root
    /// delay and dispersion (s), refid, reference time.
    pub leap: Leap,
    pub stratum: u8,
    pub precision: i8,
    pub root_delay: f64,
    pub root_dispersion: f64,
    pub refid: RefId,
    pub reftime: NtpTimestamp,
    /// Local time of the last reply (`rec`).
    pub rec: NtpTimestamp,
    /// Our last transmit timestamp (`xmt`), the server's receive/transmit (`org` echo).
    pub xmt: NtpTimestamp,
    /// Reachability register: one bit per poll, newest lowest.
    pub reach: u8,
    /// Polls since the last reply.
    pub unreach: u32,
    /// Our mode and the peer's (`hmode`, `pmode`), poll exponents (`hpoll`, `ppoll`).
    pub hmode: u8,
    pub pmode: u8,
    pub hpoll: i8,
    pub ppoll: i8,
    /// Packet tests that failed on the last reply (`FLASH_*` bits).
    pub flash: u16,
    /// The clock filter's offset, delay, dispersion and jitter, s.
    pub offset: f64,
    pub delay: f64,
    pub dispersion: f64,
    pub jitter: f64,
    /// Clock filter stages, newest first: (offset, delay, dispersion), s.
    pub filter: Vec<(f64, f64, f64)>,
    /// What selection made of it (the tally character).
    pub select: SelectCode,
    /// Peer event counter and last event (status word).
    pub event_count: u8,
    pub last_event: u8,
    /// Packets sent to and received from it.
    pub sent: u64,
    pub received: u64,
    /// Root distance used by selection, s.
    pub root_distance: f64,
    /// The estimator's own standard uncertainty of this source's offset now (√ of its
    /// offset variance, s); None until it has samples.
    pub uncertainty: Option<f64>,
    /// The jitter asymmetry its samples are corrected by now: the offset error per unit
    /// of excess delay, −0.5 (all the excess on the reply leg) … +0.5 (all on the
    /// request leg); 0 while the correction is off (too few samples, nothing significant
    /// yet). Mode 6's peer variable `asym`.
    pub asymmetry: f64,
}

/// System variables for `ntpq -c rv` (REFERENCE.md §3.2). Times in seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct SystemStatus {
    /// Leap indicator, stratum, precision (log2 s), root delay and dispersion (s), refid
    /// and reference time, as this server would send them.
    pub leap: Leap,
    pub stratum: u8,
    pub precision: i8,
    pub root_delay: f64,
    pub root_dispersion: f64,
    pub refid: RefId,
    pub reftime: NtpTimestamp,
    /// The system peer, if any.
    pub peer: Option<AssocId>,
    /// Current poll exponent (`tc`) and configured minimum (`mintc`).
    pub tc: i8,
    pub mintc: i8,
    /// Last combined offset, s.
    pub offset: f64,
    /// Frequency correction, ppm (what the drift file stores).
    pub frequency_ppm: f64,
    /// Selection jitter and the clock's own jitter, s.
    pub sys_jitter: f64,
    pub clk_jitter: f64,
    /// ppm
    pub clk_wander: f64,
    /// Sync source class for the status word: 6 NTP, 5 local clock, 0 none.
    pub sync_source: u8,
    /// System event counter and last event (status word).
    pub event_count: u8,
    pub last_event: u8,
    /// Whether the clock is synchronised (leap != 3).
    pub synchronized: bool,
    /// Steps made so far.
    pub steps: u32,
    /// Whether the engine is in orphan mode.
    pub orphan: bool,
    /// TAI − UTC from the leapfile (`tai`), the last leap in it and its expiry, NTP
    /// seconds (`leapsec`, `expire`); None without a leapfile.
    pub tai: Option<i32>,
    pub leapsec: Option<i64>,
    pub expire: Option<i64>,
}

impl SystemStatus {
    /// The 16-bit mode 6 system status word.
    pub fn status_word(&self) -> u16 {
        ((self.leap.bits() as u16) << 14)
            | ((self.sync_source as u16 & 0x3f) << 8)
            | ((self.event_count.min(15) as u16) << 4)
            | (self.last_event as u16 & 0xf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stepback_and_stepfwd_override_the_step_threshold_by_direction() {
        let p = StepPolicy {
            step_back: Some(0.0),
            step_fwd: Some(2.0),
            ..StepPolicy::default()
        };
        assert_eq!(p.threshold_for(-5.0), 0.0);
        assert_eq!(p.threshold_for(5.0), 2.0);
        let p = StepPolicy::default();
        assert_eq!(p.threshold_for(-5.0), 0.128);
        assert_eq!(p.threshold_for(5.0), 0.128);
    }
}

/// The four timestamps of one client/server exchange (RFC 5905 T1–T4), when the caller has
/// better ones than the header and the poll: kernel transmit times, or an interleaved
/// exchange's (RFC 9769), which completes one poll later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exchange {
    pub t1: NtpTimestamp,
    pub t2: NtpTimestamp,
    pub t3: NtpTimestamp,
    pub t4: NtpTimestamp,
}

/// Where a source's timestamps are taken: the kind decides how much error each one
/// carries, and so the floor under the estimator's measurement noise for its samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timestamps {
    /// Read by the daemon around `sendmsg`/`recvmsg`: scheduling jitter of several µs,
    /// and a transmit time read before the packet is on its way.
    User,
    /// The kernel's software timestamps (SO_TIMESTAMPING): about a microsecond.
    Kernel,
    /// The NIC's clock: tens of nanoseconds.
    Hardware,
}

impl Timestamps {
    /// The measurement-noise floor for a sample with these timestamps, s: the error that
    /// its delay cannot show (the jitter that can, the delay model weighs already; a floor
    /// as large as user-space jitter was measured in ntpsim to make the estimate worse).
    pub fn error_sd(self) -> f64 {
        match self {
            Timestamps::User => 1e-6,
            Timestamps::Kernel => 300e-9,
            Timestamps::Hardware => 30e-9,
        }
    }
}
