//! The distributions' own ntpd command lines start our daemon, and it serves (issue 12):
//! Debian's (`/etc/default/ntpsec` NTPD_OPTS="-g -N" through ntp-systemd-wrapper, which adds
//! `-p /run/ntpd.pid -c /etc/ntpsec/ntp.conf … -u ntpsec:ntpsec` and lets ntpd fork) and
//! RHEL 7's (`ntpd -u ntp:ntp $OPTIONS` with OPTIONS="-u ntp:ntp -p /var/run/ntpd.pid -g").
//! Each time the pidfile is root's (written before dropping privileges), the daemon runs
//! as the distribution's user, the drift and stats directories were handed to it, and
//! NTPsec's ntpq and ntpdig get answers; the stock CentOS lines `includefile
//! /etc/ntp/crypto/pw` and `keys /etc/ntp/keys` naming missing files are logged with their
//! file:line and the daemon runs on. The same command lines given to NTPsec's ntpd run too.
//!
//! Never touches this machine's clock: our daemon gets `--observe-only` on top of the
//! distribution's flags, and everything runs under setpriv without CAP_SYS_TIME.

mod common;
use common::lan::{Lan, NO_SYS_TIME};
use common::{ntpd, peers};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const LOCAL10: &str = "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n";

fn lan(test: &str, n: usize) -> Option<Lan> {
    let tools = [
        ("ntpdig", "ntpsec-ntpdig"),
        ("ntpq", "ntpsec"),
        ("ntpd", "ntpsec"),
        ("useradd", "passwd"),
    ];
    if !common::needs(test, &tools) {
        return None;
    }
    let lan = common::lan_or_skip(test, n)?;
    // the daemon's user must reach its files below the LAN's private directory
    for d in [lan.dir().to_path_buf(), lan.host(2).dir.clone()] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    Some(lan)
}

/// A system user for the test: the existing one, or one made here and removed on drop.
struct SystemUser {
    name: &'static str,
    made: bool,
}

