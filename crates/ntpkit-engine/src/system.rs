//! The engine proper: associations, the system process (selection, system peer, system
//! variables, orphan mode) and the discipline, behind the event/action API.

use super::discipline::{Combined, Decision, Discipline, Phase};
use super::estimator::{Estimator, Measurement};
use super::filter::{FilterOutcome, Sample, Start};
use super::leap;
use super::peer::{Association, ReplyOutcome, PHI};
use super::select::{self, Candidate, SelectParams};
use super::types::*;
use crate::system_clock::SyncStatus;
use ntpkit_wire::packet::{Header, KissCode, Leap, RefId};
use ntpkit_wire::time::{NtpDuration, NtpShort, NtpTimestamp, UnixTime};
use std::net::IpAddr;

/// Before the first clock update, wait this long for every server to answer, so that an
/// early falseticker cannot win by being first.
const FIRST_UPDATE_WAIT: f64 = 8.0;
/// Adaptive poll: the wander may build up this share of one sample's noise variance
/// within one poll interval.
const POLL_NOISE_SHARE: f64 = 3.0;
/// Updates at a poll before it may go up one step.
const POLL_SETTLE_UPDATES: u32 = 4;
/// Samples a source needs before its estimates steer the poll.
const POLL_MIN_SAMPLES: u64 = 8;
/// Timers due within this are handled now (clock readings are rounded).
const TIMER_SLACK: f64 = 1e-6;
/// Resolves NTP eras: timestamps within ±68 years of this are placed correctly.
const ERA_PIVOT: UnixTime = UnixTime {
    secs: 1_780_000_000,
    nanos: 0,
};

/// splitmix64: tiny, deterministic, good enough for poll fuzz.
#[derive(Clone, Debug)]
struct Fuzz(u64);

impl Fuzz {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What the selection made of the sources: indices into the association list.
struct Chosen {
    peer_index: usize,
    /// Candidates and the system peer after clustering.
    survivors: Vec<usize>,
    /// The selection jitter (becomes `sys_jitter`).
    jitter: f64,
}

/// The clock-discipline engine. See the module documentation of [`crate`].
#[derive(Clone, Debug)]
pub struct Engine {
    config: EngineConfig,
    epoch: NtpTimestamp,
    assocs: Vec<Association>,
    next_id: u16,
    discipline: Discipline,
    fuzz: Fuzz,
    started: bool,
    sys_peer: Option<AssocId>,
    leap: Leap,
    stratum: u8,
    refid: RefId,
    reftime: NtpTimestamp,
    root_delay: f64,
    root_dispersion: f64,
    sys_jitter: f64,
    sys_offset: f64,
    poll: i8,
    sync_source: u8,
    event_count: u8,
    last_event: u8,
    /// Engine time of the last system-peer update (or of start).
    last_sync: f64,
    orphan: bool,
    commanded_leap: Leap,
    /// Engine time the first source was added (the start-up wait counts from there).
    first_source_at: f64,
    /// The system peer's leap indicator.
    source_leap: Leap,
    /// Engine time of the latest event handled.
    last_now: f64,
    /// Clock updates since the system poll last changed.
    updates_at_poll: u32,
    /// The start-up wait is over and the selection has run once after it (a source that
    /// answers but is unsynchronised, like a peer starting with us, brings no sample
    /// that would run it).
    start_wait_done: bool,
}

impl Engine {
    /// A new engine; `now` is the current clock reading.
    pub fn new(config: EngineConfig, now: NtpTimestamp) -> Engine {
        let initial = config.initial_frequency_ppm.unwrap_or(0.0);
        let discipline =
            Discipline::new(0.0, initial, config.max_frequency_ppm, config.clock_limits);
        Engine {
            fuzz: Fuzz(config.seed),
            epoch: now,
            assocs: Vec::new(),
            next_id: 1,
            discipline,
            started: false,
            sys_peer: None,
            leap: Leap::Unsync,
            stratum: 16,
            refid: RefId::from_ascii("INIT"),
            reftime: NtpTimestamp::ZERO,
            root_delay: 0.0,
            root_dispersion: 0.0,
            sys_jitter: 0.0,
            sys_offset: 0.0,
            poll: 6,
            sync_source: 0,
            event_count: 0,
            last_event: 0,
            last_sync: 0.0,
            orphan: false,
            commanded_leap: Leap::NoWarning,
            first_source_at: 0.0,
            source_leap: Leap::NoWarning,
            last_now: 0.0,
            updates_at_poll: 0,
            start_wait_done: false,
            config,
        }
    }

    /// Engine time (seconds since start, free of steps) of a clock reading.
    fn time(&self, ts: NtpTimestamp) -> f64 {
        (ts - self.epoch).to_seconds() - self.discipline.stepped
    }

    /// Clock reading at an engine time.
    fn timestamp(&self, t: f64) -> NtpTimestamp {
        self.epoch + NtpDuration::from_seconds(t + self.discipline.stepped)
    }

