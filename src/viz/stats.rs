//! Reading loopstats and peerstats files as ntp.org's, NTPsec's and our ntpd write them
//! (`src/daemon/stats.rs`): `MJD seconds …` lines, one record per line. Lines that do not
//! parse are skipped and counted, the first of them kept for the report (file:line).

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Modified Julian Day of the Unix epoch.
const MJD_UNIX_EPOCH: f64 = 40_587.0;

/// One loopstats line: the clock discipline after an update.
#[derive(Clone, Debug, PartialEq)]
pub struct LoopRecord {
    /// Unix time, seconds.
    pub t: f64,
    /// Clock offset, seconds.
    pub offset: f64,
    /// Frequency correction, PPM.
    pub freq_ppm: f64,
    /// RMS clock jitter, seconds (NaN when the line has no such field).
    pub jitter: f64,
    /// RMS frequency jitter ("wander"), PPM (NaN when absent).
    pub wander_ppm: f64,
}

/// One peerstats line: a source's clock filter output after a sample.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerRecord {
    pub t: f64,
    /// The peer's address as written (`192.0.2.1`, `127.127.28.0`, NTPsec's `SHM(0)`).
    pub peer: String,
    pub status: u16,
    /// Offset, delay, dispersion and jitter, seconds.
    pub offset: f64,
    pub delay: f64,
    pub dispersion: f64,
    pub jitter: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Loop,
    Peer,
}

/// The records of a set of files, and what was skipped.
#[derive(Debug, Default)]
pub struct Stats {
    pub loops: Vec<LoopRecord>,
    pub peers: Vec<PeerRecord>,
    /// Lines that did not parse, over all files.
    pub skipped: usize,
    /// `file:line: why` of the first skipped line of each file that had any.
    pub first_bad: Vec<String>,
    /// Files that were read.
    pub files: Vec<PathBuf>,
}

/// Why a stats line did not parse (reported after its `file:line: `).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("{found} fields, a {kind} line has {want}")]
    FieldCount {
        found: usize,
        kind: &'static str,
        want: usize,
    },
    #[error("bad MJD or seconds of day")]
    Time,
    #[error("{what} {text:?} is not a number")]
    NotANumber { what: &'static str, text: String },
    #[error("status {0:?}")]
    Status(String),
}

/// Why a set of stats files could not be read. The message is complete (it includes
/// the I/O error), so the I/O error is not also offered as `source()`.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: {error}", .path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: no loopstats or peerstats files in this directory", .0.display())]
    EmptyDirectory(PathBuf),
    /// No line of the file parsed: `first` is `file:line: why` of its first line.
    #[error("{first} (no line of this file is {kind})")]
    NotStats { first: String, kind: &'static str },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ReadError + '_ {
    move |error| ReadError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// MJD and seconds of the day (the first two fields of every stats line) to Unix time.
fn unix_time(mjd: &str, secs: &str) -> Option<f64> {
    let mjd: f64 = mjd.parse().ok()?;
    let secs: f64 = secs.parse().ok()?;
    (mjd.fract() == 0.0 && (0.0..86_401.0).contains(&secs) && mjd >= 0.0)
        .then_some((mjd - MJD_UNIX_EPOCH) * 86_400.0 + secs)
}

fn number(s: &str, what: &'static str) -> Result<f64, LineError> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(LineError::NotANumber {
            what,
            text: s.to_string(),
        }),
    }
}

/// `MJD secs offset freq [jitter [wander [poll]]]`: ntp.org and NTPsec write seven fields;
/// jitter and wander are optional so that older files still plot.
pub fn parse_loop(line: &str) -> Result<LoopRecord, LineError> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 4 {
        return Err(LineError::FieldCount {
            found: f.len(),
            kind: "loopstats",
            want: 7,
        });
    }
    let t = unix_time(f[0], f[1]).ok_or(LineError::Time)?;
    let opt = |i: usize, what: &'static str| -> Result<f64, LineError> {
        f.get(i).map_or(Ok(f64::NAN), |s| number(s, what))
    };
    Ok(LoopRecord {
        t,
        offset: number(f[2], "offset")?,
        freq_ppm: number(f[3], "frequency")?,
        jitter: opt(4, "jitter")?,
        wander_ppm: opt(5, "wander")?,
    })
}

