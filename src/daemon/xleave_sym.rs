//! Interleaved symmetric mode (`peer HOST xleave`; RFC 9769's symmetric exchange, as
//! chronyd's `peer … xleave` speaks it on the wire).
//!
//! Two peers each send on their own timer, so every packet is both a request and the
//! answer to the other's latest. In basic mode a packet can only carry a transmit time
//! read before it was sent. In interleaved mode each packet instead carries the real
//! transmit time of the sender's *previous* packet, and the fields are shifted to match:
//!
//! - origin: the receive field of the peer's last packet (when the peer got our previous
//!   packet), where basic mode echoes the peer's transmit field;
//! - receive: when we got the peer's last packet (as in basic mode);
//! - transmit: when our previous packet really left.
//!
//! A packet is taken as the answer to our latest one when its origin is the transmit field
//! we sent (basic) or, in interleaved mode, the receive field we sent. An interleaved
//! packet completes an exchange one step back: the peer's previous packet (whose transmit
//! time only now arrives) against one of our last two packets: one whose kernel transmit
//! timestamp is in rather than one still at the time read before the send; between equals
//! the one closer in time, so the interval a frequency error acts on is the shorter.
//!
//! We send in interleaved mode only as the first packet after a valid one from the peer,
//! and only when exactly one of ours preceded that one: otherwise the peer could pair our
//! transmit time with the wrong packet. A lost or reordered packet therefore leaves the
//! next exchange basic, and the one after interleaved again. Two sides' timers that drift
//! through each other would do the same now and then; the engine schedules a symmetric
//! pair as chronyd does so that they alternate (`Association::symmetric_schedule`).

use crate::engine::Exchange;
use crate::wire::time::NtpTimestamp;

/// What one symmetric association keeps between packets.
#[derive(Clone, Copy, Debug, Default)]
pub struct SymState {
    /// `peer … xleave`.
    pub enabled: bool,
    /// The peer's last valid packet: its receive and transmit fields, when it arrived.
    remote_rx: NtpTimestamp,
    remote_tx: NtpTimestamp,
    local_rx: NtpTimestamp,
    /// The fields above hold a valid packet.
    have_remote: bool,
    /// When our latest packet left and, after an interleaved packet, the one before it
    /// (the one the peer's receive field then pairs with).
    local_tx: Option<NtpTimestamp>,
    prev_local_tx: Option<NtpTimestamp>,
    /// Our latest packet: the engine's transmit timestamp (its cookie) and the receive and
    /// transmit fields it carried on the wire.
    cookie: NtpTimestamp,
    sent_rx: NtpTimestamp,
    sent_tx: NtpTimestamp,
    /// The packet before our latest: its cookie and fields (a packet crossing ours in
    /// flight answers it).
    prev_cookie: NtpTimestamp,
    prev_sent_rx: NtpTimestamp,
    prev_sent_tx: NtpTimestamp,
    /// The peer's latest packet that answered one of ours or nothing (its transmit field
    /// and arrival): what a basic packet of ours echoes, valid or not, so that a failed
    /// exchange never leaves both sides echoing stale fields.
    last_heard: Option<(NtpTimestamp, NtpTimestamp)>,
    /// Our packets since the peer's last valid one, and that count when it came.
    tx_count: u32,
    prev_tx_count: u32,
    /// A valid packet has answered our latest (only one is taken per packet of ours).
    answered: bool,
    /// The key our latest packet's kernel transmit timestamp comes back under (see
    /// `sym_txstamp`), and whether `local_tx` is already the kernel's.
    tx_key: Option<u32>,
    local_tx_kernel: bool,
    /// The same for `prev_local_tx`: its stamp may come after a newer packet went out.
    prev_tx_key: Option<u32>,
    prev_local_tx_kernel: bool,
    /// The serving socket (index into the daemon's list) the peer's packets come in on:
    /// ours leave from it, so the round that reads its error queue sees our packet's
    /// kernel timestamp before it hands over the peer's answer (see `sym_txstamp`).
    pub rx_socket: Option<usize>,
    /// Samples taken in interleaved mode, and whether the latest one was.
    pub interleaved_samples: u64,
    pub last_interleaved: bool,
}

