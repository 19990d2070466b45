//! Crash safety of our ntpd: killed with SIGKILL at random moments — while starting, while
//! serving, and in the middle of the orderly exit that rewrites the drift file — it never
//! leaves a truncated drift file, and a stale pidfile never blocks the next start; the
//! restarted daemon takes its frequency from the drift file (`ntpq -c "rv 0 frequency"`).
//!
//! Our ntpd runs `--observe-only -n` under setpriv without CAP_SYS_TIME, in a namespace of its own
//! (it needs port 123).

mod common;
use common::lan::{Lan, NO_SYS_TIME};
use common::ntpd;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

const FREQUENCY: &str = "-12.345";

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn start(lan: &Lan, conf: &Path, pidfile: &Path, log: &Path) -> Child {
    let ntpd = ntpd::command_line(
        conf,
        &["-p", pidfile.to_str().unwrap(), "-l", log.to_str().unwrap()],
    );
    let mut argv: Vec<&str> = NO_SYS_TIME.to_vec();
    argv.extend(ntpd.iter().map(String::as_str));
    lan.command(1, &argv)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ntpd")
}

fn signal(child: &Child, sig: i32) {
    let sig = nix::sys::signal::Signal::try_from(sig).expect("a signal number");
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig);
}

fn frequency(lan: &Lan) -> Option<String> {
    let out = ntpd::our_ntpq(lan, 1, &["-c", "rv 0 frequency", "127.0.0.1"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.trim()
        .strip_prefix("frequency=")
        .map(|v| v.trim().to_string())
}

#[test]
fn root_netns_crash_kill_9_never_truncates_the_drift_file_or_blocks_restart() {
    let test = "root_netns_crash_kill_9_never_truncates_the_drift_file_or_blocks_restart";
    let Some(lan) = common::lan_or_skip(test, 1) else {
        return;
    };
    let dir = lan.host(1).dir.clone();
    let drift = dir.join("ntp.drift");
    let pidfile = dir.join("ntpd.pid");
    let log = dir.join("ntpd.log");
    let conf = dir.join("ntpkit.conf");
    std::fs::write(&drift, format!("{FREQUENCY}\n")).unwrap();
    std::fs::write(
        &conf,
        format!(
            "driftfile {}\nserver 127.127.1.0\nfudge 127.127.1.0 stratum 10\n",
            drift.display()
        ),
    )
    .unwrap();

    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (mut killed_starting, mut killed_exiting) = (0, 0);
    for round in 0..24 {
        let mut child = start(&lan, &conf, &pidfile, &log);
        // every daemon must come up, stale pidfile or not
        let up = lan.wait_for(Duration::from_secs(10), || {
            let pid = std::fs::read_to_string(&pidfile).ok()?;
            (pid.trim() == child.id().to_string()).then_some(())
        });
        if round % 3 == 0 {
            // killed while still starting: right after the pidfile appears
            killed_starting += 1;
        } else {
            std::thread::sleep(Duration::from_millis(rng.below(600)));
        }
        if round % 2 == 1 {
            // SIGTERM rewrites the drift file; SIGKILL a moment later lands in the write
            signal(&child, libc::SIGTERM);
            std::thread::sleep(Duration::from_micros(rng.below(4000)));
            killed_exiting += 1;
        }
        signal(&child, libc::SIGKILL);
        let _ = child.wait();
        assert!(
            up.is_some(),
            "round {round}: no pidfile with pid {}:\n{}",
            child.id(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let text = std::fs::read_to_string(&drift).unwrap_or_default();
        let parsed: f64 = text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("round {round}: drift file holds {text:?}"));
        assert!(text.ends_with('\n'), "round {round}: {text:?}");
        assert!(
            (parsed - FREQUENCY.parse::<f64>().unwrap()).abs() < 0.01,
            "round {round}: {text:?}"
        );
    }
    eprintln!(
        "24 kills: {killed_starting} while starting, {killed_exiting} during the exit's drift write"
    );

    // a last start over the stale pidfile serves and reports the saved frequency
    let mut child = start(&lan, &conf, &pidfile, &log);
    let freq = lan.wait_for(Duration::from_secs(15), || frequency(&lan));
    signal(&child, libc::SIGTERM);
    let status = child.wait().unwrap();
    let freq = freq.unwrap_or_else(|| {
        panic!(
            "no frequency over mode 6:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    assert_eq!(
        freq,
        FREQUENCY,
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    assert_eq!(status.code(), Some(0));
    assert!(!pidfile.exists(), "SIGTERM leaves no pidfile");
    // temporary files of interrupted writes are the only possible leftovers
    let stray: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !["ntp.drift", "ntpd.log", "ntpkit.conf"].contains(&n.as_str()))
        .collect();
    eprintln!("left in the directory: {stray:?}");
    // at most the one temporary file of an interrupted write, reused by the next write
    assert!(stray.is_empty() || stray == [".ntp.drift.tmp"], "{stray:?}");
}
