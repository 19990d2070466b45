//! The daemon's state between events: the engine and its associations, the clock it
//! commands, what the server publishes, the mode 6 responder, names still to resolve, and
//! the stats files. The main loop calls in on every timer, packet and signal; the engine
//! decides, this module carries the decisions out.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::client::{self, ClientNet, Reply};
use super::log;
use super::netio::{self, now_ntp};
use super::run::ChosenClock;
use super::server::{Handoff, HandoffKind, Shared};
use super::settings::{Options, Settings};
use super::stats::{self, StatsFile};
use super::status::SystemStatus;
use super::view::{self, DaemonView, Discipline, PeerView};
use crate::clock::ClockError;
use crate::config::{AddressFamily, Association, AssociationKind, RestrictFlags, Target};
use crate::control::server::Responder;
use crate::engine::Engine;
use crate::engine::{
    apply_clock_command, Action, AssocId, EngineEvent, PeerEvent, SourceConfig, SourceKind,
    SystemEvent,
};
use crate::wire::auth::KeyStore;
use crate::wire::control::{peer_flags, PeerStatus};
use crate::wire::message::Packet;
use crate::wire::packet::{Leap, RefId};
use crate::wire::time::{NtpTimestamp, UnixTime};

/// The drift file is rewritten this often while synchronised (ntpd: hourly).
const DRIFT_WRITE_SECS: u64 = 3600;
/// A sysstats line is written this often (ntpd: hourly).
const SYSSTATS_SECS: u64 = 3600;
/// At most this many ephemeral passive associations at once (a bound on what
/// authenticated strangers can make us keep).
const MAX_EPHEMERAL: usize = 8;
/// How often (s) associations without a route retry finding their local address.
const LOCAL_ADDRESS_RETRY_SECS: u64 = 16;
/// Failed key exchanges before an NTS pool member gives its place to another address.
const POOL_KE_ATTEMPTS: u32 = 3;
/// Polls without an answer before an ephemeral association is dropped (ntpd NTP_UNREACH).
const EPHEMERAL_UNREACH: u32 = 10;

struct AssocInfo {
    addr: SocketAddr,
    /// A `peer` line: its packets leave from port 123, as ntpd's and chronyd's do.
    symmetric: bool,
    /// The engine polls this peer in client mode (it drops mode 1), as last logged.
    client_fallback: bool,
    /// Mobilised by an authenticated mode 1 packet (no config line); dropped when silent.
    ephemeral: bool,
    key: Option<u32>,
    srchost: Option<String>,
    authentic: bool,
    /// Our address on the route to the association (`dstadr`), learnt when mobilised.
    local: Option<IpAddr>,
    /// The `pool` line (index into `Core::pending`) this member came from.
    pool: Option<usize>,
    /// The last send failed (warned once, until a send succeeds again).
    send_failed: bool,
    /// An NTS association: its slot in `Core::nts`. Every reply goes through it.
    nts: Option<usize>,
    /// Kernel transmit timestamps and interleaved mode (`server … xleave`).
    xleave: super::xleave::ClientState,
}

/// One NTS association, from its configuration line to its session: it is mobilised in
/// the engine only after its first key exchange (which names the NTP server), and keeps
/// its slot when it needs another.
struct NtsSlot {
    assoc: Association,
    /// The name (or address) the certificate must be for.
    name: String,
    /// For pool members: the address to connect to (the name is the pool's).
    connect: Option<IpAddr>,
    port: u16,
    tls: Arc<rustls::ClientConfig>,
    aead: Vec<crate::wire::nts::aead::Aead>,
    pool: Option<usize>,
    id: Option<AssocId>,
    session: Option<super::nts_client::NtsSession>,
    attempts: u32,
    next_try: u64,
    in_flight: bool,
    /// A failed reply was logged at warning level (again only after a good one).
    bad_logged: bool,
}

/// A finished NTS key exchange, sent back to the main loop.
pub struct KeDone {
    pub slot: usize,
    pub result: Result<super::nts_ke::KeOutcome, String>,
}

/// Which of our bound sockets (by local address) a symmetric packet to `peer` leaves from:
/// the port-123 socket bound to the association's own local address, else the family's
/// port-123 wildcard. Never another interface's address: Linux refuses to send from
/// 127.0.0.1 to a LAN address (EINVAL).
fn symmetric_socket(
    bound: &[Option<SocketAddr>],
    local: Option<IpAddr>,
    peer: SocketAddr,
) -> Option<usize> {
    let port_123 = |want: &dyn Fn(IpAddr) -> bool| {
        bound.iter().position(|b| {
            b.is_some_and(|b| b.port() == 123 && b.is_ipv4() == peer.is_ipv4() && want(b.ip()))
        })
    };
    local
        .and_then(|l| port_123(&|ip| ip == l))
        .or_else(|| port_123(&|ip| ip.is_unspecified()))
}

/// A `server`/`pool` line whose name is not resolved yet.
pub struct PendingName {
    pub assoc: Association,
    pub name: String,
    attempts: u32,
    next_try: u64,
    in_flight: bool,
    /// For a `pool` line: the addresses it dropped as unreachable.
    pool: super::pool::PoolMemory,
}

/// A finished resolution, sent back to the main loop.
pub struct Resolved {
    pub index: usize,
    pub result: std::io::Result<Vec<IpAddr>>,
}

pub struct Core {
    pub settings: Settings,
    pub shared: Arc<Shared>,
    pub sockets: Vec<Arc<UdpSocket>>,
    responder: Responder,
    engine: Engine,
    clock: ChosenClock,
    client: Option<ClientNet>,
    assocs: HashMap<AssocId, AssocInfo>,
    by_addr: HashMap<IpAddr, AssocId>,
    pub pending: Vec<PendingName>,
    keys: KeyStore,
    /// Seconds since start (ticks).
    pub elapsed: u64,
    frequency_known: bool,
    last_reftime: NtpTimestamp,
    last_rec: HashMap<AssocId, NtpTimestamp>,
    loopstats: Option<StatsFile>,
    peerstats: Option<StatsFile>,
    rawstats: Option<StatsFile>,
    /// The sysstats file and the counters as of its last line.
    sysstats: Option<(StatsFile, super::sysstats::SysStats)>,
    once: bool,
    /// `--observe-only` or `disable ntp` (as opposed to observe-only forced by EPERM).
    asked_observe_only: bool,
    /// Set when the daemon must stop (-q done, panic): the exit code.
    pub exit: Option<i32>,
    families: (bool, bool),
    pub blocking_dns: bool,
    nts: Vec<NtsSlot>,
    /// `nts nocerttimecheck`, decided (and logged) with the first NTS association.
    nocerttimecheck: Option<bool>,
    /// Set at the first synchronisation: from then certificate times are checked.
    clock_synced: Arc<std::sync::atomic::AtomicBool>,
    nts_counters: super::nts_client::NtsClientCounters,
}

fn is_refclock(addr: SocketAddr) -> bool {
    matches!(addr.ip(), IpAddr::V4(a) if a.octets()[..2] == [127, 127])
}

fn random_secret() -> [u8; 16] {
    let mut b = [0u8; 16];
    let n = unsafe { libc::getrandom(b.as_mut_ptr() as *mut libc::c_void, b.len(), 0) };
    if n != b.len() as isize {
        let seed = now_ntp().0 ^ ((std::process::id() as u64) << 32);
        b[..8].copy_from_slice(&seed.to_le_bytes());
        b[8..].copy_from_slice(
            &seed
                .rotate_left(29)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .to_le_bytes(),
        );
    }
    b
}

