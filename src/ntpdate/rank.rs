//! `ntpdate -q --rank`: the servers ranked by a score, as a table (coloured only on a
//! terminal, NO_COLOR honoured) or JSON (`--json`). The score is documented in
//! docs/ntpdate.md; keep the two in step.

use owo_colors::OwoColorize;
use serde::Serialize;

use crate::engine::select::{Outcome, RejectReason};
use crate::wire::packet::Leap;

use super::choose::{Decision, ServerView};
use super::output::addr_text;

/// Milliseconds added per stratum below the first.
pub const STRATUM_PENALTY_MS: f64 = 1.0;
/// Milliseconds added for a server that answered none of the requests (scaled by the
/// fraction lost).
pub const LOSS_PENALTY_MS: f64 = 100.0;

/// Lower is better: expected error in milliseconds, plus penalties.
/// `delay/2 + 2·jitter + |offset − majority offset|` (seconds → ms), `+ 1 ms` per stratum
/// below 1, `+ 100 ms × fraction of requests lost`.
pub fn score(s: &ServerView, majority_offset: f64) -> f64 {
    let loss = if s.sent == 0 {
        1.0
    } else {
        1.0 - s.answered.min(s.sent) as f64 / s.sent as f64
    };
    1000.0 * (s.delay / 2.0 + 2.0 * s.jitter + (s.offset - majority_offset).abs())
        + STRATUM_PENALTY_MS * (s.stratum.saturating_sub(1)) as f64
        + LOSS_PENALTY_MS * loss
}

/// What the ranking says about a server.
pub fn status(s: &ServerView) -> String {
    if let Some(k) = s.kiss {
        let code = match k {
            crate::wire::packet::KissCode::Rate => "RATE".to_string(),
            crate::wire::packet::KissCode::Deny => "DENY".to_string(),
            crate::wire::packet::KissCode::Rstr => "RSTR".to_string(),
            crate::wire::packet::KissCode::Other(b) => {
                crate::wire::packet::RefId(b).ascii().to_string()
            }
        };
        return format!("KoD {code}");
    }
    match s.outcome {
        Outcome::SysPeer => "best".into(),
        Outcome::Candidate | Outcome::Backup | Outcome::Excess => "good".into(),
        Outcome::Outlier => "outlier".into(),
        Outcome::Falsetick => "falseticker".into(),
        Outcome::PpsPeer => "pps".into(),
        Outcome::Reject => match s.reason {
            Some(RejectReason::Unreachable) if s.unauthenticated > 0 => "unauthenticated".into(),
            Some(RejectReason::Unreachable) => "no reply".into(),
            Some(RejectReason::Unsynchronized) => "unsynchronised".into(),
            Some(RejectReason::Stratum) => format!("stratum {}", s.stratum),
            Some(RejectReason::KissOfDeath) => "KoD".into(),
            Some(RejectReason::Distance) => "too far".into(),
            Some(RejectReason::Loop) => "loop".into(),
            None => "rejected".into(),
        },
    }
}

/// Usable servers first by score, then falsetickers and outliers, then the rest, each
/// group in argument order.
fn ordered(d: &Decision) -> Vec<(usize, Option<f64>)> {
    let mut usable: Vec<(usize, f64)> = Vec::new();
    let mut rest: Vec<(usize, u8)> = Vec::new();
    for (i, s) in d.servers.iter().enumerate() {
        match s.outcome {
            Outcome::SysPeer | Outcome::Candidate | Outcome::Backup | Outcome::Excess => {
                usable.push((i, score(s, d.combined_offset)))
            }
            Outcome::Outlier => rest.push((i, 0)),
            Outcome::Falsetick => rest.push((i, 1)),
            _ => rest.push((i, 2)),
        }
    }
    usable.sort_by(|a, b| a.1.total_cmp(&b.1));
    rest.sort_by_key(|&(i, group)| (group, i));
    usable
        .into_iter()
        .map(|(i, sc)| (i, Some(sc)))
        .chain(rest.into_iter().map(|(i, _)| (i, None)))
        .collect()
}

#[derive(Serialize)]
struct JsonServer {
    rank: Option<usize>,
    address: String,
    stratum: u8,
    leap: &'static str,
    refid: String,
    offset: f64,
    delay: f64,
    jitter: f64,
    dispersion: f64,
    root_distance: f64,
    sent: usize,
    received: usize,
    score: Option<f64>,
    status: String,
    /// The mode 6 select code name, e.g. `sel_falsetick`.
    select: &'static str,
}

#[derive(Serialize)]
struct JsonReport {
    servers: Vec<JsonServer>,
    chosen: Option<String>,
    offset: Option<f64>,
}

fn leap_name(l: Leap) -> &'static str {
    match l {
        Leap::NoWarning => "no-leap",
        Leap::Insert => "add-leap",
        Leap::Delete => "del-leap",
        Leap::Unsync => "unsync",
    }
}

