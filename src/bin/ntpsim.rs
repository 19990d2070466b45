//! ntpsim: the engine against simulated servers in virtual time (clknetsim's model).

use anyhow::{anyhow, bail};
use clap::{Arg, ArgAction, Command};
use ntpkit::sim::{run, Scenario, SimConfig, SimResult};
use ntpkit::wire::packet::Leap;
use std::fmt::Write as _;

fn command() -> Command {
    Command::new("ntpsim")
        .allow_negative_numbers(true)
        .about("Run ntpkit's clock-discipline engine in virtual time against simulated servers")
        .arg(Arg::new("scenario").long("scenario").value_name("S1|S2|S3|S4|S5").help("Preset parameters (explicit flags given after it override nothing: a preset equals its parameters)"))
        .arg(Arg::new("freq-ppm").long("freq-ppm").value_name("PPM").value_parser(clap::value_parser!(f64)).help("Initial oscillator frequency error [default 10]"))
        .arg(Arg::new("wander").long("wander").value_name("FRACTION").value_parser(clap::value_parser!(f64)).help("Random-walk frequency step per second [default 1e-8]"))
        .arg(Arg::new("delay-base").long("delay-base").value_name("S").value_parser(clap::value_parser!(f64)).help("Fixed one-way delay [default 1e-4]"))
        .arg(Arg::new("delay-exp").long("delay-exp").value_name("S").value_parser(clap::value_parser!(f64)).help("Scale of the exponential one-way delay [default 1e-4]"))
        .arg(Arg::new("offset").long("offset").value_name("S").value_parser(clap::value_parser!(f64)).help("Initial clock offset, positive = client ahead [default 0]"))
        .arg(Arg::new("loss").long("loss").value_name("P").value_parser(clap::value_parser!(f64)).help("Packet loss probability per direction [default 0]"))
        .arg(Arg::new("servers").long("servers").value_name("N").value_parser(clap::value_parser!(usize)).help("Number of servers [default 1]"))
        .arg(Arg::new("falseticker").long("falseticker").value_name("K:OFFSET").action(ArgAction::Append).help("Server K (from 1) is OFFSET seconds off; repeatable"))
        .arg(Arg::new("outage").long("outage").value_name("START:LEN").action(ArgAction::Append).help("No packets get through from START for LEN seconds; repeatable"))
        .arg(Arg::new("server-step").long("server-step").value_name("T:STEP").action(ArgAction::Append).help("Every server's clock jumps by STEP seconds at time T; repeatable"))
        .arg(Arg::new("leap").long("leap").value_name("none|insert|delete").help("Leap indicator the servers announce"))
        .arg(Arg::new("stamps").long("stamps").value_name("KIND").help("Timestamps both sides take (their error model, told to the engine): user, kernel, hardware, or user-tx (receive stamped by the kernel, transmit read in user space before sendmsg, as chronyd's and NTPsec's servers in basic mode) [default: exact]"))
        .arg(Arg::new("client-stamps").long("client-stamps").value_name("KIND").help("Timestamps the client takes: user, kernel, hardware or user-tx (overrides --stamps)"))
        .arg(Arg::new("server-stamps").long("server-stamps").value_name("KIND").help("Timestamps the servers take: user, kernel, hardware or user-tx (overrides --stamps)"))
        .arg(Arg::new("untold").long("untold").action(ArgAction::SetTrue).help("Do not tell the engine which kind of timestamps its samples carry"))
        .arg(Arg::new("minpoll").long("minpoll").value_parser(clap::value_parser!(i8)).help("minpoll [default 6]"))
        .arg(Arg::new("maxpoll").long("maxpoll").value_parser(clap::value_parser!(i8)).help("maxpoll [default 10]"))
        .arg(Arg::new("duration").long("duration").value_name("DURATION").value_parser(ntpkit::apps::duration::seconds).help("Simulated time, e.g. 11h or 40000 (plain numbers are seconds) [default 11h 6m 40s]"))
        .arg(Arg::new("seed").long("seed").value_parser(clap::value_parser!(u64)).help("Random seed [default 1]"))
        .arg(Arg::new("loopstats").long("loopstats").value_name("FILE").help("Also write the run's clock updates as ntpd's loopstats lines to FILE (for ntpkit viz --sim)"))
        .arg(Arg::new("json").long("json").action(ArgAction::SetTrue).help("Print the result as JSON"))
        .arg(Arg::new("table").long("table").action(ArgAction::SetTrue).help("Run seeds 1-10 of every scenario and print the medians"))
        .arg(Arg::new("row").long("row").value_name("NAME").help("Start from a row of --matrix (e.g. loss-bursts) instead of a preset; with --matrix, run only that row"))
        .arg(Arg::new("replay").long("replay").value_name("FILE").help("Put a real run's recorded samples through the engine's estimator and print its estimate after each: FILE has lines TIME OFFSET DELAY, or TIME OFFSET REQUEST REPLY (a bench/xleave.sh samples file), or our rawstats lines; the last line is the median and RMS |estimate| after --replay-warmup"))
        .arg(Arg::new("replay-warmup").long("replay-warmup").value_name("SECONDS").value_parser(clap::value_parser!(f64)).help("With --replay: the summary leaves out the estimates of this many seconds from the first sample [default 60, as bench/xleave.sh]"))
        .arg(Arg::new("replay-precision").long("replay-precision").value_name("LOG2").value_parser(clap::value_parser!(i8)).help("With --replay: the clock precision the estimator assumes, log2 s [default: this host's, measured as ntpd does]"))
        .arg(Arg::new("matrix").long("matrix").action(ArgAction::SetTrue).help("Run seeds 1-10 of the robustness matrix (models the engine was not designed on) and print median and worst per row"))
}