impl SystemUser {
    fn ensure(name: &'static str) -> SystemUser {
        if uid_of(name).is_some() {
            return SystemUser { name, made: false };
        }
        let out = Command::new("useradd")
            .args(["--system", "--user-group", "--no-create-home"])
            .args(["--shell", "/usr/sbin/nologin", name])
            .output()
            .expect("useradd");
        // 9: made meanwhile by someone else, who also removes it
        let made = out.status.success();
        assert!(
            made || out.status.code() == Some(9),
            "useradd {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SystemUser { name, made }
    }
}

impl Drop for SystemUser {
    fn drop(&mut self) {
        if self.made {
            let _ = Command::new("userdel").arg(self.name).status();
        }
    }
}

fn uid_of(name: &str) -> Option<u32> {
    let out = Command::new("id").args(["-u", name]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// `Uid:` (real) of a process and its scheduling policy (0 other, 1 SCHED_FIFO).
fn uid_and_policy(pid: u32) -> (u32, u32) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|u| u.parse().ok())
        .unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // fields after the command (which may hold spaces): field 41 is the policy
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let policy = after.split_whitespace().nth(38).unwrap().parse().unwrap();
    (uid, policy)
}

fn pid_in(pidfile: &Path, lan: &Lan, log: &Path) -> u32 {
    let text = lan
        .wait_for(Duration::from_secs(10), || {
            std::fs::read_to_string(pidfile)
                .ok()
                // NTPsec writes no newline; ours is written whole (temp file + rename)
                .filter(|t| t.trim().parse::<u32>().is_ok())
        })
        .unwrap_or_else(|| {
            panic!(
                "no pidfile {}:\n{}",
                pidfile.display(),
                std::fs::read_to_string(log).unwrap_or_default()
            )
        });
    text.trim().parse().unwrap()
}

/// Run `argv` (a daemon that forks) on host `i` without CAP_SYS_TIME; the parent's verdict.
fn start_forking(lan: &Lan, i: usize, argv: &[&str]) {
    let mut full = NO_SYS_TIME.to_vec();
    full.extend_from_slice(argv);
    let out = lan.run(i, &full);
    assert!(
        out.status.success(),
        "{argv:?}: {:?}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// NTPsec's `ntpq -pn` on host `i` until it shows `*198.18.0.1` (or panics with `log`).
fn wait_synchronised_peer(lan: &Lan, i: usize, log: &Path) -> String {
    lan.wait_for(Duration::from_secs(30), || {
        let text = ntpd::ntpsec_peers(lan, i);
        text.contains("*198.18.0.1").then_some(text)
    })
    .unwrap_or_else(|| {
        panic!(
            "ntpq -pn:\n{}\nlog:\n{}",
            ntpd::ntpsec_peers(lan, i),
            std::fs::read_to_string(log).unwrap_or_default()
        )
    })
}

/// The host 2 configuration: host 1 as server, a drift file and loopstats in directories
/// that do not exist yet, and CentOS's stock include and keys lines naming missing files.
fn client_conf(dir: &Path, drift_dir: &str, log: &Path) -> String {
    format!(
        "server 198.18.0.1 iburst minpoll 3 maxpoll 3\n\
         driftfile {d}/{drift_dir}/drift\n\
         statsdir {d}/ntpstats/\nstatistics loopstats\nfilegen loopstats file loopstats type day enable\n\
         logfile {log}\n\
         includefile {d}/crypto/pw\n\
         keys {d}/keys\n\
         restrict default kod nomodify notrap nopeer noquery\nrestrict 127.0.0.1\n",
        d = dir.display(),
        log = log.display()
    )
}

/// What both distributions' runs must show on host 2.
fn check_served_as(lan: &Lan, pidfile: &Path, log: &Path, user: &str, drift_dir: &Path) -> u32 {
    let pid = pid_in(pidfile, lan, log);
    let meta = std::fs::metadata(pidfile).unwrap();
    assert_eq!(meta.uid(), 0, "the pidfile is written as root, before -u");
    let uid = uid_of(user).unwrap();
    let (running_as, policy) = uid_and_policy(pid);
    assert_eq!(running_as, uid, "ntpd runs as {user}");
    let peers = wait_synchronised_peer(lan, 2, log);
    let served = peers::wait_serving(lan, 3, "198.18.0.2", Duration::from_secs(20))
        .unwrap_or_else(|| panic!("ntpdig from host 3 got no answer:\n{peers}"));
    assert!(served.contains(" s12 "), "{served}");
    let dir_meta = std::fs::metadata(drift_dir).expect("drift directory made");
    assert_eq!(dir_meta.uid(), uid, "{} is {user}'s", drift_dir.display());
    let stats = lan.host(2).dir.join("ntpstats");
    assert_eq!(std::fs::metadata(&stats).unwrap().uid(), uid);
    let text = std::fs::read_to_string(log).unwrap();
    let conf = lan.host(2).dir.join("ntp.conf");
    let inc = format!("{}:7:13: error: includefile", conf.display());
    let keys = format!("{}:8:6: error: keys", conf.display());
    assert!(text.contains(&inc), "no {inc:?} in:\n{text}");
    assert!(text.contains(&keys), "no {keys:?} in:\n{text}");
    policy
}

fn start_master(lan: &Lan) {
    ntpd::start(lan, 1, LOCAL10, &[]);
    peers::wait_serving(lan, 3, "198.18.0.1", Duration::from_secs(10)).expect("host 1 serves");
}

#[test]
fn root_netns_distro_cmdline_debian_ntpsec_wrapper_starts_ours_and_ntpsecs() {
    let test = "root_netns_distro_cmdline_debian_ntpsec_wrapper_starts_ours_and_ntpsecs";
    let Some(lan) = lan(test, 3) else { return };
    let _user = SystemUser::ensure("ntpsec");
    // moved below the user so that it goes first: its daemons run as that user
    let lan = lan;
    start_master(&lan);
    let dir = lan.host(2).dir.clone();
    let log = dir.join("ntpd.log");
    let conf = dir.join("ntp.conf");
    std::fs::write(&conf, client_conf(&dir, "ntpsec", &log)).unwrap();
    let pidfile = dir.join("ntpd.pid");
    let bin = common::ntpkit_bin();
    // ntp-systemd-wrapper: $DAEMON -p $PIDFILE $NTPD_OPTS, NTPD_OPTS="-c … -g -N -u …"
    let debian = [
        "-p",
        pidfile.to_str().unwrap(),
        "-c",
        conf.to_str().unwrap(),
        "-g",
        "-N",
        "-u",
        "ntpsec:ntpsec",
    ];
    let mut ours = vec![bin.to_str().unwrap(), "ntpd"];
    ours.extend_from_slice(&debian);
    ours.push("--observe-only");
    start_forking(&lan, 2, &ours);
    let policy = check_served_as(&lan, &pidfile, &log, "ntpsec", &dir.join("ntpsec"));
    assert_eq!(policy, 1, "-N: SCHED_FIFO, as ntpd");

    // NTPsec's ntpd, same flags, on host 3 (its own files; it forks too)
    differential(&lan, &["-g", "-N"], "ntpsec:ntpsec");
}

#[test]
fn root_netns_distro_cmdline_rhel7_options_start_ours_and_ntpsecs() {
    let test = "root_netns_distro_cmdline_rhel7_options_start_ours_and_ntpsecs";
    let Some(lan) = lan(test, 3) else { return };
    let _user = SystemUser::ensure("ntp");
    // moved below the user so that it goes first: its daemons run as that user
    let lan = lan;
    start_master(&lan);
    let dir = lan.host(2).dir.clone();
    let log = dir.join("ntpd.log");
    let conf = dir.join("ntp.conf");
    std::fs::write(&conf, client_conf(&dir, "ntp", &log)).unwrap();
    let pidfile = dir.join("ntpd.pid");
    let bin = common::ntpkit_bin();
    // the OPTIONS="-u ntp:ntp -p /var/run/ntpd.pid -g" (RHEL's unit runs
    // `ntpd -u ntp:ntp $OPTIONS`; the repeated -u is a unit test of the flag parser, since
    // NTPsec refuses it: "more than one -u given")
    let rhel = [
        "-u",
        "ntp:ntp",
        "-p",
        pidfile.to_str().unwrap(),
        "-g",
        "-c",
        conf.to_str().unwrap(),
    ];
    let mut ours = vec![bin.to_str().unwrap(), "ntpd"];
    ours.extend_from_slice(&rhel);
    ours.push("--observe-only");
    start_forking(&lan, 2, &ours);
    let policy = check_served_as(&lan, &pidfile, &log, "ntp", &dir.join("ntp"));
    assert_eq!(policy, 0, "no -N: the normal policy");

    differential(&lan, &["-g"], "ntp:ntp");
}

/// NTPsec's ntpd with the same command line (`-p PIDFILE -c CONF FLAGS -u USER`) on host
/// 3. Without CAP_SYS_TIME NTPsec cannot keep it across `-u` and stops after reading its
/// configuration ("cap_set_proc() failed to drop root privs"), so: with `-u` it must get
/// that far (every flag accepted), and without `-u` it must start and answer ntpq.
fn differential(lan: &Lan, flags: &[&str], user: &str) {
    let dir = lan.host(3).dir.clone();
    let conf = dir.join("ntp.conf");
    // NTPsec answers mode 6 only where a restrict line allows it (as peers::ntpsec_client)
    let text =
        "restrict default\nrestrict 127.0.0.1\nserver 198.18.0.1 iburst minpoll 3 maxpoll 3\n";
    std::fs::write(&conf, text).unwrap();
    let pidfile = dir.join("ntpd.pid");
    let log = dir.join("ntpsec.log");
    let mut argv = vec![
        "ntpd",
        "-p",
        pidfile.to_str().unwrap(),
        "-c",
        conf.to_str().unwrap(),
    ];
    argv.extend_from_slice(flags);
    let mut with_user = argv.clone();
    with_user.extend(["-u", user, "-l", log.to_str().unwrap()]);
    start_forking(lan, 3, &with_user);
    let refused = lan.wait_for(Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.contains("cap_set_proc() failed").then_some(text)
    });
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        refused.is_some() && text.contains("readconfig: parsing file"),
        "NTPsec {with_user:?}:\n{text}"
    );
    lan.kill_host(3);
    let _ = std::fs::remove_file(&pidfile);
    start_forking(lan, 3, &argv);
    let pid = pid_in(&pidfile, lan, Path::new("/dev/null"));
    let peers = lan
        .wait_for(Duration::from_secs(20), || {
            let text = ntpd::ntpsec_peers(lan, 3);
            text.contains("198.18.0.1").then_some(text)
        })
        .unwrap_or_else(|| {
            let out = lan.run(3, &["ntpq", "-pn", "127.0.0.1"]);
            panic!(
                "NTPsec {argv:?} (pid {pid}, alive: {}) does not answer ntpq: {out:?}",
                Path::new(&format!("/proc/{pid}")).exists()
            )
        });
    eprintln!("NTPsec {argv:?}, ntpq -pn:\n{peers}");
}

/// `-w SECS`: the forking parent waits for the first synchronisation (exit 0) or gives up
/// with ETIMEDOUT; `-i DIR` chroots the daemon there after reading its configuration.
#[test]
fn root_netns_distro_cmdline_wait_sync_and_jail() {
    let test = "root_netns_distro_cmdline_wait_sync_and_jail";
    let Some(lan) = lan(test, 3) else { return };
    start_master(&lan);
    let bin = common::ntpkit_bin();
    let dir = lan.host(2).dir.clone();
    let jail = dir.join("jail");
    std::fs::create_dir(&jail).unwrap();
    let conf = dir.join("ntp.conf");
    let log = dir.join("ntpd.log");
    std::fs::write(
        &conf,
        format!(
            "server 198.18.0.1 iburst minpoll 3 maxpoll 3\nlogfile {}\nrestrict 127.0.0.1\n",
            log.display()
        ),
    )
    .unwrap();
    let pidfile = dir.join("ntpd.pid");
    let argv = [
        bin.to_str().unwrap(),
        "ntpd",
        "--observe-only",
        "-c",
        conf.to_str().unwrap(),
        "-p",
        pidfile.to_str().unwrap(),
        "-i",
        jail.to_str().unwrap(),
        "-w",
        "30",
    ];
    // returns only once synchronised (iburst: a few seconds)
    start_forking(&lan, 2, &argv);
    let pid = pid_in(&pidfile, &lan, &log);
    let root = std::fs::read_link(format!("/proc/{pid}/root")).unwrap();
    assert_eq!(root, jail, "-i: the daemon's root is the jail");
    let peers = ntpd::ntpsec_peers(&lan, 2);
    assert!(
        peers.contains("*198.18.0.1"),
        "synchronised when -w returned:\n{peers}"
    );

    // a server nobody runs: the parent gives up after 2 s with ETIMEDOUT
    let conf3 = lan.host(3).dir.join("ntp.conf");
    std::fs::write(&conf3, "server 198.18.0.9 iburst minpoll 3\n").unwrap();
    let mut full = NO_SYS_TIME.to_vec();
    full.extend([
        bin.to_str().unwrap(),
        "ntpd",
        "--observe-only",
        "-c",
        conf3.to_str().unwrap(),
        "-w",
        "2",
    ]);
    let started = std::time::Instant::now();
    let out = lan.run(3, &full);
    assert_eq!(out.status.code(), Some(110), "{out:?}");
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not synchronised within 2 s"));
}
