//! contrib/ntpd.service: systemd accepts it (`systemd-analyze verify`, when installed; no
//! systemd is started), and its ExecStart passes the distributions' options files through
//! after its own defaults, so an `-u` or `-c` there wins (ntpd takes the last one).

mod common;
use std::path::Path;
use std::process::Command;

fn unit() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/ntpd.service"))
        .unwrap()
}

#[test]
fn the_unit_reads_the_three_options_files() {
    let u = unit();
    for f in [
        "/etc/default/ntpsec",
        "/etc/default/ntp",
        "/etc/sysconfig/ntpd",
    ] {
        assert!(u.contains(&format!("EnvironmentFile=-{f}\n")), "{f}");
    }
}

/// The ExecStart shell line with ntpd replaced by a printer of its arguments.
fn exec_start_args(env: &[(&str, &str)]) -> Vec<String> {
    let u = unit();
    let line = u
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart=/bin/sh -c '"))
        .and_then(|l| l.strip_suffix('\''))
        .expect("ExecStart=/bin/sh -c '…'");
    // systemd turns $$ into $ and leaves the rest to the shell
    let script = line
        .replace("$$", "$")
        .replace("exec /usr/local/sbin/ntpd", "printf '%s\\n'");
    let mut c = Command::new("/bin/sh");
    c.args(["-c", &script])
        .env_remove("OPTIONS")
        .env_remove("NTPD_OPTS");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn options_come_after_the_units_defaults() {
    let args = exec_start_args(&[
        ("OPTIONS", "-u ntp:ntp -p /var/run/ntpd.pid -g"),
        ("NTPD_OPTS", "-g -N"),
    ]);
    assert_eq!(args[..3], ["-n", "-p", "/run/ntpd.pid"]);
    let tail: Vec<&str> = args[args.len() - 7..].iter().map(String::as_str).collect();
    assert_eq!(
        tail,
        ["-u", "ntp:ntp", "-p", "/var/run/ntpd.pid", "-g", "-g", "-N"]
    );
    let bare = exec_start_args(&[]);
    assert!(bare.len() >= 3 && bare.len() <= 7, "{bare:?}");
}

#[test]
fn systemd_analyze_verify_accepts_the_unit() {
    let Some(analyze) = common::find_program("systemd-analyze", &[]) else {
        common::skip(
            "systemd_analyze_verify_accepts_the_unit",
            "needs systemd-analyze (apt: systemd)",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ntpd.service");
    std::fs::write(&path, unit()).unwrap();
    let out = Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.trim().is_empty(), "{err}");
}