    /// Add a source; it is polled from the next timer on.
    pub fn add_source(&mut self, source: SourceConfig, now: NtpTimestamp) -> AssocId {
        let id = AssocId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let t = self.time(now);
        let estimator = Estimator::for_source(&self.config, self.discipline.base_ppm);
        let mut a = Association::new(id, source, t, estimator);
        // The system poll starts at the smallest minpoll (each association clamps it to
        // its own bounds).
        if self.assocs.is_empty() {
            self.first_source_at = t;
        }
        self.poll = if self.assocs.is_empty() {
            a.config.minpoll
        } else {
            self.poll.min(a.config.minpoll)
        };
        a.set_poll(self.poll);
        a.note_event(PeerEvent::Mobilize);
        self.assocs.push(a);
        id
    }

    /// The address this host reaches association `id`'s source from (the daemon finds it
    /// from the routing table). A source whose refid is that address is synchronised to
    /// us and is never selected (ntpd's loop test, TEST12).
    /// The kind of timestamps `assoc`'s samples carry: its estimator's measurement-noise
    /// floor becomes their error (never below the system precision). Without a call the
    /// floor is the precision alone.
    pub fn set_timestamps(&mut self, assoc: AssocId, kind: super::Timestamps) {
        if let Some(a) = self.assocs.iter_mut().find(|a| a.id == assoc) {
            a.estimator.set_noise_floor(kind.error_sd());
        }
    }

    pub fn set_local_address(&mut self, id: AssocId, local: IpAddr) {
        if let Some(a) = self.assocs.iter_mut().find(|a| a.id == id) {
            a.our_refid = Some(RefId::from_addr(local));
        }
    }

    /// Our system variables as a symmetric-mode packet carries them (the same a server
    /// reply would: unsynchronised is leap 3 and stratum 0 on the wire; the root
    /// dispersion grows at PHI since the last update).
    fn system_header(&self, t: f64) -> Header {
        let synchronized = self.leap != Leap::Unsync;
        let mut h = Header::client_request(4, self.poll, NtpTimestamp::ZERO);
        h.precision = self.config.precision;
        h.reference_id = self.refid;
        if synchronized {
            h.leap = self.leap;
            h.stratum = self.stratum.clamp(1, 15);
            h.root_delay = NtpShort::from_seconds(self.root_delay);
            let age = (t - self.last_sync).max(0.0);
            h.root_dispersion = NtpShort::from_seconds(self.root_dispersion + PHI * age);
            h.reference_ts = self.reftime;
        }
        h
    }

    /// Our stratum as our symmetric packets carry it, 16 when unsynchronised.
    fn wire_stratum(&self) -> u8 {
        if self.leap != Leap::Unsync {
            self.stratum.clamp(1, 15)
        } else {
            16
        }
    }

    /// Remove a source (`unpeer`). Returns whether it existed.
    pub fn remove_source(&mut self, id: AssocId) -> bool {
        let before = self.assocs.len();
        self.assocs.retain(|a| a.id != id);
        if self.sys_peer == Some(id) {
            self.sys_peer = None;
        }
        before != self.assocs.len()
    }

    /// The associations, in the order they were added.
    pub fn associations(&self) -> Vec<AssocId> {
        self.assocs.iter().map(|a| a.id).collect()
    }

    /// When the engine next needs [`Engine::handle_timer`], as a clock reading.
    pub fn next_wakeup(&self) -> NtpTimestamp {
        let mut t = f64::INFINITY;
        if !self.started {
            t = self.time(self.epoch);
        }
        for a in self.assocs.iter().filter(|a| !a.demobilized) {
            t = t.min(a.next_poll);
        }
        if let Some(end) = self.discipline.slew_end {
            t = t.min(end);
        }
        if !self.start_wait_done && !self.assocs.is_empty() {
            t = t.min(self.first_source_at + FIRST_UPDATE_WAIT);
        }
        if self.config.orphan_stratum < 16 && !self.orphan {
            t = t.min(self.last_sync + self.config.orphan_wait);
        }
        if let Some(end) = self.holdover_end() {
            t = t.min(end);
        }
        if !t.is_finite() {
            t = self.last_now + 3600.0;
        }
        self.timestamp(t)
    }

    fn system_event(&mut self, e: SystemEvent, actions: &mut Vec<Action>) {
        self.event_count = self.event_count.saturating_add(1).min(15);
        self.last_event = e as u8;
        actions.push(Action::Event(EngineEvent::System(e)));
    }

