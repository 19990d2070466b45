//! Link the unwinder statically (libgcc_eh) instead of loading libgcc_s.so at every start.
//!
//! Why: ntpkit is a command-line tool run from scripts and monitoring loops, and on these
//! (virtual) machines loading libgcc_s costs ~0.13 ms a process, about as much as all of
//! `ntpq -pn`'s own work: its constructor runs CPUID, which traps to the hypervisor
//! (docs/chronyd.md, "Performance"). With libgcc_eh's objects in the binary, the linker's
//! `--as-needed` (rustc's default) drops libgcc_s: nothing is left for it to provide.
//! Panics still unwind (the same unwinder, linked in). Skipped where it cannot apply:
//! other targets, static builds (crt-static already links libgcc_eh), no libgcc_eh.a, or
//! NTPKIT_DYNAMIC_LIBGCC=1.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=NTPKIT_DYNAMIC_LIBGCC");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "linux"
        || var("CARGO_CFG_TARGET_ENV") != "gnu"
        || var("CARGO_CFG_TARGET_FEATURE")
            .split(',')
            .any(|f| f == "crt-static")
        || var("NTPKIT_DYNAMIC_LIBGCC") == "1"
    {
        return;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "gcc".into());
    let Ok(out) = Command::new(cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
    else {
        return;
    };
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    // (gcc prints the bare name back when it has no such file)
    let (true, Some(dir)) = (path.is_absolute() && path.is_file(), path.parent()) else {
        return;
    };
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-link-lib=static:+whole-archive,+verbatim=libgcc_eh.a");
}
