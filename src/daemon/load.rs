//! From the command line to a running daemon: pick the log, read the configuration (or the
//! built-in default), merge the flags over it, and run.

use std::path::{Path, PathBuf};

use super::log;
use super::settings::{Options, Settings, DEFAULT_CONFIG};
use crate::config::{Config, Diagnostic};

/// The whole `ntpd` program after flag parsing. Returns the exit code.
pub fn start(opts: Options) -> i32 {
    // Until the configuration names a log file, log where the flags say.
    let early = match (&opts.logfile, opts.foreground) {
        (Some(p), _) => log::Target::File(p.clone()),
        (None, true) => log::Target::Stderr,
        (None, false) => log::Target::Syslog,
    };
    if let Err(e) = log::init(early.clone(), opts.debug) {
        eprintln!("ntpd: cannot open log file: {e}");
        return super::run::EXIT_FAILURE;
    }
    let (settings, diagnostics, problems) = match load_settings(&opts) {
        Ok(s) => s,
        Err(e) => {
            log::error(&e.to_string());
            if !opts.foreground {
                eprintln!("ntpd: {e}");
            }
            return super::run::EXIT_FAILURE;
        }
    };
    if opts.logfile.is_none() {
        if let Some(p) = settings.logfile.clone() {
            if let Err(e) = log::init(log::Target::File(p.clone()), opts.debug) {
                log::error(&format!("logfile {}: {e}", p.display()));
                return super::run::EXIT_FAILURE;
            }
        }
    }
    // after the file's `logfile` took effect, so the diagnostics land where the operator
    // looks (ntpd logs them as it parses, to syslog until the logfile line is reached)
    super::config_bridge::log_diagnostics(&diagnostics);
    for problem in problems {
        log::error(&problem);
    }
    for line in &opts.accepted_only {
        log::notice(line);
    }
    if let Some(n) = opts.update_interval.filter(|n| *n > 0) {
        log::notice(&format!(
            "-U {n}: interfaces are enumerated once at start here (no rescans); flag ignored"
        ));
    }
    super::run::run(opts, settings)
}

/// The configuration file (or the built-in default) with the flags folded in, its
/// diagnostics, and what was wrong with the flags' values.
fn load_settings(
    opts: &Options,
) -> Result<(Settings, Vec<Diagnostic>, Vec<String>), crate::config::ConfigError> {
    let (path, explicit) = match &opts.config {
        Some(p) => (p.clone(), true),
        None => (default_config(), false),
    };
    let (mut config, diagnostics) = if !explicit && !path.exists() {
        log::notice(&format!(
            "{DEFAULT_CONFIG} does not exist: using the built-in default configuration"
        ));
        (Config::default_builtin(), Vec::new())
    } else {
        Config::load(&path)?
    };
    let problems = super::flags::overlay(&mut config, opts);
    Ok((
        super::config_bridge::settings_from(config),
        diagnostics,
        problems,
    ))
}

/// Without `-c`: /etc/ntpsec/ntp.conf when it exists (a host switched over from NTPsec keeps
/// it, docs/packaging.md), else /etc/ntp.conf — which may not exist either.
fn default_config() -> PathBuf {
    let path = pick_default(
        Path::new(super::settings::NTPSEC_CONFIG),
        Path::new(DEFAULT_CONFIG),
    );
    if path.exists() {
        log::notice(&format!("reading {}", shown(&path)));
    }
    path
}

fn pick_default(ntpsec: &Path, classic: &Path) -> PathBuf {
    if ntpsec.exists() { ntpsec } else { classic }.to_path_buf()
}

/// For messages: the path as given.
pub fn shown(p: &Path) -> String {
    p.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::pick_default;

    #[test]
    fn ntpsec_config_wins_over_the_classic_one() {
        let d = tempfile::tempdir().unwrap();
        let (ntpsec, classic) = (d.path().join("ntpsec.conf"), d.path().join("ntp.conf"));
        assert_eq!(pick_default(&ntpsec, &classic), classic);
        std::fs::write(&ntpsec, "").unwrap();
        assert_eq!(pick_default(&ntpsec, &classic), ntpsec);
    }
}
