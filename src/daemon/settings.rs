//! What the daemon runs with: the command line merged over the configuration file.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use super::access::{AccessPolicy, AllowAll};
use super::mru::Discard;
use crate::wire::packet::RefId;

/// Which address families to use (`-4` / `-6`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Families {
    #[default]
    Both,
    V4Only,
    V6Only,
}

impl Families {
    pub fn v4(self) -> bool {
        self != Families::V6Only
    }
    pub fn v6(self) -> bool {
        self != Families::V4Only
    }
}

/// `-N` / `-P PRIO`: raise the scheduling priority as ntpd does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    /// `-N`: the highest SCHED_FIFO priority.
    Highest,
    /// `-P PRIO`: this SCHED_FIFO priority (clamped to the policy's range).
    Fifo(i32),
}

/// The command line of `ntpd`, parsed.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `-c`; None: /etc/ntpsec/ntp.conf or /etc/ntp.conf (see `default_config`), or the
    /// built-in default when neither exists.
    pub config: Option<PathBuf>,
    pub foreground: bool,
    pub allow_big_step: bool,
    /// `-G`: the first correction is a step, whatever its size.
    pub force_step_once: bool,
    pub once: bool,
    /// `--observe-only` (or `disable ntp` in the file): never adjust the clock.
    pub observe_only: bool,
    /// `-x`: ntp.org's slew mode, step threshold 600 s (a `tinker step` line still wins,
    /// as in ntp.org, which applies the flag before reading the file).
    pub slew: bool,
    pub pidfile: Option<PathBuf>,
    pub driftfile: Option<PathBuf>,
    pub logfile: Option<PathBuf>,
    /// `-k`: the keys file, over the file's `keys`.
    pub keyfile: Option<PathBuf>,
    /// `-s`: the statistics directory, over the file's `statsdir`.
    pub statsdir: Option<PathBuf>,
    /// `-t`: added to the file's `trustedkey` list.
    pub trusted_keys: Vec<u32>,
    /// Log verbosity: `-D N` plus one per `-d`.
    pub debug: u8,
    pub user: Option<String>,
    /// `-i`: chroot here after reading the configuration, before dropping privileges.
    pub jaildir: Option<PathBuf>,
    /// `-N` / `-P`.
    pub priority: Option<Priority>,
    pub families: Families,
    /// `-I`: interface names or addresses to serve on.
    pub interfaces: Vec<String>,
    /// `-L`: skip virtual interfaces (names with a colon, `eth0:1`).
    pub novirtualips: bool,
    /// `-U`: seconds between interface rescans (ntpkit scans once, at start).
    pub update_interval: Option<u32>,
    /// `-w`: the forking parent waits this long for the first synchronisation.
    pub wait_sync: Option<u32>,
    /// `--var NAME=VALUE` (as `setvar`).
    pub vars: Vec<String>,
    /// `--dvar NAME=VALUE` (as `setvar … default`).
    pub dvars: Vec<String>,
    /// Servers named after the options (`server NAME iburst`, before the file's).
    pub servers: Vec<String>,
    /// Flags accepted for compatibility that do nothing here: one log line each.
    pub accepted_only: Vec<String>,
    pub single_thread: bool,
    /// Server port (123; other values for tests and benchmarks).
    pub port: u16,
    /// Fast-path worker threads per address family (0: one per CPU, at most 4).
    pub threads: usize,
}

pub const DEFAULT_CONFIG: &str = "/etc/ntp.conf";

/// NTPsec's configuration as Debian installs it. A host switched over from NTPsec keeps it
/// (the package is removed, its conffile stays), and it wins over /etc/ntp.conf so the
/// operator's servers stay in use (docs/packaging.md).
pub const NTPSEC_CONFIG: &str = "/etc/ntpsec/ntp.conf";

