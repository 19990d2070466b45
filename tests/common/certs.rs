// Test certificates made with the openssl CLI: a private CA and IP-address server
// certificates, for the NTS tests (the system tests, and `daemon::nts_ke`'s unit tests,
// which `include!` this file: hence std only, and `//` rather than `//!` comments here).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Run `openssl ARGS` in `dir`, with libfaketime's clock started at `TIME` when given (a
/// certificate signed at another date); panics with openssl's message if it fails.
/// libfaketime is preloaded directly: the `faketime` wrapper leaves a semaphore and a
/// shared-memory file named after its PID in /dev/shm, and a later wrapper given the same
/// PID fails ("sem_open: File exists").
pub fn openssl(dir: &Path, faketime: Option<&str>, args: &[&str]) {
    let fake = faketime.map(|t| format!("FAKETIME=@{t}"));
    let mut argv: Vec<&str> = Vec::new();
    if let Some(f) = &fake {
        argv.extend([
            "env",
            "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
            f.as_str(),
        ]);
    }
    argv.push("openssl");
    argv.extend_from_slice(args);
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{argv:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A P-256 CA (`NAME.pem`, `NAME.key`) in `dir`, valid 30 days; returns the PEM's path.
pub fn make_ca(dir: &Path, name: &str) -> PathBuf {
    openssl(
        dir,
        None,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "30",
            "-subj",
            &format!("/CN=ntpkit test {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    dir.join(format!("{name}.pem"))
}

/// A TLS server certificate for `ip` (`NAME.pem`, `NAME.key`) signed by CA `ca` in `dir`,
/// valid 30 days from now or, under `faketime`, from that date (an expired certificate:
/// `Some("2020-01-01 00:00:00")`). Returns (certificate, key).
pub fn make_cert(
    dir: &Path,
    ca: &str,
    name: &str,
    ip: &str,
    faketime: Option<&str>,
) -> (PathBuf, PathBuf) {
    let ext = dir.join(format!("{name}.ext"));
    std::fs::write(
        &ext,
        format!(
            "subjectAltName=IP:{ip}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n\
             extendedKeyUsage=serverAuth\n"
        ),
    )
    .unwrap();
    openssl(
        dir,
        None,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={ip}"),
        ],
    );
    openssl(
        dir,
        faketime,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            &format!("{name}.pem"),
            "-days",
            "30",
            "-extfile",
            ext.to_str().unwrap(),
        ],
    );
    (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    )
}
