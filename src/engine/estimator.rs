//! Per-source offset/frequency estimator: a two-state Kalman filter over the source's
//! offset on the *raw* timescale (the offset the clock would have without any of our
//! corrections). Because the engine knows every correction it commanded, removing them
//! makes the estimation problem independent of the control loop: the raw offset is just
//! the oscillator's phase error, a random-walk-frequency process, observed through
//! network noise. (Design after chrony's regression on corrected samples and ntpd-rs's
//! Kalman filter.)
//!
//! Measurement noise comes from the delay: with a symmetric base delay, a sample's offset
//! error is half the difference of the extra queueing delays, bounded by half the excess
//! over the minimum delay and, for independent queueing, uniform within that bound. So
//! low-delay samples are trusted much more than high-delay ones (ntpd's clock filter keeps
//! only the minimum-delay sample; this weighs every sample by what its delay proves).

use std::collections::VecDeque;

/// How many recent delays decide the minimum delay.
const DELAY_WINDOW: usize = 32;
/// Innovations beyond this many standard deviations are outliers.
const OUTLIER_SIGMAS: f64 = 5.0;
/// After this many outliers in a row the source has really moved: restart from there.
const OUTLIERS_BEFORE_RESET: u32 = 4;
/// Samples over which the innovation statistics are averaged before the assumed wander
/// is adjusted.
const NIS_AVERAGING: f64 = 32.0;
/// The wander is measured over this span of posterior estimates once they cover half of it
/// (until then the innovation statistics steer it), s.
const WANDER_SPAN: f64 = 16_384.0;
/// Posterior estimates kept for it.
const WANDER_HISTORY: usize = 256;
/// Updates over which the wander measurements are averaged.
const WANDER_AVERAGING: f64 = 32.0;
/// Step of log q per sample in the wander learning, and the cap on one sample's NIS.
const WANDER_GAIN: f64 = 0.05;
const NIS_CAP: f64 = 10.0;
/// Bounds on the random-walk noise density (wander 1e-10 … 1e-6 per √s).
const MIN_Q: f64 = 1e-20;
const MAX_Q: f64 = 1e-12;
/// Outliers are judged only once the state has settled.
const MIN_SAMPLES_FOR_OUTLIERS: u64 = 8;

/// One measurement: when (engine seconds), the raw offset and the round-trip delay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measurement {
    pub time: f64,
    pub raw_offset: f64,
    pub delay: f64,
}

/// Whether a measurement was used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Outlier,
    /// Too many outliers in a row; the state restarted at this measurement.
    Reset,
}

/// A prediction of the state at some time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// Raw offset, s.
    pub offset: f64,
    /// Raw offset rate = frequency correction needed (fraction).
    pub frequency: f64,
    pub offset_var: f64,
    pub frequency_var: f64,
}

#[derive(Clone, Debug)]
pub struct Estimator {
    time: f64,
    x: f64,
    y: f64,
    p: [[f64; 2]; 2],
    /// Random-walk frequency noise density (fraction² per s).
    q: f64,
    initial_frequency: f64,
    initial_frequency_var: f64,
    delays: VecDeque<f64>,
    samples: u64,
    outliers_in_row: u32,
    /// The outliers in a row so far: on a reset they are the evidence for the new state.
    outliers: Vec<Measurement>,
    /// Floor on the measurement variance (timestamp precision), s².
    noise_floor: f64,
    /// Offset residual RMS (jitter) as an exponential average, s².
    residual_var: f64,
    /// Average normalised innovation squared (kept for diagnosis).
    nis_avg: f64,
    /// Average information (1/variance) of the accepted samples, 1/s².
    info_avg: f64,
    /// Posterior (time, offset, offset variance) after each accepted sample, for the
    /// wander measurement.
    history: VecDeque<(f64, f64, f64)>,
    /// Running average of the wander measurements (fraction² per s), once there are any.
    q_measured: Option<f64>,
}

impl Estimator {
    /// `wander`: random-walk frequency noise (fraction per √s); `frequency`: the
    /// frequency correction believed right at start (fraction) and its standard deviation.
    pub fn new(wander: f64, frequency: f64, frequency_sd: f64, precision: f64) -> Self {
        Estimator {
            time: 0.0,
            x: 0.0,
            y: frequency,
            p: [[0.0; 2]; 2],
            q: wander * wander,
            initial_frequency: frequency,
            initial_frequency_var: frequency_sd * frequency_sd,
            delays: VecDeque::with_capacity(DELAY_WINDOW),
            samples: 0,
            outliers_in_row: 0,
            outliers: Vec::with_capacity(OUTLIERS_BEFORE_RESET as usize),
            noise_floor: precision * precision,
            residual_var: 0.0,
            nis_avg: 1.0,
            info_avg: 0.0,
            history: VecDeque::with_capacity(WANDER_HISTORY),
            q_measured: None,
        }
    }

