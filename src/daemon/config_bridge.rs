//! ntp.conf (the config layer's model) → the daemon's [`Settings`], logging every diagnostic
//! with its file:line as ntpd does, and the RHEL `/etc/sysconfig/ntpd` `SYNC_HWCLOCK=yes`.

use std::net::{Ipv4Addr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;

use super::log;
use super::mru::{Discard, ENTRY_COST};
use super::settings::{LocalClock, Settings};
use crate::config::{
    restrict::prefix_mask, Config, RestrictEntry, RestrictFlags, Severity, Target,
};
use crate::config::{Association, ConfigError};
use crate::daemon::netio::now_ntp;
use crate::daemon::settings::Options;
use crate::engine::leap::LeapTable;
use crate::engine::{EngineConfig, SourceConfig, StepPolicy};
use crate::wire::packet::RefId;
use std::net::IpAddr;

/// `-x`: the step threshold of ntp.org's slew mode, seconds.
pub const SLEW_STEP_THRESHOLD: f64 = 600.0;

/// The built-in default (no /etc/ntp.conf).
pub fn builtin() -> Settings {
    settings_from(Config::default_builtin())
}

/// Load `path`; diagnostics are logged, a file that cannot be read at all is an error.
pub fn from_file(path: &Path) -> Result<Settings, ConfigError> {
    load_config(path).map(settings_from)
}

/// Read `path` as ntp.conf, logging every diagnostic with its file:line.
pub fn load_config(path: &Path) -> Result<Config, ConfigError> {
    let (config, diagnostics) = Config::load(path)?;
    log_diagnostics(&diagnostics);
    Ok(config)
}

/// Log configuration diagnostics at their severity.
pub fn log_diagnostics(diagnostics: &[crate::config::Diagnostic]) {
    for d in diagnostics {
        match d.severity {
            Severity::Warning => log::warn(&d.to_string()),
            Severity::Error => log::error(&d.to_string()),
        }
    }
}

/// `SYNC_HWCLOCK=yes` in a RHEL-style sysconfig file (the seed's way to ask for RTC sync).
pub fn sysconfig_sync_hwclock(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.split('#').next().unwrap_or("").trim();
        l.strip_prefix("SYNC_HWCLOCK=")
            .map(|v| {
                v.trim_matches(|c| c == '"' || c == '\'')
                    .eq_ignore_ascii_case("yes")
            })
            .unwrap_or(false)
    })
}

pub fn settings_from(config: Config) -> Settings {
    let mut restrictions = config.restrictions.clone();
    // `restrict HOSTNAME` lines: resolved once at start (blocking, before any thread).
    for (name, mask, flags) in std::mem::take(&mut restrictions.unresolved) {
        match (name.as_str(), 0u16).to_socket_addrs() {
            Ok(addrs) => {
                for a in addrs {
                    let m = mask.unwrap_or_else(|| prefix_mask(a.is_ipv6(), 128));
                    restrictions.add(RestrictEntry::new(a.ip(), m, flags, false));
                }
            }
            Err(e) => log::warn(&format!(
                "restrict {name}: cannot resolve ({e}); line ignored"
            )),
        }
    }
    let limited = restrictions.default_v4.contains(RestrictFlags::LIMITED)
        || restrictions.default_v6.contains(RestrictFlags::LIMITED)
        || restrictions
            .entries
            .iter()
            .any(|e| e.flags.contains(RestrictFlags::LIMITED));
    let mru_bytes = if let Some(kb) = config.mru.get("maxmem") {
        *kb as usize * 1024
    } else if let Some(depth) = config.mru.get("maxdepth") {
        *depth as usize * ENTRY_COST
    } else {
        1 << 20
    };
    let local_clock = config
        .associations
        .iter()
        .find(|a| a.is_local_clock())
        .and_then(|a| match a.target {
            Target::Refclock { driver, unit } => Some(LocalClock {
                stratum: a.refclock_stratum().unwrap_or(5),
                refid: RefId::from_ascii(&a.refclock_refid().unwrap_or_else(|| "LOCL".into())),
                address: Ipv4Addr::new(127, 127, driver, unit),
            }),
            _ => None,
        });
    for a in &config.associations {
        if let Target::Refclock { driver, .. } = a.target {
            if driver != crate::config::LOCAL_CLOCK_DRIVER {
                log::warn(&format!(
                    "{}: reference clock driver {driver} is not supported; association ignored",
                    a.location
                ));
            }
        }
    }
    let stat_enabled =
        |name: &str| config.system.stats && config.enabled_stats().any(|(n, _)| n == name);
    let rtcsync = config.rtcsync
        || ["/etc/sysconfig/ntpd", "/etc/sysconfig/ntpdate"]
            .iter()
            .any(|p| std::fs::read_to_string(p).is_ok_and(|t| sysconfig_sync_hwclock(&t)));
    Settings {
        access: Arc::new(restrictions.clone()),
        restrictions: Some(restrictions),
        discard: Discard {
            average_log2: config.discard.average,
            minimum_secs: config.discard.minimum,
        },
        // ntpd turns monitoring on whenever `limited` is in use
        monitor: config.system.monitor || limited,
        mru_bytes,
        local_clock,
        driftfile: config.driftfile.clone(),
        pidfile: config.pidfile.clone(),
        logfile: config.logfile.clone(),
        statsdir: config.statsdir.clone(),
        loopstats: stat_enabled("loopstats"),
        peerstats: stat_enabled("peerstats"),
        rtcsync,
        setvars: config.setvars.clone(),
        builtin: config.builtin,
        config: Arc::new(config),
    }
}