/// The LOCAL clock driver (`server 127.127.1.u` + `fudge … stratum N refid X`).
#[derive(Clone, Debug, PartialEq)]
pub struct LocalClock {
    /// The driver's stratum (fudge; ntp.org default 5). The daemon serves one more.
    pub stratum: u8,
    /// Refid of the driver itself (`LOCL`), shown for the association.
    pub refid: RefId,
    /// The association's address, 127.127.1.u: what the daemon's own refid becomes.
    pub address: Ipv4Addr,
}

/// Everything the daemon needs from ntp.conf, independent of how it was parsed.
#[derive(Clone)]
pub struct Settings {
    pub access: Arc<dyn AccessPolicy>,
    pub discard: Discard,
    pub monitor: bool,
    /// MRU memory budget, bytes (ntpd's `mru maxmem`, default 1 MiB).
    pub mru_bytes: usize,
    pub local_clock: Option<LocalClock>,
    pub driftfile: Option<PathBuf>,
    pub pidfile: Option<PathBuf>,
    pub logfile: Option<PathBuf>,
    pub statsdir: Option<PathBuf>,
    pub loopstats: bool,
    pub peerstats: bool,
    pub rtcsync: bool,
    /// `setvar NAME = VALUE [default]` (and ntpd's `--var` / `--dvar`): extra system
    /// variables for mode 6, shown by `ntpq -c rv` when `default`, else read by name.
    pub setvars: Vec<crate::config::SetVar>,
    /// True when no file was read and the built-in default is in use.
    pub builtin: bool,
    /// The concrete restrict table behind `access` (for `restrict source`, which adds
    /// entries as associations are resolved).
    pub restrictions: Option<crate::config::Restrictions>,
    /// The whole parsed configuration (associations, keys, tos, tinker) for the engine.
    pub config: Arc<crate::config::Config>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            access: Arc::new(AllowAll),
            discard: Discard::default(),
            monitor: true,
            mru_bytes: 1 << 20,
            local_clock: None,
            driftfile: None,
            pidfile: None,
            logfile: None,
            statsdir: None,
            loopstats: false,
            peerstats: false,
            rtcsync: false,
            setvars: Vec::new(),
            builtin: false,
            restrictions: None,
            config: Arc::new(crate::config::Config::default()),
        }
    }
}

/// Whether the clock must never be adjusted: `--observe-only`, or `disable ntp` in the
/// configuration (ntp.org's switch that opens the discipline loop).
pub fn asked_observe_only(opts: &Options, settings: &Settings) -> bool {
    opts.observe_only || !settings.config.system.ntp
}

/// The addresses to bind: wildcards per family, or what `-I`/`interface` named.
/// Names that are not addresses become device bindings on the wildcard address.
pub fn listen_addresses(
    families: Families,
    names: &[String],
    port: u16,
) -> Vec<(SocketAddr, Option<String>)> {
    let mut out = Vec::new();
    let wild: Vec<IpAddr> = [
        families.v4().then_some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        families.v6().then_some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if names.is_empty() {
        return wild
            .into_iter()
            .map(|a| (SocketAddr::new(a, port), None))
            .collect();
    }
    for n in names {
        match n.parse::<IpAddr>() {
            Ok(a) if (a.is_ipv4() && families.v4()) || (a.is_ipv6() && families.v6()) => {
                out.push((SocketAddr::new(a, port), None))
            }
            Ok(_) => {}
            Err(_) => {
                for a in &wild {
                    out.push((SocketAddr::new(*a, port), Some(n.clone())));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_become_bind_addresses_or_devices() {
        let all = listen_addresses(Families::Both, &[], 123);
        assert_eq!(all.len(), 2);
        let v4 = listen_addresses(
            Families::V4Only,
            &["eth0".into(), "::1".into(), "127.0.0.1".into()],
            123,
        );
        assert_eq!(
            v4,
            vec![
                ("0.0.0.0:123".parse().unwrap(), Some("eth0".to_string())),
                ("127.0.0.1:123".parse().unwrap(), None)
            ]
        );
    }
}
