//! One association: poll schedule (minpoll/maxpoll, iburst, burst, KoD RATE back-off),
//! reachability, packet tests, the RFC 5905 clock filter (for selection and status) and
//! the per-source estimator (for the discipline).

use super::estimator::{Estimator, Measurement, Outcome};
use super::filter::{ClockFilter, FilterOutcome, Sample, Start};
use super::select::{self, Candidate};
use super::types::{AssocId, Exchange, PeerEvent, SelectCode, SourceConfig, SourceKind};
use ntpkit_wire::packet::{Header, KissCode, Leap, Mode, RefId};
use ntpkit_wire::time::NtpTimestamp;

pub(crate) use super::filter::PHI;
const BURST_PACKETS: u8 = 8;
const BURST_SPACING: f64 = 2.0;
/// Polls without a reply before the poll interval starts backing off (ntpd NTP_UNREACH).
const UNREACH_BACKOFF: u32 = 10;
/// A source that answered before and fell silent is asked again after minpoll for this
/// long before its poll backs off, s: losses come in bursts, and each poll that goes
/// unanswered at a long interval extends the holdover by that interval. An hour is at most
/// 56 packets at a 64 s minpoll, within the 625-packet ceiling of polling at minpoll.
const RETRY_WINDOW: f64 = 3600.0;
/// A sample whose variance exceeds this many times the estimator's noise (it carries less
/// than half the average information: its delay was high) is followed by another poll
/// after twice minpoll rather than the full interval, so that the long interval starts from
/// an informative sample — the polling analogue of ntpd's clock filter keeping the
/// minimum-delay sample of eight.
const UNINFORMATIVE_FACTOR: f64 = 2.0;
/// At most this many such early polls in a row (a path whose samples are mostly
/// uninformative must not poll at minpoll for ever).
const UNINFORMATIVE_RETRIES: u32 = 4;
/// Samples the estimator needs before its noise judges a sample.
const UNINFORMATIVE_MIN_SAMPLES: u64 = 8;
/// Unanswered symmetric-active polls before a `peer` is polled in client mode instead:
/// NTPsec (since 0.9.5 its `peer` is `server`) drops mode 1 but answers mode 3.
const SYMMETRIC_FALLBACK_AFTER: u32 = 4;
/// Unanswered client-mode polls before such a peer is tried in symmetric mode again.
const SYMMETRIC_RETRY_AFTER: u32 = 8;
/// A symmetric pair's packets are spaced much as chronyd spaces them (ntp_core.c's
/// PEER_SAMPLING_ADJ): the side nearer the reference waits this factor of its interval for
/// the other's packet and answers it at once; equal strata stretch their interval by it
/// when the peer's packet comes late in it, so that the two sides' packets alternate half
/// a poll apart rather than drift through each other (interleaved mode needs them to
/// alternate, RFC 9769).
const PEER_SAMPLING_ADJ: f64 = 1.1;
/// The side nearer the reference answers at once, but never sooner than this part of its
/// interval after its own last packet (a peer answering at once too must not start a
/// ping-pong).
const PEER_ANSWER_MIN: f64 = 0.5;

// Flash bits (REFERENCE.md §2.7).
pub const FLASH_DUP: u16 = 0x0001;
pub const FLASH_BOGUS: u16 = 0x0002;
pub const FLASH_UNSYNC: u16 = 0x0004;
pub const FLASH_DENIED: u16 = 0x0008;
pub const FLASH_STRATUM: u16 = 0x0020;
pub const FLASH_HEADER: u16 = 0x0040;

/// What a reply amounted to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ReplyOutcome {
    /// Not for us, a duplicate, or unusable; nothing changes but the flash bits.
    Dropped,
    /// Valid reply from an unsynchronised server: reachable but no sample.
    NoSample,
    /// A new sample (offset θ, delay δ, at engine time `time` = midpoint).
    Sample {
        offset: f64,
        delay: f64,
        time: f64,
        filter: FilterOutcome,
    },
    Kiss(KissCode),
}