    /// A timer expired (at or after [`Engine::next_wakeup`]): send due polls, finish slews.
    pub fn handle_timer(&mut self, now: NtpTimestamp) -> Vec<Action> {
        let t = self.time(now);
        self.last_now = self.last_now.max(t);
        let mut actions = Vec::new();
        if !self.started {
            self.started = true;
            match self.config.initial_frequency_ppm {
                Some(_) => {
                    actions.push(Action::Clock(self.discipline.initial_command()));
                    self.system_event(SystemEvent::FreqSet, &mut actions);
                }
                None => self.system_event(SystemEvent::FreqNotSet, &mut actions),
            }
        }
        for c in self.discipline.timer(t) {
            actions.push(Action::Clock(c));
        }
        let steps = self.discipline.steps;
        let system = self.system_header(t);
        let our_stratum = self.wire_stratum();
        let mut local_samples = Vec::new();
        for i in 0..self.assocs.len() {
            let a = &mut self.assocs[i];
            if a.demobilized || a.next_poll > t + TIMER_SLACK {
                continue;
            }
            let fuzz = self.fuzz.next();
            let was_reachable = a.reach != 0;
            let mut packet = a.poll(t, now, steps, fuzz);
            if a.speaks_symmetric() {
                packet = a.symmetric_packet(packet, &system);
                a.symmetric_schedule(t, our_stratum, true);
            }
            if was_reachable && a.reach == 0 {
                a.note_event(PeerEvent::Unreachable);
                actions.push(Action::Event(EngineEvent::Peer(
                    a.id,
                    PeerEvent::Unreachable,
                )));
            }
            if a.is_local_clock() {
                local_samples.push(i);
            } else {
                actions.push(Action::Send {
                    assoc: a.id,
                    packet,
                });
            }
        }
        for i in local_samples {
            self.local_clock_sample(i, t, now);
        }
        if !local_samples_empty_or_updated(&self.assocs) {
            self.system_update(t, &mut actions);
        }
        if !self.start_wait_done
            && !self.assocs.is_empty()
            && t + TIMER_SLACK >= self.first_source_at + FIRST_UPDATE_WAIT
        {
            self.start_wait_done = true;
            if self.discipline.phase == Phase::Start
                && self.assocs.iter().any(|a| a.filter.has_data())
            {
                self.system_update(t, &mut actions);
            }
        }
        self.check_sys_peer(t, &mut actions);
        self.check_orphan(t, &mut actions);
        self.check_holdover(t, &mut actions);
        self.update_leap(t, &mut actions);
        self.finish(actions)
    }

    /// In observe-only mode no clock command goes out.
    fn finish(&self, mut actions: Vec<Action>) -> Vec<Action> {
        if self.discipline.is_observe_only() {
            actions.retain(|a| !matches!(a, Action::Clock(_)));
        }
        actions
    }

    /// The LOCAL driver "replies" at once: the local clock agrees with itself.
    fn local_clock_sample(&mut self, i: usize, t: f64, now: NtpTimestamp) {
        let correction = self.discipline.log.at(t);
        let precision = 2f64.powi(self.config.precision as i32);
        let a = &mut self.assocs[i];
        a.reach |= 1;
        a.unreach = 0;
        a.received += 1;
        a.leap = Leap::NoWarning;
        a.rec = now;
        a.reftime = now;
        a.precision = self.config.precision;
        let sample = Sample {
            offset: 0.0,
            delay: precision,
            dispersion: precision,
            at: t,
        };
        let poll = a.poll_interval();
        a.filter.add(sample, t, poll);
        a.last_sample_time = t;
        a.estimate(Measurement {
            time: t,
            raw_offset: correction,
            delay: 0.0,
        });
        a.pending_local_update = true;
    }

    /// A reply arrived for `assoc`; `received` is the local clock when it arrived (T4).
    pub fn handle_packet(
        &mut self,
        assoc: AssocId,
        reply: &Header,
        received: NtpTimestamp,
    ) -> Vec<Action> {
        self.handle_packet_exchange(assoc, reply, received, None)
    }