/// The engine's configuration from ntp.conf (`tinker`, `tos`) and the flags (`-g`, `-G`, `-q`).
pub fn engine_config(
    opts: &Options,
    settings: &Settings,
    precision: i8,
    drift: Option<f64>,
) -> EngineConfig {
    let t = &settings.config.tinker;
    let tos = &settings.config.tos;
    let mut step = StepPolicy {
        // -g only: ntpd -q without -g refuses a correction past the panic threshold
        allow_first_panic: opts.allow_big_step,
        force_first_step: opts.force_step_once,
        ..StepPolicy::default()
    };
    if opts.slew {
        // ntp.org's -x: slew anything up to 600 s
        step.step_threshold = SLEW_STEP_THRESHOLD;
    }
    if let Some(s) = t.step {
        step.step_threshold = s;
    }
    if let Some(s) = t.stepout {
        step.stepout = s;
    }
    if let Some(p) = t.panic {
        step.panic_threshold = p;
    }
    step.step_back = t.stepback;
    step.step_fwd = t.stepfwd;
    EngineConfig {
        step,
        initial_frequency_ppm: t.freq.or(drift),
        precision,
        orphan_stratum: tos.orphan,
        orphan_wait: tos.orphanwait,
        min_sane: tos.minsane as usize,
        max_dist: tos.maxdist,
        min_dist: tos.mindist,
        min_clock: tos.minclock as usize,
        stratum_floor: tos.floor,
        stratum_ceiling: tos.ceiling,
        seed: now_ntp().0 ^ std::process::id() as u64,
        leap_table: settings.config.leapfile.as_deref().and_then(load_leapfile),
        ..EngineConfig::default()
    }
}

/// The `leapfile` (IERS leap-seconds.list) for the engine. A missing or damaged file is a
/// warning naming the file (and line), as in ntpd: the daemon runs on without a table.
fn load_leapfile(path: &Path) -> Option<LeapTable> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            log::warn(&format!(
                "leapfile {}: {e}; no leap second table",
                path.display()
            ));
            return None;
        }
    };
    match LeapTable::parse(&text) {
        Ok(table) => Some(table),
        Err(e) => {
            log::warn(&format!(
                "leapfile {}:{}: {}; no leap second table",
                path.display(),
                e.line,
                e.message
            ));
            None
        }
    }
}

