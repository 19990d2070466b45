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
    let start = Instant::now();
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("serving on") || start.elapsed() > Duration::from_secs(10) {
            break text;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("ntpd exited {status}: {err}\n{text}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let status = child.wait().unwrap();
    assert!(text.contains("serving on"), "{text}");
    assert!(
        text.contains(&format!("{}:2", conf.display())) && text.contains("Fudge"),
        "{text}"
    );
    assert!(text.contains(&format!("{}:3:", conf.display())), "{text}");
    assert_eq!(status.code(), Some(0));
}
