//! Interleaved client/server mode (RFC 9769), as chronyd speaks it on the wire.
//!
//! A reply in basic mode can only carry a transmit timestamp read before it was sent. In
//! interleaved mode the server hands out the kernel's transmit time of its *previous* reply
//! to that client, and the client computes the previous exchange's sample:
//!
//! - the server marks the receive timestamps it sends (lowest bit 1) and clears the bit in
//!   its transmit timestamps, so a request whose origin has the bit set echoes one of its
//!   receive timestamps;
//! - a client asks for interleaved mode by sending, as origin, the receive timestamp of the
//!   last reply it got and, as receive timestamp, when that reply arrived (which differs
//!   from the request's own transmit timestamp);
//! - the server looks the origin up in a bounded table of (receive timestamp → kernel
//!   transmit time of the reply that carried it), answers with that transmit time, the
//!   request's receive field as origin, and marks the entry used (one interleaved answer
//!   per timestamp); not found → a basic reply, remembered for next time.
//!
//! A lost or reordered packet leaves the client without a matching state: that exchange is
//! basic (or dropped) and the next one interleaved again.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault};
use std::sync::Mutex;

use crate::engine::Exchange;
use crate::wire::time::NtpTimestamp;

/// Whether a request asks for an interleaved reply (chronyd's test): NTPv4, an origin with
/// the receive-timestamp mark, and a receive timestamp unlike its transmit timestamp.
pub fn wants_interleaved(req: &[u8]) -> bool {
    req.len() >= 48 && (req[0] >> 3) & 7 == 4 && req[31] & 1 == 1 && req[32..40] != req[40..48]
}

pub fn origin(req: &[u8]) -> u64 {
    u64::from_be_bytes(req[24..32].try_into().unwrap_or([0; 8]))
}

/// The server's memory: kernel transmit times of replies to clients that use interleaved
/// mode, by the receive timestamp the reply carried. Bounded: the oldest entries go first,
/// so a stranger sending any number of requests costs at most `capacity` entries.
pub struct ServerTable {
    shards: Vec<Mutex<Shard>>,
    capacity: usize,
}

struct Shard {
    map: HashMap<u64, Entry, BuildHasherDefault<super::mru::AddrHasher>>,
    order: VecDeque<u64>,
    cap: usize,
}

#[derive(Clone, Copy)]
struct Entry {
    tx: NtpTimestamp,
    /// Already handed out once (a second interleaved reply to the same timestamp would let
    /// a client match it to the wrong exchange).
    used: bool,
}

impl ServerTable {
    /// At most `capacity` entries in all (at least one per shard).
    pub fn new(capacity: usize, shards: usize) -> Self {
        let shards = shards.max(1);
        let per = (capacity / shards).max(1);
        ServerTable {
            shards: (0..shards)
                .map(|_| {
                    Mutex::new(Shard {
                        map: HashMap::default(),
                        order: VecDeque::new(),
                        cap: per,
                    })
                })
                .collect(),
            capacity: per * shards,
        }
    }

    fn shard(&self, rx: u64) -> std::sync::MutexGuard<'_, Shard> {
        let h = BuildHasherDefault::<super::mru::AddrHasher>::default().hash_one(rx);
        let i = (h >> 32) as usize % self.shards.len();
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).map.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The transmit time of the reply that carried receive timestamp `rx`, once.
    pub fn take(&self, rx: u64) -> Option<NtpTimestamp> {
        let mut s = self.shard(rx);
        let e = s.map.get_mut(&rx)?;
        if e.used {
            return None;
        }
        e.used = true;
        Some(e.tx)
    }

    /// Remember (or correct, when the kernel's time arrives) the transmit time of the reply
    /// carrying receive timestamp `rx`.
    pub fn save(&self, rx: u64, tx: NtpTimestamp) {
        let mut s = self.shard(rx);
        if let Some(e) = s.map.get_mut(&rx) {
            e.tx = tx;
            return;
        }
        while s.map.len() >= s.cap {
            let Some(old) = s.order.pop_front() else {
                break;
            };
            s.map.remove(&old);
        }
        s.map.insert(rx, Entry { tx, used: false });
        s.order.push_back(rx);
    }

    /// Only corrects an entry still there (a late kernel timestamp must not re-add one).
    pub fn update(&self, rx: u64, tx: NtpTimestamp) {
        if let Some(e) = self.shard(rx).map.get_mut(&rx) {
            e.tx = tx;
        }
    }
}