#[derive(Debug, Clone)]
pub(crate) struct Association {
    pub id: AssocId,
    pub config: SourceConfig,
    pub hpoll: i8,
    /// minpoll, raised by KoD RATE.
    pub minpoll: i8,
    pub next_poll: f64,
    pub burst_left: u8,
    pub reach: u8,
    pub unreach: u32,
    /// When the first of the current run of unanswered polls went out.
    silent_since: f64,
    /// Early polls in a row after uninformative samples.
    early_polls: u32,
    pub xmt: NtpTimestamp,
    xmt_time: f64,
    /// The transmit timestamp before `xmt`: a symmetric peer's packet crossing our latest
    /// echoes it.
    prev_xmt: NtpTimestamp,
    xmt_step_count: u32,
    awaiting_reply: bool,
    /// The peer's latest transmit timestamp (the duplicate check; in symmetric mode also
    /// the origin our next packet echoes: RFC 5905 `p.org`).
    last_server_xmt: NtpTimestamp,
    /// Symmetric mode: when that packet arrived (echoed as our receive timestamp, `p.rec`).
    peer_rec: NtpTimestamp,
    /// Mode of the last packet taken from the peer (mode 6 `pmode`).
    pub pmode: u8,
    /// Our own refid as the peer would advertise it when synchronised to us (the address
    /// we reach it from): a source showing it is looping through us.
    pub our_refid: Option<RefId>,
    /// A `peer` that never answered mode 1 is polled in mode 3 (see
    /// SYMMETRIC_FALLBACK_AFTER); its own mode 1 packets switch back.
    pub client_fallback: bool,
    /// A mode 1 or 2 packet has come from the peer: it speaks symmetric mode, so silence
    /// later is an outage, not a reason to fall back to client mode.
    heard_symmetric: bool,
    /// Consecutive polls without an accepted packet in the current mode.
    unanswered: u32,
    pub leap: Leap,
    pub stratum: u8,
    pub precision: i8,
    pub root_delay: f64,
    pub root_dispersion: f64,
    pub refid: RefId,
    pub reftime: NtpTimestamp,
    pub ppoll: i8,
    pub rec: NtpTimestamp,
    pub flash: u16,
    pub filter: ClockFilter,
    pub last_sample_time: f64,
    pub estimator: Estimator,
    pub select: SelectCode,
    pub event_count: u8,
    pub last_event: u8,
    pub sent: u64,
    pub received: u64,
    pub demobilized: bool,
    /// A LOCAL-driver sample is waiting for the system process.
    pub pending_local_update: bool,
    /// The estimator restarted (the source moved) since the poll was last decided.
    pub restarted: bool,
}

impl Association {
    pub fn new(id: AssocId, config: SourceConfig, now: f64, estimator: Estimator) -> Self {
        let (stratum, refid) = match &config.kind {
            SourceKind::LocalClock { stratum, refid } => (*stratum, *refid),
            SourceKind::Server { .. }
            | SourceKind::Peer { .. }
            | SourceKind::PassivePeer { .. } => (16, RefId::from_ascii("INIT")),
        };
        Association {
            id,
            hpoll: config.minpoll,
            minpoll: config.minpoll,
            // Like ntpd, the first poll goes out almost at once.
            next_poll: now + 1.0,
            burst_left: 0,
            reach: 0,
            unreach: 0,
            silent_since: 0.0,
            early_polls: 0,
            xmt: NtpTimestamp::ZERO,
            xmt_time: 0.0,
            prev_xmt: NtpTimestamp::ZERO,
            xmt_step_count: 0,
            awaiting_reply: false,
            last_server_xmt: NtpTimestamp::ZERO,
            peer_rec: NtpTimestamp::ZERO,
            // ntpd shows pmode 0 until the first packet; a server's replies are mode 4
            pmode: if config.is_symmetric() { 0 } else { 4 },
            our_refid: None,
            client_fallback: false,
            heard_symmetric: false,
            unanswered: 0,
            leap: Leap::Unsync,
            stratum,
            precision: -20,
            root_delay: 0.0,
            root_dispersion: 0.0,
            refid,
            reftime: NtpTimestamp::ZERO,
            // ntpd's peer_clear starts ppoll at maxpoll, so a fresh association shows its
            // longest poll in `ntpq -p` rather than 1 s
            ppoll: config.maxpoll,
            rec: NtpTimestamp::ZERO,
            flash: 0,
            filter: ClockFilter::new(2f64.powi(-20), Start::OneShot),
            last_sample_time: f64::NEG_INFINITY,
            estimator,
            select: SelectCode::Reject,
            event_count: 0,
            last_event: 0,
            sent: 0,
            received: 0,
            demobilized: false,
            pending_local_update: false,
            restarted: false,
            config,
        }
    }

