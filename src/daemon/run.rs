//! The daemon's life: configuration, sockets, daemonising, privileges, the main loop (timers,
//! signals, packets the fast path hands over) and an orderly exit.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::mpsc;

use super::chosen_clock::{choose_clock, ChosenClock};
use super::client;
use super::core::{Core, KeDone, Preloaded, Resolved};
use super::listen::{self, Listener};
use super::log;
use super::mru::Mru;
use super::process::{self, PidFile, StartupPipe};
use super::server::{self, Handoff, Round, Shared};
use super::settings::{Options, Settings};
use super::status::{measure_precision, ServerStatus};

/// Exit codes: 0 clean exit, 1 start-up failure (config, sockets, privileges).
pub const EXIT_FAILURE: i32 = 1;

/// Packets the fast path may queue for the main loop before it drops them.
const HANDOFF_QUEUE: usize = 1024;

/// Run the daemon with already-loaded settings. Returns the process exit code.
pub fn run(opts: Options, settings: Settings) -> i32 {
    let precision = measure_precision();
    let bound = match bind_sockets(&opts, &settings) {
        Ok(b) => b,
        Err(msg) => {
            log::error(&msg.to_string());
            if !opts.foreground {
                eprintln!("ntpd: {msg}");
            }
            return EXIT_FAILURE;
        }
    };
    let mut startup = if opts.foreground {
        StartupPipe::none()
    } else {
        match process::daemonize(opts.wait_sync) {
            Ok(p) => p,
            Err(e) => {
                log::error(&format!("cannot daemonise: {e}"));
                return EXIT_FAILURE;
            }
        }
    };
    match start_as_root(&opts, &settings, precision, bound, &mut startup) {
        Ok(code) => code,
        Err(msg) => {
            log::error(&msg.to_string());
            startup.failed(&format!("ntpd: {msg}"));
            EXIT_FAILURE
        }
    }
}

/// The sockets bound before anything else: the NTP listeners (a group per address), the
/// `interface drop` ones, and the metrics endpoint's.
struct Bound {
    listeners: Vec<Vec<Listener>>,
    drops: Vec<Listener>,
    metrics: Option<std::net::TcpListener>,
}

fn bind_sockets(opts: &Options, settings: &Settings) -> anyhow::Result<Bound> {
    let per_addr = if opts.single_thread {
        1
    } else {
        worker_count(opts)
    };
    let (listeners, drops) = listen::plan(opts, settings)
        .and_then(|plan| listen::bind_all(&plan, per_addr, &mut listen::Kernel))?;
    let metrics = match settings.config.metrics.as_ref().map(super::metrics::bind) {
        Some(Err(e)) => {
            let listen = settings.config.metrics.as_ref().map(|m| m.addr);
            return Err(anyhow::anyhow!(
                "metrics {}: {e}",
                listen.map(|a| a.to_string()).unwrap_or_default()
            ));
        }
        Some(Ok(s)) => Some(s),
        None => None,
    };
    Ok(Bound {
        listeners,
        drops,
        metrics,
    })
}

