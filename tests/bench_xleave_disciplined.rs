//! bench/xleave-disciplined.py, the disciplined figure of the truth-is-zero benchmark pooled
//! over runs (issue 19): each run's figure is one observation, pairs are compared run by run
//! with a t interval, a consistent difference gets its verdict and a mixed one parity, the
//! least delay each client drew is read from the samples files, and bad input names its file
//! and line.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn pool(dirs: &[&Path]) -> Output {
    Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/bench/xleave-disciplined.py"
        ))
        .args(dirs)
        .output()
        .expect("run python3 (installed with NTPsec, whose ntpdig needs it)")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "xleave-disciplined failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// One client of a run: (host, server, client, disciplined median and RMS µs or None for a
/// client without one, least request and reply legs µs).
type Client<'a> = (&'a str, &'a str, &'a str, Option<(f64, f64)>, (f64, f64));

/// A run directory as bench/xleave.sh keeps it: `bench`, `clients` and hSK/samples (three
/// samples per client, the first with the given legs, the others 5 µs longer each way).
fn run_dir(dir: &Path, clients: &[Client]) {
    let (mut bench, mut listing) = (String::new(), String::new());
    for (host, server, client, disc, (up, down)) in clients {
        let (dm, dr) = disc.map_or(("n/a".into(), "n/a".into()), |(m, r)| {
            (format!("{m:.2}"), format!("{r:.2}"))
        });
        bench += &format!(
            "BENCH xleave server={server} client={client} sample_median_us=1.00 \
             sample_rms_us=1.00 samples=3 disciplined_median_us={dm} disciplined_rms_us={dr} \
             updates=3 disciplined_from=loopstats sample_mean_us=0.1 \
             request_leg_median_us=1.0 reply_leg_median_us=1.0\n"
        );
        listing += &format!("{host} {server} {client}\n");
        fs::create_dir_all(dir.join(host)).unwrap();
        let samples: String = (0..3)
            .map(|i| {
                let extra = 5.0 * i as f64;
                format!(
                    "{} 0.000000100 {:.9} {:.9}\n",
                    1000 + 8 * i,
                    (up + extra) * 1e-6,
                    (down + extra) * 1e-6
                )
            })
            .collect();
        fs::write(dir.join(host).join("samples"), samples).unwrap();
    }
    fs::write(dir.join("bench"), bench).unwrap();
    fs::write(dir.join("clients"), listing).unwrap();
}

/// The fields of one row: "server other figure ours other diff [lo, hi] wins of n verdict …".
fn row(table: &str, server: &str, other: &str, figure: &str) -> Vec<String> {
    table
        .lines()
        .find(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[0] == server && f[1] == other && f[2] == figure
        })
        .unwrap_or_else(|| panic!("no row {server} {other} {figure} in\n{table}"))
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Four runs: against chronyd's server ours is 1 µs closer than chronyd in every run (the
/// level moving run to run); against NTPsec's, closer in two runs and farther in two.
fn four_runs(root: &Path) -> Vec<std::path::PathBuf> {
    let levels = [4.0, 5.5, 3.2, 4.7];
    let swing = [-1.0, 1.2, -0.8, 0.9];
    levels
        .iter()
        .zip(swing)
        .enumerate()
        .map(|(i, (&level, swing))| {
            let dir = root.join(format!("run{i}"));
            run_dir(
                &dir,
                &[
                    (
                        "h11",
                        "chronyd",
                        "ours",
                        Some((level - 1.0, level - 0.9)),
                        (0.7, 9.0),
                    ),
                    (
                        "h13",
                        "chronyd",
                        "chronyd",
                        Some((level, level + 0.1)),
                        (0.7, 8.0),
                    ),
                    ("h15", "chronyd", "chronyd-ns", None, (0.7, 7.0)),
                    (
                        "h21",
                        "ntpsec",
                        "ours",
                        Some((level + swing, level)),
                        (0.7, 9.0),
                    ),
                    ("h23", "ntpsec", "chronyd", Some((level, level)), (0.7, 9.0)),
                ],
            );
            dir
        })
        .collect()
}

#[test]
fn a_difference_in_every_run_is_a_verdict_and_a_mixed_one_parity() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = four_runs(tmp.path());
    let table = stdout(&pool(&dirs.iter().map(|d| d.as_path()).collect::<Vec<_>>()));

    let median = row(&table, "chronyd", "chronyd", "median");
    // the mean over the runs of each client's median: (3 + 4.5 + 2.2 + 3.7) / 4 = 3.35
    assert_eq!(median[3], "3.35", "{table}");
    assert_eq!(median[4], "4.35", "{table}");
    assert_eq!(median[5], "-1.00", "{table}");
    assert_eq!(median[8..11].join(" "), "4 of 4", "{table}");
    assert!(table.contains("ours better"), "{table}");
    let rms = row(&table, "chronyd", "chronyd", "RMS");
    assert!(rms.join(" ").contains("ours better"), "{table}");

    let mixed = row(&table, "ntpsec", "chronyd", "median");
    assert_eq!(mixed[8..11].join(" "), "2 of 4", "{table}");
    assert!(mixed.join(" ").contains("parity"), "{table}");
    // every run's pair is listed, ours/other
    assert!(
        mixed
            .join(" ")
            .ends_with("3.00/4.00 6.70/5.50 2.40/3.20 5.60/4.70"),
        "{table}"
    );

    // chronyd-ns has no disciplined figure: no row against it
    assert!(!table.contains("chronyd-ns "), "{table}");
    // the least delays drawn: ours 9.7 µs, chronyd 8.7 µs in every run
    assert!(
        table.contains("chronyd ours 9.70 vs chronyd 8.70"),
        "{table}"
    );
}

#[test]
fn one_run_has_no_interval() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = four_runs(tmp.path());
    let table = stdout(&pool(&[dirs[0].as_path()]));
    let median = row(&table, "chronyd", "chronyd", "median");
    assert_eq!(median[5], "-1.00", "{table}");
    assert!(median.join(" ").contains("one run"), "{table}");
}

#[test]
fn bad_input_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = four_runs(tmp.path());
    let bench = dirs[1].join("bench");
    let text = fs::read_to_string(&bench).unwrap().replacen(
        "disciplined_median_us=5.50",
        "disciplined_median_us=lots",
        1,
    );
    fs::write(&bench, text).unwrap();
    let out = pool(&[dirs[0].as_path(), dirs[1].as_path()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:2: not a number", bench.display())),
        "{err}"
    );

    let missing = tmp.path().join("nowhere");
    let out = pool(&[missing.as_path()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nowhere"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
