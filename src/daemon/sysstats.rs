//! ntpd's `sysstats` counters over mode 6: what the server received and what it dropped,
//! as the non-default system variables `ss_*` that `ntpq -c sysstats` (NTPsec) and
//! `ntpq -c "rv 0 ss_badformat,…"` read.
//!
//! The counters themselves live in [`super::server::Counters`] (atomics the serving threads
//! bump); this module only takes a snapshot and names it. Nothing is ever reset, so the
//! `_r` ("since reset") variants NTPsec's ntpq also asks for equal the totals.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use super::mru::{Mru, ENTRY_COST};
use super::server::{Counters, Shared};
use crate::control::server::{Var, VarValue};
use crate::wire::time::NtpTimestamp;

/// One reading of the packet counters, plus the daemon's uptime.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SysStats {
    pub uptime: u64,
    pub received: u64,
    /// NTPv4 packets.
    pub this_version: u64,
    /// NTPv1–v3 packets.
    pub old_version: u64,
    /// Too short, wrong version or undecodable.
    pub bad_format: u64,
    /// A MAC that does not verify or names a key we do not trust.
    pub bad_auth: u64,
    /// Modes we do not serve (mode 7, mode 0 above v1, …) and `nopeer` refusals.
    pub declined: u64,
    /// `ignore`, `noserve`, `noquery`, `notrust`.
    pub restricted: u64,
    /// Rate limited, with or without a kiss-o'-death.
    pub limited: u64,
    pub kod_sent: u64,
    /// Requests answered with the time.
    pub processed: u64,
    /// Mode 6 requests passed to the control server.
    pub control_requests: u64,
    /// Dropped because the main loop's queue was full (`io_dropped`).
    pub queue_dropped: u64,
    /// Replies handed to the kernel by the serving threads, and those it refused.
    pub sent: u64,
    pub send_failed: u64,
    /// Receive calls, and those that returned datagrams (`io_wakeups`, `io_goodwakeups`).
    pub wakeups: u64,
    pub good_wakeups: u64,
    /// The MRU table (`ntpq -c monstats`).
    pub monitor: MonStats,
    /// Interleaved mode (RFC 9769): replies sent interleaved, kernel transmit timestamps
    /// read back, and the table of remembered transmit times (entries, bound).
    pub xleave: XleaveStats,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XleaveStats {
    pub replies: u64,
    pub kernel_tx: u64,
    pub stored: u64,
    pub max_stored: u64,
    /// Basic replies probed for their kernel transmit time, and the latest send latency
    /// learnt from them (ns; 0: none), which basic-mode transmit timestamps add
    /// (tx_predict.rs).
    pub tx_probes: u64,
    pub tx_latency_ns: u64,
}

/// The MRU list's size, limits and allocation counters, summed over its shards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MonStats {
    pub enabled: bool,
    pub depth: u64,
    /// Sum of each shard's high-water mark (an upper bound of the table's).
    pub deepest: u64,
    pub max_depth: u64,
    pub exists: u64,
    pub new: u64,
    pub recycled_full: u64,
    /// Seconds since the least recently heard source was heard.
    pub oldest_age: u64,
}

impl MonStats {
    pub fn read(shards: &[Arc<Mutex<Mru>>], enabled: bool, now: NtpTimestamp) -> MonStats {
        let mut m = MonStats {
            enabled,
            ..Default::default()
        };
        let mut oldest: Option<NtpTimestamp> = None;
        for shard in shards {
            let t = shard.lock().unwrap_or_else(|e| e.into_inner());
            m.depth += t.len() as u64;
            m.max_depth += t.capacity() as u64;
            m.deepest += t.stats.deepest as u64;
            m.exists += t.stats.exists;
            m.new += t.stats.new;
            m.recycled_full += t.stats.recycled_full;
            if let Some(o) = t.oldest() {
                // wrapping difference: the era boundary must not make an entry look young
                if oldest.is_none_or(|c| (c.0.wrapping_sub(o.0) as i64) > 0) {
                    oldest = Some(o);
                }
            }
        }
        m.oldest_age = oldest.map_or(0, |o| (now.0.wrapping_sub(o.0) as i64).max(0) as u64 >> 32);
        m
    }