/// What is done as root, in ntp.org's order (priority, pidfile and files as root, chroot,
/// then setuid), and then the runtime and the main loop. `Err`: the start-up failure to
/// log and report; `Ok`: the exit code.
fn start_as_root(
    opts: &Options,
    settings: &Settings,
    precision: i8,
    bound: Bound,
    startup: &mut StartupPipe,
) -> anyhow::Result<i32> {
    if let Some(p) = opts.priority {
        super::privilege::raise_priority(p);
    }
    let clock = choose_clock(super::settings::asked_observe_only(opts, settings));
    let ids = match opts.user.as_deref().map(|u| (u, process::lookup_ids(u))) {
        Some((u, Err(e))) => return Err(anyhow::anyhow!("-u {u}: {e}")),
        Some((_, Ok(ids))) => Some(ids),
        None => None,
    };
    let pidfile_path = opts.pidfile.clone().or_else(|| settings.pidfile.clone());
    let _pidfile = match pidfile_path.as_deref().map(PidFile::create) {
        Some(Err(e)) => {
            return Err(anyhow::anyhow!(
                "pidfile {}: {e}",
                pidfile_path.unwrap_or_default().display()
            ))
        }
        Some(Ok(p)) => Some(p),
        None => None,
    };
    // keys files are often readable by root only (CentOS's /etc/ntp/keys is 0600)
    let preloaded = Preloaded::read(settings);
    // `nts enable`: certificate, key and cookie keys are read (and the port bound) as root
    let nts = settings
        .config
        .nts
        .enabled
        .then(|| super::nts_server::ke::Prepared::new(&settings.config.nts, unix_now()))
        .transpose()?;
    give_up_root(opts, settings, ids, clock.observe_only)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the runtime: {e}"))?;
    let shared = shared_state(
        opts,
        settings,
        bound.listeners.len(),
        precision,
        nts.as_ref().map(|p| p.server.clone()),
    );
    if let Some(p) = nts {
        let _guard = runtime.enter();
        p.spawn()
            .map_err(|e| anyhow::anyhow!("NTS-KE server: {e}"))?;
    }
    let code = runtime.block_on(main_loop(
        opts,
        settings,
        &bound.listeners,
        &bound.drops,
        shared,
        (clock, preloaded, bound.metrics),
        startup,
    ));
    drop(runtime);
    Ok(code)
}

/// With `-u`: the files the daemon keeps writing change hands, `-i` chroots, and the user
/// and group change (keeping CAP_SYS_TIME when the clock is to be disciplined).
fn give_up_root(
    opts: &Options,
    settings: &Settings,
    ids: Option<process::Ids>,
    observe_only: bool,
) -> anyhow::Result<()> {
    if let Some(ids) = ids {
        super::privilege::hand_over_files(
            settings.driftfile.as_deref(),
            stats_dir(settings).as_deref(),
            ids,
        );
    }
    if let Some(dir) = &opts.jaildir {
        super::privilege::chroot(dir)?;
        log::info(&format!("chroot to {}", dir.display()));
    }
    if let (Some(ids), Some(user)) = (ids, &opts.user) {
        process::drop_privileges(ids, !observe_only)
            .map_err(|e| anyhow::anyhow!("-u {user}: {e}"))?;
        log::info(&format!("switched to uid {} gid {}", ids.uid, ids.gid));
    }
    Ok(())
}

