//! The typed ntp.conf model the daemon consumes. Built by [`super::ntp_conf`].
//!
//! Defaults are ntpd's (ntp.org 4.2.8 / NTPsec, REFERENCE.md §8), so a field that no line
//! set already holds the value ntpd would use.

use super::diagnostic::Location;
use super::restrict::Restrictions;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;

/// `server`, `pool` or `peer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AssociationKind {
    /// Client of one server (mode 3).
    Server,
    /// Client of several addresses of one name, spread over the answers.
    Pool,
    /// Symmetric active (mode 1).
    Peer,
}

/// `-4` / `-6` on an association or `restrict` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressFamily {
    V4,
    V6,
}

/// `-4` / `-6` on the command line of ntpdate and ntpq: which addresses of a name to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Family {
    #[default]
    Any,
    V4,
    V6,
}

impl Family {
    /// From the `-4` and `-6` switches (`-4` wins if both are given, as before).
    pub fn from_flags(v4: bool, v6: bool) -> Family {
        match (v4, v6) {
            (true, _) => Family::V4,
            (false, true) => Family::V6,
            (false, false) => Family::Any,
        }
    }

    pub fn admits(self, ip: IpAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => ip.is_ipv4(),
            Family::V6 => ip.is_ipv6(),
        }
    }
}

/// What an association points at.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// A literal IP address (other than a refclock's).
    Address(IpAddr),
    /// A host name, to be resolved by the daemon.
    Name(String),
    /// A reference clock `127.127.t.u`: driver type `t`, unit `u`.
    Refclock { driver: u8, unit: u8 },
}

/// The ntp.org refclock driver number of the undisciplined local clock (LOCAL, `LOCL`).
pub const LOCAL_CLOCK_DRIVER: u8 = 1;

/// NTPsec's `NTP_MINPOLL` / `NTP_MAXPOLL`: the limits for `minpoll` / `maxpoll` (ntp.org's
/// lower limit is 3; NTPsec allows polling every second on fast networks).
pub const POLL_LIMITS: RangeInclusive<i8> = 0..=17;

/// One `server` / `pool` / `peer` line, with its `fudge` merged in for refclocks.
#[derive(Clone, Debug, PartialEq)]
pub struct Association {
    pub kind: AssociationKind,
    pub target: Target,
    /// `-4` / `-6`: resolve (and talk) over this family only.
    pub family: Option<AddressFamily>,
    /// `key N`: authenticate with symmetric key N.
    pub key: Option<u32>,
    /// `version N` (1–4), default 4.
    pub version: u8,
    pub prefer: bool,
    /// `true`: always survives selection and clustering.
    pub always_true: bool,
    pub noselect: bool,
    pub iburst: bool,
    pub burst: bool,
    pub preempt: bool,
    pub xleave: bool,
    /// `mode N` (refclock driver mode, 0–255).
    pub mode: Option<u32>,
    /// log2 seconds, default 6, clamped to [`POLL_LIMITS`].
    pub minpoll: i8,
    /// log2 seconds, default 10, clamped to [`POLL_LIMITS`].
    pub maxpoll: i8,
    /// `ttl N` (manycast/broadcast; kept for display).
    pub ttl: Option<u32>,
    /// Refclocks only: what `fudge` lines said about this clock.
    pub fudge: Fudge,
    /// `nts` (with `ca`, `noval`, `aead`, `port`): Network Time Security.
    pub nts: Option<NtsOptions>,
    pub location: Location,
}

/// The NTS options of a `server`/`pool` line, spelt as NTPsec spells them.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NtsOptions {
    /// `ca FILE`: trust the certificates in this PEM file instead of the system store.
    pub ca: Option<PathBuf>,
    /// `noval`: do not verify the server's certificate (warned).
    pub noval: bool,
    /// `aead NAME`: offer only this algorithm (default: AES-SIV-CMAC-512, then -256).
    pub aead: Option<crate::wire::nts::aead::Aead>,
    /// `port N`: the NTS-KE port (default 4460).
    pub port: Option<u16>,
}

