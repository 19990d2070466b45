//! Shared by the qemu system tests (`#[path = "qemu/guest.rs"] mod guest;`): an initramfs
//! builder (newc cpio), the programs and libraries it needs, booting Debian's kernel under
//! TCG, and parsing the @@BEGIN/@@OUT/@@ERR/@@END protocol the guest's /init prints
//! (step() in tests/qemu/guest_common.sh).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What every guest needs from the host.
pub struct Host {
    pub qemu: PathBuf,
    pub kernel: PathBuf,
    pub busybox: PathBuf,
}

impl Host {
    /// qemu, a kernel image, a static busybox and ldd, or a loud skip (a failure in CI)
    /// and None.
    pub fn find_or_skip(test: &str) -> Option<Host> {
        use crate::common::{find_program, skip};
        let Some(qemu) = find_program("qemu-system-x86_64", &[]) else {
            skip(test, "needs qemu-system-x86_64 (apt: qemu-system-x86)");
            return None;
        };
        let Some(kernel) = kernel_image() else {
            skip(test, "needs /boot/vmlinuz-* (apt: linux-image-amd64)");
            return None;
        };
        let Some(busybox) = find_program("busybox", &["/bin"]).filter(|p| is_static(p)) else {
            skip(test, "needs a static busybox (apt: busybox-static)");
            return None;
        };
        if find_program("ldd", &[]).is_none() {
            skip(test, "needs ldd (apt: libc-bin)");
            return None;
        }
        Some(Host {
            qemu,
            kernel,
            busybox,
        })
    }

    /// An initramfs with the directories every guest uses, busybox, and our ntpkit
    /// (stripped into `tmp`).
    pub fn initramfs(&self, tmp: &Path) -> Cpio {
        let mut cpio = Cpio::default();
        for d in [
            "bin", "sbin", "usr", "usr/bin", "dev", "proc", "sys", "etc", "tmp",
        ] {
            cpio.dir(d);
        }
        cpio.file("bin/busybox", &std::fs::read(&self.busybox).unwrap(), 0o755);
        cpio.file(
            "bin/ntpkit",
            &without_debug_info(&crate::common::ntpkit_bin(), tmp),
            0o755,
        );
        cpio
    }

    /// Boot `cpio` with `init` as its /init (the initramfs written into `tmp`); the serial
    /// console output.
    pub fn boot(&self, mut cpio: Cpio, init: &str, tmp: &Path) -> String {
        cpio.init(init);
        let initrd = tmp.join("initrd.cpio");
        std::fs::write(&initrd, cpio.finish()).unwrap();
        boot(&self.qemu, &self.kernel, &initrd)
    }
}

#[derive(Debug, Default, Clone)]
pub struct Step {
    pub out: Vec<String>,
    pub err: Vec<String>,
    pub rc: i32,
    pub now: i64,
}

/// The binary without its debug sections when `strip` is at hand: the initramfs lives in
/// the guest's 256 MB, and debug builds carry tens of MB of DWARF.
pub fn without_debug_info(bin: &Path, tmp: &Path) -> Vec<u8> {
    let copy = tmp.join("ntpkit.stripped");
    let stripped = std::fs::copy(bin, &copy).is_ok()
        && Command::new("strip")
            .arg("--strip-debug")
            .arg(&copy)
            .status()
            .is_ok_and(|s| s.success());
    std::fs::read(if stripped { &copy } else { bin }).expect("read ntpkit")
}

pub fn kernel_image() -> Option<PathBuf> {
    let mut images: Vec<PathBuf> = std::fs::read_dir("/boot")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
        })
        .collect();
    images.sort();
    images.pop()
}

pub fn is_static(p: &Path) -> bool {
    Command::new("ldd")
        .arg(p)
        .output()
        .map(|o| {
            !o.status.success() || String::from_utf8_lossy(&o.stdout).contains("not a dynamic")
        })
        .unwrap_or(false)
}