    /// [`Engine::handle_packet`] with the sample's four timestamps supplied by the caller:
    /// the daemon knows better ones than the header and our own poll (the kernel's transmit
    /// time of the request; in interleaved mode, the previous exchange). The header still
    /// decides whether the packet answers the latest poll.
    pub fn handle_packet_exchange(
        &mut self,
        assoc: AssocId,
        reply: &Header,
        received: NtpTimestamp,
        exchange: Option<Exchange>,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        let t = self.time(received);
        self.last_now = self.last_now.max(t);
        let steps = self.discipline.steps;
        let precision = self.config.precision;
        let Some(i) = self.assocs.iter().position(|a| a.id == assoc) else {
            return actions;
        };
        if self.assocs[i].demobilized || self.assocs[i].is_local_clock() {
            return actions;
        }
        let was_reachable = self.assocs[i].reach != 0;
        let outcome = self.assocs[i].receive(reply, received, t, steps, precision, exchange);
        if !was_reachable && self.assocs[i].reach != 0 {
            actions.push(Action::Event(EngineEvent::Peer(
                assoc,
                PeerEvent::Reachable,
            )));
        }
        // a symmetric peer's packet answered our latest: it says when our next goes out
        let answered = matches!(
            outcome,
            ReplyOutcome::Sample { .. } | ReplyOutcome::NoSample
        );
        match outcome {
            ReplyOutcome::Dropped => {}
            ReplyOutcome::NoSample => self.check_sys_peer(t, &mut actions),
            ReplyOutcome::Kiss(KissCode::Rate) => {
                self.assocs[i].rate_limited(reply.poll);
                actions.push(Action::Event(EngineEvent::Peer(
                    assoc,
                    PeerEvent::RateExceeded,
                )));
            }
            ReplyOutcome::Kiss(code) if code.demobilizes() => {
                let a = &mut self.assocs[i];
                a.demobilized = true;
                a.reach = 0;
                // shown as ntpd shows a kissed association: the code as refid, stratum 16
                a.refid = reply.reference_id;
                a.stratum = 16;
                a.select = SelectCode::Reject;
                a.note_event(PeerEvent::AccessDenied);
                actions.push(Action::Event(EngineEvent::Peer(
                    assoc,
                    PeerEvent::AccessDenied,
                )));
                actions.push(Action::Demobilize {
                    assoc,
                    reason: code,
                });
                if self.sys_peer == Some(assoc) {
                    self.sys_peer = None;
                    self.system_event(SystemEvent::NoSysPeer, &mut actions);
                }
            }
            ReplyOutcome::Kiss(_) => {}
            ReplyOutcome::Sample {
                offset,
                delay,
                time,
                filter,
            } => {
                let raw_offset = offset + self.discipline.log.at(time);
                self.assocs[i].estimate(Measurement {
                    time,
                    raw_offset,
                    delay,
                });
                if filter == FilterOutcome::Popcorn {
                    self.assocs[i].note_event(PeerEvent::Popcorn);
                    actions.push(Action::Event(EngineEvent::Peer(assoc, PeerEvent::Popcorn)));
                }
                self.system_update(t, &mut actions);
            }
        }
        if answered {
            let ours = self.wire_stratum();
            if let Some(a) = self.assocs.iter_mut().find(|a| a.id == assoc) {
                a.symmetric_schedule(t, ours, false);
            }
        }
        self.finish(actions)
    }

    /// Selection, system peer, system variables and the clock update.
    fn system_update(&mut self, t: f64, actions: &mut Vec<Action>) {
        for a in &mut self.assocs {
            a.pending_local_update = false;
        }
        if self.waiting_for_first_samples(t) {
            return;
        }
        let Some(chosen) = self.select_sources(t, actions) else {
            return;
        };
        let (combined, peer_index) = self.combine_agreeing(t, &chosen.survivors, chosen.peer_index);
        let first = self.discipline.phase == Phase::Start;
        if !self.discipline_clock(t, combined, actions) {
            return;
        }
        self.adopt_system_peer(peer_index, &chosen.survivors, actions);
        self.update_system_variables(t, peer_index, chosen.jitter, first, actions);
    }

    /// At start-up, wait (up to [`FIRST_UPDATE_WAIT`]) until every selectable source has a
    /// sample, so that the first update sees them all.
    fn waiting_for_first_samples(&self, t: f64) -> bool {
        self.discipline.phase == Phase::Start
            && t < self.first_source_at + FIRST_UPDATE_WAIT
            && self
                .assocs
                .iter()
                .any(|a| !a.demobilized && !a.config.noselect && !a.filter.has_data())
    }

    /// Run the selection over the sources whose estimators are ready and record each
    /// one's outcome (everyone else is rejected). `None` when there is no system peer
    /// (losing the previous one is an event).
    fn select_sources(&mut self, t: f64, actions: &mut Vec<Action>) -> Option<Chosen> {
        let system_precision = 2f64.powi(self.config.precision as i32);
        let mut idx = Vec::new();
        for (i, a) in self.assocs.iter_mut().enumerate() {
            a.select = SelectCode::Reject;
            if !a.demobilized && !a.config.noselect && a.estimator.is_ready() {
                idx.push(i);
            }
        }
        let candidates: Vec<Candidate> = idx
            .iter()
            .map(|&i| self.assocs[i].candidate(t, system_precision))
            .collect();
        let params = SelectParams {
            maxdist: self.config.max_dist,
            mindist: self.config.min_dist,
            minclock: self.config.min_clock.max(1),
            floor: self.config.stratum_floor,
            ceiling: self.config.stratum_ceiling,
            minsane: self.config.min_sane.max(1),
            system_precision,
            ..SelectParams::default()
        };
        let previous = idx
            .iter()
            .position(|&i| Some(self.assocs[i].id) == self.sys_peer);
        let selection = select::select(&candidates, &params, previous);
        for (k, &i) in idx.iter().enumerate() {
            self.assocs[i].select = selection.outcomes[k];
        }
        let Some(peer_k) = selection.sys_peer else {
            if self.sys_peer.take().is_some() {
                self.system_event(SystemEvent::NoSysPeer, actions);
            }
            return None;
        };
        let survivors: Vec<usize> = selection
            .survivors
            .iter()
            .filter(|&&k| {
                matches!(
                    selection.outcomes[k],
                    select::Outcome::Candidate | select::Outcome::SysPeer
                )
            })
            .map(|&k| idx[k])
            .collect();
        Some(Chosen {
            peer_index: idx[peer_k],
            survivors,
            jitter: selection.jitter,
        })
    }

