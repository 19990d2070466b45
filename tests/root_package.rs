//! The packages of issue 17, checked as an operator would meet them: `scripts/package`
//! builds the .deb and the .rpm from the binary cargo built for this test; lintian passes the
//! .deb; the .rpm holds the same files; then the .deb goes into a clean Debian 12 root
//! (mmdebstrap, cached in /var/cache/ntpkit-tests) where NTPsec runs with an operator's configuration,
//! as on a host being switched over. The install must replace NTPsec and keep its
//! configuration in use: the installed /usr/sbin/ntpd, chrooted into that root on a LAN host
//! (observe-only, without CAP_SYS_TIME), synchronises to chronyd on another LAN host, and the
//! installed ntpq and ntpstat see it. Then an upgrade keeps the drift file and the edited
//! /etc/ntp.conf, systemd-analyze accepts the unit, and remove + purge leave nothing of ours.
//!
//! Needs root, lintian, rpm (rpmbuild), mmdebstrap, cargo-deb and a Debian 12 source in this
//! machine's apt configuration (the root is made from the same mirror). The first run builds
//! the root (about a minute); later runs reuse it.

mod common;
use common::peers;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const TEST: &str = "root_package_replaces_ntpsec";

/// Lintian warnings we keep, each justified in docs/packaging.md.
const KEPT_LINTIAN_WARNINGS: &[&str] = &["initial-upload-closes-no-bugs"];

/// The packages in the cached root: NTPsec as a host runs it, and systemd for
/// systemd-analyze. The name changes when the list does, so a stale cache is never used.
const ROOT_PACKAGES: &str = "ntpsec,systemd";
const ROOT_TARBALL: &str = "debian12-ntpsec-systemd-v1.tar";

/// The operator's NTPsec configuration: one LAN server; `disable ntp` keeps NTPsec itself
/// from steering the clock, should it ever run from this file.
const OPERATOR_NTPSEC_CONF: &str = "# operator's NTPsec configuration\n\
driftfile /var/lib/ntpsec/ntp.drift\n\
server 198.18.0.1 iburst minpoll 3 maxpoll 4\n\
restrict default kod nomodify nopeer noquery limited\n\
restrict 127.0.0.1\n\
restrict ::1\n\
disable ntp\n";

fn run(what: &str, cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A command run inside the root (`chroot ROOT argv…`), with a plain environment.
fn in_root(root: &Path, argv: &[&str]) -> Command {
    let mut c = Command::new("chroot");
    c.arg(root)
        .args(argv)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env("LC_ALL", "C");
    c
}

fn package_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/package")
}

fn find_one(dir: &Path, suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one *{suffix} in {}: {found:?}",
        dir.display()
    );
    found.into_iter().next().unwrap()
}

/// The .deb's files and links ("path" or "path -> target"), directories left out, with the
/// two places the distributions differ in mapped to the rpm's, and Debian's own
/// copyright/changelog dropped (docs/packaging.md).
fn deb_files(deb: &Path) -> BTreeSet<String> {
    let out = run("dpkg-deb -c", Command::new("dpkg-deb").arg("-c").arg(deb));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('d'))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f[5..].join(" ").trim_start_matches('.').to_string()
        })
        .filter(|p| {
            p != "/usr/share/doc/ntpkit/copyright"
                && p != "/usr/share/doc/ntpkit/changelog.Debian.gz"
        })
        .map(|p| {
            p.replace("/lib/systemd/system/", "/usr/lib/systemd/system/")
                .replace(
                    "/usr/share/zsh/vendor-completions/",
                    "/usr/share/zsh/site-functions/",
                )
        })
        .collect()
}

fn rpm_files(rpm: &Path) -> BTreeSet<String> {
    let out = run(
        "rpm -qp",
        Command::new("rpm")
            .args([
                "-qp",
                "--qf",
                "[%{FILENAMES}\t%{FILELINKTOS}\t%{FILEMODES:perms}\n]",
            ])
            .arg(rpm),
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.contains("\td"))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            if f[1].is_empty() {
                f[0].to_string()
            } else {
                format!("{} -> {}", f[0], f[1])
            }
        })
        .collect()
}

