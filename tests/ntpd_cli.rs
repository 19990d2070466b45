//! ntpd's command line and configuration handling that needs no namespaces: exit codes,
//! file:line diagnostics, and the seed's `Fudge` line (a warning, the daemon still runs).
//! Uses the hidden `--port 0` so no privileges are needed; always `--observe-only`.

mod common;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ntpd(args: &[&str]) -> Command {
    let mut c = Command::new(common::ntpkit_bin());
    c.arg("ntpd").args(args);
    c
}

#[test]
fn an_unreadable_config_file_exits_1_naming_it() {
    let out = ntpd(&[
        "--observe-only",
        "-n",
        "--port",
        "0",
        "-c",
        "/nonexistent/ntp.conf",
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/ntp.conf"), "{err}");
}

#[test]
fn bad_flags_exit_2_and_help_exits_0() {
    let out = ntpd(&["--no-such-flag"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = ntpd(&["--help"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "-c",
        "-n",
        "-g",
        "-q",
        "-x",
        "--observe-only",
        "-p",
        "-f",
        "-l",
        "-d",
        "-u",
        "-4",
        "-6",
        "-I",
        "--single-thread",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

/// NTPsec's ntpd's flags as its own `--help` lists them (short letter, whether it takes an
/// argument, long name), read from the installed binary, plus the two its man page has and
/// `--help` leaves out (`-G`, `-w`). `-h`/`--help` and `-V`/`--version` are left out: both
/// programs answer them.
fn ntpsec_flags(help: &str) -> Vec<(Option<char>, bool, Option<String>)> {
    let mut flags = Vec::new();
    for line in help.lines() {
        // "   -4 no  ipv4           Force IPv4 …", "      Str var            make …"; the
        // long-name column is empty for -m
        let (Some(flag), Some(arg)) = (line.get(3..5), line.get(6..9)) else {
            continue;
        };
        let takes_arg = match arg.trim() {
            "no" => false,
            "Str" | "Num" => true,
            _ => continue,
        };
        let short = match flag.strip_prefix('-') {
            Some(c) => c.chars().next(),
            None if flag.trim().is_empty() => None,
            None => continue,
        };
        let long = line
            .get(10..)
            .filter(|l| !l.starts_with(' '))
            .and_then(|l| l.split_whitespace().next())
            .map(|l| l.trim_start_matches('-').to_string());
        if matches!(short, Some('h' | 'V')) || long.as_deref() == Some("help") {
            continue;
        }
        flags.push((short, takes_arg, long));
    }
    flags.push((Some('G'), false, None));
    flags.push((Some('w'), true, None));
    flags
}

/// "A distro's ntpd command line that NTPsec runs and we refuse is a bug": every flag the
/// installed NTPsec ntpd accepts — each checked against NTPsec itself first (`FLAG [1] -h`
/// exits 0 there once the flag is parsed; NTPsec runs without CAP_SYS_TIME, and -h stops it
/// before it does anything) — is accepted by ours with the same shape: a flag without an
/// argument does not take the server name after it, one with an argument takes `1`, under
/// the short letter and the long name alike.
#[test]
fn every_flag_ntpsecs_ntpd_accepts_ours_accepts_with_the_same_shape() {
    const TEST: &str = "every_flag_ntpsecs_ntpd_accepts_ours_accepts_with_the_same_shape";
    let ntpsec = std::path::Path::new("/usr/sbin/ntpd");
    let help = Command::new(ntpsec).arg("--help").output();
    let help = help
        .map(|o| {
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
        })
        .unwrap_or_default();
    if !help.contains("USAGE:  ntpd") || !help.contains("panicgate") {
        return common::skip(TEST, "needs NTPsec's ntpd at /usr/sbin/ntpd (apt: ntpsec)");
    }
    let flags = ntpsec_flags(&help);
    assert!(flags.len() >= 25, "{flags:?}\n{help}");
    let mut checked = 0;
    for (short, takes_arg, long) in &flags {
        let spellings = short
            .map(|c| format!("-{c}"))
            .into_iter()
            .chain(long.iter().map(|l| format!("--{l}")));
        for spelling in spellings {
            let mut argv = vec![spelling.clone()];
            if *takes_arg {
                argv.push("1".into());
            }
            // NTPsec's -a is a deliberate assertion failure: not run, ours only
            if !matches!(spelling.as_str(), "-a" | "--assert") {
                // Should -h ever fail to stop it, NTPsec must not run on as a daemon of the
                // host with its stock config (which names pool servers): in the foreground,
                // without servers, and killed after 10 s.
                let out = Command::new("timeout")
                    .arg("10")
                    .arg("setpriv")
                    .args(["--inh-caps=-sys_time", "--bounding-set=-sys_time"])
                    .arg(ntpsec)
                    .args(["-n", "-c", "/dev/null"])
                    .args(&argv)
                    .arg("-h")
                    .output()
                    .unwrap();
                if !out.status.success() {
                    // a flag --help lists but NTPsec's parser refuses (-b: "obsolete"):
                    // nothing for ours to match
                    continue;
                }
            }
            let mut ours = vec!["ntpd".to_string()];
            ours.extend(argv.iter().cloned());
            ours.push("198.51.100.7".into());
            let m = ntpkit::apps::ntpd::command()
                .try_get_matches_from(&ours)
                .unwrap_or_else(|e| panic!("NTPsec accepts {argv:?}, ours refuses: {e}"));
            let opts = ntpkit::apps::ntpd::options(&m);
            assert_eq!(
                opts.servers,
                ["198.51.100.7"],
                "{argv:?}: not the shape NTPsec's ntpd gives it"
            );
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} spellings checked: {flags:?}");
}

/// The daemon's log once it says "serving on" (or after 10 s), then SIGTERM and its exit
/// status; a daemon that exits first fails the test with its stderr (when piped).
fn log_until_serving_then_stop(
    child: &mut std::process::Child,
    log: &std::path::Path,
) -> (String, std::process::ExitStatus) {
    let start = Instant::now();
    let text = loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains("serving on") || start.elapsed() > Duration::from_secs(10) {
            break text;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                e.read_to_string(&mut err).unwrap();
            }
            panic!("ntpd exited {status}: {err}\n{text}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    (text, child.wait().unwrap())
}

#[test]
fn config_diagnostics_name_file_and_line_and_the_daemon_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("ntp.conf");
    // the seed's follower, verbatim: `Fudge` with a capital F is not a keyword
    std::fs::write(
        &conf,
        "server 127.127.1.0\nFudge 127.127.1.0 stratum 10\nrestrict default kod bogusflag\n",
    )
    .unwrap();
    let log = dir.path().join("ntpd.log");
    let mut child = ntpd(&[
        "--observe-only",
        "-n",
        "--port",
        "0",
        "-4",
        "-c",
        conf.to_str().unwrap(),
        "-l",
        log.to_str().unwrap(),
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let (text, status) = log_until_serving_then_stop(&mut child, &log);
    assert!(text.contains("serving on"), "{text}");
    assert!(
        text.contains(&format!("{}:2", conf.display())) && text.contains("Fudge"),
        "{text}"
    );
    assert!(text.contains(&format!("{}:3:", conf.display())), "{text}");
    assert_eq!(status.code(), Some(0));
}

/// As ntp.org's and NTPsec's: `-q` and `-d` do not fork (a boot script's `ntpd -gq` returns
/// once the clock is set, with its exit code). Seen from outside: the process we started is
/// the one that logs "serving on", not a child of it.
#[test]
fn quit_and_debug_stay_in_the_foreground_without_n() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("ntp.conf");
    std::fs::write(&conf, "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n").unwrap();
    for flag in ["-q", "-d"] {
        let log = dir.path().join(format!("ntpd{flag}.log"));
        let mut child = ntpd(&[
            flag,
            "--observe-only",
            "--port",
            "0",
            "-4",
            "-c",
            conf.to_str().unwrap(),
            "-l",
            log.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        let (text, _) = log_until_serving_then_stop(&mut child, &log);
        let serving = text
            .lines()
            .find(|l| l.contains("serving on"))
            .unwrap_or_else(|| panic!("ntpd {flag}: no 'serving on' in:\n{text}"));
        assert!(
            serving.contains(&format!("ntpd[{}]:", child.id())),
            "ntpd {flag} forked: {serving}"
        );
    }
}