    /// Combine the estimators of the survivors of the system peer's kind that agree with
    /// the largest group; returns the combined estimate and the system peer (handed over
    /// to the group's anchor if it disagrees).
    fn combine_agreeing(
        &mut self,
        t: f64,
        survivors: &[usize],
        mut peer_index: usize,
    ) -> (Combined, usize) {
        let peer_is_local = self.assocs[peer_index].is_local_clock();
        // Combine the estimators of the survivors of the system peer's kind that agree
        // with the largest group. The selection's intervals grow with the clock filter's
        // age (PHI per second, ms at long polls), so a source tens of ms off, or one that
        // just stepped, can survive it; the estimators know each offset far better: two
        // sources agree if their intervals (estimate ± half the minimum delay ± 4σ) meet.
        // The group is the one around the source most others agree with (the system peer
        // on a tie), so one bad source never drags the rest along, even as system peer.
        let kind: Vec<usize> = survivors
            .iter()
            .copied()
            .filter(|&i| self.assocs[i].is_local_clock() == peer_is_local)
            .collect();
        let interval = |i: usize| {
            let e = self.assocs[i].estimator.estimate_at(t);
            (
                e.offset,
                e.offset_var,
                self.assocs[i].estimator.min_delay() / 2.0,
            )
        };
        let agree = |i: usize, j: usize| {
            let (xi, vi, di) = interval(i);
            let (xj, vj, dj) = interval(j);
            (xi - xj).abs() <= 4.0 * (vi + vj).sqrt() + di + dj
        };
        let support = |i: usize| kind.iter().filter(|&&j| agree(i, j)).count();
        let anchor = kind
            .iter()
            .copied()
            .max_by_key(|&i| (support(i), i == peer_index))
            .unwrap_or(peer_index);
        // Those that disagree are shown as ntpd's cluster algorithm shows its discards
        // ('-'); a system peer that disagrees (it just stepped, say) hands over to the
        // group's anchor.
        let discarded: Vec<usize> = kind
            .iter()
            .copied()
            .filter(|&i| !agree(i, anchor))
            .collect();
        if discarded.contains(&peer_index) {
            peer_index = anchor;
        }
        let mut w_sum = 0.0;
        let (mut x_sum, mut y_sum, mut wy_sum) = (0.0, 0.0, 0.0);
        for &i in &kind {
            if discarded.contains(&i) {
                continue;
            }
            let a = &self.assocs[i];
            let e = a.estimator.estimate_at(t);
            let w = 1.0 / e.offset_var.max(1e-18);
            let wy = 1.0 / e.frequency_var.max(1e-24);
            w_sum += w;
            x_sum += w * e.offset;
            y_sum += wy * e.frequency;
            wy_sum += wy;
        }
        for &i in &discarded {
            self.assocs[i].select = SelectCode::Outlier;
        }
        let combined = Combined {
            raw_offset: x_sum / w_sum,
            frequency: y_sum / wy_sum,
            offset_var: 1.0 / w_sum,
        };
        (combined, peer_index)
    }

    /// Hand the combined estimate to the discipline and carry out its decision. Returns
    /// `false` when the update ends here (a panic or a spike).
    fn discipline_clock(&mut self, t: f64, combined: Combined, actions: &mut Vec<Action>) -> bool {
        let decision = self.discipline.update(
            t,
            combined,
            &self.config.step,
            self.config.max_slew_ppm,
            self.config.initial_slew_ppm,
        );
        let stepped = match decision {
            Decision::Panic(offset) => {
                self.system_event(SystemEvent::PanicStop, actions);
                actions.push(Action::Panic { offset });
                return false;
            }
            Decision::Spike => {
                self.system_event(SystemEvent::SpikeDetect, actions);
                return false;
            }
            Decision::Adjust(commands) => {
                let mut stepped = false;
                for c in commands {
                    stepped |= matches!(c, ClockCommand::Step { .. });
                    actions.push(Action::Clock(c));
                }
                stepped
            }
        };
        if stepped {
            for a in &mut self.assocs {
                a.filter.reset(Start::OneShot);
            }
            self.system_event(SystemEvent::ClockStep, actions);
        }
        true
    }

    /// Mark the system peer and announce a change of system peer.
    fn adopt_system_peer(
        &mut self,
        peer_index: usize,
        survivors: &[usize],
        actions: &mut Vec<Action>,
    ) {
        let peer_id = self.assocs[peer_index].id;
        for &i in survivors {
            if i == peer_index {
                self.assocs[i].select = SelectCode::SysPeer;
            }
        }
        if self.sys_peer != Some(peer_id) {
            self.sys_peer = Some(peer_id);
            self.assocs[peer_index].note_event(PeerEvent::SysPeer);
            actions.push(Action::Event(EngineEvent::Peer(
                peer_id,
                PeerEvent::SysPeer,
            )));
        }
    }

