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
//! time only now arrives) against one of our last two packets, whichever lies closer in
//! time, so the interval a frequency error acts on is the shorter.
//!
//! We send in interleaved mode only as the first packet after a valid one from the peer,
//! and only when exactly one of ours preceded that one: otherwise the peer could pair our
//! transmit time with the wrong packet. A lost or reordered packet therefore leaves the
//! next exchange basic, and the one after interleaved again.

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
        }
    }

    /// The key our latest packet's kernel transmit timestamp comes under, if asked for.
    pub fn tx_key(&self) -> Option<u32> {
        self.tx_key.filter(|_| self.enabled)
    }

    /// The kernel's transmit timestamp of our packet sent under `key`: when that is still
    /// our latest, it replaces the time read before the send, for the transmit field of
    /// our next interleaved packet and for our own samples (the same time on both sides of
    /// the pair). A later copy replaces an earlier one (the latest device to stamp it).
    pub fn kernel_transmitted(&mut self, key: u32, at: NtpTimestamp) {
        if self.tx_key != Some(key) {
            return;
        }
        let Some(old) = self.local_tx else { return };
        self.local_tx = Some(at);
        // the interleaved pairing kept it too (set when the peer's packet came)
        if self.prev_local_tx == Some(old) {
            self.prev_local_tx = Some(at);
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
        // receive field, and sent after the peer's arrived). The shorter span wins.
        let before = self
            .prev_local_tx
            .map(|p| secs(p, self.local_rx))
            .filter(|d| *d >= 0.0);
        let after = secs(self.local_rx, local_tx);
        let x = match (before, self.prev_local_tx) {
            (Some(b), Some(p)) if b < after => Exchange {
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
    }

    impl Side {
        fn new(clock: f64) -> Self {
            Side {
                st: SymState {
                    enabled: true,
                    ..Default::default()
                },
                clock,
                last: None,
                kinds: Vec::new(),
                offsets: Vec::new(),
            }
        }

        /// Build and send at true time `t`; the packet leaves `late` s after the daemon's
        /// stamp (the send path, which only the transmit time read afterwards sees).
        fn send(&mut self, t: f64) -> [u8; 48] {
            let mut p = [0u8; 48];
            p[0] = 0x21; // v4, mode 1
            if let Some((x, r)) = self.last {
                p[24..32].copy_from_slice(&x.to_be_bytes());
                p[32..40].copy_from_slice(&r.to_be_bytes());
            }
            p[40..48].copy_from_slice(&ts(t + self.clock).to_be_bytes());
            self.st.prepare(&mut p);
            self.st.transmitted(ts(t + self.clock + 20e-6), None);
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
    }

    #[test]
    fn the_kernel_s_transmit_time_replaces_the_one_read_before_the_send() {
        let mut s = SymState::new(true);
        s.transmitted(ts(1.0), Some(7));
        assert_eq!(s.tx_key(), Some(7));
        // a stamp under another key (an older packet's) changes nothing
        s.kernel_transmitted(6, ts(0.5));
        assert_eq!(s.local_tx, Some(ts(1.0)));
        s.kernel_transmitted(7, ts(1.00002));
        assert_eq!(s.local_tx, Some(ts(1.00002)));
        // the pairing an interleaved packet kept follows it; a later copy replaces both
        s.prev_local_tx = s.local_tx;
        s.kernel_transmitted(7, ts(1.00003));
        assert_eq!(
            (s.local_tx, s.prev_local_tx),
            (Some(ts(1.00003)), Some(ts(1.00003)))
        );
        // the next packet: its own key, and the old one's stamps no longer apply
        s.transmitted(ts(9.0), Some(8));
        s.kernel_transmitted(7, ts(1.00004));
        assert_eq!(
            (s.local_tx, s.prev_local_tx),
            (Some(ts(9.0)), Some(ts(1.00003)))
        );
        assert_eq!(SymState::new(false).tx_key(), None);
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
