//! The daemon's state between events: the engine and its associations, the clock it
//! commands, what the server publishes, the mode 6 responder, names still to resolve, and
//! the stats files. The main loop calls in on every timer, packet and signal; the engine
//! decides, this module carries the decisions out.

mod actions;
mod associations;
mod nts_slots;
mod replies;
mod reporting;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::chosen_clock::ChosenClock;
use super::client::{self, ClientNet, Reply};
use super::log;
use super::netio::{self, now_ntp};
use super::server::{Handoff, HandoffKind, Shared};
use super::settings::{Options, Settings};
use super::stats::{self, StatsFile};
use super::status::ServerStatus;
use super::view::{self, DaemonView, Discipline, PeerView};
use crate::clock::ClockError;
use crate::clock::WallClock as _;
use crate::config::{AddressFamily, Association, AssociationKind, RestrictFlags, Target};
use crate::control::server::Responder;
use crate::engine::Engine;
use crate::engine::{
    apply_clock_command, Action, AssocId, EngineEvent, PeerEvent, SourceConfig, SourceKind,
    SystemEvent,
};
use crate::wire::auth::KeyStore;
use crate::wire::control::{peer_flags, PeerStatusWord as PeerStatus};
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
    pub result: Result<super::nts_ke::KeOutcome, super::nts_ke::ExchangeError>,
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

fn load_keys(settings: &Settings) -> KeyStore {
    let Some(path) = &settings.config.keys_file else {
        return KeyStore::new();
    };
    match crate::config::keys_file::load(path) {
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
        let responder = Responder::new(
            keys.clone(),
            settings.config.control_key,
            crate::random::array(),
        );
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

    /// The NTS client counters (`ntpq -c nts`).
    pub fn nts_client_counters(&self) -> super::nts_client::NtsClientCounters {
        self.nts_counters
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
