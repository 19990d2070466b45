//! Summary statistics and frequency-stability measures of a time series: ntpviz's
//! percentile table, and the overlapping Allan deviation and time deviation of phase
//! (time offset) samples (IEEE 1139 / NIST SP 1065 estimators).

/// ntpviz's summary of a series: percentiles, ranges, mean and standard deviation.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub p1: f64,
    pub p5: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub mean: f64,
    pub std_dev: f64,
    pub n: usize,
}

impl Summary {
    pub fn of(values: &[f64]) -> Option<Summary> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        Some(Summary {
            p1: percentile(&v, 1.0),
            p5: percentile(&v, 5.0),
            p50: percentile(&v, 50.0),
            p95: percentile(&v, 95.0),
            p99: percentile(&v, 99.0),
            mean,
            std_dev: var.sqrt(),
            n,
        })
    }
}

/// The `p`th percentile of sorted values, nearest rank on 0..n-1 (as ntpviz indexes).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Phase samples at irregular times (loopstats and peerstats follow the poll interval)
/// put on a uniform grid of `tau0` by linear interpolation. Returns the grid values.
pub fn resample(t: &[f64], x: &[f64], tau0: f64) -> Vec<f64> {
    let mut out = Vec::new();
    if t.len() < 2 || tau0 <= 0.0 {
        return out;
    }
    let (start, end) = (t[0], t[t.len() - 1]);
    let steps = ((end - start) / tau0).floor() as usize;
    let mut j = 0;
    for k in 0..=steps {
        let at = start + k as f64 * tau0;
        while j + 2 < t.len() && t[j + 1] < at {
            j += 1;
        }
        let (t0, t1) = (t[j], t[j + 1]);
        let w = if t1 > t0 {
            ((at - t0) / (t1 - t0)).clamp(0.0, 1.0)
        } else {
            0.0
        };
        out.push(x[j] + w * (x[j + 1] - x[j]));
    }
    out
}

/// The median interval between samples: the natural τ0 of a stats series.
pub fn median_interval(t: &[f64]) -> Option<f64> {
    let mut d: Vec<f64> = t
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 0.0)
        .collect();
    if d.is_empty() {
        return None;
    }
    d.sort_by(|a, b| a.total_cmp(b));
    Some(d[d.len() / 2])
}

/// Averaging factors 1, 2, 4, … while at least `min_terms` terms remain in the sums.
fn octaves(n: usize, span: usize, min_terms: usize) -> Vec<usize> {
    let mut m = 1;
    let mut v = Vec::new();
    while n >= span * m + min_terms {
        v.push(m);
        m *= 2;
    }
    v
}

/// Overlapping Allan deviation of phase samples `x` spaced `tau0` apart:
/// σy²(τ) = Σ (x[i+2m] − 2x[i+m] + x\[i\])² / (2 τ² (N − 2m)), τ = m τ0.
/// Points are (τ, σy(τ)) at octave-spaced τ.
pub fn adev(x: &[f64], tau0: f64) -> Vec<(f64, f64)> {
    let n = x.len();
    octaves(n, 2, 3)
        .into_iter()
        .map(|m| {
            let tau = m as f64 * tau0;
            let terms = n - 2 * m;
            let sum: f64 = (0..terms)
                .map(|i| (x[i + 2 * m] - 2.0 * x[i + m] + x[i]).powi(2))
                .sum();
            (tau, (sum / (2.0 * tau * tau * terms as f64)).sqrt())
        })
        .collect()
}

/// Time deviation of phase samples: σx²(τ) = Σ_j [Σ_{i=j}^{j+m−1} (x[i+2m] − 2x[i+m] +
/// x\[i\])]² / (6 m² (N − 3m + 1)), i.e. τ²/3 · Mod σy²(τ).
pub fn tdev(x: &[f64], tau0: f64) -> Vec<(f64, f64)> {
    let n = x.len();
    octaves(n, 3, 2)
        .into_iter()
        .map(|m| {
            let d = |i: usize| x[i + 2 * m] - 2.0 * x[i + m] + x[i];
            let outer = n - 3 * m + 1;
            // running inner sum over a window of m second differences
            let mut inner: f64 = (0..m).map(d).sum();
            let mut sum = inner * inner;
            for j in 1..outer {
                inner += d(j + m - 1) - d(j - 1);
                sum += inner * inner;
            }
            let mf = m as f64;
            (mf * tau0, (sum / (6.0 * mf * mf * outer as f64)).sqrt())
        })
        .collect()
}

/// (τ, deviation) points of one measure.
pub type Curve = Vec<(f64, f64)>;

