//! The committed completions/ and man/ must match what the clap definitions generate.
//! Regenerate with `NTPKIT_BLESS=1 cargo test --test generated_docs`.

use std::path::PathBuf;
use std::process::Command;

mod common;

const SHELLS: &[&str] = &["bash", "zsh", "fish"];

fn generated(args: &[&str]) -> Vec<u8> {
    let out = Command::new(common::ntpkit_bin())
        .args(args)
        .output()
        .expect("run ntpkit");
    assert!(
        out.status.success(),
        "ntpkit {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn programs() -> Vec<String> {
    let out = generated(&["--list"]);
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

fn check(path: PathBuf, want: Vec<u8>, stale: &mut Vec<String>) {
    if std::env::var_os("NTPKIT_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &want).unwrap();
        return;
    }
    match std::fs::read(&path) {
        Ok(have) if have == want => {}
        _ => stale.push(path.display().to_string()),
    }
}

#[test]
fn completions_and_manpages_are_fresh() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let programs = programs();
    // the drop-in five first, then ntpkit's own programs
    assert_eq!(
        programs[..5],
        ["ntpd", "ntpdate", "ntpq", "ntpstat", "hwclock"]
    );
    assert!(programs.iter().any(|p| p == "exporter"), "{programs:?}");
    assert!(programs.iter().any(|p| p == "viz"), "{programs:?}");
    let mut stale = Vec::new();
    for p in &programs {
        for sh in SHELLS {
            let file = root.join("completions").join(format!("{p}.{sh}"));
            check(file, generated(&["completion", p, sh]), &mut stale);
        }
        check(
            root.join("man").join(format!("{p}.1")),
            generated(&["manpage", p]),
            &mut stale,
        );
    }
    assert!(
        stale.is_empty(),
        "stale generated files (run NTPKIT_BLESS=1 cargo test --test generated_docs): {stale:?}"
    );
}
