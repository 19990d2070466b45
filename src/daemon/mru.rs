//! The MRU (most recently used) table of sources and ntp.org's rate control.
//!
//! One entry per source address (not per port: a cron'ed ntpdate must not evade `limited`
//! by changing ports), kept in recency order in a slab-backed doubly linked list so that
//! lookup, touch and eviction are all O(1). The table has a hard entry cap derived from a
//! memory budget; when full, the least recently used entry is recycled.
//!
//! Rate control follows ntp.org's `ntp_monitor()`: every packet adds `2^average` seconds of
//! "headway" to a per-source leaky bucket that drains one second per second. A packet is
//! within limits when it came at least `minimum` seconds (with 1 s grace) after the last one
//! and the bucket is below `8 · 2^average`. Over the limit, the bucket is pushed above the
//! threshold once (that packet may get a KoD); further packets while it stays above only
//! see `limited` — so KoDs are themselves rate limited to one per average headway.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

use super::access::{RES_KOD, RES_LIMITED};
use crate::wire::time::NtpTimestamp;

/// `discard average` (log2 s) and `discard minimum` (s), ntp.org defaults 3 and 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Discard {
    pub average_log2: u8,
    pub minimum_secs: u32,
}

impl Default for Discard {
    fn default() -> Self {
        Discard {
            average_log2: 3,
            minimum_secs: 2,
        }
    }
}

/// One source as ntpq's `mrulist` shows it.
#[derive(Clone, Copy, Debug)]
pub struct MruEntry {
    pub addr: IpAddr,
    pub port: u16,
    pub first: NtpTimestamp,
    pub last: NtpTimestamp,
    pub count: u64,
    /// Restriction flags after rate control (LIMITED/KOD lit only if the last packet tripped it).
    pub flags: u32,
    pub mode: u8,
    pub version: u8,
    leak: i64,
    prev: u32,
    next: u32,
}

const NIL: u32 = u32::MAX;

/// Approximate bytes one entry costs (slab slot + hash map slot), for the memory budget.
pub const ENTRY_COST: usize = std::mem::size_of::<MruEntry>() + 40;

/// A cheap hasher for addresses (SipHash is needlessly slow on the serving fast path; the
/// table is bounded, so collision flooding can only slow one shard, not grow memory).
#[derive(Default)]
pub struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(b))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
}

pub struct Mru {
    index: HashMap<IpAddr, u32, BuildHasherDefault<AddrHasher>>,
    slots: Vec<MruEntry>,
    head: u32,
    tail: u32,
    cap: usize,
    discard: Discard,
    /// Allocation counters for `ntpq -c monstats` (ntpd's `mru_exists/new/recyclefull`).
    pub stats: MruStats,
}

/// What the table did with each packet, and its high-water mark (`monstats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MruStats {
    /// The source already had an entry.
    pub exists: u64,
    /// A free slot was taken.
    pub new: u64,
    /// The table was full: the least recently heard source was dropped for this one.
    pub recycled_full: u64,
    /// The most entries ever held at once.
    pub deepest: usize,
}

/// Whole seconds between two timestamps, rounded as ntpd does (add half a second).
fn interval_secs(later: NtpTimestamp, earlier: NtpTimestamp) -> i64 {
    let d = later.0.wrapping_sub(earlier.0) as i64;
    (d + (1 << 31)) >> 32
}

impl Mru {
    /// A table holding at most `max_entries` sources (at least 1).
    pub fn new(max_entries: usize, discard: Discard) -> Self {
        let cap = max_entries.max(1);
        Mru {
            index: HashMap::with_capacity_and_hasher(cap.min(4096), Default::default()),
            slots: Vec::with_capacity(cap.min(4096)),
            head: NIL,
            tail: NIL,
            cap,
            discard,
            stats: MruStats::default(),
        }
    }

    /// A table sized by a memory budget in bytes.
    pub fn with_memory(bytes: usize, discard: Discard) -> Self {
        Self::new(bytes / ENTRY_COST, discard)
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.cap
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next) = (self.slots[i as usize].prev, self.slots[i as usize].next);
        if prev == NIL {
            self.head = next;
        } else {
            self.slots[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.slots[next as usize].prev = prev;
        }
    }

    fn push_front(&mut self, i: u32) {
        self.slots[i as usize].prev = NIL;
        self.slots[i as usize].next = self.head;
        if self.head != NIL {
            self.slots[self.head as usize].prev = i;
        }
        self.head = i;
        if self.tail == NIL {
            self.tail = i;
        }
    }