fn load_keys(settings: &Settings) -> KeyStore {
    let Some(path) = &settings.config.keys_file else {
        return KeyStore::new();
    };
    match KeyStore::load(path) {
        Ok((k, diags)) => {
            for d in diags {
                log::warn(&d.to_string());
            }
            k
        }
        Err(e) => {
            // as ntpd: logged, and the daemon runs without symmetric keys
            let at = match &settings.config.keys_at {
                Some(at) => format!("{at}: "),
                None => String::new(),
            };
            log::error(&format!(
                "{at}error: keys {e}; running without symmetric keys"
            ));
            KeyStore::new()
        }
    }
}

/// Where statistics files go without a `statsdir` line or `-s`.
pub const DEFAULT_STATSDIR: &str = "/var/log/ntpstats";

/// What is read as root, before any chroot and before root is given up: the keys file
/// (often readable by root only) and the drift file, as ntpd reads both while configuring.
pub struct Preloaded {
    pub keys: KeyStore,
    /// The frequency from the drift file, PPM.
    pub drift: Option<f64>,
}

impl Preloaded {
    pub fn read(settings: &Settings) -> Preloaded {
        let drift = match settings
            .driftfile
            .as_deref()
            .map(crate::config::drift::read)
        {
            Some(Ok(Some(d))) => {
                log::info(&format!(
                    "frequency initialized {:.3} PPM from the drift file",
                    d.ppm
                ));
                Some(d.ppm)
            }
            Some(Err(e)) => {
                log::warn(&e.to_string());
                None
            }
            _ => None,
        };
        Preloaded {
            keys: load_keys(settings),
            drift,
        }
    }
}

impl Core {
    /// Whether the engine has a synchronised system peer (`-w` waits for this).
    pub fn synchronized(&self) -> bool {
        self.engine.system_status().synchronized
    }

    pub fn new(
        opts: &Options,
        settings: Settings,
        shared: Arc<Shared>,
        sockets: Vec<Arc<UdpSocket>>,
        clock: ChosenClock,
        preloaded: Preloaded,
    ) -> Core {
        let keys = preloaded.keys;
        if !keys.is_empty() {
            *shared.auth.write().unwrap_or_else(|e| e.into_inner()) =
                Some(Arc::new(super::auth::ServerAuth {
                    keys: keys.clone(),
                    trusted: settings.config.trusted_keys.clone(),
                }));
        }
        let drift = preloaded.drift;
        let precision = shared.status().precision;
        let mut engine_config =
            super::config_bridge::engine_config(opts, &settings, precision, drift);
        // the engine plans every command within what this clock accepts
        engine_config.clock_limits = clock.clock.limits();
        let engine = Engine::new(engine_config, now_ntp());
        let stats_dir = settings
            .statsdir
            .clone()
            .unwrap_or_else(|| std::path::PathBuf::from(DEFAULT_STATSDIR));
        let open_stats = |name: &str, on: bool| {
            let gen = settings
                .config
                .filegens
                .get(name)
                .cloned()
                .unwrap_or_default();
            on.then(|| StatsFile::new(&stats_dir, name, &gen))
        };
        let enabled = |name: &str| {
            settings.config.system.stats && settings.config.enabled_stats().any(|(n, _)| n == name)
        };
        let responder = Responder::new(keys.clone(), settings.config.control_key, random_secret());
        let mut core = Core {
            loopstats: open_stats("loopstats", settings.loopstats),
            peerstats: open_stats("peerstats", settings.peerstats),
            rawstats: open_stats("rawstats", enabled("rawstats")),
            sysstats: open_stats("sysstats", enabled("sysstats")).map(|f| (f, Default::default())),
            responder,
            engine,
            clock,
            client: None,
            assocs: HashMap::new(),
            by_addr: HashMap::new(),
            pending: Vec::new(),
            keys,
            elapsed: 0,
            frequency_known: drift.is_some(),
            last_reftime: NtpTimestamp::ZERO,
            last_rec: HashMap::new(),
            once: opts.once,
            asked_observe_only: super::settings::asked_observe_only(opts, &settings),
            exit: None,
            families: (opts.families.v4(), opts.families.v6()),
            blocking_dns: opts.single_thread,
            nts: Vec::new(),
            nocerttimecheck: None,
            clock_synced: Default::default(),
            nts_counters: Default::default(),
            settings,
            shared,
            sockets,
        };
        if !core.settings.config.hwtimestamp.is_empty() {
            super::txstamp::report_hwtimestamp(&core.settings.config.hwtimestamp);
        }
        if core.settings.rtcsync {
            log::info(
                "rtcsync: the kernel keeps the RTC in step (11-minute mode) while synchronised",
            );
        }
        core.mobilize_configured();
        core
    }

    /// The client sockets, started on the runtime (needs a runtime context).
    pub fn start_client(&mut self) -> Option<tokio::sync::mpsc::Receiver<Reply>> {
        let needs_net = self
            .settings
            .config
            .associations
            .iter()
            .any(|a| !matches!(a.target, Target::Refclock { .. }));
        if !needs_net {
            return None;
        }
        match ClientNet::start(self.families.0, self.families.1) {
            Ok((net, rx)) => {
                self.client = Some(net);
                Some(rx)
            }
            Err(e) => {
                log::error(&format!("cannot open a client socket: {e}"));
                None
            }
        }
    }

    fn mobilize_configured(&mut self) {
        let now = now_ntp();
        for a in self.settings.config.associations.clone() {
            match &a.target {
                Target::Refclock { .. } if a.is_local_clock() => {
                    let mut s = SourceConfig::local_clock(a.refclock_stratum().unwrap_or(5));
                    if let SourceKind::LocalClock { refid, .. } = &mut s.kind {
                        *refid =
                            RefId::from_ascii(&a.refclock_refid().unwrap_or_else(|| "LOCL".into()));
                    }
                    s.prefer = a.prefer;
                    s.noselect = a.noselect;
                    let id = self.engine.add_source(s, now);
                    let addr = SocketAddr::new(IpAddr::from([127, 127, 1, 0]), 123);
                    self.assocs.insert(
                        id,
                        AssocInfo {
                            addr,
                            symmetric: false,
                            client_fallback: false,
                            ephemeral: false,
                            key: None,
                            // NTPsec sends a clock's name; its ntpq shows it and type `l`
                            srchost: match a.target {
                                Target::Refclock { unit, .. } => Some(format!("LOCAL({unit})")),
                                _ => None,
                            },
                            authentic: false,
                            local: Some(IpAddr::from([127, 0, 0, 1])),
                            pool: None,
                            send_failed: false,
                            nts: None,
                            xleave: Default::default(),
                        },
                    );
                }
                Target::Refclock { .. } => {}
                Target::Address(ip) if a.nts.is_some() && a.kind != AssociationKind::Pool => {
                    self.add_nts_slot(&a, ip.to_string(), None, None)
                }
                Target::Name(name) if a.nts.is_some() && a.kind != AssociationKind::Pool => {
                    self.add_nts_slot(&a, name.clone(), None, None)
                }
                Target::Address(ip) => self.add_server(&a, *ip, None, now),
                Target::Name(name) => self.pending.push(PendingName {
                    name: name.clone(),
                    assoc: a.clone(),
                    attempts: 0,
                    next_try: 0,
                    in_flight: false,
                    pool: Default::default(),
                }),
            }
        }
    }