    /// The `mru_*` variables NTPsec's `ntpq -c monstats` reads. There is no age-based
    /// reclaim (the table only recycles when full), so `mru_mindepth` is the cap and the
    /// ages are 0.
    fn vars(&self) -> Vec<Var> {
        let int = |n: u64| VarValue::Int(n.min(i64::MAX as u64) as i64);
        let kb = |entries: u64| int(entries * ENTRY_COST as u64 / 1024);
        vec![
            Var::extra("mru_enabled", int(self.enabled as u64)),
            Var::extra("mru_hashslots", int(self.depth)),
            Var::extra("mru_depth", int(self.depth)),
            Var::extra("mru_deepest", int(self.deepest)),
            Var::extra("mru_maxdepth", int(self.max_depth)),
            Var::extra("mru_mindepth", int(self.max_depth)),
            Var::extra("mru_maxage", int(0)),
            Var::extra("mru_minage", int(0)),
            Var::extra("mru_mem", kb(self.depth)),
            Var::extra("mru_maxmem", kb(self.max_depth)),
            Var::extra("mru_exists", int(self.exists)),
            Var::extra("mru_new", int(self.new)),
            Var::extra("mru_recycleold", int(0)),
            Var::extra("mru_recyclefull", int(self.recycled_full)),
            Var::extra("mru_none", int(0)),
            Var::extra("mru_oldest_age", int(self.oldest_age)),
        ]
    }
}

impl SysStats {
    pub fn read(c: &Counters, uptime: u64) -> SysStats {
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        SysStats {
            uptime,
            received: get(&c.received),
            this_version: get(&c.this_version),
            old_version: get(&c.old_version),
            bad_format: get(&c.malformed),
            bad_auth: get(&c.bad_auth),
            declined: get(&c.declined),
            restricted: get(&c.restricted),
            limited: get(&c.rate_limited) + get(&c.kod_sent),
            kod_sent: get(&c.kod_sent),
            processed: get(&c.replied),
            control_requests: get(&c.control),
            queue_dropped: get(&c.handoff_dropped),
            sent: get(&c.sent),
            send_failed: get(&c.send_failed),
            wakeups: get(&c.wakeups),
            good_wakeups: get(&c.good_wakeups),
            monitor: MonStats::default(),
            xleave: XleaveStats {
                replies: get(&c.interleaved),
                kernel_tx: get(&c.kernel_tx),
                tx_probes: get(&c.tx_probes),
                tx_latency_ns: get(&c.tx_latency_ns),
                ..Default::default()
            },
        }
    }

    /// Adds the MRU table's figures.
    pub fn with_monitor(mut self, shared: &Shared, now: NtpTimestamp) -> SysStats {
        self.monitor = MonStats::read(&shared.mru_shards, shared.monitor, now);
        if let Some(t) = &shared.xleave {
            self.xleave.stored = t.len() as u64;
            self.xleave.max_stored = t.capacity() as u64;
        }
        self
    }