    pub fn is_symmetric(&self) -> bool {
        self.config.is_symmetric()
    }

    /// Whether polls go out as mode 1 (a `peer` not in client fallback).
    pub fn speaks_symmetric(&self) -> bool {
        self.is_symmetric() && !self.client_fallback
    }

    /// Mode 6 `hmode`: 1 symmetric active, 2 symmetric passive, 3 client.
    pub fn hmode(&self) -> u8 {
        if self.config.is_passive() {
            2
        } else if self.is_symmetric() {
            1
        } else {
            3
        }
    }

    /// Turn a poll (built by [`Association::poll`]) into a symmetric-active packet: our
    /// system variables (`system`'s header fields), the peer's last transmit timestamp as
    /// origin and its arrival as receive timestamp (RFC 5905 §9.2 peer_xmit).
    pub fn symmetric_packet(&self, mut packet: Header, system: &Header) -> Header {
        packet.mode = if self.config.is_passive() {
            Mode::SymmetricPassive
        } else {
            Mode::SymmetricActive
        };
        packet.leap = system.leap;
        packet.stratum = system.stratum;
        packet.precision = system.precision;
        packet.root_delay = system.root_delay;
        packet.root_dispersion = system.root_dispersion;
        packet.reference_id = system.reference_id;
        packet.reference_ts = system.reference_ts;
        packet.origin_ts = self.last_server_xmt;
        packet.receive_ts = self.peer_rec;
        packet
    }

    pub fn is_local_clock(&self) -> bool {
        matches!(self.config.kind, SourceKind::LocalClock { .. })
    }

    pub fn note_event(&mut self, e: PeerEvent) {
        self.event_count = self.event_count.saturating_add(1).min(15);
        self.last_event = e as u8;
    }

    /// The peer's advertised poll exponent, within this association's bounds.
    fn peer_poll(&self) -> i8 {
        self.ppoll
            .clamp(self.minpoll, self.config.maxpoll.max(self.minpoll))
    }

    /// The poll interval in force, s.
    pub fn poll_interval(&self) -> f64 {
        2f64.powi(self.hpoll as i32)
    }

    /// Follow the system poll exponent within this association's bounds.
    pub fn set_poll(&mut self, system_poll: i8) {
        let backoff = if self.unreach >= UNREACH_BACKOFF {
            (self.unreach - UNREACH_BACKOFF + 1).min(20) as i8
        } else {
            0
        };
        let wanted = system_poll.saturating_add(backoff);
        let mut hpoll = wanted.clamp(self.minpoll, self.config.maxpoll.max(self.minpoll));
        if self.speaks_symmetric() {
            // RFC 5905 §13: a symmetric pair polls at the shorter of the two intervals
            hpoll = hpoll.min(self.peer_poll());
        }
        if hpoll != self.hpoll {
            // Re-time the next poll, never earlier than the last packet plus the new
            // interval (so a lower poll never sends more than it should).
            self.hpoll = hpoll;
            if self.burst_left == 0 && self.sent > 0 {
                self.next_poll = self.xmt_time + self.poll_interval();
            }
        }
    }

