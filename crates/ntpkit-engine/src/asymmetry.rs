//! Jitter asymmetry of one source's path: how much of a sample's offset error follows its
//! excess delay, learnt from recent samples, so that the estimator can correct each
//! sample to what it would have read at the minimum delay.
//!
//! The estimator's noise model says a sample's error is half the difference of the two
//! legs' extra delays, zero-mean. It is not when the extra delay sits on one leg only: a
//! server that reads its transmit timestamp in user space before the send (chronyd's,
//! NTPsec's basic mode) puts all of it on the reply leg, so every sample reads early by
//! half its excess delay, and averaging them is biased. Then the offset error is ≈
//! `a · (delay − min delay)`, with `a` between −0.5 (all on the reply leg) and +0.5 (all
//! on the request leg). (The idea is chrony's "jitter asymmetry", sourcestats.c.)
//!
//! `a` is the slope of a regression of the samples' residuals — the raw offset less the
//! estimator's prediction made *before* the sample, which cannot depend on the sample's
//! delay — on their excess delay, with an intercept and a time term (a prediction that
//! drifts, a frequency error, correlates with time, not delay), one pass of trimming
//! (a stray sample does not carry the slope). When that is not significant, the same
//! regression of the raw offsets themselves (chrony's: offset on time and delay) is
//! tried: the prediction before a sample carries the filter's own noise, which on a
//! quiet LAN (all offsets within a µs of a line in the delay) halves the rank
//! correlation, so the residuals' test passed only after 25–35 samples against chronyd's
//! and NTPsec's servers where the raw offsets' passes after 12–15; the residuals stay
//! first because over a long window (polls of minutes) the raw offsets also carry the
//! oscillator's wander, which a line in time does not take out. The guards:
//! - too few samples, a rank correlation of offset and delay within [`SIGNIFICANCE`]
//!   standard deviations of none in both regressions, or a slope below
//!   [`MIN_ASYMMETRY`]: no correction;
//! - the sign must hold for [`MIN_RUN`] regressions in a row before it is used, and a
//!   sign change drops it at once;
//! - the minimum delay moved (a route change: a run of samples far above the recent
//!   minimum, or one far below it): the samples of the old route are forgotten, since
//!   against the new minimum they would read as excess delay the offset did not follow;
//! - delays that are not round trips: a server that stamps its transmit time with a
//!   prediction (ours in basic mode) errs both ways, so some samples' delays come out
//!   below the true round trip, even negative (clamped to the precision before they get
//!   here: several samples tied at the minimum). The offset still follows the delay, but
//!   the minimum-delay sample is not the unbiased one (the median is), so correcting
//!   towards it would be wrong: then nothing is corrected. (A server whose predicted
//!   stamps never make a delay negative cannot be told from a one-sided one; the
//!   correction assumes the least-delayed samples are the truest.)
//!
//! When the minimum delay moves down while a slope is in use, the correction of every
//! sample already taken in changes by the same amount (it was made towards the old
//! minimum): [`Asymmetry::rebase`] says by how much the estimate they made is off, so
//! that the estimator moves its state at once, as chrony's regression over re-corrected
//! samples does, instead of walking it over with the samples to come.

use std::collections::VecDeque;

/// Samples the regression runs over.
const WINDOW: usize = 64;
/// Fewer samples than this: no estimate.
const MIN_SAMPLES: usize = 12;
/// All the excess on one leg.
const MAX_ASYMMETRY: f64 = 0.5;
/// Slopes below this are not used: excess on both legs (two exponentials, say) makes the
/// offset error's mean a curve in the excess, not a line, which a small slope fits
/// badly, and there is little to gain (chrony uses nothing below 0.45).
const MIN_ASYMMETRY: f64 = 0.3;
/// A slope is used only when the rank correlation is beyond this many of its standard
/// deviations.
const SIGNIFICANCE: f64 = 4.0;
/// Significant regressions of one sign in a row before the slope is used.
const MIN_RUN: i32 = 4;
/// The run counter's bound (so that a slope that fades is dropped within a few samples).
const MAX_RUN: i32 = 2 * MIN_RUN;
/// Rounds of fitting the time drift and the delay slope in turn ([`fit`]).
const BACKFIT_PASSES: usize = 3;
/// A delay this many median excesses away from the recent minimum is off the route...
const SHIFT_FACTOR: f64 = 6.0;
/// ...and this many of them in a row above it mean the minimum moved up.
const SHIFT_RUN: usize = 4;

