//! Basic-mode transmit timestamps that say when the reply left, not when it was written.
//!
//! A basic-mode reply carries its own transmit timestamp (T3), so the server can only write
//! a time it read before handing the reply to the kernel; the kernel sends it some
//! microseconds later, and every client sees half that latency as offset error (on the
//! namespace LAN of bench/xleave.sh ~10–13 µs, i.e. ~−6 µs for every basic client of
//! chronyd, NTPsec and us alike). Interleaved mode corrects it for the clients that ask;
//! this module corrects it for everyone else by predicting the latency:
//!
//! - **Probes.** The serving socket asks the kernel for the transmit timestamp of a sample
//!   of basic replies, at most one per interface, idleness class (below) and socket every
//!   [`PROBE_INTERVAL_MS`] ms, through the machinery interleaved mode uses anyway
//!   (txstamp.rs). A probe's latency = its kernel transmit timestamp (the latest copy: see
//!   `txstamp::Pending`) − the time the flush read for it.
//! - **Idleness.** The latency depends mostly on how long the serving thread slept before
//!   the request came: measured here, 2.8 µs median when requests come every 0.1–0.5 ms,
//!   3.6 µs at 1 ms, 5.5 µs at 2–5 ms, 9 µs at 10 ms, 10–12 µs from 30 ms on (caches and
//!   power states of an idle CPU). So samples are kept per class of the time since the
//!   previous request (powers of two from 122 µs to 31 ms), each with its own estimate.
//! - **Estimate.** The median of a class's last [`WINDOW`] samples not older than
//!   [`STALE_SECS`], once it has [`MIN_SAMPLES`] (the distribution is a floor plus
//!   scheduling tails; the median minimises the mean |error| of T3 and ignores the tails),
//!   clamped to 0..[`MAX_LEAD_NS`]. A class without its own estimate borrows its nearest
//!   neighbour's; an interface with none gets no lead (today's timestamps). Samples over
//!   1 ms (the thread preempted between the read and the send) are not kept.
//! - A datagram later in a sendmmsg batch leaves later (on the veth LAN 5–19 µs per
//!   position under a flood); that is not modelled: a flood's replies all get the
//!   estimate of the first position.
//!
//! No kernel transmit timestamps → no probe ever comes back → no lead: nothing changes.

use crate::wire::time::{NtpDuration, NtpTimestamp};

use super::netio::LocalAddr;

/// Samples kept per interface and idleness class.
pub const WINDOW: usize = 16;
/// Samples a class needs before it predicts.
pub const MIN_SAMPLES: usize = 5;
/// Samples older than this are forgotten.
pub const STALE_SECS: u32 = 3600;
/// The largest lead ever added to a transmit timestamp.
pub const MAX_LEAD_NS: i64 = 100_000;
/// A sample above this is a preemption, not a send latency.
const MAX_SAMPLE_NS: i64 = 1_000_000;
/// At most one probe per interface, class and socket this often.
pub const PROBE_INTERVAL_MS: i64 = 100;
/// Idleness classes: < 2^19 NTP units (122 µs) since the previous request, then one per
/// power of two up to ≥ 2^27 units (31 ms).
pub const CLASSES: usize = 10;
/// Interfaces remembered per socket (a wildcard socket answers on all of them).
const LINKS: usize = 8;
/// Probes waiting for their kernel timestamps.
const IN_FLIGHT: usize = 16;

fn class_of(gap: NtpDuration) -> usize {
    let units = gap.0.max(0) as u64 >> 19;
    ((64 - units.leading_zeros()) as usize).min(CLASSES - 1)
}

/// One interface's and class's recent latencies (ns) and when each was taken (NTP seconds).
#[derive(Clone, Copy, Default)]
struct Window {
    lat: [i32; WINDOW],
    at: [u32; WINDOW],
    len: usize,
    next: usize,
}

impl Window {
    fn add(&mut self, ns: i32, at: u32) {
        self.lat[self.next] = ns;
        self.at[self.next] = at;
        self.next = (self.next + 1) % WINDOW;
        self.len = (self.len + 1).min(WINDOW);
    }

