//! A small LAN of network namespaces for system tests: one namespace holding a bridge, and
//! one namespace per host (198.18.0.N/24, N = 1…), each joined to the bridge by a veth pair.
//! Every daemon gets its own host, so each can have port 123.
//!
//! Dropping the `Lan` kills every process in its namespaces (found by namespace membership,
//! not by remembered PIDs: daemons fork) and deletes the namespaces, also when a test panics.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The setpriv prefix that takes CAP_SYS_TIME away, so nothing started through it can
/// touch this machine's clock, whatever its flags say.
pub const NO_SYS_TIME: &[&str] = &[
    "setpriv",
    "--inh-caps=-sys_time",
    "--bounding-set=-sys_time",
];

pub struct Lan {
    bridge_ns: String,
    hosts: Vec<Host>,
    dir: tempfile::TempDir,
    /// Children started by `spawn`, reaped when the LAN goes away.
    children: std::cell::RefCell<Vec<Child>>,
    /// The host clock's discipline state when the LAN was built: nothing a test starts may
    /// change it, and the drop checks that nothing did.
    host_clock: super::HostClock,
}

#[derive(Clone, Debug)]
pub struct Host {
    pub ns: String,
    pub addr: Ipv4Addr,
    /// A scratch directory for this host's config, logs and drift file.
    pub dir: PathBuf,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Lan {
    /// Build a LAN of `n` hosts, or say why it cannot be built here (the caller skips).
    pub fn new(n: usize) -> Result<Lan, String> {
        if !super::is_root() {
            return Err("needs root for network namespaces".into());
        }
        if super::find_program("ip", &["/usr/sbin", "/sbin"]).is_none() {
            return Err("needs iproute2 (`ip`)".into());
        }
        let id = format!(
            "nk{}x{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let bridge_ns = format!("{id}br");
        let dir = tempfile::Builder::new()
            .prefix(&format!("{id}-"))
            .tempdir()
            .map_err(|e| format!("tempdir: {e}"))?;
        let mut lan = Lan {
            bridge_ns: bridge_ns.clone(),
            hosts: Vec::new(),
            dir,
            children: Default::default(),
            host_clock: super::HostClock::now(),
        };
        ip(&["netns", "add", &bridge_ns])?;
        ip(&["-n", &bridge_ns, "link", "set", "lo", "up"])?;
        ip(&["-n", &bridge_ns, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &bridge_ns, "link", "set", "br0", "up"])?;
        // a switch calls no iptables: with br_netfilter loaded, bridged packets would go
        // through the bridge namespace's netfilter hooks, which delay the two directions
        // differently (~10 µs here; bench/lib.sh turns it off too)
        let _ = Command::new("ip")
            .args(["netns", "exec", &bridge_ns, "sh", "-c"])
            .arg("for f in /proc/sys/net/bridge/bridge-nf-call-*; do [ -e \"$f\" ] && echo 0 >\"$f\"; done; true")
            .output();
        for i in 1..=n {
            let ns = format!("{id}h{i}");
            ip(&["netns", "add", &ns])?;
            let hostdir = lan.dir.path().join(format!("h{i}"));
            std::fs::create_dir_all(&hostdir).map_err(|e| e.to_string())?;
            lan.hosts.push(Host {
                ns: ns.clone(),
                addr: Ipv4Addr::new(198, 18, 0, i as u8),
                dir: hostdir,
            });
            let veth = format!("v{i}");
            ip(&[
                "-n", &bridge_ns, "link", "add", &veth, "type", "veth", "peer", "name", "eth0",
                "netns", &ns,
            ])?;
            ip(&[
                "-n", &bridge_ns, "link", "set", &veth, "master", "br0", "up",
            ])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("198.18.0.{i}/24"),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(lan)
    }

    /// Host `i`, counting from 1 (address 198.18.0.i).
    pub fn host(&self, i: usize) -> &Host {
        &self.hosts[i - 1]
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A command that runs `argv` inside host `i`'s namespace.
    pub fn command(&self, i: usize, argv: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.host(i).ns]).args(argv);
        c
    }

    /// `command` behind the setpriv that takes CAP_SYS_TIME away.
    fn command_without_sys_time(&self, i: usize, argv: &[&str]) -> Command {
        let mut full: Vec<&str> = NO_SYS_TIME.to_vec();
        full.extend_from_slice(argv);
        self.command(i, &full)
    }

    /// Run to completion inside host `i`, without CAP_SYS_TIME, and collect its output.
    pub fn run(&self, i: usize, argv: &[&str]) -> Output {
        self.command_without_sys_time(i, argv)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {argv:?} in host {i}: {e}"))
    }

    /// Start a long-running program inside host `i`, without CAP_SYS_TIME; its stdout and
    /// stderr go to `<hostdir>/<log>`. Returns the PID of the `ip netns exec` process
    /// (not always the daemon's: it may fork). The LAN kills and reaps it on drop.
    pub fn spawn(&self, i: usize, log: &str, argv: &[&str]) -> u32 {
        let logfile = std::fs::File::create(self.host(i).dir.join(log)).expect("log file");
        let child = self
            .command_without_sys_time(i, argv)
            .stdin(Stdio::null())
            .stdout(logfile.try_clone().expect("dup"))
            .stderr(logfile)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {argv:?} in host {i}: {e}"));
        let pid = child.id();
        self.children.borrow_mut().push(child);
        pid
    }

    /// The contents of a log written by `spawn`, for failure messages.
    pub fn log(&self, i: usize, log: &str) -> String {
        std::fs::read_to_string(self.host(i).dir.join(log)).unwrap_or_default()
    }

    /// The processes in host `i`'s namespace (`ip netns pids`).
    pub fn pids(&self, i: usize) -> Vec<i32> {
        namespace_pids(&self.host(i).ns)
    }

    /// Kill every process in host `i`'s namespace (e.g. to take a server away).
    pub fn kill_host(&self, i: usize) {
        kill_namespace(&self.host(i).ns);
    }

    /// Poll `check` until it returns Some or `timeout` passes.
    pub fn wait_for<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut() -> Option<T>,
    ) -> Option<T> {
        let start = Instant::now();
        loop {
            if let Some(v) = check() {
                return Some(v);
            }
            if start.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn namespace_pids(ns: &str) -> Vec<i32> {
    Command::new("ip")
        .args(["netns", "pids", ns])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn kill_namespace(ns: &str) {
    for _ in 0..50 {
        let pids = namespace_pids(ns);
        if pids.is_empty() {
            return;
        }
        for pid in pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        use std::io::Write;
        for h in &self.hosts {
            kill_namespace(&h.ns);
            let _ = ip(&["netns", "del", &h.ns]);
        }
        kill_namespace(&self.bridge_ns);
        let _ = ip(&["netns", "del", &self.bridge_ns]);
        for mut c in self.children.borrow_mut().drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
        // A test that changes the host's adjtimex state is a bug (a once-seen STA_NANO came
        // from somewhere in the system tests): fail the test that saw it.
        let after = super::HostClock::now();
        if !self.host_clock.undisciplined() {
            let _ = writeln!(
                std::io::stderr(),
                "NOT CHECKED: the host clock is disciplined by something else ({:?}), so this \
                 LAN cannot tell whether a test changed it",
                self.host_clock
            );
        } else if after != self.host_clock {
            let message = format!(
                "the host clock's discipline state changed while this LAN ran: {:?} -> {after:?}",
                self.host_clock
            );
            if std::thread::panicking() {
                eprintln!("{message}");
            } else {
                panic!("{message}");
            }
        }
    }
}
