//! ntpdate's command line: usage errors print ntp.org's usage line and exit 2, before any
//! packet is sent (so these need no network and no root).

mod common;
use std::process::{Command, Output};

const USAGE: &str = "usage: ntpdate [-46bBdqsuv] [-a key#] [-e delay] [-k file] [-p samples] \
                     [-o version#] [-t timeo] server ...";

fn ntpdate(args: &[&str]) -> Output {
    Command::new(common::ntpkit_bin())
        .arg("ntpdate")
        .args(args)
        .env_remove("FORCE_COLOR")
        .output()
        .expect("run ntpkit")
}

fn assert_usage_error(args: &[&str], message: &str) {
    let out = ntpdate(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(
        stderr.ends_with(&format!("{USAGE}\n")),
        "{args:?}: {stderr}"
    );
    assert!(stderr.contains(message), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?}");
}

#[test]
fn usage_errors_exit_2_with_the_classic_line() {
    assert_usage_error(&[], "ntpdate: ");
    assert_usage_error(&["-Z", "127.0.0.1"], "'-Z'");
    assert_usage_error(
        &["-p", "9", "127.0.0.1"],
        "ntpdate: number of samples (9) is invalid",
    );
    assert_usage_error(
        &["-p", "0", "127.0.0.1"],
        "number of samples (0) is invalid",
    );
    assert_usage_error(&["-o", "5", "127.0.0.1"], "version number 5 is invalid");
    assert_usage_error(
        &["-t", "soon", "127.0.0.1"],
        "invalid value \"soon\" for -t",
    );
    assert_usage_error(&["-e", "3", "127.0.0.1"], "encryption delay 3 is unlikely");
    assert_usage_error(&["-4", "-6", "127.0.0.1"], "ntpdate: ");
    assert_usage_error(&["-a"], "ntpdate: ");
}

#[test]
fn help_is_not_an_error() {
    let out = ntpdate(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("--rank") && text.contains("-p <samples>"),
        "{text}"
    );
}

#[test]
fn missing_key_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("ntp.keys");
    std::fs::write(&keys, "1 M secret\n2 NOPE x\n").unwrap();
    // The keys file is read before anything is sent, so no server is contacted.
    let out = ntpdate(&["-q", "-a", "2", "-k", keys.to_str().unwrap(), "127.0.0.1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("authentication key 2 unknown"), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:2:", keys.display())),
        "names the bad line: {stderr}"
    );
    let out = ntpdate(&["-q", "-a", "1", "-k", "/nonexistent/ntp.keys", "127.0.0.1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/ntp.keys"));
}

/// `--rank` colours its rows on a terminal only, and never with NO_COLOR. The terminal is
/// util-linux `script`'s pty; the one server is a closed port on loopback, so the table has
/// a single (dimmed) `no reply` row after a one-second timeout.
#[test]
fn rank_colours_only_on_a_terminal_and_honours_no_color() {
    let Some(script) = common::find_program("script", &[]) else {
        return common::skip(
            "rank_colours_only_on_a_terminal_and_honours_no_color",
            "needs util-linux `script` for a pty",
        );
    };
    let bin = common::ntpkit_bin();
    let run = |env: &str| {
        let cmd = format!(
            "env {env} {} ntpdate -q -t 1 -p 1 --rank 127.0.0.1:9",
            bin.display()
        );
        let out = Command::new(&script)
            .args(["-qec", &cmd, "/dev/null"])
            .env("TERM", "xterm")
            .env_remove("FORCE_COLOR")
            .output()
            .expect("run script");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let coloured = run("-u NO_COLOR");
    assert!(coloured.contains("no reply"), "{coloured}");
    assert!(
        coloured.contains('\x1b'),
        "no colour on a tty: {coloured:?}"
    );
    assert!(coloured.contains('│'), "box drawing on a tty: {coloured}");
    let plain = run("NO_COLOR=1");
    assert!(plain.contains("no reply"), "{plain}");
    assert!(
        !plain.contains('\x1b'),
        "colour despite NO_COLOR: {plain:?}"
    );
    // and through a pipe: neither colour nor box drawing
    let piped = ntpdate(&["-q", "-t", "1", "-p", "1", "--rank", "127.0.0.1:9"]);
    let piped = String::from_utf8_lossy(&piped.stdout);
    assert!(piped.contains("no reply") && !piped.contains('\x1b') && piped.is_ascii());
}
