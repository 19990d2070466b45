//! Choosing whom to believe (RFC 5905 §11.2, ntpd's `clock_select`): root distance, the
//! intersection algorithm that marks falsetickers, the cluster algorithm that prunes
//! outliers, the combine algorithm that averages the survivors, and the system peer choice.
//!
//! Pure functions over [`Candidate`]s; every candidate gets an [`Outcome`] whose code is
//! the mode 6 peer status "select" field (ntpq's tally character).

use ntpkit_wire::packet::Leap;

use super::filter::PHI;

/// Stratum at and above which a server is unsynchronised.
pub const MAXSTRAT: u8 = 16;

/// What one server looks like to the selection: its clock filter's output plus what its
/// last reply said about itself. All times are seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    /// θ from the clock filter.
    pub offset: f64,
    /// δ from the clock filter.
    pub delay: f64,
    /// Peer dispersion ε from the clock filter.
    pub dispersion: f64,
    /// Peer jitter ψ from the clock filter.
    pub jitter: f64,
    /// Root delay Δ the server advertises.
    pub root_delay: f64,
    /// Root dispersion E the server advertises.
    pub root_dispersion: f64,
    /// Time since the filter last took a sample (dispersion grows by PHI over it).
    pub age: f64,
    /// Precision of the server's clock plus ours (ntpd adds both to the distance).
    pub precision: f64,
    pub stratum: u8,
    pub leap: Leap,
    /// Whether any of the recent polls was answered.
    pub reachable: bool,
    /// The server sent a Kiss-o'-Death (DENY, RSTR, RATE…): never use it.
    pub kiss_of_death: bool,
    /// The server is synchronised to us (its refid is our address): a timing loop.
    pub loops_to_us: bool,
    /// `prefer` in the configuration.
    pub prefer: bool,
}

impl Candidate {
    /// A reachable, synchronised stratum-2 candidate; adjust the other fields as needed.
    pub fn new(offset: f64, delay: f64, dispersion: f64, jitter: f64) -> Candidate {
        Candidate {
            offset,
            delay,
            dispersion,
            jitter,
            root_delay: 0.0,
            root_dispersion: 0.0,
            age: 0.0,
            precision: 0.0,
            stratum: 2,
            leap: Leap::NoWarning,
            reachable: true,
            kiss_of_death: false,
            loops_to_us: false,
            prefer: false,
        }
    }
}

/// The mode 6 peer-status select codes (ntpq tally characters): the wire layer owns the
/// type, so what the engine decides and what ntpq decodes are one enum.
pub use ntpkit_wire::control::Select as Outcome;

/// Why a candidate was rejected before the intersection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectReason {
    Unreachable,
    /// Leap indicator 3.
    Unsynchronized,
    /// Stratum 0 (unspecified) or ≥ 16.
    Stratum,
    KissOfDeath,
    /// Root distance above `maxdist`.
    Distance,
    /// The server is synchronised to us.
    Loop,
}

/// Tunables (ntpd's `tos` command). `Default` gives ntpd 4.2.8's values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SelectParams {
    /// Root distance above which a candidate is rejected (`tos maxdist`, 1.5 s).
    pub maxdist: f64,
    /// Floor of the root distance, so very precise sources do not make a hair-thin
    /// intersection interval (`tos mindist`, 1 ms).
    pub mindist: f64,
    /// Survivors needed to declare a system peer (`tos minsane`, 1).
    pub minsane: usize,
    /// The cluster algorithm stops pruning at this many survivors (`tos minclock`, 3).
    pub minclock: usize,
    /// Truechimers beyond this many (best first) are excess (`tos maxclock`, 10).
    pub maxclock: usize,
    /// Survivors beyond this many are backups, not combined.
    pub max_combine: usize,
    /// Our clock's precision (seconds): floor for the system jitter.
    pub system_precision: f64,
    /// Sources of a stratum below this are rejected (`tos floor`, 1).
    pub floor: u8,
    /// Sources at or above this stratum are rejected (`tos ceiling`, 16).
    pub ceiling: u8,
}

