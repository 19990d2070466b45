//! The per-server clock filter (RFC 5905 §8 and §10, ntpd's `clock_filter`).
//!
//! A reply's four timestamps become a [`Sample`] (offset θ, delay δ, dispersion ε). The
//! [`ClockFilter`] keeps the last eight samples, ages their dispersion by PHI, and picks the
//! one with the lowest delay: on a path whose delay varies, the sample that spent least time
//! in queues has the least asymmetry error, so its offset is the most trustworthy.
//!
//! Times are plain `f64` seconds on the caller's own monotonic time line (`at`, `now`):
//! the filter never reads a clock.

use ntpkit_wire::time::NtpTimestamp;

/// Frequency tolerance: how fast an old sample's error bound grows (15 ppm).
pub const PHI: f64 = 15e-6;
/// Number of filter stages.
pub const STAGES: usize = 8;
/// Dispersion of a missing or dummy sample, and the ceiling of aged dispersion (16 s).
pub const MAXDISP: f64 = 16.0;
/// Popcorn spike gate: a new offset this many jitters away from the current one is a spike.
pub const SGATE: f64 = 3.0;
/// Default selection threshold (ntpd's `tos maxdist`), used here to decide when a popcorn
/// spike is worth suppressing (only between samples that are both usable).
pub const MAXDIST: f64 = 1.5;

/// One measurement from one reply.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// θ: how far the server's clock is ahead of ours, seconds.
    pub offset: f64,
    /// δ: round-trip delay minus the server's processing time, seconds (≥ precision).
    pub delay: f64,
    /// ε: error bound from both precisions plus PHI over the round trip, seconds.
    pub dispersion: f64,
    /// When it arrived, on the caller's time line (seconds).
    pub at: f64,
}

impl Sample {
    /// θ, δ and ε from the origin (t1, ours), receive (t2, server's), transmit (t3,
    /// server's) and destination (t4, ours) timestamps. `precision` is the sum of the
    /// server's and our clock precision in seconds (2^precision each). Differences are
    /// taken in 64-bit fixed point first, so large absolute times lose no precision and an
    /// era boundary between them does no harm.
    pub fn from_timestamps(
        t1: NtpTimestamp,
        t2: NtpTimestamp,
        t3: NtpTimestamp,
        t4: NtpTimestamp,
        precision: f64,
        at: f64,
    ) -> Sample {
        let forward = (t2 - t1).to_seconds();
        let back = (t3 - t4).to_seconds();
        let round_trip = (t4 - t1).to_seconds();
        let in_server = (t3 - t2).to_seconds();
        let precision = sanitize(precision).max(0.0);
        Sample {
            offset: (forward + back) / 2.0,
            // A negative delay (clock stepped mid-flight, or a lying server) is clamped as
            // ntpd does, so the filter never sorts on nonsense.
            delay: (round_trip - in_server).max(precision),
            dispersion: precision + PHI * round_trip.max(0.0),
            at,
        }
    }

    /// A placeholder recorded for a poll that got no answer (RFC 5905 §10): it ages the
    /// register so that a silent server's dispersion grows towards MAXDISP.
    pub fn dummy(at: f64) -> Sample {
        Sample {
            offset: 0.0,
            delay: MAXDISP,
            dispersion: MAXDISP,
            at,
        }
    }

    fn is_dummy(&self) -> bool {
        self.dispersion >= MAXDISP
    }
}

/// What [`ClockFilter::add`] did with a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterOutcome {
    /// The best sample changed to a newer one: offset/delay are updated and the caller
    /// should run the selection.
    Updated,
    /// The best sample is not newer than the one already used (RFC 5905 causality rule):
    /// dispersion and jitter are updated, offset/delay kept.
    NotNewer,
    /// The new best sample looked like a popcorn spike and was ignored (ntpd event
    /// `popcorn`).
    Popcorn,
    /// Nothing usable in the register (only dummies).
    NoData,
}

/// One filter stage as mode 6 shows it (`filtdelay`, `filtoffset`, `filtdisp`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stage {
    pub offset: f64,
    pub delay: f64,
    /// Dispersion aged to the last update.
    pub dispersion: f64,
}