    /// It is time to poll: update reachability and build the request. `fuzz` ∈ [0, 1)
    /// stretches the interval by up to 1/16 as ntpd does, so clients do not synchronise.
    pub fn poll(&mut self, now: f64, now_ts: NtpTimestamp, step_count: u32, fuzz: f64) -> Header {
        if self.burst_left == 0 {
            // A regular poll: shift the reach register (burst packets do not).
            if self.awaiting_reply {
                if self.unreach == 0 {
                    self.silent_since = self.xmt_time;
                }
                self.unreach = self.unreach.saturating_add(1);
                self.unanswered = self.unanswered.saturating_add(1);
            }
            if self.is_symmetric() && !self.config.is_passive() {
                let limit = if self.client_fallback {
                    SYMMETRIC_RETRY_AFTER
                } else {
                    SYMMETRIC_FALLBACK_AFTER
                };
                // a peer heard in mode 1/2 is down, not a client-only server
                if self.unanswered >= limit && self.reach == 0 && !self.heard_symmetric {
                    self.client_fallback = !self.client_fallback;
                    self.unanswered = 0;
                }
            }
            self.reach <<= 1;
            if self.reach & 0x07 == 0 && self.sent > 0 {
                // Three polls without a reply: age the register with a dummy (ntpd).
                self.filter.add_dummy(now);
            }
            if self.config.burst && self.reach != 0 {
                self.burst_left = BURST_PACKETS - 1;
            }
        } else {
            self.burst_left -= 1;
        }
        self.awaiting_reply = true;
        self.prev_xmt = self.xmt;
        self.xmt = now_ts;
        self.xmt_time = now;
        self.xmt_step_count = step_count;
        self.sent += 1;
        // A poll went unanswered: the estimate is older than planned and a lost packet
        // often comes with more (bursts), so ask again after minpoll rather than after
        // the long interval the clock's predictability earned (until the back-off for an
        // unreachable server takes over; for a source that answered before, not within
        // the first hour of silence).
        let retrying = self.unreach > 0
            && (self.unreach < UNREACH_BACKOFF
                || (self.received > 0 && now - self.silent_since < RETRY_WINDOW));
        let interval = if retrying {
            self.poll_interval().min(2f64.powi(self.minpoll as i32))
        } else {
            self.poll_interval()
        };
        self.next_poll = if self.burst_left > 0 {
            now + BURST_SPACING
        } else {
            now + interval * (1.0 + fuzz / 16.0)
        };
        Header::client_request(self.config.version, self.hpoll, now_ts)
    }

    /// When a symmetric pair's next packet of ours goes out, much as chronyd schedules it
    /// (get_transmit_delay in ntp_core.c, see [`PEER_SAMPLING_ADJ`]): right after our poll
    /// (`on_tx`) or once the peer's packet answered it (at `now`); `our_stratum` as our
    /// packets carry it (16 unsynchronised). A peer further from the reference than us
    /// gets its answer at once (its exchanges are short) and our interval waits for its
    /// next packet. chronyd answers at once only a packet that comes late in its interval
    /// and otherwise stretches the interval until one does; a packet coming just after
    /// ours then leaves the stretched interval longer than the peer's, which sends twice in
    /// a row (its next exchange basic). At equal strata the two sides settle half a poll
    /// apart. Only while the peer answers (no burst, no unanswered poll: those keep their
    /// own timing).
    pub fn symmetric_schedule(&mut self, now: f64, our_stratum: u8, on_tx: bool) {
        if !self.speaks_symmetric()
            || self.burst_left > 0
            || self.reach == 0
            || self.unreach > 0
            || self.sent == 0
        {
            return;
        }
        let poll = self.poll_interval();
        let farther = self.stratum.min(16) as i16 - our_stratum.min(16) as i16;
        let since_tx = (now - self.xmt_time).max(0.0);
        let interval = match (farther, on_tx) {
            // a peer nearer the reference answers us: our poll keeps its own (fuzzed)
            // timing; at equal strata only its packet says where to go
            (f, _) if f < 0 => return,
            (0, true) => return,
            (0, false) if since_tx / poll > PEER_SAMPLING_ADJ - 0.5 => poll * PEER_SAMPLING_ADJ,
            (0, false) => poll,
            // the peer's next packet comes before our timer does
            (_, true) => poll * PEER_SAMPLING_ADJ,
            (_, false) => poll * PEER_ANSWER_MIN,
        };
        self.next_poll = (self.xmt_time + interval).max(now);
    }