    /// The noise of one sample as the estimator weighs it: the inverse of the samples'
    /// average information (low-delay samples count for much more), s².
    pub fn noise_var(&self) -> f64 {
        if self.info_avg > 0.0 {
            1.0 / self.info_avg
        } else {
            f64::INFINITY
        }
    }

    /// The random-walk frequency noise density believed now (fraction² per s).
    pub fn wander_var(&self) -> f64 {
        self.q
    }

    /// Time of the latest sample taken in.
    pub fn time(&self) -> f64 {
        self.time
    }

    /// Samples taken so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    pub fn is_ready(&self) -> bool {
        self.samples > 0
    }

    /// The lowest delay among recent samples, s.
    pub fn min_delay(&self) -> f64 {
        self.delays.iter().copied().fold(f64::INFINITY, f64::min)
    }

    /// Variance of a sample's offset given its delay.
    fn measurement_var(&self, delay: f64) -> f64 {
        let min = self.min_delay().min(delay);
        let n = self.delays.len().max(1) as f64;
        // The true minimum may lie below the lowest delay seen so far, the more so the
        // fewer samples there are: allow for part of it.
        let mean_excess = self.delays.iter().map(|d| d - min).sum::<f64>() / n;
        let min_uncertainty = if self.delays.len() < 2 {
            min
        } else {
            mean_excess / n.sqrt()
        };
        let excess = delay - min;
        (excess * excess + min_uncertainty * min_uncertainty) / 12.0 + self.noise_floor
    }

    fn predict(&self, t: f64) -> (f64, f64, [[f64; 2]; 2]) {
        let dt = (t - self.time).max(0.0);
        let x = self.x + self.y * dt;
        let p = &self.p;
        let mut n = [
            [
                p[0][0] + dt * (p[1][0] + p[0][1]) + dt * dt * p[1][1],
                p[0][1] + dt * p[1][1],
            ],
            [p[1][0] + dt * p[1][1], p[1][1]],
        ];
        n[0][0] += self.q * dt * dt * dt / 3.0;
        n[0][1] += self.q * dt * dt / 2.0;
        n[1][0] += self.q * dt * dt / 2.0;
        n[1][1] += self.q * dt;
        (x, self.y, n)
    }

    /// The state predicted at `t`.
    pub fn estimate_at(&self, t: f64) -> Estimate {
        let (x, y, p) = self.predict(t);
        Estimate {
            offset: x,
            frequency: y,
            offset_var: p[0][0],
            frequency_var: p[1][1],
        }
    }

    fn restart(&mut self, m: &Measurement, r: f64) {
        self.time = m.time;
        self.x = m.raw_offset;
        if self.samples == 0 {
            self.y = self.initial_frequency;
            self.p = [[r, 0.0], [0.0, self.initial_frequency_var]];
        } else {
            // Keep the frequency (the oscillator did not change because a source did),
            // but let the offset restart.
            self.p = [[r, 0.0], [0.0, self.p[1][1].max(1e-12)]];
        }
        self.residual_var = r;
    }

    /// The source really moved (a run of outliers): restart the offset at the first of
    /// them and learn from all of them. If they drift apart at a rate the frequency does
    /// not explain (beyond 3σ of that rate's own noise), the frequency was wrong as well:
    /// its uncertainty widens to that rate, so the outliers correct it instead of the
    /// next honest samples being rejected against a confidently wrong frequency.
    fn reset_from_outliers(&mut self) {
        let run = std::mem::take(&mut self.outliers);
        let Some(first) = run.first().copied() else {
            return;
        };
        let points: Vec<(f64, f64, f64)> = run
            .iter()
            .map(|o| {
                let r = self.measurement_var(o.delay);
                (o.time, o.raw_offset - self.predict(o.time).0, r)
            })
            .collect();
        let n = points.len() as f64;
        let t_mean = points.iter().map(|p| p.0).sum::<f64>() / n;
        let i_mean = points.iter().map(|p| p.1).sum::<f64>() / n;
        let stt: f64 = points.iter().map(|p| (p.0 - t_mean).powi(2)).sum();
        let mut frequency_var = self.p[1][1];
        if stt > 0.0 {
            let slope = points
                .iter()
                .map(|p| (p.0 - t_mean) * (p.1 - i_mean))
                .sum::<f64>()
                / stt;
            let r_mean = points.iter().map(|p| p.2).sum::<f64>() / n;
            let slope_var = r_mean / stt;
            if slope * slope > 9.0 * slope_var {
                frequency_var = frequency_var.max(slope * slope + slope_var);
            }
        }
        self.p[1][1] = frequency_var;
        // estimates from before the move say nothing about the oscillator's wander now
        self.history.clear();
        self.restart(&first, points[0].2);
        for m in &run[1..] {
            let r = self.measurement_var(m.delay);
            let (x, y, p) = self.predict(m.time);
            self.correct(m.time, m.raw_offset - x, x, y, p, r);
        }
    }

    /// The Kalman measurement update with the prediction (x, y, p) at `time`.
    fn correct(&mut self, time: f64, innovation: f64, x: f64, y: f64, p: [[f64; 2]; 2], r: f64) {
        let s = p[0][0] + r;
        let k0 = p[0][0] / s;
        let k1 = p[1][0] / s;
        self.x = x + k0 * innovation;
        self.y = y + k1 * innovation;
        self.p = [
            [(1.0 - k0) * p[0][0], (1.0 - k0) * p[0][1]],
            [p[1][0] - k1 * p[0][0], p[1][1] - k1 * p[0][1]],
        ];
        self.time = time;
    }

    /// Measure the wander where it dominates: over a long span, how far the estimate in
    /// the middle lies from the straight line between the estimates at both ends. For a
    /// random-walk frequency of density q that deviation has variance q·T³/6 (T: half the
    /// span); the estimates' own errors (their posterior variances) are subtracted. Over
    /// hours this is q-dominated even for a very stable oscillator, where the innovation
    /// statistics hardly depend on q (each innovation is mostly measurement noise) and
    /// follow any misfit of the noise model instead. Returns whether it measured.
    fn measure_wander(&mut self) -> bool {
        while self
            .history
            .front()
            .is_some_and(|h| h.0 < self.time - WANDER_SPAN)
        {
            self.history.pop_front();
        }
        let (Some(&old), Some(&new)) = (self.history.front(), self.history.back()) else {
            return false;
        };
        let span = new.0 - old.0;
        if span < WANDER_SPAN / 2.0 {
            return false;
        }
        let middle = (old.0 + new.0) / 2.0;
        let Some(&mid) = self
            .history
            .iter()
            .min_by(|a, b| (a.0 - middle).abs().total_cmp(&(b.0 - middle).abs()))
        else {
            return false;
        };
        let line = old.1 + (new.1 - old.1) * (mid.0 - old.0) / span;
        let d = mid.1 - line;
        let half = span / 2.0;
        let noise = mid.2 + (old.2 + new.2) / 4.0;
        let sample = (d * d - noise) / (half * half * half / 6.0);
        let avg = self.q_measured.get_or_insert(self.q);
        *avg += (sample - *avg) / WANDER_AVERAGING;
        self.q = avg.clamp(MIN_Q, MAX_Q);
        true
    }

    /// Follow the oscillator's real wander: innovations persistently larger than the
    /// filter predicts mean the frequency moves more than assumed (and smaller, less).
    /// The normalised innovation squared averages 1 when the model is right; each sample
    /// moves log q by a small step towards that (a stochastic approximation: a hundredfold
    /// error is learnt within tens of samples, while the noise of single samples averages
    /// out). Capping one sample's weight keeps a stray outlier from doubling q.
    fn adapt_wander(&mut self, nis: f64) {
        if self.samples < MIN_SAMPLES_FOR_OUTLIERS {
            return;
        }
        self.nis_avg += (nis.min(25.0) - self.nis_avg) / NIS_AVERAGING;
        if self.measure_wander() {
            return;
        }
        let step = WANDER_GAIN * (nis.min(NIS_CAP) - 1.0);
        self.q = (self.q * step.exp()).clamp(MIN_Q, MAX_Q);
    }

    pub fn update(&mut self, m: &Measurement) -> Outcome {
        if !(m.raw_offset.is_finite() && m.delay.is_finite() && m.time.is_finite()) {
            return Outcome::Outlier;
        }
        let delay = m.delay.max(0.0);
        if self.delays.len() == DELAY_WINDOW {
            self.delays.pop_front();
        }
        self.delays.push_back(delay);
        let r = self.measurement_var(delay);
        if self.samples == 0 {
            self.restart(m, r);
            self.samples = 1;
            return Outcome::Accepted;
        }
        let (x, y, p) = self.predict(m.time);
        let s = p[0][0] + r;
        let innovation = m.raw_offset - x;
        if self.samples >= MIN_SAMPLES_FOR_OUTLIERS
            && innovation * innovation > OUTLIER_SIGMAS * OUTLIER_SIGMAS * s
        {
            self.outliers_in_row += 1;
            self.outliers.push(*m);
            if self.outliers_in_row >= OUTLIERS_BEFORE_RESET {
                self.outliers_in_row = 0;
                self.reset_from_outliers();
                self.samples += 1;
                return Outcome::Reset;
            }
            return Outcome::Outlier;
        }
        self.outliers_in_row = 0;
        self.outliers.clear();
        let info_weight = 1.0 / (self.samples as f64).clamp(1.0, 16.0);
        self.info_avg += (1.0 / r - self.info_avg) * info_weight;
        self.correct(m.time, innovation, x, y, p, r);
        if self.history.len() == WANDER_HISTORY {
            self.history.pop_front();
        }
        self.history.push_back((self.time, self.x, self.p[0][0]));
        self.samples += 1;
        self.residual_var += (innovation * innovation - self.residual_var) / 8.0;
        self.adapt_wander(innovation * innovation / s);
        Outcome::Accepted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_constant_frequency_from_exact_samples() {
        let mut e = Estimator::new(1e-8, 0.0, 1e-4, 1e-9);
        for i in 0..50 {
            let t = i as f64 * 64.0;
            e.update(&Measurement {
                time: t,
                raw_offset: 0.01 + 20e-6 * t,
                delay: 1e-3,
            });
        }
        let est = e.estimate_at(50.0 * 64.0);
        assert!((est.frequency - 20e-6).abs() < 1e-8, "{est:?}");
        assert!((est.offset - (0.01 + 20e-6 * 3200.0)).abs() < 1e-6);
    }

    #[test]
    fn trusts_low_delay_samples_more() {
        let mut e = Estimator::new(1e-8, 0.0, 1e-6, 1e-9);
        // Establish a minimum delay of 1 ms at offset 0.
        for i in 0..10 {
            e.update(&Measurement {
                time: i as f64,
                raw_offset: 0.0,
                delay: 1e-3,
            });
        }
        // A high-delay sample 3 ms away moves the estimate far less than its offset.
        e.update(&Measurement {
            time: 10.0,
            raw_offset: 3e-3,
            delay: 20e-3,
        });
        assert!(e.estimate_at(10.0).offset.abs() < 1e-3);
    }

    #[test]
    fn isolated_outlier_is_rejected_and_a_persistent_change_is_accepted() {
        let mut e = Estimator::new(1e-8, 0.0, 1e-6, 1e-9);
        for i in 0..20 {
            let o = e.update(&Measurement {
                time: i as f64 * 16.0,
                raw_offset: 0.0,
                delay: 1e-3 + (i % 3) as f64 * 1e-4,
            });
            assert_eq!(o, Outcome::Accepted);
        }
        let spike = Measurement {
            time: 320.0,
            raw_offset: 0.5,
            delay: 1e-3,
        };
        assert_eq!(e.update(&spike), Outcome::Outlier);
        let mut last = Outcome::Outlier;
        for i in 1..4 {
            last = e.update(&Measurement {
                time: 320.0 + i as f64 * 16.0,
                ..spike
            });
        }
        assert_eq!(last, Outcome::Reset);
        assert!((e.estimate_at(368.0).offset - 0.5).abs() < 1e-3);
    }

    #[test]
    fn a_reset_learns_a_frequency_the_outliers_show() {
        // Confident at frequency 0 after a long run of exact samples...
        let mut e = Estimator::new(1e-8, 0.0, 1e-6, 1e-9);
        for i in 0..40 {
            e.update(&Measurement {
                time: i as f64 * 2.0,
                raw_offset: 0.0,
                delay: 1e-4,
            });
        }
        // ...then the raw offsets run away at 50 ppm (what a correction booked but never
        // made looks like): after the reset the frequency follows them.
        let mut last = Outcome::Accepted;
        for i in 1..=8 {
            let t = 80.0 + i as f64 * 2.0;
            last = e.update(&Measurement {
                time: t,
                raw_offset: 0.01 + 50e-6 * (t - 80.0),
                delay: 1e-4,
            });
        }
        assert_eq!(last, Outcome::Accepted);
        let est = e.estimate_at(96.0);
        assert!((est.frequency - 50e-6).abs() < 1e-6, "{est:?}");
    }
}
