//! Our ntpd on a namespace LAN host — always `--observe-only -n`, and through `Lan::spawn`, i.e.
//! without CAP_SYS_TIME — and the ntpq/ntpdig runs that look at it there.

use super::lan::Lan;
use std::path::Path;
use std::process::Output;

/// Our ntpd's command line: `ntpkit ntpd --observe-only -n -c CONF`, then `extra`.
pub fn command_line(conf: &Path, extra: &[&str]) -> Vec<String> {
    let bin = super::ntpkit_bin();
    let mut argv: Vec<String> = [
        bin.to_str().unwrap(),
        "ntpd",
        "--observe-only",
        "-n",
        "-c",
        conf.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    argv.extend(extra.iter().map(|a| a.to_string()));
    argv
}

/// Write `conf` to host `i`'s ntpkit.conf and start our ntpd there with `extra` flags,
/// logging to the host's ntpkit.log. Returns its pid.
pub fn start(lan: &Lan, i: usize, conf: &str, extra: &[&str]) -> u32 {
    start_with_env(lan, i, conf, &[], extra)
}

/// As `start`, with `env` (`NAME=value` each) set for it through env(1).
pub fn start_with_env(lan: &Lan, i: usize, conf: &str, env: &[String], extra: &[&str]) -> u32 {
    let path = lan.host(i).dir.join("ntpkit.conf");
    std::fs::write(&path, conf).unwrap();
    let mut argv: Vec<String> = Vec::new();
    if !env.is_empty() {
        argv.push("env".to_string());
        argv.extend(env.iter().cloned());
    }
    argv.extend(command_line(&path, extra));
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    lan.spawn(i, "ntpkit.log", &argv)
}

/// Our ntpq with `args`, run on host `i`.
pub fn our_ntpq(lan: &Lan, i: usize, args: &[&str]) -> Output {
    let bin = super::ntpkit_bin();
    let mut argv = vec![bin.to_str().unwrap(), "ntpq"];
    argv.extend_from_slice(args);
    lan.run(i, &argv)
}

/// NTPsec's `ntpq -pn` on host `i` against the daemon there: its standard output.
pub fn ntpsec_peers(lan: &Lan, i: usize) -> String {
    let out = lan.run(i, &["ntpq", "-pn", "127.0.0.1"]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// NTPsec's ntpdig (1 s timeout) from host `from`: whether it succeeded, and all it printed.
pub fn ntpdig(lan: &Lan, from: usize, server: &str) -> (bool, String) {
    let out = lan.run(from, &["ntpdig", "-t", "1", server]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Our ntpq's standard output, as text.
pub fn our_ntpq_text(lan: &Lan, i: usize, args: &[&str]) -> String {
    String::from_utf8_lossy(&our_ntpq(lan, i, args).stdout).into_owned()
}

/// `name=N` in ntpq's rv output.
pub fn numeric_var(text: &str, name: &str) -> Option<u64> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
}
