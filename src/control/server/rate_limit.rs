//! The per-source token bucket that keeps mode 6 from being a flood amplifier off-host.
//! Separate: a plain helper with its own bounds (memory, rate), no protocol in it.

use std::collections::HashMap;
use std::net::IpAddr;

/// Per-source token bucket for mode 6 requests (a helper: the daemon decides whom to
/// exempt). Bounded memory: the stalest sources are forgotten first.
#[derive(Debug)]
pub struct RateLimiter {
    burst: f64,
    per_second: f64,
    max_sources: usize,
    buckets: HashMap<IpAddr, (f64, f64)>,
}

impl RateLimiter {
    pub fn new(burst: u32, per_second: f64, max_sources: usize) -> RateLimiter {
        RateLimiter {
            burst: burst as f64,
            per_second,
            max_sources: max_sources.max(1),
            buckets: HashMap::new(),
        }
    }

    /// Take one token for `source` at time `now` (seconds, any epoch).
    pub fn allow(&mut self, source: IpAddr, now: f64) -> bool {
        if !self.buckets.contains_key(&source) && self.buckets.len() >= self.max_sources {
            let stalest = self
                .buckets
                .iter()
                .min_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
                .map(|(k, _)| *k);
            if let Some(k) = stalest {
                self.buckets.remove(&k);
            }
        }
        let (tokens, last) = self.buckets.entry(source).or_insert((self.burst, now));
        *tokens = (*tokens + (now - *last).max(0.0) * self.per_second).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl Default for RateLimiter {
    /// 32 requests at once, 8 per second sustained, 4096 sources: generous for ntpq
    /// (`-p` with 10 peers is 11 requests) and monitoring, tight for floods.
    fn default() -> Self {
        RateLimiter::new(32, 8.0, 4096)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn off_host_floods_are_rate_limited_but_loopback_is_not() {
        let mut r = responder();
        let req = request(Opcode::READSTAT, 1, 0, b"");
        let answered = (0..100)
            .filter(|_| !ask(&mut r, &req, REMOTE, RestrictFlags::NONE).is_empty())
            .count();
        assert_eq!(
            answered, 32,
            "the burst, then nothing within the same instant"
        );
        let local = (0..100)
            .filter(|_| !ask(&mut r, &req, LOCAL, RestrictFlags::NONE).is_empty())
            .count();
        assert_eq!(local, 100);
        let mut lim = RateLimiter::new(2, 1.0, 2);
        let a: IpAddr = "198.18.0.5".parse().unwrap();
        assert!(lim.allow(a, 0.0) && lim.allow(a, 0.0) && !lim.allow(a, 0.0));
        assert!(lim.allow(a, 1.0), "refilled after a second");
        for i in 0..10u8 {
            lim.allow(IpAddr::from([10, 0, 0, i]), 2.0);
        }
        assert!(lim.buckets.len() <= 2, "bounded memory");
    }
}