    /// The system variables follow the system peer (stratum, refid, root distance); then
    /// the kernel's sync status, the leap second and the poll interval.
    fn update_system_variables(
        &mut self,
        t: f64,
        peer_index: usize,
        selection_jitter: f64,
        first: bool,
        actions: &mut Vec<Action>,
    ) {
        let p = &self.assocs[peer_index];
        self.source_leap = p.leap;
        self.leap = Leap::NoWarning;
        self.stratum = (p.stratum.saturating_add(1)).min(16);
        self.refid = match &p.config.kind {
            SourceKind::LocalClock { refid, .. } if p.stratum == 0 => *refid,
            _ => RefId::from_addr(p.config.addr()),
        };
        self.reftime = self.timestamp(t);
        self.root_delay = p.root_delay + p.filter.delay();
        self.sys_offset = self.discipline.last_offset;
        self.sys_jitter = selection_jitter;
        self.root_dispersion = p.root_dispersion
            + p.filter.dispersion()
            + self.sys_jitter
            + PHI * (t - p.last_sample_time).max(0.0)
            + self.sys_offset.abs();
        self.sync_source = if p.is_local_clock() { 5 } else { 6 };
        self.last_sync = t;
        if self.orphan {
            self.orphan = false;
        }
        if first {
            self.system_event(SystemEvent::ClockSync, actions);
        }
        actions.push(Action::Clock(ClockCommand::SetSyncStatus(SyncStatus {
            max_error: self.root_delay / 2.0 + self.root_dispersion,
            est_error: self.sys_jitter,
            synchronized: true,
        })));
        self.update_leap(t, actions);
        self.update_poll();
    }

    /// The leap second ahead, if any: from the leapfile, else from the sources' LI bits
    /// (read as "at the end of this month", as ntpd does). Returns (when, direction).
    fn scheduled_leap(&self, t: f64) -> Option<(i64, Leap)> {
        let now = leap::ntp_seconds(self.timestamp(t).to_unix(ERA_PIVOT).secs);
        if let Some(table) = &self.config.leap_table {
            if !table.is_expired(now) {
                return table.next_leap(now);
            }
        }
        match self.source_leap {
            Leap::Insert | Leap::Delete => Some((leap::end_of_month(now), self.source_leap)),
            _ => None,
        }
    }

    /// Announce a coming leap in our LI bits for the last four weeks; arm the kernel only
    /// on the last day (it acts at the next UTC midnight).
    fn update_leap(&mut self, t: f64, actions: &mut Vec<Action>) {
        if self.sys_peer.is_none() && !self.orphan {
            return;
        }
        let now = leap::ntp_seconds(self.timestamp(t).to_unix(ERA_PIVOT).secs);
        let (announce, arm) = match self.scheduled_leap(t) {
            Some((when, dir)) if when > now => (
                if when - now <= leap::ANNOUNCE_BEFORE {
                    dir
                } else {
                    Leap::NoWarning
                },
                if when - now <= leap::ARM_BEFORE {
                    dir
                } else {
                    Leap::NoWarning
                },
            ),
            _ => (Leap::NoWarning, Leap::NoWarning),
        };
        self.leap = announce;
        if arm != self.commanded_leap {
            self.commanded_leap = arm;
            actions.push(Action::Clock(ClockCommand::SetLeap(arm)));
            let e = if arm == Leap::NoWarning {
                SystemEvent::LeapDisarmed
            } else {
                SystemEvent::LeapArmed
            };
            self.system_event(e, actions);
        }
    }

    /// Poll policy (adaptive, as chronyd's): from the system peer's estimator, the
    /// longest interval over which the oscillator's wander (`q·τ³/3`, the offset a random-
    /// walk frequency builds up unseen) stays below a fixed share of one sample's noise.
    /// A predictable clock on a noisy path polls rarely, a wandering clock on a quiet
    /// path often. One step at a time: up after [`POLL_SETTLE_UPDATES`] updates at the
    /// current poll, down at once; back to minpoll when a source restarts (it moved).
    fn update_poll(&mut self) {
        let Some(id) = self.sys_peer else { return };
        let Some(a) = self.assocs.iter().find(|a| a.id == id) else {
            return;
        };
        let lo = self.assocs.iter().map(|a| a.minpoll).min().unwrap_or(6);
        let hi = self
            .assocs
            .iter()
            .map(|a| a.config.maxpoll.max(a.minpoll))
            .max()
            .unwrap_or(10);
        let e = &a.estimator;
        // The longest poll whose interval (rounded: judged at 2^(p−½)) keeps what the
        // estimate cannot know ahead — the wander, q·τ³/3, and the frequency's own
        // uncertainty, P11·τ² — within a share of one sample's noise.
        let wish = if a.is_local_clock() || e.samples() < POLL_MIN_SAMPLES {
            lo
        } else {
            let est = e.estimate_at(e.time());
            let budget = POLL_NOISE_SHARE * e.noise_var();
            let fits = |p: i8| {
                let tau = 2f64.powf(p as f64 - 0.5);
                e.wander_var_cautious() * tau * tau * tau / 3.0 + est.frequency_var * tau * tau
                    <= budget
            };
            (lo..=hi).rev().find(|&p| fits(p)).unwrap_or(lo)
        };
        let mut poll = self.poll;
        self.updates_at_poll = self.updates_at_poll.saturating_add(1);
        if a.restarted {
            poll = lo;
        } else if wish < poll {
            poll -= 1;
        } else if wish > poll && self.updates_at_poll >= POLL_SETTLE_UPDATES {
            poll += 1;
        }
        let poll = poll.clamp(lo, hi);
        if poll != self.poll {
            self.poll = poll;
            self.updates_at_poll = 0;
        }
        for a in &mut self.assocs {
            a.restarted = false;
            a.set_poll(poll);
        }
    }

