//! What one scrape knows about one daemon, read over mode 6 (ntp.org, NTPsec, ours) or from
//! our own daemon's state through the same readout ([`Mode6`]), so both endpoints report
//! the same thing the same way. Times are in seconds here (mode 6 sends milliseconds).

use crate::wire::control::{lookup, ErrorCode, PeerStatusWord, SystemStatusWord, Value, VarList};

/// Why a daemon could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Over the network: the mode 6 client's error, as ntpq words it.
    #[error(transparent)]
    Remote(#[from] crate::control::client::Error),
    /// In process: the error code our own daemon's readout answered with.
    #[error("mode 6 error {0:?}")]
    Local(ErrorCode),
}

/// A daemon that answers mode 6 reads: over the network, or our own daemon in process.
pub trait Mode6 {
    /// READSTAT 0: the system status word and the (association id, status word) list.
    fn associations(&mut self) -> Result<(u16, Vec<(u16, u16)>), ReadError>;
    /// READVAR: the named variables (the default list when `names` is empty).
    fn read_vars(&mut self, assoc: u16, names: &[&str]) -> Result<VarList, ReadError>;
}

/// The system variables.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct System {
    pub stratum: u8,
    /// Leap indicator, 0–3 (3: unsynchronised).
    pub leap: u8,
    pub synchronised: bool,
    pub offset: Option<f64>,
    pub frequency_ppm: Option<f64>,
    pub root_delay: Option<f64>,
    pub root_dispersion: Option<f64>,
    pub sys_jitter: Option<f64>,
    pub clock_jitter: Option<f64>,
    pub clock_wander_ppm: Option<f64>,
    /// The system poll interval, s (2^tc).
    pub poll: Option<f64>,
    /// Seconds since the clock was last updated (clock − reftime); None before the first.
    pub since_update: Option<f64>,
}

/// One association.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Source {
    /// The association id (not a label: it changes when a daemon restarts).
    pub assoc: u16,
    /// The source's address as mode 6 names it (`srcadr`), the metrics' `address` label.
    pub address: String,
    pub stratum: Option<u8>,
    pub offset: Option<f64>,
    pub delay: Option<f64>,
    pub dispersion: Option<f64>,
    pub jitter: Option<f64>,
    /// Our estimator's own uncertainty (ntpkit only; mode 6 does not carry it).
    pub uncertainty: Option<f64>,
    pub reach: Option<u8>,
    /// The host poll interval, s (2^hpoll).
    pub poll: Option<f64>,
    /// The selection code of the status word (0 reject … 6 system peer, 7 PPS peer).
    pub select: u8,
    /// Polls since the last reply (`unreach`).
    pub unanswered: Option<u64>,
}

/// The server's packet counters (`ss_*`, `io_dropped`) and the MRU list's size.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Server {
    pub uptime: Option<f64>,
    pub received: Option<u64>,
    pub processed: Option<u64>,
    pub limited: Option<u64>,
    pub kod_sent: Option<u64>,
    pub restricted: Option<u64>,
    pub bad_format: Option<u64>,
    pub declined: Option<u64>,
    pub bad_auth: Option<u64>,
    /// Dropped because the daemon's receive queue was full (`io_dropped`).
    pub queue_dropped: Option<u64>,
    pub mru_entries: Option<u64>,
}

/// Everything one scrape of one daemon found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// `version` as the daemon reports it.
    pub version: Option<String>,
    pub system: System,
    pub sources: Vec<Source>,
    pub server: Server,
    /// Clock steps so far (ntpkit only).
    pub steps: Option<u64>,
    /// The daemon's resident memory, bytes (ntpkit's own endpoint only).
    pub rss_bytes: Option<u64>,
}

const SYSTEM_VARS: &[&str] = &[
    "version",
    "stratum",
    "rootdelay",
    "rootdisp",
    "reftime",
    "clock",
    "tc",
    "offset",
    "frequency",
    "sys_jitter",
    "clk_jitter",
    "clk_wander",
];
/// Counters every ntpd with `ntpq -c sysstats` knows (ntp.org 4.2.8, NTPsec, ours).
const SYSSTATS_VARS: &[&str] = &[
    "ss_uptime",
    "ss_received",
    "ss_processed",
    "ss_limited",
    "ss_kodsent",
    "ss_restricted",
    "ss_badformat",
    "ss_declined",
    "ss_badauth",
];
const PEER_VARS: &[&str] = &[
    "srcadr",
    "stratum",
    "reach",
    "unreach",
    "hpoll",
    "offset",
    "delay",
    "dispersion",
    "jitter",
];

fn f64_of(vars: &VarList, name: &str) -> Option<f64> {
    lookup(vars, name).and_then(Value::as_f64)
}

fn u64_of(vars: &VarList, name: &str) -> Option<u64> {
    lookup(vars, name)
        .and_then(Value::as_i64)
        .and_then(|v| u64::try_from(v).ok())
}

