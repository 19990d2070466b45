//! bench/xleave-compare.py, the statistics of the truth-is-zero benchmark (issue 19): a client
//! clearly better or worse than another gets that verdict, two clients with the same samples
//! get parity, pooled runs add up, the fixed seed prints the same table twice, the old host
//! layout (and XLEAVE_SWAP's) is read right, bad input names its file and line, and an
//! autocorrelated series is resampled in blocks (an iid bootstrap's spurious verdict goes).

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn compare(args: &[&str]) -> Output {
    Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/bench/xleave-compare.py"
        ))
        .args(["--resamples", "500"])
        .args(args)
        .output()
        .expect("run python3 (installed with NTPsec, whose ntpdig needs it)")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "xleave-compare failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A `samples` file of `n` exchanges (time, offset, request leg, reply leg; seconds) whose
/// |offset| is spread evenly over centre ± spread/2 µs, in a scrambled order, signs alternating.
fn samples(centre_us: f64, spread_us: f64, n: usize) -> String {
    (0..n)
        .map(|i| {
            let x = centre_us + spread_us * (((i * 7) % n) as f64 / (n - 1) as f64 - 0.5);
            let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
            format!(
                "{} {:.9} 0.000001 0.000001\n",
                1000 + 8 * i,
                sign * x * 1e-6
            )
        })
        .collect()
}

/// A run directory: (host, server, client, samples); with `listed`, the `clients` file
/// bench/xleave.sh writes, naming each host.
fn run_dir(dir: &Path, clients: &[(&str, &str, &str, String)], listed: bool) {
    let mut listing = String::new();
    for (host, server, client, data) in clients {
        fs::create_dir_all(dir.join(host)).unwrap();
        fs::write(dir.join(host).join("samples"), data).unwrap();
        listing += &format!("{host} {server} {client}\n");
    }
    if listed {
        fs::write(dir.join("clients"), listing).unwrap();
    }
}

/// The verdict, and ours' n, of one row: "server other figure … n … verdict".
fn row(table: &str, server: &str, other: &str, figure: &str) -> (String, usize) {
    let line = table
        .lines()
        .find(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[0] == server && f[1] == other && f[2] == figure
        })
        .unwrap_or_else(|| panic!("no row {server} {other} {figure} in\n{table}"));
    let n = line.split_whitespace().nth(6).unwrap().parse().unwrap();
    (line.rsplit("  ").next().unwrap().to_string(), n)
}

/// The verdicts of one pair's two rows: [median's, RMS's].
fn verdicts(table: &str, server: &str, other: &str) -> [String; 2] {
    ["median", "RMS"].map(|figure| row(table, server, other, figure).0)
}

fn example(dir: &Path) {
    run_dir(
        dir,
        &[
            ("h11", "chronyd", "ours", samples(0.1, 0.04, 60)),
            ("h15", "chronyd", "chronyd-ns", samples(1.0, 0.4, 61)),
            ("h12", "chronyd", "ours+xleave", samples(0.2, 0.1, 60)),
            ("h16", "chronyd", "chronyd-ns+xleave", samples(0.2, 0.1, 60)),
            ("h31", "ours", "ours", samples(2.0, 0.8, 60)),
            ("h35", "ours", "chronyd-ns", samples(1.0, 0.4, 60)),
        ],
        true,
    );
}

#[test]
fn verdicts_follow_the_intervals() {
    let tmp = tempfile::tempdir().unwrap();
    example(tmp.path());
    let dir = tmp.path().to_str().unwrap();
    let table = stdout(&compare(&[dir]));
    let t = &table;
    assert_eq!(
        verdicts(t, "chronyd", "chronyd-ns"),
        ["ours better"; 2],
        "{t}"
    );
    assert_eq!(
        verdicts(t, "chronyd", "chronyd-ns+xleave"),
        ["parity"; 2],
        "{t}"
    );
    assert_eq!(verdicts(t, "ours", "chronyd-ns"), ["ours worse"; 2], "{t}");
    assert_eq!(row(&table, "chronyd", "chronyd-ns", "median").1, 60);
    // no base clients in this run, so no rows against them
    assert!(!table.contains(" base "), "{table}");
    // a fixed seed: the same table again
    assert_eq!(stdout(&compare(&[dir])), table);
}