fn parse_pair(s: &str, what: &str) -> anyhow::Result<(f64, f64)> {
    let (a, b) = s
        .split_once(':')
        .ok_or_else(|| anyhow!("--{what} {s}: expected A:B"))?;
    let a: f64 = a
        .parse()
        .map_err(|_| anyhow!("--{what} {s}: bad number {a:?}"))?;
    let b: f64 = b
        .parse()
        .map_err(|_| anyhow!("--{what} {s}: bad number {b:?}"))?;
    Ok((a, b))
}

fn config(m: &clap::ArgMatches) -> anyhow::Result<SimConfig> {
    let mut c = SimConfig::default();
    if let Some(name) = m.get_one::<String>("row") {
        c = matrix_rows()
            .into_iter()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, _, c)| c)
            .ok_or_else(|| {
                let names: Vec<&str> = matrix_rows().iter().map(|r| r.0).collect();
                anyhow!("unknown row {name:?} ({})", names.join(", "))
            })?;
    }
    if let Some(s) = m.get_one::<String>("scenario") {
        Scenario::parse(s)
            .ok_or_else(|| anyhow!("unknown scenario {s:?} (S1..S5)"))?
            .apply(&mut c);
    }
    macro_rules! set {
        ($name:literal, $field:ident, $t:ty) => {
            if let Some(v) = m.get_one::<$t>($name) {
                c.$field = *v;
            }
        };
    }
    set!("freq-ppm", freq_ppm, f64);
    set!("wander", wander, f64);
    set!("delay-base", delay_base, f64);
    set!("delay-exp", delay_exp, f64);
    set!("offset", offset, f64);
    set!("loss", loss, f64);
    set!("servers", servers, usize);
    if let Some(d) = m.get_one::<std::time::Duration>("duration") {
        c.duration = d.as_secs_f64();
    }
    set!("seed", seed, u64);
    set!("minpoll", minpoll, i8);
    set!("maxpoll", maxpoll, i8);
    if let Some(v) = m.get_many::<String>("falseticker") {
        for s in v {
            let (k, o) = parse_pair(s, "falseticker")?;
            if k < 1.0 || k.fract() != 0.0 {
                bail!("--falseticker {s}: K must be a server number from 1");
            }
            c.falsetickers.push((k as usize, o));
        }
    }
    if let Some(v) = m.get_many::<String>("outage") {
        for s in v {
            c.outages.push(parse_pair(s, "outage")?);
        }
    }
    if let Some(v) = m.get_many::<String>("server-step") {
        for s in v {
            c.server_steps.push(parse_pair(s, "server-step")?);
        }
    }
    if let Some(l) = m.get_one::<String>("leap") {
        c.server_leap = match l.as_str() {
            "none" => Leap::NoWarning,
            "insert" => Leap::Insert,
            "delete" => Leap::Delete,
            other => bail!("--leap {other}: expected none, insert or delete"),
        };
    }
    let stamps = |flag: &str| -> anyhow::Result<_> {
        m.get_one::<String>(flag)
            .map(|k| {
                ntpkit::sim::stamps::parse(k).ok_or_else(|| {
                    anyhow::anyhow!("--{flag} {k}: expected user, kernel, hardware or user-tx")
                })
            })
            .transpose()
    };
    if let Some(k) = stamps("stamps")? {
        c.client_stamps = Some(k);
        c.server_stamps = Some(k);
    }
    if let Some(k) = stamps("client-stamps")? {
        c.client_stamps = Some(k);
    }
    if let Some(k) = stamps("server-stamps")? {
        c.server_stamps = Some(k);
    }
    if m.get_flag("untold") {
        c.tell_engine_stamps = false;
    }
    for (name, v) in [
        ("--freq-ppm", c.freq_ppm),
        ("--wander", c.wander),
        ("--delay-base", c.delay_base),
        ("--delay-exp", c.delay_exp),
        ("--offset", c.offset),
    ] {
        if !v.is_finite() {
            bail!("{name} must be a finite number");
        }
    }
    if c.freq_ppm.abs() > 500.0 {
        bail!("--freq-ppm must be within ±500 (the kernel's frequency range)");
    }
    if c.wander < 0.0 || c.delay_base < 0.0 || c.delay_exp < 0.0 {
        bail!("--wander, --delay-base and --delay-exp must not be negative");
    }
    if c.delay_base + c.delay_exp > 10.0 || c.offset.abs() > 1e6 {
        bail!("delays above 10 s or offsets above 1e6 s are outside the model");
    }
    if !(3..=17).contains(&c.minpoll) || !(3..=17).contains(&c.maxpoll) || c.minpoll > c.maxpoll {
        bail!("--minpoll/--maxpoll must be within 3..17, minpoll <= maxpoll");
    }
    for (at, len) in c.outages.iter().chain(c.server_steps.iter()) {
        if !at.is_finite() || !len.is_finite() {
            bail!("--outage/--server-step values must be finite");
        }
    }
    if let Some((k, _)) = c.falsetickers.iter().find(|(k, _)| *k > c.servers) {
        bail!("--falseticker {k}: there are only {} servers", c.servers);
    }
    if c.falsetickers
        .iter()
        .any(|(_, o)| !o.is_finite() || o.abs() > 1e6)
    {
        bail!("--falseticker offsets must be finite (at most 1e6 s)");
    }
    if !(0.0..=1.0).contains(&c.loss) {
        bail!("--loss must be within 0..1");
    }
    if c.servers == 0 || c.servers > 200 {
        bail!("--servers must be within 1..200");
    }
    if !(c.duration > 0.0 && c.duration <= 1e8) {
        bail!("--duration must be positive (at most 1e8 s)");
    }
    Ok(c)
}