    /// The `ss_*` variables (all non-default: READVAR without names does not list them).
    pub fn vars(&self) -> Vec<Var> {
        let int = |n: u64| VarValue::Int(n.min(i64::MAX as u64) as i64);
        let mut v = vec![
            Var::extra("ss_uptime", int(self.uptime)),
            Var::extra("ss_numctlreq", int(self.control_requests)),
            Var::extra("ss_reset", int(self.uptime)),
            Var::extra("ss_reset_r", int(self.uptime)),
        ];
        let counted: [(&'static str, &'static str, u64); 12] = [
            ("ss_received", "ss_received_r", self.received),
            ("ss_thisver", "ss_thisver_r", self.this_version),
            ("ss_oldver", "ss_oldver_r", self.old_version),
            ("ss_ver1", "ss_ver1_r", 0),
            ("ss_ver1client", "ss_ver1client_r", 0),
            ("ss_ver1zero", "ss_ver1zero_r", 0),
            ("ss_badformat", "ss_badformat_r", self.bad_format),
            ("ss_badauth", "ss_badauth_r", self.bad_auth),
            ("ss_declined", "ss_declined_r", self.declined),
            ("ss_restricted", "ss_restricted_r", self.restricted),
            ("ss_limited", "ss_limited_r", self.limited),
            ("ss_kodsent", "ss_kodsent_r", self.kod_sent),
        ];
        for (name, since_reset, n) in counted {
            v.push(Var::extra(name, int(n)));
            v.push(Var::extra(since_reset, int(n)));
        }
        v.push(Var::extra("ss_ver1symm", int(0)));
        v.push(Var::extra("ss_ver1symm_r", int(0)));
        v.push(Var::extra("ss_processed", int(self.processed)));
        v.push(Var::extra("ss_processed_r", int(self.processed)));
        // `iostats`: the receive buffers are the serving threads' recvmmsg batches, never
        // short (so no low-water refills); nothing is ignored by interface.
        v.extend([
            Var::extra("iostats_reset", int(self.uptime)),
            Var::extra("total_rbuf", int(super::server::BATCH as u64)),
            Var::extra("free_rbuf", int(super::server::BATCH as u64)),
            Var::extra("used_rbuf", int(0)),
            Var::extra("rbuf_lowater", int(0)),
            Var::extra("io_dropped", int(self.queue_dropped)),
            Var::extra("io_ignored", int(0)),
            Var::extra("io_received", int(self.received)),
            Var::extra("io_sent", int(self.sent)),
            Var::extra("io_sendfailed", int(self.send_failed)),
            Var::extra("io_wakeups", int(self.wakeups)),
            Var::extra("io_goodwakeups", int(self.good_wakeups)),
        ]);
        v.extend(self.monitor.vars());
        // ntpkit's own (ntpd has no interleaved server): `rv 0 xleave_replies,…`
        v.extend([
            Var::extra("xleave_replies", int(self.xleave.replies)),
            Var::extra("xleave_kernel_tx", int(self.xleave.kernel_tx)),
            Var::extra("xleave_stored", int(self.xleave.stored)),
            Var::extra("xleave_maxstored", int(self.xleave.max_stored)),
            // tx_predict.rs: `rv 0 tx_latency,tx_probes` (ms, as ntpq's other times)
            Var::extra(
                "tx_latency",
                VarValue::Ms6(self.xleave.tx_latency_ns as f64 / 1e6),
            ),
            Var::extra("tx_probes", int(self.xleave.tx_probes)),
        ]);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_become_non_default_ss_variables() {
        let c = Counters::default();
        c.received.store(10, Ordering::Relaxed);
        c.malformed.store(3, Ordering::Relaxed);
        c.rate_limited.store(2, Ordering::Relaxed);
        c.kod_sent.store(1, Ordering::Relaxed);
        let s = SysStats::read(&c, 42);
        assert_eq!((s.limited, s.kod_sent, s.bad_format), (3, 1, 3));
        let vars = s.vars();
        assert!(vars.iter().all(|v| !v.default));
        let value = |n: &str| {
            vars.iter()
                .find(|v| v.name == n)
                .map(|v| v.value.clone())
                .unwrap()
        };
        assert_eq!(value("ss_received"), VarValue::Int(10));
        assert_eq!(value("ss_badformat_r"), VarValue::Int(3));
        assert_eq!(value("ss_uptime"), VarValue::Int(42));
        // every name NTPsec's `ntpq -c sysstats` asks for is there, with its `_r` twin
        for n in [
            "ss_reset",
            "ss_thisver",
            "ss_oldver",
            "ss_ver1",
            "ss_ver1client",
            "ss_ver1zero",
            "ss_ver1symm",
            "ss_badauth",
            "ss_declined",
            "ss_restricted",
            "ss_limited",
            "ss_kodsent",
            "ss_processed",
        ] {
            value(n);
            value(&format!("{n}_r"));
        }
        // and every name its `iostats` and `monstats` ask for
        for n in crate::control::stats_tables::IOSTATS
            .iter()
            .chain(crate::control::stats_tables::MONSTATS)
        {
            value(n.0);
        }
    }

    #[test]
    fn monitor_figures_sum_the_shards() {
        use super::super::mru::Discard;
        let t = |s: u64| NtpTimestamp((3_900_000_000u64 + s) << 32);
        let shards: Vec<Arc<Mutex<Mru>>> = (0..2)
            .map(|_| Arc::new(Mutex::new(Mru::new(2, Discard::default()))))
            .collect();
        for (k, a) in ["10.0.0.1", "10.0.0.2", "10.0.0.3"].iter().enumerate() {
            let shard = &shards[k % 2];
            shard
                .lock()
                .unwrap()
                .monitor(a.parse().unwrap(), 1, 3, 4, t(k as u64), 0);
        }
        shards[0]
            .lock()
            .unwrap()
            .monitor("10.0.0.4".parse().unwrap(), 1, 3, 4, t(5), 0);
        let m = MonStats::read(&shards, true, t(10));
        assert_eq!((m.depth, m.max_depth, m.new, m.recycled_full), (3, 4, 3, 1));
        // the oldest entry left is 10.0.0.2, heard at 1 s
        assert_eq!(m.oldest_age, 9);
    }
}