/// ADEV and TDEV of irregular samples (t, x): resampled at their median interval.
pub fn deviations(t: &[f64], x: &[f64]) -> (Curve, Curve) {
    let Some(tau0) = median_interval(t) else {
        return (Vec::new(), Vec::new());
    };
    let grid = resample(t, x, tau0);
    (adev(&grid, tau0), tdev(&grid, tau0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slope of log y over log x, least squares.
    fn slope(points: &[(f64, f64)]) -> f64 {
        let n = points.len() as f64;
        let (lx, ly): (Vec<f64>, Vec<f64>) = points.iter().map(|(a, b)| (a.ln(), b.ln())).unzip();
        let (mx, my) = (lx.iter().sum::<f64>() / n, ly.iter().sum::<f64>() / n);
        let cov: f64 = lx.iter().zip(&ly).map(|(a, b)| (a - mx) * (b - my)).sum();
        let var: f64 = lx.iter().map(|a| (a - mx).powi(2)).sum();
        cov / var
    }

    /// Deterministic Gaussian noise (xorshift and Box–Muller).
    fn noise(n: usize, mut s: u64) -> Vec<f64> {
        let mut u = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        (0..n)
            .map(|_| (-2.0 * u().ln()).sqrt() * (2.0 * std::f64::consts::PI * u()).cos())
            .collect()
    }

    #[test]
    fn hand_computed_quadratic_phase() {
        // x = t²: every second difference at m = 1 is 2
        let x = [0.0, 1.0, 4.0, 9.0, 16.0];
        let a = adev(&x, 1.0);
        // σy²(1) = 3·2² / (2·1·3) = 2
        assert_eq!(a[0].0, 1.0);
        assert!((a[0].1 - 2f64.sqrt()).abs() < 1e-12, "{a:?}");
        // σx²(1) = 3·2² / (6·1·3) = 2/3
        let td = tdev(&x, 1.0);
        assert!((td[0].1 - (2.0f64 / 3.0).sqrt()).abs() < 1e-12, "{td:?}");
        // a constant frequency offset (linear phase) is invisible to both
        let lin: Vec<f64> = (0..64).map(|i| 3.0 + 1e-6 * i as f64).collect();
        assert!(adev(&lin, 1.0).iter().all(|p| p.1 < 1e-15));
        assert!(tdev(&lin, 1.0).iter().all(|p| p.1 < 1e-15));
    }

    #[test]
    fn white_phase_noise_slopes() {
        // white PM: ADEV ∝ τ^-1, TDEV ∝ τ^-1/2 with σx(τ0) = σ/√(… ) ≈ σ·√(1/ … )
        let x: Vec<f64> = noise(1 << 14, 7).into_iter().map(|v| v * 1e-6).collect();
        let a = adev(&x, 1.0);
        let s = slope(&a);
        assert!((s + 1.0).abs() < 0.1, "ADEV slope {s}");
        let td = tdev(&x, 1.0);
        let s = slope(&td[1..]);
        assert!((s + 0.5).abs() < 0.1, "TDEV slope {s}");
        // at τ0, σy² = E[(Δ²x)²]/2 = 6σ²/2 = 3σ²
        assert!(
            (a[0].1 / (3f64.sqrt() * 1e-6) - 1.0).abs() < 0.05,
            "{:?}",
            a[0]
        );
    }

    #[test]
    fn random_walk_phase_slopes() {
        // white FM (random-walk phase): ADEV ∝ τ^-1/2, TDEV ∝ τ^+1/2
        let mut acc = 0.0;
        let x: Vec<f64> = noise(1 << 14, 11)
            .into_iter()
            .map(|v| {
                acc += v;
                acc
            })
            .collect();
        let s = slope(&adev(&x, 1.0));
        assert!((s + 0.5).abs() < 0.1, "ADEV slope {s}");
        let s = slope(&tdev(&x, 1.0));
        assert!((s - 0.5).abs() < 0.1, "TDEV slope {s}");
    }

    #[test]
    fn irregular_samples_resample_onto_their_median_interval() {
        let t = [0.0, 8.0, 16.0, 40.0, 48.0];
        let x = [0.0, 8.0, 16.0, 40.0, 48.0];
        assert_eq!(median_interval(&t), Some(8.0));
        assert_eq!(
            resample(&t, &x, 8.0),
            vec![0.0, 8.0, 16.0, 24.0, 32.0, 40.0, 48.0]
        );
        let (a, _) = deviations(&t, &x);
        assert!(a.iter().all(|p| p.1 < 1e-15));
        assert!(deviations(&[1.0], &[1.0]).0.is_empty());
    }

    #[test]
    fn summary_matches_hand_values() {
        let v: Vec<f64> = (1..=101).map(f64::from).collect();
        let s = Summary::of(&v).unwrap();
        assert_eq!(
            (s.p1, s.p5, s.p50, s.p95, s.p99),
            (2.0, 6.0, 51.0, 96.0, 100.0)
        );
        assert_eq!(s.mean, 51.0);
        assert!((s.std_dev - (850.0f64).sqrt()).abs() < 1e-9);
        assert!(Summary::of(&[f64::NAN]).is_none());
    }
}