/// How stages that were never filled count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// As a daemon association (ntpd `peer_clear`): all eight stages start as dummies, so
    /// a new server's dispersion starts near MAXDISP and shrinks as samples arrive.
    Daemon,
    /// A one-shot query (ntpdate): unfilled stages are simply absent, so four samples give
    /// a dispersion made of those four, not of four imaginary missed polls.
    OneShot,
}

/// The eight-stage clock filter of one association.
#[derive(Clone, Debug)]
pub struct ClockFilter {
    /// Newest first; `None` only for never-filled stages in [`Start::OneShot`].
    stages: [Option<Sample>; STAGES],
    /// The caller's time at which stage dispersions were last aged.
    aged_at: f64,
    system_precision: f64,
    /// Popcorn suppression applies only while both dispersions are below this.
    maxdist: f64,
    offset: f64,
    delay: f64,
    dispersion: f64,
    jitter: f64,
    /// Arrival time of the sample offset/delay came from (`None` before the first).
    used_at: Option<f64>,
    usable: usize,
}

impl ClockFilter {
    /// `system_precision` (seconds, e.g. 2^-20) is the floor for jitter.
    pub fn new(system_precision: f64, start: Start) -> ClockFilter {
        let first = match start {
            Start::Daemon => Some(Sample::dummy(0.0)),
            Start::OneShot => None,
        };
        let system_precision = sanitize(system_precision).max(0.0);
        let mut f = ClockFilter {
            stages: [first; STAGES],
            aged_at: f64::NEG_INFINITY,
            system_precision,
            maxdist: MAXDIST,
            offset: 0.0,
            delay: 0.0,
            dispersion: 0.0,
            jitter: system_precision,
            used_at: None,
            usable: 0,
        };
        f.dispersion = f.weighted_dispersion(&f.sorted());
        f
    }

    /// Use the configured `tos maxdist` (default [`MAXDIST`]) for popcorn suppression.
    pub fn with_maxdist(mut self, maxdist: f64) -> ClockFilter {
        self.maxdist = sanitize(maxdist).max(0.0);
        self
    }

    /// Shift in a measured sample taken at `sample.at`; `now` is the caller's time (≥ every
    /// sample's arrival) and `poll_interval` (seconds) is the host poll interval, which
    /// bounds how long after the last used sample a spike still counts as popcorn.
    pub fn add(&mut self, sample: Sample, now: f64, poll_interval: f64) -> FilterOutcome {
        let sample = Sample {
            offset: sanitize(sample.offset),
            delay: sanitize(sample.delay).clamp(0.0, MAXDISP),
            dispersion: sanitize(sample.dispersion).clamp(0.0, MAXDISP),
            at: sanitize(sample.at),
        };
        self.shift(sample, now);
        self.update(poll_interval)
    }

    /// Record a poll that got no answer.
    pub fn add_dummy(&mut self, now: f64) -> FilterOutcome {
        self.shift(Sample::dummy(sanitize(now)), now);
        self.update(0.0)
    }

    fn shift(&mut self, sample: Sample, now: f64) {
        self.age_to(sanitize(now));
        self.stages.rotate_right(1);
        self.stages[0] = Some(sample);
    }

    /// Grow every stage's dispersion by PHI for the time since the last aging.
    fn age_to(&mut self, now: f64) {
        if self.aged_at.is_finite() && now > self.aged_at {
            let grow = PHI * (now - self.aged_at);
            for s in self.stages.iter_mut().flatten() {
                s.dispersion = (s.dispersion + grow).min(MAXDISP);
            }
        }
        if !self.aged_at.is_finite() || now > self.aged_at {
            self.aged_at = now;
        }
    }

    /// Stages sorted by delay, dummies last (as if their delay were MAXDISP), absent ones
    /// dropped. The sort is stable, so of equal delays the newer sample wins.
    fn sorted(&self) -> Vec<Sample> {
        let mut v: Vec<Sample> = self.stages.iter().flatten().copied().collect();
        v.sort_by(|a, b| {
            let key = |s: &Sample| if s.is_dummy() { MAXDISP } else { s.delay };
            key(a).total_cmp(&key(b))
        });
        v
    }

