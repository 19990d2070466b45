//! Statistics files in ntpd's classic line formats (`statistics loopstats peerstats
//! rawstats sysstats`, `statsdir`, `filegen … type day link`), as ntp.org's and NTPsec's
//! `record_*_stats` write them (NTPsec's ntp.conf(5) documents each field), so existing
//! plotting scripts keep working.

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

/// An NTP timestamp as rawstats prints it: NTP seconds with 9 decimals.
fn ntp_seconds(t: crate::wire::time::NtpTimestamp) -> String {
    let frac = (u64::from(t.fraction()) * 1_000_000_000) >> 32;
    format!("{}.{frac:09}", t.seconds())
}

/// One reply as rawstats records it (NTPsec): the sample's four timestamps, before any
/// filtering. A server's reply is logged with the timestamps its sample was computed from:
/// T1 the kernel's transmit time of our request when known (NTPsec's origin is its
/// user-space one), and in interleaved mode the previous exchange's T1, T2, T4 with this
/// reply's T3; so the line's offset is each exchange's raw sample.
pub struct RawSample<'a> {
    pub src: &'a str,
    pub dst: &'a str,
    pub header: &'a crate::wire::packet::Header,
    /// Our receive time (t4).
    pub dst_ts: crate::wire::time::NtpTimestamp,
}

/// One rawstats line: MJD, seconds, source, destination, origin, receive, transmit and
/// destination timestamps, leap, version, mode, stratum, poll, precision, root delay, root
/// dispersion (s), refid, lost and dropped packet counts (0: not counted here) and the
/// BOGON flags in hex (0: the packet was accepted).
pub fn rawstats_line(t: UnixTime, r: &RawSample) -> String {
    let (mjd, secs) = day_and_seconds(t);
    let h = r.header;
    let refid = if h.stratum <= 1 || h.stratum >= 16 {
        format!(".{}.", h.reference_id.ascii())
    } else {
        h.reference_id.dotted()
    };
    format!(
        "{mjd} {secs:.3} {} {} {} {} {} {} {} {} {} {} {} {} {:.6} {:.6} {refid} 0 0 0\n",
        r.src,
        r.dst,
        ntp_seconds(h.origin_ts),
        ntp_seconds(h.receive_ts),
        ntp_seconds(h.transmit_ts),
        ntp_seconds(r.dst_ts),
        h.leap.bits(),
        h.version,
        h.mode as u8,
        h.stratum,
        h.poll,
        h.precision,
        h.root_delay.to_seconds(),
        h.root_dispersion.to_seconds(),
    )
}

/// One sysstats line (NTPsec, hourly): MJD, seconds, then the counters since the last
/// line: seconds covered, packets received, processed, current version, older versions,
/// access denied, bad length or format, bad authentication, declined, rate exceeded,
/// kisses sent, NTPv1 received (not counted apart from the older versions: 0).
pub fn sysstats_line(
    t: UnixTime,
    now: &super::sysstats::SysStats,
    last: &super::sysstats::SysStats,
) -> String {
    let (mjd, secs) = day_and_seconds(t);
    let d = |a: u64, b: u64| a.saturating_sub(b);
    format!(
        "{mjd} {secs:.3} {} {} {} {} {} {} {} {} {} {} {} 0\n",
        d(now.uptime, last.uptime),
        d(now.received, last.received),
        d(now.processed, last.processed),
        d(now.this_version, last.this_version),
        d(now.old_version, last.old_version),
        d(now.restricted, last.restricted),
        d(now.bad_format, last.bad_format),
        d(now.bad_auth, last.bad_auth),
        d(now.declined, last.declined),
        d(now.limited, last.limited),
        d(now.kod_sent, last.kod_sent),
    )
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
    fn rawstats_and_sysstats_lines_have_ntpsecs_fields() {
        use crate::wire::packet::{Header, Leap, Mode, RefId};
        use crate::wire::time::{NtpShort, NtpTimestamp};
        let t = UnixTime::new(1_795_568_400, 125_000_000);
        let ts = |s: u32| NtpTimestamp(((s as u64) << 32) | (1 << 31));
        let h = Header {
            leap: Leap::NoWarning,
            version: 4,
            mode: Mode::Server,
            stratum: 1,
            poll: 6,
            precision: -20,
            root_delay: NtpShort::from_seconds(0.000244),
            root_dispersion: NtpShort::from_seconds(0.000488),
            reference_id: RefId::from_ascii("GPS"),
            reference_ts: ts(10),
            origin_ts: ts(100),
            receive_ts: ts(101),
            transmit_ts: ts(102),
        };
        let line = rawstats_line(
            t,
            &RawSample {
                src: "198.18.0.2",
                dst: "198.18.0.1",
                header: &h,
                dst_ts: ts(103),
            },
        );
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 20, "{line}");
        assert_eq!(&f[..4], ["61369", "3600.125", "198.18.0.2", "198.18.0.1"]);
        assert_eq!(f[4], "100.500000000");
        assert_eq!(f[7], "103.500000000");
        assert_eq!(&f[8..14], ["0", "4", "4", "1", "6", "-20"]);
        assert_eq!(f[16], ".GPS.");
        assert_eq!(&f[17..], ["0", "0", "0"]);

        let last = crate::daemon::sysstats::SysStats {
            uptime: 100,
            received: 10,
            ..Default::default()
        };
        let now = crate::daemon::sysstats::SysStats {
            uptime: 3700,
            received: 25,
            processed: 12,
            this_version: 20,
            old_version: 5,
            kod_sent: 1,
            ..Default::default()
        };
        assert_eq!(
            sysstats_line(t, &now, &last),
            "61369 3600.125 3600 15 12 20 5 0 0 0 0 0 1 0\n"
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