fn print_human(c: &SimConfig, r: &SimResult) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "model: freq {} ppm, wander {:e}, delay {:e}+{:e}*Exp, offset {} s, loss {}, servers {}, duration {} s, seed {}",
        c.freq_ppm, c.wander, c.delay_base, c.delay_exp, c.offset, c.loss, c.servers, c.duration, c.seed
    );
    if c.client_stamps.is_some() || c.server_stamps.is_some() {
        let name = |k: Option<ntpkit::sim::stamps::StampKind>| k.map_or("exact", |k| k.name());
        let _ = writeln!(
            out,
            "stamps: client {}, servers {}{}",
            name(c.client_stamps),
            name(c.server_stamps),
            if c.tell_engine_stamps {
                ""
            } else {
                " (engine not told)"
            }
        );
    }
    let settle = r
        .settle_1ms_s
        .map(|s| format!("{s:.0} s"))
        .unwrap_or_else(|| "never".into());
    let _ = writeln!(
        out,
        "{:<28}{:>14.1} us",
        "rms offset (t>=2000 s)", r.rms_offset_us
    );
    let _ = writeln!(
        out,
        "{:<28}{:>14.1} us",
        "max |offset|", r.max_abs_offset_us
    );
    let _ = writeln!(out, "{:<28}{:>14.1} us", "mean offset", r.mean_offset_us);
    let _ = writeln!(
        out,
        "{:<28}{:>14.4} ppm",
        "rms frequency error", r.rms_freq_ppm
    );
    let _ = writeln!(out, "{:<28}{:>17}", "settled below 1 ms after", settle);
    let _ = writeln!(out, "{:<28}{:>14}", "packets sent", r.packets_sent);
    let _ = writeln!(
        out,
        "{:<28}{:>14} ({} backwards)",
        "steps", r.steps, r.backward_steps
    );
    if !c.falsetickers.is_empty() {
        let _ = writeln!(
            out,
            "{:<28}{:>14} s",
            "falseticker selected", r.falseticker_selected_s
        );
    }
    if !c.outages.is_empty() {
        let _ = writeln!(
            out,
            "{:<28}{:>14.4} ppm",
            "max |freq error| in outage", r.outage_max_freq_error_ppm
        );
    }
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn print_table(base: &SimConfig) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<4} {:>10} {:>10} {:>10} {:>9} {:>9} {:>8} {:>6} {:>6}  (median of seeds 1-10, {} s)",
        "",
        "rms_us",
        "max_us",
        "mean_us",
        "freq_ppm",
        "settle_s",
        "packets",
        "bsteps",
        "false",
        base.duration
    );
    for s in Scenario::ALL {
        let results: Vec<SimResult> = (1..=10)
            .map(|seed| {
                let mut c = base.clone();
                s.apply(&mut c);
                c.seed = seed;
                run(&c)
            })
            .collect();
        let m = |f: &dyn Fn(&SimResult) -> f64| median(results.iter().map(f).collect());
        let _ = writeln!(
            out,
            "{:<4} {:>10.1} {:>10.1} {:>10.1} {:>9.4} {:>9.1} {:>8.0} {:>6.0} {:>6.0}  {}",
            s.name(),
            m(&|r| r.rms_offset_us),
            m(&|r| r.max_abs_offset_us),
            m(&|r| r.mean_offset_us),
            m(&|r| r.rms_freq_ppm),
            m(&|r| r.settle_1ms_s.unwrap_or(f64::INFINITY)),
            m(&|r| r.packets_sent as f64),
            m(&|r| r.backward_steps as f64),
            m(&|r| r.falseticker_selected_s as f64),
            s.describe()
        );
    }
    out
}