fn ms(vars: &VarList, name: &str) -> Option<f64> {
    f64_of(vars, name).map(|v| v * 1e-3)
}

/// Read a variable list, falling back to one variable at a time: a daemon that lacks one of
/// them fails the whole request (ntpd's UNKNOWNVAR), and the others are still worth having.
fn read_tolerant(d: &mut dyn Mode6, assoc: u16, names: &[&str]) -> VarList {
    match d.read_vars(assoc, names) {
        Ok(v) => v,
        Err(_) => names
            .iter()
            .filter_map(|n| d.read_vars(assoc, &[n]).ok())
            .flatten()
            .collect(),
    }
}

/// Scrape a daemon. Fails only when it does not answer at all (READSTAT or the system
/// variables); a missing counter or a vanished association is left out.
pub fn collect(d: &mut dyn Mode6) -> Result<Snapshot, ReadError> {
    let (status_word, assocs) = d.associations()?;
    let sys = d
        .read_vars(0, SYSTEM_VARS)
        .or_else(|_| d.read_vars(0, &[]))?;
    let status = SystemStatusWord::decode(status_word);
    let stratum = u64_of(&sys, "stratum").unwrap_or(16).min(16) as u8;
    let since_update = match (
        lookup(&sys, "reftime").and_then(Value::as_timestamp),
        lookup(&sys, "clock").and_then(Value::as_timestamp),
    ) {
        (Some(r), Some(c)) if !r.is_zero() => Some((c - r).to_seconds().max(0.0)),
        _ => None,
    };
    let system = System {
        stratum,
        leap: status.leap,
        synchronised: status.leap != 3 && (1..16).contains(&stratum),
        offset: ms(&sys, "offset"),
        frequency_ppm: f64_of(&sys, "frequency"),
        root_delay: ms(&sys, "rootdelay"),
        root_dispersion: ms(&sys, "rootdisp"),
        sys_jitter: ms(&sys, "sys_jitter"),
        clock_jitter: ms(&sys, "clk_jitter"),
        clock_wander_ppm: f64_of(&sys, "clk_wander"),
        poll: f64_of(&sys, "tc").map(|tc| 2f64.powf(tc)),
        since_update,
    };
    let ss = read_tolerant(d, 0, SYSSTATS_VARS);
    let io = d.read_vars(0, &["io_dropped"]).unwrap_or_default();
    let mru = d.read_vars(0, &["mru_depth"]).unwrap_or_default();
    let server = Server {
        uptime: f64_of(&ss, "ss_uptime"),
        received: u64_of(&ss, "ss_received"),
        processed: u64_of(&ss, "ss_processed"),
        limited: u64_of(&ss, "ss_limited"),
        kod_sent: u64_of(&ss, "ss_kodsent"),
        restricted: u64_of(&ss, "ss_restricted"),
        bad_format: u64_of(&ss, "ss_badformat"),
        declined: u64_of(&ss, "ss_declined"),
        bad_auth: u64_of(&ss, "ss_badauth"),
        queue_dropped: u64_of(&io, "io_dropped"),
        mru_entries: u64_of(&mru, "mru_depth"),
    };
    let mut sources = Vec::new();
    for (id, word) in assocs {
        let Ok(v) = d.read_vars(id, PEER_VARS).or_else(|_| d.read_vars(id, &[])) else {
            continue; // gone since READSTAT
        };
        let Some(address) = lookup(&v, "srcadr").map(|a| a.text().to_string()) else {
            continue;
        };
        // a pool row or a name not resolved yet: no source to measure
        if address.is_empty() || address == "0.0.0.0" || address == "::" {
            continue;
        }
        sources.push(Source {
            assoc: id,
            address,
            stratum: u64_of(&v, "stratum").map(|s| s.min(16) as u8),
            offset: ms(&v, "offset"),
            delay: ms(&v, "delay"),
            dispersion: ms(&v, "dispersion"),
            jitter: ms(&v, "jitter"),
            uncertainty: None,
            reach: lookup(&v, "reach").and_then(|r| {
                let t = r.text().trim();
                // ntpd sends reach in octal (`reach=377`), NTPsec and ours in hex
                match t.strip_prefix("0x") {
                    Some(h) => u8::from_str_radix(h, 16).ok(),
                    None => u8::from_str_radix(t, 8).ok(),
                }
            }),
            poll: f64_of(&v, "hpoll").map(|p| 2f64.powf(p)),
            select: PeerStatusWord::decode(word).select as u8,
            unanswered: u64_of(&v, "unreach"),
        });
    }
    Ok(Snapshot {
        version: lookup(&sys, "version").map(|v| v.text().to_string()),
        system,
        sources,
        server,
        steps: None,
        rss_bytes: None,
    })
}

/// This process's resident set size, bytes (`/proc/self/statm`).
pub fn own_rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * rustix::param::page_size() as u64)
}