    fn add_server(
        &mut self,
        a: &Association,
        ip: IpAddr,
        srchost: Option<String>,
        now: NtpTimestamp,
    ) {
        if self.by_addr.contains_key(&ip) {
            return;
        }
        if let Some(k) = a.key {
            if self.keys.get(k).is_none() {
                log::warn(&format!(
                    "{}: key {k} is not in the keys file; requests go unauthenticated",
                    a.location
                ));
            }
        }
        // `restrict source`: the association's address gets the source flags
        self.edit_source_restrictions(|r| r.add_source(ip));
        let source = super::config_bridge::source_config(a, ip);
        let symmetric = source.is_symmetric();
        let id = self.engine.add_source(source, now);
        // our address toward it: `dstadr`, and the refid it shows when synchronised to us
        let local = client::local_address_for(SocketAddr::new(ip, 123));
        if let Some(local) = local {
            self.engine.set_local_address(id, local);
        }
        if symmetric {
            self.shared.add_symmetric_peer(ip);
        }
        log::info(&format!(
            "{} {} for {ip}{}",
            if symmetric {
                "symmetric active association"
            } else {
                "association"
            },
            id.0,
            srchost
                .as_deref()
                .map(|h| format!(" ({h})"))
                .unwrap_or_default()
        ));
        self.assocs.insert(
            id,
            AssocInfo {
                addr: SocketAddr::new(ip, 123),
                symmetric,
                client_fallback: false,
                ephemeral: false,
                key: a.key.filter(|k| self.keys.get(*k).is_some()),
                srchost,
                authentic: false,
                local,
                pool: None,
                send_failed: false,
                nts: None,
                xleave: super::xleave::ClientState {
                    enabled: a.xleave && !symmetric,
                    sym: super::xleave_sym::SymState::new(a.xleave && symmetric),
                    ..Default::default()
                },
            },
        );
        self.by_addr.insert(ip, id);
    }

    /// Make the NTS slot of a `server … nts` line (or of one pool member). A TLS setup
    /// that cannot be had (unreadable `ca` file, empty system store) refuses the
    /// association with an error naming the line: it never runs unauthenticated.
    fn add_nts_slot(
        &mut self,
        a: &Association,
        name: String,
        connect: Option<IpAddr>,
        pool: Option<usize>,
    ) {
        let Some(opts) = a.nts.clone() else { return };
        // NTPsec's `nts ca FILE` is the trust anchor of every `server … nts` without its own
        let ca = opts
            .ca
            .as_deref()
            .or(self.settings.config.nts.ca.as_deref());
        let configured = self.settings.config.nts.nocerttimecheck;
        let skip_time = *self.nocerttimecheck.get_or_insert_with(|| {
            let (on, why) = super::nts_ke::nocerttimecheck(configured, super::nts_ke::RTC_DEVICES);
            log::notice(&if on {
                format!(
                    "NTS: certificate validity times not checked until the clock is first \
                     synchronised ({why}); chain and name always are"
                )
            } else {
                format!("NTS: certificate validity times checked ({why})")
            });
            on
        });
        let skip_time = skip_time.then(|| self.clock_synced.clone());
        let tls = match super::nts_ke::tls_config(ca, opts.noval, skip_time) {
            Ok(t) => t,
            Err(e) => {
                log::error(&format!(
                    "{}: NTS association {name} not started: {e}",
                    a.location
                ));
                return;
            }
        };
        if opts.noval {
            log::warn(&format!(
                "{}: noval: the certificate of {name} is not verified; anyone on the path can pose as it",
                a.location
            ));
        }
        let aead = match opts.aead {
            Some(one) => vec![one],
            None => crate::wire::nts::aead::Aead::ALL.to_vec(),
        };
        self.nts.push(NtsSlot {
            assoc: a.clone(),
            name,
            connect,
            port: opts.port.unwrap_or(crate::wire::nts::KE_PORT),
            tls,
            aead,
            pool,
            id: None,
            session: None,
            attempts: 0,
            next_try: 0,
            in_flight: false,
            bad_logged: false,
        });
    }

    /// NTS key exchanges due: associations with no session (new, out of cookies, or
    /// told NTSN) whose back-off has passed.
    pub fn due_key_exchanges(&mut self) -> Vec<(usize, super::nts_ke::KeJob)> {
        let mut out = Vec::new();
        for (i, s) in self.nts.iter_mut().enumerate() {
            if s.session.is_none() && !s.in_flight && s.next_try <= self.elapsed {
                s.in_flight = true;
                out.push((
                    i,
                    super::nts_ke::KeJob {
                        name: s.name.clone(),
                        connect: s.connect,
                        port: s.port,
                        tls: s.tls.clone(),
                        aead: s.aead.clone(),
                    },
                ));
            }
        }
        out
    }

    /// A key exchange finished: start (or resume) the association, or back off.
    pub fn key_exchange_done(&mut self, done: KeDone) {
        let elapsed = self.elapsed;
        let Some(slot) = self.nts.get_mut(done.slot) else {
            return;
        };
        slot.in_flight = false;
        let target = match slot.connect {
            // a pool member: the pool's name and the member's address
            Some(ip) if slot.name != ip.to_string() => {
                format!("{}:{} at {ip}", slot.name, slot.port)
            }
            _ => format!("{}:{}", slot.name, slot.port),
        };
        let outcome = match done.result {
            Ok(o) => o,
            Err(e) => {
                self.nts_counters.ke_probes_bad += 1;
                slot.attempts += 1;
                // a pool member that keeps failing gives its place to another address
                if let (Some(pool), Some(ip)) = (slot.pool, slot.connect) {
                    if slot.attempts >= POOL_KE_ATTEMPTS {
                        slot.connect = None;
                        slot.next_try = u64::MAX;
                        log::warn(&format!(
                            "NTS-KE with {target} failed: {e}; pool member {ip} dropped after {POOL_KE_ATTEMPTS} attempts"
                        ));
                        if let Some(p) = self.pending.get_mut(pool) {
                            p.pool.dropped(ip, elapsed);
                            p.attempts = 0;
                            p.next_try = elapsed;
                        }
                        return;
                    }
                }
                let delay = client::retry_delay(slot.attempts);
                slot.next_try = elapsed + delay;
                log::warn(&format!(
                    "NTS-KE with {target} failed: {e}; retrying in {delay} s"
                ));
                return;
            }
        };
        self.nts_counters.ke_probes_good += 1;
        slot.attempts = 0;
        log::info(&format!(
            "NTS-KE with {target}: {} cookies, {}, NTP server {}",
            outcome.cookies.len(),
            outcome.keys.c2s.aead(),
            outcome.ntp_addr
        ));
        let ntp_addr = outcome.ntp_addr;
        slot.session = Some(super::nts_client::NtsSession::new(outcome));
        if let Some(id) = slot.id {
            if let Some(info) = self.assocs.get(&id) {
                if info.addr != ntp_addr {
                    // the association keeps its address: moving it would mix two
                    // servers' samples in one filter
                    log::warn(&format!(
                        "NTS-KE with {target} now names NTP server {ntp_addr}, not {}; keeping {}",
                        info.addr, info.addr
                    ));
                }
            }
            return;
        }
        let (assoc, name, pool) = (slot.assoc.clone(), slot.name.clone(), slot.pool);
        let ip = ntp_addr.ip();
        if self.by_addr.contains_key(&ip) {
            log::warn(&format!(
                "NTS-KE with {target} names NTP server {ntp_addr}, which already has an association; not started"
            ));
            self.nts[done.slot].session = None;
            self.nts[done.slot].next_try = u64::MAX;
            return;
        }
        let srchost = (name != ip.to_string()).then_some(name);
        self.add_server(&assoc, ip, srchost, now_ntp());
        if let Some(&id) = self.by_addr.get(&ip) {
            if let Some(info) = self.assocs.get_mut(&id) {
                info.addr = ntp_addr;
                info.nts = Some(done.slot);
                info.pool = pool;
            }
            self.nts[done.slot].id = Some(id);
        }
    }

    /// The NTS client counters (`ntpq -c nts`).
    pub fn nts_client_counters(&self) -> super::nts_client::NtsClientCounters {
        self.nts_counters
    }

    /// Names due for (another) resolution attempt: (index, name, v4, v6).
    pub fn due_names(&mut self) -> Vec<(usize, String, bool, bool)> {
        let mut out = Vec::new();
        for (i, p) in self.pending.iter_mut().enumerate() {
            if !p.in_flight && p.next_try <= self.elapsed {
                p.in_flight = true;
                let (v4, v6) = match p.assoc.family {
                    Some(AddressFamily::V4) => (true, false),
                    Some(AddressFamily::V6) => (false, true),
                    None => self.families,
                };
                out.push((
                    i,
                    p.name.clone(),
                    v4 && self.families.0,
                    v6 && self.families.1,
                ));
            }
        }
        out
    }