/// Write to stdout; a closed pipe (`ntpsim | head`) is not an error worth a panic.
fn emit(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush());
}

/// The robustness matrix: S1..S5 and models the engine was not designed on. Each row is
/// S1 (or S2) with one thing changed; no per-row tuning of the engine.
fn matrix_rows() -> Vec<Row> {
    let preset = |s: Scenario| {
        let mut c = SimConfig::default();
        s.apply(&mut c);
        c
    };
    let s1 = preset(Scenario::S1);
    let s2 = preset(Scenario::S2);
    let with = |base: &SimConfig, f: &dyn Fn(&mut SimConfig)| {
        let mut c = base.clone();
        f(&mut c);
        c
    };
    // the namespace LAN: where timestamps, not the network, are the error (sim::stamps)
    let quiet = with(&s1, &|c| {
        c.delay_base = 2e-5;
        c.delay_exp = 2e-6;
    });
    use ntpkit::sim::stamps::StampKind;
    // 2026-07-01 00:00:00 UTC, a leap second's end of month, 20000 s into the run
    let leap_end_of_june: i64 = 1_782_864_000;
    vec![
        (
            "S1",
            "LAN: delay 1e-4+1e-4*Exp, +10 ppm, wander 1e-8",
            s1.clone(),
        ),
        ("S2", "WAN: delay 1e-2+1e-3*Exp", s2.clone()),
        ("S3", "S1, +0.1 s at start", preset(Scenario::S3)),
        (
            "S4",
            "S1, 3 servers, one a falseticker (+50 ms)",
            preset(Scenario::S4),
        ),
        ("S5", "S1, 3600 s outage at 10000 s", preset(Scenario::S5)),
        (
            "wander-1e-9",
            "S1, wander 1e-9",
            with(&s1, &|c| c.wander = 1e-9),
        ),
        (
            "wander-x10",
            "S1, wander 1e-7 (x10)",
            with(&s1, &|c| c.wander = 1e-7),
        ),
        (
            "wander-x0.01",
            "S1, wander 1e-10 (x0.01)",
            with(&s1, &|c| c.wander = 1e-10),
        ),
        (
            "asym-jitter",
            "S1, reply path 10x noisier (1e-3*Exp)",
            with(&s1, &|c| c.delay_exp_reply = Some(1e-3)),
        ),
        (
            "temperature",
            "S1, frequency cycles 0.3 ppm, period 6 h",
            with(&s1, &|c| c.temperature = Some((0.3, 21_600.0))),
        ),
        (
            "congested",
            "LAN, Pareto(1.5) delays, mean 10x base",
            with(&s1, &|c| {
                c.delay_exp = 9e-4;
                c.delay_tail = Some(1.5);
            }),
        ),
        (
            "far-off",
            "S2, -200 ppm and +50 ms at start",
            with(&s2, &|c| {
                c.freq_ppm = -200.0;
                c.offset = 0.05;
            }),
        ),
        (
            "loss-bursts",
            "S1, 2% of packets start a burst of ~8 lost",
            with(&s1, &|c| c.loss_bursts = Some((0.02, 8.0))),
        ),
        (
            "route-change",
            "S1, base delay +1 ms at 10000 s, -1 ms at 25000 s",
            with(&s1, &|c| {
                c.route_changes = vec![(10_000.0, 1e-3), (25_000.0, -1e-3)];
            }),
        ),
        (
            "server-steps",
            "S1, 3 servers, server 1 steps +0.5 s at 15000 s",
            with(&s1, &|c| {
                c.servers = 3;
                c.server_faults = vec![(1, 15_000.0, ntpkit::sim::ServerFault::Step(0.5))];
            }),
        ),
        (
            "quiet-lan",
            "LAN at the kernel's limit: delay 2e-5+2e-6*Exp, exact stamps",
            quiet.clone(),
        ),
        (
            "stamps-user",
            "quiet-lan, user-space timestamps both sides",
            with(&quiet, &|c| {
                c.client_stamps = Some(StampKind::User);
                c.server_stamps = Some(StampKind::User);
            }),
        ),
        (
            "stamps-kernel",
            "quiet-lan, kernel software timestamps both sides",
            with(&quiet, &|c| {
                c.client_stamps = Some(StampKind::Kernel);
                c.server_stamps = Some(StampKind::Kernel);
            }),
        ),
        (
            "stamps-hw",
            "quiet-lan, hardware timestamps both sides",
            with(&quiet, &|c| {
                c.client_stamps = Some(StampKind::Hardware);
                c.server_stamps = Some(StampKind::Hardware);
            }),
        ),
        (
            "leap-second",
            "S1, servers announce a leap inserted at 20000 s",
            with(&s1, &|c| {
                c.start_unix = leap_end_of_june - 20_000;
                c.server_leap = Leap::Insert;
                c.leap_at = Some(20_000.0);
            }),
        ),
        // chronyd's and NTPsec's servers in basic mode (issue 19's open gap): every
        // sample's reply leg carries the server's send latency, so its offset reads early
        (
            "user-tx",
            "quiet-lan, kernel-stamped client, server: kernel rx, user-space tx stamps",
            with(&quiet, &|c| {
                c.client_stamps = Some(StampKind::Kernel);
                c.server_stamps = Some(StampKind::UserTx);
            }),
        ),
        // the same at bench/xleave.sh's poll (8 s), where its figures compare with the
        // benchmark's disciplined ones
        (
            "user-tx-poll3",
            "user-tx polled every 8 s (minpoll = maxpoll = 3), as bench/xleave.sh",
            with(&quiet, &|c| {
                c.client_stamps = Some(StampKind::Kernel);
                c.server_stamps = Some(StampKind::UserTx);
                c.minpoll = 3;
                c.maxpoll = 3;
            }),
        ),
    ]
}

