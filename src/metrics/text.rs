//! Snapshots as exposition text: OpenMetrics 1.0 (what Prometheus asks for) or the
//! Prometheus text format 0.0.4 (curl, promtool, older scrapers). They differ only in how a
//! counter's family is named (`foo` + sample `foo_total` vs. `foo_total`), in `# UNIT` and
//! in the closing `# EOF`. Every metric is described in docs/metrics.md.

use std::fmt::Write;

use super::model::Snapshot;

/// Which exposition format to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Prometheus,
}

impl Format {
    /// From a request's `Accept` header, as Prometheus negotiates it.
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Prometheus,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gauge,
    Counter,
}

/// One metric family: its samples as (labels, value).
struct Family {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    unit: Option<&'static str>,
    samples: Vec<(String, f64)>,
}

/// Families in the order they are written; a family keeps its samples of every target.
#[derive(Default)]
pub struct Writer {
    families: Vec<Family>,
}

/// Label pairs as `{a="x",b="y"}` (escaped as the formats require), empty for none.
pub fn labels(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", body.join(","))
}

fn value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

impl Writer {
    fn family(
        &mut self,
        name: &'static str,
        kind: Kind,
        unit: Option<&'static str>,
        help: &'static str,
    ) -> &mut Family {
        if let Some(i) = self.families.iter().position(|f| f.name == name) {
            return &mut self.families[i];
        }
        self.families.push(Family {
            name,
            help,
            kind,
            unit,
            samples: Vec::new(),
        });
        self.families.last_mut().expect("just pushed")
    }

    /// A gauge sample; `name` ends in `_UNIT` when `unit` is given. Declared even without a
    /// value, so the family's HELP is always there.
    pub fn gauge(
        &mut self,
        name: &'static str,
        unit: Option<&'static str>,
        help: &'static str,
        labels: &str,
        v: Option<f64>,
    ) {
        let f = self.family(name, Kind::Gauge, unit, help);
        if let Some(v) = v {
            f.samples.push((labels.to_string(), v));
        }
    }

    /// A counter sample; `name` is the family name, without `_total`.
    pub fn counter(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &str,
        v: Option<u64>,
    ) {
        let f = self.family(name, Kind::Counter, None, help);
        if let Some(v) = v {
            f.samples.push((labels.to_string(), v as f64));
        }
    }

    pub fn finish(&self, format: Format) -> String {
        let mut out = String::new();
        for f in &self.families {
            let (family_name, sample_suffix, kind) = match (f.kind, format) {
                (Kind::Gauge, _) => (f.name.to_string(), "", "gauge"),
                (Kind::Counter, Format::OpenMetrics) => (f.name.to_string(), "_total", "counter"),
                (Kind::Counter, Format::Prometheus) => (format!("{}_total", f.name), "", "counter"),
            };
            let _ = writeln!(out, "# HELP {family_name} {}", f.help);
            let _ = writeln!(out, "# TYPE {family_name} {kind}");
            if let (Some(u), Format::OpenMetrics) = (f.unit, format) {
                let _ = writeln!(out, "# UNIT {family_name} {u}");
            }
            for (l, v) in &f.samples {
                let _ = writeln!(out, "{family_name}{sample_suffix}{l} {}", value(*v));
            }
        }
        if format == Format::OpenMetrics {
            out.push_str("# EOF\n");
        }
        out
    }