    fn weighted_dispersion(&self, sorted: &[Sample]) -> f64 {
        sorted
            .iter()
            .enumerate()
            .map(|(i, s)| s.dispersion * 0.5f64.powi(i as i32 + 1))
            .fold(0.0, |a, b| a + b)
    }

    fn update(&mut self, poll_interval: f64) -> FilterOutcome {
        let sorted = self.sorted();
        self.dispersion = self.weighted_dispersion(&sorted);
        let valid: Vec<&Sample> = sorted.iter().filter(|s| !s.is_dummy()).collect();
        self.usable = valid.len();
        let Some(best) = valid.first().copied().copied() else {
            return FilterOutcome::NoData;
        };
        // Jitter: RMS of the other usable offsets around the best one.
        let sum_sq: f64 = valid
            .iter()
            .skip(1)
            .map(|s| (s.offset - best.offset).powi(2))
            .sum();
        let jitter = if valid.len() > 1 {
            (sum_sq / (valid.len() - 1) as f64).sqrt()
        } else {
            0.0
        };
        self.jitter = jitter.max(self.system_precision);

        let Some(used_at) = self.used_at else {
            self.take(best);
            return FilterOutcome::Updated;
        };
        if best.at <= used_at {
            return FilterOutcome::NotNewer;
        }
        // As ntpd: only between usable samples, and only while the last used sample is
        // recent (a level change that persists for two polls is real).
        let is_spike = (best.offset - self.offset).abs() > SGATE * self.jitter
            && self.dispersion < self.maxdist
            && best.dispersion < self.maxdist
            && best.at - used_at < 2.0 * sanitize(poll_interval);
        if is_spike {
            return FilterOutcome::Popcorn;
        }
        self.take(best);
        FilterOutcome::Updated
    }

    fn take(&mut self, best: Sample) {
        self.offset = best.offset;
        self.delay = best.delay;
        self.used_at = Some(best.at);
    }

    /// θ of the chosen sample, seconds.
    pub fn offset(&self) -> f64 {
        self.offset
    }
    /// δ of the chosen sample, seconds.
    pub fn delay(&self) -> f64 {
        self.delay
    }
    /// Peer dispersion ε = Σ εᵢ·2^-(i+1) over the delay-sorted stages, as of the last
    /// sample.
    pub fn dispersion(&self) -> f64 {
        self.dispersion
    }
    /// Peer dispersion grown by PHI up to `now` (what root distance needs between polls).
    pub fn dispersion_at(&self, now: f64) -> f64 {
        let age = if self.aged_at.is_finite() {
            (sanitize(now) - self.aged_at).max(0.0)
        } else {
            0.0
        };
        (self.dispersion + PHI * age).min(MAXDISP)
    }
    /// Peer jitter ψ (RMS), never below the system precision.
    pub fn jitter(&self) -> f64 {
        self.jitter
    }
    /// Arrival time of the sample in use, `None` before the first one.
    pub fn updated_at(&self) -> Option<f64> {
        self.used_at
    }
    /// Whether any real (non-dummy) sample is in the register.
    pub fn has_data(&self) -> bool {
        self.usable > 0
    }
    /// How many real samples are in the register.
    pub fn usable_samples(&self) -> usize {
        self.usable
    }
    /// The stages newest first, as mode 6 `filtdelay`/`filtoffset`/`filtdisp` list them.
    /// Never-filled stages of a daemon filter are dummies (delay 16, disp 16); a one-shot
    /// filter returns only the filled ones.
    pub fn stages(&self) -> Vec<Stage> {
        self.stages
            .iter()
            .flatten()
            .map(|s| Stage {
                offset: s.offset,
                delay: if s.is_dummy() { 0.0 } else { s.delay },
                dispersion: s.dispersion,
            })
            .collect()
    }
    /// Forget everything (after a clock step the old offsets are meaningless).
    pub fn reset(&mut self, start: Start) {
        *self = ClockFilter::new(self.system_precision, start).with_maxdist(self.maxdist);
    }
}

