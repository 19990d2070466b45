//! Statistics files in ntpd's classic line formats (`statistics loopstats peerstats`,
//! `statsdir`, `filegen … type day link`), as ntp.org's `record_loop_stats` and
//! `record_peer_stats` write them, so existing plotting scripts keep working.

use crate::wire::time::civil_from_days;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::{FileGen, FileGenType};
use crate::wire::time::UnixTime;

/// Modified Julian Day of the Unix epoch.
const MJD_UNIX_EPOCH: i64 = 40_587;

/// `MJD seconds.mmm` as the first two fields of every stats line.
pub fn day_and_seconds(t: UnixTime) -> (i64, f64) {
    let day = t.secs.div_euclid(86_400);
    let secs = t.secs.rem_euclid(86_400) as f64 + t.nanos as f64 * 1e-9;
    (day + MJD_UNIX_EPOCH, secs)
}

/// One loopstats line: MJD, seconds, offset s, frequency PPM, jitter s, wander PPM, poll.
pub fn loopstats_line(
    t: UnixTime,
    offset: f64,
    freq_ppm: f64,
    jitter: f64,
    wander_ppm: f64,
    poll: i8,
) -> String {
    let (mjd, secs) = day_and_seconds(t);
    format!("{mjd} {secs:.3} {offset:.9} {freq_ppm:.3} {jitter:.9} {wander_ppm:.6} {poll}\n")
}

/// One peerstats line: MJD, seconds, peer address, peer status word (hex), offset, delay,
/// dispersion, jitter (seconds).
#[allow(clippy::too_many_arguments)]
pub fn peerstats_line(
    t: UnixTime,
    peer: &str,
    status_word: u16,
    offset: f64,
    delay: f64,
    dispersion: f64,
    jitter: f64,
) -> String {
    let (mjd, secs) = day_and_seconds(t);
    format!("{mjd} {secs:.3} {peer} {status_word:x} {offset:.9} {delay:.9} {dispersion:.9} {jitter:.9}\n")
}

/// The file name suffix of a generation at time `t` (ntpd's filegen naming).
pub fn suffix(kind: FileGenType, t: UnixTime) -> String {
    let days = t.secs.div_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    match kind {
        FileGenType::None => String::new(),
        FileGenType::Pid => format!(".{}", std::process::id()),
        FileGenType::Day => format!(".{y:04}{m:02}{d:02}"),
        FileGenType::Week => {
            let jan1 = {
                // days since epoch of January 1st of year y
                let mut lo = days - 366;
                while civil_from_days(lo).0 < y {
                    lo += 1;
                }
                lo
            };
            format!(".{y:04}W{:02}", (days - jan1) / 7)
        }
        FileGenType::Month => format!(".{y:04}{m:02}"),
        FileGenType::Year => format!(".{y:04}"),
        FileGenType::Age => format!(".a{:08}", 0),
    }
}

/// One statistics generation: appends lines, switching files when the suffix changes.
pub struct StatsFile {
    base: PathBuf,
    gen: FileGen,
    current: Option<(String, File)>,
}

impl StatsFile {
    /// `statsdir` + (`file` or the generation name).
    pub fn new(dir: &Path, name: &str, gen: &FileGen) -> StatsFile {
        let file = gen.file.clone().unwrap_or_else(|| name.to_string());
        StatsFile {
            base: dir.join(file),
            gen: gen.clone(),
            current: None,
        }
    }

    pub fn append(&mut self, t: UnixTime, line: &str) -> std::io::Result<()> {
        let sfx = suffix(self.gen.kind, t);
        if self
            .current
            .as_ref()
            .map(|(s, _)| s != &sfx)
            .unwrap_or(true)
        {
            let mut name = self.base.clone().into_os_string();
            name.push(&sfx);
            let path = PathBuf::from(name);
            let f = OpenOptions::new().create(true).append(true).open(&path)?;
            // `link`: the base name always points at the current file (a hard link, as ntpd)
            if self.gen.link && !sfx.is_empty() {
                let _ = std::fs::remove_file(&self.base);
                let _ = std::fs::hard_link(&path, &self.base);
            }
            self.current = Some((sfx, f));
        }
        if let Some((_, f)) = self.current.as_mut() {
            f.write_all(line.as_bytes())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_match_ntpds_formats() {
        // 2026-11-25 01:00:00.125 UTC
        let t = UnixTime::new(1_795_568_400, 125_000_000);
        assert_eq!(day_and_seconds(t).0, 61_369);
        assert_eq!(
            loopstats_line(t, -0.000034120, 12.3456, 0.000021, 0.0125, 6),
            "61369 3600.125 -0.000034120 12.346 0.000021000 0.012500 6\n"
        );
        assert_eq!(
            peerstats_line(
                t,
                "192.0.2.10",
                0x961a,
                -0.00003412,
                0.000512004,
                0.000950101,
                0.000021002
            ),
            "61369 3600.125 192.0.2.10 961a -0.000034120 0.000512004 0.000950101 0.000021002\n"
        );
    }

    #[test]
    fn day_generations_roll_over_and_keep_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let gen = FileGen {
            enabled: true,
            ..FileGen::default()
        };
        let mut f = StatsFile::new(dir.path(), "loopstats", &gen);
        let day1 = UnixTime::new(1_795_568_400, 0);
        let day2 = UnixTime::new(1_795_568_400 + 86_400, 0);
        f.append(day1, "a\n").unwrap();
        f.append(day2, "b\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("loopstats.20261125")).unwrap(),
            "a\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("loopstats.20261126")).unwrap(),
            "b\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("loopstats")).unwrap(),
            "b\n"
        );
    }
}