/// This machine's apt sources that name Debian 12, for mmdebstrap (read at run time, so the
/// root comes from the mirror the machine already uses).
fn bookworm_sources() -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(d) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = d
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let n = p.to_string_lossy();
                n.ends_with(".list") || n.ends_with(".sources")
            })
            .collect();
        more.sort();
        files.extend(more);
    }
    files
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(p).is_ok_and(|t| {
                t.lines()
                    .any(|l| !l.trim_start().starts_with('#') && l.contains("bookworm"))
            })
        })
        .collect()
}

/// The cached root tarball, made by mmdebstrap on first use. It lives outside the work tree
/// (CI runs in a fresh clone each time): NTPKIT_PACKAGE_CACHE, else /var/cache/ntpkit-tests.
fn root_tarball() -> PathBuf {
    let dir = std::env::var_os("NTPKIT_PACKAGE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/ntpkit-tests"));
    std::fs::create_dir_all(&dir).unwrap();
    let tar = dir.join(ROOT_TARBALL);
    if tar.exists() {
        return tar;
    }
    let sources = bookworm_sources();
    assert!(
        !sources.is_empty(),
        "{TEST}: no Debian 12 (bookworm) source in /etc/apt/sources.list*: mmdebstrap needs one"
    );
    let partial = dir.join(format!("{ROOT_TARBALL}.partial"));
    let started = std::time::Instant::now();
    run(
        "mmdebstrap",
        Command::new("mmdebstrap")
            .args(["--quiet", "--variant=minbase", "--format=tar"])
            .arg(format!("--include={ROOT_PACKAGES}"))
            .arg("bookworm")
            .arg(&partial)
            .args(&sources),
    );
    std::fs::rename(&partial, &tar).unwrap();
    let _ = writeln_stderr(&format!(
        "{TEST}: made the Debian 12 root in {:.0?} (cached: {})",
        started.elapsed(),
        tar.display()
    ));
    tar
}

fn writeln_stderr(s: &str) -> std::io::Result<()> {
    use std::io::Write;
    writeln!(std::io::stderr(), "{s}")
}

/// Every path in the root but the package manager's own records, logs and caches, and /run
/// (a tmpfs on a real host: adduser's lock, systemd-analyze's scratch).
fn snapshot(root: &Path) -> BTreeSet<String> {
    let out = run("find", Command::new("find").arg(root).args(["-xdev"]));
    let prefix = root.to_string_lossy().into_owned();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_start_matches(&prefix).to_string())
        .filter(|p| {
            ![
                "/var/lib/dpkg/",
                "/var/log/",
                "/var/cache/",
                "/var/lib/apt/",
                "/tmp/",
                "/run/",
                "/etc/passwd-",
                "/etc/group-",
                "/etc/shadow-",
                "/etc/gshadow-",
            ]
            .iter()
            .any(|x| p.starts_with(x))
        })
        .collect()
}