/// What the server threads and the core share: the published status, the restrictions,
/// the MRU list (sharded, one shard per serving thread), counters, keys and the stop flag.
fn shared_state(
    opts: &Options,
    settings: &Settings,
    listener_groups: usize,
    precision: i8,
    nts_server: Option<Arc<super::nts_server::NtsServer>>,
) -> Arc<Shared> {
    let shards = if opts.single_thread {
        listener_groups
    } else {
        listener_groups * worker_count(opts)
    };
    let per_shard_bytes = settings.mru_bytes / shards.max(1);
    Arc::new(Shared {
        status: RwLock::new(ServerStatus::unsynchronised(precision)),
        access: RwLock::new(settings.access.clone()),
        mru_shards: (0..shards)
            .map(|_| {
                Arc::new(Mutex::new(Mru::with_memory(
                    per_shard_bytes,
                    settings.discard,
                )))
            })
            .collect(),
        monitor: settings.monitor,
        auth: RwLock::new(None),
        counters: Default::default(),
        stop: Default::default(),
        symmetric_peers: Default::default(),
        symmetric_seen: AtomicBool::new(
            settings
                .config
                .associations
                .iter()
                .any(|a| a.kind == crate::config::model::AssociationKind::Peer),
        ),
        nts_server,
        // as many remembered replies as the MRU list has sources (chronyd's
        // clientloglimit covers both), sharded like it
        xleave: Some(super::xleave::ServerTable::new(
            settings.mru_bytes / super::mru::ENTRY_COST,
            shards,
        )),
        sym_tx: Default::default(),
    })
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Where the statistics files go, when any are written (the default is Core's).
fn stats_dir(settings: &Settings) -> Option<std::path::PathBuf> {
    let any = settings.config.system.stats && settings.config.enabled_stats().next().is_some();
    any.then(|| {
        settings
            .statsdir
            .clone()
            .unwrap_or_else(|| std::path::PathBuf::from(super::core::DEFAULT_STATSDIR))
    })
}

fn worker_count(opts: &Options) -> usize {
    if opts.threads > 0 {
        return opts.threads;
    }
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(4)
}

async fn main_loop(
    opts: &Options,
    settings: &Settings,
    listeners: &[Vec<Listener>],
    drops: &[Listener],
    shared: Arc<Shared>,
    // what the loop takes over: the clock, files read before privileges were dropped, the
    // metrics socket bound then
    (clock, preloaded, metrics_sock): (ChosenClock, Preloaded, Option<std::net::TcpListener>),
    startup: &mut StartupPipe,
) -> i32 {
    // Bounded: a flood of mode 6 or stray packets is dropped, never queued without limit.
    let (handoff_tx, handoff_rx) = mpsc::channel::<Handoff>(HANDOFF_QUEUE);
    let sockets: Vec<Arc<UdpSocket>> = listeners.iter().flatten().map(|l| l.sock.clone()).collect();
    let mut servers = match start_servers(opts, listeners, &shared, &handoff_tx) {
        Ok(s) => s,
        Err(msg) => {
            log::error(&msg.to_string());
            startup.failed(&format!("ntpd: {msg}"));
            return EXIT_FAILURE;
        }
    };
    let metrics_rx = start_metrics(metrics_sock, settings, &mut servers.tasks);
    start_draining(drops, &mut servers.tasks);
    let Some(signals) = Signals::install() else {
        startup.failed("ntpd: cannot install signal handlers");
        return EXIT_FAILURE;
    };
    log::notice(&format!(
        "ntpd (ntpkit {}) serving on {} socket{}{}",
        env!("CARGO_PKG_VERSION"),
        sockets.len(),
        if sockets.len() == 1 { "" } else { "s" },
        if opts.single_thread {
            ", single-threaded"
        } else {
            ""
        }
    ));
    startup.ready();
    let mut core = Core::new(
        opts,
        settings.clone(),
        shared.clone(),
        sockets.clone(),
        clock,
        preloaded,
    );
    let client_rx = core.start_client();
    let inputs = Inputs {
        signals,
        handoff: handoff_rx,
        client: client_rx,
        metrics: metrics_rx,
    };
    let exit = run_events(&mut core, inputs, startup).await;
    core.shutdown();
    servers.stop(&shared);
    exit
}

/// The serving threads (or, single-threaded, tasks) and the other tasks the loop started.
struct Servers {
    /// Each worker with its socket, by which [`server::wake_worker`] ends its receive.
    threads: Vec<(std::thread::JoinHandle<()>, Arc<UdpSocket>)>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Servers {
    /// Orderly exit: the threads are woken, see the stop flag and are joined; the tasks
    /// are aborted.
    fn stop(self, shared: &Shared) {
        shared.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.abort();
        }
        for (_, sock) in &self.threads {
            server::wake_worker(sock);
        }
        for (t, _) in self.threads {
            let _ = t.join();
        }
    }
}

/// A fast path on every listening socket: a thread each, or a task on this runtime with
/// `--single-thread`. Packets it cannot answer itself go to `handoff`. `Err`: the message
/// for the log and the start-up pipe (what was started is stopped).
fn start_servers(
    opts: &Options,
    listeners: &[Vec<Listener>],
    shared: &Arc<Shared>,
    handoff: &mpsc::Sender<Handoff>,
) -> anyhow::Result<Servers> {
    let mut servers = Servers {
        threads: Vec::new(),
        tasks: Vec::new(),
    };
    for (index, l) in listeners.iter().flatten().enumerate() {
        let round = Round::new(index);
        if opts.single_thread {
            match serve_in_runtime(l.sock.clone(), shared.clone(), round, handoff.clone()) {
                Ok(t) => servers.tasks.push(t),
                Err(e) => return Err(anyhow::anyhow!("cannot serve on {}: {e}", l.label)),
            }
        } else {
            let tx = handoff.clone();
            let counters = shared.clone();
            match server::spawn_worker(
                format!("ntpd-serve{index}"),
                l.sock.clone(),
                shared.clone(),
                round,
                move |h| {
                    if tx.try_send(h).is_err() {
                        server::count_dropped_handoff(&counters);
                    }
                },
            ) {
                Ok(t) => servers.threads.push((t, l.sock.clone())),
                Err(e) => {
                    shared.stop.store(true, Ordering::Relaxed);
                    return Err(anyhow::anyhow!("cannot start a server thread: {e}"));
                }
            }
        }
    }
    Ok(servers)
}

/// The `/metrics` endpoint on the socket bound at start, if configured: the receiver of
/// its requests for a snapshot (closed when there is no endpoint).
fn start_metrics(
    sock: Option<std::net::TcpListener>,
    settings: &Settings,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> mpsc::Receiver<super::metrics::Ask> {
    let (metrics_tx, metrics_rx) = super::metrics::channel();
    if let (Some(sock), Some(listen)) = (sock, settings.config.metrics.clone()) {
        let addr = listen.addr;
        match super::metrics::spawn(sock, listen, metrics_tx) {
            Ok(t) => {
                log::info(&format!("metrics on http://{addr}/metrics"));
                tasks.push(t);
            }
            Err(e) => log::warn(&format!("cannot serve metrics on {addr}: {e}")),
        }
    }
    metrics_rx
}

/// `interface drop` sockets: a task each that reads and discards.
fn start_draining(drops: &[Listener], tasks: &mut Vec<tokio::task::JoinHandle<()>>) {
    for l in drops {
        match drain(l.sock.clone()) {
            Ok(t) => tasks.push(t),
            Err(e) => log::warn(&format!("cannot drain {}: {e}", l.label)),
        }
    }
}

/// SIGTERM and SIGINT end the daemon; SIGHUP reopens the log file.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Option<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Some(Signals {
            term: signal(SignalKind::terminate()).ok()?,
            int: signal(SignalKind::interrupt()).ok()?,
            hup: signal(SignalKind::hangup()).ok()?,
        })
    }
}