    /// The system error bound at engine time `t`: root delay/2 + root dispersion, the
    /// dispersion growing at PHI since the last clock update (RFC 5905's root distance of
    /// the system, the bound ntpstat and the kernel's maxerror report).
    pub(crate) fn error_bound(&self, t: f64) -> f64 {
        self.root_delay / 2.0 + self.root_dispersion + PHI * (t - self.last_sync).max(0.0)
    }

    /// In holdover (synchronised, no system peer, not orphan): the engine time at which the
    /// error bound reaches `maxdist` and the clock turns unsynchronised.
    fn holdover_end(&self) -> Option<f64> {
        if self.sys_peer.is_some() || self.orphan || self.leap == Leap::Unsync {
            return None;
        }
        let margin = self.config.max_dist - self.error_bound(self.last_sync);
        Some(self.last_sync + margin.max(0.0) / PHI)
    }

    /// The system peer stays only while it can still be selected: reachable, synchronised
    /// (leap not 3, stratum below 16), not demobilised, and its root distance below
    /// `maxdist` (from the third poll without a reply on, each silent poll puts a 16 s dummy
    /// into its clock filter, as in ntpd; with the default maxdist a filter of eight real
    /// samples passes it at the fifth dummy, the seventh silent poll, one of two real
    /// samples at the first). Otherwise it is dropped at once (the next sample from
    /// any other source selects a new one) instead of lingering until some other source
    /// happens to answer.
    fn check_sys_peer(&mut self, t: f64, actions: &mut Vec<Action>) {
        let Some(id) = self.sys_peer else { return };
        let precision = 2f64.powi(self.config.precision as i32);
        let max_dist = self.config.max_dist;
        let Some(a) = self.assocs.iter_mut().find(|a| a.id == id) else {
            self.sys_peer = None;
            return;
        };
        let fit = a.reach != 0
            && a.leap != Leap::Unsync
            && a.stratum < 16
            && !a.demobilized
            // (a filter emptied by our own step is not the source's fault)
            && (a.is_local_clock()
                || !a.filter.has_data()
                || a.root_distance(t, precision) < max_dist);
        if !fit {
            a.select = SelectCode::Reject;
            self.sys_peer = None;
            self.system_event(SystemEvent::NoSysPeer, actions);
        }
    }

    /// Holdover: with no system peer the frequency stays where it was (no update changes
    /// it) and we keep serving our stratum while the error bound is below `maxdist`;
    /// beyond it we are unsynchronised (leap 3, stratum 16, refid INIT) and say so to the
    /// kernel (STA_UNSYNC, with the true maxerror). A sample from a selectable source ends
    /// it through the normal update.
    fn check_holdover(&mut self, t: f64, actions: &mut Vec<Action>) {
        let Some(end) = self.holdover_end() else {
            return;
        };
        if t + TIMER_SLACK < end {
            // keep the kernel's maxerror true (it would add 500 µs/s on its own and set
            // STA_UNSYNC at 16 s, long before our bound passes maxdist)
            actions.push(Action::Clock(ClockCommand::SetSyncStatus(SyncStatus {
                max_error: self.error_bound(t),
                est_error: self.sys_jitter,
                synchronized: true,
            })));
            return;
        }
        self.leap = Leap::Unsync;
        self.stratum = 16;
        self.refid = RefId::from_ascii("INIT");
        self.sync_source = 0;
        if self.commanded_leap != Leap::NoWarning {
            self.commanded_leap = Leap::NoWarning;
            actions.push(Action::Clock(ClockCommand::SetLeap(Leap::NoWarning)));
        }
        actions.push(Action::Clock(ClockCommand::SetSyncStatus(SyncStatus {
            max_error: self.error_bound(t),
            est_error: self.sys_jitter,
            synchronized: false,
        })));
        self.system_event(SystemEvent::NoSysPeer, actions);
    }

    fn check_orphan(&mut self, t: f64, actions: &mut Vec<Action>) {
        if self.config.orphan_stratum >= 16 || self.orphan || self.sys_peer.is_some() {
            return;
        }
        if t - self.last_sync >= self.config.orphan_wait {
            self.orphan = true;
            self.stratum = self.config.orphan_stratum;
            self.refid = RefId([127, 0, 0, 1]);
            self.leap = Leap::NoWarning;
            self.sync_source = 0;
            self.reftime = self.timestamp(t);
            self.root_delay = 0.0;
            self.root_dispersion = 0.0;
            self.system_event(SystemEvent::NoSysPeer, actions);
        }
    }