    /// Every metric of one daemon's snapshot; `base` labels (the exporter's `target`) go
    /// first on each sample.
    pub fn snapshot(&mut self, s: &Snapshot, base: &[(&str, &str)]) {
        let l = labels(base);
        let sys = &s.system;
        let secs = Some("seconds");
        let ppm = Some("ppm");
        self.gauge(
            "ntp_build_info",
            None,
            "The daemon's version (label version); always 1.",
            &with(
                base,
                &[("version", s.version.as_deref().unwrap_or("unknown"))],
            ),
            Some(1.0),
        );
        self.gauge(
            "ntp_system_stratum",
            None,
            "Stratum of this host (16: unsynchronised).",
            &l,
            Some(sys.stratum.into()),
        );
        self.gauge(
            "ntp_system_leap_indicator",
            None,
            "Leap indicator: 0 none, 1 insert, 2 delete, 3 unsynchronised.",
            &l,
            Some(sys.leap.into()),
        );
        self.gauge(
            "ntp_system_synchronized",
            None,
            "1 when the daemon is synchronised (leap indicator not 3, stratum below 16), else 0.",
            &l,
            Some(if sys.synchronised { 1.0 } else { 0.0 }),
        );
        self.gauge(
            "ntp_system_offset_seconds",
            secs,
            "Offset of the last clock update (the combined offset of the selected sources).",
            &l,
            sys.offset,
        );
        self.gauge(
            "ntp_system_frequency_ppm",
            ppm,
            "Frequency correction applied to the system clock.",
            &l,
            sys.frequency_ppm,
        );
        self.gauge(
            "ntp_system_root_delay_seconds",
            secs,
            "Round-trip delay to the primary reference.",
            &l,
            sys.root_delay,
        );
        self.gauge(
            "ntp_system_root_dispersion_seconds",
            secs,
            "Dispersion to the primary reference, as of now.",
            &l,
            sys.root_dispersion,
        );
        self.gauge(
            "ntp_system_jitter_seconds",
            secs,
            "System jitter: the RMS of the selected sources' offsets about the combined one.",
            &l,
            sys.sys_jitter,
        );
        self.gauge(
            "ntp_system_clock_jitter_seconds",
            secs,
            "Clock jitter: RMS of recent offset differences.",
            &l,
            sys.clock_jitter,
        );
        self.gauge(
            "ntp_system_clock_wander_ppm",
            ppm,
            "Clock wander: RMS of recent frequency changes.",
            &l,
            sys.clock_wander_ppm,
        );
        self.gauge(
            "ntp_system_poll_interval_seconds",
            secs,
            "The system poll interval (2^tc).",
            &l,
            sys.poll,
        );
        self.gauge(
            "ntp_system_last_update_age_seconds",
            secs,
            "Time since the clock was last updated (absent before the first update).",
            &l,
            sys.since_update,
        );
        self.counter(
            "ntp_system_clock_steps",
            "Clock steps made since start (ntpkit only).",
            &l,
            s.steps,
        );
        for src in &s.sources {
            let sl = with(base, &[("address", &src.address)]);
            self.gauge(
                "ntp_source_offset_seconds",
                secs,
                "Offset of the source from this host's clock (clock filter).",
                &sl,
                src.offset,
            );
            self.gauge(
                "ntp_source_delay_seconds",
                secs,
                "Round-trip delay to the source (clock filter).",
                &sl,
                src.delay,
            );
            self.gauge(
                "ntp_source_dispersion_seconds",
                secs,
                "Dispersion of the source's samples.",
                &sl,
                src.dispersion,
            );
            self.gauge(
                "ntp_source_jitter_seconds",
                secs,
                "Jitter of the source's offsets.",
                &sl,
                src.jitter,
            );
            self.gauge("ntp_source_uncertainty_seconds", secs, "Standard uncertainty of the source's offset as its estimator holds it now (ntpkit only).", &sl, src.uncertainty);
            self.gauge(
                "ntp_source_stratum",
                None,
                "Stratum the source reports.",
                &sl,
                src.stratum.map(f64::from),
            );
            self.gauge(
                "ntp_source_reachability",
                None,
                "The reach register: the last 8 polls, newest in bit 0, as a number 0-255.",
                &sl,
                src.reach.map(f64::from),
            );
            self.gauge(
                "ntp_source_poll_interval_seconds",
                secs,
                "How often the source is polled (2^hpoll).",
                &sl,
                src.poll,
            );
            self.gauge("ntp_source_select_state", None, "Selection: 0 rejected, 1 falseticker, 2 excess, 3 outlier, 4 candidate, 5 backup, 6 system peer, 7 PPS peer.", &sl, Some(src.select.into()));
            self.gauge(
                "ntp_source_unanswered_polls",
                None,
                "Polls since the source last answered.",
                &sl,
                src.unanswered.map(|u| u as f64),
            );
        }
        let sv = &s.server;
        self.counter(
            "ntp_server_received_packets",
            "NTP packets received by the server.",
            &l,
            sv.received,
        );
        self.counter(
            "ntp_server_replied_packets",
            "Requests answered (ss_processed).",
            &l,
            sv.processed,
        );
        self.counter(
            "ntp_server_rate_limited_packets",
            "Requests over the rate limit (restrict limited), with or without a kiss-o'-death.",
            &l,
            sv.limited,
        );
        self.counter(
            "ntp_server_kod_packets",
            "Kiss-o'-death packets sent.",
            &l,
            sv.kod_sent,
        );
        self.counter(
            "ntp_server_restricted_packets",
            "Requests refused by restrict (ignore, noserve, noquery, notrust).",
            &l,
            sv.restricted,
        );
        self.counter(
            "ntp_server_authentication_failures",
            "Packets whose MAC did not verify or named an untrusted key.",
            &l,
            sv.bad_auth,
        );
        let drop = |reason: &str| with(base, &[("reason", reason)]);
        self.counter("ntp_server_dropped_packets", "Packets dropped without a reply, by reason: bad_format, declined (unserved modes), queue_full.", &drop("bad_format"), sv.bad_format);
        self.counter(
            "ntp_server_dropped_packets",
            "",
            &drop("declined"),
            sv.declined,
        );
        self.counter(
            "ntp_server_dropped_packets",
            "",
            &drop("queue_full"),
            sv.queue_dropped,
        );
        self.gauge(
            "ntp_server_mru_entries",
            None,
            "Clients in the MRU (monitoring) list.",
            &l,
            sv.mru_entries.map(|v| v as f64),
        );
        self.gauge(
            "ntp_process_uptime_seconds",
            secs,
            "Time since the daemon started.",
            &l,
            sv.uptime,
        );
        self.gauge(
            "ntp_process_resident_memory_bytes",
            Some("bytes"),
            "The daemon's resident memory (ntpkit's own endpoint only).",
            &l,
            s.rss_bytes.map(|v| v as f64),
        );
    }
}