/// `MJD secs address status offset delay dispersion jitter`.
pub fn parse_peer(line: &str) -> Result<PeerRecord, LineError> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 8 {
        return Err(LineError::FieldCount {
            found: f.len(),
            kind: "peerstats",
            want: 8,
        });
    }
    let t = unix_time(f[0], f[1]).ok_or(LineError::Time)?;
    let status = u16::from_str_radix(f[3], 16).map_err(|_| LineError::Status(f[3].to_string()))?;
    Ok(PeerRecord {
        t,
        peer: f[2].to_string(),
        status,
        offset: number(f[4], "offset")?,
        delay: number(f[5], "delay")?,
        dispersion: number(f[6], "dispersion")?,
        jitter: number(f[7], "jitter")?,
    })
}

/// What a file holds, from its name (`loopstats`, `loopstats.20261125`, …) or else from
/// its first non-empty line (peerstats has an address as third field).
pub fn kind_of(path: &Path, text: &str) -> Option<Kind> {
    let name = path.file_name()?.to_string_lossy();
    if name.starts_with("loopstats") {
        return Some(Kind::Loop);
    }
    if name.starts_with("peerstats") {
        return Some(Kind::Peer);
    }
    let first = text.lines().find(|l| !l.trim().is_empty())?;
    let f: Vec<&str> = first.split_whitespace().collect();
    match f.get(2) {
        Some(third) if third.parse::<f64>().is_err() => Some(Kind::Peer),
        Some(_) => Some(Kind::Loop),
        None => None,
    }
}

/// The stats files a directory holds: `loopstats*` and `peerstats*`, compressed
/// generations left out (logrotate's `.gz`), sorted by name so day files come in order.
fn files_in(dir: &Path) -> Result<Vec<PathBuf>, ReadError> {
    let rd = std::fs::read_dir(dir).map_err(io_error(dir))?;
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            name.is_some_and(|n| {
                (n.starts_with("loopstats") || n.starts_with("peerstats"))
                    && !n.ends_with(".gz")
                    && !n.ends_with(".xz")
                    && !n.ends_with(".bz2")
            }) && p.is_file()
        })
        .collect();
    v.sort();
    Ok(v)
}

/// Read every file (directories: their stats files), skipping the same file seen twice —
/// `filegen … link` makes `loopstats` a hard link to today's `loopstats.YYYYMMDD`.
pub fn read_paths(paths: &[PathBuf]) -> Result<Stats, ReadError> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let found = files_in(p)?;
            if found.is_empty() {
                return Err(ReadError::EmptyDirectory(p.clone()));
            }
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    let mut seen = HashSet::new();
    let mut stats = Stats::default();
    for f in files {
        let meta = std::fs::metadata(&f).map_err(io_error(&f))?;
        if !seen.insert(
            std::os::unix::fs::MetadataExt::ino(&meta)
                ^ std::os::unix::fs::MetadataExt::dev(&meta).rotate_left(32),
        ) {
            continue;
        }
        read_file(&f, &mut stats)?;
    }
    stats.loops.sort_by(|a, b| a.t.total_cmp(&b.t));
    stats.peers.sort_by(|a, b| a.t.total_cmp(&b.t));
    // a file both read by name and as the link may still repeat lines: keep one of each
    stats.loops.dedup();
    stats.peers.dedup();
    Ok(stats)
}

