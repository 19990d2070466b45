//! Stand-ins for the RFC 5905 clock filter and selection until `filter.rs`/`select.rs`
//! (written on the `ntpdate` branch) are merged. Deliberately minimal.

const PHI: f64 = 15e-6;
const MAXDISP: f64 = 16.0;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stage {
    pub offset: f64,
    pub delay: f64,
    pub dispersion: f64,
    pub time: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct FilterOutput {
    pub offset: f64,
    pub delay: f64,
    pub dispersion: f64,
    pub jitter: f64,
}

#[derive(Clone, Debug, Default)]
pub struct ClockFilter {
    stages: Vec<Stage>,
}

impl ClockFilter {
    pub fn push(&mut self, s: Stage) -> FilterOutput {
        self.stages.insert(0, s);
        self.stages.truncate(8);
        self.output(s.time)
    }
    pub fn clear(&mut self) {
        self.stages.clear();
    }
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }
    pub fn output(&self, now: f64) -> FilterOutput {
        let mut sorted: Vec<Stage> = self
            .stages
            .iter()
            .map(|s| Stage {
                dispersion: (s.dispersion + PHI * (now - s.time)).min(MAXDISP),
                ..*s
            })
            .collect();
        sorted.sort_by(|a, b| a.delay.total_cmp(&b.delay));
        let Some(best) = sorted.first().copied() else {
            return FilterOutput {
                dispersion: MAXDISP,
                ..Default::default()
            };
        };
        let dispersion = sorted
            .iter()
            .enumerate()
            .map(|(i, s)| s.dispersion / 2f64.powi(i as i32 + 1))
            .sum::<f64>();
        let n = sorted.len().max(1) as f64;
        let jitter = (sorted
            .iter()
            .map(|s| (s.offset - best.offset).powi(2))
            .sum::<f64>()
            / n)
            .sqrt();
        FilterOutput {
            offset: best.offset,
            delay: best.delay,
            dispersion,
            jitter,
        }
    }
}

/// A selection candidate: the offset and its correctness-interval half-width.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    pub offset: f64,
    pub root_distance: f64,
}

/// Marzullo intersection: which candidates are truechimers.
pub fn truechimers(c: &[Candidate]) -> Vec<bool> {
    let m = c.len();
    if m == 0 {
        return vec![];
    }
    let mut ends: Vec<(f64, i32)> = Vec::new();
    for x in c {
        ends.push((x.offset - x.root_distance, -1));
        ends.push((x.offset, 0));
        ends.push((x.offset + x.root_distance, 1));
    }
    ends.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    for f in 0..m.div_ceil(2) {
        let need = (m - f) as i32;
        let (mut low, mut high) = (f64::NAN, f64::NAN);
        let mut count = 0;
        for &(v, t) in &ends {
            count -= t;
            if count >= need {
                low = v;
                break;
            }
        }
        count = 0;
        for &(v, t) in ends.iter().rev() {
            count += t;
            if count >= need {
                high = v;
                break;
            }
        }
        if low <= high {
            return c
                .iter()
                .map(|x| x.offset - x.root_distance <= high && x.offset + x.root_distance >= low)
                .collect();
        }
    }
    vec![false; m]
}