fn owner(root: &Path, path: &str) -> String {
    let out = run("stat", &mut in_root(root, &["stat", "-c", "%U", path]));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn dpkg_status(root: &Path, pkg: &str) -> String {
    let out = in_root(root, &["dpkg-query", "-W", "-f=${Status}", pkg])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Our observe-only flags as tests/common/ntpd.rs spells them (`--observe-only -n` …), without the
/// binary, the program name and `-c FILE`: the installed ntpd must find its own config.
fn observe_only_flags() -> Vec<String> {
    let argv = common::ntpd::command_line(Path::new("CONF"), &[]);
    let mut flags = Vec::new();
    let mut it = argv.into_iter().skip(2);
    while let Some(a) = it.next() {
        if a == "-c" {
            it.next();
        } else {
            flags.push(a);
        }
    }
    flags
}

/// The .rpm installed into an empty scratch root (rpm's own database there, no
/// dependencies, no scriptlets: no RHEL root to run them in): every file lands where
/// docs/packaging.md's table says, unchanged (`rpm -V`), the program links run as their
/// programs, and every man page `man/` holds is shipped — the drop-in programs' under their
/// names, the others' (run as `ntpkit PROGRAM`) as ntpkit-PROGRAM(1).
fn rpm_installs_where_the_docs_say(rpm: &Path) {
    let tmp = tempfile::Builder::new()
        .prefix("ntpkit-rpm-root-")
        .tempdir()
        .unwrap();
    let root = tmp.path();
    let rpm_in_root = |args: &[&str]| {
        let mut c = Command::new("rpm");
        c.arg("--root")
            .arg(root)
            .args(["--dbpath", "/var/lib/rpm"])
            .args(args);
        c
    };
    run(
        "rpm -i --root",
        rpm_in_root(&["-i", "--nodeps", "--noscripts", "--nosignature"]).arg(rpm),
    );
    let out = run("rpm -V", &mut rpm_in_root(&["-V", "--nodeps", "ntpkit"]));
    assert!(
        out.stdout.is_empty(),
        "installed files differ from the package: {}",
        text(&out)
    );

    // The programs: the binary and its links, each running as the program it names.
    assert!(root.join("usr/bin/ntpkit").is_file());
    for (link, target) in [
        ("usr/sbin/ntpd", "../bin/ntpkit"),
        ("usr/sbin/ntpdate", "../bin/ntpkit"),
        ("usr/bin/ntpq", "ntpkit"),
        ("usr/bin/ntpstat", "ntpkit"),
    ] {
        assert_eq!(
            std::fs::read_link(root.join(link)).ok(),
            Some(PathBuf::from(target)),
            "/{link}"
        );
        let name = link.rsplit('/').next().unwrap();
        let out = Command::new(root.join(link))
            .arg("--help")
            .output()
            .unwrap();
        assert!(
            text(&out).contains(&format!("Usage: {name}")),
            "/{link} --help: {}",
            text(&out)
        );
    }
    // hwclock stays `ntpkit hwclock`: util-linux owns the name (docs/packaging.md)
    for p in ["usr/sbin/hwclock", "usr/bin/hwclock", "sbin/hwclock"] {
        assert!(root.join(p).symlink_metadata().is_err(), "/{p} installed");
    }

    // The configuration file (rpm's pool) and the unit.
    let out = run("rpm -qc", &mut rpm_in_root(&["-qc", "ntpkit"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "/etc/ntp.conf");
    let conf = std::fs::read_to_string(root.join("etc/ntp.conf")).unwrap();
    assert!(
        conf.contains("0.pool.ntp.org") && !conf.contains("debian.pool"),
        "{conf}"
    );
    assert!(
        conf.contains("driftfile /var/lib/ntpkit/ntp.drift"),
        "{conf}"
    );
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert_eq!(
        std::fs::read(root.join("usr/lib/systemd/system/ntpd.service")).unwrap(),
        std::fs::read(repo.join("pkg/ntpd.service")).unwrap()
    );

    // Every generated man page, and ntpkit(1).
    let mut pages = vec![root.join("usr/share/man/man1/ntpkit.1.gz")];
    for entry in std::fs::read_dir(repo.join("man")).unwrap() {
        let file = entry.unwrap().file_name().to_string_lossy().into_owned();
        let (name, section) = file.rsplit_once('.').unwrap();
        let linked = ["usr/sbin", "usr/bin"]
            .iter()
            .any(|d| root.join(d).join(name).symlink_metadata().is_ok());
        let installed = if section == "1" && !linked {
            format!("ntpkit-{name}")
        } else {
            name.to_string()
        };
        let page = root.join(format!(
            "usr/share/man/man{section}/{installed}.{section}.gz"
        ));
        // the page names itself as installed (`man -k`, the title line)
        let out = run("gzip -dc", Command::new("gzip").arg("-dc").arg(&page));
        let roff = String::from_utf8_lossy(&out.stdout).into_owned();
        let title = roff.lines().find(|l| l.starts_with(".TH ")).unwrap_or("");
        assert!(
            title
                .to_ascii_lowercase()
                .starts_with(&format!(".th {} ", installed.replace('.', "\\&."))),
            "{}: {title}",
            page.display()
        );
        pages.push(page);
    }
    assert!(pages.len() >= 10, "{pages:?}");
    for p in &pages {
        assert!(p.is_file(), "{} missing", p.display());
    }
}

#[test]
fn root_package_replaces_ntpsec() {
    if !common::is_root() {
        common::skip(
            TEST,
            "needs root (chroot, dpkg in a root, network namespaces)",
        );
        return;
    }
    if !common::needs(
        TEST,
        &[
            ("lintian", "lintian"),
            ("rpm", "rpm"),
            ("rpmbuild", "rpm"),
            ("mmdebstrap", "mmdebstrap"),
            (
                "cargo-deb",
                "none: cargo install --locked cargo-deb (.ci/run)",
            ),
        ],
    ) || !common::needs_chronyd(TEST)
    {
        return;
    }

    // Build both packages from the binary cargo built for this test.
    run(
        "scripts/package",
        Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/package"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("NTPKIT_BIN", common::ntpkit_bin()),
    );
    let deb = find_one(&package_dir(), ".deb");
    let rpm = find_one(&package_dir(), ".rpm");

    // lintian: no error; only the warnings docs/packaging.md justifies.
    let out = Command::new("lintian").arg(&deb).output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    for line in report.lines() {
        let tag = line.split_whitespace().nth(2).unwrap_or("");
        assert!(!line.starts_with("E:"), "lintian error:\n{report}");
        if line.starts_with("W:") {
            assert!(
                KEPT_LINTIAN_WARNINGS.contains(&tag),
                "lintian warning not justified in docs/packaging.md: {line}\n{report}"
            );
        }
    }

    // The rpm holds the same files and links as the deb.
    let (d, r) = (deb_files(&deb), rpm_files(&rpm));
    assert_eq!(
        d,
        r,
        "deb and rpm differ:\nonly in the deb: {:?}\nonly in the rpm: {:?}",
        d.difference(&r).collect::<Vec<_>>(),
        r.difference(&d).collect::<Vec<_>>()
    );
    for link in ["/usr/sbin/ntpd -> ../bin/ntpkit", "/usr/bin/ntpq -> ntpkit"] {
        assert!(d.contains(link), "{link} missing: {d:?}");
    }
    // The rpm's scriptlets are at least valid shell (no RHEL root here to run them in).
    for tag in ["PREIN", "POSTIN", "PREUN", "POSTUN"] {
        let out = run(
            "rpm -qp scriptlet",
            Command::new("rpm")
                .args(["-qp", "--qf", &format!("%{{{tag}}}")])
                .arg(&rpm),
        );
        let script = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(script.contains("exit 0"), "{tag}: {script}");
        run(
            &format!("sh -n {tag}"),
            Command::new("sh").args(["-n", "-c", &script]),
        );
    }

    rpm_installs_where_the_docs_say(&rpm);

    // A clean Debian 12 root running NTPsec with the operator's configuration.
    let tar = root_tarball();
    let tmp = tempfile::Builder::new()
        .prefix("ntpkit-package-root-")
        .tempdir()
        .unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    run(
        "untar root",
        Command::new("tar")
            .arg("-xf")
            .arg(&tar)
            .arg("-C")
            .arg(&root),
    );
    assert_eq!(dpkg_status(&root, "ntpsec"), "install ok installed");
    // As in a container: maintainer scripts start no daemon here.
    let rc = root.join("usr/sbin/policy-rc.d");
    std::fs::write(&rc, "#!/bin/sh\nexit 101\n").unwrap();
    std::fs::set_permissions(&rc, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // Names resolve locally only: nothing in the root asks a name server off the LAN.
    std::fs::write(root.join("etc/resolv.conf"), "").unwrap();
    std::fs::write(
        root.join("etc/hosts"),
        "127.0.0.1 localhost\n198.18.0.1 lanserver\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/ntpsec/ntp.conf"), OPERATOR_NTPSEC_CONF).unwrap();
    std::fs::write(root.join("var/lib/ntpsec/ntp.drift"), "-7.250\n").unwrap();
    let before = snapshot(&root);

    // The switch-over: apt replaces NTPsec with our package.
    std::fs::copy(&deb, root.join("tmp/ntpkit.deb")).unwrap();
    let out = run(
        "apt-get install ntpkit.deb",
        &mut in_root(&root, &["apt-get", "install", "-y", "/tmp/ntpkit.deb"]),
    );
    let install_log = text(&out);
    assert_eq!(
        dpkg_status(&root, "ntpkit"),
        "install ok installed",
        "{install_log}"
    );
    assert_eq!(
        dpkg_status(&root, "ntpsec"),
        "deinstall ok config-files",
        "NTPsec is removed, its configuration kept:\n{install_log}"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("etc/ntpsec/ntp.conf")).unwrap(),
        OPERATOR_NTPSEC_CONF
    );
    assert!(root.join("etc/ntp.conf").is_file());
    assert_eq!(owner(&root, "/var/lib/ntpkit"), "ntp");
    assert_eq!(owner(&root, "/var/log/ntpstats"), "ntp");
    assert_eq!(owner(&root, "/var/lib/ntpsec/ntp.drift"), "ntp");
    assert_eq!(
        std::fs::read_to_string(root.join("var/lib/ntpkit/ntp.drift")).unwrap(),
        "-7.250\n",
        "the frequency carried over from NTPsec"
    );
    let sd = root.join("etc/systemd/system");
    for (link, target) in [
        (
            "multi-user.target.wants/ntpd.service",
            "/lib/systemd/system/ntpd.service",
        ),
        ("ntp.service", "/lib/systemd/system/ntpd.service"),
        ("ntpsec.service", "/lib/systemd/system/ntpd.service"),
    ] {
        assert_eq!(
            std::fs::read_link(sd.join(link)).ok(),
            Some(PathBuf::from(target)),
            "/etc/systemd/system/{link}"
        );
    }
    assert!(
        std::fs::symlink_metadata(sd.join("ntpd.service")).is_err(),
        "NTPsec's alias ntpd.service must not shadow our unit"
    );

    // systemd in the root accepts the unit. (--man=no: minbase has no man to check
    // Documentation=man:ntpd(1) with; the page itself is checked here.)
    assert!(root.join("usr/share/man/man1/ntpd.1.gz").is_file());
    let out = in_root(
        &root,
        &[
            "systemd-analyze",
            "verify",
            "--man=no",
            "/lib/systemd/system/ntpd.service",
        ],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success() && !text(&out).contains("ntpd.service"),
        "systemd-analyze verify:\n{}",
        text(&out)
    );

    // The installed ntpd, in the root on LAN host 2, follows chronyd on host 1 as NTPsec's
    // kept configuration says.
    let Some(lan) = common::lan_or_skip(TEST, 2) else {
        return;
    };
    peers::chronyd_server(&lan, 1, 3, None, "");
    let root_s = root.to_str().unwrap();
    let mut argv = vec!["chroot", root_s, "/usr/sbin/ntpd"];
    let flags = observe_only_flags();
    argv.extend(flags.iter().map(String::as_str));
    lan.spawn(2, "ntpd.log", &argv);
    let ntpstat = || lan.run(2, &["chroot", root_s, "/usr/bin/ntpstat"]);
    let synced = lan.wait_for(Duration::from_secs(90), || {
        let out = ntpstat();
        (out.status.code() == Some(0)).then(|| text(&out))
    });
    assert!(
        synced.is_some(),
        "installed ntpd never synchronised; ntpstat: {}\nntpd log:\n{}\nchronyd log:\n{}",
        text(&ntpstat()),
        lan.log(2, "ntpd.log"),
        lan.log(1, "chronyd.log")
    );
    let synced = synced.unwrap();
    assert!(
        synced.contains("synchronised to NTP server (198.18.0.1)"),
        "{synced}"
    );
    let log = lan.log(2, "ntpd.log");
    assert!(
        log.contains("/etc/ntpsec/ntp.conf"),
        "ntpd names the file it read:\n{log}"
    );
    let out = lan.run(2, &["chroot", root_s, "/usr/bin/ntpq", "-p"]);
    let peers_text = text(&out);
    assert!(
        out.status.success() && peers_text.lines().any(|l| l.starts_with("*lanserver")),
        "ntpq -p:\n{peers_text}"
    );
    lan.kill_host(2);
    drop(lan);

    // Upgrade: the drift file and an edited /etc/ntp.conf stay.
    std::fs::write(root.join("var/lib/ntpkit/ntp.drift"), "3.125\n").unwrap();
    let mut conf = std::fs::read_to_string(root.join("etc/ntp.conf")).unwrap();
    conf.push_str("# edited by the operator\n");
    std::fs::write(root.join("etc/ntp.conf"), &conf).unwrap();
    let next = tmp.path().join("next");
    run(
        "dpkg-deb -R",
        Command::new("dpkg-deb").arg("-R").arg(&deb).arg(&next),
    );
    let control = next.join("DEBIAN/control");
    let c = std::fs::read_to_string(&control).unwrap();
    let old = c
        .lines()
        .find_map(|l| l.strip_prefix("Version: "))
        .unwrap()
        .to_string();
    std::fs::write(
        &control,
        c.replace(&format!("Version: {old}"), &format!("Version: {old}+1")),
    )
    .unwrap();
    run(
        "dpkg-deb -b",
        Command::new("dpkg-deb")
            .args(["-b", "-Zxz"])
            .arg(&next)
            .arg(root.join("tmp/ntpkit-next.deb")),
    );
    let out = run(
        "upgrade",
        &mut in_root(&root, &["apt-get", "install", "-y", "/tmp/ntpkit-next.deb"]),
    );
    let version = in_root(&root, &["dpkg-query", "-W", "-f=${Version}", "ntpkit"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout),
        format!("{old}+1"),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read_to_string(root.join("var/lib/ntpkit/ntp.drift")).unwrap(),
        "3.125\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("etc/ntp.conf")).unwrap(),
        conf
    );

    // Remove: programs and unit links go, NTPsec's files go back to its user.
    run(
        "remove",
        &mut in_root(&root, &["apt-get", "remove", "-y", "ntpkit"]),
    );
    for gone in [
        "usr/sbin/ntpd",
        "usr/bin/ntpkit",
        "lib/systemd/system/ntpd.service",
        "etc/systemd/system/ntp.service",
        "etc/systemd/system/ntpsec.service",
        "etc/systemd/system/multi-user.target.wants/ntpd.service",
    ] {
        assert!(
            std::fs::symlink_metadata(root.join(gone)).is_err(),
            "/{gone} left after remove"
        );
    }
    assert_eq!(owner(&root, "/var/lib/ntpsec/ntp.drift"), "ntpsec");
    assert_eq!(owner(&root, "/var/lib/ntpsec"), "ntpsec");

    // Purge: nothing of ours is left.
    run("purge", &mut in_root(&root, &["dpkg", "--purge", "ntpkit"]));
    let after = snapshot(&root);
    let left: Vec<&String> = after.difference(&before).collect();
    assert!(left.is_empty(), "left behind after purge: {left:?}");
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(
        !passwd.lines().any(|l| l.starts_with("ntp:")),
        "the ntp user we created is gone"
    );
    let group = std::fs::read_to_string(root.join("etc/group")).unwrap();
    assert!(
        !group.lines().any(|l| l.starts_with("ntp:")),
        "the ntp group is gone"
    );
}

/// The packages' default /etc/ntp.conf (both pools) is one our ntpd reads without a
/// diagnostic, with the drift file the package creates the directory for and four pools.
/// (Not root: runs everywhere.)
#[test]
fn package_default_ntp_conf_parses_cleanly() {
    let template =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("pkg/ntp.conf.in"))
            .unwrap();
    for pool in ["debian.pool.ntp.org", "pool.ntp.org"] {
        let text = template.replace("@POOL@", pool);
        let (config, diagnostics) =
            ntpkit::config::Config::parse_str(&text, Path::new("/etc/ntp.conf"))
                .unwrap_or_else(|e| panic!("{e}"));
        assert!(diagnostics.is_empty(), "{pool}: {diagnostics:?}");
        assert_eq!(
            config.driftfile.as_deref(),
            Some(Path::new("/var/lib/ntpkit/ntp.drift"))
        );
        let pools: Vec<_> = config
            .associations
            .iter()
            .filter_map(|a| match &a.target {
                ntpkit::config::Target::Name(n) => Some(n.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            pools,
            (0..4).map(|i| format!("{i}.{pool}")).collect::<Vec<_>>()
        );
    }
}