fn with(base: &[(&str, &str)], more: &[(&str, &str)]) -> String {
    let mut all: Vec<(&str, &str)> = base.to_vec();
    all.extend_from_slice(more);
    labels(&all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::model::Source;

    #[test]
    fn counters_are_named_as_each_format_wants() {
        let mut w = Writer::default();
        w.counter("ntp_server_received_packets", "Received.", "", Some(7));
        let om = w.finish(Format::OpenMetrics);
        assert!(om.contains("# TYPE ntp_server_received_packets counter\nntp_server_received_packets_total 7\n# EOF\n"), "{om}");
        let prom = w.finish(Format::Prometheus);
        assert!(prom.contains("# TYPE ntp_server_received_packets_total counter\nntp_server_received_packets_total 7\n"), "{prom}");
        assert!(!prom.contains("# EOF"));
    }

    #[test]
    fn units_label_escapes_and_absent_values() {
        let mut s = Snapshot {
            version: Some("ntpd \"x\"\\y".into()),
            ..Default::default()
        };
        s.sources.push(Source {
            address: "198.18.0.2".into(),
            offset: Some(-0.001),
            select: 6,
            ..Default::default()
        });
        let mut w = Writer::default();
        w.snapshot(&s, &[("target", "a")]);
        let om = w.finish(Format::OpenMetrics);
        assert!(
            om.contains("# UNIT ntp_system_offset_seconds seconds\n"),
            "{om}"
        );
        assert!(
            om.contains("ntp_build_info{target=\"a\",version=\"ntpd \\\"x\\\"\\\\y\"} 1\n"),
            "{om}"
        );
        assert!(
            om.contains("ntp_source_offset_seconds{target=\"a\",address=\"198.18.0.2\"} -0.001\n"),
            "{om}"
        );
        assert!(
            om.contains("ntp_source_select_state{target=\"a\",address=\"198.18.0.2\"} 6\n"),
            "{om}"
        );
        // no value, no sample, but the family is declared
        assert!(om.contains("# HELP ntp_system_offset_seconds "));
        assert!(!om.contains("ntp_system_offset_seconds{"), "{om}");
        // the dropped-packets family is declared once, with its help
        assert_eq!(
            om.matches("# TYPE ntp_server_dropped_packets counter")
                .count(),
            1
        );
    }
}