/// One accepted sample: time (s), residual (raw offset less the prior prediction, s),
/// delay (s) and the correction the estimator's state holds for it (s).
#[derive(Clone, Copy, Debug)]
struct Point {
    time: f64,
    residual: f64,
    raw: f64,
    delay: f64,
    applied: f64,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Asymmetry {
    points: VecDeque<Point>,
    /// The slope in use (0 while none is significant).
    slope: f64,
    /// Significant regressions in a row; its sign is the slope's.
    run: i32,
    /// The slope and minimum delay the samples held were last re-corrected by.
    rebased_slope: f64,
    rebased_base: f64,
}

impl Asymmetry {
    /// The asymmetry in use, −0.5 … +0.5 (0: none, or not significant).
    pub fn value(&self) -> f64 {
        self.slope
    }

    /// The part of a sample's offset its delay explains: subtract it from the raw offset.
    pub fn correction(&self, delay: f64) -> f64 {
        if self.slope == 0.0 {
            return 0.0;
        }
        let base = self.base().min(delay);
        self.slope * (delay - base)
    }

    /// Forget everything (the source moved: the residuals of before say nothing now).
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    fn base(&self) -> f64 {
        self.points
            .iter()
            .map(|p| p.delay)
            .fold(f64::INFINITY, f64::min)
    }

    /// Take in an accepted sample: `residual` is its raw (uncorrected) offset less the
    /// estimator's prediction for its time made before it, `applied` the correction it
    /// was taken in with.
    pub fn observe(&mut self, time: f64, residual: f64, raw: f64, delay: f64, applied: f64) {
        if ![time, residual, raw, delay, applied]
            .iter()
            .all(|v| v.is_finite())
        {
            return;
        }
        self.follow_route(delay);
        if self.points.len() == WINDOW {
            self.points.pop_front();
        }
        self.points.push_back(Point {
            time,
            residual,
            raw,
            delay,
            applied,
        });
        self.update_slope();
    }

    /// How much the estimate made of the samples held is off when the minimum delay has
    /// just moved down while a slope is in use: every sample taken in was corrected
    /// towards the old minimum, and the rule now corrects it towards the new one, a
    /// change common to all of them. Returns the mean change of their corrections,
    /// weighted by `weight(delay)` (the information the estimator gave a sample of that
    /// delay), s (0 when nothing moved); an estimate that is a weighted mean of the
    /// samples, or a trend through them, moves by that when each is re-corrected. From
    /// now on they count as corrected by the rule in use.
    ///
    /// Nothing else moves the estimate at once: a minimum that rises (the least-delayed
    /// sample left the window) leaves the samples corrected towards it, the truer
    /// reference; the slope's wobble from one regression to the next is followed as the
    /// samples are; and the slope being switched on is not applied to the samples before
    /// it either. In ntpsim's asym-jitter row (polls of minutes, the window hours long)
    /// that shift, weighted over the whole window, over-corrected a filter whose memory
    /// is shorter than the window: rms 194 → 211 µs (median of 10 seeds).
    pub fn rebase(&mut self, weight: impl Fn(f64) -> f64) -> f64 {
        let base = self.base();
        let slope = self.slope;
        let moved_down = slope != 0.0 && self.rebased_slope != 0.0 && base < self.rebased_base;
        self.rebased_slope = slope;
        self.rebased_base = base;
        let (mut sum, mut total) = (0.0, 0.0);
        for p in &mut self.points {
            let now = if slope == 0.0 {
                0.0
            } else {
                slope * (p.delay - base.min(p.delay))
            };
            let w = weight(p.delay);
            if moved_down && w.is_finite() && w > 0.0 {
                sum += w * (now - p.applied);
                total += w;
            }
            p.applied = now;
        }
        if total > 0.0 {
            sum / total
        } else {
            0.0
        }
    }

    /// Forget the old route's samples when the minimum delay moved.
    fn follow_route(&mut self, delay: f64) {
        if self.points.len() < MIN_SAMPLES {
            return;
        }
        let base = self.base();
        let mut excess: Vec<f64> = self.points.iter().map(|p| p.delay - base).collect();
        excess.sort_by(f64::total_cmp);
        let threshold = SHIFT_FACTOR * excess[excess.len() / 2];
        if delay < base - threshold {
            self.clear();
            return;
        }
        let recent_above = self
            .points
            .iter()
            .rev()
            .take(SHIFT_RUN - 1)
            .filter(|p| p.delay - base > threshold)
            .count();
        if delay - base > threshold && recent_above == SHIFT_RUN - 1 {
            let keep = SHIFT_RUN - 1;
            let drop = self.points.len() - keep;
            self.points.drain(..drop);
            self.slope = 0.0;
            self.run = 0;
        }
    }