/// What to do with a packet from the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymTaken {
    /// It answers our latest packet: the engine gets it with the origin put back to our
    /// cookie (the engine's check) and these timestamps for the sample.
    Answer {
        cookie: NtpTimestamp,
        exchange: Exchange,
        interleaved: bool,
    },
    /// Not an answer we can use: the engine sees it as it came (and drops it, or keeps
    /// its transmit timestamp to echo, as for any crossing packet).
    AsIs,
    /// The peer's, but no sample: the engine sees it with a zero origin (a packet that
    /// answers nothing), so it counts the peer as heard and drops it.
    NoSample,
}

/// Seconds from `a` to `b`.
fn secs(a: NtpTimestamp, b: NtpTimestamp) -> f64 {
    (b - a).to_seconds()
}

impl SymState {
    pub fn new(enabled: bool) -> Self {
        SymState {
            enabled,
            ..Default::default()
        }
    }

    /// Whether our next packet goes out in interleaved mode.
    fn interleaving(&self) -> bool {
        self.enabled
            && self.have_remote
            && self.answered
            && self.prev_tx_count == 1
            && self.tx_count == 0
            && self.local_tx.is_some()
    }

    /// Rewrite the engine's symmetric packet (`pkt`, 48 bytes or more) for interleaved
    /// mode when the state allows it, and remember what it carries. A mode 3 packet (the
    /// engine polling the peer as a client) is left alone.
    pub fn prepare(&mut self, pkt: &mut [u8]) {
        if !self.enabled || pkt.len() < 48 || !matches!(pkt[0] & 7, 1 | 2) {
            return;
        }
        let field = |p: &[u8], at: usize| {
            NtpTimestamp::from_be_bytes(p[at..at + 8].try_into().unwrap_or([0; 8]))
        };
        let cookie = field(pkt, 40);
        if let (true, Some(mut xmt)) = (self.interleaving(), self.local_tx) {
            let (org, rec) = (self.remote_rx, self.local_rx);
            // the transmit field must differ from the receive and origin fields (the peer
            // tells the modes apart by them) and from our last one (a new packet)
            while xmt == rec || xmt == org || xmt == self.sent_tx {
                xmt = NtpTimestamp(xmt.0.wrapping_add(1));
            }
            pkt[24..32].copy_from_slice(&org.to_be_bytes());
            pkt[32..40].copy_from_slice(&rec.to_be_bytes());
            pkt[40..48].copy_from_slice(&xmt.to_be_bytes());
        } else if let Some((x, r)) = self.last_heard {
            // basic: answer the peer's latest packet, even one that was no valid answer
            pkt[24..32].copy_from_slice(&x.to_be_bytes());
            pkt[32..40].copy_from_slice(&r.to_be_bytes());
        }
        self.prev_cookie = self.cookie;
        self.prev_sent_rx = self.sent_rx;
        self.prev_sent_tx = self.sent_tx;
        self.cookie = cookie;
        self.sent_rx = field(pkt, 32);
        self.sent_tx = field(pkt, 40);
        self.answered = false;
        self.tx_count = self.tx_count.saturating_add(1);
    }

    /// The packet prepared last left at `at` (our best time for it: read just before the
    /// send, or the kernel's). `key`: the kernel's timestamp of it will come back under it
    /// ([`SymState::kernel_transmitted`]).
    pub fn transmitted(&mut self, at: NtpTimestamp, key: Option<u32>) {
        if self.enabled {
            self.local_tx = Some(at);
            self.tx_key = key;
            self.local_tx_kernel = false;
        }
    }

    /// The keys the kernel transmit timestamps of our latest packet and of the one an
    /// interleaved sample may still pair with come under (when asked for).
    pub fn tx_keys(&self) -> [Option<u32>; 2] {
        if !self.enabled {
            return [None, None];
        }
        [self.tx_key, self.prev_tx_key]
    }