impl Default for SelectParams {
    fn default() -> Self {
        SelectParams {
            maxdist: 1.5,
            mindist: 0.001,
            minsane: 1,
            minclock: 3,
            maxclock: 10,
            max_combine: 10,
            system_precision: 0.0,
            floor: 1,
            ceiling: MAXSTRAT,
        }
    }
}

/// The result of one selection over a slice of candidates (indices refer to that slice).
#[derive(Clone, Debug, PartialEq)]
pub struct Selection {
    /// One per candidate.
    pub outcomes: Vec<Outcome>,
    /// Why each rejected candidate was rejected (`None` for the others).
    pub reasons: Vec<Option<RejectReason>>,
    /// Root distance Λ of each candidate.
    pub distances: Vec<f64>,
    /// The intersection interval of the majority, if there was one.
    pub interval: Option<(f64, f64)>,
    /// Cluster survivors, best (lowest stratum·maxdist + Λ) first.
    pub survivors: Vec<usize>,
    /// The system peer, if at least `minsane` candidates survived.
    pub sys_peer: Option<usize>,
    /// Combined offset of the survivors (weights 1/Λ); 0 without a system peer.
    pub offset: f64,
    /// System jitter: the system peer's jitter and the survivors' spread combined.
    pub jitter: f64,
}

/// Root distance Λ: the maximum error of the server's clock as seen from here.
/// (δ + Δ)/2 + ε + E + PHI·age + ψ + precisions, at least `mindist`.
pub fn root_distance(c: &Candidate, mindist: f64) -> f64 {
    let parts = [
        (c.delay.max(0.0) + c.root_delay.max(0.0)) / 2.0,
        c.dispersion.max(0.0),
        c.root_dispersion.max(0.0),
        PHI * c.age.max(0.0),
        c.jitter.max(0.0),
        c.precision.max(0.0),
    ];
    let d: f64 = parts
        .iter()
        .map(|&x| if x.is_nan() { 0.0 } else { x })
        .sum();
    let floor = if mindist.is_nan() { 0.0 } else { mindist };
    // NaN parts were dropped above; an infinite part makes the candidate fail the maxdist
    // test instead of poisoning the arithmetic later.
    d.max(floor).min(f64::MAX)
}

/// Why `c` cannot be used at all, if it cannot.
pub fn reject_reason(c: &Candidate, distance: f64, params: &SelectParams) -> Option<RejectReason> {
    if c.kiss_of_death {
        Some(RejectReason::KissOfDeath)
    } else if !c.reachable {
        Some(RejectReason::Unreachable)
    } else if c.leap == Leap::Unsync {
        Some(RejectReason::Unsynchronized)
    } else if c.stratum == 0
        || c.stratum >= MAXSTRAT
        || c.stratum < params.floor
        || c.stratum >= params.ceiling
    {
        Some(RejectReason::Stratum)
    } else if c.loops_to_us {
        Some(RejectReason::Loop)
    } else if !within(distance, params.maxdist) || !c.offset.is_finite() {
        Some(RejectReason::Distance)
    } else {
        None
    }
}

/// `distance ≤ limit`, false when either is NaN.
fn within(distance: f64, limit: f64) -> bool {
    matches!(
        distance.partial_cmp(&limit),
        Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
    )
}

/// The smallest interval that contains a point of the correctness intervals
/// [θ−Λ, θ+Λ] of the most candidates, allowing the fewest falsetickers, as long as the
/// truechimers are a majority (ntpd's variant of Marzullo's algorithm). `None`: no
/// majority agrees.
pub fn intersection(intervals: &[(f64, f64)]) -> Option<(f64, f64)> {
    let m = intervals.len();
    if m == 0 {
        return None;
    }
    // (value, kind): kind -1 opens an interval, +1 closes it. Sorting by (value, kind)
    // puts an opening before a closing at the same point, so touching intervals overlap.
    let mut edges: Vec<(f64, i32)> = intervals
        .iter()
        .flat_map(|&(lo, hi)| [(lo, -1), (hi, 1)])
        .collect();
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut allow = 0;
    while 2 * allow < m {
        let need = (m - allow) as i32;
        let mut depth = 0;
        let mut low = f64::INFINITY;
        for &(v, kind) in &edges {
            depth -= kind;
            if depth >= need {
                low = v;
                break;
            }
        }
        depth = 0;
        let mut high = f64::NEG_INFINITY;
        for &(v, kind) in edges.iter().rev() {
            depth += kind;
            if depth >= need {
                high = v;
                break;
            }
        }
        if high >= low {
            return Some((low, high));
        }
        allow += 1;
    }
    None
}