impl Association {
    /// An association with ntpd's defaults.
    pub fn new(kind: AssociationKind, target: Target, location: Location) -> Association {
        Association {
            kind,
            target,
            family: None,
            key: None,
            version: 4,
            prefer: false,
            always_true: false,
            noselect: false,
            iburst: false,
            burst: false,
            preempt: false,
            xleave: false,
            mode: None,
            minpoll: 6,
            maxpoll: 10,
            ttl: None,
            fudge: Fudge::default(),
            nts: None,
            location,
        }
    }

    /// True for `127.127.1.u` (the LOCAL driver).
    pub fn is_local_clock(&self) -> bool {
        matches!(self.target, Target::Refclock { driver, .. } if driver == LOCAL_CLOCK_DRIVER)
    }

    /// The stratum a refclock association claims: the fudged one, else the driver's
    /// default (LOCAL: 5, as ntp.org's refclock_local). `None` for network sources.
    pub fn refclock_stratum(&self) -> Option<u8> {
        match self.target {
            Target::Refclock { driver, .. } => Some(
                self.fudge
                    .stratum
                    .unwrap_or(if driver == LOCAL_CLOCK_DRIVER { 5 } else { 0 }),
            ),
            _ => None,
        }
    }

    /// The refid a refclock association claims: the fudged one, else `LOCL` for LOCAL.
    pub fn refclock_refid(&self) -> Option<String> {
        match self.target {
            Target::Refclock { driver, .. } => {
                Some(self.fudge.refid.clone().unwrap_or_else(|| {
                    if driver == LOCAL_CLOCK_DRIVER {
                        "LOCL".into()
                    } else {
                        String::new()
                    }
                }))
            }
            _ => None,
        }
    }
}

/// `fudge 127.127.t.u …` settings (all optional; unset means the driver's default).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fudge {
    pub stratum: Option<u8>,
    /// Up to 4 ASCII characters.
    pub refid: Option<String>,
    /// Seconds.
    pub time1: Option<f64>,
    /// Seconds.
    pub time2: Option<f64>,
    /// `flag1`..`flag4` (index 0..3).
    pub flags: [Option<bool>; 4],
    /// Where the (last) fudge line was.
    pub location: Option<Location>,
}

/// `discard average A minimum M monitor P` (rate limiting for `limited`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Discard {
    /// log2 seconds of the minimum average interval between packets (ntpd default 3 = 8 s).
    pub average: u8,
    /// Minimum seconds between packets (ntpd default 2).
    pub minimum: u32,
    /// Monitor (MRU) probability parameter (ntpd default 3000).
    pub monitor: u32,
}

impl Default for Discard {
    fn default() -> Self {
        Discard {
            average: 3,
            minimum: 2,
            monitor: 3000,
        }
    }
}

/// `enable` / `disable` switches, with ntpd's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SystemFlags {
    pub auth: bool,
    pub bclient: bool,
    pub calibrate: bool,
    pub kernel: bool,
    pub mode7: bool,
    pub monitor: bool,
    pub ntp: bool,
    pub stats: bool,
}

impl Default for SystemFlags {
    fn default() -> Self {
        SystemFlags {
            auth: true,
            bclient: false,
            calibrate: false,
            kernel: true,
            mode7: false,
            monitor: true,
            ntp: true,
            stats: true,
        }
    }
}

/// The statistics files ntpd knows.
pub const STATISTICS_NAMES: &[&str] = &[
    "clockstats",
    "cryptostats",
    "loopstats",
    "peerstats",
    "protostats",
    "rawstats",
    "sysstats",
    "timingstats",
    "usestats",
];

/// `filegen NAME …`: how one statistics file is named and rotated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileGen {
    /// `file F`: base name inside `statsdir` (default: the generation's name).
    pub file: Option<String>,
    /// `type none|pid|day|week|month|year|age` (ntpd default `day`).
    pub kind: FileGenType,
    /// `link` (default) / `nolink`: keep a link from the base name to the current file.
    pub link: bool,
    /// `enable` / `disable`; `statistics NAME` also enables.
    pub enabled: bool,
}

