//! argv[0] dispatch, `ntpkit PROGRAM`, `--list` and `install-links`.

use std::process::Command;

mod common;

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn list_names_the_programs() {
    let (code, out, _) = run(Command::new(common::ntpkit_bin()).arg("--list"));
    assert_eq!(code, 0);
    let names: Vec<&str> = out
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        names[..5],
        ["ntpd", "ntpdate", "ntpq", "ntpstat", "hwclock"]
    );
    assert!(names.contains(&"exporter"), "{names:?}");
    assert!(names.contains(&"viz"), "{names:?}");
}

#[test]
fn links_and_subcommand_form_behave_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(Command::new(common::ntpkit_bin())
        .arg("install-links")
        .arg(dir.path()));
    assert_eq!(code, 0, "{err}");
    // `viz` replaces no classic command: reached as `ntpkit viz` only, no link taken
    assert!(dir.path().join("viz").symlink_metadata().is_err());
    // a prefixed name dispatches too
    std::os::unix::fs::symlink(common::ntpkit_bin(), dir.path().join("ntpkit-ntpq")).unwrap();
    for p in ["ntpd", "ntpdate", "ntpq", "ntpstat", "hwclock"] {
        let via_sub = run(Command::new(common::ntpkit_bin()).args([p, "--help"]));
        let via_link = run(Command::new(dir.path().join(p)).arg("--help"));
        assert_eq!(via_sub, via_link, "{p}: link and `ntpkit {p}` differ");
        assert!(
            via_sub.1.contains(p) || via_sub.2.contains(p),
            "{p} --help does not name {p}"
        );
    }
    let prefixed = run(Command::new(dir.path().join("ntpkit-ntpq")).arg("--help"));
    assert_eq!(
        prefixed,
        run(Command::new(common::ntpkit_bin()).args(["ntpq", "--help"]))
    );
}

#[test]
fn install_links_is_idempotent_and_respects_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let bin = common::ntpkit_bin();
    for _ in 0..2 {
        let (code, _, err) = run(Command::new(&bin).arg("install-links").arg(dir.path()));
        assert_eq!(code, 0, "second run must succeed too: {err}");
    }
    let target = std::fs::read_link(dir.path().join("ntpd")).unwrap();
    assert_eq!(target, bin.canonicalize().unwrap());

    std::fs::remove_file(dir.path().join("hwclock")).unwrap();
    std::fs::write(dir.path().join("hwclock"), "#!/bin/sh\n").unwrap();
    let (code, _, err) = run(Command::new(&bin).arg("install-links").arg(dir.path()));
    assert_eq!(code, 1);
    assert!(err.contains("hwclock") && err.contains("--force"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("hwclock")).unwrap(),
        "#!/bin/sh\n"
    );

    let (code, _, err) = run(Command::new(&bin)
        .args(["install-links", "--force"])
        .arg(dir.path()));
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::symlink_metadata(dir.path().join("hwclock"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn hard_links_share_the_inode() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    // hard links must be on the same filesystem as the binary: link a copy in the temp dir
    let copy = dir.path().join("ntpkit");
    // copied by another process: an fd open for writing here could leak into a child
    // forked by a parallel test and make exec fail with ETXTBSY
    let status = Command::new("cp")
        .arg(common::ntpkit_bin())
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    let links = dir.path().join("bin");
    std::fs::create_dir(&links).unwrap();
    for _ in 0..2 {
        let (code, _, err) = run(Command::new(&copy)
            .args(["install-links", "--hard"])
            .arg(&links));
        assert_eq!(code, 0, "{err}");
    }
    assert_eq!(
        std::fs::metadata(links.join("ntpq")).unwrap().ino(),
        std::fs::metadata(&copy).unwrap().ino()
    );
}

#[test]
fn unknown_subcommand_is_a_usage_error() {
    let (code, _, err) = run(Command::new(common::ntpkit_bin()).arg("frobnicate"));
    assert_eq!(code, 2);
    assert!(!err.is_empty());
}