/// Run the whole selection. `previous_sys_peer` (an index into `candidates`) is kept when
/// it survives and is as good a stratum as the best, so that the system peer does not hop
/// between equally good servers on every poll (RFC 5905 clock-hop rule).
pub fn select(
    candidates: &[Candidate],
    params: &SelectParams,
    previous_sys_peer: Option<usize>,
) -> Selection {
    let n = candidates.len();
    let distances: Vec<f64> = candidates
        .iter()
        .map(|c| root_distance(c, params.mindist))
        .collect();
    let reasons: Vec<Option<RejectReason>> = candidates
        .iter()
        .zip(&distances)
        .map(|(c, &d)| reject_reason(c, d, params))
        .collect();
    let mut sel = Selection {
        outcomes: vec![Outcome::Reject; n],
        reasons: reasons.clone(),
        distances: distances.clone(),
        interval: None,
        survivors: Vec::new(),
        sys_peer: None,
        offset: 0.0,
        jitter: 0.0,
    };

    let fit: Vec<usize> = (0..n).filter(|&i| reasons[i].is_none()).collect();
    let intervals: Vec<(f64, f64)> = fit
        .iter()
        .map(|&i| {
            let c = &candidates[i];
            (c.offset - distances[i], c.offset + distances[i])
        })
        .collect();
    for &i in &fit {
        sel.outcomes[i] = Outcome::Falsetick;
    }
    let Some((low, high)) = intersection(&intervals) else {
        return sel;
    };
    sel.interval = Some((low, high));
    let merit = |i: usize| candidates[i].stratum as f64 * params.maxdist + distances[i];
    let mut truechimers: Vec<usize> = fit
        .iter()
        .zip(&intervals)
        .filter(|(_, &(lo, hi))| hi >= low && lo <= high)
        .map(|(&i, _)| i)
        .collect();
    // Stable sort: of equal merit, the earlier candidate ranks first.
    truechimers.sort_by(|&a, &b| merit(a).total_cmp(&merit(b)));
    let keep = params.maxclock.max(1);
    for &i in truechimers.iter().skip(keep) {
        sel.outcomes[i] = Outcome::Excess;
    }
    truechimers.truncate(keep);

    let mut survivors = truechimers;
    cluster(candidates, &distances, params, &mut survivors, |i| {
        sel.outcomes[i] = Outcome::Outlier
    });
    let combined = survivors.len().min(params.max_combine.max(1));
    for (rank, &i) in survivors.iter().enumerate() {
        sel.outcomes[i] = if rank < combined {
            Outcome::Candidate
        } else {
            Outcome::Backup
        };
    }
    sel.survivors = survivors.clone();
    if survivors.is_empty() || survivors.len() < params.minsane {
        return sel;
    }

    let best = survivors[0];
    let prefer = survivors.iter().copied().find(|&i| candidates[i].prefer);
    let keep_previous = previous_sys_peer
        .filter(|&p| survivors.contains(&p) && candidates[p].stratum == candidates[best].stratum);
    let sys_peer = prefer.or(keep_previous).unwrap_or(best);
    sel.sys_peer = Some(sys_peer);
    sel.outcomes[sys_peer] = Outcome::SysPeer;

    let used = &survivors[..combined];
    let peer_offset = candidates[sys_peer].offset;
    let (mut y, mut z, mut w) = (0.0, 0.0, 0.0);
    for &i in used {
        // mindist 0 and a perfect source would divide by zero
        let lambda = distances[i].max(1e-9);
        y += 1.0 / lambda;
        z += candidates[i].offset / lambda;
        w += (candidates[i].offset - peer_offset).powi(2) / lambda;
    }
    // A preferred server's offset is used alone (ntpd's prefer rule); otherwise average.
    sel.offset = if prefer.is_some() { peer_offset } else { z / y };
    let selection_jitter = (w / y).sqrt();
    let peer_jitter = candidates[sys_peer].jitter.max(0.0);
    sel.jitter = (peer_jitter.powi(2) + selection_jitter.powi(2))
        .sqrt()
        .max(params.system_precision.max(0.0));
    sel
}

