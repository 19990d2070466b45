//! From replies to a decision: each server's samples go through the engine's clock filter,
//! then all servers through the engine's selection (the same code ntpd runs), which
//! rejects unsynchronised servers and Kiss-o'-Death senders and marks falsetickers.

use std::net::SocketAddr;

use crate::engine::filter::{ClockFilter, Start};
use crate::engine::select::{self, Candidate, Outcome, RejectReason, SelectParams};
use crate::wire::packet::{KissCode, Leap, RefId};

use super::query::{ServerQuery, LOCAL_PRECISION};

/// One server's summary: what the filter made of its samples and what the selection
/// decided.
#[derive(Clone, Debug)]
pub struct ServerView {
    pub addr: SocketAddr,
    /// Stratum as ntpdate prints it: 0 without a usable reply, otherwise the reply's, with
    /// the wire's "unspecified" 0 shown as 16 (ntp.org's PKT_TO_STRATUM).
    pub stratum: u8,
    pub leap: Leap,
    pub refid: RefId,
    pub offset: f64,
    pub delay: f64,
    pub dispersion: f64,
    pub jitter: f64,
    pub root_delay: f64,
    pub root_dispersion: f64,
    pub sent: usize,
    pub answered: usize,
    pub kiss: Option<KissCode>,
    pub outcome: Outcome,
    pub reason: Option<RejectReason>,
    /// Root distance Λ.
    pub distance: f64,
    /// Replies that failed authentication (`-a`).
    pub unauthenticated: usize,
}

impl ServerView {
    pub fn responded(&self) -> bool {
        self.answered > 0
    }
}

#[derive(Clone, Debug)]
pub struct Decision {
    pub servers: Vec<ServerView>,
    /// Index of the server to set the clock from (the system peer).
    pub chosen: Option<usize>,
    /// The survivors' combined offset (weights 1/Λ).
    pub combined_offset: f64,
    pub interval: Option<(f64, f64)>,
}

/// Filter each server's samples and select. Servers that only sent bad MACs count as
/// unreachable: an unauthenticated answer is no answer.
pub fn decide(queries: &[ServerQuery]) -> Decision {
    let mut servers = Vec::with_capacity(queries.len());
    let mut candidates = Vec::with_capacity(queries.len());
    for q in queries {
        let mut filter = ClockFilter::new(LOCAL_PRECISION, Start::OneShot);
        let mut now = 0.0f64;
        for r in &q.replies {
            now = now.max(r.sample.at);
            // A poll interval of 0 disables popcorn suppression: within one burst of a few
            // samples there is no history for a spike to stand out from.
            filter.add(r.sample, now, 0.0);
        }
        let last = q.replies.last().map(|r| r.header);
        let stratum = match last {
            None => 0,
            Some(h) if h.stratum == 0 => 16,
            Some(h) => h.stratum,
        };
        let mut cand = Candidate::new(
            filter.offset(),
            filter.delay(),
            filter.dispersion(),
            filter.jitter(),
        );
        if let Some(h) = last {
            cand.root_delay = h.root_delay.to_seconds();
            cand.root_dispersion = h.root_dispersion.to_seconds();
            cand.leap = h.leap;
        }
        cand.stratum = stratum;
        cand.reachable = filter.has_data();
        cand.kiss_of_death = q.kiss.is_some();
        candidates.push(cand);
        servers.push(ServerView {
            addr: q.addr,
            stratum,
            leap: last.map(|h| h.leap).unwrap_or(Leap::Unsync),
            refid: last.map(|h| h.reference_id).unwrap_or_default(),
            offset: if filter.has_data() {
                filter.offset()
            } else {
                0.0
            },
            delay: if filter.has_data() {
                filter.delay()
            } else {
                0.0
            },
            dispersion: filter.dispersion(),
            jitter: filter.jitter(),
            root_delay: cand.root_delay,
            root_dispersion: cand.root_dispersion,
            sent: q.sent,
            answered: q.replies.len(),
            kiss: q.kiss,
            outcome: Outcome::Reject,
            reason: None,
            distance: 0.0,
            unauthenticated: q.unauthenticated,
        });
    }
    let selection = select::select(&candidates, &SelectParams::default(), None);
    for (i, s) in servers.iter_mut().enumerate() {
        s.outcome = selection.outcomes[i];
        s.reason = selection.reasons[i];
        s.distance = selection.distances[i];
    }
    Decision {
        servers,
        chosen: selection.sys_peer,
        combined_offset: selection.offset,
        interval: selection.interval,
    }
}