    /// The kernel's transmit timestamp of our packet sent under `key`, for our latest
    /// packet (the transmit field of our next interleaved one, and our samples: the same
    /// time on both sides of the pair) and for the one the next interleaved sample may
    /// pair with (which a stamp coming after a newer send still reaches). A later copy
    /// replaces an earlier one (the latest device to stamp it).
    pub fn kernel_transmitted(&mut self, key: u32, at: NtpTimestamp) {
        if self.tx_key == Some(key) && self.local_tx.is_some() {
            self.local_tx = Some(at);
            self.local_tx_kernel = true;
        }
        if self.prev_tx_key == Some(key) && self.prev_local_tx.is_some() {
            self.prev_local_tx = Some(at);
            self.prev_local_tx_kernel = true;
        }
    }

    /// A packet from the peer (origin `org`, receive `rec`, transmit `xmt`) arrived at `rx`;
    /// `poll` is the interval (s) the pair polls at, for the sanity test of an interleaved
    /// sample.
    pub fn take(
        &mut self,
        org: NtpTimestamp,
        rec: NtpTimestamp,
        xmt: NtpTimestamp,
        rx: NtpTimestamp,
        poll: f64,
    ) -> SymTaken {
        if !self.enabled || xmt.is_zero() {
            return SymTaken::AsIs;
        }
        let ours = |o: NtpTimestamp| {
            !o.is_zero()
                && [
                    self.sent_tx,
                    self.sent_rx,
                    self.prev_sent_tx,
                    self.prev_sent_rx,
                ]
                .contains(&o)
        };
        // a packet echoing nothing or one of our last two: the peer's (any other origin is
        // stale or forged and must not become what we echo)
        if org.is_zero() || ours(org) {
            self.last_heard = Some((xmt, rx));
        }
        let basic = !org.is_zero() && org == self.sent_tx;
        let interleaved = !basic && !org.is_zero() && org == self.sent_rx;
        if self.answered || rec.is_zero() || (!basic && !interleaved) {
            return if ours(org) {
                SymTaken::NoSample
            } else {
                SymTaken::AsIs
            };
        }
        let exchange = if interleaved {
            self.interleaved_exchange(rec, xmt, poll)
        } else {
            Some(Exchange {
                t1: self.local_tx.unwrap_or(self.cookie),
                t2: rec,
                t3: xmt,
                t4: rx,
            })
        };
        // the peer's latest valid packet, for our next one and the next interleaved sample
        self.remote_rx = rec;
        self.remote_tx = xmt;
        self.local_rx = rx;
        self.have_remote = true;
        // our latest transmit time now pairs with the peer's receive field: keep it for
        // the next sample, and never use one pair twice
        self.prev_local_tx = if interleaved { self.local_tx } else { None };
        self.prev_tx_key = self.tx_key.filter(|_| interleaved);
        self.prev_local_tx_kernel = interleaved && self.local_tx_kernel;
        self.answered = true;
        self.prev_tx_count = self.tx_count;
        self.tx_count = 0;
        let Some(exchange) = exchange else {
            // an interleaved packet that fails the checks: valid, but no sample
            self.last_interleaved = false;
            return SymTaken::NoSample;
        };
        self.last_interleaved = interleaved;
        if interleaved {
            self.interleaved_samples += 1;
        }
        SymTaken::Answer {
            cookie: self.cookie,
            exchange,
            interleaved,
        }
    }

    /// The sample an interleaved packet completes (its transmit field is when the peer's
    /// previous packet left, the one that arrived at `local_rx`), or `None` when the
    /// timestamps say a packet was missed.
    fn interleaved_exchange(
        &self,
        rec: NtpTimestamp,
        xmt: NtpTimestamp,
        poll: f64,
    ) -> Option<Exchange> {
        let local_tx = self.local_tx?;
        if !self.have_remote {
            return None;
        }
        // the peer sent its previous packet before ours reached it
        if secs(xmt, rec) <= 0.0 {
            return None;
        }
        // Two exchanges end at the peer's previous packet: our packet before it (which the
        // peer's previous receive field stamps) or our latest (stamped by this packet's
        // receive field, and sent after the peer's arrived). One whose transmit time is
        // the kernel's wins over one read in user space before the send (tens of µs off
        // on a loaded machine); between equals, the shorter span.
        let before = self
            .prev_local_tx
            .filter(|p| secs(*p, self.local_rx) >= 0.0);
        let x = match before {
            Some(p) if self.pair_before(p, local_tx) => Exchange {
                t1: p,
                t2: self.remote_rx,
                t3: xmt,
                t4: self.local_rx,
            },
            _ => Exchange {
                t1: local_tx,
                t2: rec,
                t3: xmt,
                t4: self.local_rx,
            },
        };
        // a delay beyond half the poll interval means the timestamps belong to different
        // rounds (a packet lost on the way that the counts could not see)
        let delay = secs(x.t1, x.t4) - secs(x.t2, x.t3);
        (delay.is_finite() && delay.abs() <= poll / 2.0).then_some(x)
    }