type Row = (&'static str, &'static str, SimConfig);

/// One line per row, seeds 1-10 each. With `means`, a line of each row's mean offsets
/// follows it (the bias a row's median RMS hides: `--matrix --row NAME`).
fn print_matrix(rows: Vec<Row>, duration: f64, means: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<13} {:>15} {:>17} {:>13} {:>11} {:>9}  (median/worst of seeds 1-10, {} s)",
        "", "rms_us", "max_us", "settle_s", "packets", "drift_ppm", duration
    );
    for (name, describe, base) in rows {
        let results: Vec<SimResult> = (1..=10)
            .map(|seed| {
                let mut c = base.clone();
                c.seed = seed;
                c.duration = duration;
                run(&c)
            })
            .collect();
        let col = |f: &dyn Fn(&SimResult) -> f64| {
            let v: Vec<f64> = results.iter().map(f).collect();
            (
                median(v.clone()),
                v.into_iter().fold(f64::NEG_INFINITY, f64::max),
            )
        };
        let rms = col(&|r| r.rms_offset_us);
        let max = col(&|r| r.max_abs_offset_us);
        let settle = col(&|r| r.settle_1ms_s.unwrap_or(f64::INFINITY));
        let servers = base.servers.max(1) as f64;
        let packets = col(&|r| r.packets_sent as f64 / servers);
        let freq = col(&|r| r.max_freq_error_ppm);
        let _ = writeln!(
            out,
            "{:<13} {:>7.1}/{:<7.1} {:>8.1}/{:<8.1} {:>6.0}/{:<6.0} {:>5.0}/{:<5.0} {:>9.2}  {}",
            name,
            rms.0,
            rms.1,
            max.0,
            max.1,
            settle.0,
            settle.1,
            packets.0,
            packets.1,
            freq.1,
            describe
        );
        if means {
            let v: Vec<f64> = results.iter().map(|r| r.mean_offset_us).collect();
            let each: Vec<String> = v.iter().map(|x| format!("{x:.2}")).collect();
            let _ = writeln!(
                out,
                "{:<13} mean offset us: median {:.2}, seeds 1-10: {}",
                "",
                median(v),
                each.join(" ")
            );
        }
    }
    out
}

