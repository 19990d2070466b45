//! Recorded samples through one source's estimator, outside the engine: what the engine
//! would have estimated from them. For what-if analysis of a real run (`ntpsim --replay`):
//! our client's rawstats give back its loopstats estimate, another client's samples (a
//! chronyd's measurements log) tell its samples from its estimator.
//!
//! Only the estimator runs: no clock filter, poll or selection, and nothing is corrected
//! (as in an observe-only daemon, every sample is against the same free-running clock).

use crate::estimator::{Estimator, Measurement};
use crate::EngineConfig;

/// One recorded sample, s.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub time: f64,
    pub offset: f64,
    pub delay: f64,
}

/// The estimator's state after a sample, s.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Replayed {
    pub sample: Sample,
    /// The offset it would correct (loopstats' offset).
    pub estimate: f64,
    /// The jitter asymmetry in use (mode 6 `asym`), −0.5 … +0.5.
    pub asymmetry: f64,
    /// The estimate's own standard deviation, s (how much the next sample can move it).
    pub offset_sd: f64,
    /// The wander the estimator assumes (see [`Estimator::wander`]), s²/s³.
    pub wander: f64,
}

/// Run `samples` (in time order) through a new source's estimator as the engine makes it
/// from `config` (as `Engine::add_source` does).
pub fn replay(samples: &[Sample], config: &EngineConfig) -> Vec<Replayed> {
    // a daemon without a drift file starts from 0 ppm
    let mut estimator = Estimator::for_source(config, 0.0);
    samples
        .iter()
        .map(|s| {
            estimator.update(&Measurement {
                time: s.time,
                raw_offset: s.offset,
                delay: s.delay,
            });
            let estimate = estimator.estimate_at(s.time);
            Replayed {
                sample: *s,
                estimate: estimate.offset,
                asymmetry: estimator.asymmetry(),
                offset_sd: estimate.offset_var.max(0.0).sqrt(),
                wander: estimator.wander(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sided_excess_delay_ends_at_the_least_delayed_samples_offset() {
        // every sample reads early by half its excess delay over a 10 µs round trip (a
        // server's transmit time read before the send), the excess spread 0-12 µs
        let samples: Vec<Sample> = (0..80)
            .map(|i| {
                let excess = 12e-6 * (((i * 37) % 80) as f64 / 79.0);
                Sample {
                    time: 8.0 * i as f64,
                    offset: -excess / 2.0,
                    delay: 10e-6 + excess,
                }
            })
            .collect();
        let out = replay(&samples, &EngineConfig::default());
        let last = out.last().unwrap();
        assert!(last.asymmetry < -0.45, "asymmetry {}", last.asymmetry);
        assert!(last.estimate.abs() < 0.5e-6, "estimate {:e}", last.estimate);
        // without the asymmetry the mean would be −3 µs: it was learnt, not assumed
        assert_eq!(out[0].asymmetry, 0.0);
        assert_eq!(out.len(), samples.len());
    }
}