    pub fn resolved(&mut self, r: Resolved) {
        let Some(p) = self.pending.get_mut(r.index) else {
            return;
        };
        p.in_flight = false;
        match r.result {
            Ok(addrs) if p.assoc.kind == AssociationKind::Pool => self.fill_pool(r.index, &addrs),
            Ok(addrs) => {
                let name = p.name.clone();
                let a = p.assoc.clone();
                // an empty name marks the entry as done (indices stay valid)
                p.name.clear();
                p.next_try = u64::MAX;
                if let Some(&ip) = addrs.first() {
                    self.add_server(&a, ip, Some(name), now_ntp());
                }
            }
            Err(e) => {
                p.attempts += 1;
                let delay = client::retry_delay(p.attempts);
                p.next_try = self.elapsed + delay;
                log::warn(&format!(
                    "{}: cannot resolve {} ({e}); retrying in {delay} s",
                    p.assoc.location, p.name
                ));
            }
        }
    }

    /// Mobilise pool members from a fresh resolution of pool line `index`, up to `tos
    /// maxclock` associations in all. While there is room left, the name is asked again
    /// later (with the resolver's back-off); when full, only a dropped member wakes it.
    fn fill_pool(&mut self, index: usize, addrs: &[IpAddr]) {
        let maxclock = self.settings.config.tos.maxclock as usize;
        // pool members still in their key exchange count as taken places
        let in_ke = self
            .nts
            .iter()
            .filter(|s| s.id.is_none() && s.pool.is_some() && s.next_try != u64::MAX)
            .count();
        let room = maxclock.saturating_sub(self.engine.associations().len() + in_ke);
        let Some(p) = self.pending.get_mut(index) else {
            return;
        };
        let by_addr = &self.by_addr;
        let nts_slots = &self.nts;
        // a member waiting for its key exchange is not in the engine yet, but taken
        let taken =
            |a: IpAddr| by_addr.contains_key(&a) || nts_slots.iter().any(|s| s.connect == Some(a));
        let picked = p.pool.pick(addrs, taken, room, self.elapsed);
        let (assoc, name) = (p.assoc.clone(), p.name.clone());
        if picked.len() < room {
            p.attempts = if picked.is_empty() { p.attempts + 1 } else { 0 };
            p.next_try = self.elapsed + client::retry_delay(p.attempts);
        } else {
            p.attempts = 0;
            p.next_try = u64::MAX;
        }
        let now = now_ntp();
        for ip in picked {
            if assoc.nts.is_some() {
                self.add_nts_slot(&assoc, name.clone(), Some(ip), Some(index));
                continue;
            }
            self.add_server(&assoc, ip, Some(name.clone()), now);
            if let Some(info) = self.by_addr.get(&ip).and_then(|id| self.assocs.get_mut(id)) {
                info.pool = Some(index);
            }
        }
    }

    /// Demobilise pool members that stopped answering and have their pool resolved again.
    fn drop_unreachable_pool_members(&mut self) {
        let dead: Vec<(AssocId, usize)> = self
            .assocs
            .iter()
            .filter_map(|(&id, info)| {
                let pool = info.pool?;
                let p = self.engine.peer_status(id)?;
                super::pool::is_unreachable(p.reach, p.unreach).then_some((id, pool))
            })
            .collect();
        for (id, pool) in dead {
            let Some(info) = self.forget(id) else {
                continue;
            };
            let ip = info.addr.ip();
            log::notice(&format!(
                "{ip}: pool server unreachable for {} polls: association {} demobilized",
                super::pool::UNREACH_POLLS,
                id.0
            ));
            if let Some(p) = self.pending.get_mut(pool) {
                p.pool.dropped(ip, self.elapsed);
                p.attempts = 0;
                p.next_try = self.elapsed;
            }
        }
    }

    /// When the engine wants to be woken, as a delay from now.
    pub fn engine_delay(&self) -> std::time::Duration {
        let secs = (self.engine.next_wakeup() - now_ntp()).to_seconds();
        std::time::Duration::from_secs_f64(secs.clamp(0.0, 3600.0))
    }

    pub fn engine_timer(&mut self) {
        let actions = self.engine.handle_timer(now_ntp());
        self.act(actions);
        self.drop_silent_ephemerals();
    }

    /// An authenticated mode 1 from a host without an association: mobilise a symmetric
    /// passive association for it (ntp.org's AM_NEWPASS; `nopeer` only concerns
    /// unauthenticated packets, `noepeer` refuses even authenticated ones). The fast path
    /// hands over only packets whose MAC a trusted key verified; the check is repeated here.
    fn mobilize_passive(&mut self, r: &Reply) -> Option<AssocId> {
        if r.data.first().map(|b| b & 7) != Some(1) {
            return None;
        }
        if self.shared.access().flags(r.src) & super::access::RES_NOEPEER != 0 {
            // ntp.org counts it as declined (sys_declined)
            self.shared
                .counters
                .declined
                .fetch_add(1, Ordering::Relaxed);
            log::debug(&format!(
                "{}: mode 1 declined: noepeer (no ephemeral associations)",
                r.src
            ));
            return None;
        }
        let (_, key) = self.trusted_mac(&r.data)?;
        let ephemerals = self.assocs.values().filter(|i| i.ephemeral).count();
        if ephemerals >= MAX_EPHEMERAL {
            log::debug(&format!(
                "{}: no room for another passive association",
                r.src
            ));
            return None;
        }
        let header = crate::wire::packet::Header::parse(&r.data).ok()?;
        let ip = r.src.ip();
        let id = self
            .engine
            .add_source(SourceConfig::passive_peer(ip, header.poll), now_ntp());
        let local = client::local_address_for(SocketAddr::new(ip, 123));
        if let Some(local) = local {
            self.engine.set_local_address(id, local);
        }
        self.shared.add_symmetric_peer(ip);
        log::notice(&format!(
            "symmetric passive association {} for {ip} (mode 1 with trusted key {key})",
            id.0
        ));
        self.assocs.insert(
            id,
            AssocInfo {
                addr: SocketAddr::new(ip, 123),
                symmetric: true,
                client_fallback: false,
                ephemeral: true,
                key: Some(key),
                srchost: None,
                authentic: false,
                local,
                pool: None,
                send_failed: false,
                nts: None,
                xleave: Default::default(),
            },
        );
        self.by_addr.insert(ip, id);
        Some(id)
    }