impl Default for FileGen {
    fn default() -> Self {
        FileGen {
            file: None,
            kind: FileGenType::Day,
            link: true,
            enabled: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileGenType {
    None,
    Pid,
    Day,
    Week,
    Month,
    Year,
    Age,
}

impl FileGenType {
    pub fn from_keyword(w: &str) -> Option<FileGenType> {
        Some(match w {
            "none" => FileGenType::None,
            "pid" => FileGenType::Pid,
            "day" => FileGenType::Day,
            "week" => FileGenType::Week,
            "month" => FileGenType::Month,
            "year" => FileGenType::Year,
            "age" => FileGenType::Age,
            _ => return None,
        })
    }
}

/// `tinker …` overrides; `None` means the engine's built-in constant.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tinker {
    /// Allan intercept, seconds.
    pub allan: Option<f64>,
    /// Dispersion increase rate, PPM.
    pub dispersion: Option<f64>,
    /// Initial frequency, PPM (overrides the drift file).
    pub freq: Option<f64>,
    /// Huff-n'-puff filter span, seconds.
    pub huffpuff: Option<f64>,
    /// Panic threshold, seconds (0 disables the panic exit).
    pub panic: Option<f64>,
    /// Step threshold, seconds (0 disables stepping).
    pub step: Option<f64>,
    /// Backward step threshold (ntp.org 4.2.8).
    pub stepback: Option<f64>,
    /// Forward step threshold (ntp.org 4.2.8).
    pub stepfwd: Option<f64>,
    /// Stepout (wait before stepping), seconds.
    pub stepout: Option<f64>,
}

/// `tos …` selection parameters, with ntpd's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tos {
    pub beacon: f64,
    pub ceiling: u8,
    pub cohort: bool,
    pub floor: u8,
    pub maxclock: u32,
    pub maxdist: f64,
    pub minclock: u32,
    pub mindist: f64,
    pub minsane: u32,
    /// Orphan stratum; 16 = orphan mode off.
    pub orphan: u8,
    pub orphanwait: f64,
}

impl Default for Tos {
    fn default() -> Self {
        Tos {
            beacon: 3600.0,
            ceiling: 16,
            cohort: false,
            floor: 1,
            maxclock: 10,
            maxdist: 1.5,
            minclock: 3,
            mindist: 0.001,
            minsane: 1,
            orphan: 16,
            orphanwait: 300.0,
        }
    }
}

/// `interface listen|ignore|drop WHAT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceRule {
    pub action: InterfaceAction,
    pub matches: InterfaceMatch,
    pub location: Location,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterfaceAction {
    Listen,
    Ignore,
    Drop,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InterfaceMatch {
    All,
    Ipv4,
    Ipv6,
    Wildcard,
    /// An interface name such as `eth0`.
    Name(String),
    /// An address with a prefix length (`192.0.2.0/24`; a bare address is /32 or /128).
    Prefix(IpAddr, u8),
}

/// `setvar NAME = VALUE [default]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetVar {
    pub name: String,
    pub value: String,
    /// `default`: listed in the default mode 6 system-variable readout.
    pub default: bool,
}

/// Where `/metrics` is served and who may read it: loopback clients always, others only
/// when they fall in an `allow` prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsListen {
    pub addr: std::net::SocketAddr,
    /// (network, prefix length) pairs.
    pub allow: Vec<(IpAddr, u8)>,
}

impl MetricsListen {
    /// `ADDR` or `ADDR/LEN` as an allow entry.
    pub fn parse_prefix(s: &str) -> Option<(IpAddr, u8)> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
            None => (s, None),
        };
        let ip: IpAddr = addr.parse().ok()?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len = len.unwrap_or(max);
        (len <= max).then_some((ip, len))
    }

    /// Whether a client at `ip` may scrape.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        ip.is_loopback()
            || self.allow.iter().any(|&(net, prefix)| {
                net.is_ipv4() == ip.is_ipv4()
                    && super::restrict::apply_mask(
                        ip,
                        super::restrict::prefix_mask(ip.is_ipv6(), prefix),
                    ) == super::restrict::apply_mask(
                        net,
                        super::restrict::prefix_mask(net.is_ipv6(), prefix),
                    )
            })
    }
}