/// `--replay FILE`: one line per sample (time, offset, delay, the estimate after it, the
/// asymmetry in use, the estimate's standard deviation and the wander assumed; µs but the
/// time, the asymmetry and the wander) and a summary of the estimates after the warm-up.
fn replay(m: &clap::ArgMatches, path: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow!("{path}: {e}"))?;
    let mut samples = ntpkit::sim::recorded::parse(&text).map_err(|e| anyhow!("{path}: {e}"))?;
    let first = samples
        .first()
        .ok_or_else(|| anyhow!("{path}: no samples"))?
        .time;
    // engine time, as the daemon's: seconds since the first sample
    for s in &mut samples {
        s.time -= first;
    }
    let config = ntpkit::engine::EngineConfig {
        precision: m
            .get_one::<i8>("replay-precision")
            .copied()
            .unwrap_or_else(ntpkit::daemon::status::measure_precision),
        ..Default::default()
    };
    let warmup = m.get_one::<f64>("replay-warmup").copied().unwrap_or(60.0);
    let mut out =
        String::from("# time offset_us delay_us estimate_us asymmetry estimate_sd_us wander\n");
    let mut kept = Vec::new();
    for r in ntpkit::engine::replay::replay(&samples, &config) {
        let s = r.sample;
        out += &format!(
            "{:.3} {:.3} {:.3} {:.3} {:.3} {:.3} {:.1e}\n",
            s.time + first,
            s.offset * 1e6,
            s.delay * 1e6,
            r.estimate * 1e6,
            r.asymmetry,
            r.offset_sd * 1e6,
            r.wander
        );
        if s.time >= warmup {
            kept.push(r.estimate.abs() * 1e6);
        }
    }
    if kept.is_empty() {
        out += &format!("# no estimate after the {warmup} s warm-up\n");
    } else {
        let n = kept.len();
        let rms = (kept.iter().map(|x| x * x).sum::<f64>() / n as f64).sqrt();
        let median = median(kept);
        out += &format!(
            "# after {warmup} s: median |estimate| {median:.2} us, RMS {rms:.2} us, n {n}\n"
        );
    }
    Ok(out)
}