/// What a client association keeps between exchanges.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientState {
    /// `server … xleave`: ask for interleaved replies.
    pub enabled: bool,
    /// The request last sent: its transmit timestamp (the engine's cookie), the kernel's
    /// transmit time when known, and the origin/receive fields it carried.
    pub sent: Option<Sent>,
    /// The exchange whose reply came last: our transmit time (T1), the server's receive
    /// timestamp (T2), and when the reply arrived (T4).
    pub last: Option<(NtpTimestamp, NtpTimestamp, NtpTimestamp)>,
    /// Samples taken in interleaved mode, and whether the latest one was.
    pub interleaved_samples: u64,
    pub last_interleaved: bool,
    /// The four timestamps of the latest sample (for rawstats: what the offset was
    /// computed from, kernel times included).
    pub last_sample: Option<Exchange>,
    /// The latest packet gave no sample and goes unlogged in rawstats: a packet of an
    /// interleaved symmetric peer that completes no exchange, as NTPsec logs no packet
    /// that fails its origin checks (its fields name another exchange, so a line would
    /// read as a sample that never was).
    pub no_rawstats: bool,
    /// `peer … xleave`: the symmetric association's state (see `xleave_sym`).
    pub sym: super::xleave_sym::SymState,
}

#[derive(Clone, Copy, Debug)]
pub struct Sent {
    pub cookie: NtpTimestamp,
    /// The user-space time read just before sending (T1 without a kernel timestamp).
    pub before: NtpTimestamp,
    pub kernel_tx: Option<NtpTimestamp>,
    /// The receive field the request carried (an interleaved reply echoes it as origin).
    pub echoed_rx: Option<NtpTimestamp>,
}

/// How a reply is to be taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taken {
    /// Answers our request in basic mode: T1 is our transmit time of this request.
    Basic(Exchange),
    /// Interleaved: the previous exchange completed by this reply's transmit timestamp.
    Interleaved(Exchange),
    /// Not an answer to our latest request: left to the engine to drop.
    Neither,
}

impl ClientState {
    /// Fill in a request's origin and receive fields for interleaved mode (when we have an
    /// exchange to build on); `req` is the engine's 48-byte poll.
    pub fn prepare(&mut self, req: &mut [u8], before: NtpTimestamp) {
        let cookie = NtpTimestamp::from_be_bytes(req[40..48].try_into().unwrap_or([0; 8]));
        let mut echoed_rx = None;
        if self.enabled {
            if let Some((_, t2, t4)) = self.last {
                // the receive field must differ from the transmit one (the server's test)
                if t4 != cookie {
                    req[24..32].copy_from_slice(&t2.to_be_bytes());
                    req[32..40].copy_from_slice(&t4.to_be_bytes());
                    echoed_rx = Some(t4);
                }
            }
        }
        self.sent = Some(Sent {
            cookie,
            before,
            kernel_tx: None,
            echoed_rx,
        });
    }

    /// A kernel transmit time of the request with this cookie arrived.
    pub fn kernel_tx(&mut self, cookie: NtpTimestamp, at: NtpTimestamp) {
        if let Some(s) = self.sent.as_mut().filter(|s| s.cookie == cookie) {
            // the latest stamp of the datagram (see txstamp::Pending)
            s.kernel_tx = match s.kernel_tx {
                Some(k) if (k - at).to_seconds() > 0.0 => Some(k),
                _ => Some(at),
            };
        }
    }