/// One `server`/`pool`/`peer` address as an engine source.
pub fn source_config(a: &Association, addr: IpAddr) -> SourceConfig {
    let base = if a.kind == crate::config::AssociationKind::Peer {
        SourceConfig::peer(addr)
    } else {
        SourceConfig::server(addr)
    };
    let mut s = base.with_polls(a.minpoll, a.maxpoll);
    s.iburst = a.iburst;
    s.burst = a.burst;
    s.prefer = a.prefer;
    s.noselect = a.noselect;
    s.version = a.version;
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leapfile_loads_and_a_bad_one_is_only_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("leap-seconds.list");
        std::fs::write(
            &good,
            "#@\t4291747200\n2272060800\t10\t# 1 Jan 1972\n3692217600\t37\t# 1 Jan 2017\n",
        )
        .unwrap();
        let table = load_leapfile(&good).expect("a valid leapfile loads");
        assert_eq!(table.entries.last(), Some(&(3692217600, 37)));
        assert_eq!(table.expires, Some(4291747200));

        let bad = dir.path().join("bad.list");
        std::fs::write(&bad, "2272060800 10\nnot a line\n").unwrap();
        assert!(load_leapfile(&bad).is_none());
        assert!(load_leapfile(&dir.path().join("missing")).is_none());
    }

    #[test]
    fn the_seed_master_and_follower_configs_map_to_the_local_driver() {
        let (c, d) = Config::parse_str(
            "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\nrestrict default kod nomodify notrap nopeer noquery\n",
            Path::new("ntp.conf"),
        )
        .unwrap();
        assert!(d.is_empty(), "{d:?}");
        let s = settings_from(c);
        let lc = s.local_clock.unwrap();
        assert_eq!(
            (lc.stratum, lc.address),
            (10, Ipv4Addr::new(127, 127, 1, 0))
        );
        assert_eq!(
            s.access.flags("10.0.0.1:123".parse().unwrap()),
            0x400 | 0x80 | 0x100 | 0x10 | 0x40
        );
        let (c, d) = Config::parse_str(
            "server 192.168.6.3\nFudge 192.168.6.3 stratum 10\n",
            Path::new("f.conf"),
        )
        .unwrap();
        assert!(
            d.iter().any(|d| d.to_string().starts_with("f.conf:2")),
            "{d:?}"
        );
        assert!(settings_from(c).local_clock.is_none());
    }

    #[test]
    fn tos_maxdist_reaches_the_engine() {
        let parse = |text: &str| {
            let (c, d) = Config::parse_str(text, Path::new("ntp.conf")).unwrap();
            assert!(d.is_empty(), "{d:?}");
            engine_config(&Options::default(), &settings_from(c), -20, None)
        };
        assert_eq!(parse("tos maxdist 0.25\n").max_dist, 0.25);
        assert_eq!(parse("").max_dist, 1.5, "ntp.org's default");
    }

    #[test]
    fn dash_x_is_ntp_orgs_slew_mode_and_tinker_step_still_wins() {
        let engine = |text: &str, slew: bool| {
            let (c, _) = Config::parse_str(text, Path::new("ntp.conf")).unwrap();
            let opts = Options {
                slew,
                ..Options::default()
            };
            engine_config(&opts, &settings_from(c), -20, None).step
        };
        assert_eq!(engine("", false).step_threshold, 0.128);
        assert_eq!(engine("", true).step_threshold, 600.0);
        assert_eq!(engine("tinker step 2\n", true).step_threshold, 2.0);
    }

    #[test]
    fn dash_capital_g_forces_the_first_step_and_nothing_else() {
        let (c, _) = Config::parse_str("", Path::new("ntp.conf")).unwrap();
        let settings = settings_from(c);
        let forced = Options {
            force_step_once: true,
            ..Options::default()
        };
        let step = engine_config(&forced, &settings, -20, None).step;
        assert!(step.force_first_step);
        assert_eq!(
            step,
            StepPolicy {
                force_first_step: true,
                ..engine_config(&Options::default(), &settings, -20, None).step
            }
        );
        assert!(
            !engine_config(&Options::default(), &settings, -20, None)
                .step
                .force_first_step
        );
    }

    #[test]
    fn disable_ntp_and_the_flag_both_mean_observe_only() {
        use crate::daemon::settings::asked_observe_only;
        let settings = |text: &str| {
            let (c, d) = Config::parse_str(text, Path::new("ntp.conf")).unwrap();
            assert!(d.is_empty(), "{d:?}");
            settings_from(c)
        };
        let flag = Options {
            observe_only: true,
            ..Options::default()
        };
        assert!(!asked_observe_only(&Options::default(), &settings("")));
        assert!(asked_observe_only(&flag, &settings("")));
        assert!(asked_observe_only(
            &Options::default(),
            &settings("disable ntp\n")
        ));
        assert!(!asked_observe_only(
            &Options::default(),
            &settings("disable ntp\nenable ntp\n")
        ));
        // -x is not observe-only
        let slew = Options {
            slew: true,
            ..Options::default()
        };
        assert!(!asked_observe_only(&slew, &settings("")));
    }

    #[test]
    fn sync_hwclock_is_read_from_sysconfig() {
        assert!(sysconfig_sync_hwclock("OPTIONS=\"-g\"\nSYNC_HWCLOCK=yes\n"));
        assert!(sysconfig_sync_hwclock("SYNC_HWCLOCK=\"yes\"\n"));
        assert!(!sysconfig_sync_hwclock(
            "# SYNC_HWCLOCK=yes\nSYNC_HWCLOCK=no\n"
        ));
    }
}