    /// The median of the samples younger than STALE_SECS at `now`, if there are enough.
    fn estimate(&self, now: u32) -> Option<i64> {
        let mut fresh = [0i32; WINDOW];
        let mut n = 0;
        for k in 0..self.len {
            if now.wrapping_sub(self.at[k]) <= STALE_SECS {
                fresh[n] = self.lat[k];
                n += 1;
            }
        }
        if n < MIN_SAMPLES {
            return None;
        }
        let fresh = &mut fresh[..n];
        fresh.sort_unstable();
        let m = if n % 2 == 1 {
            i64::from(fresh[n / 2])
        } else {
            (i64::from(fresh[n / 2 - 1]) + i64::from(fresh[n / 2])) / 2
        };
        Some(m.clamp(0, MAX_LEAD_NS))
    }
}

struct Link {
    ifindex: u32,
    windows: [Window; CLASSES],
    /// When each class was last probed.
    probed: [Option<NtpTimestamp>; CLASSES],
    /// What each class adds to a transmit timestamp (NTP units; own or borrowed estimate).
    lead: [u64; CLASSES],
}

impl Link {
    fn new(ifindex: u32) -> Self {
        Link {
            ifindex,
            windows: [Window::default(); CLASSES],
            probed: [None; CLASSES],
            lead: [0; CLASSES],
        }
    }

    /// Recompute the leads after a class got a sample; returns the class's own estimate.
    fn relearn(&mut self, class: usize, now: u32) -> Option<i64> {
        let own: [Option<i64>; CLASSES] = std::array::from_fn(|c| self.windows[c].estimate(now));
        for c in 0..CLASSES {
            // nearest class with an estimate, the idler one first on a tie
            let found = (0..CLASSES).find_map(|d| {
                [c + d, c.wrapping_sub(d)]
                    .into_iter()
                    .find_map(|k| own.get(k).copied().flatten())
            });
            self.lead[c] = found.map_or(0, |ns| NtpDuration::from_nanos(ns).0 as u64);
        }
        own[class]
    }
}

/// A probe on its way: which interface and class, the time read before it was sent, and
/// the latest kernel timestamp that came back for it.
struct InFlight {
    seq: u32,
    link: usize,
    class: usize,
    read: NtpTimestamp,
    latest: Option<NtpTimestamp>,
}

/// One serving socket's predictor (owned by its `server::Round`: no locking).
#[derive(Default)]
pub struct Predictor {
    links: Vec<Link>,
    in_flight: Vec<InFlight>,
    next_seq: u32,
    /// Receive time of the previous request answered in basic mode.
    prev_rx: Option<NtpTimestamp>,
}

/// What to do with one basic reply: the lead to add to its transmit timestamp (NTP units),
/// and whether to probe it (then [`Predictor::sent`] once it is sent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub lead: u64,
    pub probe: Option<Target>,
}

/// The interface and class a probe measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    link: usize,
    class: usize,
}

/// The key a probe's kernel timestamps come back under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe(u32);

/// A probe's result, for the counters: the class's estimate now (ns), if it has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Learnt {
    pub estimate_ns: Option<i64>,
}

impl Predictor {
    pub fn new() -> Self {
        Self::default()
    }

    fn link(&mut self, local: Option<LocalAddr>) -> Option<usize> {
        let ifindex = local.map_or(0, |l| l.ifindex);
        if let Some(i) = self.links.iter().position(|l| l.ifindex == ifindex) {
            return Some(i);
        }
        (self.links.len() < LINKS).then(|| {
            self.links.push(Link::new(ifindex));
            self.links.len() - 1
        })
    }

    /// A basic reply to a request received at `rx` on `local`.
    pub fn plan(&mut self, local: Option<LocalAddr>, rx: NtpTimestamp) -> Plan {
        let gap = self.prev_rx.map_or(NtpDuration(i64::MAX), |p| rx - p);
        self.prev_rx = Some(rx);
        let Some(link) = self.link(local) else {
            return Plan::default();
        };
        let class = class_of(gap);
        let l = &mut self.links[link];
        let interval = NtpDuration::from_nanos(PROBE_INTERVAL_MS * 1_000_000);
        let due = l.probed[class].is_none_or(|t| (rx - t).0 >= interval.0 || (rx - t).0 < 0);
        if due {
            l.probed[class] = Some(rx);
        }
        Plan {
            lead: l.lead[class],
            probe: due.then_some(Target { link, class }),
        }
    }

