//! `ntpkit exporter`: ntpd's `/metrics` for any daemon that speaks mode 6 (ntp.org,
//! NTPsec, ours), read over mode 6 on each scrape, so one exporter serves a mixed fleet.
//! Every sample carries the daemon in a `target` label; `/metrics?target=HOST` reads just
//! one of the configured targets (never an address the request names on its own).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Arg, ArgAction, Command};

use crate::config::MetricsListen;
use crate::control::client::{Client, Signer};
use crate::metrics::http::{self, Request, Response};
use crate::metrics::{collect, Mode6, ReadError, Writer};
use crate::wire::control::VarList;

pub fn command() -> Command {
    Command::new("exporter")
        .about("serve OpenMetrics for NTP daemons read over mode 6 (ntp.org, NTPsec, ntpkit)")
        .long_about(
            "Serve http://LISTEN/metrics: for each scrape, read every TARGET over the mode 6 \
             control protocol (as ntpq does) and write the metrics ntpkit's ntpd serves itself \
             (docs/metrics.md), each labelled target=\"TARGET\", plus ntp_exporter_up. A \
             LISTEN address that is not loopback needs --allow.",
        )
        .arg(
            Arg::new("listen")
                .long("listen")
                .value_name("ADDR:PORT")
                .default_value("127.0.0.1:9976")
                .help("where to serve /metrics"),
        )
        .arg(
            Arg::new("allow")
                .long("allow")
                .value_name("PREFIX")
                .action(ArgAction::Append)
                .help("also let clients in ADDR[/LEN] scrape (loopback always may)"),
        )
        .arg(
            Arg::new("keyid")
                .short('a')
                .long("keyid")
                .value_name("KEYID")
                .value_parser(clap::value_parser!(u32))
                .requires("keyfile")
                .help("sign every mode 6 request with this key (restrict noquery lifted for it)"),
        )
        .arg(
            Arg::new("keyfile")
                .short('k')
                .long("keyfile")
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .requires("keyid")
                .help("the ntp.keys(5) file holding KEYID"),
        )
        .arg(
            Arg::new("timeout")
                .long("timeout")
                .value_name("DURATION")
                .value_parser(answer_timeout)
                .default_value("1s")
                .help("how long to wait for each mode 6 answer (10ms to 60s; a plain number is milliseconds)"),
        )
        .arg(
            Arg::new("targets")
                .value_name("TARGET")
                .num_args(1..)
                .required(true)
                .help("daemons to read: HOST, HOST:PORT or [V6]:PORT"),
        )
}

/// One daemon as the exporter reads it.
struct Target {
    name: String,
    addr: SocketAddr,
}

struct Remote(Client);

impl Mode6 for Remote {
    fn associations(&mut self) -> Result<(u16, Vec<(u16, u16)>), ReadError> {
        let (st, list) = self.0.associations()?;
        Ok((
            st.encode(),
            list.into_iter()
                .map(|a| (a.id, a.status.encode()))
                .collect(),
        ))
    }
    fn read_vars(&mut self, assoc: u16, names: &[&str]) -> Result<VarList, ReadError> {
        Ok(self.0.read_vars(assoc, names)?.vars)
    }
}

struct Settings {
    targets: Vec<Target>,
    timeout: Duration,
    key: Option<(u32, PathBuf)>,
}

fn signer(key: &Option<(u32, PathBuf)>) -> Option<Signer> {
    let (id, path) = key.as_ref()?;
    crate::control::auth_glue::signer_from_keyfile(path, *id).ok()
}

/// Read one target: its snapshot, or why not.
fn scrape(t: &Target, s: &Settings) -> (anyhow::Result<crate::metrics::Snapshot>, f64) {
    let start = Instant::now();
    let result = Client::connect_addr(t.addr, s.timeout)
        .map_err(ReadError::from)
        .and_then(|mut c| {
            c.signer = signer(&s.key);
            c.always_auth = c.signer.is_some();
            collect(&mut Remote(c))
        })
        .map_err(anyhow::Error::from);
    (result, start.elapsed().as_secs_f64())
}