    /// Ephemeral associations whose peer went silent are demobilised (ntpd: after
    /// NTP_UNREACH unanswered polls).
    fn drop_silent_ephemerals(&mut self) {
        let silent: Vec<AssocId> = self
            .assocs
            .iter()
            .filter(|(_, i)| i.ephemeral)
            .filter(|(id, _)| {
                self.engine
                    .peer_status(**id)
                    .is_some_and(|p| p.unreach >= EPHEMERAL_UNREACH)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in silent {
            if let Some(info) = self.forget(id) {
                let ip = info.addr.ip();
                log::notice(&format!("{ip}: passive association {} timed out", id.0));
            }
        }
    }

    /// Associations mobilised while there was no route to them learn their local address
    /// (`dstadr`, the loop test's refid) once one appears.
    fn learn_missing_local_addresses(&mut self) {
        for (id, info) in self.assocs.iter_mut() {
            if info.local.is_some() || is_refclock(info.addr) {
                continue;
            }
            info.local = client::local_address_for(info.addr);
            if let Some(local) = info.local {
                self.engine.set_local_address(*id, local);
            }
        }
    }

    /// Applies `edit` to the `restrict source` table (when the config has one) and publishes
    /// the result to the server threads, which read it without locking the daemon.
    fn edit_source_restrictions(&mut self, edit: impl FnOnce(&mut crate::config::Restrictions)) {
        if let Some(r) = self
            .settings
            .restrictions
            .as_mut()
            .filter(|r| r.source.is_some())
        {
            edit(r);
            *self
                .shared
                .access
                .write()
                .unwrap_or_else(|e| e.into_inner()) = Arc::new(r.clone());
        }
    }

    /// The key of a valid MAC by a trusted key on `data`, with the key set that checked it
    /// (to sign the answer); `None` without keys or for any other verdict.
    fn trusted_mac(&self, data: &[u8]) -> Option<(Arc<super::auth::ServerAuth>, u32)> {
        let auth = self
            .shared
            .auth
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()?;
        let super::auth::AuthVerdict::Trusted(key) = auth.check(data) else {
            return None;
        };
        Some((auth, key))
    }

    /// An association goes: from the engine, the address maps, the symmetric peers the
    /// server routes to us, and the `restrict source` entry made for it.
    fn forget(&mut self, id: AssocId) -> Option<AssocInfo> {
        self.engine.remove_source(id);
        self.last_rec.remove(&id);
        let info = self.assocs.remove(&id)?;
        if let Some(slot) = info.nts.and_then(|i| self.nts.get_mut(i)) {
            // retired: never asked for a key exchange again
            slot.session = None;
            slot.connect = None;
            slot.id = None;
            slot.next_try = u64::MAX;
        }
        let ip = info.addr.ip();
        self.by_addr.remove(&ip);
        if info.symmetric {
            self.shared.remove_symmetric_peer(ip);
        }
        self.edit_source_restrictions(|r| r.remove_source(ip));
        Some(info)
    }

    /// Once a second.
    pub fn tick(&mut self) {
        self.elapsed += 1;
        self.drop_unreachable_pool_members();
        if self.elapsed % LOCAL_ADDRESS_RETRY_SECS == 0 {
            self.learn_missing_local_addresses();
        }
        if self.elapsed % DRIFT_WRITE_SECS == 0 && self.engine.system_status().synchronized {
            self.write_drift();
        }
        if self.elapsed % SYSSTATS_SECS == 0 {
            self.record_sysstats();
        }
    }

    /// The hourly sysstats line: the counters since the previous one.
    fn record_sysstats(&mut self) {
        let Some((f, last)) = self.sysstats.as_mut() else {
            return;
        };
        let now = super::sysstats::SysStats::read(&self.shared.counters, self.elapsed);
        let t = UnixTime::now();
        if let Err(e) = f.append(t, &stats::sysstats_line(t, &now, last)) {
            log::debug(&format!("sysstats: {e}"));
        }
        *last = now;
    }

    fn act(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Send { assoc, packet } => self.send_request(assoc, &packet.serialize()),
                Action::Clock(cmd) => {
                    if self.clock.observe_only {
                        self.engine.set_observe_only();
                        continue;
                    }
                    let result = apply_clock_command(&mut self.clock.clock, cmd);
                    // the engine books only what the clock did
                    self.engine.clock_result(&cmd, &result);
                    match result {
                        Ok(_) => {}
                        Err(ClockError::PermissionDenied) => {
                            log::warn("adjusting the system clock is not permitted (EPERM): observing only from now on");
                            self.clock = super::run::ChosenClock::observe();
                            self.engine.set_observe_only();
                        }
                        Err(e) => log::warn(&format!("clock adjustment failed: {e}")),
                    }
                }
                Action::Demobilize { assoc, reason } => {
                    // RFC 5905 §7.4: DENY/RSTR end the association; it goes from the
                    // engine and from mode 6 (ntpq no longer lists it)
                    if let Some(info) = self.forget(assoc) {
                        let ip = info.addr.ip();
                        log::notice(&format!(
                            "{ip}: kiss code {reason:?}: association demobilized"
                        ));
                        // a pool fills the place again, but not with the server that
                        // refused us: the next resolution would return it at once
                        if let Some(p) = info.pool.and_then(|i| self.pending.get_mut(i)) {
                            p.pool.dropped(ip, self.elapsed);
                            p.next_try = self.elapsed;
                        }
                    }
                }
                Action::Panic { offset } => {
                    log::error(&format!(
                        "time correction of {offset:+.0} s exceeds the sanity limit (1000); set clock manually to the correct UTC time (or start with -g)"
                    ));
                    self.exit = Some(1);
                }
                Action::Event(e) => self.event(e),
            }
        }
        self.publish();
    }

    fn event(&mut self, e: EngineEvent) {
        match e {
            EngineEvent::System(s) => {
                let st = self.engine.system_status();
                match s {
                    SystemEvent::ClockSync => {
                        // ntpd's wording: the system peer and *its* stratum
                        let peer = st.peer.and_then(|id| {
                            let ip = self.assocs.get(&id)?.addr.ip();
                            Some((ip, self.engine.peer_status(id)?.stratum))
                        });
                        if let Some((ip, stratum)) = peer {
                            let name = match ip {
                                IpAddr::V4(a) if a.octets()[..3] == [127, 127, 1] => {
                                    format!("LOCAL({})", a.octets()[3])
                                }
                                _ => ip.to_string(),
                            };
                            log::notice(&format!("synchronized to {name}, stratum {stratum}"));
                        }
                        let first = !self
                            .clock_synced
                            .swap(true, std::sync::atomic::Ordering::Relaxed);
                        if first && self.nocerttimecheck == Some(true) {
                            log::notice(
                                "NTS: the clock is synchronised; certificate validity times are checked from now on",
                            );
                        }
                        self.frequency_known = true;
                    }
                    SystemEvent::ClockStep => {
                        log::notice(&format!("clock step {:+.6} s", st.offset))
                    }
                    SystemEvent::NoSysPeer if st.synchronized => {
                        log::notice("no system peer: holdover on the last frequency")
                    }
                    SystemEvent::NoSysPeer => log::notice(
                        "no system peer and the error bound passed maxdist: unsynchronised",
                    ),
                    other => log::info(&format!("system event {other:?}")),
                }
            }
            EngineEvent::Peer(id, ev) => {
                let who = self
                    .assocs
                    .get(&id)
                    .map(|i| i.addr.ip().to_string())
                    .unwrap_or_default();
                match ev {
                    PeerEvent::SysPeer
                    | PeerEvent::Reachable
                    | PeerEvent::Unreachable
                    | PeerEvent::RateExceeded => log::info(&format!("{who}: {ev:?}")),
                    _ => log::debug(&format!("{who}: {ev:?}")),
                }
            }
        }
    }

    /// Hand the kernel transmit times queued on the client socket of `dst`'s family to
    /// their associations.
    fn take_kernel_tx(&mut self, dst: SocketAddr) {
        let Some(client) = &self.client else { return };
        for (id, cookie, at) in client.kernel_tx(dst) {
            if let Some(info) = self.assocs.get_mut(&AssocId(id)) {
                info.xleave.kernel_tx(cookie, at);
            }
        }
    }

