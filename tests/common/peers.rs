//! Real reference daemons on LAN hosts: NTPsec's ntpd and chronyd, each started without
//! CAP_SYS_TIME (see `Lan::spawn`) and in observe-only mode where the daemon has one.

use super::lan::Lan;
use std::time::Duration;

/// NTPsec's ntpd on host `i` as a free-running server: orphan mode at `stratum` with no
/// wait (NTPsec has no undisciplined local clock driver; orphan mode is its replacement).
/// `extra` is appended to ntp.conf (e.g. `server 198.18.0.1 iburst`).
/// Mode 6 from loopback and the LAN is allowed (`restrict 127.0.0.1` is what NTPsec needs).
pub fn ntpsec_server(lan: &Lan, i: usize, stratum: u8, extra: &str) {
    let dir = &lan.host(i).dir;
    let conf = dir.join("ntp.conf");
    std::fs::write(
        &conf,
        format!(
            "tos orphan {stratum} orphanwait 0\nrestrict default\nrestrict 127.0.0.1\n\
             restrict ::1\ndriftfile {}/ntp.drift\n{extra}\n",
            dir.display()
        ),
    )
    .expect("write ntp.conf");
    lan.spawn(
        i,
        "ntpsec.log",
        &["ntpd", "-n", "-c", conf.to_str().unwrap()],
    );
}

/// NTPsec's ntpd on host `i` as a client of `servers` (addresses), with `extra` config.
pub fn ntpsec_client(lan: &Lan, i: usize, servers: &[&str], extra: &str) {
    let dir = &lan.host(i).dir;
    let conf = dir.join("ntp.conf");
    let mut text = format!(
        "restrict default\nrestrict 127.0.0.1\nrestrict ::1\ndriftfile {}/ntp.drift\n",
        dir.display()
    );
    for s in servers {
        text.push_str(&format!("server {s} iburst minpoll 3 maxpoll 4\n"));
    }
    text.push_str(extra);
    text.push('\n');
    std::fs::write(&conf, text).expect("write ntp.conf");
    lan.spawn(
        i,
        "ntpsec.log",
        &["ntpd", "-n", "-c", conf.to_str().unwrap()],
    );
}

/// libfaketime, preloaded (Debian's `libfaketime`, a dependency of `faketime`).
const LIBFAKETIME_PRELOAD: &str = "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// chronyd `-x` on host `i` serving its local clock at `stratum` to everyone; `faketime`
/// (e.g. `"+2.5s"`) runs it under libfaketime, which makes it a falseticker. `extra` is
/// appended to chrony.conf. Its command socket is `<hostdir>/chronyd.sock`.
pub fn chronyd_server(lan: &Lan, i: usize, stratum: u8, faketime: Option<&str>, extra: &str) {
    let chronyd = super::chrony_program("chronyd").expect("chronyd (unpacked by .ci/run)");
    let dir = &lan.host(i).dir;
    // chronyd insists that its socket directory is not accessible by others
    let sockdir = dir.join("chronyd-run");
    std::fs::create_dir_all(&sockdir).expect("socket dir");
    std::fs::set_permissions(
        &sockdir,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .expect("chmod");
    let conf = dir.join("chrony.conf");
    std::fs::write(
        &conf,
        format!(
            "local stratum {stratum}\nallow all\ndriftfile {d}/chrony.drift\n\
             pidfile {s}/chronyd.pid\nbindcmdaddress {s}/chronyd.sock\n{extra}\n",
            d = dir.display(),
            s = sockdir.display()
        ),
    )
    .expect("write chrony.conf");
    let chronyd = chronyd.to_str().unwrap().to_string();
    let conf = conf.to_str().unwrap().to_string();
    // libfaketime preloaded directly, not through the `faketime` wrapper: the wrapper
    // names a semaphore and a shared-memory file after its PID and removes them only when
    // it exits, so a killed server leaves them behind and a later wrapper that gets the
    // same PID fails ("sem_open: File exists").
    let faketime_env = faketime.map(|f| format!("FAKETIME={f}"));
    let mut argv: Vec<&str> = Vec::new();
    if let Some(f) = &faketime_env {
        argv.extend(["env", LIBFAKETIME_PRELOAD, f.as_str()]);
    }
    argv.extend([
        chronyd.as_str(),
        "-x",
        "-d",
        "-u",
        "root",
        "-f",
        conf.as_str(),
    ]);
    lan.spawn(i, "chronyd.log", &argv);
}

/// Wait until host `from` gets an NTP answer from `server` (by NTPsec's ntpdig) with a
/// stratum below 16. Returns ntpdig's line.
pub fn wait_serving(lan: &Lan, from: usize, server: &str, timeout: Duration) -> Option<String> {
    lan.wait_for(timeout, || {
        let out = lan.run(from, &["ntpdig", "-t", "1", server]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.success() && !text.contains(" s16 ")).then_some(text)
    })
}
