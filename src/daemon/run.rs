//! The daemon's life: configuration, sockets, daemonising, privileges, the main loop (timers,
//! signals, packets the fast path hands over) and an orderly exit.

use std::net::UdpSocket;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::mpsc;

use super::client;
use super::core::{Core, KeDone, Preloaded, Resolved};
use super::listen::{self, Listener};
use super::log;
use super::mru::Mru;
use super::process::{self, PidFile, StartupPipe};
use super::server::{self, Handoff, Round, Shared};
use super::settings::{Options, Settings};
use super::status::{measure_precision, SystemStatus};
use crate::clock::{ClockError, KernelClock, ObserveOnlyClock, SyncStatus, SystemClock};

/// Exit codes: 0 clean exit, 1 start-up failure (config, sockets, privileges).
pub const EXIT_FAILURE: i32 = 1;

/// Packets the fast path may queue for the main loop before it drops them.
const HANDOFF_QUEUE: usize = 1024;

/// Run the daemon with already-loaded settings. Returns the process exit code.
pub fn run(opts: Options, settings: Settings) -> i32 {
    let precision = measure_precision();
    let per_addr = if opts.single_thread {
        1
    } else {
        worker_count(&opts)
    };
    let bound = listen::plan(&opts, &settings)
        .and_then(|plan| listen::bind_all(&plan, per_addr, &mut listen::Kernel));
    let (listeners, drops) = match bound {
        Ok(l) => l,
        Err(e) => {
            log::error(&e);
            if !opts.foreground {
                eprintln!("ntpd: {e}");
            }
            return EXIT_FAILURE;
        }
    };
    let metrics_sock = match settings.config.metrics.as_ref().map(super::metrics::bind) {
        Some(Err(e)) => {
            let listen = settings.config.metrics.as_ref().map(|m| m.addr);
            let msg = format!(
                "metrics {}: {e}",
                listen.map(|a| a.to_string()).unwrap_or_default()
            );
            log::error(&msg);
            if !opts.foreground {
                eprintln!("ntpd: {msg}");
            }
            return EXIT_FAILURE;
        }
        Some(Ok(s)) => Some(s),
        None => None,
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
    let fail = |startup: &mut StartupPipe, msg: String| {
        log::error(&msg);
        startup.failed(&format!("ntpd: {msg}"));
        EXIT_FAILURE
    };
    // ntp.org's order: priority, pidfile and files as root, chroot, then setuid
    if let Some(p) = opts.priority {
        super::privilege::raise_priority(p);
    }
    let clock = choose_clock(super::settings::asked_observe_only(&opts, &settings));
    let ids = match opts.user.as_deref().map(|u| (u, process::lookup_ids(u))) {
        Some((u, Err(e))) => return fail(&mut startup, format!("-u {u}: {e}")),
        Some((_, Ok(ids))) => Some(ids),
        None => None,
    };
    let pidfile_path = opts.pidfile.clone().or_else(|| settings.pidfile.clone());
    let _pidfile = match pidfile_path.as_deref().map(PidFile::create) {
        Some(Err(e)) => {
            return fail(
                &mut startup,
                format!(
                    "pidfile {}: {e}",
                    pidfile_path.unwrap_or_default().display()
                ),
            )
        }
        Some(Ok(p)) => Some(p),
        None => None,
    };
    // keys files are often readable by root only (CentOS's /etc/ntp/keys is 0600)
    let preloaded = Preloaded::read(&settings);
    // `nts enable`: certificate, key and cookie keys are read (and the port bound) as root
    let nts = match settings
        .config
        .nts
        .enabled
        .then(|| super::nts_server::ke::Prepared::new(&settings.config.nts, unix_now()))
    {
        Some(Err(e)) => return fail(&mut startup, e.to_string()),
        Some(Ok(p)) => Some(p),
        None => None,
    };
    if let Some(ids) = ids {
        super::privilege::hand_over_files(
            settings.driftfile.as_deref(),
            stats_dir(&settings).as_deref(),
            ids,
        );
    }
    if let Some(dir) = &opts.jaildir {
        if let Err(e) = super::privilege::chroot(dir) {
            return fail(&mut startup, e);
        }
        log::info(&format!("chroot to {}", dir.display()));
    }
    if let (Some(ids), Some(user)) = (ids, &opts.user) {
        if let Err(e) = process::drop_privileges(ids, !clock.observe_only) {
            return fail(&mut startup, format!("-u {user}: {e}"));
        }
        log::info(&format!("switched to uid {} gid {}", ids.uid, ids.gid));
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&mut startup, format!("cannot start the runtime: {e}")),
    };
    let shards = if opts.single_thread {
        listeners.len()
    } else {
        listeners.len() * worker_count(&opts)
    };
    let per_shard_bytes = settings.mru_bytes / shards.max(1);
    let shared = Arc::new(Shared {
        status: RwLock::new(SystemStatus::unsynchronised(precision)),
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
        nts_server: nts.as_ref().map(|p| p.server.clone()),
        // as many remembered replies as the MRU list has sources (chronyd's
        // clientloglimit covers both), sharded like it
        xleave: Some(super::xleave::ServerTable::new(
            settings.mru_bytes / super::mru::ENTRY_COST,
            shards,
        )),
    });
    if let Some(p) = nts {
        let _guard = runtime.enter();
        if let Err(e) = p.spawn() {
            return fail(&mut startup, format!("NTS-KE server: {e}"));
        }
    }
    let code = runtime.block_on(main_loop(
        &opts,
        &settings,
        &listeners,
        &drops,
        shared,
        (clock, preloaded, metrics_sock),
        &mut startup,
    ));
    drop(runtime);
    code
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

/// The clock the daemon disciplines: observe-only with `--observe-only` or `disable ntp`;
/// otherwise the kernel clock,
/// unless the first write (marking the clock unsynchronised until our first update, as
/// ntp.org's ntpd does) is refused, in which case we warn and observe only.
pub struct ChosenClock {
    pub clock: Box<dyn SystemClock + Send>,
    pub observe_only: bool,
}

impl ChosenClock {
    pub fn observe() -> ChosenClock {
        ChosenClock {
            clock: Box::new(ObserveOnlyClock::new()),
            observe_only: true,
        }
    }
}

fn choose_clock(observe_only: bool) -> ChosenClock {
    let observe = ChosenClock::observe;
    if observe_only {
        log::notice(
            "observe-only (--observe-only or 'disable ntp'): the system clock will not be adjusted",
        );
        return observe();
    }
    let mut kernel = match KernelClock::new() {
        Ok(k) => k,
        Err(e) => {
            log::warn(&format!(
                "cannot use the kernel clock ({e}); observing only"
            ));
            return observe();
        }
    };
    // As ntp.org's ntpd at start: the kernel hears "unsynchronised, error unknown" (16 s,
    // the kernel's limit) until our first clock update, so adjtimex readers (ntpstat,
    // node_exporter's node_timex_*) never see a previous run's "synchronised" carried
    // over. It doubles as the trial write that tells whether we may adjust the clock.
    let trial = kernel.set_sync_status(SyncStatus {
        max_error: 16.0,
        est_error: 16.0,
        synchronized: false,
    });
    match trial {
        Ok(()) => ChosenClock {
            clock: Box::new(kernel),
            observe_only: false,
        },
        Err(ClockError::PermissionDenied) => {
            log::warn(
                "not permitted to adjust the system clock (no CAP_SYS_TIME): \
                 continuing in observe-only mode, as with --observe-only",
            );
            observe()
        }
        Err(e) => {
            log::warn(&format!(
                "the kernel clock refused an adjustment ({e}); observing only"
            ));
            observe()
        }
    }
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
    use tokio::signal::unix::{signal, SignalKind};
    // Bounded: a flood of mode 6 or stray packets is dropped, never queued without limit.
    let (handoff_tx, mut handoff_rx) = mpsc::channel::<Handoff>(HANDOFF_QUEUE);
    let sockets: Vec<Arc<UdpSocket>> = listeners.iter().flatten().map(|l| l.sock.clone()).collect();
    let mut threads = Vec::new();
    let mut local_tasks = Vec::new();
    let mut index = 0;
    for group in listeners {
        for l in group {
            let round = Round::new(index);
            if opts.single_thread {
                match serve_in_runtime(l.sock.clone(), shared.clone(), round, handoff_tx.clone()) {
                    Ok(t) => local_tasks.push(t),
                    Err(e) => {
                        let msg = format!("cannot serve on {}: {e}", l.label);
                        log::error(&msg);
                        startup.failed(&format!("ntpd: {msg}"));
                        return EXIT_FAILURE;
                    }
                }
            } else {
                let tx = handoff_tx.clone();
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
                    Ok(t) => threads.push(t),
                    Err(e) => {
                        let msg = format!("cannot start a server thread: {e}");
                        log::error(&msg);
                        startup.failed(&format!("ntpd: {msg}"));
                        shared.stop.store(true, Ordering::Relaxed);
                        return EXIT_FAILURE;
                    }
                }
            }
            index += 1;
        }
    }
    let (metrics_tx, mut metrics_rx) = super::metrics::channel();
    if let (Some(sock), Some(listen)) = (metrics_sock, settings.config.metrics.clone()) {
        let addr = listen.addr;
        match super::metrics::spawn(sock, listen, metrics_tx) {
            Ok(t) => {
                log::info(&format!("metrics on http://{addr}/metrics"));
                local_tasks.push(t);
            }
            Err(e) => log::warn(&format!("cannot serve metrics on {addr}: {e}")),
        }
    } else {
        drop(metrics_tx);
    }
    for l in drops {
        match drain(l.sock.clone()) {
            Ok(t) => local_tasks.push(t),
            Err(e) => log::warn(&format!("cannot drain {}: {e}", l.label)),
        }
    }
    let (mut term, mut int, mut hup) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        _ => {
            startup.failed("ntpd: cannot install signal handlers");
            return EXIT_FAILURE;
        }
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
    let mut client_rx = core.start_client();
    let (resolved_tx, mut resolved_rx) = mpsc::unbounded_channel::<Resolved>();
    let (ke_tx, mut ke_rx) = mpsc::unbounded_channel::<KeDone>();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let engine_timer = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(engine_timer);
    let exit = loop {
        if let Some(code) = core.exit {
            break code;
        }
        for (index, name, v4, v6) in core.due_names() {
            let tx = resolved_tx.clone();
            let blocking = core.blocking_dns;
            tokio::spawn(async move {
                let result = client::resolve(&name, v4, v6, blocking).await;
                let _ = tx.send(Resolved { index, result });
            });
        }
        // NTS key exchanges: TLS on their own tasks, the outcome comes back as a message
        for (slot, job) in core.due_key_exchanges() {
            let tx = ke_tx.clone();
            tokio::spawn(async move {
                let result = super::nts_ke::key_exchange(job).await;
                let _ = tx.send(KeDone { slot, result });
            });
        }
        tokio::select! {
            _ = term.recv() => { log::notice("ntpd exiting on signal 15 (SIGTERM)"); break 0; }
            _ = int.recv() => { log::notice("ntpd exiting on signal 2 (SIGINT)"); break 0; }
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
    };
    core.shutdown();
    shared.stop.store(true, Ordering::Relaxed);
    for t in local_tasks {
        t.abort();
    }
    for t in threads {
        let _ = t.join();
    }
    exit
}

/// `interface drop`: read and discard everything that arrives on `sock`.
fn drain(sock: Arc<UdpSocket>) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use tokio::io::unix::AsyncFd;
    sock.set_nonblocking(true)?;
    // SAFETY: the Arc keeps the socket (and so its descriptor) open for the AsyncFd's life.
    let fd = unsafe { AsyncFd::register(sock) }.map_err(std::io::Error::from)?;
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
    use tokio::io::unix::AsyncFd;
    sock.set_nonblocking(true)?;
    // SAFETY: the Arc keeps the socket (and so its descriptor) open for the AsyncFd's life.
    let fd = unsafe { AsyncFd::register(sock) }.map_err(std::io::Error::from)?;
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