/// The exposition text for the chosen targets, read in parallel.
fn render(s: &Settings, only: Option<&str>, format: crate::metrics::Format) -> Option<String> {
    let chosen: Vec<&Target> = s
        .targets
        .iter()
        .filter(|t| only.is_none_or(|o| o == t.name))
        .collect();
    if chosen.is_empty() {
        return None;
    }
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = chosen
            .iter()
            .map(|t| scope.spawn(move || scrape(t, s)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| (Err(anyhow::anyhow!("panicked")), 0.0))
            })
            .collect()
    });
    let mut w = Writer::default();
    for (t, (result, took)) in chosen.iter().zip(&results) {
        let base = [("target", t.name.as_str())];
        let l = crate::metrics::text::labels(&base);
        w.gauge(
            "ntp_exporter_up",
            None,
            "1 when the target answered mode 6 in this scrape, else 0.",
            &l,
            Some(if result.is_ok() { 1.0 } else { 0.0 }),
        );
        w.gauge(
            "ntp_exporter_scrape_duration_seconds",
            Some("seconds"),
            "How long reading the target over mode 6 took.",
            &l,
            Some(*took),
        );
        match result {
            Ok(snap) => w.snapshot(snap, &base),
            Err(e) => eprintln!("exporter: {}: {e}", t.name),
        }
    }
    Some(w.finish(format))
}

fn target_query(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("target="))
        .map(|v| v.replace("%3A", ":").replace("%3a", ":"))
}

/// `--timeout`: 10 ms to 60 s, plain numbers in milliseconds as before.
fn answer_timeout(text: &str) -> anyhow::Result<Duration> {
    let d = super::duration::milliseconds(text)?;
    anyhow::ensure!(
        (Duration::from_millis(10)..=Duration::from_secs(60)).contains(&d),
        "{text} is not within 10ms to 60s"
    );
    Ok(d)
}

pub fn main(args: Vec<OsString>) -> i32 {
    let m = match super::matches_or_exit(command(), &args) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let listen_text = m.get_one::<String>("listen").expect("default");
    let Ok(addr) = listen_text.parse::<SocketAddr>() else {
        eprintln!("exporter: --listen {listen_text}: expected ADDR:PORT");
        return 2;
    };
    let mut allow = Vec::new();
    for a in m.get_many::<String>("allow").into_iter().flatten() {
        match MetricsListen::parse_prefix(a) {
            Some(p) => allow.push(p),
            None => {
                eprintln!("exporter: --allow {a}: expected ADDR or ADDR/LEN");
                return 2;
            }
        }
    }
    if !addr.ip().is_loopback() && allow.is_empty() {
        eprintln!("exporter: --listen {addr} is not a loopback address: name who may scrape with --allow PREFIX");
        return 2;
    }
    let listen = MetricsListen { addr, allow };
    let key = match (m.get_one::<u32>("keyid"), m.get_one::<PathBuf>("keyfile")) {
        (Some(&id), Some(path)) => {
            // fail at start, not on every scrape
            if let Err(e) = crate::control::auth_glue::signer_from_keyfile(path, id) {
                eprintln!("exporter: {e}");
                return 2;
            }
            Some((id, path.clone()))
        }
        _ => None,
    };
    let mut targets = Vec::new();
    for t in m.get_many::<String>("targets").into_iter().flatten() {
        match crate::control::client::resolve(t, crate::control::client::Family::Any) {
            Ok(a) if !a.is_empty() => targets.push(Target {
                name: t.clone(),
                addr: a[0],
            }),
            Ok(_) => {
                eprintln!("exporter: {t}: no address");
                return 2;
            }
            Err(e) => {
                eprintln!("exporter: {t}: {e}");
                return 2;
            }
        }
    }
    let settings = Arc::new(Settings {
        targets,
        timeout: *m.get_one::<Duration>("timeout").expect("default"),
        key,
    });
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("exporter: cannot start the runtime: {e}");
            return 1;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(listen.addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("exporter: --listen {}: {e}", listen.addr);
                return 1;
            }
        };
        eprintln!("exporter: serving http://{}/metrics", listen.addr);
        let handler = move |req: Request| {
            let settings = settings.clone();
            async move {
                let only = target_query(req.query.as_deref());
                let format = req.format;
                let body =
                    tokio::task::spawn_blocking(move || render(&settings, only.as_deref(), format))
                        .await;
                match body {
                    Ok(Some(body)) => Response {
                        status: 200,
                        content_type: format.content_type().into(),
                        body,
                    },
                    Ok(None) => Response::text(404, "no such target configured\n"),
                    Err(_) => Response::text(503, "scrape failed\n"),
                }
            }
        };
        tokio::select! {
            _ = http::serve(listener, move |ip| listen.permits(ip), handler) => 0,
            _ = tokio::signal::ctrl_c() => 0,
        }
    })
}
