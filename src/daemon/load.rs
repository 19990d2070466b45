//! From the command line to a running daemon: pick the log, read the configuration (or the
//! built-in default), merge the flags over it, and run.

use std::path::{Path, PathBuf};

use super::log;
use super::settings::{Options, Settings, DEFAULT_CONFIG};

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
    let mut settings = match load_settings(&opts) {
        Ok(s) => s,
        Err(e) => {
            log::error(&e);
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
    if let Some(d) = &opts.driftfile {
        settings.driftfile = Some(d.clone());
    }
    super::run::run(opts, settings)
}

fn load_settings(opts: &Options) -> Result<Settings, String> {
    let (path, explicit) = match &opts.config {
        Some(p) => (p.clone(), true),
        None => (default_config(), false),
    };
    if !explicit && !path.exists() {
        log::notice(&format!(
            "{DEFAULT_CONFIG} does not exist: using the built-in default configuration"
        ));
        return Ok(super::config_bridge::builtin());
    }
    super::config_bridge::from_file(&path)
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