    /// Packet tests and sample extraction (RFC 5905 §8). `now` is the engine time of
    /// `received` (T4).
    pub fn receive(
        &mut self,
        reply: &Header,
        received: NtpTimestamp,
        now: f64,
        step_count: u32,
        system_precision: i8,
        exchange: Option<Exchange>,
    ) -> ReplyOutcome {
        if self.client_fallback && reply.mode == Mode::SymmetricActive {
            // the peer speaks symmetric mode after all (it may have been down)
            self.client_fallback = false;
            self.unanswered = 0;
        }
        if self.is_symmetric()
            && matches!(reply.mode, Mode::SymmetricActive | Mode::SymmetricPassive)
        {
            self.heard_symmetric = true;
        }
        let symmetric = self.speaks_symmetric();
        // RFC 5905 dispatch table: a client takes mode 4; a symmetric-active association
        // takes mode 1 (the peer's own poll) and mode 2 (a passive answer).
        let acceptable = if symmetric {
            matches!(reply.mode, Mode::SymmetricActive | Mode::SymmetricPassive)
        } else {
            reply.mode == Mode::Server
        };
        if !acceptable {
            self.flash |= FLASH_BOGUS;
            return ReplyOutcome::Dropped;
        }
        if symmetric && reply.transmit_ts.is_zero() {
            self.flash = FLASH_HEADER;
            return ReplyOutcome::Dropped;
        }
        if !reply.transmit_ts.is_zero() && reply.transmit_ts == self.last_server_xmt {
            self.flash = FLASH_DUP;
            return ReplyOutcome::Dropped;
        }
        // A packet that echoes nothing (the peer's first), our latest or the one before
        // (crossing ours in flight) is the peer's; any other origin is forged or stale and
        // must not become what our next packet echoes (an unkeyed peer is open to that).
        let plausible_origin = reply.origin_ts.is_zero()
            || reply.origin_ts == self.xmt
            || reply.origin_ts == self.prev_xmt;
        if symmetric && plausible_origin {
            // Saved before the origin check: even a packet that does not answer ours (the
            // peer's first, or one crossing ours) tells us what our next packet echoes.
            self.last_server_xmt = reply.transmit_ts;
            self.peer_rec = received;
            self.pmode = reply.mode.bits();
        }
        if !self.awaiting_reply || reply.origin_ts != self.xmt || self.xmt.is_zero() {
            self.flash = FLASH_BOGUS;
            return ReplyOutcome::Dropped;
        }
        self.awaiting_reply = false;
        self.unanswered = 0;
        if !symmetric {
            self.pmode = reply.mode.bits();
        }
        self.last_server_xmt = reply.transmit_ts;
        // Only RATE, DENY and RSTR are instructions (ntpd's kiss_code_check); any other
        // code (INIT, STEP…) is an unsynchronised server's ordinary reply: it counts for
        // reachability and is rejected below by its leap bits.
        if let Some(code) = reply.kiss_instruction() {
            self.flash = FLASH_DENIED;
            return ReplyOutcome::Kiss(code);
        }
        self.flash = 0;
        self.received += 1;
        let was_reachable = self.reach != 0;
        self.reach |= 1;
        self.unreach = 0;
        if !was_reachable {
            self.note_event(PeerEvent::Reachable);
            if self.config.iburst && self.burst_left == 0 {
                // iburst: the first packet went out alone; the rest follow this reply.
                self.burst_left = BURST_PACKETS - 1;
                self.next_poll = now.max(self.xmt_time + BURST_SPACING);
            }
        }
        self.rec = received;
        self.leap = reply.leap;
        self.stratum = if reply.stratum == 0 {
            16
        } else {
            reply.stratum
        };
        self.precision = reply.precision;
        self.root_delay = reply.root_delay.to_seconds();
        self.root_dispersion = reply.root_dispersion.to_seconds();
        self.refid = reply.reference_id;
        self.reftime = reply.reference_ts;
        self.ppoll = reply.poll;
        if symmetric && self.peer_poll() < self.hpoll {
            // a peer polling faster than we do: come down to its interval (ntpd's
            // poll_update after a symmetric packet), so its packets find ours answered
            self.hpoll = self.peer_poll();
            if self.burst_left == 0 {
                self.next_poll = self.next_poll.min(self.xmt_time + self.poll_interval());
            }
        }
        if reply.leap == Leap::Unsync {
            self.flash |= FLASH_UNSYNC;
            return ReplyOutcome::NoSample;
        }
        if self.stratum >= 16 {
            self.flash |= FLASH_STRATUM;
            return ReplyOutcome::NoSample;
        }
        if reply.receive_ts.is_zero() || reply.transmit_ts.is_zero() {
            self.flash |= FLASH_HEADER;
            return ReplyOutcome::NoSample;
        }
        if step_count != self.xmt_step_count {
            // The clock was stepped between request and reply: the sample straddles it.
            return ReplyOutcome::NoSample;
        }
        let precision = 2f64.powi(system_precision as i32) + 2f64.powi(self.precision as i32);
        let (x, at, time) = match exchange {
            None => (
                Exchange {
                    t1: self.xmt,
                    t2: reply.receive_ts,
                    t3: reply.transmit_ts,
                    t4: received,
                },
                now,
                (self.xmt_time + now) / 2.0,
            ),
            Some(x) => {
                // an interleaved sample belongs to the previous exchange: its time is T4's
                let at = now - (received - x.t4).to_seconds().clamp(0.0, 1e6);
                (
                    x,
                    at,
                    at - (x.t4 - x.t1).to_seconds().clamp(0.0, 16.0) / 2.0,
                )
            }
        };
        let sample = Sample::from_timestamps(x.t1, x.t2, x.t3, x.t4, precision, at);
        if !sample.offset.is_finite() || sample.delay > 16.0 {
            self.flash |= FLASH_HEADER;
            return ReplyOutcome::NoSample;
        }
        let filter = self.filter.add(sample, now, self.poll_interval());
        self.last_sample_time = now;
        // the filter keeps ntpd's clamped delay; the estimator weighs a negative one by
        // its size (see estimator::weighing_delay)
        let measured = (x.t4 - x.t1).to_seconds() - (x.t3 - x.t2).to_seconds();
        ReplyOutcome::Sample {
            offset: sample.offset,
            delay: if measured < 0.0 {
                measured
            } else {
                sample.delay
            },
            time,
            filter,
        }
    }