#[test]
fn pooled_runs_add_up() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    example(a.path());
    example(b.path());
    let (a, b) = (a.path().to_str().unwrap(), b.path().to_str().unwrap());
    let table = stdout(&compare(&["--pool", a, b]));
    assert!(table.starts_with("# pooled over 2 runs"), "{table}");
    assert_eq!(
        row(&table, "chronyd", "chronyd-ns", "median"),
        ("ours better".to_string(), 120)
    );
    assert_eq!(row(&table, "ours", "chronyd-ns", "RMS").0, "ours worse");
    assert!(!table.contains("# hosts per run"), "{table}");
}

#[test]
fn pooled_runs_name_the_hosts_a_kind_moved_between() {
    // a plain run and one with bench/xleave.sh's XLEAVE_HOSTSWAP=1: ours on h15, chronyd-ns
    // on h11; rows follow the kind, the pool says where each kind sat in each run
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ours, other) = (samples(0.1, 0.04, 60), samples(1.0, 0.4, 60));
    let plain = [("h11", "ours", &ours), ("h15", "chronyd-ns", &other)];
    let swapped = [("h15", "ours", &ours), ("h11", "chronyd-ns", &other)];
    for (dir, layout) in [(a.path(), plain), (b.path(), swapped)] {
        let clients = layout.map(|(h, c, d)| (h, "chronyd", c, d.clone()));
        run_dir(dir, &clients, true);
    }
    let (a, b) = (a.path().to_str().unwrap(), b.path().to_str().unwrap());
    let table = stdout(&compare(&["--pool", a, b]));
    assert_eq!(
        verdicts(&table, "chronyd", "chronyd-ns"),
        ["ours better"; 2],
        "{table}"
    );
    assert_eq!(row(&table, "chronyd", "chronyd-ns", "median").1, 120);
    let hosts = table.lines().find(|l| l.starts_with("# hosts per run"));
    assert!(
        hosts.is_some_and(|l| l.ends_with(": ours 1/5, chronyd-ns 5/1")),
        "{table}"
    );
}

#[test]
fn runs_without_a_clients_file_use_the_fixed_layout_and_swap() {
    // host h1K is client K of chronyd's server; with XLEAVE_SWAP ours (1) ran on host 7
    let tmp = tempfile::tempdir().unwrap();
    run_dir(
        tmp.path(),
        &[
            ("h11", "", "", samples(3.0, 0.4, 60)),
            ("h15", "", "", samples(1.0, 0.4, 60)),
            ("h17", "", "", samples(0.3, 0.1, 60)),
        ],
        false,
    );
    let dir = tmp.path().to_str().unwrap();
    let plain = stdout(&compare(&[dir]));
    assert_eq!(
        row(&plain, "chronyd", "chronyd-ns", "median").0,
        "ours worse"
    );
    assert_eq!(row(&plain, "chronyd", "base", "median").0, "ours worse");
    let swapped = stdout(&compare(&[&format!("{dir}:swap")]));
    assert_eq!(
        row(&swapped, "chronyd", "chronyd-ns", "median").0,
        "ours better"
    );
    assert_eq!(row(&swapped, "chronyd", "base", "median").0, "ours better");
}