/// The whole configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub associations: Vec<Association>,
    pub restrictions: Restrictions,
    pub discard: Discard,
    pub driftfile: Option<PathBuf>,
    /// `nonvolatile T`: rewrite the drift file when the frequency changed by more than T
    /// (fraction, default 1e-7).
    pub nonvolatile: Option<f64>,
    /// `keys FILE`.
    pub keys_file: Option<PathBuf>,
    /// Where the `keys` line is (messages about the keys file name it).
    pub keys_at: Option<Location>,
    /// `trustedkey` ids and ranges; see [`Config::is_trusted_key`].
    pub trusted_keys: Vec<RangeInclusive<u32>>,
    pub request_key: Option<u32>,
    pub control_key: Option<u32>,
    pub system: SystemFlags,
    /// Generations named by `statistics` (enabled) or `filegen`, keyed by name.
    pub filegens: BTreeMap<String, FileGen>,
    pub statsdir: Option<PathBuf>,
    pub logfile: Option<PathBuf>,
    /// `logconfig` items verbatim (e.g. `=syncstatus`, `+sysevents`).
    pub logconfig: Vec<String>,
    pub pidfile: Option<PathBuf>,
    pub leapfile: Option<PathBuf>,
    pub tinker: Tinker,
    pub tos: Tos,
    pub interfaces: Vec<InterfaceRule>,
    /// `rtcsync` (ntpkit extension): keep the RTC in step while synchronised.
    pub rtcsync: bool,
    /// `hwtimestamp IFACE|*` (chronyd's directive): interfaces asked for hardware timestamps.
    pub hwtimestamp: Vec<String>,
    /// `mru maxdepth N maxmem N …` settings, by keyword.
    pub mru: BTreeMap<String, u32>,
    pub setvars: Vec<SetVar>,
    /// `metrics ADDR:PORT [allow PREFIX…]` (ntpkit extension): the OpenMetrics endpoint.
    pub metrics: Option<MetricsListen>,
    /// `nts …` lines: the NTS-KE server and the clients' default CA.
    pub nts: super::nts::NtsDirective,
    /// True for [`Config::default_builtin`]: no file was read.
    pub builtin: bool,
}

impl Default for Config {
    /// An empty configuration (as from an empty file): no associations, everything allowed.
    fn default() -> Self {
        Config {
            associations: Vec::new(),
            restrictions: Restrictions::allow_all(),
            discard: Discard::default(),
            driftfile: None,
            nonvolatile: None,
            keys_file: None,
            keys_at: None,
            trusted_keys: Vec::new(),
            request_key: None,
            control_key: None,
            system: SystemFlags::default(),
            filegens: BTreeMap::new(),
            statsdir: None,
            logfile: None,
            logconfig: Vec::new(),
            pidfile: None,
            leapfile: None,
            tinker: Tinker::default(),
            tos: Tos::default(),
            interfaces: Vec::new(),
            rtcsync: false,
            hwtimestamp: Vec::new(),
            mru: BTreeMap::new(),
            setvars: Vec::new(),
            metrics: None,
            nts: Default::default(),
            builtin: false,
        }
    }
}

impl Config {
    /// Whether `trustedkey` lists `id`.
    pub fn is_trusted_key(&self, id: u32) -> bool {
        self.trusted_keys.iter().any(|r| r.contains(&id))
    }

    /// The generations that are enabled (`statistics` or `filegen … enable`), e.g.
    /// `loopstats`, with their settings.
    pub fn enabled_stats(&self) -> impl Iterator<Item = (&str, &FileGen)> {
        self.filegens
            .iter()
            .filter(|(_, g)| g.enabled)
            .map(|(n, g)| (n.as_str(), g))
    }
}