    fn update_slope(&mut self) {
        let base = self.base();
        let at_base = self.points.iter().filter(|p| p.delay == base).count();
        // Delays tied at the minimum were clamped: not round trips (see above).
        let fit = if self.points.len() >= MIN_SAMPLES && at_base < 2 {
            let points: Vec<Point> = self.points.iter().copied().collect();
            match fit(&points, |p| p.residual) {
                Some(f) if f.significant() => Some(f),
                residual => match fit(&points, |p| p.raw) {
                    Some(f) if f.significant() => Some(f),
                    _ => residual,
                },
            }
        } else {
            None
        };
        let Some(fit) = fit else {
            self.run = 0;
            self.slope = 0.0;
            return;
        };
        let sign = if fit.slope > 0.0 { 1 } else { -1 };
        if self.run * sign < 0 {
            self.run = 0;
        }
        if fit.significant() {
            self.run = (self.run + sign).clamp(-MAX_RUN, MAX_RUN);
        } else {
            self.run -= self.run.signum();
        }
        self.slope = if self.run.abs() >= MIN_RUN {
            fit.slope.clamp(-MAX_ASYMMETRY, MAX_ASYMMETRY)
        } else {
            0.0
        };
    }
}

/// The slope of the residuals (or raw offsets) on the delay, and how sure it is.
struct Fit {
    slope: f64,
    /// Kendall's rank correlation of residual and delay in standard deviations of its
    /// distribution when they are independent.
    z: f64,
}

impl Fit {
    /// Beyond [`SIGNIFICANCE`], of the slope's sign and at least [`MIN_ASYMMETRY`].
    fn significant(&self) -> bool {
        self.z.abs() > SIGNIFICANCE
            && self.z * self.slope > 0.0
            && self.slope.abs() >= MIN_ASYMMETRY
    }
}

/// The residuals' drift in time is taken out (the median of the pairwise slopes), then
/// the slope on the delay is the median of the pairwise slopes (Theil–Sen) and its
/// significance Kendall's τ. Both use ranks and medians only: the delays of a congested
/// path are heavy-tailed and their offset errors grow with them, which would let a few
/// samples carry a least-squares slope and understate its variance; a sample's rank
/// cannot. None when the delays do not vary.
///
/// The two slopes are fitted in turn, [`BACKFIT_PASSES`] times, each time on the values
/// less the other's part (back-fitting), which approaches the joint fit of both. Taking
/// the time drift out once, first, gave it whatever of the delay's effect went along with
/// time: where the excess delay grows over the first minutes (a server's load rising), it
/// took most of the offsets' fall as drift, which left the delay a slope near the 0.3
/// floor and too weak a τ; against chronyd's server (a bench run) the asymmetry was then
/// used only from the 42nd sample (back-fitted: the 35th; most series now the 16th, the
/// earliest [`MIN_SAMPLES`] and [`MIN_RUN`] allow), and the estimate followed the
/// high-delay samples 4 µs off till then.
fn fit(points: &[Point], value: impl Fn(&Point) -> f64) -> Option<Fit> {
    let n = points.len();
    let mut slope = 0.0;
    let mut detrended = Vec::new();
    for _ in 0..BACKFIT_PASSES {
        let drift = median_slope(points, |p| p.time, |p| value(p) - slope * p.delay)?;
        detrended = points
            .iter()
            .map(|p| Point {
                residual: value(p) - drift * p.time,
                ..*p
            })
            .collect();
        slope = median_slope(&detrended, |p| p.delay, |p| p.residual)?;
    }
    let mut concordance = 0i64;
    for (i, p) in detrended.iter().enumerate() {
        for q in &detrended[i + 1..] {
            let s = (q.delay - p.delay) * (q.residual - p.residual);
            concordance += if s > 0.0 {
                1
            } else if s < 0.0 {
                -1
            } else {
                0
            };
        }
    }
    let n = n as f64;
    let sd = (n * (n - 1.0) * (2.0 * n + 5.0) / 18.0).sqrt();
    Some(Fit {
        slope,
        z: concordance as f64 / sd,
    })
}

/// The median of the slopes between every two points whose `x` differ.
fn median_slope(
    points: &[Point],
    x: impl Fn(&Point) -> f64,
    y: impl Fn(&Point) -> f64,
) -> Option<f64> {
    let mut slopes = Vec::with_capacity(points.len() * points.len() / 2);
    for (i, p) in points.iter().enumerate() {
        for q in &points[i + 1..] {
            let dx = x(q) - x(p);
            if dx != 0.0 {
                slopes.push((y(q) - y(p)) / dx);
            }
        }
    }
    if slopes.len() < points.len() {
        return None;
    }
    let mid = slopes.len() / 2;
    let (_, m, _) = slopes.select_nth_unstable_by(mid, f64::total_cmp);
    m.is_finite().then_some(*m)
}
