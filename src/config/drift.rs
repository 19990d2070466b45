//! The drift file: one line holding the clock's frequency error in PPM.
//!
//! Read at start (clamped to ±500 PPM, ntpd's `NTP_MAXFREQ`), written as `"%.3f\n"`
//! through a temporary file in the same directory that is flushed to disk and then
//! renamed over the old one, so a crash or full disk never leaves a truncated drift file.

use super::diagnostic::{ConfigError, Location};
use std::io::Write;
use std::path::{Path, PathBuf};

/// ntpd's `NTP_MAXFREQ`: the largest frequency correction, in PPM.
pub const MAX_FREQ_PPM: f64 = 500.0;

/// A drift value as read from the file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Drift {
    /// Frequency in PPM, within ±[`MAX_FREQ_PPM`].
    pub ppm: f64,
    /// The file held a value outside ±500 PPM (this is the clamped one).
    pub clamped: bool,
}

/// Read the drift file. `Ok(None)` when it does not exist (first start: ntpd reports
/// `freq_not_set`); an error naming the file for anything unreadable or not a number.
pub fn read(path: &Path) -> Result<Option<Drift>, ConfigError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ConfigError::Unreadable {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    parse(&String::from_utf8_lossy(&bytes), path).map(Some)
}

/// Parse drift file contents (`path` for messages). Like ntpd's `fscanf("%lf")`, the first
/// word counts and anything after it on the line is ignored.
pub fn parse(text: &str, path: &Path) -> Result<Drift, ConfigError> {
    let malformed = |line: usize, message: String| ConfigError::Malformed {
        at: Location::new(path, line, None),
        message,
    };
    let Some((idx, first)) = text
        .lines()
        .enumerate()
        .find_map(|(i, l)| l.split_whitespace().next().map(|w| (i, w)))
    else {
        return Err(malformed(
            1,
            "drift file is empty, expected a frequency in PPM".into(),
        ));
    };
    let ppm = first
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| {
            malformed(
                idx + 1,
                format!("'{}' is not a frequency in PPM", first.escape_debug()),
            )
        })?;
    let clamped = ppm.abs() > MAX_FREQ_PPM;
    Ok(Drift {
        ppm: ppm.clamp(-MAX_FREQ_PPM, MAX_FREQ_PPM),
        clamped,
    })
}

/// Atomically replace the drift file with `ppm` formatted `"%.3f\n"`.
pub fn write(path: &Path, ppm: f64) -> Result<(), ConfigError> {
    let io_err = |p: &Path| {
        let p = p.to_path_buf();
        move |source| ConfigError::Unreadable { path: p, source }
    };
    if !ppm.is_finite() {
        return Err(ConfigError::Malformed {
            at: Location::new(path, 1, None),
            message: format!("refusing to write a non-finite frequency ({ppm})"),
        });
    }
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(format_ppm(ppm).as_bytes())
            .map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io_err(path))?;
        // Make the rename itself durable.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// ntpd's `"%.3f\n"`.
pub fn format_ppm(ppm: f64) -> String {
    format!("{ppm:.3}\n")
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "drift".into());
    // One fixed name, not one per PID: a write cut short by SIGKILL leaves at most this one
    // file, which the next write reuses, instead of a new leftover after every crash.
    path.with_file_name(format!(".{name}.tmp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_format() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ntp.drift");
        assert_eq!(read(&p).unwrap(), None);
        write(&p, -12.34567).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "-12.346\n");
        let d = read(&p).unwrap().unwrap();
        assert_eq!(d.ppm, -12.346);
        assert!(!d.clamped);
        write(&p, 3.0).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "3.000\n");
        // no temp files left behind
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn clamps_to_500_ppm() {
        let d = parse("731.5\n", Path::new("/x")).unwrap();
        assert_eq!(d.ppm, 500.0);
        assert!(d.clamped);
        assert_eq!(parse("-9999", Path::new("/x")).unwrap().ppm, -500.0);
        // ntpd reads the first number and ignores the rest (ntp.org writes one field;
        // some versions wrote a second, the tolerance)
        assert_eq!(parse("  1.250 0.002\n", Path::new("/x")).unwrap().ppm, 1.25);
    }

    #[test]
    fn garbage_names_the_file() {
        let e = parse("hello\n", Path::new("/var/lib/ntp/drift")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/var/lib/ntp/drift:1: 'hello' is not a frequency in PPM"
        );
        let e = parse("", Path::new("/d")).unwrap_err().to_string();
        assert!(e.contains("/d:1: drift file is empty"), "{e}");
        assert!(parse("nan", Path::new("/d")).is_err());
        assert!(parse("inf", Path::new("/d")).is_err());
    }

    #[test]
    fn failed_write_leaves_old_file_intact() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("drift");
        write(&p, 1.0).unwrap();
        assert!(write(&p, f64::NAN).is_err());
        // a directory in the way of the rename: write fails, old contents stay
        let blocked = dir.path().join("blocked");
        std::fs::create_dir(&blocked).unwrap();
        std::fs::write(blocked.join("x"), "").unwrap();
        assert!(write(&blocked, 2.0).is_err());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "1.000\n");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 2, "{leftovers:?}");
    }
}
