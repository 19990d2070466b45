//! `ntpkit viz` as a command: inputs it must refuse with a file:line message (never a
//! panic), skipped lines, the time window and the ntpsim overlay.

mod common;

use std::process::Command;

fn viz(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(common::ntpkit_bin())
        .arg("viz")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A day of loopstats and peerstats lines at 64 s, in ntpd's formats.
fn write_day(dir: &std::path::Path, mjd: u32, name_suffix: &str) {
    let mut l = String::new();
    let mut p = String::new();
    for k in 0..1350u32 {
        let s = f64::from(k) * 64.0;
        let off = 1e-5 * (f64::from(k) * 0.1).sin();
        l.push_str(&format!(
            "{mjd} {s:.3} {off:.9} -5.500 0.000011507 0.003017 6\n"
        ));
        p.push_str(&format!(
            "{mjd} {s:.3} 198.18.0.1 961a {off:.9} 0.000250000 0.000120000 0.000020000\n"
        ));
    }
    std::fs::write(dir.join(format!("loopstats{name_suffix}")), l).unwrap();
    std::fs::write(dir.join(format!("peerstats{name_suffix}")), p).unwrap();
}

#[test]
fn a_directory_of_day_files_renders_and_the_window_narrows_it() {
    let dir = tempfile::tempdir().unwrap();
    write_day(dir.path(), 61368, ".20261124");
    write_day(dir.path(), 61369, ".20261125");
    let (code, html, err) = viz(&[dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(html.contains("2700 loopstats and 2700 peerstats records from 4 file(s)"));
    assert!(
        !html.contains("Not drawn: no"),
        "peerstats and loopstats both drawn"
    );
    // the newest 12 hours
    let (code, html, err) = viz(&[dir.path().to_str().unwrap(), "--period", "12h"]);
    assert_eq!(code, 0, "{err}");
    // both ends are in: 12 h of 64 s intervals, plus one
    assert!(
        html.contains("676 loopstats and 676 peerstats"),
        "{}",
        &html[..600]
    );
    let (code, html, _) = viz(&[
        dir.path().to_str().unwrap(),
        "--start",
        "2026-11-25",
        "--end",
        "2026-11-25T00:10:00Z",
    ]);
    assert_eq!(code, 0);
    assert!(
        html.contains("10 loopstats and 10 peerstats"),
        "{}",
        &html[..600]
    );
    let (code, _, err) = viz(&[dir.path().to_str().unwrap(), "--start", "2030-01-01"]);
    assert_eq!(code, 1);
    assert!(err.contains("no records in the time window"), "{err}");
    let (code, _, err) = viz(&[dir.path().to_str().unwrap(), "--start", "soon"]);
    assert_eq!(code, 1);
    assert!(err.contains("--start \"soon\""), "{err}");
}

#[test]
fn bad_input_is_named_by_file_and_line_and_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // a binary file where loopstats should be
    let bad = d.join("loopstats");
    std::fs::write(&bad, [0xff, 0xfe, 0x00, b'\n', 0x89, b'P', b'N', b'G']).unwrap();
    let (code, _, err) = viz(&[bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with(&format!("ntpkit viz: {}:1: ", bad.display())),
        "{err}"
    );
    assert!(!err.contains("panicked"));
    // one bad line among good ones: skipped, counted, named
    let good = d.join("peerstats.20261125");
    std::fs::write(
        &good,
        "61369 0.000 198.18.0.1 961a 0.000010000 0.000250000 0.000120000 0.000020000\n\
         61369 64.000 198.18.0.1 961a 0.0000 truncated\n\
         61369 128.000 198.18.0.1 961a 0.000011000 0.000250000 0.000120000 0.000020000\n",
    )
    .unwrap();
    let out = d.join("out.html");
    let (code, _, err) = viz(&[good.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("skipped 1 line(s)") && err.contains(&format!("{}:2: ", good.display())),
        "{err}"
    );
    let page = std::fs::read_to_string(&out).unwrap();
    assert!(page.contains("1 unparseable line(s) skipped"));
    // missing file, empty directory, unwritable output
    let (code, _, err) = viz(&[d.join("nope").to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("nope") && err.contains("No such file"),
        "{err}"
    );
    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = viz(&[empty.path().to_str().unwrap()]);
    assert_eq!(
        (code, err.contains("no loopstats or peerstats files")),
        (1, true),
        "{err}"
    );
    let (code, _, err) = viz(&[good.to_str().unwrap(), "-o", "/nonexistent/dir/x.html"]);
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/dir/x.html"), "{err}");
    // usage errors are status 2
    assert_eq!(viz(&[]).0, 2);
    assert_eq!(viz(&[good.to_str().unwrap(), "--period", "fortnight"]).0, 2);
}

#[test]
fn ntpsim_loopstats_overlay_on_a_real_run() {
    let dir = tempfile::tempdir().unwrap();
    write_day(dir.path(), 61369, "");
    let sim = dir.path().join("sim");
    let out = Command::new(env!("CARGO_BIN_EXE_ntpsim"))
        .args(["--duration", "20000", "--loopstats"])
        .arg(&sim)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = std::fs::read_to_string(&sim).unwrap();
    let n = text.lines().count();
    assert!(n > 100, "{n} loopstats lines from 20000 s at poll 64..1024");
    assert!(
        text.lines().all(|l| l.split_whitespace().count() == 7),
        "{text}"
    );
    let (code, html, err) = viz(&[
        dir.path().join("loopstats").to_str().unwrap(),
        "--sim",
        sim.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(html.contains("<section id=\"sim-overlay\">"));
    assert!(html.contains(&format!("ntpsim overlay: {n} loopstats records")));
    assert!(html.contains("<td>ntpsim time offset</td>"));
}
