//! The daemon's state between events: what the server publishes, the LOCAL driver, the
//! mode 6 responder, and (through the engine) the associations. The main loop calls in on
//! every tick, packet and signal; this is where decisions are turned into actions.

use std::net::UdpSocket;
use std::sync::Arc;

use super::log;
use super::netio::{self, now_ntp};
use super::server::{Handoff, HandoffKind, Shared};
use super::settings::{Options, Settings};
use super::status::SystemStatus;
use super::view::{self, DaemonView, Discipline};
use crate::config::RestrictFlags;
use crate::control::server::Responder;
use crate::wire::auth::KeyStore;
use crate::wire::packet::{Leap, RefId};
use crate::wire::time::NtpTimestamp;

/// ntpd's system event codes (ntpstat and `ntpq -c rv` show them).
pub const EVENT_FREQ_NOT_SET: u8 = 1;
pub const EVENT_FREQ_SET: u8 = 2;
pub const EVENT_CLOCK_SYNC: u8 = 5;

/// The LOCAL driver polls every 64 s, as ntp.org's does.
const LOCAL_POLL_SECS: u64 = 64;

pub struct Core {
    pub settings: Settings,
    pub shared: Arc<Shared>,
    pub sockets: Vec<Arc<UdpSocket>>,
    responder: Responder,
    /// Seconds since start (ticks).
    pub elapsed: u64,
    local_updated: NtpTimestamp,
    local_polls: u32,
    events: (u8, u8),
    pub frequency_ppm: f64,
    /// Restored from the drift file or measured: only then is it worth writing back.
    pub frequency_known: bool,
}

fn random_secret() -> [u8; 16] {
    let mut b = [0u8; 16];
    let n = unsafe { libc::getrandom(b.as_mut_ptr() as *mut libc::c_void, b.len(), 0) };
    if n != b.len() as isize {
        // Still unpredictable enough for a nonce secret: time and pid mixed.
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

impl Core {
    pub fn new(
        _opts: &Options,
        settings: Settings,
        shared: Arc<Shared>,
        sockets: Vec<Arc<UdpSocket>>,
    ) -> Core {
        let keys = match &settings.config.keys_file {
            Some(path) => match KeyStore::load(path) {
                Ok((k, diags)) => {
                    for d in diags {
                        log::warn(&d.to_string());
                    }
                    k
                }
                Err(e) => {
                    log::error(&format!("keys: {e}"));
                    KeyStore::new()
                }
            },
            None => KeyStore::new(),
        };
        let drift = settings
            .driftfile
            .as_deref()
            .map(crate::config::drift::read);
        let (frequency_ppm, event) = match drift {
            Some(Ok(Some(d))) => {
                log::info(&format!(
                    "frequency initialized {:.3} PPM from {}",
                    d.ppm,
                    settings
                        .driftfile
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                ));
                (d.ppm, EVENT_FREQ_SET)
            }
            Some(Err(e)) => {
                log::warn(&format!("{e}"));
                (0.0, EVENT_FREQ_NOT_SET)
            }
            _ => (0.0, EVENT_FREQ_NOT_SET),
        };
        if !keys.is_empty() {
            *shared.auth.write().unwrap_or_else(|e| e.into_inner()) =
                Some(Arc::new(super::auth::ServerAuth {
                    keys: keys.clone(),
                    trusted: settings.config.trusted_keys.clone(),
                }));
        }
        let responder = Responder::new(keys, settings.config.control_key, random_secret());
        let mut core = Core {
            settings,
            shared,
            sockets,
            responder,
            elapsed: 0,
            local_updated: NtpTimestamp::ZERO,
            local_polls: 0,
            events: (1, event),
            frequency_ppm,
            frequency_known: event == EVENT_FREQ_SET,
        };
        core.poll_local_clock();
        core
    }

    /// Once a second.
    pub fn tick(&mut self) {
        self.elapsed += 1;
        if self.elapsed % LOCAL_POLL_SECS == 0 {
            self.poll_local_clock();
        }
    }

    /// The LOCAL driver's poll: while nothing better is selected, the daemon is
    /// synchronised to its own clock at the fudged stratum + 1 with refid 127.127.1.u
    /// (which ntpq shows as LOCAL(u)), as ntp.org's ntpd with `server 127.127.1.0` does.
    fn poll_local_clock(&mut self) {
        let Some(lc) = self.settings.local_clock.clone() else {
            return;
        };
        let now = now_ntp();
        self.local_polls += 1;
        self.local_updated = now;
        let was_synced = self.shared.status().is_synchronised();
        let precision = self.shared.status().precision;
        self.shared.set_status(SystemStatus {
            leap: Leap::NoWarning,
            stratum: (lc.stratum + 1).min(16),
            precision,
            root_delay: 0.0,
            root_dispersion: 0.010,
            refid: RefId(lc.address.octets()),
            reference_time: now,
        });
        if !was_synced {
            self.system_event(EVENT_CLOCK_SYNC);
            log::notice(&format!(
                "synchronized to LOCAL({}), stratum {}",
                lc.address.octets()[3],
                lc.stratum
            ));
        }
    }

    fn system_event(&mut self, code: u8) {
        self.events = (self.events.0.saturating_add(1).min(15), code);
    }

    /// A snapshot for mode 6.
    pub fn view(&self) -> DaemonView {
        let now = now_ntp();
        let st = self.shared.status();
        let local = self.settings.local_clock.as_ref().map(|lc| {
            view::local_clock_peer(
                lc,
                now,
                self.local_polls,
                st.is_synchronised(),
                self.local_updated,
            )
        });
        let sys_peer = local
            .as_ref()
            .filter(|_| st.is_synchronised())
            .map(|p| (p.assoc_id, p.vars.srcadr, 3u8));
        // LOCAL is ntpd's "sync_local" source; network peers are "sync_ntp"
        let source = if local.is_some() { 5 } else { 6 };
        let discipline = Discipline {
            poll: 6,
            frequency_ppm: self.frequency_ppm,
            ..Discipline::default()
        };
        let (status, system) =
            view::system_from(&st, now, sys_peer, source, self.events, discipline);
        DaemonView {
            now,
            status,
            system,
            peers: local.into_iter().collect(),
            mru: view::mru_rows(&self.shared),
        }
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
                log::debug(&format!(
                    "packet from {} for no association ({} bytes)",
                    h.src,
                    h.data.len()
                ));
            }
        }
    }

    /// Orderly exit: the drift file is rewritten (atomically) with the current frequency.
    pub fn shutdown(&mut self) {
        if let Some(path) = self
            .settings
            .driftfile
            .as_ref()
            .filter(|_| self.frequency_known)
        {
            if let Err(e) = crate::config::drift::write(path, self.frequency_ppm) {
                log::warn(&format!("drift file: {e}"));
            }
        }
    }
}