/// What the main loop waits on besides its timers.
struct Inputs {
    signals: Signals,
    /// Packets the fast path hands over.
    handoff: mpsc::Receiver<Handoff>,
    /// Replies on the client sockets (none without network associations).
    client: Option<mpsc::Receiver<client::Reply>>,
    metrics: mpsc::Receiver<super::metrics::Ask>,
}

/// The main loop: every event goes to the core until a signal or the core itself (`-q`
/// done, panic) ends it. Returns the exit code.
async fn run_events(core: &mut Core, mut inputs: Inputs, startup: &mut StartupPipe) -> i32 {
    let (resolved_tx, mut resolved_rx) = mpsc::unbounded_channel::<Resolved>();
    let (ke_tx, mut ke_rx) = mpsc::unbounded_channel::<KeDone>();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let engine_timer = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(engine_timer);
    let Inputs {
        signals: Signals { term, int, hup },
        handoff: handoff_rx,
        client: client_rx,
        metrics: metrics_rx,
    } = &mut inputs;
    loop {
        if let Some(code) = core.exit {
            return code;
        }
        spawn_due_work(core, &resolved_tx, &ke_tx);
        tokio::select! {
            _ = term.recv() => { log::notice("ntpd exiting on signal 15 (SIGTERM)"); return 0; }
            _ = int.recv() => { log::notice("ntpd exiting on signal 2 (SIGINT)"); return 0; }
            _ = hup.recv() => { log::reopen(); log::notice("SIGHUP: log file reopened"); }
            Some(h) = handoff_rx.recv() => core.handoff(h),
            Some(r) = async { match client_rx.as_mut() { Some(rx) => rx.recv().await, None => std::future::pending().await } } => core.client_reply(r),
            Some(r) = resolved_rx.recv() => core.resolved(r),
            Some(ask) = metrics_rx.recv() => { let _ = ask.send(core.metrics_view()); }
            Some(d) = ke_rx.recv() => core.key_exchange_done(d),
            _ = &mut engine_timer => {
                core.engine_timer();
                engine_timer.as_mut().reset(tokio::time::Instant::now() + core.engine_delay());
            }
            _ = tick.tick() => core.tick(),
        }
        if startup.awaiting_sync() && core.synchronized() {
            startup.synced();
        }
        // a packet may have moved the engine's next wake-up earlier
        let due = tokio::time::Instant::now() + core.engine_delay();
        if due < engine_timer.deadline() {
            engine_timer.as_mut().reset(due);
        }
    }
}

