//! The ntpsim front end: JSON fields, presets equal to their explicit flags, clear errors,
//! and `--replay` of recorded samples.

use std::process::Command;

fn ntpsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ntpsim"))
        .args(args)
        .output()
        .expect("run ntpsim")
}

#[test]
fn json_has_the_documented_fields() {
    let out = ntpsim(&["--scenario", "S1", "--duration", "5000", "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "rms_offset_us",
        "max_abs_offset_us",
        "mean_offset_us",
        "rms_freq_ppm",
        "settle_1ms_s",
        "packets_sent",
    ] {
        assert!(v.get(key).is_some(), "missing {key}: {v}");
    }
    // the figures are the library's for the same model and seed (the README's table comes
    // from this front end; its accuracy class is asserted on the library in engine_sim)
    let mut c = ntpkit::sim::SimConfig {
        duration: 5000.0,
        ..ntpkit::sim::SimConfig::default()
    };
    ntpkit::sim::Scenario::S1.apply(&mut c);
    let r = ntpkit::sim::run(&c);
    // (to the last bits: serde_json's default float parsing may be one ulp off)
    let same = |key: &str, x: f64| {
        v[key]
            .as_f64()
            .is_some_and(|y| (y - x).abs() <= 1e-12 * x.abs())
    };
    assert!(same("rms_offset_us", r.rms_offset_us), "{v}: {r:?}");
    assert!(same("max_abs_offset_us", r.max_abs_offset_us), "{v}: {r:?}");
    assert_eq!(v["settle_1ms_s"].as_f64(), r.settle_1ms_s, "{v}");
    assert_eq!(
        v["packets_sent"].as_u64(),
        Some(r.packets_sent as u64),
        "{v}"
    );
}

#[test]
fn preset_and_explicit_flags_print_the_same() {
    let preset = ntpsim(&[
        "--scenario",
        "S3",
        "--seed",
        "4",
        "--duration",
        "4000",
        "--json",
    ]);
    let explicit = ntpsim(&[
        "--freq-ppm",
        "10",
        "--wander",
        "1e-8",
        "--delay-base",
        "1e-4",
        "--delay-exp",
        "1e-4",
        "--offset",
        "0.1",
        "--seed",
        "4",
        "--duration",
        "4000",
        "--json",
    ]);
    assert!(preset.status.success() && explicit.status.success());
    assert_eq!(preset.stdout, explicit.stdout);
}

#[test]
fn bad_parameters_are_reported_not_panicked_on() {
    for args in [
        &["--scenario", "S9"][..],
        &["--falseticker", "4:0.1", "--servers", "3"],
        &["--outage", "100"],
        &["--loss", "2"],
        &["--wander", "nan"],
        &["--stamps", "nic"],
        &["--server-stamps", "user_tx"],
        &["--matrix", "--row", "no-such-row"],
    ] {
        let out = ntpsim(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("ntpsim: "), "{args:?}: {err}");
    }
}

/// The `user-tx` server (kernel receive, user-space transmit stamps) is a matrix row of its
/// own: `--matrix --row` runs just it, with the mean offsets its RMS hides, and a row is the
/// same model as its explicit flags.
#[test]
fn user_tx_row_runs_alone_and_equals_its_flags() {
    let out = ntpsim(&["--matrix", "--row", "user-tx", "--duration", "6000"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[1].starts_with("user-tx "), "{text}");
    let means: Vec<f64> = lines[2]
        .split("seeds 1-10:")
        .nth(1)
        .unwrap_or_else(|| panic!("{text}"))
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!(means.len(), 10, "{text}");
    // the server's send latency makes every sample read early: the estimate is biased
    // negative, by less than half the median latency (≈ 7.3 µs) and more than nothing
    assert!(means.iter().all(|m| *m < -1.0 && *m > -12.0), "{text}");

    let row = ntpsim(&[
        "--row",
        "user-tx",
        "--seed",
        "3",
        "--duration",
        "6000",
        "--json",
    ]);
    let explicit = ntpsim(&[
        "--delay-base",
        "2e-5",
        "--delay-exp",
        "2e-6",
        "--client-stamps",
        "kernel",
        "--server-stamps",
        "user-tx",
        "--seed",
        "3",
        "--duration",
        "6000",
        "--json",
    ]);
    assert!(row.status.success() && explicit.status.success());
    assert_eq!(row.stdout, explicit.stdout);
    let other = ntpsim(&[
        "--row",
        "user-tx",
        "--seed",
        "4",
        "--duration",
        "6000",
        "--json",
    ]);
    assert_ne!(row.stdout, other.stdout, "the seed must matter");
}

/// `--replay`: a bench/xleave.sh samples file (time, offset, request leg, reply leg) whose
/// every sample reads early by half its reply leg's excess over 5 µs goes through the
/// estimator, which learns the asymmetry and ends at the least-delayed sample's offset.
#[test]
fn replay_learns_the_asymmetry_of_recorded_samples_and_names_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("samples");
    let text: String = (0..80)
        .map(|i| {
            let excess = 12e-6 * (((i * 37) % 80) as f64 / 79.0);
            format!(
                "{} {:.9} 0.000005000 {:.9}\n",
                1_000_000.0 + 8.0 * i as f64,
                -excess / 2.0,
                5e-6 + excess
            )
        })
        .collect();
    std::fs::write(&path, text).unwrap();
    let out = ntpsim(&["--replay", path.to_str().unwrap(), "--replay-warmup", "300"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 82, "{stdout}");
    // the last sample: its time as given, and the asymmetry in use
    let last: Vec<f64> = lines[80]
        .split_whitespace()
        .map(|f| f.parse().unwrap())
        .collect();
    assert_eq!(last[0], 1_000_632.0);
    assert!(last[4] < -0.45, "{}", lines[80]);
    // the estimate's sd (µs) has shrunk below one sample's spread; the wander is within
    // the hypotheses' range
    assert!(last[5] > 0.0 && last[5] < 3.0, "{}", lines[80]);
    assert!((1e-20..=1e-12).contains(&last[6]), "{}", lines[80]);
    let summary = lines[81];
    let median: f64 = summary
        .split("median |estimate| ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{summary}"));
    // the uncorrected mean would be 3 µs off
    assert!(median < 0.5, "{summary}");
    assert!(summary.contains("n 42"), "{summary}");

    std::fs::write(&path, "1 0 0.00001\n2 0 nope\n").unwrap();
    let out = ntpsim(&["--replay", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}: line 2: not a number", path.display())),
        "{err}"
    );
}
