//! The HTML page: every ntpviz picture and its summary table, plus Allan and time
//! deviation and an ntpsim overlay, as one self-contained document (inline SVG and CSS,
//! no script, no external resource).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::dev::{deviations, Summary};
use super::plot::{self, PlotError, Series, XAxis};
use super::stats::{PeerRecord, Stats};

/// What the page is made of.
pub struct Input<'a> {
    pub title: &'a str,
    pub stats: &'a Stats,
    /// An ntpsim run's loopstats, drawn over the real run.
    pub sim: Option<&'a Stats>,
    /// A line about the data: files, window, skipped lines.
    pub provenance: String,
}

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

struct Page {
    body: String,
    table: Vec<(String, &'static str, Summary)>,
}

impl Page {
    fn section(&mut self, id: &str, heading: &str, about: &str, svg: Result<String, PlotError>) {
        let _ = writeln!(
            self.body,
            "<section id=\"{id}\"><h2>{}</h2>",
            escape(heading)
        );
        match svg {
            Ok(svg) => {
                let _ = writeln!(self.body, "<figure>{svg}</figure>");
            }
            Err(e) => {
                let _ = writeln!(
                    self.body,
                    "<p class=\"none\">Not drawn: {}.</p>",
                    escape(&e.to_string())
                );
            }
        }
        let _ = writeln!(self.body, "<p>{about}</p></section>");
    }