    /// Record a packet from `addr` received at `now` and apply rate control: returns
    /// `flags` with LIMITED and KOD cleared unless this packet exceeded the limits.
    pub fn monitor(
        &mut self,
        addr: IpAddr,
        port: u16,
        mode: u8,
        version: u8,
        now: NtpTimestamp,
        flags: u32,
    ) -> u32 {
        if let Some(&i) = self.index.get(&addr) {
            self.stats.exists += 1;
            let head_s = 1i64 << self.discard.average_log2;
            let limit = 8 * head_s;
            let minimum = self.discard.minimum_secs as i64;
            let e = &mut self.slots[i as usize];
            let interval = interval_secs(now, e.last);
            e.last = now;
            e.port = port;
            e.count += 1;
            e.mode = mode;
            e.version = version;
            e.leak = (e.leak - interval).max(0);
            let leak = e.leak + head_s;
            let mut result = flags;
            if interval + 1 >= minimum && leak < limit {
                e.leak = leak - 2;
                result &= !(RES_LIMITED | RES_KOD);
            } else if e.leak < limit {
                e.leak = limit + head_s;
            } else {
                result &= !RES_KOD;
            }
            e.flags = result;
            self.unlink(i);
            self.push_front(i);
            return result;
        }
        let entry = MruEntry {
            addr,
            port,
            first: now,
            last: now,
            count: 1,
            flags: flags & !(RES_LIMITED | RES_KOD),
            mode,
            version,
            leak: 0,
            prev: NIL,
            next: NIL,
        };
        let i = if self.slots.len() < self.cap {
            self.stats.new += 1;
            self.slots.push(entry);
            self.stats.deepest = self.stats.deepest.max(self.slots.len());
            (self.slots.len() - 1) as u32
        } else {
            self.stats.recycled_full += 1;
            let victim = self.tail;
            self.unlink(victim);
            let old = self.slots[victim as usize].addr;
            self.index.remove(&old);
            self.slots[victim as usize] = entry;
            victim
        };
        self.index.insert(addr, i);
        self.push_front(i);
        entry.flags
    }

    /// When the least recently heard source was last heard from.
    pub fn oldest(&self) -> Option<NtpTimestamp> {
        (self.tail != NIL).then(|| self.slots[self.tail as usize].last)
    }

    /// Entries from the most to the least recently heard.
    pub fn iter(&self) -> impl Iterator<Item = &MruEntry> {
        let mut i = self.head;
        std::iter::from_fn(move || {
            if i == NIL {
                return None;
            }
            let e = &self.slots[i as usize];
            i = e.next;
            Some(e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: f64) -> NtpTimestamp {
        NtpTimestamp((secs * 4294967296.0) as u64 + (3_900_000_000u64 << 32))
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    const LK: u32 = RES_LIMITED | RES_KOD;

    #[test]
    fn polite_clients_are_never_limited() {
        let mut m = Mru::new(10, Discard::default());
        for k in 0..100 {
            let f = m.monitor(ip("10.0.0.1"), 123, 3, 4, at(k as f64 * 16.0), LK);
            assert_eq!(f, 0, "packet {k}");
        }
    }

    #[test]
    fn a_flood_trips_limited_and_kods_are_rate_limited() {
        let mut m = Mru::new(10, Discard::default());
        let mut kods = 0;
        let mut limited = 0;
        // one packet every 0.1 s for 100 s
        for k in 0..1000 {
            let f = m.monitor(ip("10.0.0.2"), 40000, 3, 4, at(k as f64 * 0.1), LK);
            if f & RES_LIMITED != 0 {
                limited += 1;
                if f & RES_KOD != 0 {
                    kods += 1;
                }
            }
        }
        assert!(limited > 950, "limited {limited}");
        // ntpd lets at most one KoD through per refill of the bucket
        assert!((1..=20).contains(&kods), "kods {kods}");
        // the first packet is always answered normally
        let mut m = Mru::new(10, Discard::default());
        assert_eq!(m.monitor(ip("10.0.0.3"), 1, 3, 4, at(0.0), LK), 0);
        // the second, 0.1 s later, is under the 2 s minimum
        assert_eq!(m.monitor(ip("10.0.0.3"), 1, 3, 4, at(0.1), LK), LK);
    }

    #[test]
    fn the_table_is_capped_and_recycles_the_least_recent() {
        let mut m = Mru::new(3, Discard::default());
        for (k, a) in ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.1", "10.0.0.4"]
            .iter()
            .enumerate()
        {
            m.monitor(ip(a), 123, 3, 4, at(k as f64), 0);
        }
        assert_eq!(m.len(), 3);
        let order: Vec<IpAddr> = m.iter().map(|e| e.addr).collect();
        assert_eq!(order, [ip("10.0.0.4"), ip("10.0.0.1"), ip("10.0.0.3")]);
        assert_eq!(m.iter().nth(1).unwrap().count, 2);
        let expected = MruStats {
            exists: 1,
            new: 3,
            recycled_full: 1,
            deepest: 3,
        };
        assert_eq!(m.stats, expected);
        assert_eq!(m.oldest(), Some(at(2.0)));
    }
}