    /// Classify a reply (origin `org`, receive `rec`, transmit `xmt`) that arrived at `t4`,
    /// and move the state on when it answers our latest request.
    pub fn take(
        &mut self,
        org: NtpTimestamp,
        rec: NtpTimestamp,
        xmt: NtpTimestamp,
        t4: NtpTimestamp,
    ) -> Taken {
        self.last_sample = None;
        let Some(sent) = self.sent else {
            return Taken::Neither;
        };
        let t1 = sent.kernel_tx.unwrap_or(sent.before);
        let taken = if org == sent.cookie && !org.is_zero() {
            Taken::Basic(Exchange {
                t1,
                t2: rec,
                t3: xmt,
                t4,
            })
        } else if self.enabled && sent.echoed_rx.is_some_and(|e| e == org && !e.is_zero()) {
            match self.last {
                Some((p1, p2, p4)) if !xmt.is_zero() => Taken::Interleaved(Exchange {
                    t1: p1,
                    t2: p2,
                    t3: xmt,
                    t4: p4,
                }),
                _ => Taken::Neither,
            }
        } else {
            return Taken::Neither;
        };
        // one reply per request: a duplicate finds no state to match
        self.sent = None;
        self.last = Some((t1, rec, t4));
        self.last_interleaved = matches!(taken, Taken::Interleaved(_));
        self.last_sample = match taken {
            Taken::Basic(x) | Taken::Interleaved(x) => Some(x),
            Taken::Neither => None,
        };
        if self.last_interleaved {
            self.interleaved_samples += 1;
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: f64) -> NtpTimestamp {
        NtpTimestamp((3_900_000_000u64 << 32) + (s * 4294967296.0) as u64)
    }

    #[test]
    fn the_table_is_bounded_and_hands_out_each_timestamp_once() {
        let t = ServerTable::new(8, 2);
        for k in 0..1000u64 {
            t.save(k * 2 + 1, ts(k as f64));
        }
        assert!(t.len() <= t.capacity() && t.capacity() == 8, "{}", t.len());
        assert_eq!(t.take(1), None, "the oldest went first");
        let recent = 999 * 2 + 1;
        assert_eq!(t.take(recent), Some(ts(999.0)));
        assert_eq!(t.take(recent), None, "once only");
        t.update(5, ts(1.0));
        assert_eq!(t.take(5), None, "a late update does not re-add an entry");
    }

    /// A client and the server table talking through the wire fields.
    #[test]
    fn exchanges_turn_interleaved_and_a_lost_reply_falls_back_to_basic() {
        let table = ServerTable::new(64, 1);
        let mut c = ClientState {
            enabled: true,
            ..Default::default()
        };
        // the server's clock runs 1 ms ahead; 48 µs each way; the reply leaves 35 µs after
        // the request arrived, 5 µs after the daemon's stamp
        let mut results = Vec::new();
        let exchange = |c: &mut ClientState, k: u32, lose_reply: bool| {
            let t = 16.0 * k as f64;
            let mut req = [0u8; 48];
            req[0] = 0x23;
            req[40..48].copy_from_slice(&ts(t).to_be_bytes());
            c.prepare(&mut req, ts(t));
            c.kernel_tx(ts(t), ts(t + 2e-6));
            // server
            let rx = NtpTimestamp(ts(t + 0.001 + 50e-6).0 | 1);
            let daemon_tx = NtpTimestamp(ts(t + 0.001 + 80e-6).0 & !1);
            let kernel_tx = NtpTimestamp(ts(t + 0.001 + 85e-6).0 & !1);
            let (org, xmt) = match wants_interleaved(&req).then(|| table.take(origin(&req))) {
                Some(Some(prev_tx)) => (
                    NtpTimestamp::from_be_bytes(req[32..40].try_into().unwrap()),
                    prev_tx,
                ),
                _ => (ts(t), daemon_tx),
            };
            if wants_interleaved(&req) {
                table.save(rx.0, daemon_tx);
                table.update(rx.0, kernel_tx);
            }
            if lose_reply {
                return None;
            }
            Some(c.take(org, rx, xmt, ts(t + 133e-6)))
        };
        for k in 0..6 {
            results.push(exchange(&mut c, k, k == 3));
        }
        let kind = |r: &Option<Taken>| match r {
            Some(Taken::Basic(_)) => "b",
            Some(Taken::Interleaved(_)) => "x",
            Some(Taken::Neither) => "-",
            None => "lost",
        };
        let kinds: Vec<&str> = results.iter().map(kind).collect();
        // as with chronyd: the first request has no origin, the second is remembered, the
        // third is the first interleaved; the lost reply used up its timestamp
        assert_eq!(kinds, ["b", "b", "x", "lost", "b", "x"]);
        for r in results.iter().flatten() {
            let (Taken::Basic(x) | Taken::Interleaved(x)) = r else {
                continue;
            };
            let offset = ((x.t2 - x.t1).to_seconds() + (x.t3 - x.t4).to_seconds()) / 2.0;
            if matches!(r, Taken::Interleaved(_)) {
                // kernel times on both sides: the true offset within rounding
                assert!((offset - 0.001).abs() < 1e-8, "{offset}");
            } else {
                // basic: the daemon's transmit stamp is 5 µs early
                assert!((offset - 0.001 + 2.5e-6).abs() < 1e-8, "{offset}");
            }
        }
        assert_eq!(c.interleaved_samples, 2);
        // rawstats logs the timestamps the last sample was computed from
        let Some(Some(Taken::Interleaved(x))) = results.last() else {
            panic!("{kinds:?}");
        };
        assert_eq!(c.last_sample, Some(*x));
    }
}
