//! OpenMetrics for NTP daemons: ntpd's own `/metrics` (the `metrics` directive) and
//! `ntpkit exporter`, which reads any daemon that speaks mode 6. Both go through the same
//! readout ([`model::collect`]) and the same writer ([`text::Writer`]); docs/metrics.md
//! describes every metric.

pub mod http;
pub mod model;
pub mod text;

pub use model::{collect, Mode6, ReadError, Snapshot};
pub use text::{Format, Writer};
