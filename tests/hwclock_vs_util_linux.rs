//! ntpkit's hwclock against util-linux's on this host, where no RTC is needed: the refusals
//! without an RTC (byte for byte, with --verbose too), flag errors, and `--predict`, which
//! reads /etc/adjtime-format files and applies the drift algorithm — so util-linux itself
//! checks our reading of damaged files and our drift arithmetic. Nothing here can set a
//! clock: the operations that would are refused before (no RTC), and as root both programs
//! run without CAP_SYS_TIME anyway.

mod common;

use std::path::Path;
use std::process::Command;

const TEST: &str = "hwclock_matches_util_linux_without_an_rtc";

fn util_linux() -> Option<std::path::PathBuf> {
    common::find_program("hwclock", &["/usr/sbin", "/sbin"])
        .filter(|p| std::fs::read(p).is_ok_and(|b| b.windows(10).any(|w| w == b"util-linux")))
}

/// (stdout, stderr, exit code) with the lines that must differ made comparable.
fn run(program: &[&str], args: &[&str], tz: &str) -> (String, String, i32) {
    let mut argv: Vec<&str> = Vec::new();
    if common::is_root() && common::find_program("setpriv", &[]).is_some() {
        argv.extend([
            "setpriv",
            "--inh-caps=-sys_time",
            "--bounding-set=-sys_time",
        ]);
    }
    let name = Path::new(program[0]).file_name().unwrap().to_str().unwrap();
    let first = if name == "hwclock" { name } else { program[0] };
    argv.push(first);
    argv.extend(&program[1..]);
    argv.extend(args);
    // util-linux's getopt messages name argv[0]: call it by name, found through PATH.
    let path = format!(
        "{}:{}",
        Path::new(program[0]).parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .env("PATH", path)
        .env("TZ", tz)
        .env("LC_ALL", "C")
        .output()
        .expect("run hwclock");
    let normalise = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .lines()
            .map(|l| {
                if l.starts_with("System Time: ") {
                    "System Time: <now>".to_string()
                } else if l.starts_with("hwclock from ") {
                    "hwclock from <version>".to_string()
                } else if let Some(rest) = l.strip_prefix("ioctl(") {
                    // The descriptor number: util-linux has its audit socket open first.
                    let tail = rest.split_once(',').map_or(rest, |(_, t)| t);
                    format!("ioctl(<fd>,{tail}")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    (
        normalise(&out.stdout),
        normalise(&out.stderr),
        out.status.code().unwrap_or(-1),
    )
}

fn compare(ul: &Path, args: &[&str], tz: &str) {
    let ours_bin = common::ntpkit_bin();
    let ours = run(&[ours_bin.to_str().unwrap(), "hwclock"], args, tz);
    let theirs = run(&[ul.to_str().unwrap()], args, tz);
    assert_eq!(
        ours, theirs,
        "hwclock {args:?} (TZ={tz}): ours vs util-linux"
    );
}

/// Only the warnings and the exit code: for files util-linux 2.38 reads into uninitialised
/// fields (it prints stack garbage for them; we use zero).
fn compare_warnings(ul: &Path, args: &[&str], tz: &str) {
    let ours_bin = common::ntpkit_bin();
    let ours = run(&[ours_bin.to_str().unwrap(), "hwclock"], args, tz);
    let theirs = run(&[ul.to_str().unwrap()], args, tz);
    assert_eq!(
        (&ours.1, ours.2),
        (&theirs.1, theirs.2),
        "hwclock {args:?} (TZ={tz}): ours vs util-linux"
    );
}

#[test]
fn hwclock_matches_util_linux_without_an_rtc() {
    let Some(ul) = util_linux() else {
        return common::skip(TEST, "needs util-linux's hwclock (apt: util-linux)");
    };
    // On a host with an RTC, point both programs at a device that does not exist, so the
    // comparison still runs (and nothing reads or sets the real one).
    let has_rtc = ["/dev/rtc0", "/dev/rtc", "/dev/misc/rtc"]
        .iter()
        .any(|p| Path::new(p).exists());
    if has_rtc {
        eprintln!("{TEST}: this host has an RTC; comparing with --rtc=/nonexistent/rtc");
    }
    let dir = tempfile::tempdir().unwrap();
    let adj = dir.path().join("adjtime");
    std::fs::write(&adj, "0.000000 0 0.000000\n0\nUTC\n").unwrap();
    let adjfile = format!("--adjfile={}", adj.display());
    for args in [
        &[][..],
        &["-r"],
        &["--show", "--verbose"],
        &["--get"],
        &["-s"],
        &["-w"],
        &["-w", "--verbose"],
        &["-a"],
        &["--set", "--date=2030-01-01 00:00:00"],
        &["--set"],
        &["--set", "--date=yesterday-ish"],
        &["--predict"],
        &["--noadjfile", "-r"],
        &["--noadjfile", "-u", "-r", "--verbose"],
        &["-x"],
        &["-D"],
        &["-r", "-r", "--utc", "-u"],
        &["-f", "/dev/null", "--rtc=/nonexistent/rtc"],
        &["--frobnicate"],
        &["--utc", "--localtime"],
        &["-r", "-s"],
        &["--noadjfile", "--adjfile=/x"],
        &["--noadjfile", "--update-drift", "-u"],
        &["--update-drift"],
        &["extra", "words"],
        &["--date"],
        &["--delay=soon"],
        &["--sho"],
        &["-f", "/nonexistent/rtc"],
        &["-f", "/dev/null", "--verbose"],
        &["-r", &adjfile, "--verbose"],
    ] {
        let mut args = args.to_vec();
        if has_rtc {
            args.push("--rtc=/nonexistent/rtc");
        }
        compare(&ul, &args, "UTC");
    }
}

#[test]
fn hwclock_predict_matches_util_linux() {
    let test = "hwclock_predict_matches_util_linux";
    let Some(ul) = util_linux() else {
        return common::skip(test, "needs util-linux's hwclock (apt: util-linux)");
    };
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/adjtime");
    let mut files: Vec<(String, String, bool)> = std::fs::read_dir(&fixtures)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "txt"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap(),
                true,
            )
        })
        .collect();
    assert!(
        files.len() >= 4,
        "fixtures missing in {}",
        fixtures.display()
    );
    for (name, text, complete) in [
        ("glued", "2 1700000000.75\n1700000000\nLOCAL\n", true),
        (
            "bad-third-line",
            "1.0 1700000000 0.0\n1700000000\nutc\n",
            true,
        ),
        ("empty-third-line", "1 2 3\n4\n\n", true),
        ("extra-lines", "1 2 3\n4\nUTC\nextra\n", true),
        ("two-lines", "1 2 3\n4\n", true),
        (
            "huge-factor",
            "3000.000000 1700000000 0.000000\n1700000000\nUTC\n",
            true,
        ),
        (
            "negative",
            "-43.200000 1800000000 -0.400000\n1800000000\nLOCAL\n",
            true,
        ),
        ("empty", "", false),
        ("blank", "\n", false),
        ("one-line", "12.5 1700000000\n", false),
        ("garbage-first-field", "x 1700000000 0.5\n7\nUTC\n", false),
        ("no-second-number", "1 2 3\n\nUTC\n", false),
        (
            "no-final-newline",
            "-3.25 1700000000 0.125\n1700000000\nUTC",
            true,
        ),
    ] {
        files.push((name.to_string(), text.to_string(), complete));
    }
    for (name, text, complete) in &files {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let adjfile = format!("--adjfile={}", path.display());
        for date in [
            "2023-11-14 22:13:20",
            "2031-05-17 08:00:00",
            "2032-02-29T12:34:56",
            "31-05-17 08:00",
            "2031-02-30",
            "Sat 2031-05-17 08:00:00",
            "Fri 2031-05-17 08:00:00",
            "2031/05/17 08:00:00",
            "08:00:61",
            "2031-13-01",
        ] {
            let d = format!("--date={date}");
            for tz in ["UTC", "ABC-2", "XYZ+3:30"] {
                for verbose in [false, true] {
                    let mut args = vec!["--predict", &d, &adjfile];
                    if verbose {
                        args.push("--verbose");
                    }
                    if *complete {
                        compare(&ul, &args, tz);
                    } else {
                        compare_warnings(&ul, &args, tz);
                    }
                }
            }
        }
    }
}