fn main() {
    let m = command().get_matches();
    if let Some(path) = m.get_one::<String>("replay") {
        match replay(&m, path) {
            Ok(text) => emit(&text),
            Err(e) => {
                eprintln!("ntpsim: {e:#}");
                std::process::exit(2);
            }
        }
        return;
    }
    let c = match config(&m) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ntpsim: {e:#}");
            std::process::exit(2);
        }
    };
    if m.get_flag("matrix") {
        let text = match m.get_one::<String>("row") {
            // the row as `config` built it: explicit flags (--minpoll…) apply, seeds 1-10
            Some(name) => {
                let (name, describe, _) = matrix_rows()
                    .into_iter()
                    .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
                    .expect("config found the row");
                print_matrix(vec![(name, describe, c.clone())], c.duration, true)
            }
            None => print_matrix(matrix_rows(), c.duration, false),
        };
        emit(&text);
        return;
    }
    if m.get_flag("table") {
        emit(&print_table(&c));
        return;
    }
    let r = match m.get_one::<String>("loopstats") {
        None => run(&c),
        Some(path) => {
            let mut lines = String::new();
            let r = ntpkit::sim::run_observed(&c, Default::default(), &mut |t, st| {
                lines.push_str(&ntpkit::daemon::stats::loopstats_line(
                    t,
                    st.offset,
                    st.frequency_ppm,
                    st.clk_jitter,
                    st.clk_wander,
                    st.tc,
                ))
            });
            if let Err(e) = std::fs::write(path, lines) {
                eprintln!("ntpsim: {path}: {e}");
                std::process::exit(1);
            }
            r
        }
    };
    if m.get_flag("json") {
        match serde_json::to_string_pretty(&r) {
            Ok(s) => emit(&format!("{s}\n")),
            Err(e) => {
                eprintln!("ntpsim: {e}");
                std::process::exit(1);
            }
        }
    } else {
        emit(&print_human(&c, &r));
    }
}