#[test]
fn bad_input_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    example(tmp.path());
    fs::write(
        tmp.path().join("h35/samples"),
        "1000 0.000001 0 0\n1008 x 0 0\n",
    )
    .unwrap();
    let out = compare(&[tmp.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("h35/samples:2: not a number"), "{err}");
    let out = compare(&[tmp.path().join("missing").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such directory"));
}

/// `n` |offsets| (µs) of an AR(1) series around 5 µs: x' = rho·x + 0.5·e, e ≈ N(0, 1) (the sum
/// of 12 uniforms − 6) from splitmix64 seeded with `seed`, after a 50-sample burn-in; as a
/// `samples` file at 2 s polls, signs alternating.
fn ar1_samples(seed: u64, rho: f64, n: usize) -> String {
    let mut state = seed;
    let mut uniform = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as f64 / 2f64.powi(64)
    };
    let mut x = 0.0;
    let mut out = String::new();
    for i in 0..n + 50 {
        let e: f64 = (0..12).map(|_| uniform()).sum::<f64>() - 6.0;
        x = rho * x + 0.5 * e;
        if i >= 50 {
            let k = i - 50;
            let sign = if k % 2 == 0 { 1.0 } else { -1.0 };
            out += &format!(
                "{} {:.9} 0.000001 0.000001\n",
                1000 + 2 * k,
                sign * (5.0 + x) * 1e-6
            );
        }
    }
    out
}

#[test]
fn autocorrelated_series_are_resampled_in_blocks() {
    // Against chronyd's server two clients from the same AR(1) process (rho 0.9, as samples at
    // 2 s polls through a server's load phases): no real difference, but these two draws sit
    // ~0.5 µs apart, which an iid bootstrap calls "ours better". Against our server two
    // white-noise series (rho 0): the automatic choice leaves them iid.
    let tmp = tempfile::tempdir().unwrap();
    run_dir(
        tmp.path(),
        &[
            ("h11", "chronyd", "ours", ar1_samples(5, 0.9, 200)),
            ("h15", "chronyd", "chronyd-ns", ar1_samples(1005, 0.9, 200)),
            ("h31", "ours", "ours", ar1_samples(2, 0.0, 200)),
            ("h35", "ours", "chronyd-ns", ar1_samples(1002, 0.0, 200)),
        ],
        true,
    );
    let dir = tmp.path().to_str().unwrap();
    let iid = stdout(&compare(&["--bootstrap", "iid", dir]));
    let auto = stdout(&compare(&[dir]));
    assert_eq!(
        verdicts(&iid, "chronyd", "chronyd-ns"),
        ["ours better"; 2],
        "{iid}"
    );
    assert_eq!(
        verdicts(&auto, "chronyd", "chronyd-ns"),
        ["parity"; 2],
        "{auto}"
    );
    assert_eq!(
        verdicts(&auto, "ours", "chronyd-ns"),
        ["parity"; 2],
        "{auto}"
    );
    assert!(!iid.contains("# block bootstrap"), "{iid}");
    // the line under the table: which series went in blocks, their lag-1 r and block length
    let blocks = auto
        .lines()
        .find(|l| l.starts_with("# block bootstrap"))
        .unwrap_or_else(|| panic!("no block line in\n{auto}"));
    for client in ["ours of chronyd", "chronyd-ns of chronyd"] {
        let at = blocks
            .find(client)
            .unwrap_or_else(|| panic!("{client}: {blocks}"));
        let f: Vec<&str> = blocks[at + client.len()..].split_whitespace().collect();
        let (r, l): (f64, usize) = (
            f[1].parse().unwrap(),
            f[3].trim_end_matches(';').parse().unwrap(),
        );
        assert!(r > 0.7 && (2..=66).contains(&l), "{blocks}");
    }
    assert!(
        !blocks.contains("of ours"),
        "white noise went in blocks: {blocks}"
    );
    // forced blocks of a given length reach the white-noise series too; the rows stay
    let forced = stdout(&compare(&[
        "--bootstrap",
        "block",
        "--block-length",
        "4",
        dir,
    ]));
    assert!(
        forced.contains("ours of ours r") && forced.contains("L 4"),
        "{forced}"
    );
    assert_eq!(row(&forced, "chronyd", "chronyd-ns", "median").1, 200);
    // a block length below 1 is refused, with the option's name
    let out = compare(&["--block-length", "0", dir]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--block-length"));
}