    /// Feed a raw-timescale measurement to the estimator.
    pub fn estimate(&mut self, m: Measurement) -> Outcome {
        let outcome = self.estimator.update(&m);
        if outcome == Outcome::Reset {
            self.restarted = true;
        }
        let minpoll = 2f64.powi(self.minpoll as i32);
        let uninformative = outcome == Outcome::Accepted
            && self.estimator.samples() >= UNINFORMATIVE_MIN_SAMPLES
            && self.estimator.sample_var(m.delay)
                > UNINFORMATIVE_FACTOR * self.estimator.noise_var();
        if uninformative
            && self.poll_interval() > minpoll
            && self.burst_left == 0
            && self.early_polls < UNINFORMATIVE_RETRIES
        {
            self.next_poll = self.next_poll.min(self.xmt_time + 2.0 * minpoll);
            self.early_polls += 1;
        } else {
            self.early_polls = 0;
        }
        outcome
    }

    /// KoD RATE: slow down to at least the server's poll, cancel any burst.
    pub fn rate_limited(&mut self, server_poll: i8) {
        let raised = server_poll.max(self.hpoll + 1).min(17);
        self.minpoll = self.minpoll.max(raised);
        self.burst_left = 0;
        self.hpoll = self.hpoll.max(self.minpoll);
        self.next_poll = self.xmt_time + self.poll_interval();
        self.note_event(PeerEvent::RateExceeded);
    }