    fn summarise(
        &mut self,
        name: String,
        scale: f64,
        unit: &'static str,
        values: impl Iterator<Item = f64>,
    ) {
        let v: Vec<f64> = values.map(|x| x * scale).collect();
        if let Some(s) = Summary::of(&v) {
            self.table.push((name, unit, s));
        }
    }
}

/// Peerstats grouped by peer, in the order of their address.
fn by_peer(peers: &[PeerRecord]) -> BTreeMap<&str, Vec<&PeerRecord>> {
    let mut m: BTreeMap<&str, Vec<&PeerRecord>> = BTreeMap::new();
    for p in peers {
        m.entry(p.peer.as_str()).or_default().push(p);
    }
    m
}

fn one(name: &str, points: Vec<(f64, f64)>) -> Vec<Series> {
    vec![Series {
        name: name.to_string(),
        points,
    }]
}

pub fn render(input: &Input) -> String {
    let s = input.stats;
    let mut page = Page {
        body: String::new(),
        table: Vec::new(),
    };
    let loops = &s.loops;
    let (ts, us) = plot::time_unit(loops.iter().map(|r| r.offset));
    let local = |f: &dyn Fn(&super::stats::LoopRecord) -> f64, scale: f64| -> Vec<(f64, f64)> {
        loops
            .iter()
            .map(|r| (r.t, f(r) * scale))
            .filter(|p| p.1.is_finite())
            .collect()
    };
    let need = |v: &Vec<(f64, f64)>| -> Result<(), PlotError> {
        if v.is_empty() {
            Err(PlotError::NotEnoughData("no loopstats records"))
        } else {
            Ok(())
        }
    };

    // local clock (loopstats)
    let off = local(&|r| r.offset, ts);
    page.section(
        "local-offset",
        "Local clock time offset",
        "The offset of the local clock from the selected sources after each clock update \
         (loopstats, 3rd field). The closer to zero and the flatter, the better.",
        need(&off).and_then(|_| {
            plot::time_series(
                "Local clock time offset",
                &format!("offset ({us})"),
                XAxis::Utc,
                &one("offset", off.clone()),
            )
        }),
    );
    page.summarise(
        "Local clock time offset".into(),
        ts,
        us,
        loops.iter().map(|r| r.offset),
    );
    let freq = local(&|r| r.freq_ppm, 1.0);
    page.section(
        "local-freq",
        "Local clock frequency offset",
        "The frequency correction the discipline applies (loopstats, 4th field): the \
         oscillator's error with its sign reversed. It follows temperature; steps mean trouble.",
        need(&freq).and_then(|_| {
            plot::time_series(
                "Local clock frequency offset",
                "frequency (ppm)",
                XAxis::Utc,
                &one("frequency", freq),
            )
        }),
    );
    page.summarise(
        "Local clock frequency offset".into(),
        1.0,
        "ppm",
        loops.iter().map(|r| r.freq_ppm),
    );
    let (tj, uj) = plot::time_unit(loops.iter().map(|r| r.jitter));
    let jit = local(&|r| r.jitter, tj);
    page.section(
        "local-jitter",
        "Local RMS time jitter",
        "The RMS of the differences between recent clock offsets (loopstats, 5th field): \
         short-term noise of the clock and its sources.",
        need(&jit).and_then(|_| {
            plot::time_series(
                "Local RMS time jitter",
                &format!("jitter ({uj})"),
                XAxis::Utc,
                &one("jitter", jit),
            )
        }),
    );
    page.summarise(
        "Local RMS time jitter".into(),
        tj,
        uj,
        loops.iter().map(|r| r.jitter),
    );
    let wander = local(&|r| r.wander_ppm, 1.0);
    page.section(
        "local-stability",
        "Local RMS frequency jitter (stability)",
        "The RMS of the differences between recent frequency corrections (loopstats, 6th \
         field, ntpd's clock wander): an Allan-deviation-like measure of the oscillator's \
         stability over the poll interval, as ntpviz's stability plot shows it.",
        need(&wander).and_then(|_| {
            plot::time_series(
                "Local RMS frequency jitter",
                "wander (ppm)",
                XAxis::Utc,
                &one("wander", wander),
            )
        }),
    );
    page.summarise(
        "Local RMS frequency jitter".into(),
        1.0,
        "ppm",
        loops.iter().map(|r| r.wander_ppm),
    );
    let hist: Vec<f64> = loops.iter().map(|r| r.offset * ts).collect();
    page.section(
        "local-offset-histogram",
        "Local clock time offset histogram",
        "How often each clock offset occurred: a narrow peak at zero is a well-disciplined \
         clock; a second peak or a long tail points at a bad source or a route change.",
        if hist.is_empty() {
            Err(PlotError::NotEnoughData("no loopstats records"))
        } else {
            plot::histogram(
                "Local clock time offset histogram",
                &format!("offset ({us})"),
                &hist,
                40,
            )
        },
    );

    // per peer (peerstats)
    let peers = by_peer(&s.peers);
    let peer_series = |f: &dyn Fn(&PeerRecord) -> f64, scale: f64| -> Vec<Series> {
        peers
            .iter()
            .map(|(name, v)| Series {
                name: name.to_string(),
                points: v.iter().map(|r| (r.t, f(r) * scale)).collect(),
            })
            .collect()
    };
    let none = || Err::<String, PlotError>(PlotError::NotEnoughData("no peerstats records"));
    let (ps, pu) = plot::time_unit(s.peers.iter().map(|r| r.offset));
    page.section(
        "peer-offsets",
        "Peer offsets",
        "Each source's clock offset after its clock filter (peerstats, 5th field). Sources \
         that agree overlap; one that stands apart is a falseticker or on an asymmetric path.",
        if peers.is_empty() {
            none()
        } else {
            plot::time_series(
                "Peer offsets",
                &format!("offset ({pu})"),
                XAxis::Utc,
                &peer_series(&|r| r.offset, ps),
            )
        },
    );
    let (js, ju) = plot::time_unit(s.peers.iter().map(|r| r.jitter));
    page.section(
        "peer-jitters",
        "Peer jitters",
        "Each source's RMS jitter (peerstats, 8th field): the noise of its offsets.",
        if peers.is_empty() {
            none()
        } else {
            plot::time_series(
                "Peer jitters",
                &format!("jitter ({ju})"),
                XAxis::Utc,
                &peer_series(&|r| r.jitter, js),
            )
        },
    );
    let (ds, du) = plot::time_unit(s.peers.iter().map(|r| r.delay));
    page.section(
        "peer-rtt",
        "Peer round-trip delays",
        "Each source's round-trip delay (peerstats, 6th field). Offsets can be wrong by up to \
         half of it; a jump in delay often explains a jump in offset.",
        if peers.is_empty() {
            none()
        } else {
            plot::time_series(
                "Peer round-trip delays",
                &format!("delay ({du})"),
                XAxis::Utc,
                &peer_series(&|r| r.delay, ds),
            )
        },
    );
    for (name, v) in &peers {
        page.summarise(
            format!("Peer offset {name}"),
            ps,
            pu,
            v.iter().map(|r| r.offset),
        );
        page.summarise(
            format!("Peer jitter {name}"),
            js,
            ju,
            v.iter().map(|r| r.jitter),
        );
    }

    // stability: Allan and time deviation of the local clock, each peer and the simulation
    let mut adevs = Vec::new();
    let mut tdevs = Vec::new();
    let mut add = |name: String, t: Vec<f64>, x: Vec<f64>| {
        let (a, d) = deviations(&t, &x);
        if !a.is_empty() {
            adevs.push(Series {
                name: name.clone(),
                points: a,
            });
        }
        if !d.is_empty() {
            tdevs.push(Series { name, points: d });
        }
    };
    add(
        "local clock".into(),
        loops.iter().map(|r| r.t).collect(),
        loops.iter().map(|r| r.offset).collect(),
    );
    for (name, v) in &peers {
        add(
            name.to_string(),
            v.iter().map(|r| r.t).collect(),
            v.iter().map(|r| r.offset).collect(),
        );
    }
    if let Some(sim) = input.sim {
        add(
            "ntpsim".into(),
            sim.loops.iter().map(|r| r.t).collect(),
            sim.loops.iter().map(|r| r.offset).collect(),
        );
    }
    page.section(
        "adev",
        "Allan deviation",
        "Overlapping Allan deviation σy(τ) of the time offsets, resampled at their median \
         interval: the fractional frequency instability over each averaging time. A slope of \
         −1 is white phase noise (measurement noise), −½ white frequency noise; where the \
         curve turns up, wander and temperature take over.",
        if adevs.is_empty() {
            Err(PlotError::NotEnoughData(
                "fewer than five records per series",
            ))
        } else {
            plot::log_log("Allan deviation", "σy(τ)", &adevs)
        },
    );
    page.section(
        "tdev",
        "Time deviation",
        "Time deviation σx(τ) (τ²/3 times the modified Allan variance, square-rooted): the \
         time error to expect over each averaging time, in seconds.",
        if tdevs.is_empty() {
            Err(PlotError::NotEnoughData(
                "fewer than six records per series",
            ))
        } else {
            plot::log_log("Time deviation", "σx(τ) (s)", &tdevs)
        },
    );

    if let Some(sim) = input.sim {
        let rel = |v: &[super::stats::LoopRecord]| -> Vec<(f64, f64)> {
            let t0 = v.first().map(|r| r.t).unwrap_or(0.0);
            v.iter().map(|r| (r.t - t0, r.offset)).collect()
        };
        let (real, simulated) = (rel(loops), rel(&sim.loops));
        let (sc, u) = plot::time_unit(real.iter().chain(&simulated).map(|p| p.1));
        let scaled = |v: Vec<(f64, f64)>| v.into_iter().map(|(t, y)| (t, y * sc)).collect();
        page.section(
            "sim-overlay",
            "Simulation overlay: local clock time offset",
            "The real run's loopstats offsets and an ntpsim run's, each from its first record: \
             how close the model of the network and oscillator is to this machine.",
            if simulated.is_empty() {
                Err(PlotError::NotEnoughData(
                    "the ntpsim file has no loopstats records",
                ))
            } else {
                plot::time_series(
                    "Local clock time offset: real run and ntpsim",
                    &format!("offset ({u})"),
                    XAxis::Elapsed,
                    &[
                        Series {
                            name: "this machine".into(),
                            points: scaled(real),
                        },
                        Series {
                            name: "ntpsim".into(),
                            points: scaled(simulated),
                        },
                    ],
                )
            },
        );
        page.summarise(
            "ntpsim time offset".into(),
            sc,
            u,
            sim.loops.iter().map(|r| r.offset),
        );
    }

    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <meta name=\"generator\" content=\"ntpkit viz {}\">\n<title>{t}</title>\n<style>\n\
         body{{font-family:sans-serif;max-width:1000px;margin:1em auto;padding:0 1em;color:#222}}\n\
         figure{{margin:0}} svg{{max-width:100%;height:auto;border:1px solid #ddd}}\n\
         table{{border-collapse:collapse;font-size:90%}} th,td{{padding:2px 8px;text-align:right;border-bottom:1px solid #ddd}}\n\
         th:first-child,td:first-child{{text-align:left}} .none{{color:#a00}} nav a{{margin-right:1em}}\n\
         </style></head><body>\n<h1>{t}</h1>\n<p>{}</p>\n",
        env!("CARGO_PKG_VERSION"),
        escape(&input.provenance),
        t = escape(input.title),
    );
    html.push_str(&summary_table(&page.table));
    html.push_str(&page.body);
    html.push_str("</body></html>\n");
    html
}

/// ntpviz's summary table: percentiles, ranges, mean and standard deviation per series.
fn summary_table(rows: &[(String, &'static str, Summary)]) -> String {
    let mut t = String::from(
        "<section id=\"summary\"><h2>Summary</h2><table>\n<tr><th>Series</th><th>1%</th><th>5%</th>\
         <th>50%</th><th>95%</th><th>99%</th><th>95%−5%</th><th>99%−1%</th><th>Mean</th>\
         <th>Std dev</th><th>Units</th><th>Samples</th></tr>\n",
    );
    for (name, unit, s) in rows {
        let _ = write!(t, "<tr><td>{}</td>", escape(name));
        for v in [
            s.p1,
            s.p5,
            s.p50,
            s.p95,
            s.p99,
            s.p95 - s.p5,
            s.p99 - s.p1,
            s.mean,
            s.std_dev,
        ] {
            let _ = write!(t, "<td>{v:.3}</td>");
        }
        let _ = writeln!(t, "<td>{unit}</td><td>{}</td></tr>", s.n);
    }
    t.push_str("</table></section>\n");
    t
}