    fn send_request(&mut self, assoc: AssocId, header: &[u8]) {
        self.note_client_fallback(assoc, header);
        let Some(info) = self.assocs.get(&assoc) else {
            return;
        };
        let Some(client) = &self.client else { return };
        let mut data = header.to_vec();
        let by_client_socket = !info.symmetric;
        if let Some(i) = self.assocs.get_mut(&assoc).filter(|i| i.symmetric) {
            i.xleave.sym.prepare(&mut data);
        }
        if by_client_socket && data.len() >= 48 {
            // interleaved: the origin and receive fields name the last exchange
            let cookie = NtpTimestamp::from_be_bytes(data[40..48].try_into().unwrap_or([0; 8]));
            if let Some(info) = self.assocs.get_mut(&assoc) {
                info.xleave.prepare(&mut data[..48], cookie);
            }
        }
        let Some(info) = self.assocs.get(&assoc) else {
            return;
        };
        if let Some(slot) = info.nts.and_then(|i| self.nts.get_mut(i)) {
            // no cookie, no request: an NTS association never sends in the clear
            let Some(sealed) = slot.session.as_mut().and_then(|s| s.seal(&data)) else {
                if slot.session.take().is_some() {
                    log::info(&format!(
                        "{}: out of NTS cookies: new key exchange with {}:{}",
                        info.addr, slot.name, slot.port
                    ));
                }
                return;
            };
            self.nts_counters.client_send += 1;
            data = sealed;
        }
        if let Some(k) = info.key {
            // over the header as sent: interleaved mode may have rewritten its fields
            match self.keys.sign(k, &data[..header.len().min(data.len())]) {
                Ok(mac) => data.extend_from_slice(&mac),
                Err(e) => log::debug(&format!("cannot sign for {}: {e}", info.addr)),
            }
        }
        let sent = if info.symmetric {
            // a symmetric peer knows us by address and port 123
            let bound: Vec<Option<SocketAddr>> =
                self.sockets.iter().map(|s| s.local_addr().ok()).collect();
            // read just before the send: our transmit time in interleaved mode
            let before = now_ntp();
            let sent = match symmetric_socket(&bound, info.local, info.addr) {
                Some(i) => netio::send_one(&self.sockets[i], &data, info.addr, None),
                None => client.send(&data, info.addr),
            };
            if let (Ok(_), Some(i)) = (&sent, self.assocs.get_mut(&assoc)) {
                i.xleave.sym.transmitted(before);
            }
            sent
        } else {
            client.send_for(assoc.0, &data, info.addr).map(|before| {
                if let Some(sent) = self
                    .assocs
                    .get_mut(&assoc)
                    .and_then(|i| i.xleave.sent.as_mut())
                {
                    sent.before = before;
                }
            })
        };
        let addr = self.assocs.get(&assoc).map(|i| i.addr);
        // for veth and loopback the kernel's timestamp is there as soon as send returns
        if let Some(addr) = addr {
            self.take_kernel_tx(addr);
        }
        let Some(addr) = addr else { return };
        if let Some(info) = self.assocs.get_mut(&assoc) {
            match sent {
                // once per association: a route that keeps refusing would flood the log
                Err(e) if !info.send_failed => {
                    info.send_failed = true;
                    log::warn(&format!("{addr}: cannot send: {e}"));
                }
                Err(e) => log::debug(&format!("send to {addr}: {e}")),
                Ok(_) => info.send_failed = false,
            }
        }
    }

    /// Log when the engine starts or stops polling a `peer` in client mode.
    fn note_client_fallback(&mut self, assoc: AssocId, header: &[u8]) {
        let Some(info) = self.assocs.get_mut(&assoc) else {
            return;
        };
        let client_mode = header.first().is_some_and(|b| b & 7 == 3);
        if !info.symmetric || client_mode == info.client_fallback {
            return;
        }
        info.client_fallback = client_mode;
        let addr = info.addr.ip();
        if client_mode {
            log::notice(&format!(
                "peer {addr} does not answer symmetric mode (NTPsec's `peer` is a client): polling it in client mode"
            ));
        } else {
            log::notice(&format!("peer {addr}: trying symmetric mode again"));
        }
    }

    /// A datagram on a client socket.
    pub fn client_reply(&mut self, r: Reply) {
        // as in ntpd, `ignore` drops everything from a source, replies to our polls too
        if self.shared.access().flags(r.src) & super::access::RES_IGNORE != 0 {
            log::debug(&format!("reply from {} ignored by restrict", r.src));
            return;
        }
        let id = match self.by_addr.get(&r.src.ip()) {
            Some(&id) => id,
            None => match self.mobilize_passive(&r) {
                Some(id) => id,
                None => return,
            },
        };
        let nts_slot = self.assocs.get(&id).and_then(|i| i.nts);
        let header = match nts_slot {
            Some(slot) => match self.check_nts_reply(id, slot, &r) {
                Some(h) => h,
                None => return,
            },
            None => match self.check_plain_reply(id, &r) {
                Some(h) => h,
                None => return,
            },
        };
        let actions = self.take_reply(id, &header, &r);
        let Some(info) = self.assocs.get(&id) else {
            return;
        };
        if let Some(f) = self.rawstats.as_mut() {
            let t = UnixTime::now();
            let dst = info.local.map(|a| a.to_string()).unwrap_or_default();
            // the timestamps the sample was computed from (kernel T1, interleaved T3)
            let (mut logged, mut dst_ts) = (header, r.rx);
            if let Some(x) = info.xleave.last_sample {
                (logged.origin_ts, logged.receive_ts) = (x.t1, x.t2);
                (logged.transmit_ts, dst_ts) = (x.t3, x.t4);
            }
            let line = stats::rawstats_line(
                t,
                &stats::RawSample {
                    src: &r.src.ip().to_string(),
                    dst: &dst,
                    header: &logged,
                    dst_ts,
                },
            );
            if let Err(e) = f.append(t, &line) {
                log::debug(&format!("rawstats: {e}"));
            }
        }
        self.act(actions);
        self.record_peerstats(id);
        self.finish_once();
    }

    /// The reply of an NTS association: the header if it authenticates against the
    /// request in flight; anything else is dropped and counted (and logged once).
    fn check_nts_reply(
        &mut self,
        id: AssocId,
        slot: usize,
        r: &Reply,
    ) -> Option<crate::wire::packet::Header> {
        use super::nts_client::ReplyCheck;
        let s = self.nts.get_mut(slot)?;
        let verdict = match s.session.as_mut() {
            Some(session) => session.check(&r.data),
            None => ReplyCheck::Bad("no NTS session (key exchange pending)".into()),
        };
        match verdict {
            ReplyCheck::Good => {
                let header = crate::wire::packet::Header::parse(&r.data).ok()?;
                self.nts_counters.client_recv_good += 1;
                s.bad_logged = false;
                if let Some(info) = self.assocs.get_mut(&id) {
                    info.authentic = true;
                }
                Some(header)
            }
            ReplyCheck::Nak => {
                self.nts_counters.client_recv_bad += 1;
                log::notice(&format!(
                    "{}: NTSN kiss (the server cannot read our cookie): new key exchange with {}:{}",
                    r.src, s.name, s.port
                ));
                s.session = None;
                None
            }
            ReplyCheck::Bad(why) => {
                self.nts_counters.client_recv_bad += 1;
                if s.bad_logged {
                    log::debug(&format!("{}: NTS reply dropped: {why}", r.src));
                } else {
                    s.bad_logged = true;
                    log::warn(&format!(
                        "{}: reply fails NTS authentication ({why}); dropped (further ones logged at debug level until a good one)",
                        r.src
                    ));
                }
                None
            }
        }
    }

    /// The reply of a plain or symmetric-key association: the header if its MAC (when
    /// the association has a key) verifies.
    fn check_plain_reply(&mut self, id: AssocId, r: &Reply) -> Option<crate::wire::packet::Header> {
        let decoded = Packet::decode(&r.data).ok()?;
        let info = self.assocs.get_mut(&id)?;
        if let Some(k) = info.key {
            let ok = decoded.packet.mac.as_ref().is_some_and(|m| {
                m.key_id == k
                    && self
                        .keys
                        .verify_digest(k, &r.data[..decoded.mac_offset], &m.digest)
                        .is_ok()
            });
            info.authentic = ok;
            if !ok {
                log::info(&format!(
                    "{}: reply fails authentication with key {k}; ignored",
                    r.src
                ));
                return None;
            }
        }
        Some(decoded.packet.header)
    }