    /// Whether the interleaved sample pairs with our packet before the peer's previous one
    /// (sent at `before`) rather than with our latest (sent at `latest`).
    fn pair_before(&self, before: NtpTimestamp, latest: NtpTimestamp) -> bool {
        if self.prev_local_tx_kernel != self.local_tx_kernel {
            return self.prev_local_tx_kernel;
        }
        secs(before, self.local_rx) < secs(self.local_rx, latest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: f64) -> NtpTimestamp {
        NtpTimestamp((3_900_000_000u64 << 32) + (s * 4294967296.0) as u64)
    }

    fn field(p: &[u8; 48], at: usize) -> NtpTimestamp {
        NtpTimestamp::from_be_bytes(p[at..at + 8].try_into().unwrap())
    }

    /// When the kernel's transmit timestamp of a side's packet reaches the state.
    #[derive(Clone, Copy, PartialEq)]
    enum Stamps {
        /// Before anything else happens (the serving round read it at once).
        AtOnce,
        /// Only as the side sends its next packet, before building it (after the peer's
        /// answer came: a round that read its error queue late).
        BeforeNextSend,
        /// Only after the side's next packet went out.
        AfterNextSend,
    }

    /// One side of a symmetric pair as the engine and the daemon drive it: the engine's
    /// basic packet (origin = the peer's transmit field, receive = when it came).
    struct Side {
        st: SymState,
        /// Seconds this side's clock is ahead of the truth.
        clock: f64,
        /// Last packet from the peer: transmit field and arrival (the engine's echo).
        last: Option<(NtpTimestamp, NtpTimestamp)>,
        kinds: Vec<&'static str>,
        offsets: Vec<f64>,
        stamps: Stamps,
        key: u32,
        /// A kernel timestamp not yet handed over.
        pending: Option<(u32, NtpTimestamp)>,
    }

    impl Side {
        fn new(clock: f64) -> Self {
            Side::with_stamps(clock, Stamps::AtOnce)
        }

        fn with_stamps(clock: f64, stamps: Stamps) -> Self {
            Side {
                st: SymState {
                    enabled: true,
                    ..Default::default()
                },
                clock,
                last: None,
                kinds: Vec::new(),
                offsets: Vec::new(),
                stamps,
                key: 0,
                pending: None,
            }
        }

        fn hand_over(&mut self) {
            if let Some((key, at)) = self.pending.take() {
                self.st.kernel_transmitted(key, at);
            }
        }

        /// Build and send at true time `t`; the packet leaves 20 µs after the daemon's
        /// stamp (the send path), which only the kernel's timestamp sees.
        fn send(&mut self, t: f64) -> [u8; 48] {
            if self.stamps == Stamps::BeforeNextSend {
                self.hand_over();
            }
            let mut p = [0u8; 48];
            p[0] = 0x21; // v4, mode 1
            if let Some((x, r)) = self.last {
                p[24..32].copy_from_slice(&x.to_be_bytes());
                p[32..40].copy_from_slice(&r.to_be_bytes());
            }
            p[40..48].copy_from_slice(&ts(t + self.clock).to_be_bytes());
            self.st.prepare(&mut p);
            self.key += 1;
            self.st.transmitted(ts(t + self.clock), Some(self.key));
            if self.stamps == Stamps::AfterNextSend {
                self.hand_over();
            }
            self.pending = Some((self.key, ts(t + self.clock + 20e-6)));
            if self.stamps == Stamps::AtOnce {
                self.hand_over();
            }
            p
        }

        fn receive(&mut self, p: &[u8; 48], t: f64) {
            let rx = ts(t + self.clock);
            let got = self
                .st
                .take(field(p, 24), field(p, 32), field(p, 40), rx, 8.0);
            self.last = Some((field(p, 40), rx));
            match got {
                SymTaken::Answer {
                    exchange: x,
                    interleaved,
                    ..
                } => {
                    self.kinds.push(if interleaved { "x" } else { "b" });
                    let o = (secs(x.t1, x.t2) + secs(x.t4, x.t3)) / 2.0;
                    self.offsets.push(o);
                }
                SymTaken::AsIs | SymTaken::NoSample => self.kinds.push("-"),
            }
        }

        /// The errors (s) of the interleaved samples against the true offset.
        fn interleaved_errors(&self, truth: f64) -> Vec<f64> {
            let samples = self.kinds.iter().filter(|k| **k != "-");
            samples
                .zip(&self.offsets)
                .filter(|(k, _)| **k == "x")
                .map(|(_, o)| o - truth)
                .collect()
        }
    }

    #[test]
    fn the_kernel_s_transmit_time_replaces_the_one_read_before_the_send() {
        let mut s = SymState::new(true);
        s.transmitted(ts(1.0), Some(7));
        assert_eq!(s.tx_keys(), [Some(7), None]);
        // a stamp under another key (an older packet's) changes nothing
        s.kernel_transmitted(6, ts(0.5));
        assert_eq!((s.local_tx, s.local_tx_kernel), (Some(ts(1.0)), false));
        s.kernel_transmitted(7, ts(1.00002));
        assert_eq!((s.local_tx, s.local_tx_kernel), (Some(ts(1.00002)), true));
        // the pairing an interleaved packet kept (as take does) follows it; a later copy
        // replaces both
        (s.prev_local_tx, s.prev_tx_key) = (s.local_tx, s.tx_key);
        s.kernel_transmitted(7, ts(1.00003));
        assert_eq!(
            (s.local_tx, s.prev_local_tx),
            (Some(ts(1.00003)), Some(ts(1.00003)))
        );
        // the next packet: its own key; the old one's stamps still reach the pairing
        s.transmitted(ts(9.0), Some(8));
        assert_eq!(s.tx_keys(), [Some(8), Some(7)]);
        s.kernel_transmitted(7, ts(1.00004));
        assert_eq!(
            (s.local_tx, s.prev_local_tx, s.local_tx_kernel),
            (Some(ts(9.0)), Some(ts(1.00004)), false)
        );
        assert_eq!(SymState::new(false).tx_keys(), [None, None]);
    }

    /// A's packets' kernel stamps come late (`stamps`); B answers 6 s into A's 8 s poll,
    /// so the shorter interleaved pairing is A's latest packet, still without its stamp:
    /// A's samples pair with its packet before instead, whose stamp is in, and carry the
    /// true offset, where the user-space time would put them 10 µs off.
    fn late_stamps(stamps: Stamps) {
        let (mut a, mut b) = (Side::with_stamps(0.001, stamps), Side::new(0.0));
        for k in 0..8 {
            let t = 8.0 * k as f64;
            let p = a.send(t);
            b.receive(&p, t + 20e-6 + 50e-6);
            let q = b.send(t + 6.0);
            a.receive(&q, t + 6.0 + 20e-6 + 50e-6);
        }
        assert_eq!(a.kinds, ["b", "x", "x", "x", "x", "x", "x", "x"]);
        // the first interleaved sample has no earlier pairing (the exchange before was
        // basic): the user-space time, 10 µs off; every later one the kernel's
        let errors = a.interleaved_errors(-0.001);
        assert!((errors[0] - 10e-6).abs() < 1e-7, "{errors:?}");
        assert!(errors[1..].iter().all(|e| e.abs() < 1e-7), "{errors:?}");
    }

    #[test]
    fn a_stamp_missing_when_the_answer_comes_leaves_the_kernel_stamped_pairing() {
        late_stamps(Stamps::BeforeNextSend);
    }

    #[test]
    fn a_stamp_coming_after_the_next_send_still_reaches_the_pairing() {
        late_stamps(Stamps::AfterNextSend);
    }

    #[test]
    fn with_every_stamp_in_the_shorter_pairing_wins() {
        // B answers 2 s after A sends: the pairing with A's packet before that one spans
        // 2 s, with its latest 6 s; both kernel-stamped, so both sides are exact
        let (mut a, mut b) = (Side::new(0.001), Side::new(0.0));
        for k in 0..6 {
            let t = 8.0 * k as f64;
            let p = a.send(t);
            b.receive(&p, t + 70e-6);
            let q = b.send(t + 2.0);
            a.receive(&q, t + 2.0 + 70e-6);
        }
        for (side, truth) in [(&a, -0.001), (&b, 0.001)] {
            let errors = side.interleaved_errors(truth);
            assert!(errors.len() >= 4, "{:?}", side.kinds);
            assert!(errors.iter().all(|e| e.abs() < 1e-7), "{errors:?}");
        }
    }

    /// A ahead by 1 ms of B; 50 µs each way; each packet really leaves 20 µs after the
    /// daemon's stamp. A sends at 8k, B at 8k+4; B's packet at k == 3 is lost.
    #[test]
    fn a_pair_turns_interleaved_and_a_lost_packet_costs_one_exchange() {
        let (mut a, mut b) = (Side::new(0.001), Side::new(0.0));
        for k in 0..8 {
            let t = 8.0 * k as f64;
            let p = a.send(t);
            b.receive(&p, t + 20e-6 + 50e-6);
            let q = b.send(t + 4.0);
            if k != 3 {
                a.receive(&q, t + 4.0 + 20e-6 + 50e-6);
            }
        }
        // A's view: basic, then interleaved from the second exchange; the lost packet's
        // exchange is gone and the next two are basic (each side sent twice without an
        // answer, so neither may interleave), then interleaved again
        assert_eq!(
            a.kinds,
            ["b", "x", "x", "b", "b", "x", "x"],
            "{:?}",
            a.offsets
        );
        // B's view: A's first packet answers nothing; A's second is already interleaved but
        // B holds no valid packet of A's to pair it with (no sample, as chronyd); then
        // interleaved, until A's packet answering the lost one (basic rules as above)
        assert_eq!(
            b.kinds,
            ["-", "-", "x", "x", "-", "b", "x", "x"],
            "{:?}",
            b.offsets
        );
        // interleaved samples carry the real transmit times: the true offset (B is 1 ms
        // behind A, so A measures -1 ms); basic ones are 10 µs off (half the send path)
        for (side, sign) in [(&a, -1.0), (&b, 1.0)] {
            for (k, o) in side.kinds.iter().filter(|k| **k != "-").zip(&side.offsets) {
                let err = o - sign * 0.001;
                if *k == "x" {
                    assert!(err.abs() < 1e-7, "{k} {o}");
                } else {
                    assert!((err.abs() - 10e-6).abs() < 1e-7, "{k} {o}");
                }
            }
        }
    }

    #[test]
    fn client_mode_packets_and_a_disabled_state_are_left_alone() {
        let mut s = SymState::default();
        let mut p = [0u8; 48];
        p[0] = 0x21;
        s.prepare(&mut p);
        assert_eq!(
            s.take(ts(1.0), ts(2.0), ts(3.0), ts(4.0), 8.0),
            SymTaken::AsIs
        );
        let mut s = SymState::new(true);
        assert_eq!(
            s.take(ts(1.0), ts(2.0), ts(3.0), ts(4.0), 8.0),
            SymTaken::AsIs
        );
        assert!(s.last_heard.is_none(), "a stranger's origin is not echoed");
        let mut s = SymState {
            enabled: true,
            ..Default::default()
        };
        let mut c = [0u8; 48];
        c[0] = 0x23;
        c[40..48].copy_from_slice(&ts(5.0).to_be_bytes());
        s.prepare(&mut c);
        assert_eq!(
            s.tx_count, 0,
            "a client-mode poll is not a symmetric packet"
        );
    }
}