/// The ranking as JSON (one object, pretty-printed).
pub fn json(d: &Decision) -> String {
    let mut rank = 0;
    let servers = ordered(d)
        .into_iter()
        .map(|(i, sc)| {
            let s = &d.servers[i];
            JsonServer {
                rank: sc.map(|_| {
                    rank += 1;
                    rank
                }),
                address: addr_text(s.addr),
                stratum: s.stratum,
                leap: leap_name(s.leap),
                refid: s.refid.render(s.stratum),
                offset: s.offset,
                delay: s.delay,
                jitter: s.jitter,
                dispersion: s.dispersion,
                root_distance: s.distance,
                sent: s.sent,
                received: s.answered,
                score: sc.map(|v| (v * 1000.0).round() / 1000.0),
                status: status(s),
                select: s.outcome.name(),
            }
        })
        .collect();
    let report = JsonReport {
        servers,
        chosen: d.chosen.map(|i| addr_text(d.servers[i].addr)),
        offset: d.chosen.map(|_| d.combined_offset),
    };
    serde_json::to_string_pretty(&report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// The ranking as a table. `tty` chooses box-drawing characters, `color` (apps::color's
/// policy) whether rows are coloured by their outcome.
pub fn table(d: &Decision, tty: bool, color: bool) -> String {
    use comfy_table::{presets, CellAlignment, ContentArrangement, Table};
    let mut t = Table::new();
    t.load_preset(if tty {
        presets::UTF8_FULL_CONDENSED
    } else {
        presets::ASCII_FULL_CONDENSED
    })
    .set_content_arrangement(ContentArrangement::Disabled)
    .set_header(vec![
        "#", "server", "st", "offset", "delay", "jitter", "replies", "score", "status",
    ]);
    let order = ordered(d);
    let mut rank = 0;
    for &(i, sc) in &order {
        let s = &d.servers[i];
        let responded = s.responded();
        let num = |x: f64, digits: usize| {
            if responded {
                format!("{x:.digits$}")
            } else {
                "-".into()
            }
        };
        t.add_row(vec![
            sc.map(|_| {
                rank += 1;
                rank.to_string()
            })
            .unwrap_or_default(),
            addr_text(s.addr),
            s.stratum.to_string(),
            num(s.offset, 6),
            num(s.delay, 5),
            num(s.jitter, 6),
            format!("{}/{}", s.answered, s.sent),
            sc.map(|v| format!("{v:.3}")).unwrap_or_default(),
            status(s),
        ]);
    }
    for c in [0usize, 2, 3, 4, 5, 6, 7] {
        if let Some(col) = t.column_mut(c) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    // Rows are single lines (no wrapping): border, header, separator, rows, border.
    let mut out = String::new();
    for (n, line) in t.lines().enumerate() {
        let row = n.checked_sub(3).and_then(|r| order.get(r));
        let painted = match row {
            Some(&(i, _)) if color => paint(&line, &d.servers[i]),
            _ => line,
        };
        out.push_str(&painted);
        out.push('\n');
    }
    out
}

fn paint(line: &str, s: &ServerView) -> String {
    if s.kiss.is_some() {
        return line.magenta().to_string();
    }
    match s.outcome {
        Outcome::SysPeer => line.green().bold().to_string(),
        Outcome::Candidate | Outcome::Backup | Outcome::Excess => line.green().to_string(),
        Outcome::Outlier => line.yellow().to_string(),
        Outcome::Falsetick => line.red().to_string(),
        _ => line.dimmed().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::packet::RefId;

    fn view(addr: &str, offset: f64, outcome: Outcome) -> ServerView {
        ServerView {
            addr: addr.parse().unwrap(),
            stratum: 2,
            leap: Leap::NoWarning,
            refid: RefId::default(),
            offset,
            delay: 0.002,
            dispersion: 0.0001,
            jitter: 0.0001,
            root_delay: 0.0,
            root_dispersion: 0.0,
            sent: 4,
            answered: 4,
            kiss: None,
            outcome,
            reason: None,
            distance: 0.003,
            unauthenticated: 0,
        }
    }

    fn decision() -> Decision {
        let mut silent = view("192.0.2.4:123", 0.0, Outcome::Reject);
        silent.answered = 0;
        silent.reason = Some(RejectReason::Unreachable);
        Decision {
            servers: vec![
                view("192.0.2.1:123", 0.002, Outcome::Candidate),
                view("192.0.2.2:123", 2.5, Outcome::Falsetick),
                view("192.0.2.3:123", 0.0, Outcome::SysPeer),
                silent,
            ],
            chosen: Some(2),
            combined_offset: 0.0005,
            interval: None,
        }
    }

    #[test]
    fn score_is_documented_formula() {
        let s = view("192.0.2.1:123", 0.002, Outcome::Candidate);
        // 1000·(0.001 + 0.0002 + 0.0015) + 1 (stratum 2) + 0 loss
        assert!((score(&s, 0.0005) - 3.7).abs() < 1e-9);
        let mut lossy = s.clone();
        lossy.answered = 2;
        assert!((score(&lossy, 0.0005) - 53.7).abs() < 1e-9);
    }

    #[test]
    fn ranking_order_and_marks() {
        let d = decision();
        let order: Vec<usize> = ordered(&d).iter().map(|&(i, _)| i).collect();
        assert_eq!(order, vec![2, 0, 1, 3]);
        let text = table(&d, false, false);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[3].contains("192.0.2.3") && lines[3].contains("best"),
            "{text}"
        );
        assert!(lines[5].contains("falseticker"), "{text}");
        assert!(
            lines[6].contains("no reply") && lines[6].contains("0/4"),
            "{text}"
        );
        let j: serde_json::Value = serde_json::from_str(&json(&d)).unwrap();
        assert_eq!(j["chosen"], "192.0.2.3");
        assert_eq!(j["servers"][0]["rank"], 1);
        assert_eq!(j["servers"][2]["status"], "falseticker");
        assert_eq!(j["servers"][2]["select"], "sel_falsetick");
        assert!(j["servers"][3]["rank"].is_null());
    }
}