    /// What the selection needs to know about this source at `now`.
    pub fn candidate(&self, now: f64, system_precision: f64) -> Candidate {
        let age = self
            .filter
            .updated_at()
            .map(|t| (now - t).max(0.0))
            .unwrap_or(0.0);
        Candidate {
            offset: self.filter.offset(),
            delay: self.filter.delay(),
            dispersion: self.filter.dispersion(),
            jitter: self.filter.jitter(),
            root_delay: self.root_delay,
            root_dispersion: self.root_dispersion,
            age,
            precision: 2f64.powi(self.precision as i32) + system_precision,
            stratum: self.stratum,
            leap: self.leap,
            reachable: self.reach != 0 && self.filter.has_data(),
            kiss_of_death: self.demobilized,
            // ntpd's TEST12: a secondary whose refid is our address is synchronised to us
            loops_to_us: self.stratum > 1 && self.our_refid == Some(self.refid),
            prefer: self.config.prefer,
        }
    }

    /// Root distance Λ (RFC 5905 §11.2 with ntpd's additions), s.
    pub fn root_distance(&self, now: f64, system_precision: f64) -> f64 {
        if !self.filter.has_data() {
            return 16.0;
        }
        select::root_distance(&self.candidate(now, system_precision), 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    /// A sample at `delay` (offset exactly as predicted), answering a poll sent at
    /// `xmt_time` whose next poll was planned a full 1024 s later.
    fn sample(a: &mut Association, xmt_time: f64, delay: f64) {
        a.xmt_time = xmt_time;
        a.next_poll = xmt_time + 1024.0;
        a.estimate(Measurement {
            time: xmt_time,
            raw_offset: 0.0,
            delay,
        });
    }

    #[test]
    fn an_uninformative_sample_brings_the_next_poll_forward_at_most_four_times() {
        let server = SourceConfig::server(IpAddr::from([198, 18, 0, 1]));
        let estimator = Estimator::new(1e-8, 0.0, 1e-6, 1e-9);
        let mut a = Association::new(AssocId(1), server, 0.0, estimator);
        a.hpoll = 10;
        let mut t = 0.0;
        for _ in 0..16 {
            t += 1024.0;
            sample(&mut a, t, 1e-3);
        }
        // a sample at the minimum delay keeps the full interval
        assert_eq!(a.next_poll, t + 1024.0);
        // high-delay ones: again after 2·minpoll, four times in a row
        for _ in 0..4 {
            t += 1024.0;
            sample(&mut a, t, 3e-3);
            assert_eq!(a.next_poll, t + 128.0);
        }
        t += 128.0;
        sample(&mut a, t, 3e-3);
        assert_eq!(a.next_poll, t + 1024.0);
    }

    /// Two symmetric associations at 8 s polls, each sending when its engine says (with
    /// the poll fuzz), their packets 100 µs on the wire; a packet answers the receiver's
    /// latest when that one reached the sender before it sent (as the origin check
    /// decides), and the receiver then takes it as `receive` would. B starts `start_b`
    /// after A. Returns who sent, in order, and when.
    fn symmetric_pair(strata: [u8; 2], start_b: f64, seed: u64) -> Vec<(usize, f64)> {
        const WIRE: f64 = 1e-4;
        let config = |last: u8| SourceConfig {
            minpoll: 3,
            maxpoll: 3,
            ..SourceConfig::peer(IpAddr::from([198, 18, 0, last]))
        };
        let estimator = || Estimator::new(1e-8, 0.0, 1e-6, 1e-9);
        let mut side = [
            Association::new(AssocId(1), config(2), 0.0, estimator()),
            Association::new(AssocId(1), config(1), start_b, estimator()),
        ];
        let mut rng = seed;
        let mut fuzz = move || {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (rng >> 11) as f64 / (1u64 << 53) as f64
        };
        // (receiver, arrival, sent at)
        let mut in_flight: Vec<(usize, f64, f64)> = Vec::new();
        let mut sent = Vec::new();
        while sent.len() < 400 {
            let next_send = (0..2).min_by(|&a, &b| side[a].next_poll.total_cmp(&side[b].next_poll));
            let s = next_send.unwrap();
            let arrival = in_flight.first().copied();
            match arrival {
                Some((r, at, sent_at)) if at <= side[s].next_poll => {
                    in_flight.remove(0);
                    let a = &mut side[r];
                    if a.xmt_time + WIRE <= sent_at && a.awaiting_reply {
                        a.awaiting_reply = false;
                        a.heard_symmetric = true;
                        a.reach |= 1;
                        a.unreach = 0;
                        a.stratum = strata[1 - r];
                        a.symmetric_schedule(at, strata[r], false);
                    }
                }
                _ => {
                    let t = side[s].next_poll;
                    let f = fuzz();
                    side[s].poll(t, NtpTimestamp::ZERO, 0, f);
                    side[s].symmetric_schedule(t, strata[s], true);
                    in_flight.push((1 - s, t + WIRE, t));
                    sent.push((s, t));
                }
            }
        }
        sent
    }

    /// Sends after the first 40 where a side sent twice without the other in between.
    fn twice_in_a_row(sent: &[(usize, f64)]) -> usize {
        sent[40..].windows(2).filter(|w| w[0].0 == w[1].0).count()
    }

    #[test]
    fn a_symmetric_pair_at_equal_strata_settles_half_a_poll_apart() {
        for (seed, start_b) in [(1, 0.05), (2, 0.3), (3, 4.0), (4, 7.9), (5, 2.0)] {
            let sent = symmetric_pair([11, 11], start_b, seed);
            assert_eq!(twice_in_a_row(&sent), 0, "seed {seed}: {sent:?}");
            // each packet comes 0.4–0.6 of a poll after the other side's
            for w in sent[40..].windows(2) {
                let gap = (w[1].1 - w[0].1) / 8.0;
                assert!((0.3..0.7).contains(&gap), "seed {seed}: {w:?}");
            }
        }
    }

    #[test]
    fn a_packet_coming_just_after_ours_is_answered_within_the_peer_s_interval() {
        let config = SourceConfig {
            minpoll: 3,
            maxpoll: 3,
            ..SourceConfig::peer(IpAddr::from([198, 18, 0, 2]))
        };
        let mut a = Association::new(
            AssocId(1),
            config,
            0.0,
            Estimator::new(1e-8, 0.0, 1e-6, 1e-9),
        );
        a.poll(100.0, NtpTimestamp::ZERO, 0, 0.0);
        (a.reach, a.unreach, a.stratum, a.awaiting_reply) = (1, 0, 12, false);
        a.symmetric_schedule(100.0, 11, true);
        assert_eq!(a.next_poll, 108.8, "waits for the peer's next packet");
        // the peer (stratum 12) answers 50 ms later: our answer goes half a poll after our
        // last, well before the peer's next (chronyd's rule would wait until 108.8, after it)
        a.symmetric_schedule(100.05, 11, false);
        assert_eq!(a.next_poll, 104.0);
        // one coming late in our interval is answered at once
        a.symmetric_schedule(107.9, 11, false);
        assert_eq!(a.next_poll, 107.9);
    }

    #[test]
    fn the_side_nearer_the_reference_answers_each_packet_at_once() {
        for (seed, start_b) in [(1, 0.05), (2, 0.3), (3, 4.0), (4, 7.9)] {
            // B (stratum 12) is farther from the reference than A (11)
            let sent = symmetric_pair([11, 12], start_b, seed);
            assert_eq!(twice_in_a_row(&sent), 0, "seed {seed}: {sent:?}");
            for w in sent[40..].windows(2).filter(|w| w[0].0 == 1) {
                let answer = w[1].1 - w[0].1;
                assert!(
                    answer < 0.1 * 8.0,
                    "seed {seed}: A answered after {answer} s"
                );
            }
        }
    }
}
