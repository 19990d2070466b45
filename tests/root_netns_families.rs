//! One address family that cannot be used does not stop the daemon (issue 11): our ntpd,
//! started where every `socket()` of one family fails with EINVAL (as seen on a host
//! without IPv6 in a sandbox), logs it and serves the other family, and NTPsec's ntpdig
//! gets an answer. The failure is made by a seccomp filter on the daemon alone, installed
//! between fork and exec, so nothing else in the namespace is affected.

mod common;
use common::{lan::Lan, lan::NO_SYS_TIME, ntpd, peers};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::Duration;

const LOCAL10: &str = "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n";

/// A classic-BPF seccomp program: `socket(family, …)` fails with EINVAL, every other call is
/// allowed. x86_64 only (the system call number and the audit arch are that ABI's).
#[cfg(target_arch = "x86_64")]
fn refuse_sockets_of(family: i32) -> Vec<libc::sock_filter> {
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    // offsets into struct seccomp_data: nr, arch, args[0] (its low half: little endian)
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    const ARG0: u32 = 16;
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    vec![
        stmt(load, ARCH),
        jeq(AUDIT_ARCH_X86_64, 1, 0),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
        stmt(load, NR),
        jeq(libc::SYS_socket as u32, 0, 3),
        stmt(load, ARG0),
        jeq(family as u32, 0, 1),
        stmt(ret, libc::SECCOMP_RET_ERRNO | libc::EINVAL as u32),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
    ]
}

/// Start our ntpd (LOCAL clock, stratum 11) on host 1 with `socket(family)` refused; its
/// output goes to the host's ntpkit.log.
#[cfg(target_arch = "x86_64")]
fn start_without(lan: &Lan, family: i32) -> std::process::Child {
    let conf = lan.host(1).dir.join("ntpkit.conf");
    std::fs::write(&conf, LOCAL10).unwrap();
    let log = std::fs::File::create(lan.host(1).dir.join("ntpkit.log")).unwrap();
    let mut argv: Vec<String> = NO_SYS_TIME.iter().map(|s| s.to_string()).collect();
    argv.extend(ntpd::command_line(&conf, &[]));
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let filter = refuse_sockets_of(family);
    let mut cmd = lan.command(1, &argv);
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    // SAFETY: between fork and exec the closure only calls prctl(2) on memory it owns
    // (`filter`, moved in and alive until exec); it allocates nothing and takes no lock.
    // As root (CAP_SYS_ADMIN) no PR_SET_NO_NEW_PRIVS is needed; the filter is inherited
    // across `ip netns exec`, setpriv and our daemon's exec.
    unsafe {
        cmd.pre_exec(move || {
            let prog = libc::sock_fprog {
                len: filter.len() as u16,
                filter: filter.as_ptr() as *mut libc::sock_filter,
            };
            if libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                &prog as *const libc::sock_fprog,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().expect("start ntpd under the seccomp filter")
}

fn lan(test: &str) -> Option<Lan> {
    if !cfg!(target_arch = "x86_64") {
        common::skip(test, "the seccomp filter is written for x86_64");
        return None;
    }
    if !common::needs(test, &[("ntpdig", "ntpsec-ntpdig")]) {
        return None;
    }
    common::lan_or_skip(test, 2)
}

fn stop(mut child: std::process::Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
#[cfg(target_arch = "x86_64")]
fn root_netns_families_no_ipv6_socket_still_serves_ipv4() {
    let test = "root_netns_families_no_ipv6_socket_still_serves_ipv4";
    let Some(lan) = lan(test) else { return };
    let child = start_without(&lan, libc::AF_INET6);
    let line = peers::wait_serving(&lan, 2, "198.18.0.1", Duration::from_secs(10));
    let log = lan.log(1, "ntpkit.log");
    stop(child);
    let line = line.unwrap_or_else(|| panic!("no answer over IPv4:\n{log}"));
    eprintln!("MEASURED {line}");
    assert!(line.contains(" s11 "), "{line}");
    assert!(
        log.contains("cannot bind [::]:123: Invalid argument")
            && log.contains("serving the other address family"),
        "{log}"
    );
}

#[test]
#[cfg(target_arch = "x86_64")]
fn root_netns_families_no_ipv4_socket_still_serves_ipv6() {
    let test = "root_netns_families_no_ipv4_socket_still_serves_ipv6";
    let Some(lan) = lan(test) else { return };
    let child = start_without(&lan, libc::AF_INET);
    // asked from the daemon's own host: the LAN has IPv4 addresses only, loopback has ::1
    let line = peers::wait_serving(&lan, 1, "::1", Duration::from_secs(10));
    let log = lan.log(1, "ntpkit.log");
    // and nothing answers on IPv4
    let (v4, v4_text) = ntpd::ntpdig(&lan, 2, "198.18.0.1");
    stop(child);
    let line = line.unwrap_or_else(|| panic!("no answer over IPv6:\n{log}"));
    eprintln!("MEASURED {line}");
    assert!(line.contains(" s11 "), "{line}");
    assert!(!v4, "{v4_text}");
    assert!(
        log.contains("cannot bind 0.0.0.0:123: Invalid argument")
            && log.contains("serving the other address family"),
        "{log}"
    );
}