/// Prune the survivor whose offset is farthest from the others (largest selection jitter)
/// while that spread exceeds the smallest peer jitter and more than `minclock` remain.
/// A preferred server is never pruned.
fn cluster(
    candidates: &[Candidate],
    distances: &[f64],
    params: &SelectParams,
    survivors: &mut Vec<usize>,
    mut mark_outlier: impl FnMut(usize),
) {
    while survivors.len() > params.minclock.max(1) {
        let k = survivors.len();
        let selection_jitter = |i: usize| {
            let sum: f64 = survivors
                .iter()
                .map(|&j| (candidates[i].offset - candidates[j].offset).powi(2))
                .sum();
            (sum / (k - 1) as f64).sqrt()
        };
        let mut worst: Option<(usize, f64)> = None;
        for (pos, &i) in survivors.iter().enumerate() {
            if candidates[i].prefer {
                continue;
            }
            let s = selection_jitter(i);
            let worse = match worst {
                None => true,
                // ties go to the candidate with the larger root distance
                Some((wp, ws)) => s > ws || (s == ws && distances[i] > distances[survivors[wp]]),
            };
            if worse {
                worst = Some((pos, s));
            }
        }
        let min_peer_jitter = survivors
            .iter()
            .map(|&i| candidates[i].jitter)
            .fold(f64::INFINITY, f64::min);
        match worst {
            Some((pos, s)) if s > min_peer_jitter => {
                mark_outlier(survivors.remove(pos));
            }
            _ => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(offset: f64) -> Candidate {
        Candidate::new(offset, 0.002, 0.001, 0.0005)
    }

    #[test]
    fn outcome_codes_match_mode6() {
        assert_eq!(Outcome::Reject.code(), 0);
        assert_eq!(Outcome::SysPeer.code(), 6);
        assert_eq!(Outcome::Falsetick.tally(), 'x');
        assert_eq!(Outcome::Outlier.tally(), '-');
        assert_eq!(Outcome::Backup.tally(), '#');
        assert_eq!(Outcome::SysPeer.name(), "sel_sys.peer");
    }

    #[test]
    fn root_distance_adds_up() {
        let mut c = Candidate::new(0.0, 0.010, 0.002, 0.001);
        c.root_delay = 0.020;
        c.root_dispersion = 0.003;
        c.age = 100.0;
        let want = 0.015 + 0.002 + 0.003 + 100.0 * PHI + 0.001;
        assert!((root_distance(&c, 0.001) - want).abs() < 1e-12);
        let tiny = Candidate::new(0.0, 0.0, 0.0, 0.0);
        assert_eq!(root_distance(&tiny, 0.001), 0.001);
    }

    #[test]
    fn falseticker_rejected() {
        let cands = [cand(0.001), cand(-0.002), cand(2.5), cand(0.0005)];
        let s = select(&cands, &SelectParams::default(), None);
        assert_eq!(s.outcomes[2], Outcome::Falsetick);
        let peer = s.sys_peer.unwrap();
        assert_ne!(peer, 2);
        assert!(s.offset.abs() < 0.003, "{s:?}");
        let (lo, hi) = s.interval.unwrap();
        assert!(lo <= 0.0 && (0.0..1.0).contains(&hi));
    }

    #[test]
    fn two_disagreeing_servers_have_no_majority() {
        let cands = [cand(0.0), cand(2.5)];
        let s = select(&cands, &SelectParams::default(), None);
        assert_eq!(s.sys_peer, None);
        assert_eq!(s.outcomes, vec![Outcome::Falsetick; 2]);
        assert_eq!(s.offset, 0.0);
    }

    #[test]
    fn unsynchronised_and_kod_rejected() {
        let mut unsync = cand(0.0);
        unsync.leap = Leap::Unsync;
        let mut s16 = cand(0.0);
        s16.stratum = 16;
        let mut s0 = cand(0.0);
        s0.stratum = 0;
        let mut kod = cand(0.0);
        kod.kiss_of_death = true;
        let mut far = cand(0.0);
        far.root_dispersion = 2.0;
        let mut gone = cand(0.0);
        gone.reachable = false;
        let cands = [unsync, s16, s0, kod, far, gone, cand(0.01)];
        let s = select(&cands, &SelectParams::default(), None);
        let want = [
            Some(RejectReason::Unsynchronized),
            Some(RejectReason::Stratum),
            Some(RejectReason::Stratum),
            Some(RejectReason::KissOfDeath),
            Some(RejectReason::Distance),
            Some(RejectReason::Unreachable),
            None,
        ];
        assert_eq!(s.reasons, want);
        assert_eq!(s.sys_peer, Some(6));
        assert!(s.outcomes[..6].iter().all(|&o| o == Outcome::Reject));
    }

    #[test]
    fn cluster_prunes_the_outlier_down_to_minclock() {
        // All within each other's correctness intervals, but one farther out.
        let mut cands: Vec<Candidate> = [0.000, 0.0002, -0.0001, 0.0001, 0.004]
            .iter()
            .map(|&o| Candidate::new(o, 0.002, 0.001, 0.0001))
            .collect();
        cands[4].dispersion = 0.010;
        let s = select(&cands, &SelectParams::default(), None);
        assert_eq!(s.outcomes[4], Outcome::Outlier, "{s:?}");
        // minclock 3: exactly three survive
        assert_eq!(s.survivors.len(), 3);
        assert_eq!(
            s.outcomes
                .iter()
                .filter(|&&o| o == Outcome::Outlier)
                .count(),
            2
        );
    }

    #[test]
    fn cluster_stops_when_spread_within_peer_jitter() {
        let cands: Vec<Candidate> = [0.000, 0.0001, -0.0001, 0.00005, 0.0]
            .iter()
            .map(|&o| Candidate::new(o, 0.002, 0.001, 0.01))
            .collect();
        let s = select(&cands, &SelectParams::default(), None);
        assert_eq!(s.survivors.len(), 5);
    }

    #[test]
    fn combine_weights_by_inverse_distance() {
        let a = Candidate::new(0.010, 0.0, 0.001, 0.0); // Λ = 0.001
        let b = Candidate::new(0.0, 0.0, 0.012, 0.0); // Λ = 0.012, overlapping a
        let params = SelectParams {
            mindist: 0.0,
            ..SelectParams::default()
        };
        let s = select(&[a, b], &params, None);
        // weights 1000 and 83.3: 0.010·1000 / (1000 + 83.3)
        let want = 0.010 * 1000.0 / (1000.0 + 1000.0 / 12.0);
        assert!((s.offset - want).abs() < 1e-12, "{}", s.offset);
        assert_eq!(s.sys_peer, Some(0));
        assert_eq!(s.outcomes, vec![Outcome::SysPeer, Outcome::Candidate]);
        assert!(s.jitter > 0.0);
    }

    #[test]
    fn lower_stratum_wins_and_ties_go_to_first() {
        let mut cands = [cand(0.0), cand(0.0001), cand(0.0002)];
        cands[1].stratum = 1;
        let s = select(&cands, &SelectParams::default(), None);
        assert_eq!(s.sys_peer, Some(1));
        let same = [cand(0.0), cand(0.0)];
        let s = select(&same, &SelectParams::default(), None);
        assert_eq!(s.sys_peer, Some(0));
    }

    #[test]
    fn prefer_and_anti_clockhop() {
        let mut cands = [cand(0.0), cand(0.0001), cand(0.0002)];
        cands[2].dispersion = 0.005; // worst by distance
        let s = select(&cands, &SelectParams::default(), Some(2));
        assert_eq!(s.sys_peer, Some(2), "previous peer kept: same stratum");
        cands[0].stratum = 1;
        let s = select(&cands, &SelectParams::default(), Some(2));
        assert_eq!(s.sys_peer, Some(0), "a better stratum takes over");
        cands[1].prefer = true;
        let s = select(&cands, &SelectParams::default(), Some(2));
        assert_eq!(s.sys_peer, Some(1));
        assert_eq!(s.offset, 0.0001);
    }

    #[test]
    fn one_source_and_zero_sources() {
        let s = select(&[cand(0.25)], &SelectParams::default(), None);
        assert_eq!(s.sys_peer, Some(0));
        assert_eq!(s.offset, 0.25);
        let s = select(&[], &SelectParams::default(), None);
        assert_eq!(s.sys_peer, None);
        assert!(s.outcomes.is_empty());
        assert_eq!((s.offset, s.jitter), (0.0, 0.0));
    }

    #[test]
    fn tos_floor_and_ceiling_reject_by_stratum() {
        let params = SelectParams {
            floor: 2,
            ceiling: 4,
            ..SelectParams::default()
        };
        let at = |stratum| Candidate {
            stratum,
            ..cand(0.0)
        };
        let why = |c: &Candidate| reject_reason(c, root_distance(c, 0.001), &params);
        assert_eq!(why(&at(1)), Some(RejectReason::Stratum));
        assert_eq!(why(&at(2)), None);
        assert_eq!(why(&at(3)), None);
        assert_eq!(why(&at(4)), Some(RejectReason::Stratum));
    }

    #[test]
    fn minsane_and_excess() {
        let cands = [cand(0.0), cand(0.0001), cand(0.0002)];
        let params = SelectParams {
            minsane: 4,
            ..SelectParams::default()
        };
        let s = select(&cands, &params, None);
        assert_eq!(s.sys_peer, None);
        assert_eq!(s.survivors.len(), 3);
        let params = SelectParams {
            maxclock: 2,
            ..SelectParams::default()
        };
        let s = select(&cands, &params, None);
        assert_eq!(s.outcomes[2], Outcome::Excess);
        let params = SelectParams {
            max_combine: 1,
            ..SelectParams::default()
        };
        let s = select(&cands, &params, None);
        assert_eq!(s.outcomes[1], Outcome::Backup);
        assert_eq!(s.offset, 0.0);
    }

    #[test]
    fn degenerate_input_is_nan_free() {
        let mut nan = Candidate::new(f64::NAN, f64::NAN, f64::NAN, f64::NAN);
        nan.root_delay = f64::INFINITY;
        let same = [cand(0.0), cand(0.0), cand(0.0), nan];
        let params = SelectParams {
            mindist: f64::NAN,
            ..SelectParams::default()
        };
        let s = select(&same, &params, None);
        assert_eq!(s.reasons[3], Some(RejectReason::Distance));
        assert!(s.offset.is_finite() && s.jitter.is_finite());
        assert!(s.distances.iter().all(|d| !d.is_nan()));
        let zero = [Candidate::new(0.0, 0.0, 0.0, 0.0); 3];
        let s = select(&zero, &SelectParams::default(), None);
        assert_eq!(s.sys_peer, Some(0));
        assert!(s.offset.is_finite() && s.jitter.is_finite());
    }

    #[test]
    fn intersection_counts_touching_intervals() {
        assert_eq!(intersection(&[(0.0, 1.0), (1.0, 2.0)]), Some((1.0, 1.0)));
        assert_eq!(
            intersection(&[(0.0, 1.0), (0.5, 2.0), (3.0, 4.0)]),
            Some((0.5, 1.0))
        );
        assert_eq!(intersection(&[]), None);
    }
}