    /// The clock's answer to a command this engine issued: the command as the clock
    /// carried it out ([`crate::apply_clock_command`]'s result: a frequency rounded
    /// to the clock's resolution) or its refusal. The engine books only what the clock did
    /// (a refused frequency leaves the clock where it was, a refused step never happened)
    /// and plans again from there. A driver that never answers is taken to have carried
    /// out every command as given.
    pub fn clock_result(
        &mut self,
        requested: &ClockCommand,
        result: &Result<ClockCommand, crate::system_clock::ClockError>,
    ) {
        let t = self.last_now;
        let applied = result.as_ref().ok();
        if self.discipline.clock_result(t, requested, applied) {
            return;
        }
        if let (ClockCommand::SetLeap(_), Err(_)) = (requested, result) {
            // not armed after all: the next update asks again
            self.commanded_leap = Leap::Unsync;
        }
    }

    /// Tell the engine its clock commands cannot take effect (`--observe-only`, no privileges, or
    /// EPERM from the clock): it stops booking corrections and emitting clock commands,
    /// and keeps estimating the offset and frequency the clock would need (shown in the
    /// status). Idempotent; there is no way back (restart the daemon).
    pub fn set_observe_only(&mut self) {
        let t = self.last_now;
        self.discipline.set_observe_only(t);
    }

    /// Frequency correction to persist in the drift file, ppm.
    pub fn frequency_ppm(&self) -> f64 {
        self.discipline.frequency_ppm()
    }

    /// System variables (mode 6 association 0).
    pub fn system_status(&self) -> SystemStatus {
        SystemStatus {
            leap: self.leap,
            stratum: self.stratum,
            precision: self.config.precision,
            root_delay: self.root_delay,
            root_dispersion: self.root_dispersion,
            refid: self.refid,
            reftime: self.reftime,
            peer: self.sys_peer,
            tc: self.poll,
            mintc: self
                .assocs
                .iter()
                .map(|a| a.config.minpoll)
                .min()
                .unwrap_or(6),
            offset: self.sys_offset,
            frequency_ppm: self.discipline.frequency_ppm(),
            sys_jitter: self.sys_jitter,
            clk_jitter: self.discipline.clk_jitter.sqrt(),
            clk_wander: self.discipline.clk_wander.sqrt(),
            sync_source: self.sync_source,
            event_count: self.event_count,
            last_event: self.last_event,
            synchronized: self.leap != Leap::Unsync,
            steps: self.discipline.steps,
            orphan: self.orphan,
            tai: self.config.leap_table.as_ref().map(|tab| {
                tab.tai_offset(leap::ntp_seconds(
                    self.timestamp(self.last_now).to_unix(ERA_PIVOT).secs,
                ))
            }),
            leapsec: self
                .config
                .leap_table
                .as_ref()
                .and_then(|tab| tab.entries.last().map(|e| e.0)),
            expire: self.config.leap_table.as_ref().and_then(|tab| tab.expires),
        }
    }

    /// Peer variables of one association.
    pub fn peer_status(&self, id: AssocId) -> Option<PeerStatus> {
        let a = self.assocs.iter().find(|a| a.id == id)?;
        let f = &a.filter;
        let last = a.last_sample_time.max(0.0);
        let precision = 2f64.powi(self.config.precision as i32);
        Some(PeerStatus {
            id: a.id,
            config: a.config.clone(),
            leap: a.leap,
            stratum: a.stratum,
            precision: a.precision,
            root_delay: a.root_delay,
            root_dispersion: a.root_dispersion,
            refid: a.refid,
            reftime: a.reftime,
            rec: a.rec,
            xmt: a.xmt,
            reach: a.reach,
            unreach: a.unreach,
            hmode: a.hmode(),
            pmode: a.pmode,
            hpoll: a.hpoll,
            ppoll: a.ppoll,
            flash: a.flash,
            offset: f.offset(),
            delay: f.delay(),
            dispersion: f.dispersion(),
            jitter: f.jitter(),
            filter: {
                // Never-filled stages show as ntpd's dummies (delay 0, dispersion 16 s).
                let mut stages: Vec<(f64, f64, f64)> = a
                    .filter
                    .stages()
                    .iter()
                    .map(|s| (s.offset, s.delay, s.dispersion))
                    .collect();
                stages.resize(8, (0.0, 0.0, 16.0));
                stages
            },
            select: a.select,
            event_count: a.event_count,
            last_event: a.last_event,
            sent: a.sent,
            received: a.received,
            root_distance: a.root_distance(last, precision),
            uncertainty: (a.estimator.samples() > 0).then(|| {
                let t = self.last_now.max(a.estimator.time());
                a.estimator.estimate_at(t).offset_var.max(0.0).sqrt()
            }),
            asymmetry: a.estimator.asymmetry(),
        })
    }
}

fn local_samples_empty_or_updated(assocs: &[Association]) -> bool {
    !assocs.iter().any(|a| a.pending_local_update)
}