/// Parse one file into `stats`. A file none of whose lines parse is an error naming its
/// first line (it is not a stats file); otherwise bad lines are skipped and counted.
pub fn read_file(path: &Path, stats: &mut Stats) -> Result<(), ReadError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io_error(path))?;
    let text = String::from_utf8_lossy(&bytes);
    let Some(kind) = kind_of(path, &text) else {
        return Ok(()); // empty: ntpd had not written yet
    };
    let (mut good, mut bad, mut first_bad) = (0usize, 0usize, None);
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let r = match kind {
            Kind::Loop => parse_loop(line).map(|r| stats.loops.push(r)),
            Kind::Peer => parse_peer(line).map(|r| stats.peers.push(r)),
        };
        match r {
            Ok(()) => good += 1,
            Err(e) => {
                bad += 1;
                first_bad.get_or_insert_with(|| format!("{}:{}: {e}", path.display(), n + 1));
            }
        }
    }
    if let Some(first) = first_bad {
        if good == 0 {
            let kind = if kind == Kind::Loop {
                "loopstats"
            } else {
                "peerstats"
            };
            return Err(ReadError::NotStats { first, kind });
        }
        stats.first_bad.push(first);
    }
    stats.skipped += bad;
    stats.files.push(path.to_path_buf());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::stats::{loopstats_line, peerstats_line};
    use crate::wire::time::UnixTime;

    #[test]
    fn our_lines_read_back() {
        let t = UnixTime::new(1_795_568_400, 125_000_000);
        let l = parse_loop(&loopstats_line(t, -3.412e-5, 12.3456, 2.1e-5, 0.0125, 6)).unwrap();
        assert_eq!(l.t, 1_795_568_400.125);
        assert_eq!(l.offset, -3.412e-5);
        assert_eq!(l.freq_ppm, 12.346);
        assert_eq!(l.jitter, 2.1e-5);
        assert_eq!(l.wander_ppm, 0.0125);
        let p = parse_peer(&peerstats_line(
            t,
            "192.0.2.10",
            0x961a,
            -3.4e-5,
            5.12e-4,
            9.5e-4,
            2.1e-5,
        ))
        .unwrap();
        assert_eq!(p.peer, "192.0.2.10");
        assert_eq!(p.status, 0x961a);
        assert_eq!(
            (p.offset, p.delay, p.dispersion, p.jitter),
            (-3.4e-5, 5.12e-4, 9.5e-4, 2.1e-5)
        );
    }

    #[test]
    fn ntpsec_lines_parse() {
        // as NTPsec 1.2 writes them (ntp.conf(5): loopstats and peerstats)
        let l = parse_loop("60281 82298.531 -0.000002861 -5.528 0.000011507 0.003017 6").unwrap();
        assert_eq!(l.t, (60_281.0 - 40_587.0) * 86_400.0 + 82_298.531);
        assert_eq!(l.freq_ppm, -5.528);
        let p = parse_peer(
            "60281 82298.531 SHM(0) 9014 0.000150234 0.000000000 0.000122070 0.000043120",
        )
        .unwrap();
        assert_eq!(p.peer, "SHM(0)");
        assert_eq!(p.status, 0x9014);
        // old loopstats without jitter and wander
        assert!(parse_loop("50000 0.000 0.001 1.5").unwrap().jitter.is_nan());
    }

    #[test]
    fn bad_lines_say_why() {
        assert!(parse_loop("60281 82298.531 -0.000002861")
            .unwrap_err()
            .to_string()
            .contains("3 fields"));
        assert!(parse_loop("60281 82298.531 x -5.5 0 0 6")
            .unwrap_err()
            .to_string()
            .contains("offset"));
        assert!(parse_loop("60281 99999 0 -5.5 0 0 6")
            .unwrap_err()
            .to_string()
            .contains("seconds"));
        assert!(parse_loop("60281 1 nan -5.5 0 0 6")
            .unwrap_err()
            .to_string()
            .contains("offset"));
        assert!(parse_peer("60281 1 192.0.2.1 zz 0 0 0 0")
            .unwrap_err()
            .to_string()
            .contains("status"));
    }

    #[test]
    fn directory_with_day_files_and_the_link_reads_each_line_once() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("loopstats.20261124"),
            "61368 10.0 0.001 1.0 0.0001 0.01 6\n",
        )
        .unwrap();
        std::fs::write(
            d.join("loopstats.20261125"),
            "61369 10.0 0.002 1.1 0.0001 0.01 6\ngarbage\n61369 20.0 0.003 1.2 0.0001 0.01 6\n",
        )
        .unwrap();
        std::fs::hard_link(d.join("loopstats.20261125"), d.join("loopstats")).unwrap();
        std::fs::write(d.join("loopstats.20261123.gz"), [0x1f, 0x8b, 0]).unwrap();
        std::fs::write(
            d.join("peerstats"),
            "61369 10.0 198.18.0.1 963a 0.001 0.0002 0.0003 0.00004\n",
        )
        .unwrap();
        let s = read_paths(&[d.to_path_buf()]).unwrap();
        assert_eq!(s.loops.len(), 3);
        assert!(s.loops.windows(2).all(|w| w[0].t < w[1].t));
        assert_eq!(s.peers.len(), 1);
        assert_eq!(s.skipped, 1);
        assert!(
            s.first_bad[0].ends_with("loopstats.20261125:2: 1 fields, a loopstats line has 7")
                || s.first_bad[0].contains("loopstats:2:"),
            "{:?}",
            s.first_bad
        );
    }

    #[test]
    fn a_file_that_is_not_stats_is_an_error_naming_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("loopstats");
        std::fs::write(&p, "\n<html>\n").unwrap();
        let e = read_paths(std::slice::from_ref(&p))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(&format!("{}:2: ", p.display())), "{e}");
        let missing = dir.path().join("nope");
        assert!(read_paths(&[missing])
            .unwrap_err()
            .to_string()
            .contains("nope"));
        let empty = tempfile::tempdir().unwrap();
        assert!(read_paths(&[empty.path().to_path_buf()])
            .unwrap_err()
            .to_string()
            .contains("no loopstats"));
    }
}