    /// `-q`: exit once synchronised.
    fn finish_once(&mut self) {
        if self.once && self.engine.system_status().synchronized && self.exit.is_none() {
            let st = self.engine.system_status();
            // ntpd -q's two endings: stepped ("time set") or slewed. Observe-only forced by
            // EPERM did neither: say so, and fail (--observe-only asked for it, so that is a success)
            if self.clock.observe_only && !self.asked_observe_only {
                let text = format!(
                    "ntpd: time not set (not permitted: observe-only), offset {:+.6}s",
                    st.offset
                );
                println!("{text}");
                log::warn(&text);
                self.exit = Some(1);
                return;
            }
            let how = if st.steps > 0 { "set" } else { "slew" };
            println!("ntpd: time {how} {:+.6}s", st.offset);
            log::notice(&format!("ntpd: time {how} {:+.6}s", st.offset));
            self.exit = Some(0);
        }
    }

    /// A server's reply to the engine, with the exchange's kernel timestamps, or the previous
    /// exchange's in interleaved mode (the header's origin is then the receive timestamp we
    /// sent, so it is put back to our request's for the engine's checks).
    fn take_reply(
        &mut self,
        id: AssocId,
        header: &crate::wire::packet::Header,
        r: &Reply,
    ) -> Vec<Action> {
        use super::xleave::Taken;
        let symmetric = self.assocs.get(&id).is_none_or(|i| i.symmetric);
        if symmetric {
            return self.take_symmetric(id, header, r);
        }
        if header.mode != crate::wire::packet::Mode::Server {
            return self.engine.handle_packet(id, header, r.rx);
        }
        self.take_kernel_tx(r.src);
        let Some(info) = self.assocs.get_mut(&id) else {
            return Vec::new();
        };
        let cookie = info.xleave.sent.map(|s| s.cookie);
        match info.xleave.take(
            header.origin_ts,
            header.receive_ts,
            header.transmit_ts,
            r.rx,
        ) {
            Taken::Basic(x) => self
                .engine
                .handle_packet_exchange(id, header, r.rx, Some(x)),
            Taken::Interleaved(x) => {
                let mut h = *header;
                h.origin_ts = cookie.unwrap_or(h.origin_ts);
                self.engine.handle_packet_exchange(id, &h, r.rx, Some(x))
            }
            Taken::Neither => self.engine.handle_packet(id, header, r.rx),
        }
    }

    /// A symmetric peer's packet to the engine; in interleaved mode with the exchange it
    /// completes (the origin put back to our packet's for the engine's checks).
    fn take_symmetric(
        &mut self,
        id: AssocId,
        header: &crate::wire::packet::Header,
        r: &Reply,
    ) -> Vec<Action> {
        use super::xleave_sym::SymTaken;
        // the shorter of the two polls, as the pair polls at it
        let poll = self
            .engine
            .peer_status(id)
            .map_or(8.0, |p| 2f64.powi(p.hpoll.min(p.ppoll).max(0) as i32));
        let Some(info) = self.assocs.get_mut(&id) else {
            return Vec::new();
        };
        let taken = info.xleave.sym.take(
            header.origin_ts,
            header.receive_ts,
            header.transmit_ts,
            r.rx,
            poll,
        );
        match taken {
            SymTaken::Answer {
                cookie, exchange, ..
            } => {
                let mut h = *header;
                h.origin_ts = cookie;
                self.engine
                    .handle_packet_exchange(id, &h, r.rx, Some(exchange))
            }
            SymTaken::NoSample => {
                let mut h = *header;
                h.origin_ts = NtpTimestamp::default();
                self.engine.handle_packet(id, &h, r.rx)
            }
            SymTaken::AsIs => self.engine.handle_packet(id, header, r.rx),
        }
    }

    /// Make the server answer with the engine's view of the system.
    fn publish(&mut self) {
        let st = self.engine.system_status();
        let mut status = SystemStatus {
            leap: st.leap,
            stratum: st.stratum.clamp(1, 16),
            precision: st.precision,
            root_delay: st.root_delay,
            root_dispersion: st.root_dispersion,
            refid: st.refid,
            reference_time: st.reftime,
        };
        if !st.synchronized {
            status.leap = Leap::Unsync;
            status.stratum = 16;
        }
        if status != self.shared.status() {
            self.shared.set_status(status);
        }
        if st.synchronized && st.reftime != self.last_reftime {
            self.last_reftime = st.reftime;
            if let Some(f) = self.loopstats.as_mut() {
                let t = UnixTime::now();
                let line = stats::loopstats_line(
                    t,
                    st.offset,
                    st.frequency_ppm,
                    st.clk_jitter,
                    st.clk_wander,
                    st.tc,
                );
                if let Err(e) = f.append(t, &line) {
                    log::debug(&format!("loopstats: {e}"));
                }
            }
        }
    }

    fn record_peerstats(&mut self, id: AssocId) {
        let Some(p) = self.engine.peer_status(id) else {
            return;
        };
        if self.last_rec.get(&id) == Some(&p.rec) {
            return;
        }
        self.last_rec.insert(id, p.rec);
        if self.peerstats.is_none() {
            return;
        }
        let word = self.peer_status_word(&p).encode();
        let addr = self
            .assocs
            .get(&id)
            .map(|i| i.addr.ip().to_string())
            .unwrap_or_default();
        let Some(f) = self.peerstats.as_mut() else {
            return;
        };
        let t = UnixTime::now();
        let line = stats::peerstats_line(t, &addr, word, p.offset, p.delay, p.dispersion, p.jitter);
        if let Err(e) = f.append(t, &line) {
            log::debug(&format!("peerstats: {e}"));
        }
    }

    fn peer_status_word(&self, p: &crate::engine::PeerStatus) -> PeerStatus {
        let info = self.assocs.get(&p.id);
        let keyed = info.is_some_and(|i| i.key.is_some() || i.nts.is_some());
        let configured = info.is_some_and(|i| !i.ephemeral);
        PeerStatus {
            flags: if configured { peer_flags::CONFIG } else { 0 }
                | if p.reach != 0 { peer_flags::REACH } else { 0 }
                | if keyed { peer_flags::AUTHENABLE } else { 0 }
                | if info.is_some_and(|i| i.authentic) {
                    peer_flags::AUTHENTIC
                } else {
                    0
                },
            select: p.select,
            event_count: p.event_count,
            event: p.last_event,
        }
    }

    /// A snapshot for `/metrics`: the mode 6 view without the MRU rows (only their count
    /// is reported), and what mode 6 does not carry.
    pub fn metrics_view(&self) -> super::metrics::MetricsView {
        let uncertainty = self
            .engine
            .associations()
            .into_iter()
            .filter_map(|id| Some((id.0, self.engine.peer_status(id)?.uncertainty?)))
            .collect();
        super::metrics::MetricsView {
            view: self.view_with(false),
            steps: self.engine.system_status().steps.into(),
            uncertainty,
        }
    }

    /// A snapshot for mode 6.
    pub fn view(&self) -> DaemonView {
        self.view_with(true)
    }