/// Start what the core wants done off the loop: name resolutions and NTS key exchanges
/// (TLS), each on its own task; the outcome comes back as a message.
fn spawn_due_work(
    core: &mut Core,
    resolved: &mpsc::UnboundedSender<Resolved>,
    ke: &mpsc::UnboundedSender<KeDone>,
) {
    for (index, name, v4, v6) in core.due_names() {
        let tx = resolved.clone();
        let blocking = core.blocking_dns;
        tokio::spawn(async move {
            let result = client::resolve(&name, v4, v6, blocking).await;
            let _ = tx.send(Resolved { index, result });
        });
    }
    for (slot, job) in core.due_key_exchanges() {
        let tx = ke.clone();
        tokio::spawn(async move {
            let result = super::nts_ke::key_exchange(job).await;
            let _ = tx.send(KeDone { slot, result });
        });
    }
}

/// `interface drop`: read and discard everything that arrives on `sock`.
fn drain(sock: Arc<UdpSocket>) -> std::io::Result<tokio::task::JoinHandle<()>> {
    sock.set_nonblocking(true)?;
    let fd = crate::sys::socket::register_async(sock)?;
    Ok(tokio::spawn(async move {
        let mut buf = [0u8; 64];
        loop {
            let Ok(mut guard) = fd.readable().await else {
                return;
            };
            // read until the queue is empty: an error such as ECONNREFUSED (an ICMP
            // report for an earlier send, returned once) does not mean it is; a run of
            // errors does not keep the task spinning
            let mut errors = 0;
            while errors < 16 {
                match guard.get_inner().recv_from(&mut buf) {
                    Ok(_) => errors = 0,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => errors += 1,
                }
            }
            guard.clear_ready();
        }
    }))
}

/// `--single-thread`: serve a socket from the current-thread runtime.
fn serve_in_runtime(
    sock: Arc<UdpSocket>,
    shared: Arc<Shared>,
    mut round: Round,
    handoff: mpsc::Sender<Handoff>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use std::os::fd::AsRawFd;
    sock.set_nonblocking(true)?;
    let fd = crate::sys::socket::register_async(sock)?;
    Ok(tokio::spawn(async move {
        loop {
            let Ok(mut guard) = fd.readable().await else {
                return;
            };
            let raw = guard.get_inner().as_raw_fd();
            let mut send = |h| {
                if handoff.try_send(h).is_err() {
                    server::count_dropped_handoff(&shared);
                }
            };
            match guard.try_io(|_| round.run_counted(raw, &shared, false, &mut send)) {
                Ok(Ok(_)) | Err(_) => {}
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => {
                    log::error(&format!("server socket: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }))
}