/// Treat NaN as 0 and clamp infinities, so degenerate input cannot poison the register.
fn sanitize(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(-1e9, 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ntpkit_wire::time::NtpDuration;

    fn ts(s: f64) -> NtpTimestamp {
        NtpTimestamp::from_parts(3_900_000_000, 0) + NtpDuration::from_seconds(s)
    }

    fn sample(offset: f64, delay: f64, at: f64) -> Sample {
        Sample {
            offset,
            delay,
            dispersion: 1e-6,
            at,
        }
    }

    #[test]
    fn sample_from_four_timestamps() {
        // Server 0.5 s ahead, 10 ms each way, 1 ms in the server.
        let s = Sample::from_timestamps(ts(0.0), ts(0.51), ts(0.511), ts(0.021), 2e-6, 7.0);
        assert!((s.offset - 0.5).abs() < 1e-9, "{s:?}");
        assert!((s.delay - 0.020).abs() < 1e-9, "{s:?}");
        assert!((s.dispersion - (2e-6 + PHI * 0.021)).abs() < 1e-12);
        assert_eq!(s.at, 7.0);
    }

    #[test]
    fn sample_across_era_boundary() {
        let t1 = NtpTimestamp::from_parts(u32::MAX, 0);
        let d = |s| t1 + NtpDuration::from_seconds(s);
        let s = Sample::from_timestamps(t1, d(1.0 + 0.01), d(1.0 + 0.011), d(0.021), 0.0, 0.0);
        assert!((s.offset - 1.0).abs() < 1e-9 && (s.delay - 0.02).abs() < 1e-9);
    }

    #[test]
    fn negative_delay_clamped_to_precision() {
        let s = Sample::from_timestamps(ts(0.0), ts(0.0), ts(0.5), ts(0.1), 1e-6, 0.0);
        assert_eq!(s.delay, 1e-6);
    }

    #[test]
    fn lowest_delay_sample_chosen() {
        let mut f = ClockFilter::new(1e-6, Start::OneShot);
        f.add(sample(0.010, 0.050, 1.0), 1.0, 2.0);
        f.add(sample(0.002, 0.004, 2.0), 2.0, 2.0);
        f.add(sample(0.008, 0.030, 3.0), 3.0, 2.0);
        assert_eq!(f.offset(), 0.002);
        assert_eq!(f.delay(), 0.004);
        assert_eq!(f.usable_samples(), 3);
        // jitter: RMS of (0.010-0.002, 0.008-0.002) over n-1 = 2
        let want = ((0.008f64.powi(2) + 0.006f64.powi(2)) / 2.0).sqrt();
        assert!((f.jitter() - want).abs() < 1e-12);
    }

    #[test]
    fn newest_first_stages_for_mode6() {
        let mut f = ClockFilter::new(1e-6, Start::Daemon);
        f.add(sample(0.1, 0.01, 1.0), 1.0, 64.0);
        f.add(sample(0.2, 0.02, 2.0), 2.0, 64.0);
        let st = f.stages();
        assert_eq!(st.len(), 8);
        assert_eq!(st[0].offset, 0.2);
        assert_eq!(st[1].offset, 0.1);
        assert_eq!((st[2].delay, st[2].dispersion), (0.0, MAXDISP));
        // the older real sample aged by PHI for one second
        assert!((st[1].dispersion - (1e-6 + PHI)).abs() < 1e-12);
    }

    #[test]
    fn daemon_dispersion_weights_dummies() {
        let mut f = ClockFilter::new(1e-6, Start::Daemon);
        f.add(sample(0.0, 0.01, 1.0), 1.0, 64.0);
        // ε0/2 + 16·(1/4 + … + 1/256)
        let want = 1e-6 / 2.0 + MAXDISP * (0.5 - 1.0 / 256.0);
        assert!((f.dispersion() - want).abs() < 1e-9, "{}", f.dispersion());
        let mut g = ClockFilter::new(1e-6, Start::OneShot);
        g.add(sample(0.0, 0.01, 1.0), 1.0, 64.0);
        assert!((g.dispersion() - 0.5e-6).abs() < 1e-12);
    }

    #[test]
    fn dispersion_sum_halves_per_stage() {
        let mut f = ClockFilter::new(1e-6, Start::OneShot);
        for (i, d) in [0.03, 0.01, 0.02].iter().enumerate() {
            let s = Sample {
                offset: 0.0,
                delay: *d,
                dispersion: 0.1 * (i + 1) as f64,
                at: 0.0,
            };
            f.add(s, 0.0, 64.0);
        }
        // sorted by delay: disp 0.2, 0.3, 0.1
        let want = 0.2 / 2.0 + 0.3 / 4.0 + 0.1 / 8.0;
        assert!((f.dispersion() - want).abs() < 1e-12);
        assert!((f.dispersion_at(10.0) - (want + 10.0 * PHI)).abs() < 1e-12);
    }

    #[test]
    fn popcorn_spike_suppressed_then_accepted_when_old() {
        let mut f = ClockFilter::new(1e-6, Start::OneShot);
        assert_eq!(
            f.add(sample(0.0, 0.001, 0.0), 0.0, 16.0),
            FilterOutcome::Updated
        );
        // the server jumps by 0.5 s; the old low-delay sample stays best while in the
        // register, then the first jumped sample to take over is a spike
        for i in 1..STAGES {
            let at = i as f64;
            let r = f.add(sample(0.5, 0.010 + at * 1e-4, at), at, 16.0);
            assert_eq!(r, FilterOutcome::NotNewer);
        }
        assert_eq!(
            f.add(sample(0.5, 0.010, 8.0), 8.0, 16.0),
            FilterOutcome::Popcorn
        );
        assert_eq!(f.offset(), 0.0);
        // a spike that arrives long after the last used sample is taken
        assert_eq!(
            f.add(sample(0.5, 0.0005, 100.0), 100.0, 16.0),
            FilterOutcome::Updated
        );
        assert_eq!(f.offset(), 0.5);
    }

    #[test]
    fn popcorn_needs_usable_dispersions() {
        let mut f = ClockFilter::new(1e-6, Start::OneShot).with_maxdist(0.0);
        f.add(sample(0.0, 0.001, 0.0), 0.0, 16.0);
        for i in 1..=STAGES {
            f.add(sample(0.5, 0.010, i as f64), i as f64, 16.0);
        }
        assert_eq!(
            f.offset(),
            0.5,
            "no suppression when nothing is below maxdist"
        );
    }

    #[test]
    fn older_best_sample_not_reused() {
        let mut f = ClockFilter::new(1e-6, Start::OneShot);
        assert_eq!(
            f.add(sample(0.001, 0.001, 1.0), 1.0, 16.0),
            FilterOutcome::Updated
        );
        // a worse (higher delay) newer sample leaves the old best in place
        assert_eq!(
            f.add(sample(0.002, 0.009, 2.0), 2.0, 16.0),
            FilterOutcome::NotNewer
        );
        assert_eq!(f.offset(), 0.001);
        assert_eq!(f.updated_at(), Some(1.0));
    }

    #[test]
    fn unreachable_polls_push_dummies() {
        let mut f = ClockFilter::new(1e-6, Start::OneShot);
        f.add(sample(0.001, 0.001, 1.0), 1.0, 16.0);
        let d0 = f.dispersion();
        for i in 0..STAGES {
            f.add_dummy(2.0 + i as f64);
        }
        assert!(!f.has_data());
        assert!(f.dispersion() > d0 && f.dispersion() <= MAXDISP);
        assert_eq!(f.add_dummy(20.0), FilterOutcome::NoData);
    }

    #[test]
    fn degenerate_input_stays_finite() {
        let mut f = ClockFilter::new(f64::NAN, Start::Daemon);
        let bad = Sample {
            offset: f64::NAN,
            delay: f64::INFINITY,
            dispersion: f64::NEG_INFINITY,
            at: f64::NAN,
        };
        f.add(bad, f64::NAN, f64::NAN);
        f.add(bad, 1.0, 0.0);
        for v in [f.offset(), f.delay(), f.dispersion(), f.jitter()] {
            assert!(v.is_finite(), "{f:?}");
        }
        assert!(f.dispersion_at(f64::INFINITY).is_finite());
        for s in f.stages() {
            assert!(s.offset.is_finite() && s.delay.is_finite() && s.dispersion.is_finite());
        }
    }

    #[test]
    fn empty_filter() {
        let f = ClockFilter::new(1e-6, Start::OneShot);
        assert!(!f.has_data());
        assert_eq!(f.dispersion(), 0.0);
        assert!(f.stages().is_empty());
    }
}