    /// The lead for a reply stamped outside the batch (authenticated replies: no probe).
    pub fn lead(&mut self, local: Option<LocalAddr>, rx: NtpTimestamp) -> u64 {
        let gap = self.prev_rx.map_or(NtpDuration(i64::MAX), |p| rx - p);
        match self.link(local) {
            Some(link) => self.links[link].lead[class_of(gap)],
            None => 0,
        }
    }

    /// The probe went to the kernel; `read` is the time the flush read before sending it.
    pub fn sent(&mut self, target: Target, read: NtpTimestamp) -> Probe {
        if self.in_flight.len() == IN_FLIGHT {
            self.in_flight.remove(0);
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.in_flight.push(InFlight {
            seq,
            link: target.link,
            class: target.class,
            read,
            latest: None,
        });
        Probe(seq)
    }

    /// A kernel transmit timestamp of a probe (a datagram can be stamped more than once on
    /// its way out; the latest counts).
    pub fn stamped(&mut self, probe: Probe, at: NtpTimestamp) {
        if let Some(p) = self.in_flight.iter_mut().find(|p| p.seq == probe.0) {
            if p.latest.is_none_or(|l| (at - l).0 > 0) {
                p.latest = Some(at);
            }
        }
    }

    /// No more timestamps are coming for the probes sent so far: learn from them. Returns
    /// what the last one taught (None: no probe came back).
    pub fn settle(&mut self) -> Option<Learnt> {
        let mut learnt = None;
        for p in std::mem::take(&mut self.in_flight) {
            let Some(at) = p.latest else { continue };
            let ns = (at - p.read).to_nanos();
            if !(0..=MAX_SAMPLE_NS).contains(&ns) {
                continue;
            }
            let secs = (p.read.0 >> 32) as u32;
            let l = &mut self.links[p.link];
            l.windows[p.class].add(ns as i32, secs);
            learnt = Some(Learnt {
                estimate_ns: l.relearn(p.class, secs),
            });
        }
        learnt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 3_900_000_000 << 32;

    fn at_ms(ms: i64) -> NtpTimestamp {
        NtpTimestamp(T0.wrapping_add(NtpDuration::from_nanos(ms * 1_000_000).0 as u64))
    }

    /// NTP units to whole microseconds, rounded.
    fn us(x: u64) -> i64 {
        (NtpDuration(x as i64).to_nanos() + 500) / 1000
    }

    /// A request every `every_ms` from `from_ms`, each reply probed when due, its kernel
    /// timestamp `latency(k)` ns after the flush read; returns the last plan's lead (µs).
    fn serve(
        p: &mut Predictor,
        from_ms: i64,
        every_ms: i64,
        n: usize,
        latency: impl Fn(usize) -> i64,
    ) -> i64 {
        let mut lead = 0;
        for k in 0..n {
            let rx = at_ms(from_ms + k as i64 * every_ms);
            let plan = p.plan(None, rx);
            lead = us(plan.lead);
            if let Some(t) = plan.probe {
                let read = rx + NtpDuration::from_nanos(50_000);
                let probe = p.sent(t, read);
                let ns = latency(k);
                // a first copy as the datagram leaves our device, the last further on
                p.stamped(probe, read + NtpDuration::from_nanos(ns / 2));
                p.stamped(probe, read + NtpDuration::from_nanos(ns));
                p.settle();
            }
        }
        lead
    }

    #[test]
    fn idleness_classes_are_powers_of_two_from_122_us() {
        let c = |us: i64| class_of(NtpDuration::from_nanos(us * 1000));
        assert_eq!(c(0), 0);
        assert_eq!(c(100), 0);
        assert_eq!(c(150), 1);
        assert_eq!(c(300), 2);
        assert_eq!(c(1_000), 4);
        assert_eq!(c(10_000), 7);
        assert_eq!(c(40_000), 9);
        assert_eq!(c(8_000_000), 9);
        assert_eq!(class_of(NtpDuration(-5)), 0);
    }

    #[test]
    fn no_lead_until_enough_samples_then_the_median_ignoring_tails() {
        let mut p = Predictor::new();
        // 11 µs with every third one a 40 µs scheduling tail
        let lat = |k: usize| {
            if k % 3 == 2 {
                40_000
            } else {
                11_000 + k as i64
            }
        };
        assert_eq!(serve(&mut p, 0, 1000, MIN_SAMPLES, lat), 0);
        let lead = serve(&mut p, 10_000, 1000, 40, lat);
        assert!((10..=12).contains(&lead), "{lead} µs");
    }

    #[test]
    fn a_busy_socket_and_an_idle_one_learn_different_latencies() {
        let mut p = Predictor::new();
        // idle (a request every second): 11 µs
        assert_eq!(serve(&mut p, 0, 1000, 20, |_| 11_000), 11);
        // then bursts of two requests 1 µs apart every 200 ms: the first after an idle
        // while (11 µs), the second busy (3 µs)
        for burst in 0..20 {
            let rx = at_ms(40_000 + burst * 200);
            for rx in [rx, rx + NtpDuration::from_nanos(1000)] {
                let plan = p.plan(None, rx);
                if burst == 0 && rx != at_ms(40_000) {
                    assert_eq!(us(plan.lead), 11, "the busy class borrows at first");
                }
                if let Some(t) = plan.probe {
                    let ns = if t.class == 0 { 3_000 } else { 11_000 };
                    let pr = p.sent(t, rx);
                    p.stamped(pr, rx + NtpDuration::from_nanos(ns));
                    p.settle();
                }
            }
        }
        let rx = at_ms(50_000);
        assert_eq!(us(p.plan(None, rx).lead), 11);
        assert_eq!(us(p.plan(None, rx + NtpDuration::from_nanos(1000)).lead), 3);
    }

    #[test]
    fn leads_are_bounded_and_samples_over_a_millisecond_are_not_kept() {
        let mut p = Predictor::new();
        assert_eq!(serve(&mut p, 0, 1000, 20, |_| 300_000), 100);
        let mut q = Predictor::new();
        assert_eq!(serve(&mut q, 0, 1000, 20, |_| 5_000_000), 0);
    }

    #[test]
    fn stale_samples_are_forgotten() {
        let mut p = Predictor::new();
        assert_eq!(serve(&mut p, 0, 1000, 20, |_| 12_000), 12);
        // two hours later, one new sample is not enough on its own
        let later = (STALE_SECS as i64 + 3600) * 1000;
        let lead = serve(&mut p, later, 1000, 1, |_| 20_000);
        assert_eq!(lead, 12, "the plan came before the sample");
        assert_eq!(serve(&mut p, later + 1000, 1000, 1, |_| 20_000), 0);
        assert_eq!(serve(&mut p, later + 2000, 1000, 10, |_| 20_000), 20);
    }

    #[test]
    fn a_probe_that_never_comes_back_teaches_nothing() {
        let mut p = Predictor::new();
        for k in 0..50 {
            let plan = p.plan(None, at_ms(k * 1000));
            if let Some(t) = plan.probe {
                p.sent(t, at_ms(k * 1000));
            }
            assert_eq!(p.settle(), None);
            assert_eq!(plan.lead, 0);
        }
    }

    #[test]
    fn interfaces_learn_apart() {
        let mut p = Predictor::new();
        let lo = Some(LocalAddr {
            addr: "127.0.0.1".parse().unwrap(),
            ifindex: 1,
        });
        let eth = Some(LocalAddr {
            addr: "198.18.0.1".parse().unwrap(),
            ifindex: 2,
        });
        for k in 0..20 {
            // half a second apart: every request finds the thread idle
            for (local, ns, ms) in [(lo, 2_000, 0), (eth, 12_000, 500)] {
                let rx = at_ms(k * 1000 + ms);
                if let Some(t) = p.plan(local, rx).probe {
                    let pr = p.sent(t, rx);
                    p.stamped(pr, rx + NtpDuration::from_nanos(ns));
                    p.settle();
                }
            }
        }
        // each request came after an idle while (0.5 s); so do these
        assert_eq!(us(p.plan(lo, at_ms(21_000)).lead), 2);
        assert_eq!(us(p.plan(eth, at_ms(21_500)).lead), 12);
    }
}