    fn view_with(&self, mru: bool) -> DaemonView {
        let now = now_ntp();
        let st = self.engine.system_status();
        let sys_peer = st.peer.and_then(|id| {
            let info = self.assocs.get(&id)?;
            let mode = match (info.symmetric, info.ephemeral) {
                (true, true) => 2,
                (true, false) => 1,
                _ => 3,
            };
            Some((id.0, info.addr, mode))
        });
        let discipline = Discipline {
            poll: st.tc,
            offset: st.offset,
            frequency_ppm: st.frequency_ppm,
            sys_jitter: st.sys_jitter,
            clk_jitter: st.clk_jitter,
            wander_ppm: st.clk_wander,
        };
        let (status, mut system) = view::system_from(
            &self.shared.status(),
            now,
            sys_peer,
            st.sync_source,
            (st.event_count, st.last_event),
            discipline,
        );
        system.mintc = st.mintc;
        system.tai = st.tai.unwrap_or(0);
        system.leapsec = st.leapsec;
        system.expire = st.expire;
        let server_port = self
            .sockets
            .first()
            .and_then(|s| s.local_addr().ok())
            .map_or(123, |a| a.port());
        let peers = self
            .engine
            .associations()
            .into_iter()
            .filter_map(|id| {
                let p = self.engine.peer_status(id)?;
                let info = self.assocs.get(&id)?;
                let source = view::Source {
                    addr: info.addr,
                    // as ntpd: the name belongs to the pool, its members show addresses
                    srchost: info.srchost.clone().filter(|_| info.pool.is_none()),
                    key: info.key,
                    nts_cookies: info
                        .nts
                        .and_then(|i| self.nts.get(i))
                        .map(|s| s.session.as_ref().map_or(0, |s| s.cookies())),
                };
                let mut vars = view::peer_vars(&p, &source, self.dstadr(info, server_port));
                vars.xleave = info
                    .xleave
                    .enabled
                    .then_some(info.xleave.interleaved_samples)
                    .or(info
                        .xleave
                        .sym
                        .enabled
                        .then_some(info.xleave.sym.interleaved_samples));
                Some(PeerView {
                    assoc_id: id.0,
                    status: self.peer_status_word(&p),
                    vars,
                })
            })
            .collect::<Vec<PeerView>>();
        let mut peers = peers;
        peers.extend(self.unresolved_rows());
        DaemonView {
            now,
            status,
            system,
            peers,
            mru: if mru {
                view::mru_rows(&self.shared)
            } else {
                Vec::new()
            },
            sysstats: super::sysstats::SysStats::read(&self.shared.counters, self.elapsed)
                .with_monitor(&self.shared, now),
            setvars: self.settings.setvars.clone(),
            nts_server: match &self.shared.nts_server {
                Some(n) => n.counters.vars(),
                None => super::nts_server::counters::NtsServerCounters::default().vars(),
            },
            nts_client: self.nts_counters,
        }
    }

    /// A row for each `pool` line and each name not resolved yet (NTPsec's `.POOL.` and
    /// `.DNS.` rows), so `ntpq -p` shows the configured names before DNS answers.
    fn unresolved_rows(&self) -> Vec<PeerView> {
        self.pending
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.name.is_empty())
            .filter_map(|(i, p)| {
                let id = view::UNRESOLVED_ID_BASE.checked_add(u16::try_from(i).ok()?)?;
                if self.assocs.contains_key(&crate::engine::AssocId(id)) {
                    return None;
                }
                Some(view::unresolved_peer(
                    id,
                    &p.name,
                    p.assoc.kind == AssociationKind::Pool,
                    p.assoc.family == Some(AddressFamily::V6),
                    p.assoc.minpoll,
                ))
            })
            .collect()
    }

    /// Where an association's packets arrive (`dstadr`, `dstport`): the local address of
    /// the route to it and the client socket's port (a reference clock: loopback, as ntpd).
    fn dstadr(&self, info: &AssocInfo, server_port: u16) -> SocketAddr {
        // not looked up here: a mode 6 request must not cost a socket per association
        // (`learn_missing_local_addresses` retries those without a route)
        let ip = info.local.unwrap_or(if info.addr.is_ipv4() {
            IpAddr::from([0, 0, 0, 0])
        } else {
            IpAddr::from([0u16; 8])
        });
        let port = if is_refclock(info.addr) {
            server_port
        } else {
            self.client
                .as_ref()
                .and_then(|c| c.local_port(info.addr))
                .unwrap_or(server_port)
        };
        SocketAddr::new(ip, port)
    }

    /// A trusted mode 1 from an address we poll as a *server*: not a sample for that
    /// association (it takes mode 4 only) but a request like a stranger's, answered with a
    /// stateless mode 2 signed with its key (the fast path already applied the
    /// restrictions and the monitor). `None` for anything else.
    fn mode1_to_a_server_association(&self, h: &Handoff) -> Option<Vec<u8>> {
        if h.data.first().map(|b| b & 7) != Some(1) {
            return None;
        }
        let id = self.by_addr.get(&h.src.ip())?;
        if self.assocs.get(id)?.symmetric {
            return None;
        }
        let (auth, key) = self.trusted_mac(&h.data)?;
        let mut out = [0u8; crate::wire::packet::HEADER_LEN];
        let outcome = super::respond::respond(
            &h.data,
            h.src,
            h.rx,
            &super::access::AllowAll,
            None,
            &self.shared.status(),
            &mut out,
        );
        if outcome != super::respond::Outcome::Reply {
            return None;
        }
        super::respond::stamp_transmit(&mut out, now_ntp());
        auth.sign(key, &out)
    }

    /// A packet the fast path handed over.
    pub fn handoff(&mut self, h: Handoff) {
        match h.kind {
            HandoffKind::Control => {
                let flags = RestrictFlags(self.shared.access().flags(h.src));
                let view = self.view();
                let replies = self.responder.respond(&h.data, h.src, &view, flags);
                if let Some(sock) = self.sockets.get(h.socket) {
                    for r in replies {
                        if let Err(e) = netio::send_one(sock, &r, h.src, h.local) {
                            log::debug(&format!("mode 6 reply to {}: {e}", h.src));
                        }
                    }
                }
            }
            HandoffKind::Association => {
                if let Some(signed) = self.mode1_to_a_server_association(&h) {
                    if let Some(sock) = self.sockets.get(h.socket) {
                        if let Err(e) = netio::send_one(sock, &signed, h.src, h.local) {
                            log::debug(&format!("mode 2 reply to {}: {e}", h.src));
                        }
                    }
                    return;
                }
                // A server reply that reached port 123, or a symmetric peer's packet: the
                // association's business, as a reply on the client socket would be.
                self.client_reply(Reply {
                    data: h.data,
                    src: h.src,
                    rx: h.rx,
                });
            }
        }
    }

    fn write_drift(&mut self) {
        if let Some(path) = self
            .settings
            .driftfile
            .as_ref()
            .filter(|_| self.frequency_known)
        {
            if let Err(e) = crate::config::drift::write(path, self.engine.frequency_ppm()) {
                log::warn(&format!("drift file: {e}"));
            }
        }
    }

    /// Orderly exit: the drift file is rewritten (atomically) when the frequency is known.
    pub fn shutdown(&mut self) {
        self.write_drift();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> Option<SocketAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn symmetric_packets_leave_from_the_association_s_own_address() {
        // `interface` rules often bind 127.0.0.1 first; a LAN peer must not get that one
        let bound = [
            sa("127.0.0.1:123"),
            sa("198.18.0.2:123"),
            sa("[::1]:123"),
            sa("198.18.0.2:40000"),
        ];
        let peer: SocketAddr = "198.18.0.1:123".parse().unwrap();
        let local = Some("198.18.0.2".parse().unwrap());
        assert_eq!(symmetric_socket(&bound, local, peer), Some(1));
        // a local address we hold no port-123 socket for: nothing fits, the caller uses its
        // client socket rather than 127.0.0.1
        let other = Some("198.18.1.2".parse().unwrap());
        assert_eq!(symmetric_socket(&bound, other, peer), None);
    }

    #[test]
    fn symmetric_packets_fall_back_to_the_family_s_wildcard() {
        let bound = [sa("127.0.0.1:123"), None, sa("[::]:123"), sa("0.0.0.0:123")];
        let peer: SocketAddr = "198.18.0.1:123".parse().unwrap();
        let local = Some("198.18.0.2".parse().unwrap());
        assert_eq!(symmetric_socket(&bound, local, peer), Some(3));
        assert_eq!(symmetric_socket(&bound, None, peer), Some(3));
        let v6: SocketAddr = "[fd00::1]:123".parse().unwrap();
        assert_eq!(symmetric_socket(&bound, None, v6), Some(2));
    }
}