/// The absolute library paths `ldd` lists (the loader included).
pub fn shared_libraries(exe: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(exe).output().expect("ldd");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let path = match l.split_once("=>") {
                Some((_, rest)) => rest.trim().split(' ').next()?,
                None => l.split(' ').next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// Boot the guest and return its serial console output (also written to the file
/// $NTPKIT_QEMU_CONSOLE names, if set, for debugging a guest). TCG only: the /dev/kvm on some
/// hosts is a paravirtual variant that stalls, and nothing here needs speed.
pub fn boot(qemu: &Path, kernel: &Path, initrd: &Path) -> String {
    let mut child = Command::new(qemu)
        .args(["-accel", "tcg", "-m", "256", "-nographic", "-no-reboot"])
        .args(["-rtc", "base=2031-05-17T08:00:00"])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .args([
            "-append",
            "console=ttyS0 quiet loglevel=1 panic=-1 rdinit=/init",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start qemu");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).replace('\r', "")
    });
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if let Some(_status) = child.try_wait().expect("wait qemu") {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("qemu did not power off within 600 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut err = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
    let console = reader.join().unwrap();
    if !err.trim().is_empty() {
        eprintln!("qemu stderr: {err}");
    }
    if let Some(path) = std::env::var_os("NTPKIT_QEMU_CONSOLE") {
        let _ = std::fs::write(path, &console);
    }
    console
}

/// The step called `name`; a missing one fails the test, showing the console.
pub fn step<'a>(steps: &'a BTreeMap<String, Step>, name: &str, console: &str) -> &'a Step {
    steps
        .get(name)
        .unwrap_or_else(|| panic!("step {name} missing; console:\n{console}"))
}

pub fn parse_console(console: &str) -> (BTreeMap<String, Step>, Vec<String>) {
    let mut steps = BTreeMap::new();
    let mut info = Vec::new();
    let mut current: Option<(String, Step)> = None;
    for raw in console.lines() {
        // Escape sequences from the firmware's screen handling may precede a marker.
        let Some(at) = raw.find("@@") else { continue };
        let line = &raw[at..];
        if let Some(name) = line.strip_prefix("@@BEGIN ") {
            current = Some((name.trim().to_string(), Step::default()));
        } else if let Some(l) = line.strip_prefix("@@OUT ") {
            if let Some((_, s)) = current.as_mut() {
                s.out.push(l.to_string());
            }
        } else if let Some(l) = line.strip_prefix("@@ERR ") {
            if let Some((_, s)) = current.as_mut() {
                s.err.push(l.to_string());
            }
        } else if let Some(rest) = line.strip_prefix("@@END ") {
            if let Some((name, mut s)) = current.take() {
                for f in rest.split_whitespace() {
                    if let Some(v) = f.strip_prefix("rc=") {
                        s.rc = v.parse().unwrap_or(-1);
                    } else if let Some(v) = f.strip_prefix("now=") {
                        s.now = v.parse().unwrap_or(0);
                    }
                }
                steps.insert(name, s);
            }
        } else if let Some(l) = line.strip_prefix("@@INFO ") {
            info.push(l.to_string());
        }
    }
    (steps, info)
}

/// A cpio archive in the "newc" format the kernel unpacks as an initramfs.
#[derive(Default)]
pub struct Cpio {
    data: Vec<u8>,
    ino: u32,
    dirs: std::collections::BTreeSet<String>,
}

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, body: &[u8]) {
        self.ino += 1;
        let name_z = format!("{name}\0");
        let fields = [
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            body.len() as u32,
            0,
            0,
            0,
            0,
            name_z.len() as u32,
            0,
        ];
        let mut header = String::from("070701");
        for f in fields {
            header.push_str(&format!("{f:08x}"));
        }
        self.data.extend_from_slice(header.as_bytes());
        self.data.extend_from_slice(name_z.as_bytes());
        self.pad();
        self.data.extend_from_slice(body);
        self.pad();
    }

    fn pad(&mut self) {
        while self.data.len() % 4 != 0 {
            self.data.push(0);
        }
    }

    pub fn dir(&mut self, name: &str) {
        if self.dirs.insert(name.to_string()) {
            self.entry(name, 0o040755, &[]);
        }
    }

    pub fn file(&mut self, name: &str, body: &[u8], perm: u32) {
        self.entry(name, 0o100000 | perm, body);
    }

    /// The shared libraries `ldd` lists for each of `exes`, each at its own path.
    pub fn libraries_of(&mut self, exes: &[PathBuf]) {
        let mut libs: Vec<PathBuf> = exes.iter().flat_map(|e| shared_libraries(e)).collect();
        libs.sort();
        libs.dedup();
        for lib in &libs {
            let rel = lib.strip_prefix("/").unwrap();
            let mut parent = PathBuf::new();
            for c in rel.parent().unwrap().components() {
                parent.push(c);
                self.dir(parent.to_str().unwrap());
            }
            self.file(rel.to_str().unwrap(), &std::fs::read(lib).unwrap(), 0o755);
        }
    }

    /// The guest's /init script, with the guest_common.sh it sources.
    pub fn init(&mut self, script: &str) {
        self.file(
            "guest_common.sh",
            include_str!("guest_common.sh").as_bytes(),
            0o644,
        );
        self.file("init", script.as_bytes(), 0o755);
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, &[]);
        self.data
    }
}
